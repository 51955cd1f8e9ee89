package demo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf16"

	"taizhang/events"
)

// The attachments the demo uploads are made here, from a spec, the same
// bytes every time: small JPEG photos drawn with image/draw that carry an
// EXIF capture time (and GPS where the unit has a position), plain UTF-8
// text records, and minimal PDFs written by hand.

// gps is a position in decimal degrees.
type gps struct{ Lat, Lon float64 }

// Scenes a photo can show.
const (
	sceneBoard   = iota // a 宣傳欄 / board on a wall
	sceneMeeting        // a meeting room: banner, table, heads
	sceneOutdoor        // an outdoor activity: sky, ground, banner, people
	sceneClass          // a classroom: blackboard and desks
	sceneScreen         // a screenshot: phone or web page
	numScenes
)

// photoSpec says everything a photo is drawn from.
type photoSpec struct {
	Seed  uint64    // drawing randomness
	Scene int       // one of the scene constants
	Label string    // drawn top left (the unit id)
	Taken time.Time // EXIF DateTimeOriginal, in the camera's zone (UTC+8)
	GPS   *gps      // EXIF GPS, if any
	Name  string    // the file name the client sends
	// Resaved, if set, makes this a copy of the photo shrunk to this
	// width and saved again at a lower quality without its EXIF, as a
	// messaging app passes a photo on: other bytes, the same picture.
	Resaved int
}

const photoW, photoH = 320, 240

// JPEG draws the photo and returns its JPEG bytes with the EXIF segment.
func (p photoSpec) JPEG() ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, photoW, photoH))
	r := rand.New(rand.NewPCG(p.Seed, 0x70686f746f))
	drawScene(img, p.Scene, r)
	img = frame(img, r)
	lighting(img, r)
	// The unit top left on a dark strip, the camera's date stamp bottom right.
	fillRect(img, 0, 0, 8+len(p.Label)*8, 20, color.RGBA{20, 20, 20, 200})
	drawText(img, 4, 3, 2, strings.ToLower(p.Label), color.RGBA{255, 255, 255, 255})
	stamp := p.Taken.Format("2006-01-02 15:04")
	drawText(img, photoW-4-len(stamp)*8, photoH-16, 2, stamp, color.RGBA{255, 150, 30, 255})
	var buf bytes.Buffer
	if p.Resaved > 0 {
		if err := jpeg.Encode(&buf, shrink(img, p.Resaved), &jpeg.Options{Quality: 55}); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return withExif(buf.Bytes(), exifSegment(p.Taken, p.GPS))
}

// lighting lays uneven light over the scene, as a camera sees it: the
// exposure varies smoothly over a coarse grid of random gains. It makes
// the drawn scenes, which share their layouts, look as different to a
// perceptual hash as real photos of similar places do.
func lighting(img *image.RGBA, r *rand.Rand) {
	const gw, gh = 9, 8
	var grid [gh][gw]float64
	for y := range grid {
		for x := range grid[y] {
			grid[y][x] = 0.45 + r.Float64()*0.8
		}
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	// The gains sit at the centres of a gw×gh grid, blended in between.
	at := func(v float64, n int) (int, float64) {
		v = min(max(v-0.5, 0), float64(n-1))
		i := min(int(v), n-2)
		t := v - float64(i)
		return i, t * t * (3 - 2*t) // eased, so no seams show
	}
	for y := 0; y < h; y++ {
		y0, ty := at((float64(y)+0.5)*gh/float64(h), gh)
		for x := 0; x < w; x++ {
			x0, tx := at((float64(x)+0.5)*gw/float64(w), gw)
			g := (grid[y0][x0]*(1-tx)+grid[y0][x0+1]*tx)*(1-ty) + (grid[y0+1][x0]*(1-tx)+grid[y0+1][x0+1]*tx)*ty
			p := img.Pix[img.PixOffset(x, y):]
			for c := 0; c < 3; c++ {
				p[c] = uint8(min((30+float64(p[c])*0.7)*g, 255))
			}
		}
	}
}

// frame points the camera: it zooms into the drawn scene by a random
// factor at a random place, so that scenes drawn from one layout are not
// all framed alike.
func frame(img *image.RGBA, r *rand.Rand) *image.RGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	z := 1 + r.Float64()*0.4
	cw, ch := float64(w)/z, float64(h)/z
	x0, y0 := r.Float64()*(float64(w)-cw), r.Float64()*(float64(h)-ch)
	out := image.NewRGBA(img.Rect)
	for y := 0; y < h; y++ {
		sy := min(int(y0+(float64(y)+0.5)*ch/float64(h)), h-1)
		for x := 0; x < w; x++ {
			sx := min(int(x0+(float64(x)+0.5)*cw/float64(w)), w-1)
			copy(out.Pix[out.PixOffset(x, y):][:4], img.Pix[img.PixOffset(sx, sy):])
		}
	}
	return out
}

