package media

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// scene draws a photo-like picture: a sky-to-ground gradient, soft light
// and a few objects, all chosen by seed.
func scene(seed uint64, w, h int) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	type blob struct{ x, y, rad, a float64 }
	var light []blob
	for k := 0; k < 6; k++ {
		light = append(light, blob{r.Float64() * float64(w), r.Float64() * float64(h), float64(w) * (0.1 + r.Float64()*0.3), r.Float64()*120 - 60})
	}
	type box struct {
		r image.Rectangle
		c color.RGBA
	}
	var boxes []box
	for k := 0; k < 8; k++ {
		x, y := r.IntN(w), r.IntN(h)
		boxes = append(boxes, box{image.Rect(x, y, x+w/8+r.IntN(w/4), y+h/8+r.IntN(h/4)), color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}})
	}
	horizon := h/3 + r.IntN(h/3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 200 - 80*float64(y)/float64(h)
			if y > horizon {
				v = 90 + 40*float64(x)/float64(w)
			}
			for _, b := range light {
				d := math.Hypot(float64(x)-b.x, float64(y)-b.y) / b.rad
				v += b.a * math.Exp(-d*d)
			}
			c := color.RGBA{clamp(v * 0.9), clamp(v), clamp(v * 1.1), 255}
			for _, b := range boxes {
				if image.Pt(x, y).In(b.r) {
					c = b.c
				}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func clamp(v float64) uint8 { return uint8(max(0, min(255, v))) }

// shrink scales img down by an integer factor, averaging.
func shrink(img *image.RGBA, f int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()/f, b.Dy()/f))
	for y := 0; y < out.Rect.Dy(); y++ {
		for x := 0; x < out.Rect.Dx(); x++ {
			var s [3]int
			for dy := 0; dy < f; dy++ {
				for dx := 0; dx < f; dx++ {
					c := img.RGBAAt(x*f+dx, y*f+dy)
					s[0], s[1], s[2] = s[0]+int(c.R), s[1]+int(c.G), s[2]+int(c.B)
				}
			}
			n := f * f
			out.SetRGBA(x, y, color.RGBA{uint8(s[0] / n), uint8(s[1] / n), uint8(s[2] / n), 255})
		}
	}
	return out
}

func encJPEG(t *testing.T, img image.Image, q int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func inspect(b []byte) Facts { return Inspect(bytes.NewReader(b), int64(len(b))) }

func TestPHashNearDuplicates(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		orig := scene(seed, 640, 480)
		a := inspect(encJPEG(t, orig, 90))
		if a.PHash == 0 || a.Width != 640 {
			t.Fatalf("seed %d: %v", seed, a)
		}
		// Resized to a quarter of the pixels and recompressed hard.
		b := inspect(encJPEG(t, shrink(orig, 2), 40))
		if d := Distance(a.PHash, b.PHash); d > 10 {
			t.Errorf("seed %d: a resized, recompressed copy is %d bits away (%016x, %016x)", seed, d, a.PHash, b.PHash)
		}
		// The same picture as a PNG.
		var p bytes.Buffer
		png.Encode(&p, shrink(orig, 4))
		if c := inspect(p.Bytes()); Distance(a.PHash, c.PHash) > 10 {
			t.Errorf("seed %d: the PNG copy is %d bits away", seed, Distance(a.PHash, c.PHash))
		}
		// Other pictures are far.
		for other := seed + 1; other <= 5; other++ {
			o := inspect(encJPEG(t, scene(other, 640, 480), 90))
			if d := Distance(a.PHash, o.PHash); d <= 20 {
				t.Errorf("seeds %d and %d: different photos only %d bits apart", seed, other, d)
			}
		}
	}
}

func TestPHashFormats(t *testing.T) {
	img := scene(9, 120, 90)
	var g bytes.Buffer
	if err := gif.Encode(&g, img, nil); err != nil {
		t.Fatal(err)
	}
	jp := inspect(encJPEG(t, img, 90))
	if f := inspect(g.Bytes()); f.PHash == 0 || Distance(f.PHash, jp.PHash) > 10 {
		t.Errorf("gif: %v, jpeg %016x", f, jp.PHash)
	}
	// EXIF and the hash together.
	if f := inspect(exifJPEG(t, binary.LittleEndian, "2016:07:12 09:30:05")); f.TakenAt == "" || f.PHash == 0 {
		t.Errorf("exif jpeg: %v", f)
	}
	// Tiny and flat images: no panic; a flat one hashes to 0 (no hash).
	if h := DHash(image.NewGray(image.Rect(0, 0, 3, 2))); h != 0 {
		t.Errorf("flat 3x2: %016x", h)
	}
	if h := DHash(scene(3, 5, 4)); h == 0 {
		t.Error("5x4 image: no hash")
	}
	// Not an image, or truncated.
	for name, b := range map[string][]byte{"text": []byte("工作總結"), "truncated": encJPEG(t, img, 90)[:300]} {
		if f := inspect(b); f.PHash != 0 {
			t.Errorf("%s: %v", name, f)
		}
	}
}

// TestPHashRefusesBombs: a PNG whose header claims 20000×20000 pixels (a
// decompression bomb) is never decoded; it gets its dimensions, no hash,
// at once and in little memory.
func TestPHashRefusesBombs(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 20000)
	binary.BigEndian.PutUint32(ihdr[4:], 20000)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	start := time.Now()
	f := inspect(b.Bytes())
	if f.Width != 20000 || f.Height != 20000 || f.PHash != 0 {
		t.Fatalf("bomb: %v", f)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %s", d)
	}
}
