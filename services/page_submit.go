package services

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
	"taizhang/projections/compliance"
)

// maxFormFields bounds the text fields of a posted form.
const maxFormFields = 32

// readForm reads a browser form posted as multipart/form-data: its text
// fields, and the files of the file inputs named in files, each received
// into the upload's stage as it streams in, as the API's uploads are
// (readUpload: sniffed, size- and pixel-checked, at most Config.MaxFiles);
// nothing reaches the blob store until the caller commits, and the caller
// always closes the upload. Empty file inputs are skipped. Before the first
// file is received, early (if not nil) is given the fields read so far
// (the form puts its id right after the csrf field); a true answer stops
// reading: the request is answered from what is already known. The fields
// read are returned also with an error, to show the form again.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request, files map[string]bool, early func(url.Values) bool) (_ url.Values, _ *upload, _ bool, err error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return nil, nil, false, fmt.Errorf("%w: want a multipart/form-data form", param.ErrBadRequest)
	}
	mr, err := s.multipartReader(w, r) // after the csrf field, for a session's form
	if err != nil {
		return nil, nil, false, err
	}
	vals := url.Values{}
	up := &upload{}
	defer func() {
		if err != nil {
			up.close()
			up = nil
		}
	}()
	n := 0
	for {
		part, err := nextPart(mr)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return vals, nil, false, err
		}
		name := part.FormName()
		switch {
		case files[name]:
			if part.FileName() == "" { // an empty file input
				_, _ = io.Copy(io.Discard, io.LimitReader(part, 1<<10))
				break
			}
			if len(up.attachments) == 0 && early != nil && early(vals) {
				return vals, up, true, nil
			}
			if err := s.addAttachment(r.Context(), up, part); err != nil {
				return vals, nil, false, err
			}
		case part.FileName() != "":
			return vals, nil, false, fmt.Errorf("%w: unexpected file field %q", param.ErrBadRequest, name)
		default:
			if n++; n > maxFormFields {
				return vals, nil, false, fmt.Errorf("%w: too many form fields", param.ErrBadRequest)
			}
			b, err := readField(part, maxMetaSize, param.ErrBadRequest)
			if err != nil {
				return vals, nil, false, err
			}
			vals.Add(name, string(b))
		}
		part.Close()
	}
	return vals, up, false, nil
}

// readSmallForm parses a URL-encoded (or multipart) form of text fields.
func readSmallForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxMetaSize)
	if err := r.ParseMultipartForm(maxMetaSize); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return fmt.Errorf("%w: %v", param.ErrBadRequest, err)
	}
	return nil
}

type optGroup struct {
	Label   string
	Options []option
}

type submitData struct {
	Unit        projections.Unit
	ID          uuid.UUID
	Kinds       []events.Kind
	Kind        string
	Title       string
	Occurred    string
	Today       string
	Requirement string
	Body        string
	Groups      []optGroup
	Finding     *findingLine
	Error       string
}

// submitData prepares the submit form: the unit, a fresh evidence id, the
// requirements of the plans in force that apply to the unit, and (for
// ?finding=) the finding a rectification answers.
func (pg *pages) submitData(r *http.Request, unit string) (*submitData, error) {
	s := pg.s
	today := s.now().In(s.cfg.Zone).Format(time.DateOnly)
	d := &submitData{ID: uuid.New(), Kind: string(events.KindActivity), Occurred: today, Today: today,
		Kinds:       []events.Kind{events.KindActivity, events.KindPhoto, events.KindStudyNote, events.KindSummary, events.KindDocument, events.KindRectification},
		Requirement: r.URL.Query().Get("requirement")}
	plans := s.plansAsOf(time.Time{})
	fid := r.URL.Query().Get("finding")
	err := s.withUnitArchive(r.Context(), unit, time.Time{}, func(ua *projections.UnitArchive) error {
		d.Unit = ua.Unit
		cu := compliance.UnitOf(ua.Unit)
		for _, pv := range plans {
			g := optGroup{Label: pv.Plan.Title}
			for i := range pv.Plan.Requirements {
				rq := &pv.Plan.Requirements[i]
				if compliance.Applies(pv.Plan, rq, cu) {
					g.Options = append(g.Options, option{Value: rq.ID, Label: strings.TrimSpace(rq.Ref + " " + rq.Title)})
				}
			}
			if len(g.Options) > 0 {
				d.Groups = append(d.Groups, g)
			}
		}
		if fid != "" {
			for _, f := range ua.Findings() {
				if f.ID.String() == fid {
					d.Finding = &findingLine{ID: fid, Description: f.Finding.Description, Due: f.Finding.Due}
					d.Kind = string(events.KindRectification)
					if f.Finding.Requirement != "" && d.Requirement == "" {
						d.Requirement = f.Finding.Requirement
					}
				}
			}
			if d.Finding == nil {
				return fmt.Errorf("%w: no finding %q in unit %s", param.ErrBadRequest, fid, unit)
			}
		}
		return nil
	})
	return d, err
}