// shrink returns img scaled down to width w (keeping its aspect), each
// pixel the mean of the area it covers.
func shrink(img *image.RGBA, w int) *image.RGBA {
	sw, sh := img.Rect.Dx(), img.Rect.Dy()
	h := max(1, sh*w/sw)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		y0, y1 := y*sh/h, max((y+1)*sh/h, y*sh/h+1)
		for x := 0; x < w; x++ {
			x0, x1 := x*sw/w, max((x+1)*sw/w, x*sw/w+1)
			var sum [3]int
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					p := img.Pix[img.PixOffset(sx, sy):]
					sum[0], sum[1], sum[2] = sum[0]+int(p[0]), sum[1]+int(p[1]), sum[2]+int(p[2])
				}
			}
			n := (y1 - y0) * (x1 - x0)
			out.SetRGBA(x, y, color.RGBA{uint8(sum[0] / n), uint8(sum[1] / n), uint8(sum[2] / n), 255})
		}
	}
	return out
}

func rgb(r *rand.Rand, lo, hi int) color.RGBA {
	c := func() uint8 { return uint8(lo + r.IntN(hi-lo+1)) }
	return color.RGBA{c(), c(), c(), 255}
}

func fillRect(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(c), image.Point{}, draw.Over)
}

func fillCircle(img *image.RGBA, cx, cy, rad int, c color.RGBA) {
	for y := cy - rad; y <= cy+rad; y++ {
		for x := cx - rad; x <= cx+rad; x++ {
			if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= rad*rad && image.Pt(x, y).In(img.Rect) {
				img.SetRGBA(x, y, c)
			}
		}
	}
}

// person draws a standing figure with its feet at (x, y).
func person(img *image.RGBA, x, y, h int, r *rand.Rand) {
	body := rgb(r, 30, 230)
	head := h / 5
	fillRect(img, x-h/7, y-h+2*head, x+h/7, y-h/3, body)                                   // body
	fillRect(img, x-h/8, y-h/3, x-h/40, y, color.RGBA{40, 40, 60, 255})                    // legs
	fillRect(img, x+h/40, y-h/3, x+h/8, y, color.RGBA{40, 40, 60, 255})                    //
	fillCircle(img, x, y-h+head, head, color.RGBA{uint8(215 + r.IntN(30)), 180, 140, 255}) // head
	fillRect(img, x-head, y-h, x+head, y-h+head/2, color.RGBA{30, 25, 20, 255})            // hair
}

// textLines draws grey stripes standing for lines of text.
func textLines(img *image.RGBA, x0, y0, x1, y1 int, r *rand.Rand, c color.Color) {
	for y := y0; y+3 < y1; y += 7 {
		w := (x1 - x0) * (60 + r.IntN(40)) / 100
		fillRect(img, x0, y, x0+w, y+3, c)
	}
}

func banner(img *image.RGBA, x0, y0, x1, y1 int, r *rand.Rand) {
	fillRect(img, x0, y0, x1, y1, color.RGBA{200, 20, 25, 255})
	for x := x0 + 8; x+10 < x1-6; x += 14 { // the characters of the slogan, as yellow blocks
		fillRect(img, x, y0+(y1-y0)/4, x+10, y1-(y1-y0)/4, color.RGBA{250, 220, 60, 255})
	}
}

