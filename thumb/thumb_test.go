package thumb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/internal/testenv"
)

// picture returns a w×h image: red in the top-left quarter, blue elsewhere.
func picture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{0, 0, 255, 255}
			if x < w/2 && y < h/2 {
				c = color.RGBA{255, 0, 0, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func jpegOf(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngOf(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withOrientation inserts an APP1 Exif segment with the orientation tag
// after a JPEG's SOI marker.
func withOrientation(j []byte, o uint16, bo binary.ByteOrder) []byte {
	var t bytes.Buffer
	if bo == binary.LittleEndian {
		t.WriteString("II")
	} else {
		t.WriteString("MM")
	}
	_ = binary.Write(&t, bo, uint16(42))
	_ = binary.Write(&t, bo, uint32(8))
	_ = binary.Write(&t, bo, uint16(1))           // one entry
	_ = binary.Write(&t, bo, []uint16{0x0112, 3}) // tag, SHORT
	_ = binary.Write(&t, bo, uint32(1))           // count
	_ = binary.Write(&t, bo, []uint16{o, 0})      // value, padding
	_ = binary.Write(&t, bo, uint32(0))           // no next IFD
	seg := append([]byte("Exif\x00\x00"), t.Bytes()...)
	out := []byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(out[4:], uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, j[2:]...)
}

type fixture struct {
	store *dir.Store
	cache *Cache
}

func newFixture(t testing.TB, opt Options) fixture {
	t.Helper()
	st, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return fixture{st, New(filepath.Join(t.TempDir(), "thumbs"), st, opt)}
}

func (f fixture) put(t testing.TB, b []byte) blobstore.Ref {
	t.Helper()
	rec, err := blobstore.Receive(context.Background(), f.store, bytes.NewReader(b), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return rec.Ref
}

func decodeFile(t *testing.T, p string) image.Image {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil || format != "jpeg" {
		t.Fatalf("thumbnail is %s (%v), want a JPEG", format, err)
	}
	return img
}

func TestResizedDimensions(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		data       []byte
		w          int
		wantW, wnH int
	}{
		{"jpeg 1200x900 to 240", jpegOf(t, picture(1200, 900)), 240, 240, 180},
		{"jpeg 1200x900 to 960", jpegOf(t, picture(1200, 900)), 960, 960, 720},
		{"png 300x1000 to 240", pngOf(t, picture(300, 1000)), 240, 240, 800},
		{"small png kept", pngOf(t, picture(100, 50)), 240, 100, 50},
		{"jpeg turned by EXIF 6", withOrientation(jpegOf(t, picture(1000, 500)), 6, binary.BigEndian), 240, 240, 480},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.cache.Get(ctx, f.put(t, tc.data), tc.w)
			if err != nil {
				t.Fatal(err)
			}
			b := decodeFile(t, p).Bounds()
			if b.Dx() != tc.wantW || b.Dy() != tc.wnH {
				t.Errorf("thumbnail is %d×%d, want %d×%d", b.Dx(), b.Dy(), tc.wantW, tc.wnH)
			}
		})
	}
}

// TestOrientation checks each EXIF orientation moves the red quarter (top
// left as stored) to where the upright picture has it.
func TestOrientation(t *testing.T) {
	f := newFixture(t, Options{})
	src := jpegOf(t, picture(200, 100))
	// where the red quarter lands: true for left / top
	want := map[uint16][2]bool{1: {true, true}, 2: {false, true}, 3: {false, false}, 4: {true, false},
		5: {true, true}, 6: {false, true}, 7: {false, false}, 8: {true, false}}
	for o := uint16(1); o <= 8; o++ {
		for _, bo := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
			data := withOrientation(src, o, bo)
			if got := Orientation(data); got != int(o) {
				t.Fatalf("Orientation = %d, want %d", got, o)
			}
			out, err := f.cache.Render(context.Background(), data, 240)
			if err != nil {
				t.Fatal(err)
			}
			img, _, err := image.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			if upright := o >= 5; upright != (b.Dx() == 100) {
				t.Fatalf("orientation %d: thumbnail %d×%d", o, b.Dx(), b.Dy())
			}
			x, y := b.Dx()/4, b.Dy()/4
			if !want[o][0] {
				x = b.Dx() * 3 / 4
			}
			if !want[o][1] {
				y = b.Dy() * 3 / 4
			}
			if r, _, bl, _ := img.At(x, y).RGBA(); r < 0x8000 || bl > 0x8000 {
				t.Errorf("orientation %d: pixel (%d,%d) is not red", o, x, y)
			}
		}
	}
	if Orientation(src) != 1 || Orientation([]byte("not a jpeg")) != 1 {
		t.Error("no EXIF must read as orientation 1")
	}
}

func TestGeneratedOnceAndCached(t *testing.T) {
	f := newFixture(t, Options{})
	ref := f.put(t, jpegOf(t, picture(800, 600)))
	ctx := context.Background()
	var wg sync.WaitGroup
	paths := make([]string, 16)
	errs := make([]error, 16)
	for i := range 16 {
		wg.Go(func() { paths[i], errs[i] = f.cache.Get(ctx, ref, 240) })
	}
	wg.Wait()
	for i := range 16 {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("request %d: %q, %v", i, paths[i], errs[i])
		}
	}
	if n := f.cache.Decodes(); n != 1 {
		t.Fatalf("16 concurrent requests decoded %d times, want 1", n)
	}
	st, err := os.Stat(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cache.Get(ctx, ref, 240); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cache.Get(ctx, ref, 960); err != nil {
		t.Fatal(err)
	}
	if n := f.cache.Decodes(); n != 2 {
		t.Fatalf("after a cache hit and another width: %d decodes, want 2", n)
	}
	st2, _ := os.Stat(paths[0])
	if !st2.ModTime().Equal(st.ModTime()) {
		t.Error("a cache hit rewrote the thumbnail")
	}
	// A new cache on the same directory (a restart) decodes nothing.
	c2 := New(f.cache.dir, f.store, Options{})
	if _, err := c2.Get(ctx, ref, 240); err != nil || c2.Decodes() != 0 {
		t.Fatalf("after restart: %v, %d decodes", err, c2.Decodes())
	}
	// The original is untouched.
	rc, _, err := blobstore.Open(ctx, f.store, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := bytes.NewBuffer(nil).ReadFrom(rc); err != nil {
		t.Fatalf("original no longer verifies: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"png bomb", testenv.BombPNG(100_000, 100_000), ErrTooManyPixels},
		{"png just over the limit", testenv.BombPNG(10_000, 5_001), ErrTooManyPixels},
		{"plain text", []byte("注意: not an image\n"), ErrNotImage},
		{"pdf", []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"), ErrNotImage},
		{"truncated jpeg", jpegOf(t, picture(100, 100))[:200], ErrNotImage},
		{"zero-size png", testenv.BombPNG(0, 10), ErrNotImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := f.put(t, tc.data)
			before := f.cache.Decodes()
			if _, err := f.cache.Get(ctx, ref, 240); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == ErrTooManyPixels && f.cache.Decodes() != before {
				t.Error("a refused bomb was decoded")
			}
			if _, err := os.Stat(f.cache.path(ref, 240)); !os.IsNotExist(err) {
				t.Errorf("something was cached for a refused blob: %v", err)
			}
		})
	}
	ref := f.put(t, jpegOf(t, picture(10, 10)))
	if _, err := f.cache.Get(ctx, ref, 500); !errors.Is(err, ErrWidth) {
		t.Errorf("width 500: %v, want ErrWidth", err)
	}
	var missing blobstore.Ref = blobstore.RefOf([]byte("never stored"))
	if _, err := f.cache.Get(ctx, missing, 240); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("missing blob: %v, want ErrNotFound", err)
	}
}

// TestCorruptBlobNotThumbnailed: bytes that no longer match their digest
// are never decoded into a thumbnail.
func TestCorruptBlobNotThumbnailed(t *testing.T) {
	f := newFixture(t, Options{})
	ref := f.put(t, jpegOf(t, picture(300, 300)))
	p := f.store.Path(ref)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, jpegOf(t, picture(301, 300)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cache.Get(context.Background(), ref, 240); !errors.Is(err, blobstore.ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	if f.cache.Decodes() != 0 {
		t.Error("a corrupt blob was decoded")
	}
}

func TestDecodeTimeout(t *testing.T) {
	f := newFixture(t, Options{DecodeTimeout: time.Nanosecond})
	ref := f.put(t, jpegOf(t, picture(2000, 1500)))
	if _, err := f.cache.Get(context.Background(), ref, 960); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func BenchmarkCachedHit(b *testing.B) {
	f := newFixture(b, Options{})
	ref := f.put(b, jpegOf(b, picture(1600, 1200)))
	ctx := context.Background()
	if _, err := f.cache.Get(ctx, ref, 240); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.cache.Get(ctx, ref, 240); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzOrientation(f *testing.F) {
	src := jpegOf(f, picture(8, 8))
	f.Add(src)
	f.Add(withOrientation(src, 6, binary.BigEndian))
	f.Add(withOrientation(src, 3, binary.LittleEndian))
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := Orientation(b); o < 1 || o > 8 {
			t.Fatalf("Orientation = %d", o)
		}
	})
}
