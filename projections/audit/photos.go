package audit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"taizhang/projections"
	"taizhang/projections/plan"
)

// Photo time flags.
const (
	PhotoLater   = "later"   // taken after the claimed date (beyond the tolerance)
	PhotoEarlier = "earlier" // taken long before the claimed date
)

// PhotoTime is one photo on an item, its EXIF capture time against the
// date the item claims.
type PhotoTime struct {
	ItemRef
	Occurred plan.Date `json:"occurred"` // the claimed date, in Options.Zone
	SHA256   string    `json:"sha256"`
	Name     string    `json:"name"`
	TakenAt  string    `json:"taken_at,omitempty"` // EXIF, the camera's local time
	// Days is the capture date minus the claimed date, in days.
	Days int    `json:"days"`
	Flag string `json:"flag,omitempty"` // PhotoLater or PhotoEarlier
}

// PhotoTimesReport lists the photos whose capture time contradicts their
// item's date, and apart from them the photos without an EXIF capture
// time: those cannot be judged, which is not a finding.
type PhotoTimesReport struct {
	LateDays  int         `json:"late_days"`
	EarlyDays int         `json:"early_days"`
	Checked   int         `json:"checked"` // photos with a capture time
	Flagged   []PhotoTime `json:"flagged"`
	NoEXIF    []PhotoTime `json:"no_exif"`
}

// PhotoTimes compares the EXIF capture time of every photo (an image
// attachment) an item carries as it stands with the date the item claims
// (occurred_at after amendments, read in Options.Zone): a photo taken
// after the claimed date plus PhotoLateDays (taken on day D+2 for a claim
// of day D, by default), or more than PhotoEarlyDays before it, is
// flagged. Both dates are calendar dates: the camera's local date, and the
// claim's date in the zone. The filter selects photos by the item's unit
// and the recorded time and actor of the event that attached the photo.
// Both lists are sorted by unit, item recorded time and digest.
func PhotoTimes(a *projections.Archive, o Options) PhotoTimesReport {
	o = o.withDefaults()
	rep := PhotoTimesReport{LateDays: o.PhotoLateDays, EarlyDays: o.PhotoEarlyDays, Flagged: []PhotoTime{}, NoEXIF: []PhotoTime{}}
	for _, ua := range units(a, o.Filter) {
		for _, it := range ua.Items() {
			for _, at := range it.Attachments.All() {
				if !isPhoto(at) {
					continue
				}
				l := attaching(it, at.SHA256)
				if !o.match(ua.Unit.ID, l.RecordedAt.Time(), l.Actor().ID) {
					continue
				}
				occ := plan.DateOf(it.OccurredAt(), o.Zone)
				pt := PhotoTime{ItemRef: refOf(ua.Unit.ID, it), Occurred: occ, SHA256: at.SHA256, Name: at.Name, TakenAt: at.TakenAt}
				taken, err := time.Parse("2006-01-02T15:04:05", at.TakenAt)
				if err != nil {
					rep.NoEXIF = append(rep.NoEXIF, pt)
					continue
				}
				rep.Checked++
				claimed := time.Date(occ.Year, occ.Month, occ.Day, 0, 0, 0, 0, time.UTC)
				shot := time.Date(taken.Year(), taken.Month(), taken.Day(), 0, 0, 0, 0, time.UTC)
				pt.Days = int(shot.Sub(claimed) / day)
				switch {
				case pt.Days > o.PhotoLateDays:
					pt.Flag = PhotoLater
				case pt.Days < -o.PhotoEarlyDays:
					pt.Flag = PhotoEarlier
				default:
					continue
				}
				rep.Flagged = append(rep.Flagged, pt)
			}
		}
	}
	order := func(x, y PhotoTime) int {
		return cmp.Or(compareRefs(x.ItemRef, y.ItemRef), strings.Compare(x.SHA256, y.SHA256))
	}
	slices.SortFunc(rep.Flagged, order)
	slices.SortFunc(rep.NoEXIF, order)
	return rep
}

// attaching returns the link that first attached digest to it.
func attaching(it *projections.Item, digest string) projections.Link {
	for _, l := range it.Chain {
		if l.Attachments.Has(digest) {
			return l
		}
	}
	return it.Chain[0]
}
