package media

import (
	"image"
	"io"
	"math/bits"
)

// MaxHashPixels bounds the images whose pixels are decoded for the
// perceptual hash: a file whose header claims more (a decompression bomb,
// or a panorama) gets no hash rather than gigabytes of memory.
const MaxHashPixels = 40_000_000

// dhashOf decodes a JPEG, PNG or GIF (the first frame) whose header cfg
// was already read and returns its DHash, or 0 if it is another format,
// has more than maxPixels or does not decode.
func dhashOf(r io.ReaderAt, size int64, format string, cfg image.Config, maxPixels int64) (h uint64) {
	switch format {
	case "jpeg", "png", "gif":
	default:
		return 0
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return 0
	}
	defer func() {
		if recover() != nil { // a decoder bug must not take the upload down
			h = 0
		}
	}()
	img, _, err := image.Decode(io.NewSectionReader(r, 0, size))
	if err != nil {
		return 0
	}
	return DHash(img)
}

// DHash returns img's 64-bit difference hash: the image is shrunk to 9×8
// grey cells (each the mean luminance of its area), and bit 8·row+col is
// set when a cell is brighter than its right neighbour. Resizing and
// recompressing a photo changes few bits; different photos differ in
// about half. Compare two hashes with Distance.
func DHash(img image.Image) uint64 {
	const cols, rows = 9, 8
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return 0
	}
	var sum [rows][cols]float64
	var cnt [rows][cols]int
	// Cell boundaries, so that each source pixel is looked at once.
	cellX := make([]int, w)
	for x := range cellX {
		cellX[x] = x * cols / w
	}
	lum := luminance(img)
	for y := 0; y < h; y++ {
		cy := y * rows / h
		for x := 0; x < w; x++ {
			cx := cellX[x]
			sum[cy][cx] += lum(b.Min.X+x, b.Min.Y+y)
			cnt[cy][cx]++
		}
	}
	var cell [rows][cols]float64
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			switch {
			case cnt[y][x] > 0:
				cell[y][x] = sum[y][x] / float64(cnt[y][x])
			default: // an image narrower or lower than the grid: the nearest pixel
				cell[y][x] = lum(b.Min.X+x*w/cols, b.Min.Y+y*h/rows)
			}
		}
	}
	var out uint64
	for y := 0; y < rows; y++ {
		for x := 0; x < cols-1; x++ {
			if cell[y][x] > cell[y][x+1] {
				out |= 1 << (y*8 + x)
			}
		}
	}
	return out
}

// luminance returns a function giving a pixel's luminance (0-255), with
// fast paths for the decoders' usual image types.
func luminance(img image.Image) func(x, y int) float64 {
	switch m := img.(type) {
	case *image.YCbCr:
		return func(x, y int) float64 { return float64(m.Y[m.YOffset(x, y)]) }
	case *image.Gray:
		return func(x, y int) float64 { return float64(m.Pix[m.PixOffset(x, y)]) }
	case *image.RGBA:
		return func(x, y int) float64 {
			p := m.Pix[m.PixOffset(x, y):]
			return grey(uint32(p[0]), uint32(p[1]), uint32(p[2]))
		}
	case *image.NRGBA: // on white, as a viewer shows transparency
		return func(x, y int) float64 {
			p := m.Pix[m.PixOffset(x, y):]
			a := uint32(p[3])
			over := func(c uint8) uint32 { return (uint32(c)*a + 255*(255-a)) / 255 }
			return grey(over(p[0]), over(p[1]), over(p[2]))
		}
	}
	return func(x, y int) float64 {
		r, g, b, a := img.At(x, y).RGBA() // premultiplied, 16 bits
		white := 0xffff - a
		return grey((r+white)>>8, (g+white)>>8, (b+white)>>8)
	}
}

// grey is the luminance of an 8-bit RGB colour, weighed as JPEG's Y and
// color.GrayModel weigh it.
func grey(r, g, b uint32) float64 { return float64(19595*r+38470*g+7471*b) / 65536 }

// Distance is the Hamming distance between two perceptual hashes: 0 for
// the same picture, up to about 10 for a resized or recompressed copy,
// around 32 for unrelated pictures.
func Distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }
