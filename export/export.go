// Package export writes and verifies tamper-evident exports of a unit's
// archive: a BagIt bag (RFC 8493) in a zip holding the unit's events as of a
// time (data/events.jsonl), the attachments under their digests
// (data/attachments/), the compliance report (data/compliance.json), an
// offline HTML index (data/index.html), the payload and tag manifests, and
// tag files with the signed checkpoint (checkpoint.note), the inclusion
// proof of every event in it (inclusion-proofs.jsonl), the unit head proof
// under the checkpoint's unit heads root (unit-proof.json) and the unit's
// events recorded after the as-of time but inside the checkpoint's tree
// (later-events.jsonl), which is what lets a verifier check that the bag
// holds every event of the unit recorded by then.
//
// The bag is written to an io.Writer as a stream (attachments are copied
// through blobstore.Open, never whole in memory); the manifests, whose
// digests are computed while the payload streams, are written last. Verify
// checks a bag offline.
package export

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"strings"
	"time"

	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/events/checkpoint"
)

// File names inside the bag directory.
const (
	BagitTxt        = "bagit.txt"
	BagInfoTxt      = "bag-info.txt"
	ManifestTxt     = "manifest-sha256.txt"
	TagManifestTxt  = "tagmanifest-sha256.txt"
	CheckpointNote  = "checkpoint.note"
	UnitProofJSON   = "unit-proof.json"
	InclusionJSONL  = "inclusion-proofs.jsonl"
	LaterEventsJSON = "later-events.jsonl"
	EventsJSONL     = "data/events.jsonl"
	ComplianceJSON  = "data/compliance.json"
	IndexHTML       = "data/index.html"
	AttachmentsDir  = "data/attachments/"
)

const bagitTxt = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

// Ledger is what an export reads of the ledger.
type Ledger interface {
	// History returns the unit's events in ledger order (all if asOf is
	// zero).
	History(ctx context.Context, unit string, asOf time.Time) ([]events.Record, error)
}

// Checkpoints is what an export needs of the checkpointer
// (events/jetstream.Checkpointer).
type Checkpoints interface {
	PublicKey() string
	Checkpoint(ctx context.Context) (checkpoint.Stored, bool, error)
	Inclusion(ctx context.Context, seq, size uint64) (checkpoint.InclusionProof, error)
	UnitProof(ctx context.Context, unit string, size uint64) (checkpoint.UnitProof, error)
}

// Line is one line of data/events.jsonl: an event with its ledger sequence.
type Line struct {
	Seq uint64 `json:"seq"`
	*events.Event
}

