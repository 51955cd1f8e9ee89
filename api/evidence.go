package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/media"
	"taizhang/param"
)

// maxMetaSize is the default bound of a JSON body or the JSON part of an
// upload (Config.MaxJSONSize); maxJSONCap is the most it may be set to.
const (
	maxMetaSize = 64 << 10
	maxJSONCap  = 1 << 20
)

// EvidenceInput is the JSON metadata part of an evidence upload.
type EvidenceInput struct {
	ID           string             `json:"id"`
	Kind         string             `json:"kind"`
	Title        string             `json:"title"`
	Body         string             `json:"body"`
	OccurredAt   string             `json:"occurred_at"`
	Requirements []string           `json:"requirements"`
	Tags         []string           `json:"tags"`
	Figures      map[string]float64 `json:"figures"`
	Finding      string             `json:"finding"`
	// Blobs attaches blobs already in the store by digest (see
	// Service.storedAttachments), besides or instead of uploaded files.
	Blobs []BlobRef `json:"blobs"`
	// Device is the capturing device's signature over the submission
	// (events.SignedContent), if it was signed; see DeviceInput.
	Device *DeviceInput `json:"device"`
}

// BlobRef names a stored blob to attach: its digest (64 lowercase hex
// characters) and a file name, a label only, checked like an upload's.
type BlobRef struct {
	SHA256 string `json:"sha256"`
	Name   string `json:"name"`
}

// ParsedEvidence is an EvidenceInput checked and converted.
type ParsedEvidence struct {
	ID         uuid.UUID // uuid.Nil if the client sent none
	Evidence   events.Evidence
	OccurredAt time.Time
	// Blobs are the stored blobs to attach, digests parsed, distinct.
	Blobs []ParsedBlobRef
	// Device is the device signature, well formed (not yet verified).
	Device *events.DeviceSignature
}

// ParsedBlobRef is a BlobRef checked: a canonical digest and a checked name.
type ParsedBlobRef struct {
	Ref  blobstore.Ref
	Name string
}

// parseTime accepts RFC 3339 or a YYYY-MM-DD date (midnight in zone).
func parseTime(field, v string, zone *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, zone); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: %s %q is not an RFC 3339 time or a YYYY-MM-DD date", events.ErrInvalid, field, v)
}

// DecodeEvidence decodes and checks the evidence metadata JSON: strict
// (unknown fields rejected), kind, title and occurred_at required, an
// occurred_at no later than now plus skew. Every error wraps
// events.ErrInvalid or param.ErrBadRequest.
func DecodeEvidence(b []byte, now time.Time, skew time.Duration, zone *time.Location) (ParsedEvidence, error) {
	var in EvidenceInput
	if len(b) > maxJSONCap {
		return ParsedEvidence{}, fmt.Errorf("%w: evidence metadata over %d bytes", param.ErrBadRequest, maxJSONCap)
	}
	if err := gate.DecodeStrict(bytes.NewReader(b), &in); err != nil {
		return ParsedEvidence{}, err
	}
	var p ParsedEvidence
	if in.ID != "" {
		id, err := uuid.Parse(in.ID)
		if err != nil || id == uuid.Nil || len(in.ID) != 36 {
			return p, fmt.Errorf("%w: id %q is not a UUID", events.ErrInvalid, in.ID)
		}
		p.ID = id
	}
	if in.OccurredAt == "" {
		return p, fmt.Errorf("%w: occurred_at is required", events.ErrInvalid)
	}
	t, err := parseTime("occurred_at", in.OccurredAt, zone)
	if err != nil {
		return p, err
	}
	if t.After(now.Add(skew)) {
		return p, fmt.Errorf("%w: occurred_at %s is in the future", events.ErrInvalid, in.OccurredAt)
	}
	if t.Year() < 1970 {
		return p, fmt.Errorf("%w: occurred_at %s is before 1970", events.ErrInvalid, in.OccurredAt)
	}
	p.OccurredAt = t
	p.Evidence = events.Evidence{Kind: events.Kind(in.Kind), Title: strings.TrimSpace(in.Title), Body: in.Body, Requirements: in.Requirements,
		Tags: in.Tags, Figures: in.Figures, Finding: in.Finding}
	if err := p.Evidence.Validate(); err != nil {
		return p, err
	}
	if p.Blobs, err = parseBlobRefs(in.Blobs); err != nil {
		return p, err
	}
	if p.Device, err = in.Device.parse(p.ID); err != nil {
		return p, err
	}
	return p, nil
}

