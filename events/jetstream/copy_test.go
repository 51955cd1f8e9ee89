package jetstream_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

// followAll runs l.Follow from 1 until it has delivered seq and returns
// every record it delivered.
func followAll(t *testing.T, l *tzjs.Ledger, seq uint64) []events.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []events.Record
	reached := errors.New("reached")
	err := l.Follow(ctx, 1, func(r events.Record) error {
		recs = append(recs, r)
		if r.Seq >= seq {
			return reached
		}
		return nil
	})
	if !errors.Is(err, reached) {
		t.Fatalf("follow to %d: %v", seq, err)
	}
	return recs
}

// sameRecords checks that got is want: the same sequences, events and
// damage, in order.
func sameRecords(t *testing.T, what string, got, want []events.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || !reflect.DeepEqual(g.Event, w.Event) || !reflect.DeepEqual(g.Damage, w.Damage) {
			t.Fatalf("%s: record %d is\n%+v\nwant\n%+v", what, i, got[i], want[i])
		}
	}
}

// openCopy opens a ledger on n keeping its history copy in dir. Its id
// index waits a minute for the Follow to feed it, so that what it knows
// at first it knows from the Follow.
func openCopy(t *testing.T, n *testenv.NATS, dir string) *tzjs.Ledger {
	t.Helper()
	l, err := tzjs.Open(context.Background(), n.Connect(t), tzjs.Config{HistoryDir: dir, IndexFeed: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestHistoryCopy: the history copy a ledger saves at Close is, at the
// next Open, checked against the stream and replayed from disk by a Follow
// from the start, and what that Follow delivers is what the stream holds:
// the same records (sound events, a message that does not decode, one
// below a unit's subject, each with its damage) in the same order, then
// the messages appended since, from the server. The replay feeds the id
// index (an append of an id already there is refused as a duplicate) and
// the history reads. A copy that is not of this stream, whose chain heads
// differ from the stream's, or with a message in the middle that differs
// from the stream's, is not believed: the records are still exactly the
// stream's. Bytes after the saved length (a crash in the middle of a
// write) are cut off.
func TestHistoryCopy(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	writer := openLedger(t, n)
	register(t, writer, "dongcun")
	register(t, writer, "xicun")
	ids := make([]uuid.UUID, 12)
	for i := range ids {
		ids[i] = uuid.New()
		submit(t, writer, []string{"dongcun", "xicun"}[i%2], ids[i], fmt.Sprintf("活動 %d", i))
	}
	nc := n.Connect(t)
	if _, err := nc.Request("tz.ev.xicun", []byte("not an event"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request("tz.ev.dongcun.below", []byte(`{"forged":true}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	submit(t, writer, "dongcun", uuid.New(), "後來的")
	last, err := writer.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plain := openLedger(t, n)
	want := followAll(t, plain, last)
	if want[len(want)-3].Damage == nil || want[len(want)-2].Damage == nil {
		t.Fatalf("the forged messages have no damage: %+v", want[len(want)-3:])
	}
	dir := t.TempDir()

	// The first run: a new copy, everything from the server.
	first := openCopy(t, n, dir)
	sameRecords(t, "first run", followAll(t, first, last), want)
	if got := tzjs.HistoryCopyReplayedForTest(first); got != 0 {
		t.Errorf("a new copy replayed %d messages", got)
	}
	first.Close()

	// The second: from the copy, then what came since from the server.
	again := openCopy(t, n, dir)
	sameRecords(t, "replayed from the copy", followAll(t, again, last), want)
	if got := tzjs.HistoryCopyReplayedForTest(again); got != int64(last) {
		t.Errorf("replayed %d messages from the copy, want %d", got, last)
	}
	sameReads(t, "after a replay", again, plain, []string{"dongcun", "xicun", "nanshan"}, time.Now())
	if hits := tzjs.HistoryCacheHitsForTest(again); hits == 0 {
		t.Errorf("the replayed copy served no history read")
	}
	if _, created := submit(t, again, "dongcun", ids[2], "活動 2"); created {
		t.Errorf("an id the replay delivered was taken as new")
	}
	rec, created := submit(t, again, "dongcun", uuid.New(), "重啟以後")
	if !created {
		t.Fatal("a new submission after the replay was not created")
	}
	want = followAll(t, plain, rec.Seq)
	sameRecords(t, "replay, then the server", followAll(t, again, rec.Seq), want)
	last = rec.Seq
	again.Close()

	// A crash: bytes after the saved length are cut off.
	f, err := os.OpenFile(filepath.Join(dir, "ledger.copy"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("\x07\x00\x00\x00half a record")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	crashed := openCopy(t, n, dir)
	sameRecords(t, "after a torn write", followAll(t, crashed, last), want)
	if got := tzjs.HistoryCopyReplayedForTest(crashed); got != int64(last) {
		t.Errorf("after a torn write, replayed %d messages from the copy, want %d", got, last)
	}
	crashed.Close()

	// Copies that are not believed.
	cases := []struct {
		name   string
		spoil  func(t *testing.T, dir string)
		replay func(last uint64) int64 // how many messages are replayed from the copy
	}{
		{"a chain head differs", func(t *testing.T, dir string) {
			var in struct {
				Heads []struct {
					Ref uint64 `json:"ref"`
				} `json:"heads"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "ledger.copy.json"))
			if err != nil || json.Unmarshal(b, &in) != nil || len(in.Heads) == 0 {
				t.Fatalf("the copy's record: %v, %s", err, b)
			}
			flip(t, filepath.Join(dir, "ledger.copy"), int64(in.Heads[0].Ref>>24)+10)
		}, func(uint64) int64 { return 0 }},
		{"a message in the middle differs", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "ledger.copy")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			i := bytes.Index(b, []byte("活動 4"))
			if i < 0 {
				t.Fatal("活動 4 is not in the copy")
			}
			flip(t, path, int64(i))
		}, func(uint64) int64 { return 6 }}, // the two registrations and 活動 0-3 come before
		{"a record is missing", func(t *testing.T, dir string) {
			dropRecord(t, dir, []byte("活動 4"))
		}, func(uint64) int64 { return 6 }}, // as above: the record's messages before it
		{"a head points past the file", func(t *testing.T, dir string) {
			editCopyInfo(t, dir, func(in map[string]any) {
				in["heads"].([]any)[0].(map[string]any)["ref"] = uint64(1) << 60
			})
		}, func(uint64) int64 { return 0 }},
		{"the record leaves out a chain's last message", func(t *testing.T, dir string) {
			editCopyInfo(t, dir, func(in map[string]any) {
				var kept []any
				for _, h := range in["heads"].([]any) {
					if h.(map[string]any)["chain"] != "xicun" {
						kept = append(kept, h)
					}
				}
				if len(kept) == len(in["heads"].([]any)) {
					t.Fatalf("the copy's record has no head for xicun: %v", in)
				}
				in["heads"] = kept
			})
		}, func(uint64) int64 { return 1 }}, // dongcun's registration; xicun's is the second message
		{"the record does not parse", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "ledger.copy.json"), []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, func(uint64) int64 { return 0 }},
		{"the file is shorter than recorded", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "ledger.copy"), 100); err != nil {
				t.Fatal(err)
			}
		}, func(uint64) int64 { return 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openCopy(t, n, dir)
			followAll(t, l, last)
			l.Close()
			tc.spoil(t, dir)
			l = openCopy(t, n, dir)
			sameRecords(t, tc.name, followAll(t, l, last), want)
			if got, want := tzjs.HistoryCopyReplayedForTest(l), tc.replay(last); got != want {
				t.Errorf("replayed %d messages from the copy, want %d", got, want)
			}
			sameReads(t, tc.name, l, plain, []string{"dongcun", "xicun"}, time.Now())
			l.Close()
			// The next start makes a new copy, which holds.
			l = openCopy(t, n, dir)
			sameRecords(t, "rebuilt", followAll(t, l, last), want)
			l.Close()
			l = openCopy(t, n, dir)
			defer l.Close()
			sameRecords(t, "the rebuilt copy", followAll(t, l, last), want)
			if got := tzjs.HistoryCopyReplayedForTest(l); got != int64(last) {
				t.Errorf("the rebuilt copy replayed %d messages, want %d", got, last)
			}
		})
	}

	// Another stream (a server started anew, a stream made again): the
	// copy is not of it.
	other := testenv.StartNATS(t)
	ow := openLedger(t, other)
	register(t, ow, "dongcun")
	l := openCopy(t, other, dir)
	defer l.Close()
	recs := followAll(t, l, 1)
	if got := tzjs.HistoryCopyReplayedForTest(l); got != 0 || len(recs) != 1 || recs[0].Event.Type != events.TypeUnitRegistered {
		t.Errorf("the copy of another stream: replayed %d, records %+v", got, recs)
	}
}