// Options say what to export.
type Options struct {
	Unit string
	// AsOf: the events recorded at or before it (zero: now).
	AsOf time.Time
	// Exporter names who exports (e.g. "alice (inspector)").
	Exporter string
	// Compliance, if not nil, is written as data/compliance.json.
	Compliance any
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Bag is a prepared export: everything but the attachment bytes is read,
// so that WriteTo fails only if the writer or a blob does.
type Bag struct {
	opt        Options
	exportTime time.Time
	cp         checkpoint.Stored
	key        string
	recs       []events.Record // recorded at or before AsOf
	later      []events.Record // recorded after AsOf, inside the checkpoint
	unitProof  checkpoint.UnitProof
	proofs     []checkpoint.InclusionProof
	compliance []byte
	blobs      blobstore.Store
	users      []events.Record       // the users chain, if the bag has signed submissions
	usersProof *checkpoint.UnitProof // its head in the checkpoint
}

// Result describes a written bag.
type Result struct {
	Unit              string
	AsOf              time.Time
	Events            int
	Attachments       int
	TreeSize          uint64
	RootHash          string
	Bytes             int64
	BagSHA256         string
	TagManifestSHA256 string
}

// Prepare takes a checkpoint covering every event appended so far (so it
// covers the unit's events as of AsOf) and reads the unit's events and
// their proofs against it.
//
// The proofs are against the newest checkpoint, which may be later than
// AsOf: the unit's events recorded after AsOf inside that checkpoint's tree
// are put in later-events.jsonl (a tag file, not payload) so that the chain
// from the bag's first event to the unit head proven in the checkpoint is
// complete; recorded_at is monotonic along a chain, so this proves that no
// event recorded at or before AsOf is missing.
func Prepare(ctx context.Context, l Ledger, blobs blobstore.Store, cps Checkpoints, opt Options) (*Bag, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := events.ValidUnitID(opt.Unit); err != nil {
		return nil, err
	}
	b := &Bag{opt: opt, exportTime: opt.Now().UTC(), blobs: blobs, key: cps.PublicKey()}
	if b.opt.AsOf.IsZero() {
		b.opt.AsOf = b.exportTime
	}
	b.opt.AsOf = b.opt.AsOf.UTC()
	if _, err := l.History(ctx, opt.Unit, time.Time{}); err != nil { // 404 for unknown units before a checkpoint
		return nil, err
	}
	cp, _, err := cps.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: checkpoint: %w", err)
	}
	b.cp = cp
	if b.unitProof, err = cps.UnitProof(ctx, opt.Unit, cp.Size); err != nil {
		return nil, fmt.Errorf("export: unit proof: %w", err)
	}
	all, err := l.History(ctx, opt.Unit, time.Time{})
	if err != nil {
		return nil, err
	}
	if uint64(len(all)) < b.unitProof.Count {
		return nil, fmt.Errorf("export: read %d events of unit %s, the checkpoint holds %d: %w", len(all), opt.Unit, b.unitProof.Count, events.ErrUnavailable)
	}
	all = all[:b.unitProof.Count]
	if len(all) > 0 && all[len(all)-1].Event.Hash != b.unitProof.Head {
		return nil, fmt.Errorf("export: unit %s's event %d is not the head the checkpoint proves: %w", opt.Unit, len(all), events.ErrConflict)
	}
	for _, r := range all {
		if r.Event.RecordedAt.After(b.opt.AsOf) {
			b.later = append(b.later, r)
		} else {
			b.recs = append(b.recs, r)
		}
	}
	for _, r := range b.recs {
		p, err := cps.Inclusion(ctx, r.Seq, cp.Size)
		if err != nil {
			return nil, fmt.Errorf("export: inclusion proof of seq %d: %w", r.Seq, err)
		}
		b.proofs = append(b.proofs, p)
	}
	if err := b.prepareDevices(ctx, l, cps); err != nil {
		return nil, err
	}
	if opt.Compliance != nil {
		if b.compliance, err = json.MarshalIndent(opt.Compliance, "", "  "); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// AsOf returns the as-of time the bag is of.
func (b *Bag) AsOf() time.Time { return b.opt.AsOf }

// Name returns the bag's directory (and, with .zip, file) name.
func (b *Bag) Name() string {
	return "taizhang-" + b.opt.Unit + "-" + b.opt.AsOf.Format("20060102T150405Z")
}

// countingHash counts and hashes what is written through it.
type countingHash struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

type manifestEntry struct{ digest, path string }

// WriteTo streams the bag as a zip to w.
func (b *Bag) WriteTo(ctx context.Context, w io.Writer) (Result, error) {
	res := Result{Unit: b.opt.Unit, AsOf: b.opt.AsOf, Events: len(b.recs), TreeSize: b.cp.Size, RootHash: b.cp.Root.String()}
	out := &countingHash{w: w, h: sha256.New()}
	bw := &bagWriter{zw: zip.NewWriter(out), dir: b.Name() + "/", modified: b.exportTime}
	n, err := b.writePayload(ctx, bw)
	if err != nil {
		return res, err
	}
	res.Attachments = n
	if err := b.writeTags(bw); err != nil {
		return res, err
	}
	tm := manifest(bw.tags)
	if _, _, err := bw.create(TagManifestTxt, false, bytesOf(tm)); err != nil {
		return res, err
	}
	if err := bw.zw.Close(); err != nil {
		return res, err
	}
	sum := sha256.Sum256(tm)
	res.TagManifestSHA256 = hex.EncodeToString(sum[:])
	res.BagSHA256 = hex.EncodeToString(out.h.Sum(nil))
	res.Bytes = out.n
	return res, nil
}

// bagWriter writes the files of a bag into a zip, hashing each as it
// streams, and keeps the manifest entries of the payload and tag files.
type bagWriter struct {
	zw            *zip.Writer
	dir           string // the bag directory, with its slash
	modified      time.Time
	payload, tags []manifestEntry
	oxumBytes     int64 // the payload's size, for Payload-Oxum
}

// create writes one file, hashing it, with compression unless store, and
// returns its SHA-256 in hex and its size.
func (bw *bagWriter) create(name string, store bool, fill func(io.Writer) error) (string, int64, error) {
	hdr := &zip.FileHeader{Name: bw.dir + name, Method: zip.Deflate, Modified: bw.modified}
	if store {
		hdr.Method = zip.Store
	}
	fw, err := bw.zw.CreateHeader(hdr)
	if err != nil {
		return "", 0, err
	}
	ch := &countingHash{w: fw, h: sha256.New()}
	if err := fill(ch); err != nil {
		return "", 0, fmt.Errorf("export %s: %w", name, err)
	}
	return hex.EncodeToString(ch.h.Sum(nil)), ch.n, nil
}

// addPayload writes a payload file and lists it in the payload manifest.
func (bw *bagWriter) addPayload(name string, store bool, fill func(io.Writer) error) error {
	d, n, err := bw.create(name, store, fill)
	if err != nil {
		return err
	}
	bw.payload = append(bw.payload, manifestEntry{d, name})
	bw.oxumBytes += n
	return nil
}

// addTag writes a tag file and lists it in the tag manifest.
func (bw *bagWriter) addTag(name string, fill func(io.Writer) error) error {
	d, _, err := bw.create(name, false, fill)
	if err != nil {
		return err
	}
	bw.tags = append(bw.tags, manifestEntry{d, name})
	return nil
}

// bytesOf fills a file with p.
func bytesOf(p []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(p); return err }
}

// jsonl fills a file with recs as JSON lines (Line).
func jsonl(recs []events.Record) func(io.Writer) error {
	return func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range recs {
			if err := enc.Encode(Line{Seq: r.Seq, Event: r.Event}); err != nil {
				return err
			}
		}
		return nil
	}
}

