// Package audit holds the projections a discipline supervisor (紀委) works
// from: every correction with its reason and what it changed (Corrections),
// how long after the claimed date each item was recorded (Backfill), items
// backfilled in a cluster just before an inspection phase or a deadline
// (Bursts), the same or nearly the same photo under different items
// (Reuse), photos whose EXIF capture time contradicts the claimed date
// (PhotoTimes), device-signed submissions whose key was unknown or revoked
// or whose device clock ran ahead of the ledger (Devices), and what each
// actor did (Actors). They are pure,
// deterministic functions of the archive projection and its plans: no I/O,
// no clock, and every list in a fixed order. Attachments are judged by
// what was derived from their bytes at ingest (digest, media type, EXIF
// time, perceptual hash); blobs are never read.
//
// Every view takes Options: a Filter (unit, recorded time, actor) and the
// thresholds. Times that a filter or a threshold compares are recorded
// times, except where a view says otherwise: inspection is about recorded
// time, claims are about occurred time.
package audit

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/projections"
)

// Defaults of Options.
const (
	DefaultThresholdDays  = 30 // backfill: lag above which an item is flagged
	DefaultWindowDays     = 14 // bursts: how long before a phase start or deadline
	DefaultMinBurst       = 3  // bursts: backfilled items that make one
	DefaultNearDistance   = 10 // reuse: perceptual hash bits that still make a copy
	DefaultPhotoLateDays  = 1  // photo times: a photo taken after the claimed date + this is flagged
	DefaultPhotoEarlyDays = 30 // photo times: one taken more than this before it is flagged
)

// DefaultZone is the zone dates are read in when Options.Zone is nil: the
// server's default, China's UTC+8.
var DefaultZone = time.FixedZone("UTC+8", 8*3600)

// Filter selects what a view looks at. Zero fields select everything.
type Filter struct {
	Unit  string    // one unit's id
	From  time.Time // recorded at or after
	To    time.Time // recorded before (exclusive)
	Actor string    // the actor's id
	// Scope, if set, admits only the units it says yes to: a scoped
	// supervisor sees only its subtree.
	Scope func(unit string) bool `json:"-"`
}

// match reports whether an event of unit, recorded at t by actor passes f.
func (f Filter) match(unit string, t time.Time, actor string) bool {
	return (f.Unit == "" || f.Unit == unit) && f.inTime(t) && (f.Actor == "" || f.Actor == actor) && f.admits(unit)
}

// admits reports whether unit is within the filter's scope.
func (f Filter) admits(unit string) bool {
	return f.Scope == nil || unit == "" || f.Scope(unit)
}

func (f Filter) inTime(t time.Time) bool {
	return (f.From.IsZero() || !t.Before(f.From)) && (f.To.IsZero() || t.Before(f.To))
}

// Options are a view's filter and thresholds; zero values take the
// defaults.
type Options struct {
	Filter
	// Zone reads occurred dates and EXIF capture dates (default
	// DefaultZone). Plans read their own dates in their own zones.
	Zone           *time.Location
	ThresholdDays  int
	WindowDays     int
	MinBurst       int
	NearDistance   int
	PhotoLateDays  int
	PhotoEarlyDays int
	// FlaggedOnly makes Backfill list only the items over the threshold
	// (its per-unit sums still count all).
	FlaggedOnly bool
}

func (o Options) withDefaults() Options {
	if o.Zone == nil {
		o.Zone = DefaultZone
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.ThresholdDays, DefaultThresholdDays)
	def(&o.WindowDays, DefaultWindowDays)
	def(&o.MinBurst, DefaultMinBurst)
	def(&o.NearDistance, DefaultNearDistance)
	def(&o.PhotoLateDays, DefaultPhotoLateDays)
	def(&o.PhotoEarlyDays, DefaultPhotoEarlyDays)
	return o
}

const day = 24 * time.Hour

// units returns the registered units the filter selects, sorted by id.
func units(a *projections.Archive, f Filter) []*projections.UnitArchive {
	var out []*projections.UnitArchive
	for _, u := range a.Units() {
		if (f.Unit == "" || f.Unit == u.ID) && f.admits(u.ID) {
			out = append(out, a.Unit(u.ID))
		}
	}
	return out
}

// ItemRef names an evidence item in a view.
type ItemRef struct {
	Unit       string    `json:"unit"`
	ID         uuid.UUID `json:"id"`
	Kind       string    `json:"kind"`
	Title      string    `json:"title"`
	OccurredAt time.Time `json:"occurred_at"`
	RecordedAt time.Time `json:"recorded_at"` // first recorded
	Actor      string    `json:"actor"`       // who submitted it
	Retracted  bool      `json:"retracted,omitempty"`
}

func refOf(unit string, it *projections.Item) ItemRef {
	return ItemRef{Unit: unit, ID: it.ID, Kind: string(it.Kind), Title: it.Title, OccurredAt: it.OccurredAt().UTC(),
		RecordedAt: it.RecordedAt(), Actor: it.Chain[0].Actor().ID, Retracted: it.Retracted}
}

// lagDays is recorded − occurred in days, to the hundredth.
func lagDays(it *projections.Item) float64 {
	return math.Round(it.RecordedAt().Sub(it.OccurredAt()).Hours()/24*100) / 100
}

func compareRefs(a, b ItemRef) int {
	return cmp.Or(strings.Compare(a.Unit, b.Unit), a.RecordedAt.Compare(b.RecordedAt), compareIDs(a.ID, b.ID))
}

// isPhoto reports whether a media type is an image.
func isPhoto(a events.Attachment) bool { return strings.HasPrefix(a.MediaType, "image/") }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
