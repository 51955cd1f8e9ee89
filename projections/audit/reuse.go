package audit

import (
	"bytes"
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/projections"
)

// Use is an attachment on an evidence item: the item, the name it was sent
// under and the event that attached it.
type Use struct {
	ItemRef
	Name       string    `json:"name"`
	AttachedAt time.Time `json:"attached_at"`
	AttachedBy string    `json:"attached_by"`
}

// ExactReuse is one content (digest) attached to more than one item.
type ExactReuse struct {
	SHA256    string   `json:"sha256"`
	MediaType string   `json:"media_type"`
	Size      int64    `json:"size"`
	Units     []string `json:"units"` // the distinct units, sorted
	Uses      []Use    `json:"uses"`  // in the order attached
}

// Photo is an image content with its perceptual hash and its uses.
type Photo struct {
	SHA256 string `json:"sha256"`
	PHash  string `json:"phash"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	Uses   []Use  `json:"uses"`
}

// NearDuplicate is a pair of different photo contents whose perceptual
// hashes are at most NearDistance bits apart, used by different items: a
// resized, recompressed or lightly edited copy. A is the one attached
// first.
type NearDuplicate struct {
	Distance int   `json:"distance"`
	A        Photo `json:"a"`
	B        Photo `json:"b"`
}

// ReuseReport lists exact and near reuse.
type ReuseReport struct {
	NearDistance int             `json:"near_distance"`
	Exact        []ExactReuse    `json:"exact"`
	Near         []NearDuplicate `json:"near"`
}

// content is what Reuse knows of one digest.
type content struct {
	sha, mediaType string
	size           int64
	phash          uint64
	w, h           int
	uses           []Use
	match          bool // a use passes the filter
}

// Reuse finds the same bytes (one digest) attached to more than one
// evidence item, in one unit or several, and pairs of different photos
// whose perceptual hashes are within NearDistance bits, attached to
// different items. Every attachment an item ever carried counts (one an
// amendment removed was still submitted); inspectors' finding photos do
// not. A group or pair is listed if any of its uses passes the filter (by
// the item's unit, and the attaching event's recorded time and actor), and
// then shows all its uses: the point is where else a photo appears. With a
// Scope, uses outside it do not exist for Reuse.
// Exact groups are in the order of their first use; near pairs by
// distance, then first use. Comparing photos is quadratic in the number
// of distinct photos the filter selects times all photos.
func Reuse(a *projections.Archive, o Options) ReuseReport {
	o = o.withDefaults()
	byDigest := map[string]*content{}
	// Every unit's photos are compared, but only within the filter's scope:
	// a scoped supervisor must not see other units' items.
	for _, ua := range units(a, Filter{Scope: o.Scope}) {
		unit := ua.Unit.ID
		for _, it := range ua.Items() {
			ref := refOf(unit, it)
			seen := map[string]bool{}
			for _, l := range it.Chain {
				for _, at := range l.Attachments.All() {
					if seen[at.SHA256] {
						continue
					}
					seen[at.SHA256] = true
					c := byDigest[at.SHA256]
					if c == nil {
						c = &content{sha: at.SHA256, mediaType: at.MediaType, size: at.Size, w: at.Width, h: at.Height}
						byDigest[at.SHA256] = c
					}
					if c.phash == 0 && isPhoto(at) {
						c.phash = parsePHash(at.PHash)
					}
					u := Use{ItemRef: ref, Name: at.Name, AttachedAt: l.RecordedAt.Time(), AttachedBy: l.Actor().ID}
					c.uses = append(c.uses, u)
					c.match = c.match || o.match(unit, u.AttachedAt, u.AttachedBy)
				}
			}
		}
	}
	all := make([]*content, 0, len(byDigest))
	for _, k := range sortedKeys(byDigest) {
		c := byDigest[k]
		slices.SortFunc(c.uses, compareUses)
		all = append(all, c)
	}
	rep := ReuseReport{NearDistance: o.NearDistance, Exact: []ExactReuse{}, Near: []NearDuplicate{}}
	for _, c := range all {
		if !c.match || len(c.uses) < 2 {
			continue
		}
		ex := ExactReuse{SHA256: c.sha, MediaType: c.mediaType, Size: c.size, Uses: c.uses}
		for _, u := range c.uses {
			if !slices.Contains(ex.Units, u.Unit) {
				ex.Units = append(ex.Units, u.Unit)
			}
		}
		slices.Sort(ex.Units)
		rep.Exact = append(rep.Exact, ex)
	}
	slices.SortFunc(rep.Exact, func(x, y ExactReuse) int {
		return cmp.Or(compareUses(x.Uses[0], y.Uses[0]), strings.Compare(x.SHA256, y.SHA256))
	})

	var photos []*content
	for _, c := range all {
		if c.phash != 0 {
			photos = append(photos, c)
		}
	}
	for i, x := range photos {
		for j := i + 1; j < len(photos); j++ {
			y := photos[j]
			if !x.match && !y.match {
				continue
			}
			d := bits.OnesCount64(x.phash ^ y.phash)
			if d > o.NearDistance || !differentItems(x.uses, y.uses) {
				continue
			}
			p, q := x, y
			if compareUses(q.uses[0], p.uses[0]) < 0 {
				p, q = q, p
			}
			rep.Near = append(rep.Near, NearDuplicate{Distance: d, A: photoOf(p), B: photoOf(q)})
		}
	}
	slices.SortFunc(rep.Near, func(x, y NearDuplicate) int {
		return cmp.Or(cmp.Compare(x.Distance, y.Distance), compareUses(x.A.Uses[0], y.A.Uses[0]),
			strings.Compare(x.A.SHA256, y.A.SHA256), strings.Compare(x.B.SHA256, y.B.SHA256))
	})
	return rep
}

func photoOf(c *content) Photo {
	return Photo{SHA256: c.sha, PHash: fmt.Sprintf("%016x", c.phash), Width: c.w, Height: c.h, Uses: c.uses}
}

// parsePHash reads a 16-hex-digit perceptual hash; 0 means none.
func parsePHash(s string) uint64 {
	if len(s) != 16 {
		return 0
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0
	}
	return v
}

// differentItems reports whether some use in xs and some in ys are on
// different items.
func differentItems(xs, ys []Use) bool {
	for _, x := range xs {
		for _, y := range ys {
			if x.ID != y.ID || x.Unit != y.Unit {
				return true
			}
		}
	}
	return false
}

func compareUses(x, y Use) int {
	return cmp.Or(x.AttachedAt.Compare(y.AttachedAt), strings.Compare(x.Unit, y.Unit), compareIDs(x.ID, y.ID))
}

func compareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }
