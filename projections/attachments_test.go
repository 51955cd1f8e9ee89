package projections

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"unsafe"

	"taizhang/events"
)

var attachmentCases = []events.Attachment{
	{SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", Size: 2_345_678, MediaType: "image/jpeg", Name: "IMG_0001.jpg", Width: 4032, Height: 3024},
	{SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", Size: 12, MediaType: "text/plain", Name: "學習記錄.txt"},
	{SHA256: "0000000000000000000000000000000000000000000000000000000000000000", MediaType: "image/png", Name: "a.png",
		TakenAt: "2016-07-12T09:30:15", GPS: &events.GPS{Lat: 23.1, Lon: 113.2}, PHash: "8f373714acfcf4d0"},
	{SHA256: "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE", Size: 1, MediaType: "image/png", Name: "upper.png"}, // not canonical: kept as it came
	{SHA256: "", Size: -1, MediaType: "", Name: ""},
	{SHA256: "abc", Name: "short"},
	{SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7aez", Name: "long"},
	{SHA256: "zc26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7a", Name: "not hex"},
	{SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", Width: math.MaxInt32 + 1, Height: -5},
	{SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", Width: math.MaxInt32, Height: 0},
	{SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", MediaType: "image/jpeg", Name: "p.jpg", Width: 4032, Height: 3024, PHash: "0000000000000000"},
	{SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", MediaType: "image/jpeg", Name: "p.jpg", PHash: "ffffffffffffffff", TakenAt: "2016-07-12T09:30:15"},
	{SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", MediaType: "image/jpeg", PHash: "8F373714ACFCF4D0"}, // not canonical: kept as it came
	{SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", MediaType: "image/jpeg", PHash: "8f37"},
}

// TestAttachmentsRoundTrip: the compact form gives back exactly what the
// events carried, whatever their digests and sizes, and finds them by
// digest as a string comparison would.
func TestAttachmentsRoundTrip(t *testing.T) {
	as := NewAttachments(attachmentCases)
	if got := as.All(); !reflect.DeepEqual(got, attachmentCases) {
		t.Fatalf("All:\n got %+v\nwant %+v", got, attachmentCases)
	}
	for i, want := range attachmentCases {
		if as.Digest(i) != want.SHA256 || as.MediaType(i) != want.MediaType || as.Name(i) != want.Name {
			t.Fatalf("%d: digest %q media %q name %q, want %+v", i, as.Digest(i), as.MediaType(i), as.Name(i), want)
		}
		first := -1
		for j, a := range attachmentCases {
			if a.SHA256 == want.SHA256 {
				first = j
				break
			}
		}
		if got := as.Index(want.SHA256); got != first {
			t.Fatalf("Index(%q) = %d, want %d", want.SHA256, got, first)
		}
	}
	if as.Has("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7af") {
		t.Fatal("Has found a digest none has")
	}
	got, err := json.Marshal(as)
	want, _ := json.Marshal(attachmentCases)
	if err != nil || string(got) != string(want) {
		t.Fatalf("JSON %s (%v), want %s", got, err, want)
	}
	if b, _ := json.Marshal(Attachments(nil)); string(b) != "[]" {
		t.Fatalf("no attachments encode as %s", b)
	}
	if got := unsafe.Sizeof(attachment{}); got > 96 {
		t.Errorf("an attachment reference takes %d bytes, more than 96", got)
	}
	if NewAttachments(nil) != nil || Attachments(nil).All() != nil {
		t.Fatal("no attachments are not nil")
	}
}

// FuzzAttachmentsRoundTrip holds the compact form to what went in.
func FuzzAttachmentsRoundTrip(f *testing.F) {
	for _, a := range attachmentCases {
		f.Add(a.SHA256, a.Size, a.MediaType, a.Name, a.Width, a.Height, a.TakenAt, a.PHash, a.GPS != nil)
	}
	f.Fuzz(func(t *testing.T, sha string, size int64, media, name string, w, h int, taken, phash string, gps bool) {
		a := events.Attachment{SHA256: sha, Size: size, MediaType: media, Name: name, Width: w, Height: h, TakenAt: taken, PHash: phash}
		if gps {
			a.GPS = &events.GPS{Lat: 1, Lon: 2}
		}
		as := NewAttachments([]events.Attachment{a})
		if got := as.At(0); !reflect.DeepEqual(got, a) {
			t.Fatalf("got %+v, want %+v", got, a)
		}
		if !as.Has(sha) || as.Digest(0) != sha {
			t.Fatalf("digest %q not found", sha)
		}
	})
}