func drawScene(img *image.RGBA, scene int, r *rand.Rand) {
	switch scene {
	case sceneBoard:
		fillRect(img, 0, 0, photoW, photoH, rgb(r, 170, 230)) // wall
		fillRect(img, 0, 200, photoW, photoH, rgb(r, 90, 140))
		x0, y0 := 20+r.IntN(20), 30+r.IntN(10)
		x1, y1 := photoW-20-r.IntN(20), 190
		fillRect(img, x0-4, y0-4, x1+4, y1+4, color.RGBA{120, 80, 40, 255}) // frame
		fillRect(img, x0, y0, x1, y1, color.RGBA{245, 245, 240, 255})
		banner(img, x0, y0, x1, y0+24, r)
		cols := 2 + r.IntN(3)
		w := (x1 - x0 - 8) / cols
		for i := 0; i < cols; i++ {
			cx := x0 + 4 + i*w
			if r.IntN(2) == 0 {
				fillRect(img, cx+4, y0+32, cx+w-4, y0+80, rgb(r, 60, 220)) // a picture on the board
				textLines(img, cx+4, y0+88, cx+w-4, y1-6, r, color.RGBA{90, 90, 90, 255})
			} else {
				textLines(img, cx+4, y0+32, cx+w-4, y1-6, r, color.RGBA{90, 90, 90, 255})
			}
		}
	case sceneMeeting:
		fillRect(img, 0, 0, photoW, photoH, rgb(r, 200, 235))
		bx := 10 + r.IntN(50)
		banner(img, bx, 8+r.IntN(12), photoW-bx-r.IntN(30), 40+r.IntN(10), r)
		y0, dy := 70+r.IntN(30), 38+r.IntN(16)
		for row := 0; row < 3; row++ {
			y := y0 + row*dy
			for x := 25 + r.IntN(10); x < photoW-20; x += 30 + r.IntN(8) {
				fillCircle(img, x, y, 9, color.RGBA{30, 25, 20, 255})
				fillRect(img, x-12, y+8, x+12, y+30, rgb(r, 20, 200))
			}
			fillRect(img, 0, y+26, photoW, y+34, color.RGBA{150, 100, 60, 255}) // table
		}
	case sceneOutdoor:
		for y := 0; y < 130; y++ { // sky
			fillRect(img, 0, y, photoW, y+1, color.RGBA{uint8(110 + y/2), uint8(170 + y/3), 245, 255})
		}
		fillRect(img, 0, 130, photoW, photoH, rgb(r, 80, 160))
		for i := 0; i < 3; i++ { // trees or houses behind
			x := r.IntN(photoW - 40)
			if r.IntN(2) == 0 {
				fillRect(img, x, 80, x+40, 130, color.RGBA{230, 225, 210, 255})
				fillRect(img, x-4, 72, x+44, 82, color.RGBA{160, 60, 40, 255})
			} else {
				fillRect(img, x+17, 100, x+23, 130, color.RGBA{100, 70, 40, 255})
				fillCircle(img, x+20, 90, 18, color.RGBA{40, uint8(120 + r.IntN(60)), 50, 255})
			}
		}
		banner(img, 60+r.IntN(30), 60, 250+r.IntN(40), 84, r)
		n := 4 + r.IntN(6)
		for i := 0; i < n; i++ {
			person(img, 20+r.IntN(photoW-40), 160+r.IntN(60), 45+r.IntN(20), r)
		}
	case sceneClass:
		fillRect(img, 0, 0, photoW, photoH, rgb(r, 210, 240))
		bx0, bx1 := 10+r.IntN(60), photoW-10-r.IntN(60) // blackboard
		by1 := 60 + r.IntN(40)
		fillRect(img, bx0, 15, bx1, by1, color.RGBA{30, 80, 50, 255})
		textLines(img, bx0+10, 25, bx1-10, by1-5, r, color.RGBA{230, 230, 220, 255})
		dx, dy := 45+r.IntN(30), 32+r.IntN(16)
		for row, y := 0, by1+30+r.IntN(10); row < 4 && y < photoH-10; row, y = row+1, y+dy {
			for x := 5 + r.IntN(30); x < photoW-30; x += dx {
				if r.IntN(6) == 0 {
					continue // an empty seat
				}
				fillCircle(img, x+12, y-6, 8, color.RGBA{30, 25, 20, 255})
				fillRect(img, x, y, x+dx-12, y+14, color.RGBA{180, 130, 80, 255})
			}
		}
	default: // sceneScreen
		fillRect(img, 0, 0, photoW, photoH, color.RGBA{235, 235, 235, 255})
		fillRect(img, 0, 0, photoW, 28, rgb(r, 20, 120))
		fillRect(img, 10, 40, 110, 120, rgb(r, 60, 220))
		textLines(img, 120, 40, photoW-10, 120, r, color.RGBA{80, 80, 80, 255})
		textLines(img, 10, 130, photoW-10, 220, r, color.RGBA{120, 120, 120, 255})
	}
}

