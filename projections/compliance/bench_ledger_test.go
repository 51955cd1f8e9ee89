package compliance_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
	"taizhang/projections"
	"taizhang/projections/compliance"
	"taizhang/projections/plan"
)

// bench50 returns a plan of 50 requirements that apply to villages.
func bench50() (*plan.Plan, []string) {
	p := testPlan()
	base := p.Requirements[:11]
	p.Requirements = nil
	var names []string
	for k := range 50 {
		r := base[k%len(base)]
		r.ID = fmt.Sprintf("%s-%d", r.ID, k)
		p.Requirements = append(p.Requirements, r)
		names = append(names, r.ID)
	}
	return p, names
}

// fill appends n evidence events to each unit through the ledger, several
// units at a time, and returns the live archive caught up with them.
func fill(b *testing.B, l *tzjs.Ledger, units []string, n int, names []string) *projections.Live {
	ctx := context.Background()
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for ui, u := range units {
		if _, err := l.RegisterUnit(ctx, u, events.UnitRegistered{Name: u, UnitType: "village", Headcount: 1200}, admin, events.ClientAPI); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(uint64(ui), 7))
			t0 := cst(2016, 6, 25, 0, 0)
			kinds := []events.Kind{events.KindActivity, events.KindStudyNote, events.KindSummary, events.KindPhoto}
			for i := range n {
				_, _, err := l.SubmitEvidence(ctx, events.Submission{Unit: u,
					Evidence: events.Evidence{Kind: kinds[rng.IntN(len(kinds))], Title: benchTitle, Tags: []string{"集中學習"},
						Requirements: []string{names[rng.IntN(len(names))], names[rng.IntN(len(names))]},
						Figures:      map[string]float64{"volunteers": float64(rng.IntN(300))}},
					OccurredAt:  t0.Add(time.Duration(rng.IntN(190*24*60)) * time.Minute),
					Attachments: []events.Attachment{photo(i), pdf(i)}[:1+rng.IntN(2)],
					Actor:       admin, Client: events.ClientImport})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	last, err := l.LastSeq(ctx)
	if err != nil {
		b.Fatal(err)
	}
	live := projections.NewLive(l, nil)
	lctx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	go live.Run(lctx)
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer wcancel()
	if err := live.WaitFor(wctx, last); err != nil {
		b.Fatal(err)
	}
	return live
}

func openBenchLedger(b *testing.B) *tzjs.Ledger {
	n := testenv.StartNATS(b)
	l, err := tzjs.Open(context.Background(), n.Connect(b), tzjs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	return l
}

// BenchmarkUnitCompliance compares, in one run on one server, compliance of
// a unit with 5,000 events against a 50-requirement plan (from the
// maintained archive) with reading those 5,000 events from JetStream.
// Target: compliance < 1/10 of the read.
func BenchmarkUnitCompliance(b *testing.B) {
	l := openBenchLedger(b)
	p, names := bench50()
	live := fill(b, l, []string{"dongcun"}, 5000, names)
	asOf := time.Now()
	u := compliance.Unit{ID: "dongcun", Type: "village", Headcount: 1200}
	b.Run("compliance", func(b *testing.B) {
		for b.Loop() {
			err := live.Read(func(a *projections.Archive) error {
				_, err := compliance.Evaluate(p, u, a.Unit("dongcun").Items(), asOf)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read-5000-events", func(b *testing.B) {
		for b.Loop() {
			recs, err := l.History(context.Background(), "dongcun", time.Time{})
			if err != nil || len(recs) != 5001 {
				b.Fatal(len(recs), err)
			}
		}
	})
}

// BenchmarkRanking compares ranking 1,000 units for one period from the
// maintained archive with replaying those units' events from JetStream.
// Target: ranking < 1/10 of the replay.
func BenchmarkRanking(b *testing.B) {
	l := openBenchLedger(b)
	p, names := bench50()
	units := make([]string, 1000)
	for i := range units {
		units[i] = fmt.Sprintf("cun-%04d", i)
	}
	live := fill(b, l, units, 10, names)
	asOf := cst(2016, 12, 31, 23, 59).Add(time.Hour * 24 * 365 * 20) // everything recorded by then
	b.Run("rank-1000-units", func(b *testing.B) {
		for b.Loop() {
			err := live.Read(func(a *projections.Archive) error {
				for _, un := range a.Units() {
					if _, _, err := compliance.Score(p, compliance.UnitOf(un), a.Unit(un.ID).Items(), asOf); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replay-1000-units", func(b *testing.B) {
		for b.Loop() {
			for _, u := range units {
				if _, err := l.History(context.Background(), u, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	_ = uuid.Nil
}

// TestScoreMatchesEvaluate: the ranking's Score counts exactly what
// Evaluate counts, over many random histories and as-of times.
func TestScoreMatchesEvaluate(t *testing.T) {
	p := testPlan()
	rng := rand.New(rand.NewPCG(9, 9))
	for n := 0; n < 100; n++ {
		h := newHistory(t, "dongcun", "village", 1200)
		for i := 1; i <= 40; i++ {
			r := p.Requirements[rng.IntN(len(p.Requirements))]
			e := ev(r.ID)
			e.Kind = []events.Kind{events.KindActivity, events.KindStudyNote, events.KindSummary, events.KindPhoto}[rng.IntN(4)]
			e.Tags = []string{"集中學習"}
			e.Figures = map[string]float64{"volunteers": float64(rng.IntN(300))}
			h.submit(i, cst(2016, 6, 20, 0, 0).Add(time.Duration(rng.IntN(200*24))*time.Hour), e, []events.Attachment{photo(i), pdf(i)}[:1+rng.IntN(2)]...)
		}
		ua, err := projections.FoldUnit(h.records())
		if err != nil {
			t.Fatal(err)
		}
		asOf := cst(2016, 6, 1, 0, 0).Add(time.Duration(rng.IntN(400*24)) * time.Hour)
		u := compliance.Unit{ID: "dongcun", Type: "village", Headcount: 1200}
		rep, err := compliance.Evaluate(p, u, ua.Items(), asOf)
		if err != nil {
			t.Fatal(err)
		}
		met, due, err := compliance.Score(p, u, ua.Items(), asOf)
		if err != nil || met != rep.Met || due != rep.Due {
			t.Fatalf("history %d: Score %d/%d (%v), Evaluate %d/%d", n, met, due, err, rep.Met, rep.Due)
		}
	}
}
