package param

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"taizhang/events"
)

// zone is the deployments' default zone (UTC+8).
var zone = time.FixedZone("UTC+8", 8*3600)

// statusOf is the status the gate answers a parameter's error with: 400
// for both request kinds (the gate's error table maps them; gate's tests
// check that).
func statusOf(err error) (int, string) {
	if errors.Is(err, ErrBadRequest) || errors.Is(err, events.ErrInvalid) {
		return 400, "bad_request"
	}
	return 500, "internal"
}

// badParam checks err is a 400 of one of the two request kinds naming the
// parameter.
func badParam(t *testing.T, name string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted", name)
	}
	if status, _ := statusOf(err); status != 400 {
		t.Fatalf("%s: status %d for %v", name, status, err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Fatalf("error %q does not name %s", err, name)
	}
}

func TestQueryGet(t *testing.T) {
	for _, c := range []struct {
		raw, name, want string
		bad             bool
	}{
		{"as_of=2016-07-01", "as_of", "2016-07-01", false},
		{"", "as_of", "", false},
		{"other=1", "as_of", "", false},
		{"as_of=%E5%8F%B0", "as_of", "台", false},
		{"as_of=a&as_of=b", "as_of", "", true},
		{"as_of=%00", "as_of", "", true},
		{"as_of=%0a", "as_of", "", true},
		{"as_of=%ff", "as_of", "", true},
		{"as_of=" + strings.Repeat("x", MaxLen+1), "as_of", "", true},
	} {
		q, err := Query(httptest.NewRequest("GET", "/x?"+c.raw, nil))
		if err != nil {
			t.Fatalf("%s: %v", c.raw, err)
		}
		got, err := q.Get(c.name)
		if c.bad {
			badParam(t, c.name, err)
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.raw, got, err, c.want)
		}
	}
	for _, raw := range []string{"as_of=%zz", "a=1;b=2"} {
		if _, err := Query(httptest.NewRequest("GET", "/x?"+raw, nil)); err == nil {
			t.Errorf("malformed query %q accepted", raw)
		} else if status, _ := statusOf(err); status != 400 {
			t.Errorf("malformed query %q: %d", raw, status)
		}
	}
}

func TestParseAsOf(t *testing.T) {
	for _, c := range []struct {
		v    string
		want time.Time
	}{
		{"", time.Time{}},
		{"2016-07-01", time.Date(2016, 7, 1, 16, 0, 0, 0, time.UTC).Add(-time.Microsecond)},
		{"2016-07-01T10:00:00+08:00", time.Date(2016, 7, 1, 2, 0, 0, 0, time.UTC)},
		{"2016-07-01T10:00:00.123456Z", time.Date(2016, 7, 1, 10, 0, 0, 123456000, time.UTC)},
	} {
		got, err := AsOf("as_of", c.v, zone)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%q: %v %v, want %v", c.v, got, err, c.want)
		}
	}
	for _, v := range []string{"soon", "2016-13-01", "2016-07-32", "2016-07", "1969-12-31", "0001-01-01T00:00:00Z",
		"2016-07-01T10:00:00", "2016/07/01", " 2016-07-01", "*", ">", "2016-07-01.x"} {
		_, err := AsOf("as_of", v, zone)
		badParam(t, "as_of", err)
	}
}