// writePayload writes the payload: the events, each attachment once (its
// bytes streamed from the blob store and checked against the digest
// there), the compliance report and the offline index. It returns how
// many attachments it wrote.
func (b *Bag) writePayload(ctx context.Context, bw *bagWriter) (int, error) {
	if err := bw.addPayload(EventsJSONL, false, jsonl(b.recs)); err != nil {
		return 0, err
	}
	n := 0
	seen := map[string]bool{}
	for _, r := range b.recs {
		for _, a := range r.Event.Attachments {
			if seen[a.SHA256] {
				continue
			}
			seen[a.SHA256] = true
			if err := b.writeAttachment(ctx, bw, a); err != nil {
				return n, err
			}
			n++
		}
	}
	if b.compliance != nil {
		if err := bw.addPayload(ComplianceJSON, false, bytesOf(b.compliance)); err != nil {
			return n, err
		}
	}
	return n, bw.addPayload(IndexHTML, false, func(w io.Writer) error { return writeIndex(w, b) })
}

// writeAttachment copies one attachment from the blob store into the bag.
func (b *Bag) writeAttachment(ctx context.Context, bw *bagWriter, a events.Attachment) error {
	ref, err := blobstore.ParseRef(a.SHA256)
	if err != nil {
		return err
	}
	rc, _, err := blobstore.Open(ctx, b.blobs, ref)
	if err != nil {
		return fmt.Errorf("export attachment %s: %w", a.SHA256, err)
	}
	defer rc.Close()
	return bw.addPayload(AttachmentPath(a), true, func(w io.Writer) error {
		_, err := io.CopyBuffer(w, rc, make([]byte, 64<<10))
		return err
	})
}

