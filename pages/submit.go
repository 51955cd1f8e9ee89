package pages

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/api"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
	"taizhang/projections/compliance"
)

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
func (pg *Pages) submitData(r *http.Request, unit string) (*submitData, error) {
	s := pg.api
	today := s.Now().In(s.Config().Zone).Format(time.DateOnly)
	d := &submitData{ID: uuid.New(), Kind: string(events.KindActivity), Occurred: today, Today: today,
		Kinds:       []events.Kind{events.KindActivity, events.KindPhoto, events.KindStudyNote, events.KindSummary, events.KindDocument, events.KindRectification},
		Requirement: r.URL.Query().Get("requirement")}
	plans := s.PlansAsOf(time.Time{})
	fid := r.URL.Query().Get("finding")
	err := s.WithUnitArchive(r.Context(), unit, time.Time{}, func(ua *projections.UnitArchive) error {
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

// SubmitForm serves GET /units/{unit}/submit: the evidence form.
func (pg *Pages) SubmitForm(w http.ResponseWriter, r *http.Request) {
	d, err := pg.submitData(r, r.PathValue("unit"))
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	pg.render(w, r, http.StatusOK, "submit", pg.page(w, r, d, "title.submit"))
}

// Submit records the form's evidence through the same ledger path as the
// API. The form's evidence id makes a retry safe: an id already recorded
// is answered with its receipt before any file is stored again.
func (pg *Pages) Submit(w http.ResponseWriter, r *http.Request) {
	s := pg.api
	ctx := r.Context()
	unit := r.PathValue("unit")
	if _, err := s.UnitSeq(ctx, unit); err != nil {
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
		_, err = s.Ledger().Evidence(ctx, unit, id)
		return id, err == nil
	}
	vals, up, stopped, err := s.ReadForm(w, r, map[string]bool{"photo": true, "document": true}, func(v url.Values) bool {
		_, ok := recorded(v)
		return ok
	})
	defer up.Close()
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
	in := api.EvidenceInput{ID: vals.Get("id"), Kind: vals.Get("kind"), Title: vals.Get("title"), Body: vals.Get("body"),
		OccurredAt: vals.Get("occurred"), Finding: vals.Get("finding")}
	if rq := vals.Get("requirement"); rq != "" {
		in.Requirements = []string{rq}
	}
	meta, err := json.Marshal(in)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	parsed, err := api.DecodeEvidence(meta, s.Now(), s.Config().ClockSkew, s.Config().Zone)
	if err != nil {
		refuse(err)
		return
	}
	if parsed.ID == uuid.Nil {
		refuse(fmt.Errorf("%w: the form has no evidence id; reload it", param.ErrBadRequest))
		return
	}
	if err := up.Commit(ctx); err != nil { // the files reach the blob store right before the event names them
		refuse(err)
		return
	}
	rec, created, err := s.Ledger().SubmitEvidence(ctx, events.Submission{ID: parsed.ID, Unit: unit, Evidence: parsed.Evidence,
		OccurredAt: parsed.OccurredAt, Attachments: up.Files(), Actor: gate.Principal(r).Actor(), Client: events.ClientWeb})
	if err != nil {
		refuse(err)
		return
	}
	gate.NoteSeq(ctx, rec.Seq) // X-Taizhang-Seq, as the API answers a write
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

// Receipt shows what the ledger recorded for a submission.
func (pg *Pages) Receipt(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		pg.failErr(w, r, fmt.Errorf("%w: evidence id %q is not a UUID", param.ErrBadRequest, r.PathValue("id")))
		return
	}
	recs, err := pg.api.Ledger().Evidence(r.Context(), unit, id)
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
func (pg *Pages) correction(w http.ResponseWriter, r *http.Request) (events.Correction, error) {
	var c events.Correction
	if err := api.ReadSmallForm(w, r); err != nil {
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

// Amend records the fields of the form that differ from the item as it
// stands.
func (pg *Pages) Amend(w http.ResponseWriter, r *http.Request) {
	s := pg.api
	c, err := pg.correction(w, r)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	var in api.CorrectionInput
	err = s.WithUnitArchive(r.Context(), c.Unit, time.Time{}, func(ua *projections.UnitArchive) error {
		it := ua.Item(c.Evidence)
		if it == nil {
			return fmt.Errorf("evidence %s in unit %s: %w", c.Evidence, c.Unit, events.ErrNotFound)
		}
		if t, ok := r.Form["title"]; ok && strings.TrimSpace(t[0]) != it.Title {
			in.Title = &t[0]
		}
		if b, ok := r.Form["body"]; ok {
			was, err := it.Body()
			if err != nil {
				return err
			}
			if body := strings.ReplaceAll(b[0], "\r\n", "\n"); body != was {
				in.Body = &body
			}
		}
		if o, ok := r.Form["occurred"]; ok && o[0] != it.OccurredAt().In(s.Config().Zone).Format(time.DateOnly) {
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
	var rec *events.Record
	if c.Changes, err = s.Changes(in); err == nil {
		rec, err = s.Ledger().AmendEvidence(r.Context(), c)
	}
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	gate.NoteSeq(r.Context(), rec.Seq)
	http.Redirect(w, r, "/units/"+c.Unit+"#ev-"+c.Evidence.String(), http.StatusSeeOther)
}

// Retract serves POST /units/{unit}/evidence/{id}/retract: retracts an
// evidence item, then shows the unit.
func (pg *Pages) Retract(w http.ResponseWriter, r *http.Request) {
	c, err := pg.correction(w, r)
	var rec *events.Record
	if err == nil {
		rec, err = pg.api.Ledger().RetractEvidence(r.Context(), c)
	}
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	gate.NoteSeq(r.Context(), rec.Seq)
	http.Redirect(w, r, "/units/"+c.Unit+"#ev-"+c.Evidence.String(), http.StatusSeeOther)
}

// RecordFinding records an inspector's finding with its photos; the form's
// id makes a retry answer the same finding.
func (pg *Pages) RecordFinding(w http.ResponseWriter, r *http.Request) {
	s := pg.api
	unit := r.PathValue("unit")
	if _, err := s.UnitSeq(r.Context(), unit); err != nil {
		pg.failErr(w, r, err)
		return
	}
	vals, up, _, err := s.ReadForm(w, r, map[string]bool{"photo": true}, nil)
	defer up.Close()
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	nf := events.NewFinding{Unit: unit, Attachments: up.Files(), Actor: gate.Principal(r).Actor(), Client: events.ClientWeb,
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
	if err := up.Commit(r.Context()); err != nil {
		pg.failErr(w, r, err)
		return
	}
	rec, _, err := s.Ledger().RecordFinding(r.Context(), nf)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	gate.NoteSeq(r.Context(), rec.Seq)
	http.Redirect(w, r, "/units/"+unit+"#f-"+rec.Event.ID.String(), http.StatusSeeOther)
}

// Decide resolves (or reopens) a finding with a reason; a resolve is
// checked against the closure rules unless the form's override box is
// ticked.
func (pg *Pages) Decide(resolve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := api.ReadSmallForm(w, r); err != nil {
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
		var rec *events.Record
		if resolve {
			rec, err = pg.api.Resolve(r.Context(), d)
		} else {
			rec, err = pg.api.Ledger().ReopenFinding(r.Context(), d)
		}
		if err != nil {
			pg.failErr(w, r, err)
			return
		}
		gate.NoteSeq(r.Context(), rec.Seq)
		http.Redirect(w, r, "/units/"+unit+"#f-"+id.String(), http.StatusSeeOther)
	}
}