// glyphs is a 3×5 pixel font for what the demo writes on photos: the
// unit id, the date and the time. Each row is 3 bits, left to right.
var glyphs = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7}, '4': {5, 5, 7, 1, 1},
	'5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 2, 2, 2}, '8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7},
	'a': {2, 5, 7, 5, 5}, 'b': {6, 5, 6, 5, 6}, 'c': {3, 4, 4, 4, 3}, 'd': {6, 5, 5, 5, 6}, 'e': {7, 4, 6, 4, 7},
	'f': {7, 4, 6, 4, 4}, 'g': {3, 4, 5, 5, 3}, 'h': {5, 5, 7, 5, 5}, 'i': {7, 2, 2, 2, 7}, 'j': {1, 1, 1, 5, 2},
	'k': {5, 5, 6, 5, 5}, 'l': {4, 4, 4, 4, 7}, 'm': {5, 7, 7, 5, 5}, 'n': {6, 5, 5, 5, 5}, 'o': {2, 5, 5, 5, 2},
	'p': {6, 5, 6, 4, 4}, 'q': {2, 5, 5, 6, 3}, 'r': {6, 5, 6, 5, 5}, 's': {3, 4, 2, 1, 6}, 't': {7, 2, 2, 2, 2},
	'u': {5, 5, 5, 5, 7}, 'v': {5, 5, 5, 5, 2}, 'w': {5, 5, 7, 7, 5}, 'x': {5, 5, 2, 5, 5}, 'y': {5, 5, 2, 2, 2},
	'z': {7, 1, 2, 4, 7}, '-': {0, 0, 7, 0, 0}, ':': {0, 2, 0, 2, 0}, ' ': {},
}

// drawText writes s with the block font, each font pixel scale×scale.
func drawText(img *image.RGBA, x, y, scale int, s string, c color.RGBA) {
	for _, ch := range s {
		g, ok := glyphs[ch]
		if !ok {
			g = [5]uint8{7, 7, 7, 7, 7}
		}
		for row, bits := range g {
			for col := 0; col < 3; col++ {
				if bits&(4>>col) != 0 {
					fillRect(img, x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale, c)
				}
			}
		}
		x += 4 * scale
	}
}

// ── EXIF ────────────────────────────────────────────────────────────────

// TIFF field types used here.
const (
	tiffByte      = 1
	tiffASCII     = 2
	tiffLong      = 4
	tiffRational  = 5
	tiffUndefined = 7
)

type ifdEntry struct {
	tag, typ uint16
	count    uint32
	data     []byte // the value, little-endian; inline if at most 4 bytes
}

func asciiEntry(tag uint16, s string) ifdEntry {
	return ifdEntry{tag: tag, typ: tiffASCII, count: uint32(len(s) + 1), data: append([]byte(s), 0)}
}

func longEntry(tag uint16, v uint32) ifdEntry {
	return ifdEntry{tag: tag, typ: tiffLong, count: 1, data: binary.LittleEndian.AppendUint32(nil, v)}
}

// degreesEntry encodes decimal degrees as three RATIONALs: degrees,
// minutes, seconds (in hundredths).
func degreesEntry(tag uint16, v float64) ifdEntry {
	v = math.Abs(v)
	d := math.Floor(v)
	m := math.Floor((v - d) * 60)
	s := math.Round(((v-d)*60 - m) * 60 * 100)
	var b []byte
	for _, r := range [][2]uint32{{uint32(d), 1}, {uint32(m), 1}, {uint32(s), 100}} {
		b = binary.LittleEndian.AppendUint32(b, r[0])
		b = binary.LittleEndian.AppendUint32(b, r[1])
	}
	return ifdEntry{tag: tag, typ: tiffRational, count: 3, data: b}
}

