package projections

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"

	"taizhang/events"
)

// chainHead is the last event of one chain (a unit, the plans or the
// users) that the archive applied, and how many of the chain's events it
// applied.
type chainHead struct {
	hash  events.Hash
	count uint64
}

// noteHead records rec as its chain's head if Apply applied it (the
// archive's applied sequence moved past before).
func (a *Archive) noteHead(rec events.Record, before uint64) {
	if a.applied == before {
		return
	}
	if a.heads == nil {
		a.heads = map[string]chainHead{}
	}
	h := a.heads[rec.Event.Unit]
	a.heads[a.intern(rec.Event.Unit)] = chainHead{hash: rec.Event.Hash, count: h.count + 1}
}

// DigestVersion names the digest's encoding; it changes when Digest does.
const DigestVersion = "heads-v2"

// Digest returns a digest of what the archive applied: SHA-256 (hex) over
// one line "chain NUL head-hash-hex NUL count LF" per chain (every unit,
// the plans chain and the users chain), sorted by chain; a quarantined
// chain's line ends "NUL Q seq" before the LF (its head is that of its good
// prefix, all zeros if it has none). Each head hash
// seals its chain, so two archives that applied the same events have the
// same digest, and two that applied different ones (a missed, doubled or
// altered event) do not. An empty archive's digest is SHA-256 of nothing.
func (a *Archive) Digest() string {
	chains := make([]string, 0, len(a.heads))
	for c := range a.heads {
		chains = append(chains, c)
	}
	for c := range a.quarantine {
		if _, ok := a.heads[c]; !ok {
			chains = append(chains, c)
		}
	}
	slices.Sort(chains)
	d := sha256.New()
	var line []byte
	for _, c := range chains {
		h := a.heads[c]
		line = append(line[:0], c...)
		line = append(line, 0)
		line = hex.AppendEncode(line, h.hash[:])
		line = append(line, 0)
		line = strconv.AppendUint(line, h.count, 10)
		if q := a.quarantine[c]; q != nil {
			line = append(line, 0, 'Q')
			line = strconv.AppendUint(line, q.Seq, 10)
		}
		line = append(line, '\n')
		d.Write(line)
	}
	return hex.EncodeToString(d.Sum(nil))
}

// Status returns the last applied sequence and the Digest at it, read
// together under the projection's lock.
func (l *Live) Status() (applied uint64, digest string) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.arch.Applied(), l.arch.Digest()
}
