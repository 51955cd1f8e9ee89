package verify

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"taizhang/events"
	"taizhang/internal/parallel"
)

// DeviceReport is what checking the submissions' device signatures found:
// how many submissions were signed and how many of those hold (a verified
// signature by a key registered to the submitter and not revoked as of
// the submission), how many keys the registry holds, and the signed
// submissions a supervisor must look at: recorded with an unknown or
// revoked key, or with a device capture time later than the recorded
// time. A signature that does not verify is not a flag but a Problem
// (kind "device_signature"): the ledger refuses those at submission, so
// one in a stored event means the event was altered.
type DeviceReport struct {
	Signed  int          `json:"signed"`
	OK      int          `json:"ok"`
	Keys    int          `json:"keys"`
	Flagged []DeviceFlag `json:"flagged"`
}

// DeviceFlag is one signed submission flagged by the device check.
type DeviceFlag struct {
	Unit  string `json:"unit"`
	Seq   uint64 `json:"seq"`
	Event string `json:"event"`
	Actor string `json:"actor"`
	events.DeviceCheck
}

// deviceProbe reports whether an evidence.submitted event's payload may
// carry a device signature, without decoding it: Data is canonical JSON,
// in which a "device" key is the only place the quoted word can stand
// unescaped before a colon (a figure of that name aside, which the
// decode then rules out).
func deviceProbe(ev *events.Event) bool {
	return ev.Type == events.TypeEvidenceSubmitted && bytes.Contains(ev.Data, []byte(`"device":`))
}

// CheckDevices checks every signed submission of signed against the
// device registry reg (built from the whole users chain): the report,
// and a "device_signature" Problem for each signature that does not
// verify over its event's content.
func CheckDevices(reg *events.DeviceRegistry, signed []events.Record) (*DeviceReport, []Problem) {
	rep := &DeviceReport{Keys: reg.Len(), Flagged: []DeviceFlag{}}
	var probs []Problem
	// The ed25519 checks (about 64 µs each) on all cores; the registry is
	// only read.
	checks, oks := make([]events.DeviceCheck, len(signed)), make([]bool, len(signed))
	parallel.Chunks(len(signed), 64, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			checks[k], oks[k] = reg.Check(signed[k])
		}
	})
	for k, r := range signed {
		c, ok := checks[k], oks[k]
		if !ok {
			continue
		}
		rep.Signed++
		ev := r.Event
		if c.Verdict == events.DeviceBadSignature {
			probs = append(probs, Problem{Kind: "device_signature", Unit: ev.Unit, Seq: r.Seq, Event: ev.ID.String(),
				Msg: "the device signature does not verify over the recorded content (the ledger refuses those, so the event was altered): " + c.Reason})
			continue
		}
		if c.Verdict == events.DeviceOK {
			rep.OK++
		}
		if c.Flagged() {
			rep.Flagged = append(rep.Flagged, DeviceFlag{Unit: ev.Unit, Seq: r.Seq, Event: ev.ID.String(), Actor: ev.Actor.ID, DeviceCheck: c})
		}
	}
	return rep, probs
}

// checkDevices builds the registry from the users chain (read now if Run
// did not read it with the units) and checks the signed submissions
// found; rep.Devices stays nil if there were none and no keys.
func (c *chains) checkDevices(ctx context.Context, l Ledger) error {
	if !c.sawUsers && len(c.signed) > 0 {
		recs, err := l.History(ctx, events.UsersChain, time.Time{})
		if err != nil {
			return fmt.Errorf("verify: read the users chain for the device registry: %w", err)
		}
		for _, r := range recs {
			c.applyDevice(r)
		}
	}
	if len(c.signed) == 0 && c.devices.Len() == 0 {
		return nil
	}
	dr, probs := CheckDevices(c.devices, c.signed)
	c.rep.Devices = dr
	c.rep.Problems = append(c.rep.Problems, probs...)
	return nil
}

// applyDevice folds a users-chain record into the registry; a device
// event that does not decode is a "device_registry" problem.
func (c *chains) applyDevice(r events.Record) {
	if r.Event == nil {
		return
	}
	if err := c.devices.Apply(r); err != nil {
		c.rep.Problems = append(c.rep.Problems, Problem{Kind: "device_registry", Unit: events.UsersChain, Seq: r.Seq, Event: r.Event.ID.String(), Msg: err.Error()})
	}
}

// checkRemoteDevices checks the signed submissions of the histories a
// server served against the registry of its users chain. If the caller
// may not read the users chain, only the signatures are checked (a
// "device_signature" Problem for one that does not verify) and the
// report's Registry says why the keys could not be.
func checkRemoteDevices(ctx context.Context, srv Server, served map[string][]events.Record, rep *RemoteReport) {
	var signed []events.Record
	for _, recs := range served {
		for _, r := range recs {
			if r.Event != nil && deviceProbe(r.Event) {
				signed = append(signed, r)
			}
		}
	}
	users, ok := served[events.UsersChain]
	if !ok && len(signed) > 0 {
		var err error
		if users, err = srv.History(ctx, events.UsersChain); err != nil {
			rep.DeviceRegistry = "the device registry (the users chain) could not be read, so the keys were not checked against it: " + err.Error()
			for _, r := range signed {
				content, sig, err := events.ContentOf(r.Event)
				if err != nil || sig == nil {
					continue
				}
				if err := sig.Verify(content); err != nil {
					rep.Problems = append(rep.Problems, Problem{Kind: "device_signature", Unit: r.Event.Unit, Seq: r.Seq, Event: r.Event.ID.String(), Msg: err.Error()})
				}
			}
			return
		}
		if err := events.VerifyChain(users); err != nil {
			rep.Problems = append(rep.Problems, Problem{Kind: "chain", Unit: events.UsersChain, Msg: "the users chain served does not hold together: " + err.Error()})
		}
	}
	reg := events.NewDeviceRegistry()
	for _, r := range users {
		if err := reg.Apply(r); err != nil {
			rep.Problems = append(rep.Problems, Problem{Kind: "device_registry", Unit: events.UsersChain, Seq: r.Seq, Msg: err.Error()})
		}
	}
	if len(signed) == 0 && reg.Len() == 0 {
		return
	}
	dr, probs := CheckDevices(reg, sortBySeq(signed))
	rep.Devices = dr
	rep.Problems = append(rep.Problems, probs...)
}

// sortBySeq sorts records by ledger sequence, for a report in a fixed order.
func sortBySeq(recs []events.Record) []events.Record {
	slices.SortFunc(recs, func(a, b events.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	return recs
}