// writeTags writes the tag files: the BagIt declaration, the payload
// manifest, the checkpoint, the unit proof, the inclusion proofs, the
// later events and bag-info (which counts the payload, so comes last).
func (b *Bag) writeTags(bw *bagWriter) error {
	up, err := json.MarshalIndent(b.unitProof, "", "  ")
	if err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		fill func(io.Writer) error
	}{
		{BagitTxt, bytesOf([]byte(bagitTxt))},
		{ManifestTxt, bytesOf(manifest(bw.payload))},
		{CheckpointNote, bytesOf([]byte(b.cp.Note))},
		{UnitProofJSON, bytesOf(append(up, '\n'))},
		{InclusionJSONL, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			for _, p := range b.proofs {
				if err := enc.Encode(p); err != nil {
					return err
				}
			}
			return nil
		}},
		{LaterEventsJSON, jsonl(b.later)},
	} {
		if err := bw.addTag(t.name, t.fill); err != nil {
			return err
		}
	}
	if b.usersProof != nil {
		dp, err := json.MarshalIndent(b.usersProof, "", "  ")
		if err != nil {
			return err
		}
		if err := bw.addTag(DevicesJSONL, jsonl(b.users)); err != nil {
			return err
		}
		if err := bw.addTag(DevicesProofJSON, bytesOf(append(dp, '\n'))); err != nil {
			return err
		}
	}
	return bw.addTag(BagInfoTxt, bytesOf(b.bagInfo(bw.oxumBytes, len(bw.payload))))
}

// AttachmentPath is where an attachment lies in a bag: under its digest,
// with an extension for its media type so that it opens offline.
func AttachmentPath(a events.Attachment) string {
	return AttachmentsDir + a.SHA256 + extOf(a.MediaType)
}

func extOf(mediaType string) string {
	mt, _, _ := strings.Cut(mediaType, ";")
	switch strings.TrimSpace(mt) {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "application/pdf":
		return ".pdf"
	case "text/plain":
		return ".txt"
	}
	return ""
}

// manifest formats entries as "digest  path" lines, sorted by path: the
// form of RFC 8493 and of sha256sum.
func manifest(es []manifestEntry) []byte {
	sort.Slice(es, func(i, j int) bool { return es[i].path < es[j].path })
	var sb strings.Builder
	for _, e := range es {
		sb.WriteString(e.digest + "  " + e.path + "\n")
	}
	return []byte(sb.String())
}

// signatureLine returns the signature lines of a signed note.
func signatureLines(note string) string {
	i := strings.LastIndex(note, "\n\n")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(note[i+2:])
}

func (b *Bag) bagInfo(octets int64, files int) []byte {
	var sb strings.Builder
	f := func(k, v string) { sb.WriteString(k + ": " + v + "\n") }
	f("Source-Organization", "taizhang")
	f("Bagging-Date", b.exportTime.Format(time.DateOnly))
	f("Payload-Oxum", fmt.Sprintf("%d.%d", octets, files))
	f("External-Identifier", b.Name())
	f("External-Description", fmt.Sprintf("taizhang archive of unit %s as of %s: its %d events recorded by then, their attachments, its compliance report and an HTML index", b.opt.Unit, b.opt.AsOf.Format(time.RFC3339Nano), len(b.recs)))
	f("Taizhang-Unit", b.opt.Unit)
	f("Taizhang-As-Of", b.opt.AsOf.Format(time.RFC3339Nano))
	f("Taizhang-Events", fmt.Sprint(len(b.recs)))
	f("Taizhang-Tree-Size", fmt.Sprint(b.cp.Size))
	f("Taizhang-Root-Hash", b.cp.Root.String())
	f("Taizhang-Units-Root", b.cp.UnitsRoot.String())
	f("Taizhang-Checkpoint-Time", b.cp.Time.UTC().Format(time.RFC3339Nano))
	for _, l := range strings.Split(signatureLines(b.cp.Note), "\n") {
		f("Taizhang-Checkpoint-Signature", l)
	}
	f("Taizhang-Public-Key", b.key)
	f("Taizhang-Exporter", b.opt.Exporter)
	f("Taizhang-Export-Time", b.exportTime.Format(time.RFC3339Nano))
	f("Taizhang-Proofs", fmt.Sprintf("checkpoint.note is the signed checkpoint of the ledger's first %d events, made at export; "+
		"inclusion-proofs.jsonl proves each event of data/events.jsonl in it; unit-proof.json proves the unit's head (last event hash and count, %d) under its unit heads root; "+
		"later-events.jsonl holds the unit's %d events recorded after the as-of time but inside the checkpoint, so that the chain from the first event to that head is complete",
		b.cp.Size, b.unitProof.Count, len(b.later)))
	return []byte(sb.String())
}

// ErrBag marks a bag that does not verify.
var ErrBag = errors.New("bag does not verify")