func (pg *pages) submitForm(w http.ResponseWriter, r *http.Request) {
	d, err := pg.submitData(r, r.PathValue("unit"))
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	pg.render(w, r, http.StatusOK, "submit", pg.page(w, r, d, "title.submit"))
}

// submit records the form's evidence through the same ledger path as the
// API. The form's evidence id makes a retry safe: an id already recorded
// is answered with its receipt before any file is stored again.
func (pg *pages) submit(w http.ResponseWriter, r *http.Request) {
	s := pg.s
	ctx := r.Context()
	unit := r.PathValue("unit")
	if _, err := s.unitSeq(ctx, unit); err != nil {
		pg.failErr(w, r, err)
		return
	}
	receiptURL := func(id uuid.UUID, created bool) string {
		u := "/units/" + unit + "/receipts/" + id.String()
		if created {
			u += "?new=1"
		}
		return u
	}
	recorded := func(v url.Values) (uuid.UUID, bool) {
		id, err := uuid.Parse(v.Get("id"))
		if err != nil {
			return uuid.Nil, false
		}
		_, err = s.ledger.Evidence(ctx, unit, id)
		return id, err == nil
	}
	vals, up, stopped, err := s.readForm(w, r, map[string]bool{"photo": true, "document": true}, func(v url.Values) bool {
		_, ok := recorded(v)
		return ok
	})
	defer up.close()
	if err == nil && !stopped {
		_, stopped = recorded(vals)
	}
	if stopped {
		id, _ := uuid.Parse(vals.Get("id"))
		http.Redirect(w, r, receiptURL(id, false), http.StatusSeeOther)
		return
	}
	refuse := func(err error) {
		status, _ := gate.StatusOf(err)
		if status >= 500 || status == http.StatusUnauthorized || status == http.StatusForbidden || vals == nil {
			pg.failErr(w, r, err)
			return
		}
		d, derr := pg.submitData(r, unit)
		if derr != nil {
			pg.failErr(w, r, err)
			return
		}
		if id, perr := uuid.Parse(vals.Get("id")); perr == nil {
			d.ID = id // the same id: sending the corrected form again is still one item
		}
		d.Kind, d.Title, d.Occurred, d.Requirement, d.Body = vals.Get("kind"), vals.Get("title"), vals.Get("occurred"), vals.Get("requirement"), vals.Get("body")
		p := pg.page(w, r, d, "title.submit")
		d.Error = pg.r.T(p.Lang, fmt.Sprintf("error.%d", status), err.Error())
		pg.render(w, r, status, "submit", p)
	}
	if err != nil {
		refuse(err)
		return
	}
	in := EvidenceInput{ID: vals.Get("id"), Kind: vals.Get("kind"), Title: vals.Get("title"), Body: vals.Get("body"),
		OccurredAt: vals.Get("occurred"), Finding: vals.Get("finding")}
	if rq := vals.Get("requirement"); rq != "" {
		in.Requirements = []string{rq}
	}
	meta, err := json.Marshal(in)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	parsed, err := DecodeEvidence(meta, s.now(), s.cfg.ClockSkew, s.cfg.Zone)
	if err != nil {
		refuse(err)
		return
	}
	if parsed.ID == uuid.Nil {
		refuse(fmt.Errorf("%w: the form has no evidence id; reload it", param.ErrBadRequest))
		return
	}
	if err := up.commit(ctx); err != nil { // the files reach the blob store right before the event names them
		refuse(err)
		return
	}
	rec, created, err := s.ledger.SubmitEvidence(ctx, events.Submission{ID: parsed.ID, Unit: unit, Evidence: parsed.Evidence,
		OccurredAt: parsed.OccurredAt, Attachments: up.files(), Actor: gate.Principal(r).Actor(), Client: events.ClientWeb})
	if err != nil {
		refuse(err)
		return
	}
	http.Redirect(w, r, receiptURL(rec.Event.ID, created), http.StatusSeeOther)
}

