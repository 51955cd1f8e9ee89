package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"taizhang/internal/testenv"
)

func photoPNG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 3), 99, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestInspectLimitedRefusesABomb(t *testing.T) {
	bomb := testenv.BombPNG(100000, 100000)
	if len(bomb) > 4096 {
		t.Fatalf("bomb of %d bytes is not tiny", len(bomb))
	}
	f, err := InspectLimited(context.Background(), bytes.NewReader(bomb), int64(len(bomb)), Limits{})
	if !errors.Is(err, ErrTooManyPixels) {
		t.Fatalf("bomb: %v %v", f, err)
	}
	if f.Width != 100000 || f.Height != 100000 || f.PHash != 0 {
		t.Fatalf("bomb facts: %v", f)
	}
	// Exactly at the limit is accepted; one pixel over is not.
	ok := photoPNG(t, 40, 25)
	if f, err := InspectLimited(context.Background(), bytes.NewReader(ok), int64(len(ok)), Limits{MaxPixels: 1000}); err != nil || f.PHash == 0 {
		t.Fatalf("1000 pixels, limit 1000: %v %v", f, err)
	}
	if _, err := InspectLimited(context.Background(), bytes.NewReader(ok), int64(len(ok)), Limits{MaxPixels: 999}); !errors.Is(err, ErrTooManyPixels) {
		t.Fatalf("1000 pixels, limit 999: %v", err)
	}
}

func TestInspectLimitedTimeout(t *testing.T) {
	img := photoPNG(t, 300, 200)
	// A clock that moves a second at every look: the decoder's first read
	// comes a second after the start, when a one-second limit has run out.
	var clock time.Time
	tick := func() time.Time { clock = clock.Add(time.Second); return clock }
	_, err := InspectLimited(context.Background(), bytes.NewReader(img), int64(len(img)), Limits{DecodeTimeout: time.Second, Now: tick})
	if !errors.Is(err, ErrDecodeTimeout) {
		t.Fatalf("slow decode: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := InspectLimited(ctx, bytes.NewReader(img), int64(len(img)), Limits{}); !errors.Is(err, ErrDecodeTimeout) {
		t.Fatalf("cancelled: %v", err)
	}
	// A still clock never runs out.
	still := func() time.Time { return time.Time{} }
	f, err := InspectLimited(context.Background(), bytes.NewReader(img), int64(len(img)), Limits{DecodeTimeout: time.Nanosecond, Now: still})
	if err != nil || f.PHash == 0 || f.Width != 300 {
		t.Fatalf("still clock: %v %v", f, err)
	}
}

func TestDimensions(t *testing.T) {
	vp8 := []byte("RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00\x00\x00\x00\x9d\x01\x2a")
	vp8 = binary.LittleEndian.AppendUint16(vp8, 640)
	vp8 = binary.LittleEndian.AppendUint16(vp8, 480)
	vp8l := []byte("RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f")
	vp8l = binary.LittleEndian.AppendUint32(vp8l, uint32(16383)|uint32(9)<<14) // 16384 × 10
	vp8l = append(vp8l, 0, 0, 0, 0, 0)
	vp8x := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\x0f\x27\x00") // 16777216 × 10000
	heic := append([]byte{0, 0, 0, 24}, []byte("ftypheic\x00\x00\x00\x00mif1heic")...)
	heic = append(heic, []byte("\x00\x00\x00\x14ispe\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x01\x00")...) // a 512 × 256 tile
	heic = append(heic, []byte("\x00\x00\x00\x14ispe\x00\x00\x00\x00\x00\x01\x86\xa0\x00\x01\x86\xa0")...) // the 100000 × 100000 grid
	for _, c := range []struct {
		name   string
		b      []byte
		w, h   int
		format string
	}{
		{"png", photoPNG(t, 5, 7), 5, 7, "png"},
		{"webp lossy", vp8, 640, 480, "webp"},
		{"webp lossless", vp8l, 16384, 10, "webp"},
		{"webp extended", vp8x, 16777216, 10000, "webp"},
		{"heic", heic, 100000, 100000, "heic"},
		{"text", []byte("hello"), 0, 0, ""},
	} {
		w, h, format := Dimensions(bytes.NewReader(c.b), int64(len(c.b)))
		if w != c.w || h != c.h || format != c.format {
			t.Errorf("%s: %d×%d %q, want %d×%d %q", c.name, w, h, format, c.w, c.h, c.format)
		}
	}
	for _, b := range [][]byte{vp8x, heic} {
		if _, err := InspectLimited(context.Background(), bytes.NewReader(b), int64(len(b)), Limits{}); !errors.Is(err, ErrTooManyPixels) {
			t.Errorf("%.12q: %v", b, err)
		}
	}
}

// FuzzInspectLimited: no input makes InspectLimited panic; what it accepts
// is within the pixel limit.
func FuzzInspectLimited(f *testing.F) {
	f.Add(testenv.BombPNG(100000, 100000))
	f.Add(photoPNG(f, 8, 8))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\x0f\x27\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fa, err := InspectLimited(context.Background(), bytes.NewReader(b), int64(len(b)), Limits{MaxPixels: 1 << 20})
		if err == nil && int64(fa.Width)*int64(fa.Height) > 1<<20 {
			t.Fatalf("accepted %d×%d", fa.Width, fa.Height)
		}
		if err != nil && !errors.Is(err, ErrTooManyPixels) && !errors.Is(err, ErrDecodeTimeout) {
			t.Fatalf("error of another kind: %v", err)
		}
	})
}
