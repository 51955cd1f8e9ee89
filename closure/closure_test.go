package closure

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

func TestCheck(t *testing.T) {
	recorded := time.Date(2016, 9, 20, 10, 0, 0, 0, time.UTC)
	here := &events.GPS{Lat: 23.0, Lon: 113.0}
	near := &events.GPS{Lat: 23.001, Lon: 113.0} // ~111 m north
	far := &events.GPS{Lat: 23.01, Lon: 113.0}   // ~1.1 km north
	ev1, ev2 := uuid.New(), uuid.New()
	after := Photo{SHA256: "after", TakenAt: recorded.Add(48 * time.Hour), FromEXIF: true}
	old := Photo{SHA256: "old", TakenAt: recorded.Add(-72 * time.Hour), FromEXIF: true}
	gps := func(p Photo, g *events.GPS) Photo { p.GPS = g; return p }
	f := Finding{ID: uuid.New(), RecordedAt: recorded}
	fGPS := Finding{ID: f.ID, RecordedAt: recorded, Photos: []Photo{{SHA256: "before", TakenAt: recorded, GPS: here}}}
	rect := func(id uuid.UUID, filer string, ps ...Photo) Rectification {
		return Rectification{Evidence: id, Filers: []string{filer}, Photos: ps}
	}
	for _, tc := range []struct {
		name     string
		f        Finding
		rects    []Rectification
		resolver string
		max      float64
		rule     string // "" for a closure
		evidence uuid.UUID
		photo    string
		distance float64 // -1: none
	}{
		{"none filed", f, nil, "insp", 0, RuleRectification, uuid.Nil, "", -1},
		{"resolver filed it", f, []Rectification{rect(ev1, "insp", after)}, "insp", 0, RuleSeparation, uuid.Nil, "", -1},
		{"no photo", f, []Rectification{rect(ev1, "clerk")}, "insp", 0, RulePhoto, uuid.Nil, "", -1},
		{"old photo", f, []Rectification{rect(ev1, "clerk", old)}, "insp", 0, RuleAfter, uuid.Nil, "", -1},
		{"taken at the very moment is not after", f, []Rectification{rect(ev1, "clerk", Photo{SHA256: "x", TakenAt: recorded})}, "insp", 0, RuleAfter, uuid.Nil, "", -1},
		{"clean, no positions", f, []Rectification{rect(ev1, "clerk", old, after)}, "insp", 0, "", ev1, "after", -1},
		{"second rectification passes", f, []Rectification{rect(ev1, "clerk", old), rect(ev2, "clerk", after)}, "insp", 0, "", ev2, "after", -1},
		{"other filer's rectification counts", f, []Rectification{rect(ev1, "insp", after), rect(ev2, "clerk", after)}, "insp", 0, "", ev2, "after", -1},
		{"near", fGPS, []Rectification{rect(ev1, "clerk", gps(after, near))}, "insp", 0, "", ev1, "after", 111.2},
		{"far", fGPS, []Rectification{rect(ev1, "clerk", gps(after, far))}, "insp", 0, RulePlace, uuid.Nil, "", -1},
		{"far but allowed", fGPS, []Rectification{rect(ev1, "clerk", gps(after, far))}, "insp", 2000, "", ev1, "after", 1111.9},
		{"no position when the finding has one", fGPS, []Rectification{rect(ev1, "clerk", after)}, "insp", 0, RulePlace, uuid.Nil, "", -1},
		{"after photo has a position, finding none", f, []Rectification{rect(ev1, "clerk", gps(after, far))}, "insp", 0, "", ev1, "after", -1},
		{"the place refusal wins over the older photo's", fGPS, []Rectification{rect(ev1, "clerk", old, gps(after, far))}, "insp", 0, RulePlace, uuid.Nil, "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Check(tc.f, tc.rects, tc.resolver, Rules{MaxDistance: tc.max})
			if tc.rule != "" {
				var rf *Refusal
				if !errors.As(err, &rf) || !errors.Is(err, ErrNotClosable) || rf.Rule != tc.rule || rf.Detail == "" {
					t.Fatalf("want refusal %s, got %+v %v", tc.rule, b, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Evidence != tc.evidence || b.Photo != tc.photo || b.TakenFrom != events.TakenFromEXIF || !b.TakenAt.After(recorded) {
				t.Fatalf("basis %+v", b)
			}
			switch {
			case tc.distance < 0 && b.Distance != nil:
				t.Fatalf("distance %v, want none", *b.Distance)
			case tc.distance >= 0 && (b.Distance == nil || math.Abs(*b.Distance-tc.distance) > 0.5):
				t.Fatalf("distance %v, want %v", b.Distance, tc.distance)
			}
		})
	}
}

func TestRefusalWords(t *testing.T) {
	recorded := time.Date(2016, 9, 20, 10, 0, 0, 0, time.UTC)
	_, err := Check(Finding{RecordedAt: recorded}, []Rectification{{Evidence: uuid.New(), Filers: []string{"c"},
		Photos: []Photo{{SHA256: "x", TakenAt: time.Date(2016, 9, 18, 9, 30, 0, 0, time.UTC)}}}}, "i", Rules{})
	if err == nil || !strings.Contains(err.Error(), "2016-09-18 09:30") || !strings.Contains(err.Error(), "2016-09-20 10:00") || !strings.Contains(err.Error(), "the time it was filed") {
		t.Fatalf("refusal %q names neither time", err)
	}
}

func TestDistance(t *testing.T) {
	// One degree of latitude is about 111.2 km; Beijing to Shanghai about 1,067 km.
	if d := Distance(events.GPS{Lat: 0, Lon: 0}, events.GPS{Lat: 1, Lon: 0}); math.Abs(d-111195) > 10 {
		t.Fatalf("1 degree: %v", d)
	}
	if d := Distance(events.GPS{Lat: 39.9042, Lon: 116.4074}, events.GPS{Lat: 31.2304, Lon: 121.4737}); math.Abs(d-1067e3) > 5e3 {
		t.Fatalf("Beijing-Shanghai: %v", d)
	}
	if d := Distance(events.GPS{Lat: 23, Lon: 113}, events.GPS{Lat: 23, Lon: 113}); d != 0 {
		t.Fatalf("same point: %v", d)
	}
}