// ifdSize is the size of an IFD with its out-of-line values.
func ifdSize(es []ifdEntry) int {
	n := 2 + 12*len(es) + 4
	for _, e := range es {
		if len(e.data) > 4 {
			n += len(e.data) + len(e.data)%2
		}
	}
	return n
}

// appendIFD appends an IFD that starts at TIFF offset off (entries sorted
// by tag, no next IFD), its long values right after it.
func appendIFD(b []byte, off int, es []ifdEntry) []byte {
	le := binary.LittleEndian
	b = le.AppendUint16(b, uint16(len(es)))
	data := off + 2 + 12*len(es) + 4
	var tail []byte
	for _, e := range es {
		b = le.AppendUint16(b, e.tag)
		b = le.AppendUint16(b, e.typ)
		b = le.AppendUint32(b, e.count)
		if len(e.data) <= 4 {
			v := make([]byte, 4)
			copy(v, e.data)
			b = append(b, v...)
			continue
		}
		b = le.AppendUint32(b, uint32(data+len(tail)))
		tail = append(tail, e.data...)
		if len(e.data)%2 == 1 {
			tail = append(tail, 0)
		}
	}
	b = le.AppendUint32(b, 0) // no next IFD
	return append(b, tail...)
}

// exifSegment returns a JPEG APP1 segment (marker and length included)
// holding a little-endian TIFF block: IFD0 (Make, Model, Software,
// DateTime and the pointers), the Exif IFD with DateTimeOriginal (0x9003),
// DateTimeDigitized and OffsetTimeOriginal, and, if g is set, a GPS IFD.
func exifSegment(taken time.Time, g *gps) []byte {
	stamp := taken.Format("2006:01:02 15:04:05")
	_, offset := taken.Zone()
	zone := fmt.Sprintf("%+03d:%02d", offset/3600, (abs(offset)%3600)/60)
	ifd0 := []ifdEntry{
		asciiEntry(0x010F, "TAIZHANG"),
		asciiEntry(0x0110, "DEMO CAMERA"),
		asciiEntry(0x0131, "taizhang demo"),
		asciiEntry(0x0132, stamp),
		longEntry(0x8769, 0), // Exif IFD, set below
	}
	if g != nil {
		ifd0 = append(ifd0, longEntry(0x8825, 0)) // GPS IFD, set below
	}
	exif := []ifdEntry{
		{tag: 0x9000, typ: tiffUndefined, count: 4, data: []byte("0231")},
		asciiEntry(0x9003, stamp),
		asciiEntry(0x9004, stamp),
		asciiEntry(0x9011, zone),
	}
	var gpsIFD []ifdEntry
	if g != nil {
		latRef, lonRef := "N", "E"
		if g.Lat < 0 {
			latRef = "S"
		}
		if g.Lon < 0 {
			lonRef = "W"
		}
		gpsIFD = []ifdEntry{
			{tag: 0x0000, typ: tiffByte, count: 4, data: []byte{2, 3, 0, 0}},
			asciiEntry(0x0001, latRef), degreesEntry(0x0002, g.Lat),
			asciiEntry(0x0003, lonRef), degreesEntry(0x0004, g.Lon),
		}
	}
	exifOff := 8 + ifdSize(ifd0)
	gpsOff := exifOff + ifdSize(exif)
	ifd0[4] = longEntry(0x8769, uint32(exifOff))
	if g != nil {
		ifd0[5] = longEntry(0x8825, uint32(gpsOff))
	}
	tiff := []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	tiff = appendIFD(tiff, 8, ifd0)
	tiff = appendIFD(tiff, exifOff, exif)
	if g != nil {
		tiff = appendIFD(tiff, gpsOff, gpsIFD)
	}
	seg := []byte{0xFF, 0xE1, 0, 0}
	seg = append(seg, "Exif\x00\x00"...)
	seg = append(seg, tiff...)
	binary.BigEndian.PutUint16(seg[2:], uint16(len(seg)-2))
	return seg
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// withExif inserts an APP1 segment right after a JPEG's SOI marker.
func withExif(jpg, seg []byte) ([]byte, error) {
	if len(jpg) < 2 || jpg[0] != 0xFF || jpg[1] != 0xD8 {
		return nil, fmt.Errorf("demo: not a JPEG")
	}
	if len(seg) > 0xFFFF+2 {
		return nil, fmt.Errorf("demo: EXIF segment too large")
	}
	out := make([]byte, 0, len(jpg)+len(seg))
	out = append(out, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...), nil
}

// ── documents ───────────────────────────────────────────────────────────

// docSpec is a document: a plain UTF-8 text record or a one-page PDF.
type docSpec struct {
	PDF   bool
	Name  string // the file name the client sends
	Title string
	Lines []string
	Date  time.Time // the PDF's creation date
}

// Bytes returns the document's bytes.
func (d docSpec) Bytes() []byte {
	if d.PDF {
		return pdfDoc(d.Title, d.Lines, d.Date)
	}
	var b strings.Builder
	b.WriteString(d.Title + "\n\n")
	for _, l := range d.Lines {
		b.WriteString(l + "\n")
	}
	return []byte(b.String())
}

// pdfText encodes s for a font with the UniCNS-UCS2-H encoding: UCS-2
// big-endian as a hex string (characters outside the BMP become "?").
func pdfText(s string) string {
	var b strings.Builder
	b.WriteByte('<')
	for _, r := range s {
		if r > 0xFFFF {
			r = '?'
		}
		fmt.Fprintf(&b, "%04X", r)
	}
	b.WriteByte('>')
	return b.String()
}

// pdfUTF16 encodes s as a PDF text string (UTF-16BE with a BOM, hex).
func pdfUTF16(s string) string {
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	b.WriteByte('>')
	return b.String()
}

// pdfDoc writes a minimal valid one-page A4 PDF: the title and lines set
// in MSung-Light (one of the standard CJK fonts every reader provides for
// traditional Chinese, Adobe-CNS1), inside a frame, with a correct xref.
func pdfDoc(title string, lines []string, date time.Time) []byte {
	var content strings.Builder
	content.WriteString("0.6 w 50 50 495 742 re S\n")
	fmt.Fprintf(&content, "BT /F1 18 Tf 72 760 Td %s Tj ET\n", pdfText(title))
	content.WriteString("0.8 w 72 748 m 523 748 l S\n")
	y := 720
	for _, l := range lines {
		for _, part := range wrapRunes(l, 30) {
			if y < 70 {
				break
			}
			fmt.Fprintf(&content, "BT /F1 12 Tf 72 %d Td %s Tj ET\n", y, pdfText(part))
			y -= 20
		}
	}
	_, off := date.Zone()
	pdfDate := date.Format("20060102150405") + fmt.Sprintf("%+03d'%02d'", off/3600, (abs(off)%3600)/60)
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
		"<< /Type /Font /Subtype /Type0 /BaseFont /MSung-Light /Encoding /UniCNS-UCS2-H /DescendantFonts [6 0 R] >>",
		"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /MSung-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (CNS1) /Supplement 0 >> /FontDescriptor 7 0 R /DW 1000 >>",
		"<< /Type /FontDescriptor /FontName /MSung-Light /Flags 6 /FontBBox [-160 -249 1015 1071] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>",
		fmt.Sprintf("<< /Title %s /Producer (taizhang demo) /CreationDate (D:%s) >>", pdfUTF16(title), pdfDate),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, len(objs), xref)
	return b.Bytes()
}

// wrapRunes splits s into pieces of at most n characters.
func wrapRunes(s string, n int) []string {
	rs := []rune(s)
	if len(rs) == 0 {
		return []string{""}
	}
	var out []string
	for len(rs) > n {
		out = append(out, string(rs[:n]))
		rs = rs[n:]
	}
	return append(out, string(rs))
}

// WithEXIF returns the JPEG jpg with an EXIF block saying it was taken at
// taken (its wall clock, as a camera writes it) and, if pos is set, where.
// Tests use it to make photos whose capture time and place the ledger
// reads. It fails if jpg is not a JPEG.
func WithEXIF(jpg []byte, taken time.Time, pos *events.GPS) ([]byte, error) {
	var g *gps
	if pos != nil {
		g = &gps{Lat: pos.Lat, Lon: pos.Lon}
	}
	return withExif(jpg, exifSegment(taken, g))
}