type receiptData struct {
	Unit     string
	ID       uuid.UUID
	Title    string
	Seq      uint64
	Hash     string
	Recorded time.Time
	Files    []events.Attachment
	Photos   []photoView // Files' photos, as thumbnails
	Created  bool
}

// PhotoList is the submission's photos as thumbnails.
func (d receiptData) PhotoList() template.HTML { return photoList(d.Photos, 240) }

// receipt shows what the ledger recorded for a submission.
func (pg *pages) receipt(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		pg.failErr(w, r, fmt.Errorf("%w: evidence id %q is not a UUID", param.ErrBadRequest, r.PathValue("id")))
		return
	}
	recs, err := pg.s.ledger.Evidence(r.Context(), unit, id)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	rec := recs[0]
	d := receiptData{Unit: unit, ID: id, Seq: rec.Seq, Hash: rec.Event.Hash.String(), Recorded: rec.Event.RecordedAt,
		Files: rec.Event.Attachments, Created: r.URL.Query().Get("new") == "1"}
	var e events.EvidenceSubmitted
	if rec.Event.DecodeData(&e) == nil {
		d.Title = e.Title
	}
	d.Photos, _ = splitAttachments(unit, rec.Event.Attachments, d.Title)
	pg.render(w, r, http.StatusOK, "receipt", pg.page(w, r, d, "title.receipt"))
}

// versionField reads the form's expected_version.
func versionField(r *http.Request) (int, error) {
	v, err := strconv.Atoi(r.FormValue("expected_version"))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("%w: expected_version must be the version being corrected", param.ErrBadRequest)
	}
	return v, nil
}

// correction reads an amend or retract form: the evidence id, the version
// it corrects and the (required) reason.
func (pg *pages) correction(w http.ResponseWriter, r *http.Request) (events.Correction, error) {
	var c events.Correction
	if err := readSmallForm(w, r); err != nil {
		return c, err
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return c, fmt.Errorf("%w: evidence id %q is not a UUID", param.ErrBadRequest, r.PathValue("id"))
	}
	v, err := versionField(r)
	if err != nil {
		return c, err
	}
	reason := strings.TrimSpace(r.FormValue("reason"))
	if reason == "" {
		return c, fmt.Errorf("%w: a correction needs a reason", events.ErrInvalid)
	}
	return events.Correction{Unit: r.PathValue("unit"), Evidence: id, ExpectedVersion: v, Reason: reason,
		Actor: gate.Principal(r).Actor(), Client: events.ClientWeb}, nil
}