func TestParseMonthAndDate(t *testing.T) {
	if m, err := Month("period", "2016-07"); err != nil || !m.Equal(time.Date(2016, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("period: %v %v", m, err)
	}
	for _, v := range []string{"", "2016-7", "2016-13", "2016-07-01", "1900-01", "july", "+2016-07"} {
		_, err := Month("period", v)
		badParam(t, "period", err)
	}
	if d, err := Date("from", "2016-07-01", zone); err != nil || !d.Equal(time.Date(2016, 7, 1, 0, 0, 0, 0, zone)) {
		t.Fatalf("from: %v %v", d, err)
	}
	if d, err := Date("from", "", zone); err != nil || !d.IsZero() {
		t.Fatalf("empty from: %v %v", d, err)
	}
	for _, v := range []string{"2016-07", "2016-02-30", "yesterday", "1800-01-01"} {
		_, err := Date("from", v, zone)
		badParam(t, "from", err)
	}
}

func TestParseNumbers(t *testing.T) {
	for _, c := range []struct {
		v    string
		want uint64
		bad  bool
	}{
		{"", 100, false}, {"0", 0, false}, {"42", 42, false}, {"1000", 1000, false},
		{"1001", 0, true}, {"-1", 0, true}, {"+1", 0, true}, {"1e3", 0, true}, {"0x10", 0, true},
		{"18446744073709551616", 0, true}, {" 1", 0, true},
	} {
		got, err := Uint("limit", c.v, 100, 1000)
		if c.bad {
			badParam(t, "limit", err)
		} else if err != nil || got != c.want {
			t.Errorf("limit %q: %d %v", c.v, got, err)
		}
	}
	for _, c := range []struct {
		v    string
		want int
		bad  bool
	}{
		{"", 0, false}, {"1", 1, false}, {"366", 366, false}, {"0", 0, true}, {"367", 0, true}, {"-5", 0, true}, {"+5", 0, true}, {"x", 0, true},
	} {
		got, err := IntRange("window_days", c.v, 1, 366)
		if c.bad {
			badParam(t, "window_days", err)
		} else if err != nil || got != c.want {
			t.Errorf("window_days %q: %d %v", c.v, got, err)
		}
	}
	for v, want := range map[string]bool{"": false, "false": false, "0": false, "true": true, "1": true} {
		if got, err := Bool("flagged", v); err != nil || got != want {
			t.Errorf("flagged %q: %v %v", v, got, err)
		}
	}
	for _, v := range []string{"yes", "TRUE", "2"} {
		_, err := Bool("flagged", v)
		badParam(t, "flagged", err)
	}
	if _, err := Enum("format", "xml", "json", "note"); err == nil {
		t.Fatal("format xml accepted")
	} else {
		badParam(t, "format", err)
	}
}

func TestParseIDs(t *testing.T) {
	for _, v := range []string{"dongcun", "a", "cun-1", strings.Repeat("a", 64)} {
		if got, err := Unit("unit", v); err != nil || got != v {
			t.Errorf("unit %q: %v", v, err)
		}
		if got, err := PlanID("plan", v); err != nil || got != v {
			t.Errorf("plan %q: %v", v, err)
		}
	}
	for _, v := range []string{"*", ">", "a.b", "a b", "a*", "cun.>", "Dong", "-a", "a-", strings.Repeat("a", 65), "a/b", "a\x00", "村"} {
		_, err := Unit("unit", v)
		badParam(t, "unit", err)
		if !errors.Is(err, events.ErrInvalid) {
			t.Errorf("unit %q: %v is not ErrInvalid", v, err)
		}
		_, err = PlanID("plan", v)
		badParam(t, "plan", err)
	}
	if _, err := ID("evidence id", "0190a0a0-0000-7000-8000-000000000001"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"", "x", "00000000-0000-0000-0000-000000000000", "{0190a0a0-0000-7000-8000-000000000001}",
		"urn:uuid:0190a0a0-0000-7000-8000-000000000001", "0190a0a000007000800000000000000001", "*"} {
		_, err := ID("evidence id", v)
		badParam(t, "evidence id", err)
	}
	for v, want := range map[string]string{"": "plan.yaml", "a.yaml": "a.yaml", "../../etc/passwd": "passwd", `C:\plans\b.yaml`: "b.yaml", "..": "plan.yaml", "/": "plan.yaml"} {
		if got, err := File("file", v, "plan.yaml"); err != nil || got != want {
			t.Errorf("file %q: %q %v, want %q", v, got, err, want)
		}
	}
}

// FuzzQueryParams: no query string makes a parser panic; every refusal is
// a 400 naming its parameter; what is accepted is within its bounds.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{"as_of=2016-07-01", "as_of=2016-07-01T10:00:00Z", "period=2016-07", "limit=10&from=3",
		"unit=dongcun", "unit=a.*", "plan=p-1", "flagged=true", "window_days=7", "as_of=%zz", "as_of=a&as_of=b", "file=../x.yaml"} {
		f.Add(s)
	}
	names := []string{"as_of", "period", "from", "limit", "unit", "plan", "flagged", "window_days", "format", "file", "id"}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/x", nil)
		r.URL.RawQuery = raw
		q, err := Query(r)
		if err != nil {
			if status, _ := statusOf(err); status != 400 {
				t.Fatalf("malformed query: %d", status)
			}
			return
		}
		for _, name := range names {
			v, err := q.Get(name)
			if err != nil {
				badParam(t, name, err)
				continue
			}
			if len(v) > MaxLen || !utf8.ValidString(v) {
				t.Fatalf("%s %q passed get", name, v)
			}
			check := func(err error) {
				if err != nil {
					badParam(t, name, err)
				}
			}
			switch name {
			case "as_of":
				at, err := AsOf(name, v, zone)
				check(err)
				if err == nil && v != "" && (at.Year() < MinYear-1 || at.Year() > MaxYear+1) {
					t.Fatalf("as_of %q: %v", v, at)
				}
			case "period":
				_, err := Month(name, v)
				check(err)
			case "from":
				_, err := Date(name, v, zone)
				check(err)
			case "limit":
				n, err := Uint(name, v, 100, 1000)
				check(err)
				if n > 1000 {
					t.Fatalf("limit %d", n)
				}
			case "unit":
				u, err := Unit(name, v)
				check(err)
				if strings.ContainsAny(u, "*>. \x00") {
					t.Fatalf("unit %q accepted", u)
				}
			case "plan":
				p, err := PlanID(name, v)
				check(err)
				if strings.ContainsAny(p, "*>. \x00") {
					t.Fatalf("plan %q accepted", p)
				}
			case "flagged":
				_, err := Bool(name, v)
				check(err)
			case "window_days":
				n, err := IntRange(name, v, 1, 366)
				check(err)
				if n < 0 || n > 366 {
					t.Fatalf("window_days %d", n)
				}
			case "format":
				_, err := Enum(name, v, "json", "note")
				check(err)
			case "file":
				fn, err := File(name, v, "plan.yaml")
				check(err)
				if strings.ContainsAny(fn, "/") || fn == ".." {
					t.Fatalf("file %q", fn)
				}
			case "id":
				_, err := ID(name, v)
				check(err)
			}
		}
	})
}