// parseBlobRefs checks an evidence's blob references: at most
// events.MaxAttachments, canonical digests, each once, names that are
// plain labels (checkFileName). Errors wrap events.ErrInvalid or
// param.ErrBadRequest.
func parseBlobRefs(in []BlobRef) ([]ParsedBlobRef, error) {
	if len(in) > events.MaxAttachments {
		return nil, fmt.Errorf("%w: %d blobs; at most %d attachments", events.ErrInvalid, len(in), events.MaxAttachments)
	}
	var out []ParsedBlobRef
	seen := map[blobstore.Ref]bool{}
	for i, b := range in {
		ref, err := blobstore.ParseRef(b.SHA256)
		if err != nil {
			return nil, fmt.Errorf("%w: blobs[%d].sha256: %v", events.ErrInvalid, i, err)
		}
		if seen[ref] {
			return nil, fmt.Errorf("%w: blobs[%d]: blob %s is named twice", events.ErrInvalid, i, ref)
		}
		seen[ref] = true
		if err := checkFileName(b.Name); err != nil {
			return nil, fmt.Errorf("blobs[%d].name: %w", i, err)
		}
		out = append(out, ParsedBlobRef{Ref: ref, Name: b.Name})
	}
	return out, nil
}

// AttachmentAnswer describes a stored attachment in an answer.
type AttachmentAnswer struct {
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	Name      string `json:"name"`
}

// Receipt is the answer to an append: what the ledger recorded.
type Receipt struct {
	ID          uuid.UUID          `json:"id"`
	Evidence    *uuid.UUID         `json:"evidence,omitempty"`
	Sequence    uint64             `json:"sequence"`
	Hash        events.Hash        `json:"hash"`
	Version     int                `json:"version,omitempty"`
	RecordedAt  time.Time          `json:"recorded_at"`
	Attachments []AttachmentAnswer `json:"attachments"`
	// Device is the verdict on a signed submission's device signature
	// (devices.go); absent for an unsigned one.
	Device *events.DeviceCheck `json:"device,omitempty"`
}

// writeReceipt answers the receipt of rec, with its sequence in
// X-Taizhang-Seq.
func writeReceipt(w http.ResponseWriter, r *http.Request, status int, rec *events.Record) {
	gate.NoteSeq(r.Context(), rec.Seq)
	gate.WriteJSON(w, status, receipt(rec))
}

func receipt(rec *events.Record) Receipt {
	out := Receipt{ID: rec.Event.ID, Sequence: rec.Seq, Hash: rec.Event.Hash, RecordedAt: rec.Event.RecordedAt,
		Evidence: rec.Event.Corrects, Attachments: []AttachmentAnswer{}}
	if rec.Event.Corrects != nil {
		out.Version = rec.Event.EntityVersion()
	}
	for _, a := range rec.Event.Attachments {
		out.Attachments = append(out.Attachments, AttachmentAnswer{SHA256: a.SHA256, Size: a.Size, MediaType: a.MediaType, Name: a.Name})
	}
	return out
}

// Upload is a parsed multipart upload: the JSON part named meta and the
// attachments, received into a stage. The caller stores them with commit
// once it has checked the request, right before appending the event that
// names them, and always calls close.
type Upload struct {
	meta        []byte
	attachments []events.Attachment
	stage       *stage
}

// Commit stores the upload's attachments in the blob store.
func (up *Upload) Commit(ctx context.Context) error {
	if up == nil {
		return nil
	}
	return up.stage.commit(ctx)
}

// Close discards what was not committed.
func (up *Upload) Close() {
	if up != nil {
		up.stage.close()
	}
}