// amend records the fields of the form that differ from the item as it
// stands.
func (pg *pages) amend(w http.ResponseWriter, r *http.Request) {
	s := pg.s
	c, err := pg.correction(w, r)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	var in CorrectionInput
	err = s.withUnitArchive(r.Context(), c.Unit, time.Time{}, func(ua *projections.UnitArchive) error {
		it := ua.Item(c.Evidence)
		if it == nil {
			return fmt.Errorf("evidence %s in unit %s: %w", c.Evidence, c.Unit, events.ErrNotFound)
		}
		if t, ok := r.Form["title"]; ok && strings.TrimSpace(t[0]) != it.Title {
			in.Title = &t[0]
		}
		if b, ok := r.Form["body"]; ok && strings.ReplaceAll(b[0], "\r\n", "\n") != it.Body {
			body := strings.ReplaceAll(b[0], "\r\n", "\n")
			in.Body = &body
		}
		if o, ok := r.Form["occurred"]; ok && o[0] != it.OccurredAt.In(s.cfg.Zone).Format(time.DateOnly) {
			in.OccurredAt = &o[0]
		}
		return nil
	})
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	if in.Title == nil && in.Body == nil && in.OccurredAt == nil {
		pg.failErr(w, r, fmt.Errorf("%w: the amendment changes nothing", events.ErrInvalid))
		return
	}
	if c.Changes, err = s.changes(in); err == nil {
		_, err = s.ledger.AmendEvidence(r.Context(), c)
	}
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/units/"+c.Unit+"#ev-"+c.Evidence.String(), http.StatusSeeOther)
}

func (pg *pages) retract(w http.ResponseWriter, r *http.Request) {
	c, err := pg.correction(w, r)
	if err == nil {
		_, err = pg.s.ledger.RetractEvidence(r.Context(), c)
	}
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/units/"+c.Unit+"#ev-"+c.Evidence.String(), http.StatusSeeOther)
}

// recordFinding records an inspector's finding with its photos; the form's
// id makes a retry answer the same finding.
func (pg *pages) recordFinding(w http.ResponseWriter, r *http.Request) {
	s := pg.s
	unit := r.PathValue("unit")
	if _, err := s.unitSeq(r.Context(), unit); err != nil {
		pg.failErr(w, r, err)
		return
	}
	vals, up, _, err := s.readForm(w, r, map[string]bool{"photo": true}, nil)
	defer up.close()
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	nf := events.NewFinding{Unit: unit, Attachments: up.files(), Actor: gate.Principal(r).Actor(), Client: events.ClientWeb,
		Finding: events.Finding{Description: strings.TrimSpace(vals.Get("description")), Severity: vals.Get("severity"), Due: vals.Get("due")}}
	if rq := vals.Get("requirement"); rq != "" {
		p, q, ok := strings.Cut(rq, "/")
		if !ok {
			pg.failErr(w, r, fmt.Errorf("%w: requirement %q is not plan/requirement", param.ErrBadRequest, rq))
			return
		}
		nf.Finding.Plan, nf.Finding.Requirement = p, q
	}
	if id := vals.Get("id"); id != "" {
		if nf.ID, err = uuid.Parse(id); err != nil {
			pg.failErr(w, r, fmt.Errorf("%w: id %q is not a UUID", events.ErrInvalid, id))
			return
		}
	}
	if err := up.commit(r.Context()); err != nil {
		pg.failErr(w, r, err)
		return
	}
	rec, _, err := s.ledger.RecordFinding(r.Context(), nf)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/units/"+unit+"#f-"+rec.Event.ID.String(), http.StatusSeeOther)
}

// decide resolves (or reopens) a finding with a reason; a resolve is
// checked against the closure rules unless the form's override box is
// ticked.
func (pg *pages) decide(resolve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := readSmallForm(w, r); err != nil {
			pg.failErr(w, r, err)
			return
		}
		unit := r.PathValue("unit")
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			pg.failErr(w, r, fmt.Errorf("%w: finding id %q is not a UUID", param.ErrBadRequest, r.PathValue("id")))
			return
		}
		v, err := versionField(r)
		if err != nil {
			pg.failErr(w, r, err)
			return
		}
		d := events.FindingDecision{Unit: unit, Finding: id, ExpectedVersion: v, Reason: strings.TrimSpace(r.FormValue("reason")),
			Override: resolve && r.FormValue("override") != "", Actor: gate.Principal(r).Actor(), Client: events.ClientWeb}
		if resolve {
			_, err = pg.s.resolve(r.Context(), d)
		} else {
			_, err = pg.s.ledger.ReopenFinding(r.Context(), d)
		}
		if err != nil {
			pg.failErr(w, r, err)
			return
		}
		http.Redirect(w, r, "/units/"+unit+"#f-"+id.String(), http.StatusSeeOther)
	}
}
