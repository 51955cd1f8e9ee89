package pages

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/projections"
)

// asOfForm is the "as the ledger stood on" control.
type asOfForm struct {
	Action string // the page's path
	Value  string // the date shown, YYYY-MM-DD, or ""
	Later  int    // items recorded or corrected after it
}

// photoView is a photo with its thumbnail and caption.
type photoView struct {
	SHA256, Alt, Taken string
	Unit               string // the unit it belongs to: the blob and thumbnail URLs name it, so the scope check looks there first
}

// itemView is one evidence item on a page.
type itemView struct {
	ID                     uuid.UUID
	Kind                   events.Kind
	Title, Body            string
	OccurredAt, RecordedAt time.Time
	Version                int32
	Retracted              bool
	Photos                 []photoView
	Docs                   []events.Attachment
	ChangedLater           bool   // amended or retracted after the as-of time
	Why                    string // why it does not count, under a requirement
	Ref                    bool   // shown in full earlier on the page: a link only
	// Device is the verdict on the submission's device signature, if it
	// was signed.
	Device *events.DeviceCheck
	// The correction forms' context.
	Unit, CSRF     string
	CanWrite, Past bool
}

type reqView struct {
	ID, Ref, Title, Status, Missing, Due string
	Items, Rejected                      []itemView
}

type planView struct {
	ID, Title string
	Met, Due  int
	Reqs      []reqView
}

type decisionView struct {
	At                  time.Time
	Type, Actor, Reason string
	Override            bool
	Basis               *basisView // the evidence a resolve was closed on
}

// basisView is a closure's basis as the finding shows it.
type basisView struct {
	Evidence  uuid.UUID
	Title     string
	TakenAt   time.Time
	TakenFrom string
	Distance  *float64
}

type findingView struct {
	ID                    uuid.UUID
	Description, Severity string
	Due, Requirement      string
	RecordedAt            time.Time
	Resolved, Overdue     bool
	Version               int
	Photos                []photoView
	Decisions             []decisionView
	Rectifications        []itemView
}

type option struct{ Value, Label string }

type checkpointView struct {
	Seq, Size uint64
	Root      string
}

// unitData is what the archive page and the dossier show.
type unitData struct {
	Unit         projections.Unit
	AsOf         asOfForm
	Query        string // "?as_of=..." to carry the date to the unit's other pages
	Plans        []planView
	Other        []itemView
	Findings     []findingView
	CanWrite     bool
	CanInspect   bool
	Past         bool // as of a past date: no forms
	CSRF         string
	NewFindingID uuid.UUID
	ReqOptions   []option
	FindingError string

	// The dossier's.
	AsOfAt     time.Time // the ledger as it stood then
	PrintedAt  time.Time
	HeadSeq    uint64
	HeadHash   string
	Checkpoint *checkpointView
}

