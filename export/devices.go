package export

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"taizhang/events"
	"taizhang/events/checkpoint"
)

// Tag files of a bag whose events include device-signed submissions: the
// users chain (user and device events) as of the checkpoint, and the
// proof of its head under the checkpoint's unit heads root, so that the
// device registry, revocations included, can be rebuilt offline and
// nothing of it can be left out.
const (
	DevicesJSONL     = "devices.jsonl"
	DevicesProofJSON = "devices-proof.json"
)

// signed reports whether any of recs is a device-signed submission.
func signed(recs []events.Record) bool {
	for _, r := range recs {
		if _, sig, err := events.ContentOf(r.Event); err == nil && sig != nil {
			return true
		}
	}
	return false
}

// prepareDevices reads the users chain as of the bag's checkpoint and its
// head proof, if the bag has signed submissions.
func (b *Bag) prepareDevices(ctx context.Context, l Ledger, cps Checkpoints) error {
	if !signed(b.recs) && !signed(b.later) {
		return nil
	}
	p, err := cps.UnitProof(ctx, events.UsersChain, b.cp.Size)
	if err != nil {
		return fmt.Errorf("export: proof of the users chain (device registry): %w", err)
	}
	users, err := l.History(ctx, events.UsersChain, time.Time{})
	if err != nil {
		return fmt.Errorf("export: users chain (device registry): %w", err)
	}
	if uint64(len(users)) < p.Count {
		return fmt.Errorf("export: read %d events of the users chain, the checkpoint holds %d: %w", len(users), p.Count, events.ErrUnavailable)
	}
	users = users[:p.Count]
	if len(users) > 0 && users[len(users)-1].Event.Hash != p.Head {
		return fmt.Errorf("export: the users chain's event %d is not the head the checkpoint proves: %w", len(users), events.ErrConflict)
	}
	b.users, b.usersProof = users, &p
	return nil
}

// DeviceFlag is a signed submission in a bag that the device check
// flags: recorded with a key unknown or revoked as of it, or captured
// (by the device's clock) after it was recorded.
type DeviceFlag struct {
	Event string `json:"event"`
	Seq   uint64 `json:"seq"`
	events.DeviceCheck
}

// checkDevices rebuilds the device registry from the bag's users chain
// (checked link by link and against the checkpoint's proof of its head)
// and checks every signed submission of evs against it as of its
// sequence: a signature that does not verify is a problem, an unknown or
// revoked key or a late capture time is a flag in the report.
func (v *verifier) checkDevices(evs []Line, cp checkpoint.Checkpoint, cpOK bool) {
	var signedLines []Line
	for _, l := range evs {
		if _, sig, err := events.ContentOf(l.Event); err == nil && sig != nil {
			signedLines = append(signedLines, l)
		}
	}
	if len(signedLines) == 0 {
		return
	}
	if v.files[DevicesJSONL] == nil {
		v.problem(DevicesJSONL, "", "missing: the bag has %d device-signed submissions and no device registry to check them against", len(signedLines))
		return
	}
	var head events.Hash
	var last uint64
	users := v.events(DevicesJSONL, events.UsersChain, &head, &last, func(*events.Event) string { return "" })
	if b := v.read(DevicesProofJSON, true); b != nil && cpOK {
		var p checkpoint.UnitProof
		switch err := json.Unmarshal(b, &p); {
		case err != nil:
			v.problem(DevicesProofJSON, "", "%v", err)
		case p.Unit != events.UsersChain || p.Size != cp.Size || p.Units != cp.Units || p.Verify(cp.UnitsRoot) != nil:
			v.problem(DevicesProofJSON, "", "the users chain's head is not proven under the checkpoint's unit heads root")
		case p.Count != uint64(len(users)) || p.Head != head:
			v.problem(DevicesJSONL, "", "incomplete: the checkpoint proves the users chain has %d events ending in %s, the bag has %d ending in %s",
				p.Count, p.Head, len(users), head)
		}
	}
	reg := events.NewDeviceRegistry()
	for _, l := range users {
		if err := reg.Apply(events.Record{Seq: l.Seq, Event: l.Event}); err != nil {
			v.problem(DevicesJSONL, l.ID.String(), "%v", err)
		}
	}
	v.rep.Devices = &DeviceReport{Flagged: []DeviceFlag{}}
	for _, l := range signedLines {
		c, _ := reg.Check(events.Record{Seq: l.Seq, Event: l.Event})
		v.rep.Devices.Signed++
		switch {
		case c.Verdict == events.DeviceBadSignature:
			v.problem(EventsJSONL, l.ID.String(), "seq %d: the device signature does not verify over the recorded content (the ledger refuses those, so the event was altered): %s", l.Seq, c.Reason)
			continue
		case c.Verdict == events.DeviceOK:
			v.rep.Devices.OK++
		}
		if c.Flagged() {
			v.rep.Devices.Flagged = append(v.rep.Devices.Flagged, DeviceFlag{Event: l.ID.String(), Seq: l.Seq, DeviceCheck: c})
		}
	}
}

// DeviceReport is the device check of a bag's signed submissions: how
// many, how many by a key registered to the submitter and not revoked as
// of the submission, and the flagged ones.
type DeviceReport struct {
	Signed  int          `json:"signed"`
	OK      int          `json:"ok"`
	Flagged []DeviceFlag `json:"flagged"`
}
