package audit

import (
	"slices"
	"time"

	"taizhang/events"
	"taizhang/projections"
)

// DeviceItem is one device-signed submission the device check flags: the
// item, the key, the verdict (events.DeviceUnknownKey: not registered to
// the submitter when it was recorded; events.DeviceRevokedKey: revoked
// before), and Late when the device's clock said it captured the evidence
// after the ledger recorded it, with AheadSeconds by how much.
type DeviceItem struct {
	ItemRef
	Seq          uint64               `json:"seq"`
	Key          string               `json:"key"`
	CapturedAt   time.Time            `json:"captured_at"`
	Verdict      events.DeviceVerdict `json:"verdict"`
	Reason       string               `json:"reason,omitempty"`
	Late         bool                 `json:"late,omitempty"`
	AheadSeconds int64                `json:"ahead_seconds,omitempty"`
}

// DevicesReport counts the signed submissions the filter selects and how
// many of them were signed by a key registered to the submitter and not
// revoked (verdict ok, a late capture time or not), and lists the flagged
// ones.
type DevicesReport struct {
	Signed  int          `json:"signed"`
	OK      int          `json:"ok"`
	Flagged []DeviceItem `json:"flagged"`
}

// Devices lists the device-signed submissions that a supervisor must look
// at: signed with a key that was not registered to the submitter, or was
// revoked, when the ledger recorded them, or captured (by the device's
// clock) after they were recorded, a clock set ahead to make evidence look
// fresh or a device that signs what it did not capture. Verdicts are the
// archive's, computed against the device registry as of each
// submission's sequence. The filter selects by the item's unit and the
// submission's recorded time and actor; the list is sorted by unit,
// recorded time and id.
func Devices(a *projections.Archive, o Options) DevicesReport {
	o = o.withDefaults()
	rep := DevicesReport{Flagged: []DeviceItem{}}
	for _, ua := range units(a, o.Filter) {
		for _, s := range ua.Signed() {
			if !o.match(ua.Unit.ID, s.RecordedAt, s.Actor.ID) {
				continue
			}
			rep.Signed++
			if s.Verdict == events.DeviceOK {
				rep.OK++
			}
			if !s.Flagged() {
				continue
			}
			it := ua.Item(s.Item)
			if it == nil {
				continue
			}
			d := DeviceItem{ItemRef: refOf(ua.Unit.ID, it), Seq: s.Seq, Key: s.Key, CapturedAt: s.CapturedAt, Verdict: s.Verdict, Reason: s.Reason, Late: s.Late}
			if s.Late {
				d.AheadSeconds = int64(s.Ahead / time.Second)
			}
			rep.Flagged = append(rep.Flagged, d)
		}
	}
	slices.SortFunc(rep.Flagged, func(x, y DeviceItem) int { return compareRefs(x.ItemRef, y.ItemRef) })
	return rep
}