// unitData builds the archive of a unit as of asOf (zero: now), by
// requirement: every plan in force that applies, each requirement with
// its status, the items that count and those that do not (and why); the
// items no requirement claims; the findings.
func (pg *Pages) unitData(ctx context.Context, r *http.Request, unit string, asOf time.Time) (*unitData, error) {
	s := pg.api
	p := gate.Principal(r)
	d := &unitData{CanWrite: pg.gate.Authorize(p, auth.ActEvidenceWrite, unit) == nil, CanInspect: pg.gate.Authorize(p, auth.ActFindingWrite, unit) == nil,
		Past: !asOf.IsZero(), CSRF: s.CSRFToken(r), NewFindingID: uuid.New()}
	d.AsOf.Action = "/units/" + unit
	if !asOf.IsZero() {
		d.AsOf.Value = r.URL.Query().Get("as_of")
		d.Query = "?as_of=" + url.QueryEscape(d.AsOf.Value)
	}
	plans := s.PlansAsOf(asOf)
	titles := map[string]string{}
	for _, pv := range plans {
		titles[pv.Plan.ID] = pv.Plan.Title
	}
	var later map[uuid.UUID]bool
	if !asOf.IsZero() { // what the live archive has that is newer than the as-of time
		later = map[uuid.UUID]bool{}
		err := s.WithUnitArchive(ctx, unit, time.Time{}, func(ua *projections.UnitArchive) error { // caught up with the unit
			for _, it := range ua.Items() {
				if it.UpdatedAt().After(asOf) {
					later[it.ID] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		d.AsOf.Later = len(later)
	}
	err := s.WithUnitArchive(ctx, unit, asOf, func(ua *projections.UnitArchive) error {
		d.Unit = ua.Unit
		if ua.Unit.Quarantine != nil { // it takes no writes: offer none
			d.CanWrite, d.CanInspect = false, false
		}
		ans, err := s.ComplianceIn(ua, plans, asOf, "")
		if err != nil {
			return err
		}
		shown := make(map[uuid.UUID]bool, len(ua.Items()))
		var bodyErr error // the first body that could not be read
		view := func(it *projections.Item, why string) itemView {
			body, err := it.Body()
			if err != nil && bodyErr == nil {
				bodyErr = err
			}
			v := itemView{ID: it.ID, Kind: it.Kind, Title: it.Title, Body: body, OccurredAt: it.OccurredAt(), RecordedAt: it.RecordedAt(),
				Version: it.Version, Retracted: it.Retracted, ChangedLater: later[it.ID], Why: why,
				Unit: unit, CSRF: d.CSRF, CanWrite: d.CanWrite, Past: d.Past}
			if shown[it.ID] {
				v.Ref = true
				return v
			}
			shown[it.ID] = true
			v.Photos, v.Docs = splitAttachments(unit, it.Attachments.All(), it.Title)
			if si, ok := ua.Device(it.ID); ok {
				v.Device = &si.DeviceCheck
			}
			return v
		}
		for _, rep := range ans.Plans {
			pv := planView{ID: rep.Plan, Title: titles[rep.Plan], Met: rep.Met, Due: rep.Due}
			for _, res := range rep.Requirements {
				rv := reqView{ID: res.Requirement, Ref: res.Ref, Title: res.Title, Status: res.Status, Missing: pg.say(r, res.Owed)}
				if !res.Due.IsZero() {
					rv.Due = res.Due.String()
				}
				for _, c := range res.Counted {
					if it := ua.Item(c.ID); it != nil {
						rv.Items = append(rv.Items, view(it, ""))
					}
				}
				for _, c := range res.Rejected {
					if it := ua.Item(c.ID); it != nil {
						rv.Rejected = append(rv.Rejected, view(it, pg.say(r, c.Because)))
					}
				}
				pv.Reqs = append(pv.Reqs, rv)
				d.ReqOptions = append(d.ReqOptions, option{Value: rep.Plan + "/" + res.Requirement, Label: titles[rep.Plan] + " · " + res.Ref + " " + res.Title})
			}
			d.Plans = append(d.Plans, pv)
		}
		for _, it := range ua.Items() {
			if !shown[it.ID] {
				d.Other = append(d.Other, view(it, ""))
			}
		}
		if bodyErr != nil {
			return bodyErr
		}
		at := asOf
		if at.IsZero() {
			at = s.Now()
		}
		reqLabel := map[string]string{} // plan/requirement → its plan, ref and title, as a finding names it
		for _, o := range d.ReqOptions {
			reqLabel[o.Value] = o.Label
			if _, id, ok := strings.Cut(o.Value, "/"); ok && reqLabel[id] == "" { // a bare id names the first plan's
				reqLabel[id] = o.Label
			}
		}
		for _, f := range ua.Findings() {
			fv := findingView{ID: f.ID, Description: f.Finding.Description, Severity: f.Finding.Severity, Due: f.Finding.Due,
				Requirement: cmp.Or(reqLabel[f.Finding.Requirement], f.Finding.Requirement), RecordedAt: f.Chain[0].RecordedAt.Time(), Resolved: f.Resolved,
				Overdue: f.Overdue(at, s.Config().Zone), Version: f.Version}
			fv.Photos, _ = splitAttachments(unit, f.Photos, f.Finding.Description)
			for _, l := range f.Chain[1:] {
				dv := decisionView{At: l.RecordedAt.Time(), Type: string(l.Type()), Actor: l.Actor().ID, Reason: l.Reason()}
				if cl := f.ClosureAt(l.Seq); cl != nil {
					dv.Override = cl.Override
					if b := cl.Basis; b != nil {
						dv.Basis = &basisView{Evidence: b.Evidence, TakenAt: b.TakenAt, TakenFrom: b.TakenFrom, Distance: b.Distance}
						if it := ua.Item(b.Evidence); it != nil {
							dv.Basis.Title = it.Title
						}
					}
				}
				fv.Decisions = append(fv.Decisions, dv)
			}
			for _, id := range f.Rectifications {
				if it := ua.Item(id); it != nil {
					fv.Rectifications = append(fv.Rectifications, itemView{ID: id, Title: it.Title})
				}
			}
			d.Findings = append(d.Findings, fv)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// photoList renders a list of photo thumbnails, each linking to the
// original (the viewer in app.js opens it over the page). It is built here
// rather than in the template because an archive page can carry thousands
// of photos, and the template's per-value escaping dominated its time; the
// values are escaped here the same way.
func photoList(photos []photoView, w int) template.HTML {
	if len(photos) == 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(len(photos) * 260)
	b.WriteString(`<ul class="photos">`)
	for _, p := range photos {
		sha, alt, unit := html.EscapeString(p.SHA256), html.EscapeString(p.Alt), html.EscapeString(url.QueryEscape(p.Unit))
		fmt.Fprintf(&b, `<li><a class="photo" href="/api/v1/blobs/%s?unit=%s" data-caption="%s"><img src="/thumbs/%s?w=%d&amp;unit=%s" alt="%s" loading="lazy"></a></li>`,
			sha, unit, alt, sha, w, unit, alt)
	}
	b.WriteString(`</ul>`)
	return template.HTML(b.String())
}

// PhotoList is the item's photos as thumbnails.
func (v itemView) PhotoList() template.HTML { return photoList(v.Photos, 240) }

// PhotoList is the event's photos as thumbnails.
func (v eventView) PhotoList() template.HTML { return photoList(v.Photos, 240) }

// PhotoList is the finding's photos as thumbnails.
func (v findingView) PhotoList() template.HTML { return photoList(v.Photos, 240) }

// splitAttachments splits attachments into photos (shown as thumbnails,
// captioned with their names, or the item's title) and documents.
func splitAttachments(unit string, atts []events.Attachment, title string) ([]photoView, []events.Attachment) {
	var photos []photoView
	var docs []events.Attachment
	for _, a := range atts {
		if strings.HasPrefix(a.MediaType, "image/") {
			alt := a.Name
			if alt == "" {
				alt = title
			}
			photos = append(photos, photoView{SHA256: a.SHA256, Alt: alt, Taken: strings.Replace(a.TakenAt, "T", " ", 1), Unit: unit})
		} else {
			docs = append(docs, a)
		}
	}
	return photos, docs
}

// unitDataOf is unitData for the request's {unit} and ?as_of=.
func (pg *Pages) unitDataOf(r *http.Request) (*unitData, time.Time, error) {
	asOf, err := pg.api.AsOf(r)
	if err != nil {
		return nil, asOf, err
	}
	d, err := pg.unitData(r.Context(), r, r.PathValue("unit"), asOf)
	return d, asOf, err
}

// Unit is a unit's archive page, as of ?as_of= if given.
func (pg *Pages) Unit(w http.ResponseWriter, r *http.Request) {
	d, _, err := pg.unitDataOf(r)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	p := pg.page(w, r, d, "title.unit", d.Unit.Name)
	pg.render(w, r, http.StatusOK, "unit", p)
}

// eventView is one event on the timeline.
type eventView struct {
	Seq                uint64
	Type, Class        string
	Title, Link        string
	Recorded, Occurred time.Time
	Actor, Role        string
	Client             events.Client
	Reason             string
	Files              int
	Photos             []photoView // the event's photos, as thumbnails
	Backfill           int         // days between occurrence and recording, when long
	Hash               string
}

type timelineData struct {
	Unit       projections.Unit
	AsOf       asOfForm
	Query      string
	Events     []eventView
	Quarantine *events.Quarantine // the events end before it
}

// backfillDays is from how many days late an item shows as backfilled.
const backfillDays = 30

// Timeline lists the unit's events in ledger order, as of ?as_of=.
func (pg *Pages) Timeline(w http.ResponseWriter, r *http.Request) {
	s := pg.api
	unit := r.PathValue("unit")
	asOf, err := s.AsOf(r)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	if _, err := s.UnitSeq(r.Context(), unit); err != nil {
		pg.failErr(w, r, err)
		return
	}
	recs, q, err := s.SoundHistory(r.Context(), unit, asOf)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	d := timelineData{AsOf: asOfForm{Action: "/units/" + unit + "/timeline"}, Quarantine: q}
	if !asOf.IsZero() {
		d.AsOf.Value = r.URL.Query().Get("as_of")
		d.Query = "?as_of=" + url.QueryEscape(d.AsOf.Value)
		if seq, err := s.UnitSeq(r.Context(), unit); err == nil && len(recs) > 0 && recs[len(recs)-1].Seq < seq {
			all, _, err := s.SoundHistory(r.Context(), unit, time.Time{})
			if err == nil {
				d.AsOf.Later = len(all) - len(recs)
			}
		}
	}
	for _, rec := range recs {
		ev := rec.Event
		v := eventView{Seq: rec.Seq, Type: string(ev.Type), Class: "event", Recorded: ev.RecordedAt, Actor: ev.Actor.ID, Role: string(ev.Actor.Role),
			Client: ev.Client, Reason: ev.Reason, Files: len(ev.Attachments), Hash: ev.Hash.String()}
		switch ev.Type {
		case events.TypeUnitRegistered:
			var u events.UnitRegistered
			if ev.DecodeData(&u) == nil {
				v.Title = u.Name
				d.Unit = projections.Unit{ID: unit, Name: u.Name, Type: u.UnitType, Parent: u.Parent, Headcount: u.Headcount}
			}
		case events.TypeEvidenceSubmitted:
			var e events.EvidenceSubmitted
			if ev.DecodeData(&e) == nil {
				v.Title = e.Title
			}
			v.Occurred = ev.OccurredAt
			v.Link = "/units/" + unit + d.Query + "#ev-" + ev.ID.String()
			if days := int(ev.RecordedAt.Sub(ev.OccurredAt).Hours() / 24); days >= backfillDays {
				v.Backfill = days
			}
		case events.TypeEvidenceAmended, events.TypeEvidenceRetracted:
			v.Class = "correction"
			if ev.Corrects != nil {
				var e events.EvidenceAmended
				if ev.Type == events.TypeEvidenceAmended && ev.DecodeData(&e) == nil && e.Changes.Title != nil {
					v.Title = *e.Changes.Title
				} else {
					v.Title = ev.Corrects.String()
				}
				v.Link = "/units/" + unit + d.Query + "#ev-" + ev.Corrects.String()
			}
		case events.TypeFindingRecorded:
			v.Class = "finding"
			var f events.FindingRecorded
			if ev.DecodeData(&f) == nil {
				v.Title = f.Description
			}
			v.Link = "/units/" + unit + d.Query + "#f-" + ev.ID.String()
		case events.TypeFindingResolved, events.TypeFindingReopened:
			v.Class = "finding"
			if ev.Corrects != nil {
				v.Link = "/units/" + unit + d.Query + "#f-" + ev.Corrects.String()
				v.Title = ev.Corrects.String()
			}
		}
		v.Photos, _ = splitAttachments(unit, ev.Attachments, v.Title)
		d.Events = append(d.Events, v)
	}
	if d.Unit.ID == "" {
		d.Unit.ID = unit
		d.Unit.Name = unit
	}
	pg.render(w, r, http.StatusOK, "timeline", pg.page(w, r, d, "title.timeline", d.Unit.Name))
}

// Dossier is the unit's archive as of a date for printing: the compliance
// summary, one requirement per section with photos and captions, and in
// each page's footer the unit's chain head and the latest checkpoint.
func (pg *Pages) Dossier(w http.ResponseWriter, r *http.Request) {
	s := pg.api
	unit := r.PathValue("unit")
	d, asOf, err := pg.unitDataOf(r)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	at := asOf
	if at.IsZero() {
		at = s.Now()
	}
	d.AsOfAt, d.PrintedAt = at, s.Now()
	recs, _, err := s.SoundHistory(r.Context(), unit, asOf)
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	if n := len(recs); n > 0 {
		d.HeadSeq, d.HeadHash = recs[n-1].Seq, recs[n-1].Event.Hash.String()
	}
	if s.Checkpoints() != nil {
		if cp, err := s.Checkpoints().Latest(r.Context()); err == nil {
			d.Checkpoint = &checkpointView{Seq: cp.Seq, Size: cp.Size, Root: fmt.Sprint(cp.Root)}
		} else if !errors.Is(err, events.ErrNotFound) {
			pg.log.WarnContext(r.Context(), "dossier: latest checkpoint", "err", err)
		}
	}
	p := pg.page(w, r, d, "title.dossier", d.Unit.Name)
	p.Print = true
	pg.render(w, r, http.StatusOK, "dossier", p)
}
