package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"taizhang/auth"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

// readiness is the /readyz answer.
type readiness struct {
	Ready    bool              `json:"ready"`
	NotReady map[string]string `json:"not_ready"`
	Ledger   string            `json:"ledger"`
}

func (s *server) readyz(t *testing.T) (int, readiness) {
	t.Helper()
	r := s.get(t, "", "/readyz")
	var rd readiness
	if err := json.Unmarshal(r.Body, &rd); err != nil {
		t.Fatalf("/readyz %d: %s", r.Status, r.Body)
	}
	if (r.Status == 200) != rd.Ready || (r.Status != 200 && r.Status != 503) {
		t.Fatalf("/readyz %d: %s", r.Status, r.Body)
	}
	return r.Status, rd
}

// TestReadyzNATSDown runs serve against an external nats-server and stops
// that server: /readyz answers 503 naming the ledger while /healthz stays
// 200 (liveness), and /readyz is 200 again once the server is back on the
// same store. Neither probe needs a token or is access-logged.
func TestReadyzNATSDown(t *testing.T) {
	store := t.TempDir()
	port := freeLoopbackPort(t)
	start := func() func() {
		ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: store, Port: port})
		if err != nil {
			t.Fatal(err)
		}
		stop := func() { ns.Shutdown(); ns.WaitForShutdown() }
		t.Cleanup(stop)
		return stop
	}
	stop := start()
	s := startServer(t, "", "--nats", "nats://127.0.0.1:"+strconv.Itoa(port), "--replicas", "1")
	if code, rd := s.readyz(t); code != 200 || rd.Ledger != "ok" {
		t.Fatalf("ready at start: %d %+v", code, rd)
	}

	stopped := time.Now()
	stop()
	testenv.Eventually(t, 30*time.Second, func() error {
		if code, rd := s.readyz(t); code != 503 || !strings.Contains(rd.NotReady["ledger"], "unreachable") {
			return fmt.Errorf("/readyz %d %+v", code, rd)
		}
		return nil
	})
	if r := s.get(t, "", "/healthz"); r.Status != 200 {
		t.Fatalf("/healthz with NATS down: %d %s", r.Status, r.Body)
	}

	t.Logf("/readyz 503 %s after NATS stopped", time.Since(stopped).Round(time.Millisecond))
	restarted := time.Now()
	start()
	testenv.Eventually(t, 60*time.Second, func() error {
		if code, rd := s.readyz(t); code != 200 {
			return fmt.Errorf("/readyz %d %+v", code, rd)
		}
		return nil
	})
	t.Logf("/readyz 200 %s after NATS restarted", time.Since(restarted).Round(time.Millisecond))
	if strings.Contains(s.log.String(), "/readyz") || strings.Contains(s.log.String(), "/healthz") {
		t.Errorf("a probe was logged:\n%s", s.log.String())
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// scrape is one parsed /metrics answer.
type scrape map[string]*dto.MetricFamily

// scrapeURL fetches and parses url (a /metrics endpoint), unauthenticated.
func scrapeURL(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return mf
}

// value returns the value of the series name{labels} (pairs of name and
// value): a counter's or gauge's value, a histogram's sample count; and
// whether the series is there.
func (sc scrape) value(name string, labels ...string) (float64, bool) {
	f := sc[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// v is value without the presence.
func (sc scrape) v(name string, labels ...string) float64 {
	x, _ := sc.value(name, labels...)
	return x
}

// TestMetrics scrapes /metrics (no token) before and after a known load
// and checks that the series move by exactly what was done: appends by
// type, the append latency histogram, blob puts and gets, HTTP requests by
// route pattern and status (a 404 on a raw path is "unmatched", never the
// path), and that the projection lag, checkpoint and Go/process series are
// there.
func TestMetrics(t *testing.T) {
	s := startServer(t, "")
	s.get(t, "", "/readyz")
	s.get(t, "", "/healthz")
	before := scrapeURL(t, s.URL+"/metrics")

	if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "xicun", "name": "西村", "type": "village"}); r.Status != 201 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	const n = 3
	var last uint64
	var sha string
	for i := range n {
		r := s.submit(t, s.Admin, "xicun", map[string]any{"kind": "photo", "title": fmt.Sprint("photo ", i), "occurred_at": "2016-07-01"},
			file{"p.png", pngPhoto(t, uint8(100+i))})
		if r.Status != 201 {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		var a submitAnswer
		r.decode(t, &a)
		last, sha = a.Sequence, a.Attachments[0].SHA256
	}
	if r := s.get(t, s.Admin, "/api/v1/blobs/"+sha); r.Status != 200 {
		t.Fatalf("blob: %d", r.Status)
	}
	if r := s.get(t, s.Admin, "/api/v1/no/such/route/4711"); r.Status != 404 {
		t.Fatalf("no route: %d", r.Status)
	}

	after := scrapeURL(t, s.URL+"/metrics")
	delta := func(name string, labels ...string) float64 {
		return after.v(name, labels...) - before.v(name, labels...)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"taizhang_appends_total", []string{"type", "evidence.submitted"}, n},
		{"taizhang_appends_total", []string{"type", "unit.registered"}, 1},
		{"taizhang_append_duration_seconds", nil, n + 1},
		{"taizhang_http_requests_total", []string{"route", "POST /api/v1/units/{unit}/evidence", "code", "201"}, n},
		{"taizhang_http_requests_total", []string{"route", "POST /api/v1/units", "code", "201"}, 1},
		{"taizhang_http_requests_total", []string{"route", "GET /api/v1/blobs/{sha256}", "code", "200"}, 1},
		{"taizhang_http_requests_total", []string{"route", "unmatched", "code", "404"}, 1},
		{"taizhang_http_request_duration_seconds", []string{"route", "POST /api/v1/units/{unit}/evidence"}, n},
		{"taizhang_blob_duration_seconds", []string{"op", "put"}, n},
		{"taizhang_blob_duration_seconds", []string{"op", "get"}, 1},
		{"taizhang_http_requests_total", []string{"route", "GET /metrics", "code", "200"}, 1},
	} {
		if got := delta(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, l := range after["taizhang_http_requests_total"].GetMetric() {
		for _, lp := range l.GetLabel() {
			if strings.Contains(lp.GetValue(), "4711") || strings.Contains(lp.GetValue(), "xicun") || strings.Contains(lp.GetValue(), sha) {
				t.Errorf("a raw path is a label: %v", l.GetLabel())
			}
		}
	}
	if v := after.v("taizhang_append_errors_total", "type", "evidence.submitted"); v != 0 {
		t.Errorf("append errors: %v", v)
	}
	if v := after.v("taizhang_blob_errors_total", "op", "put"); v != 0 {
		t.Errorf("blob put errors: %v", v)
	}
	if v, ok := after.value("taizhang_quarantined_units"); !ok || v != 0 {
		t.Errorf("taizhang_quarantined_units %v (present %v)", v, ok)
	}
	if v := after.v("taizhang_ledger_up"); v != 1 {
		t.Errorf("taizhang_ledger_up %v", v)
	}
	if v := after.v("taizhang_ledger_last_seq"); v < float64(last) {
		t.Errorf("taizhang_ledger_last_seq %v, below the last submission's %d", v, last)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		sc := scrapeURL(t, s.URL+"/metrics")
		if ev, ok := sc.value("taizhang_projection_lag_events"); !ok || ev != 0 || sc.v("taizhang_projection_lag_seconds") != 0 ||
			sc.v("taizhang_projection_applied_seq") != sc.v("taizhang_ledger_last_seq") {
			return fmt.Errorf("projection lag %v events, %v s", ev, sc.v("taizhang_projection_lag_seconds"))
		}
		return nil
	})
	// The first start's checkpoint covers the first admin.
	if age, ok := after.value("taizhang_checkpoint_age_seconds"); !ok || age < 0 || after.v("taizhang_checkpoint_size") < 1 {
		t.Errorf("checkpoint age %v (present %v), size %v", age, ok, after.v("taizhang_checkpoint_size"))
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := after.value(name); !ok {
			t.Errorf("no %s", name)
		}
	}
	// The probes and /metrics (asked before the unit was registered) are
	// not access-logged; the API calls are.
	testenv.Eventually(t, 10*time.Second, func() error {
		var l struct{ Entries []auth.AccessEntry }
		s.get(t, s.Admin, "/api/v1/audit/access?limit=100000").decode(t, &l)
		units := false
		for _, e := range l.Entries {
			switch e.Path {
			case "/metrics", "/readyz", "/healthz":
				t.Fatalf("%s is access-logged: %+v", e.Path, e)
			case "/api/v1/units":
				units = true
			}
		}
		if !units {
			return fmt.Errorf("POST /api/v1/units not in the access log yet")
		}
		return nil
	})
	t.Logf("%d appends took %.4f s in all; %v HTTP series", int(after.v("taizhang_append_duration_seconds")),
		after["taizhang_append_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleSum(), len(after["taizhang_http_requests_total"].GetMetric()))
}

// TestMetricsAddr: --metrics-addr serves /metrics on its own address only
// (the main listener answers 404 there); "off" serves none.
func TestMetricsAddr(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
	s := startServer(t, "", "--metrics-addr", addr)
	if r := s.get(t, "", "/metrics"); r.Status != 404 || r.errCode(t) != "not_found" {
		t.Fatalf("main /metrics with --metrics-addr: %d %s", r.Status, r.Body)
	}
	sc := scrapeURL(t, "http://"+addr+"/metrics")
	if v := sc.v("taizhang_http_requests_total", "route", "GET /metrics", "code", "404"); v != 1 {
		t.Errorf("the main listener's 404 on /metrics counted %v times", v)
	}
	s.stop(t)

	off := startServer(t, "", "--metrics-addr", "off")
	if r := off.get(t, "", "/metrics"); r.Status != 404 {
		t.Fatalf("/metrics with --metrics-addr off: %d %s", r.Status, r.Body)
	}
}

// TestRequestID: every answer carries X-Request-Id; an error's JSON body
// (error.request_id) and HTML page show the same id, and the log lines
// about the request carry it. A sane incoming id is kept; anything else is
// replaced by a fresh one.
func TestRequestID(t *testing.T) {
	s := startServer(t, "", "--log-json", "--log-level", "debug")
	do := func(method, path, token, id string) reply {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(`{"id":"BAD ID","name":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	// logged returns the log lines (JSON) that carry id.
	logged := func(id string) []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(s.log.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["request_id"] == id {
				out = append(out, m)
			}
		}
		return out
	}
	bodyID := func(r reply) string {
		var e struct {
			Error struct {
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		r.decode(t, &e)
		return e.Error.RequestID
	}

	ok := s.get(t, s.Admin, "/api/v1/units")
	if ok.Status != 200 || len(ok.Header.Get("X-Request-Id")) != 24 {
		t.Fatalf("a success has no request id: %d %q", ok.Status, ok.Header.Get("X-Request-Id"))
	}
	// At debug level every request has its line, by route pattern.
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, l := range logged(ok.Header.Get("X-Request-Id")) {
			if l["msg"] == "request" && l["route"] == "GET /api/v1/units" && l["status"] == 200.0 && l["level"] == "DEBUG" {
				return nil
			}
		}
		return fmt.Errorf("no request line for %s", ok.Header.Get("X-Request-Id"))
	})
	for _, c := range []struct {
		name, method, path, token, in string
		status                        int
		keep                          bool
	}{
		{"unauthenticated", "GET", "/api/v1/units", "", "", 401, false},
		{"invalid", "POST", "/api/v1/units", s.Admin, "", 400, false},
		{"a proxy's id is kept", "POST", "/api/v1/units", s.Admin, "edge-7f3a.1_x", 400, true},
		{"a long id is replaced", "GET", "/api/v1/units", "", strings.Repeat("a", 65), 401, false},
		{"spaces are replaced", "GET", "/api/v1/units", "", "a b", 401, false},
		{"a log-forging id is replaced", "GET", "/api/v1/units", "", `x" level=ERROR`, 401, false},
	} {
		r := do(c.method, c.path, c.token, c.in)
		id := r.Header.Get("X-Request-Id")
		if r.Status != c.status || id == "" || bodyID(r) != id {
			t.Errorf("%s: %d, header %q, body %s", c.name, r.Status, id, r.Body)
			continue
		}
		if c.keep != (id == c.in) {
			t.Errorf("%s: sent %q, got %q", c.name, c.in, id)
		}
		testenv.Eventually(t, 10*time.Second, func() error {
			for _, l := range logged(id) {
				if l["msg"] == "request refused" {
					return nil
				}
			}
			return fmt.Errorf("no log line with request_id %s:\n%s", id, s.log.String())
		})
	}

	// An HTML error page shows the id too.
	r := do("GET", "/no/such/page", "", "")
	id := r.Header.Get("X-Request-Id")
	if r.Status != 404 || !strings.Contains(r.Header.Get("Content-Type"), "text/html") || id == "" || !strings.Contains(string(r.Body), "<code>"+id+"</code>") {
		t.Fatalf("HTML error page: %d %q %q\n%s", r.Status, r.Header.Get("Content-Type"), id, r.Body)
	}
	if len(logged(id)) == 0 {
		t.Errorf("the page's refusal is not logged with request_id %s", id)
	}
}

// TestReplicasOnSingleServer: serve asking a single, non-clustered
// nats-server for a replicated stream (--replicas 3, or the default with
// --nats) exits non-zero saying to use --replicas 1 or a cluster, not with
// NATS's bare error code.
func TestReplicasOnSingleServer(t *testing.T) {
	n := testenv.StartNATS(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--replicas", "3"}, "--replicas 3: the NATS server at " + n.URL + " is not part of a cluster"},
		{nil, "--replicas 3 (the default with --nats): the NATS server"},
	} {
		var stderr syncBuffer
		args := append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--nats", n.URL}, c.args...)
		code := Run(t.Context(), args, nil, io.Discard, &stderr)
		out := stderr.String()
		if code == 0 || !strings.Contains(out, c.want) || !strings.Contains(out, "Run with --replicas 1") ||
			!strings.Contains(out, "JetStream cluster") || strings.Contains(out, "err_code") {
			t.Errorf("serve %v: exit %d\n%s", c.args, code, out)
		}
		t.Logf("exit %d: %s", code, lastLine(out))
	}
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}