// flip changes the byte at off in the file at path.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// dropRecord removes from the copy in dir the record whose body holds
// text, and rewrites the copy's record so that it is consistent with the
// file again (its length, and the heads after the record moved back): a
// copy that lost a message and is otherwise sound.
func dropRecord(t *testing.T, dir string, text []byte) {
	t.Helper()
	path := filepath.Join(dir, "ledger.copy")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var from, to int
	for off := 0; off+8 <= len(b); {
		end := off + 8 + int(binary.LittleEndian.Uint32(b[off:])) + int(binary.LittleEndian.Uint32(b[off+4:]))
		if bytes.Contains(b[off:end], text) {
			from, to = off, end
			break
		}
		off = end
	}
	if to == 0 {
		t.Fatalf("no record of the copy holds %q", text)
	}
	if err := os.WriteFile(path, append(b[:from:from], b[to:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	cut := uint64(to - from)
	editCopyInfo(t, dir, func(in map[string]any) {
		length, _ := in["length"].(json.Number).Int64()
		in["length"] = uint64(length) - cut
		for _, h := range in["heads"].([]any) {
			h := h.(map[string]any)
			ref, err := strconv.ParseUint(string(h["ref"].(json.Number)), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if ref>>24 >= uint64(to) {
				ref -= cut << 24
			}
			h["ref"] = ref
		}
	})
}

// editCopyInfo rewrites the copy's record in dir (ledger.copy.json) as
// edit changes it; numbers come to edit as json.Number, so that they
// keep every digit.
func editCopyInfo(t *testing.T, dir string, edit func(in map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "ledger.copy.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&in); err != nil {
		t.Fatal(err)
	}
	edit(in)
	if b, err = json.Marshal(in); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
