// Package media derives facts from an uploaded file's bytes once, at
// ingest, so that projections never read blobs: image dimensions, from a
// JPEG's EXIF the time the photo was taken and where, and a perceptual hash
// that finds resized or recompressed copies of a photo. Every read is
// bounded; a malformed file yields fewer facts, never an error or a panic.
package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	_ "image/gif" // register decoders for dimensions
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"strings"
	"time"
)

// GPS is a position in decimal degrees.
type GPS struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Facts are what Inspect found.
type Facts struct {
	Width, Height int
	// TakenAt is EXIF DateTimeOriginal (or DateTime) as the camera wrote it,
	// in its local time: "2006-01-02T15:04:05", or "".
	TakenAt string
	GPS     *GPS
	// PHash is the image's 64-bit difference hash (see DHash) for JPEG,
	// PNG and GIF, or 0 if there is none.
	PHash uint64
}

// maxExif bounds how far into a JPEG the EXIF segment is looked for, and
// its size.
const maxExif = 256 << 10

// Inspect reads the facts of the file in r (size bytes). Dimensions and
// EXIF come from the headers; the perceptual hash decodes the pixels of a
// JPEG, PNG or GIF of at most MaxHashPixels. It refuses nothing and has no
// time limit: for a file from a client, use InspectLimited.
func Inspect(r io.ReaderAt, size int64) Facts {
	var f Facts
	if cfg, format, err := image.DecodeConfig(io.NewSectionReader(r, 0, size)); err == nil {
		f.Width, f.Height = cfg.Width, cfg.Height
		f.PHash = dhashOf(r, size, format, cfg, MaxHashPixels)
	}
	f.TakenAt, f.GPS = EXIF(r, size)
	return f
}

// EXIF reads only a JPEG's EXIF header: when the photo was taken (as
// Facts.TakenAt) and where, or "" and nil. No pixel is decoded.
func EXIF(r io.ReaderAt, size int64) (takenAt string, gps *GPS) {
	head := make([]byte, min(size, maxExif))
	n, _ := r.ReadAt(head, 0)
	if tiff := jpegExif(head[:n]); tiff != nil {
		return parseTIFF(tiff)
	}
	return "", nil
}

// jpegExif returns the TIFF block of a JPEG's APP1 Exif segment, or nil.
func jpegExif(b []byte) []byte {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return nil
		}
		marker := b[i+1]
		if marker == 0xD9 || marker == 0xDA { // end of image, start of scan
			return nil
		}
		segLen := int(binary.BigEndian.Uint16(b[i+2:]))
		if segLen < 2 || i+2+segLen > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+segLen]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		i += 2 + segLen
	}
	return nil
}

// tiff reads a TIFF structure with bounds checks.
type tiff struct {
	b  []byte
	bo binary.ByteOrder
}

type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    []byte // the 4 value bytes, or the bytes they point to
}

const maxEntries = 512

func (t tiff) ifd(off uint32) []ifdEntry {
	if off == 0 || int64(off)+2 > int64(len(t.b)) {
		return nil
	}
	n := int(t.bo.Uint16(t.b[off:]))
	if n > maxEntries {
		return nil
	}
	var out []ifdEntry
	for k := 0; k < n; k++ {
		p := int64(off) + 2 + int64(k)*12
		if p+12 > int64(len(t.b)) {
			break
		}
		e := ifdEntry{tag: t.bo.Uint16(t.b[p:]), typ: t.bo.Uint16(t.b[p+2:]), count: t.bo.Uint32(t.b[p+4:])}
		width := map[uint16]int64{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}[e.typ]
		total := width * int64(e.count)
		if width == 0 || total > 1<<16 {
			continue
		}
		if total <= 4 {
			e.value = t.b[p+8 : p+8+total]
		} else {
			vo := int64(t.bo.Uint32(t.b[p+8:]))
			if vo+total > int64(len(t.b)) {
				continue
			}
			e.value = t.b[vo : vo+total]
		}
		out = append(out, e)
	}
	return out
}

func (t tiff) u32(e ifdEntry) (uint32, bool) {
	switch {
	case e.typ == 4 && len(e.value) >= 4:
		return t.bo.Uint32(e.value), true
	case e.typ == 3 && len(e.value) >= 2:
		return uint32(t.bo.Uint16(e.value)), true
	}
	return 0, false
}

func (t tiff) rationals(e ifdEntry) []float64 {
	if e.typ != 5 {
		return nil
	}
	var out []float64
	for i := 0; i+8 <= len(e.value); i += 8 {
		num, den := t.bo.Uint32(e.value[i:]), t.bo.Uint32(e.value[i+4:])
		if den == 0 {
			return nil
		}
		out = append(out, float64(num)/float64(den))
	}
	return out
}

// exifTime converts "2006:01:02 15:04:05" to "2006-01-02T15:04:05".
func exifTime(e ifdEntry) string {
	if e.typ != 2 {
		return ""
	}
	s := strings.TrimRight(string(e.value), "\x00 ")
	t, err := time.Parse("2006:01:02 15:04:05", s)
	if err != nil {
		return ""
	}
	return t.Format("2006-01-02T15:04:05")
}

func parseTIFF(b []byte) (taken string, gps *GPS) {
	if len(b) < 8 {
		return "", nil
	}
	t := tiff{b: b}
	switch string(b[:2]) {
	case "II":
		t.bo = binary.LittleEndian
	case "MM":
		t.bo = binary.BigEndian
	default:
		return "", nil
	}
	if t.bo.Uint16(b[2:]) != 42 {
		return "", nil
	}
	var exifOff, gpsOff uint32
	var dateTime string
	for _, e := range t.ifd(t.bo.Uint32(b[4:])) {
		switch e.tag {
		case 0x8769:
			exifOff, _ = t.u32(e)
		case 0x8825:
			gpsOff, _ = t.u32(e)
		case 0x0132:
			dateTime = exifTime(e)
		}
	}
	for _, e := range t.ifd(exifOff) {
		if e.tag == 0x9003 {
			taken = exifTime(e)
		}
	}
	if taken == "" {
		taken = dateTime
	}
	var latRef, lonRef string
	var lat, lon []float64
	for _, e := range t.ifd(gpsOff) {
		switch e.tag {
		case 1:
			latRef = strings.TrimRight(string(e.value), "\x00")
		case 2:
			lat = t.rationals(e)
		case 3:
			lonRef = strings.TrimRight(string(e.value), "\x00")
		case 4:
			lon = t.rationals(e)
		}
	}
	if len(lat) == 3 && len(lon) == 3 {
		g := GPS{Lat: lat[0] + lat[1]/60 + lat[2]/3600, Lon: lon[0] + lon[1]/60 + lon[2]/3600}
		if latRef == "S" {
			g.Lat = -g.Lat
		}
		if lonRef == "W" {
			g.Lon = -g.Lon
		}
		if !math.IsNaN(g.Lat) && !math.IsNaN(g.Lon) && math.Abs(g.Lat) <= 90 && math.Abs(g.Lon) <= 180 {
			gps = &g
		}
	}
	return taken, gps
}

// String describes the facts for logs.
func (f Facts) String() string {
	return fmt.Sprintf("%dx%d taken %q gps %v phash %016x", f.Width, f.Height, f.TakenAt, f.GPS, f.PHash)
}
