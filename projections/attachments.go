package projections

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"

	"taizhang/blobstore"
	"taizhang/events"
)

// Attachments is the attachment references of an item or a link, as the
// archive holds them: the digest as its 32 bytes rather than 64 hex
// digits, a photo's perceptual hash as its 64 bits, the media type as a
// pointer to one shared copy, the sizes in 32 bits, and what only some
// photos have (EXIF time and position) out of line. An archive of a
// million items holds a million of these; as events.Attachment they took
// 190 bytes each without a perceptual hash and 206 with one (the struct,
// the digest's, the hash's and the name's strings), here 96 plus the name.
// At and All give them back exactly as the events carried them.
type Attachments []attachment

// attachment is one compact attachment reference (see Attachments).
type attachment struct {
	sha   blobstore.Ref
	size  int64
	media *string // interned; nil for ""
	name  string
	phash uint64 // when hasPHash
	w, h  int32
	flags uint8
	more  *attachmentMore // nil for most
}

// hasPHash marks an attachment whose perceptual hash is phash (16
// lowercase hex digits in the event).
const hasPHash = 1

// attachmentMore is what few attachments have, and what does not fit the
// compact fields: a digest that is not 64 lowercase hex digits (a forged
// or damaged event's, kept as it came), a perceptual hash that is not 16,
// sizes beyond 32 bits.
type attachmentMore struct {
	takenAt string
	gps     *events.GPS
	phash   string
	odd     bool   // the digest is sha, not the sha field's hex
	sha     string // when odd
	wide    bool   // the sizes are w and h, not the compact ones
	w, h    int
}

// packAttachments returns atts in their compact form, media types shared
// through intern (which returns one pointer for each string); nil for none.
func packAttachments(atts []events.Attachment, intern func(string) *string) Attachments {
	if len(atts) == 0 {
		return nil
	}
	out := make(Attachments, len(atts))
	for i, a := range atts {
		out[i] = packAttachment(a, intern)
	}
	return out
}

func packAttachment(a events.Attachment, intern func(string) *string) attachment {
	p := attachment{size: a.Size, name: a.Name}
	if a.MediaType != "" {
		p.media = intern(a.MediaType)
	}
	var m attachmentMore
	if v, ok := parsePHash(a.PHash); ok {
		p.phash, p.flags = v, hasPHash
	} else {
		m.phash = a.PHash
	}
	if r, err := blobstore.ParseRef(a.SHA256); err == nil {
		p.sha = r
	} else {
		m.odd, m.sha = true, a.SHA256
	}
	if a.Width >= 0 && a.Width <= math.MaxInt32 && a.Height >= 0 && a.Height <= math.MaxInt32 {
		p.w, p.h = int32(a.Width), int32(a.Height)
	} else {
		m.wide, m.w, m.h = true, a.Width, a.Height
	}
	m.takenAt, m.gps = a.TakenAt, a.GPS
	if m != (attachmentMore{}) {
		p.more = &m
	}
	return p
}

// parsePHash reads a perceptual hash in its only spelling, 16 lowercase
// hex digits.
func parsePHash(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}

// At returns the i-th attachment as the event carried it.
func (as Attachments) At(i int) events.Attachment {
	p := &as[i]
	a := events.Attachment{Size: p.size, MediaType: as.MediaType(i), Name: p.name, Width: int(p.w), Height: int(p.h)}
	if p.flags&hasPHash != 0 {
		var ph [8]byte
		binary.BigEndian.PutUint64(ph[:], p.phash)
		a.PHash = hex.EncodeToString(ph[:])
	}
	if m := p.more; m != nil {
		a.TakenAt, a.GPS = m.takenAt, m.gps
		if p.flags&hasPHash == 0 {
			a.PHash = m.phash
		}
		if m.wide {
			a.Width, a.Height = m.w, m.h
		}
		if m.odd {
			a.SHA256 = m.sha
			return a
		}
	}
	a.SHA256 = p.sha.String()
	return a
}

// All returns the attachments as the events carried them (a new slice;
// nil for none).
func (as Attachments) All() []events.Attachment {
	if len(as) == 0 {
		return nil
	}
	out := make([]events.Attachment, len(as))
	for i := range as {
		out[i] = as.At(i)
	}
	return out
}

// Digest returns the i-th attachment's SHA-256, as hex.
func (as Attachments) Digest(i int) string {
	if m := as[i].more; m != nil && m.odd {
		return m.sha
	}
	return as[i].sha.String()
}

// MediaType returns the i-th attachment's media type.
func (as Attachments) MediaType(i int) string {
	if as[i].media == nil {
		return ""
	}
	return *as[i].media
}

// Name returns the i-th attachment's file name.
func (as Attachments) Name(i int) string { return as[i].name }

// Index returns the index of the attachment whose digest is digest, or -1.
func (as Attachments) Index(digest string) int { return as.index(queryDigest(digest)) }

// Has reports whether one of the attachments has digest digest.
func (as Attachments) Has(digest string) bool { return as.index(queryDigest(digest)) >= 0 }

// digestQuery is a digest to look for, decoded once.
type digestQuery struct {
	s   string
	ref blobstore.Ref
	ok  bool // s is a canonical digest, parsed in ref
}

func queryDigest(digest string) digestQuery {
	q := digestQuery{s: digest}
	if r, err := blobstore.ParseRef(digest); err == nil {
		q.ref, q.ok = r, true
	}
	return q
}

func (as Attachments) index(q digestQuery) int {
	for i := range as {
		p := &as[i]
		if p.more != nil && p.more.odd {
			if p.more.sha == q.s {
				return i
			}
			continue
		}
		if q.ok && p.sha == q.ref {
			return i
		}
	}
	return -1
}

// MarshalJSON encodes the attachments as the events carried them.
func (as Attachments) MarshalJSON() ([]byte, error) {
	all := as.All()
	if all == nil {
		all = []events.Attachment{}
	}
	return json.Marshal(all)
}

// NewAttachments returns atts in the archive's form (for tests and tools
// that build items; the archive makes its own).
func NewAttachments(atts []events.Attachment) Attachments {
	return packAttachments(atts, func(s string) *string { return &s })
}