// readUpload reads a multipart body: one JSON part named metaPart (at most
// Config.MaxJSONSize bytes) and at most Config.MaxFiles file parts named
// "attachment", each received through blobstore.Receive into a stage as it
// streams in (sniffed, size- and pixel-checked, its name checked). Nothing
// reaches the blob store until the caller commits. If early is non-nil it
// is called as soon as the JSON part has been read (when it comes first);
// a true answer stops reading (the request is answered from what is
// already known). On error, nothing is kept.
func (s *Service) readUpload(w http.ResponseWriter, r *http.Request, metaPart string, early func([]byte) bool) (_ *Upload, _ bool, err error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return nil, false, fmt.Errorf("%w: want multipart/form-data with a %q part and \"attachment\" file parts", param.ErrBadRequest, metaPart)
	}
	mr, err := s.multipartReader(w, r)
	if err != nil {
		return nil, false, err
	}
	up := &Upload{}
	defer func() {
		if err != nil {
			up.Close()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = fmt.Errorf("upload over the %d MiB request limit: %w", s.cfg.MaxRequestSize>>20, err)
			}
		}
	}()
	for {
		part, err := nextPart(mr)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, err
		}
		switch part.FormName() {
		case metaPart:
			if up.meta != nil {
				return nil, false, fmt.Errorf("%w: more than one %q part", param.ErrBadRequest, metaPart)
			}
			b, err := readField(part, s.cfg.MaxJSONSize, gate.ErrJSONTooLarge)
			if err != nil {
				return nil, false, err
			}
			up.meta = b
			if early != nil && len(up.attachments) == 0 && early(b) {
				return up, true, nil
			}
		case "attachment":
			if err := s.addAttachment(r.Context(), up, part); err != nil {
				return nil, false, err
			}
		default:
			return nil, false, fmt.Errorf("%w: unexpected part %q (want %q and \"attachment\")", param.ErrBadRequest, part.FormName(), metaPart)
		}
		part.Close()
	}
	if up.meta == nil {
		return nil, false, fmt.Errorf("%w: the %q JSON part is missing", param.ErrBadRequest, metaPart)
	}
	return up, false, nil
}

// receiveAttachment streams one file part into st and describes it:
// digest, size, media type sniffed from the bytes (never the client's
// word), the client's file name as a label only (a name that looks like a
// path is refused), and image dimensions. An image over the pixel limit,
// or whose decoding runs out of time, is refused.
func (s *Service) receiveAttachment(ctx context.Context, st blobstore.Store, part *multipart.Part) (events.Attachment, error) {
	name, err := partFileName(part)
	if err != nil {
		return events.Attachment{}, err
	}
	pr := &errReader{r: part}
	return s.receiveFile(ctx, st, pr, name, pr)
}

