package projections

import (
	"slices"
	"strings"

	"taizhang/events"
)

// quarantineChain stops chain at seq for reason: what it holds stays, the
// rest of it is ignored (see Apply).
func (a *Archive) quarantineChain(chain string, seq uint64, reason string) {
	if a.quarantine == nil {
		a.quarantine = map[string]*events.Quarantine{}
	}
	q := &events.Quarantine{Unit: chain, Seq: seq, Reason: reason, Good: int(a.heads[chain].count)}
	a.quarantine[chain] = q
	if u := a.units[chain]; u != nil {
		u.Unit.Quarantine = q // shared, never changed
	}
	a.applied = seq
}

// Quarantined returns every quarantined chain, sorted by chain.
func (a *Archive) Quarantined() []events.Quarantine {
	out := make([]events.Quarantine, 0, len(a.quarantine))
	for _, q := range a.quarantine {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(x, y events.Quarantine) int { return strings.Compare(x.Unit, y.Unit) })
	return out
}

// QuarantineOf returns the chain's quarantine, or nil if it is sound.
func (a *Archive) QuarantineOf(chain string) *events.Quarantine {
	q := a.quarantine[chain]
	if q == nil {
		return nil
	}
	c := *q
	return &c
}

// CheckWritable returns an *events.QuarantinedError (wrapping
// events.ErrQuarantined) if chain is quarantined, nil otherwise.
func (a *Archive) CheckWritable(chain string) error {
	if q := a.quarantine[chain]; q != nil {
		return &events.QuarantinedError{Quarantine: *q}
	}
	return nil
}

// Quarantined returns every chain the live archive has quarantined.
func (l *Live) Quarantined() []events.Quarantine {
	l.small.RLock()
	defer l.small.RUnlock()
	return l.arch.Quarantined()
}

// QuarantineOf returns the chain's quarantine in the live archive, or nil.
func (l *Live) QuarantineOf(chain string) *events.Quarantine {
	l.small.RLock()
	defer l.small.RUnlock()
	return l.arch.QuarantineOf(chain)
}

// CheckWritable is Archive.CheckWritable on the live archive.
func (l *Live) CheckWritable(chain string) error {
	l.small.RLock()
	defer l.small.RUnlock()
	return l.arch.CheckWritable(chain)
}
