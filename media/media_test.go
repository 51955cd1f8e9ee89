package media

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// exifJPEG returns a JPEG with an APP1 Exif segment holding DateTimeOriginal
// and a GPS position, in byte order bo.
func exifJPEG(t testing.TB, bo binary.ByteOrder, when string) []byte {
	var tf bytes.Buffer
	w := func(v any) { binary.Write(&tf, bo, v) }
	if bo == binary.LittleEndian {
		tf.WriteString("II")
	} else {
		tf.WriteString("MM")
	}
	w(uint16(42))
	w(uint32(8))
	// IFD0 at 8: 2 entries (ExifIFD, GPS), next 0. Size 2+2*12+4 = 30 -> ends at 38.
	w(uint16(2))
	w(uint16(0x8769))
	w(uint16(4))
	w(uint32(1))
	w(uint32(38))
	w(uint16(0x8825))
	w(uint16(4))
	w(uint32(1))
	w(uint32(38 + 18 + 20))
	w(uint32(0))
	// Exif IFD at 38: 1 entry DateTimeOriginal, value at 56 (20 bytes).
	w(uint16(1))
	w(uint16(0x9003))
	w(uint16(2))
	w(uint32(20))
	w(uint32(56))
	w(uint32(0))
	tf.WriteString(when + "\x00") // 19 + 1
	// GPS IFD at 76: 4 entries; values after (2+48+4 = 54 -> 130).
	w(uint16(4))
	w(uint16(1))
	w(uint16(2))
	w(uint32(2))
	tf.WriteString("N\x00\x00\x00")
	w(uint16(2))
	w(uint16(5))
	w(uint32(3))
	w(uint32(130))
	w(uint16(3))
	w(uint16(2))
	w(uint32(2))
	tf.WriteString("E\x00\x00\x00")
	w(uint16(4))
	w(uint16(5))
	w(uint32(3))
	w(uint32(154))
	w(uint32(0))
	for _, r := range [][2]uint32{{20, 1}, {1, 1}, {30, 1}, {110, 1}, {19, 1}, {0, 1}} {
		w(r[0])
		w(r[1])
	}
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var j bytes.Buffer
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	b := j.Bytes()
	app1 := append([]byte("Exif\x00\x00"), tf.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(app1)+2))
	out := append([]byte{0xFF, 0xD8}, seg...)
	out = append(out, app1...)
	return append(out, b[2:]...)
}

func TestInspectExif(t *testing.T) {
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		b := exifJPEG(t, bo, "2016:07:12 09:30:05")
		f := Inspect(bytes.NewReader(b), int64(len(b)))
		if f.Width != 32 || f.Height != 24 || f.TakenAt != "2016-07-12T09:30:05" {
			t.Fatalf("%v: %v", bo, f)
		}
		if f.GPS == nil || f.GPS.Lat < 20.0249 || f.GPS.Lat > 20.0251 || f.GPS.Lon < 110.3166 || f.GPS.Lon > 110.3167 {
			t.Fatalf("%v: gps %v", bo, f.GPS)
		}
	}
}

func TestInspectPlainFiles(t *testing.T) {
	var p bytes.Buffer
	png.Encode(&p, image.NewGray(image.Rect(0, 0, 5, 7)))
	for name, c := range map[string]struct {
		b    []byte
		w, h int
	}{
		"png":       {p.Bytes(), 5, 7},
		"text":      {[]byte("工作總結"), 0, 0},
		"empty":     {nil, 0, 0},
		"truncated": {exifJPEG(t, binary.LittleEndian, "2016:07:12 09:30:05")[:40], 0, 0},
	} {
		f := Inspect(bytes.NewReader(c.b), int64(len(c.b)))
		if f.Width != c.w || f.Height != c.h || f.GPS != nil {
			t.Errorf("%s: %v", name, f)
		}
	}
}

// FuzzInspect: no input makes Inspect panic or read out of bounds.
func FuzzInspect(f *testing.F) {
	f.Add(exifJPEG(f, binary.LittleEndian, "2016:07:12 09:30:05"))
	f.Add(exifJPEG(f, binary.BigEndian, "2016:02:30 99:99:99"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = Inspect(bytes.NewReader(b), int64(len(b)))
		if tiff := jpegExif(b); tiff != nil {
			parseTIFF(tiff)
		}
		parseTIFF(b)
	})
}