// receiveFile receives r's bytes into st through blobstore.Receive and
// describes them as receiveAttachment says; body, when not nil, is the
// client's body r reads from, so that its failure is told apart (400) from
// the store's.
func (s *Service) receiveFile(ctx context.Context, st blobstore.Store, r io.Reader, name string, body *errReader) (events.Attachment, error) {
	var facts media.Facts
	var mediaType string
	rec, err := blobstore.Receive(ctx, st, r, blobstore.ReceiveOptions{
		TempDir: s.cfg.TempDir,
		MaxSize: s.cfg.MaxFileSize,
		Inspect: func(f io.ReaderAt, size int64) error {
			// The type comes from the bytes, never from the client's word,
			// and is checked before anything is stored.
			head := make([]byte, min(size, 512))
			n, _ := f.ReadAt(head, 0)
			mediaType = media.Sniff(head[:n], f, size, name)
			if mediaType == "text/plain" && media.TextClaimsOther(name) {
				return fmt.Errorf("%w: %q is plain text under a name that claims another type; plain text is accepted only as itself (e.g. .txt)",
					gate.ErrUnsupportedMedia, label(name))
			}
			if !media.Allowed[mediaType] {
				return fmt.Errorf("%w: %q is %s; photos (JPEG, PNG, WebP, HEIC, GIF) and documents (PDF, Office, OpenDocument, plain text) are accepted",
					gate.ErrUnsupportedMedia, label(name), mediaType)
			}
			// Headers first: an image over the pixel limit is refused before
			// any pixel is decoded; decoding is bounded in time and in how
			// many run at once.
			select {
			case s.decodes <- struct{}{}:
				defer func() { <-s.decodes }()
			case <-ctx.Done():
				return ctx.Err()
			}
			var err error
			facts, err = media.InspectLimited(ctx, f, size, media.Limits{MaxPixels: s.cfg.MaxPixels, DecodeTimeout: s.cfg.DecodeTimeout})
			if err != nil {
				return fmt.Errorf("attachment %q: %w", label(name), err)
			}
			return nil
		},
	})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return events.Attachment{}, err
		}
		if errors.Is(err, blobstore.ErrTooLarge) {
			return events.Attachment{}, fmt.Errorf("attachment %q over the %d MiB limit: %w", label(name), s.cfg.MaxFileSize>>20, blobstore.ErrTooLarge)
		}
		if body != nil && body.err != nil && ctx.Err() == nil { // the client's body broke off or is malformed
			return events.Attachment{}, fmt.Errorf("%w: attachment %q: truncated or malformed part: %v", param.ErrBadRequest, label(name), body.err)
		}
		if errors.Is(err, gate.ErrUnsupportedMedia) || errors.Is(err, media.ErrTooManyPixels) || errors.Is(err, media.ErrDecodeTimeout) {
			return events.Attachment{}, err
		}
		return events.Attachment{}, fmt.Errorf("store attachment %q: %w", label(name), err)
	}
	a := events.Attachment{SHA256: rec.Ref.String(), Size: rec.Size, MediaType: mediaType,
		Name: label(name), Width: facts.Width, Height: facts.Height, TakenAt: facts.TakenAt}
	if facts.GPS != nil {
		a.GPS = &events.GPS{Lat: facts.GPS.Lat, Lon: facts.GPS.Lon}
	}
	if facts.PHash != 0 {
		a.PHash = fmt.Sprintf("%016x", facts.PHash)
	}
	return a, nil
}

