package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	"taizhang/internal/testenv"
)

// TestPoisonedMessagesQuarantine publishes, with raw NATS access, garbage
// and then an event of another unit onto dongcun's subject, and onto
// nancun's a well-formed event with a valid hash that links to nothing.
// Each of the two units is quarantined at its first bad message, and only
// it: serve stays healthy and ready, xicun is read and written as usual,
// writes to the quarantined units are refused with 423 naming the
// sequence, their archive (API and pages, as of now and of a date) shows
// the good prefix and the quarantine, the audit pages list both, a
// restart finds the same, and verify says how many good events came
// before each break.
func TestPoisonedMessagesQuarantine(t *testing.T) {
	port := freeLoopbackPort(t)
	s := startServer(t, "", "--nats-listen", "127.0.0.1:"+strconv.Itoa(port))
	clerks := map[string]string{}
	for _, u := range []string{"dongcun", "xicun", "nancun"} {
		if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": u, "name": u + " 村委會", "type": "village", "headcount": 100}); r.Status != 201 {
			t.Fatalf("register %s: %d %s", u, r.Status, r.Body)
		}
		r := s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": "submitter", "unit": u, "user": "clerk-" + u})
		if r.Status != 201 {
			t.Fatalf("token: %d %s", r.Status, r.Body)
		}
		var tok struct{ Token string }
		r.decode(t, &tok)
		clerks[u] = tok.Token
	}
	evidence := func(title string) map[string]any {
		return map[string]any{"id": uuid.NewString(), "kind": "activity", "title": title, "occurred_at": "2016-06-09"}
	}
	for _, u := range []string{"dongcun", "dongcun", "xicun"} {
		if r := s.submit(t, clerks[u], u, evidence("集中學習 "+u)); r.Status != 201 {
			t.Fatalf("submit to %s: %d %s", u, r.Status, r.Body)
		}
	}
	r := s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": "supervisor", "user": "supervisor-q"})
	if r.Status != 201 {
		t.Fatalf("supervisor token: %d %s", r.Status, r.Body)
	}
	var sup struct{ Token string }
	r.decode(t, &sup)

	// Raw NATS access to the embedded server.
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	j, err := js.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publish := func(subject string, data []byte) uint64 {
		t.Helper()
		ack, err := j.Publish(ctx, subject, data)
		if err != nil {
			t.Fatalf("raw publish on %s: %v", subject, err)
		}
		return ack.Sequence
	}
	garbageSeq := publish("tz.ev.dongcun", []byte("\x00\xffnot an event at all"))
	xi := s.history(t, clerks["xicun"], "xicun", "")
	stolen, _ := json.Marshal(&xi[len(xi)-1].Event) // xicun's event, hash and all
	publish("tz.ev.dongcun", stolen)
	forged := &events.Event{ID: uuid.Must(uuid.NewV7()), Type: events.TypeEvidenceSubmitted, Schema: events.SchemaVersion, Unit: "nancun",
		Actor: events.Actor{ID: "clerk-nancun", Role: events.RoleSubmitter}, Client: events.ClientNATS,
		OccurredAt: time.Now(), RecordedAt: time.Now()}
	if err := forged.SetData(events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindActivity, Title: "偽造"}, Version: 1}); err != nil {
		t.Fatal(err)
	}
	if err := forged.Seal(events.Hash{0xba, 0xd}); err != nil { // a valid hash, linked to nothing
		t.Fatal(err)
	}
	b, _ := events.Encode(forged)
	forgedSeq := publish("tz.ev.nancun", b)

	type healthAnswer struct {
		Status      string              `json:"status"`
		Quarantined []events.Quarantine `json:"quarantined"`
	}
	want := map[string]uint64{"dongcun": garbageSeq, "nancun": forgedSeq}
	checkHealth := func() error {
		r := s.get(t, "", "/healthz")
		var h healthAnswer
		if err := json.Unmarshal(r.Body, &h); err != nil || r.Status != 200 {
			return fmt.Errorf("healthz %d %s", r.Status, r.Body)
		}
		got := map[string]uint64{}
		for _, q := range h.Quarantined {
			got[q.Unit] = q.Seq
			if q.Reason == "" {
				return fmt.Errorf("quarantine without a reason: %+v", q)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("healthz quarantined %v, want %v", got, want)
		}
		return nil
	}
	testenv.Eventually(t, 30*time.Second, checkHealth)
	if v := scrapeURL(t, s.URL+"/metrics").v("taizhang_quarantined_units"); v != 2 {
		t.Errorf("taizhang_quarantined_units %v, want 2", v)
	}
	if r := s.get(t, "", "/readyz"); r.Status != 200 {
		t.Fatalf("readyz with quarantined units: %d %s", r.Status, r.Body)
	}

	checkServed := func(t *testing.T) {
		t.Helper()
		// Every other unit is served: read and written.
		if r := s.submit(t, clerks["xicun"], "xicun", evidence("端午活動")); r.Status != 201 {
			t.Fatalf("submit to the healthy unit: %d %s", r.Status, r.Body)
		}
		var arch struct {
			Unit struct {
				Events     int                `json:"events"`
				Quarantine *events.Quarantine `json:"quarantine"`
			} `json:"unit"`
			Items []json.RawMessage `json:"items"`
		}
		r := s.get(t, clerks["xicun"], "/api/v1/units/xicun/archive")
		r.decode(t, &arch)
		if r.Status != 200 || arch.Unit.Quarantine != nil || len(arch.Items) < 2 {
			t.Fatalf("healthy unit's archive: %d %s", r.Status, r.Body)
		}
		// Its export needs a checkpoint of the whole ledger, poisoned
		// messages included: the checkpointer takes them too.
		if r := s.get(t, s.Admin, "/api/v1/units/xicun/export"); r.Status != 200 {
			t.Fatalf("export of the healthy unit: %d %.500s", r.Status, r.Body)
		}
		// The quarantined units refuse writes, naming the sequence.
		for u, seq := range want {
			r := s.submit(t, clerks[u], u, evidence("再交一次"))
			if r.Status != 423 || r.errCode(t) != "quarantined" || !strings.Contains(string(r.Body), fmt.Sprintf("sequence %d", seq)) {
				t.Fatalf("submit to quarantined %s: %d %s", u, r.Status, r.Body)
			}
		}
		// Their archive is the good prefix, and says so, now and as of a date.
		for _, path := range []string{"/api/v1/units/dongcun/archive", "/api/v1/units/dongcun/archive?as_of=" + time.Now().AddDate(0, 0, 1).Format("2006-01-02")} {
			r := s.get(t, clerks["dongcun"], path)
			arch.Items, arch.Unit.Quarantine = nil, nil
			r.decode(t, &arch)
			if r.Status != 200 || arch.Unit.Quarantine == nil || arch.Unit.Quarantine.Seq != garbageSeq || arch.Unit.Quarantine.Good != 3 ||
				arch.Unit.Events != 3 || len(arch.Items) != 2 {
				t.Fatalf("%s: %d %s", path, r.Status, r.Body)
			}
		}
		r = s.get(t, clerks["nancun"], "/api/v1/units/nancun/history")
		var hist struct {
			Events     []historyEntry     `json:"events"`
			Quarantine *events.Quarantine `json:"quarantine"`
		}
		r.decode(t, &hist)
		if r.Status != 200 || len(hist.Events) != 1 || hist.Quarantine == nil || hist.Quarantine.Seq != forgedSeq ||
			!strings.Contains(hist.Quarantine.Reason, "links to previous hash") {
			t.Fatalf("history of the forged unit: %d %s", r.Status, r.Body)
		}
		// Pages: the unit's banner, and the audit pages' list.
		for _, path := range []string{"/units/dongcun", "/units/dongcun/timeline", "/units/dongcun/dossier", "/units/dongcun/submit"} {
			r := s.get(t, clerks["dongcun"], path)
			if r.Status != 200 || !bytes.Contains(r.Body, []byte(`id="quarantine"`)) || !bytes.Contains(r.Body, []byte(strconv.FormatUint(garbageSeq, 10))) {
				t.Fatalf("page %s: %d, no quarantine banner naming %d:\n%s", path, r.Status, garbageSeq, r.Body)
			}
			if bytes.Contains(r.Body, []byte(`class="button primary" href="/units/dongcun/submit"`)) || bytes.Contains(r.Body, []byte(`<form method="post" action="/units/dongcun/submit"`)) {
				t.Fatalf("page %s offers to submit to a quarantined unit", path)
			}
		}
		if r := s.get(t, s.Admin, "/units"); r.Status != 200 || !bytes.Contains(r.Body, []byte(`class="badge quarantined"`)) {
			t.Fatalf("units page: %d, no quarantine badge:\n%s", r.Status, r.Body)
		}
		for _, path := range []string{"/audit/", "/audit/corrections"} {
			r := s.get(t, sup.Token, path)
			for u, seq := range want {
				row := fmt.Sprintf(`<a href="/units/%s/timeline">%s</a></td><td>%d</td>`, u, u, seq)
				if r.Status != 200 || !strings.Contains(string(r.Body), row) {
					t.Fatalf("audit page %s: %d, no row %s:\n%s", path, r.Status, row, r.Body)
				}
			}
		}
	}
	checkServed(t)

	// Quarantine is derived by replaying the ledger: a restart comes up
	// ready (startServer waits for /readyz) and finds the same.
	s.restart(t)
	if err := checkHealth(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	checkServed(t)

	// verify names each break and how many good events came before it.
	s.stop(t)
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"verify", "--data", s.Data, "--no-blobs"}, nil, &out, &errOut); code == 0 {
		t.Fatalf("verify passed a poisoned ledger:\n%s", out.String())
	}
	if strings.Contains(out.String(), "checkpoint:") || !strings.Contains(out.String(), "checked: each with the next, the latest against the ledger") {
		t.Errorf("verify found checkpoint problems, or checked none:\n%s", out.String())
	}
	for u, line := range map[string]string{
		"dongcun": fmt.Sprintf("BROKEN after 3 good events at seq %d: ", garbageSeq),
		"nancun":  fmt.Sprintf("BROKEN after 1 good event at seq %d: ", forgedSeq),
	} {
		found := false
		for _, l := range strings.Split(out.String(), "\n") {
			found = found || strings.Contains(l, u) && strings.Contains(l, line)
		}
		if !found {
			t.Errorf("verify does not say %q for %s:\n%s", line, u, out.String())
		}
	}
	t.Logf("verify:\n%s", out.String())
}