// storedAttachments describes the stored blobs refs names as the
// attachments of p's submission. Each must be a blob p may read, by the
// rule of GET /api/v1/blobs/{sha256} (blobVisible: a scoped principal only
// a blob attached to an event of a unit in its scope; any other answers
// 404, as if it were not stored, so that digests cannot be probed), and
// stored. Its bytes are read through blobstore.Open, which checks them
// against the digest, and inspected as an upload's are (receiveFile), so
// its size, sniffed media type and photo metadata come from the stored
// bytes, never from the client.
func (s *Service) storedAttachments(ctx context.Context, p auth.Principal, refs []ParsedBlobRef) ([]events.Attachment, error) {
	var out []events.Attachment
	for _, b := range refs {
		if err := s.blobVisible(ctx, p, b.Ref.String(), ""); err != nil {
			return nil, err
		}
		a, err := s.storedAttachment(ctx, b)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (s *Service) storedAttachment(ctx context.Context, b ParsedBlobRef) (events.Attachment, error) {
	rc, _, err := blobstore.Open(ctx, s.blobs, b.Ref)
	if err != nil {
		return events.Attachment{}, fmt.Errorf("blob %s: %w", b.Ref, err)
	}
	defer rc.Close()
	// Receiving into the store itself writes nothing (the same bytes are
	// stored already) and re-checks the stored copy.
	a, err := s.receiveFile(ctx, s.blobs, rc, b.Name, nil)
	if err != nil {
		return events.Attachment{}, fmt.Errorf("blob %s: %w", b.Ref, err)
	}
	if a.SHA256 != b.Ref.String() { // Open verified the bytes: cannot happen
		return events.Attachment{}, fmt.Errorf("blob %s read as %s: %w", b.Ref, a.SHA256, blobstore.ErrCorrupt)
	}
	return a, nil
}

// errReader remembers the first error other than io.EOF its reader
// returned, to tell a client's broken body from a store's failure.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// disposition is a blob's Content-Disposition: inline for the photo
// types, attachment (a download) for anything else, with the file name
// (the label, or the digest) quoted or RFC 2231-encoded by
// mime.FormatMediaType, so that no name can break out of the header.
func disposition(mediaType, name string, ref blobstore.Ref) string {
	kind := "attachment"
	switch mediaType {
	case "image/jpeg", "image/png", "image/gif", "image/webp", media.TypeHEIC:
		kind = "inline"
	}
	if name = label(name); name == "" {
		name = ref.String()
	}
	if d := mime.FormatMediaType(kind, map[string]string{"filename": name}); d != "" {
		return d
	}
	return kind
}

// label makes a client's file name safe to show: the last path element, no
// control characters, valid UTF-8, at most MaxAttachmentName characters. It
// is only ever a label, never a path.
func label(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for utf8.RuneCountInString(name) > events.MaxAttachmentName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// SubmitEvidence answers POST /api/v1/units/{unit}/evidence: records one
// evidence item with its attachments (JSON, or multipart: an "evidence"
// part and "attachment" parts) and answers its Receipt: 201, or 200 for a
// repeat of the same submission.
func (s *Service) SubmitEvidence(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	ctx := r.Context()
	if _, err := s.UnitSeq(ctx, unit); err != nil {
		s.fail(w, r, err)
		return
	}
	var parsed ParsedEvidence
	var parseErr error
	var decoded bool
	var existing *events.Record
	up, answered, err := s.readSubmission(w, r, func(meta []byte) bool {
		decoded = true
		parsed, parseErr = DecodeEvidence(meta, s.now(), s.cfg.ClockSkew, s.cfg.Zone)
		if parseErr != nil {
			return true // answer the error without storing attachments
		}
		if parsed.ID != uuid.Nil { // a retry: answer without re-uploading
			if recs, err := s.ledger.Evidence(ctx, unit, parsed.ID); err == nil {
				existing = &recs[0]
				return true
			}
		}
		return false
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer up.Close()
	if answered {
		if parseErr != nil {
			s.fail(w, r, parseErr)
		} else {
			s.writeSubmitReceipt(w, r, http.StatusOK, existing)
		}
		return
	}
	if !decoded { // the metadata came after the files
		parsed, parseErr = DecodeEvidence(up.meta, s.now(), s.cfg.ClockSkew, s.cfg.Zone)
	}
	if parseErr != nil {
		s.fail(w, r, parseErr)
		return
	}
	p := gate.Principal(r)
	attachments := up.Files()
	if len(parsed.Blobs) > 0 {
		if n := len(attachments) + len(parsed.Blobs); n > s.cfg.MaxFiles {
			s.fail(w, r, fmt.Errorf("%w: %d attachments; at most %d in one request", gate.ErrTooManyFiles, n, s.cfg.MaxFiles))
			return
		}
		stored, err := s.storedAttachments(ctx, p, parsed.Blobs)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		attachments = append(attachments, stored...)
	}
	if err := up.Commit(ctx); err != nil {
		s.fail(w, r, err)
		return
	}
	rec, created, err := s.ledger.SubmitEvidence(ctx, events.Submission{ID: parsed.ID, Unit: unit, Evidence: parsed.Evidence,
		OccurredAt: parsed.OccurredAt, Attachments: attachments, Actor: p.Actor(), Client: clientOf(r), Device: parsed.Device})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/units/%s/archive#%s", unit, rec.Event.ID))
	s.writeSubmitReceipt(w, r, status, rec)
}

// readSubmission reads a submission: multipart (readUpload, the JSON in
// part "evidence"), or a JSON body that is the evidence itself (no files;
// attachments only by blobs), at most Config.MaxJSONSize bytes. early is
// readUpload's.
func (s *Service) readSubmission(w http.ResponseWriter, r *http.Request, early func([]byte) bool) (*Upload, bool, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return s.readUpload(w, r, "evidence", early)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxJSONSize))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, false, fmt.Errorf("%w: over %d bytes", gate.ErrJSONTooLarge, s.cfg.MaxJSONSize)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: read body: %v", param.ErrBadRequest, err)
	}
	return &Upload{meta: b}, early(b), nil
}

// CorrectionInput is the JSON of an amendment or a retraction. Only the
// fields given change; for a retraction only reason and expected_version
// are allowed.
type CorrectionInput struct {
	Reason            string              `json:"reason"`
	ExpectedVersion   int                 `json:"expected_version"`
	Kind              *string             `json:"kind,omitempty"`
	Title             *string             `json:"title,omitempty"`
	Body              *string             `json:"body,omitempty"`
	OccurredAt        *string             `json:"occurred_at,omitempty"`
	Requirements      *[]string           `json:"requirements,omitempty"`
	Tags              *[]string           `json:"tags,omitempty"`
	Figures           *map[string]float64 `json:"figures,omitempty"`
	RemoveAttachments []string            `json:"remove_attachments,omitempty"`
}

// AmendEvidence answers POST /api/v1/units/{unit}/evidence/{id}/amend:
// records a correction of an evidence item (CorrectionInput).
func (s *Service) AmendEvidence(w http.ResponseWriter, r *http.Request) { s.correct(w, r, true) }

// RetractEvidence answers POST /api/v1/units/{unit}/evidence/{id}/retract:
// records the retraction of an evidence item (CorrectionInput).
func (s *Service) RetractEvidence(w http.ResponseWriter, r *http.Request) { s.correct(w, r, false) }

func (s *Service) correct(w http.ResponseWriter, r *http.Request, amend bool) {
	unit := r.PathValue("unit")
	id, err := param.ID("evidence id", r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in CorrectionInput
	var up *Upload
	if amend {
		up, err = s.readJSONOrUpload(w, r, "amend", &in)
	} else {
		err = s.decodeJSON(r, w, &in)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer up.Close()
	c := events.Correction{Unit: unit, Evidence: id, ExpectedVersion: in.ExpectedVersion, Reason: strings.TrimSpace(in.Reason),
		Attachments: up.Files(), Actor: gate.Principal(r).Actor(), Client: clientOf(r)}
	if c.ExpectedVersion < 1 {
		s.fail(w, r, fmt.Errorf("%w: expected_version is required: the version you are correcting, from the archive", events.ErrInvalid))
		return
	}
	var rec *events.Record
	if amend {
		if c.Changes, err = s.Changes(in); err == nil {
			if err = up.Commit(r.Context()); err == nil {
				rec, err = s.ledger.AmendEvidence(r.Context(), c)
			}
		}
	} else {
		if in.Kind != nil || in.Title != nil || in.Body != nil || in.OccurredAt != nil || in.Requirements != nil ||
			in.Tags != nil || in.Figures != nil || in.RemoveAttachments != nil {
			err = fmt.Errorf("%w: a retraction takes only reason and expected_version", events.ErrInvalid)
		} else {
			rec, err = s.ledger.RetractEvidence(r.Context(), c)
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeReceipt(w, r, http.StatusOK, rec)
}

// Changes checks a correction's fields and returns them as the event's
// changes (the web form's correction goes through it too).
func (s *Service) Changes(in CorrectionInput) (events.Changes, error) {
	var c events.Changes
	if in.Kind != nil {
		k := events.Kind(*in.Kind)
		if !k.Valid() {
			return c, fmt.Errorf("%w: unknown kind %q", events.ErrInvalid, *in.Kind)
		}
		c.Kind = &k
	}
	c.Title, c.Body, c.Requirements, c.Tags, c.Figures = in.Title, in.Body, in.Requirements, in.Tags, in.Figures
	if c.Title != nil {
		t := strings.TrimSpace(*c.Title)
		c.Title = &t
	}
	if in.OccurredAt != nil {
		t, err := parseTime("occurred_at", *in.OccurredAt, s.cfg.Zone)
		if err != nil {
			return c, err
		}
		if t.After(s.now().Add(s.cfg.ClockSkew)) {
			return c, fmt.Errorf("%w: occurred_at %s is in the future", events.ErrInvalid, *in.OccurredAt)
		}
		c.OccurredAt = &t
	}
	for _, d := range in.RemoveAttachments {
		if _, err := blobstore.ParseRef(d); err != nil {
			return c, fmt.Errorf("%w: remove_attachments: %v", events.ErrInvalid, err)
		}
	}
	c.RemoveAttachments = in.RemoveAttachments
	return c, nil
}

// Files returns the upload's attachments (none for a JSON request).
func (up *Upload) Files() []events.Attachment {
	if up == nil {
		return nil
	}
	return up.attachments
}

// readJSONOrUpload reads a JSON body into v (and returns a nil upload), or
// a multipart body with the JSON in the part named part and "attachment"
// files, received into the upload's stage: the caller commits them before
// appending and closes the upload.
func (s *Service) readJSONOrUpload(w http.ResponseWriter, r *http.Request, part string, v any) (*Upload, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return nil, s.decodeJSON(r, w, v)
	}
	up, _, err := s.readUpload(w, r, part, nil)
	if err != nil {
		return nil, err
	}
	if err := gate.DecodeStrict(bytes.NewReader(up.meta), v); err != nil {
		up.Close()
		return nil, err
	}
	return up, nil
}

// smallBlob is the size up to which a blob is verified whole before any byte
// is sent; larger blobs stream and the connection is cut if they turn out
// corrupt, so that a client never takes bad bytes for good ones.
const smallBlob = 1 << 20

// blobCSP is the Content-Security-Policy of a blob: opened on its own, a
// document runs in a sandbox (no script, no same origin) and loads nothing.
const blobCSP = "default-src 'none'; sandbox; frame-ancestors 'none'"

// Blob answers an attachment's bytes: its media type sniffed again from
// them, images inline and everything else as a download, under a
// sandboxing gate.CSP. ?name= (the label from the event) names the file in
// Content-Disposition, encoded safely; a name that could be a path is
// refused like at upload.
func (s *Service) Blob(w http.ResponseWriter, r *http.Request) {
	ref, err := s.visibleRef(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name, err := param.Get(r, "name")
	if err == nil {
		err = checkFileName(name)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag := `"` + ref.String() + `"`
	rc, info, err := blobstore.Open(r.Context(), s.blobs, ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rc.Close()
	var head []byte
	var body io.Reader
	if info.Size <= smallBlob {
		all, err := io.ReadAll(rc)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		head, body = all, bytes.NewReader(all)
	} else {
		head = make([]byte, 512)
		n, err := io.ReadFull(rc, head)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		head = head[:n]
		body = io.MultiReader(bytes.NewReader(head), rc)
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	if match := r.Header.Get("If-None-Match"); match == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	mt := media.Sniff(head, nil, 0, name)
	h.Set("Content-Type", mt)
	h.Set("Content-Length", fmt.Sprint(info.Size))
	h.Set("Content-Security-Policy", blobCSP)
	h.Set("Content-Disposition", disposition(mt, name, ref))
	if err := copyVerified(w, body); err != nil {
		if errors.Is(err, blobstore.ErrCorrupt) {
			s.log.ErrorContext(r.Context(), "blob corrupt while serving; connection cut", "sha256", ref, "err", err)
		}
		panic(http.ErrAbortHandler) // the client must see a failed download, not a short "good" one
	}
}

// copyVerified copies r to w, always holding back the last chunk read
// until the next read succeeds: r (from blobstore.Open) reports a digest
// mismatch only at its end, and by then the client must still be missing
// bytes, so that a corrupt blob can never arrive complete.
func copyVerified(w io.Writer, r io.Reader) error {
	buf, pending := make([]byte, 32<<10), make([]byte, 0, 32<<10)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if _, werr := w.Write(pending); werr != nil {
				return werr
			}
			pending = append(pending[:0], buf[:n]...)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF { // ReadFull's own sentinels: a clean end
			_, werr := w.Write(pending) // the whole blob verified
			return werr
		}
		if err != nil {
			return err
		}
	}
}
