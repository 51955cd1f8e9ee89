// Package projections holds taizhang's read models: pure, deterministic folds
// over the ledger's events. The same events give the same state byte for
// byte, whatever the batch sizes or restarts. A projection never reads blob
// bytes or talks to a transport; the live wrapper (Live) follows a Source
// and knows the last sequence it applied.
package projections

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/internal/spool"
	"taizhang/projections/plan"
)

// ArchiveVersion is the layout version of the archive projection. Bump it
// when the layout changes; the projection is rebuilt from the ledger at
// start, so no migration is needed.
const ArchiveVersion = 2

// Unit is a registered work unit.
type Unit struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Parent       string    `json:"parent,omitempty"`
	Headcount    int       `json:"headcount"`
	RegisteredAt time.Time `json:"registered_at"`
	Events       int       `json:"events"`
	LastSeq      uint64    `json:"last_seq"`
	// Quarantine is set if the unit's chain stopped at a damaged or forged
	// message: Events and the rest are its good prefix (see Archive.Apply).
	Quarantine *events.Quarantine `json:"quarantine,omitempty"`
}

// Stamp is an instant in 8 bytes at the ledger's precision (microseconds,
// UTC); it encodes in JSON exactly as a UTC time.Time does. The archive
// keeps two per link for every event of the ledger, so size matters.
type Stamp int64

// StampOf returns t as a Stamp.
func StampOf(t time.Time) Stamp { return Stamp(t.UnixMicro()) }

// Time returns the instant in UTC.
func (s Stamp) Time() time.Time { return time.UnixMicro(int64(s)).UTC() }

// MarshalJSON encodes s as RFC 3339, as time.Time does.
func (s Stamp) MarshalJSON() ([]byte, error) { return s.Time().MarshalJSON() }

// Link is one event in an item's (or a finding's) chain. What many links
// share (the event type, the actor and the client) is held once per
// archive and read through methods: the archive keeps a link for every
// event of the ledger.
type Link struct {
	Seq         uint64
	EventID     uuid.UUID
	meta        *linkMeta
	OccurredAt  Stamp
	RecordedAt  Stamp
	Hash        events.Hash
	Changes     *Amendment // amendments only
	Attachments Attachments
	Version     int
	reason      *string // corrections and decisions only
}

// Reason is the reason the event gave, or "".
func (l *Link) Reason() string {
	if l.reason == nil {
		return ""
	}
	return *l.reason
}

// linkMeta is a link's type, actor and client.
type linkMeta struct {
	typ    events.Type
	actor  events.Actor
	client events.Client
}

var noMeta linkMeta

func (l *Link) m() *linkMeta {
	if l.meta == nil {
		return &noMeta
	}
	return l.meta
}

// Type is the link's event type.
func (l *Link) Type() events.Type { return l.m().typ }

// Actor is who appended the link's event.
func (l *Link) Actor() events.Actor { return l.m().actor }

// Client is the kind of client the event came through.
func (l *Link) Client() events.Client { return l.m().client }

// NewLink returns a link (for tests and tools; the archive makes its own).
func NewLink(seq uint64, id uuid.UUID, typ events.Type, actor events.Actor, client events.Client, occurred, recorded time.Time, version int) Link {
	return Link{Seq: seq, EventID: id, meta: &linkMeta{typ, actor, client}, OccurredAt: StampOf(occurred), RecordedAt: StampOf(recorded), Version: version}
}

type linkJSON struct {
	Seq         uint64              `json:"seq"`
	EventID     uuid.UUID           `json:"event_id"`
	Type        events.Type         `json:"type"`
	Actor       events.Actor        `json:"actor"`
	Client      events.Client       `json:"client"`
	OccurredAt  Stamp               `json:"occurred_at"`
	RecordedAt  Stamp               `json:"recorded_at"`
	Reason      string              `json:"reason,omitempty"`
	Hash        events.Hash         `json:"hash"`
	Changes     *Amendment          `json:"changes,omitempty"`
	Attachments []events.Attachment `json:"attachments,omitempty"`
	Version     int                 `json:"version"`
}

// MarshalJSON encodes the link with its type, actor and client.
func (l Link) MarshalJSON() ([]byte, error) {
	m := l.m()
	return json.Marshal(linkJSON{l.Seq, l.EventID, m.typ, m.actor, m.client, l.OccurredAt, l.RecordedAt, l.Reason(), l.Hash,
		l.Changes, l.Attachments.All(), l.Version})
}

// Amendment is what an amendment changed and, in Before, the values those
// fields held before it (the same fields set), so that an audit shows both
// without a replay. It hangs off the amendment's link only, not off every
// link: the archive holds every event of the ledger.
type Amendment struct {
	events.Changes
	Before *events.Changes `json:"before,omitempty"`
}

// Item is a piece of evidence as it stands after its corrections. Its
// recorded and updated times and its retraction are those of the first and
// last links of its chain; they are not stored twice (the archive holds
// every item of the ledger in memory).
type Item struct {
	ID           uuid.UUID
	Kind         events.Kind
	Title        string
	body         text  // Body
	occurred     Stamp // OccurredAt
	Requirements []string
	Attachments  Attachments
	Chain        []Link
	Version      int32
	Retracted    bool
	extra        *itemExtra // what few items have; nil for most
}

// itemExtra holds an item's rarer fields out of line, so that the common
// item stays small.
type itemExtra struct {
	tags    []string
	figures map[string]float64
	finding string
}

// Body returns the item's body. A Live archive keeps bodies out of memory
// (SpoolTexts); Body returns an error only if it cannot read them back.
func (it *Item) Body() (string, error) { return it.body.get() }

// Tags returns the item's tags (e.g. the activity type from a plan's menu).
func (it *Item) Tags() []string {
	if it.extra == nil {
		return nil
	}
	return it.extra.tags
}

// Figures returns the numbers the item reports (e.g. volunteers).
func (it *Item) Figures() map[string]float64 {
	if it.extra == nil {
		return nil
	}
	return it.extra.figures
}

// Finding returns the id of the finding a rectification answers, or "".
func (it *Item) Finding() string {
	if it.extra == nil {
		return ""
	}
	return it.extra.finding
}

// SetExtra sets the item's tags, figures and finding.
func (it *Item) SetExtra(tags []string, figures map[string]float64, finding string) {
	if len(tags) == 0 && len(figures) == 0 && finding == "" {
		it.extra = nil
		return
	}
	it.extra = &itemExtra{tags: tags, figures: figures, finding: finding}
}

// OccurredAt is when what the item records happened (UTC, to the
// microsecond, as the ledger keeps it).
func (it *Item) OccurredAt() time.Time { return it.occurred.Time() }

// SetOccurredAt sets OccurredAt (for tests and tools that build items).
func (it *Item) SetOccurredAt(t time.Time) { it.occurred = StampOf(t) }

// RecordedAt is when the item was first recorded.
func (it *Item) RecordedAt() time.Time { return it.Chain[0].RecordedAt.Time() }

// UpdatedAt is when the item's last event was recorded.
func (it *Item) UpdatedAt() time.Time { return it.Chain[len(it.Chain)-1].RecordedAt.Time() }

// Status is StatusCurrent or StatusRetracted.
func (it *Item) Status() string {
	if it.Retracted {
		return StatusRetracted
	}
	return StatusCurrent
}

// itemJSON is an Item's serialised form.
type itemJSON struct {
	ID           uuid.UUID           `json:"id"`
	Kind         events.Kind         `json:"kind"`
	Title        string              `json:"title"`
	Body         string              `json:"body,omitempty"`
	OccurredAt   time.Time           `json:"occurred_at"`
	RecordedAt   time.Time           `json:"recorded_at"`
	UpdatedAt    time.Time           `json:"updated_at"`
	Requirements []string            `json:"requirements,omitempty"`
	Tags         []string            `json:"tags,omitempty"`
	Figures      map[string]float64  `json:"figures,omitempty"`
	Finding      string              `json:"finding,omitempty"`
	Attachments  []events.Attachment `json:"attachments"`
	Version      int32               `json:"version"`
	Status       string              `json:"status"`
	Retracted    *Link               `json:"retracted,omitempty"`
	Chain        []Link              `json:"chain"`
}

// MarshalJSON encodes the item with its derived fields.
func (it *Item) MarshalJSON() ([]byte, error) {
	body, err := it.Body()
	if err != nil {
		return nil, fmt.Errorf("item %s: %w", it.ID, err)
	}
	j := itemJSON{ID: it.ID, Kind: it.Kind, Title: it.Title, Body: body, OccurredAt: it.OccurredAt(),
		RecordedAt: it.RecordedAt(), UpdatedAt: it.UpdatedAt(), Requirements: it.Requirements, Tags: it.Tags(), Figures: it.Figures(),
		Finding: it.Finding(), Attachments: it.Attachments.All(), Version: it.Version, Status: it.Status(), Chain: it.Chain}
	if j.Attachments == nil {
		j.Attachments = []events.Attachment{}
	}
	if it.Retracted {
		j.Retracted = &it.Chain[len(it.Chain)-1]
	}
	return json.Marshal(j)
}

// Item statuses.
const (
	StatusCurrent   = "current"
	StatusRetracted = "retracted"
)

// UnitArchive is one unit's archive: the unit and its evidence in the order
// it was first recorded.
type UnitArchive struct {
	Unit     Unit
	items    []*Item
	byID     itemIndex
	findings []*FindingItem
	findex   map[uuid.UUID]int
	exports  []Link // every export of the unit's archive, in order
	signed   []SignedItem
	sindex   map[uuid.UUID]int // item -> its index in signed
}

// SignedItem is a submission that carried a device signature, with the
// verdict on it against the device registry as of its sequence.
type SignedItem struct {
	Item       uuid.UUID    `json:"item"`
	Seq        uint64       `json:"seq"`
	RecordedAt time.Time    `json:"recorded_at"`
	Actor      events.Actor `json:"actor"`
	events.DeviceCheck
}

// Signed returns the unit's device-signed submissions, in ledger order.
func (u *UnitArchive) Signed() []SignedItem { return u.signed }

// Device returns the device check of an item's submission, if it was
// signed.
func (u *UnitArchive) Device(item uuid.UUID) (SignedItem, bool) {
	i, ok := u.sindex[item]
	if !ok {
		return SignedItem{}, false
	}
	return u.signed[i], true
}

// Exports returns the unit's exports (unit.exported events), in order.
func (u *UnitArchive) Exports() []Link { return u.exports }

// Archive is the archive projection over the whole ledger.
type Archive struct {
	applied uint64
	units   map[string]*UnitArchive
	plans   map[string][]PlanVersion // by plan id, oldest version first
	users   map[string][]UserVersion // by user id, oldest state first
	devices *events.DeviceRegistry   // device keys of the users chain
	strs    map[string]string        // interned small strings: actors, media types, requirement ids
	lists   map[string][]string      // interned lists of them: items' requirements and tags (internList)
	ptrs    map[string]*string       // interned pointers to them: attachments' media types (internPtr)
	metas   map[linkMeta]*linkMeta   // interned link type, actor and client
	heads   map[string]chainHead     // every chain's last applied event (digest.go)
	texts   *spool.File              // item bodies, if spooled (SpoolTexts); made at the first
	spool   bool                     // whether to spool bodies into texts
	textDir string                   // where texts is made

	quarantine map[string]*events.Quarantine // chains stopped at a damaged record (quarantine.go)
}

// PlanVersion is one published version of a plan.
type PlanVersion struct {
	Plan        *plan.Plan   `json:"plan"`
	Version     int          `json:"version"`
	Seq         uint64       `json:"seq"`
	EventID     uuid.UUID    `json:"event_id"`
	RecordedAt  time.Time    `json:"recorded_at"`
	PublishedBy events.Actor `json:"published_by"`
	File        string       `json:"file,omitempty"`
}

// NewArchive returns an empty archive projection.
func NewArchive() *Archive {
	return &Archive{units: map[string]*UnitArchive{}, plans: map[string][]PlanVersion{}, users: map[string][]UserVersion{}, devices: events.NewDeviceRegistry(), strs: map[string]string{},
		metas: map[linkMeta]*linkMeta{}, lists: map[string][]string{}, ptrs: map[string]*string{}}
}

// SpoolTexts makes the archive keep item bodies in an unlinked file in dir
// ("" for the system's temporary directory) instead of in memory, from the
// next record it applies on; the file is made at the first body. Bodies
// are then read back from the file by Item.Body. Call it before the first
// Apply.
func (a *Archive) SpoolTexts(dir string) {
	a.spool, a.textDir = true, dir
}

// text returns s as an item body: spooled if the archive spools. It does
// not keep s.
func (a *Archive) text(s []byte) (text, error) {
	if !a.spool || len(s) == 0 {
		return memText(string(s)), nil
	}
	if a.texts == nil {
		f, err := spool.New(a.textDir)
		if err != nil {
			return text{}, fmt.Errorf("the archive's text file: %w", err)
		}
		a.texts = f
	}
	return putText(a.texts, s)
}

// intern returns one shared copy of s.
func (a *Archive) intern(s string) string {
	if v, ok := a.strs[s]; ok {
		return v
	}
	a.strs[s] = s
	return s
}

// internPtr returns one shared pointer to a copy of s (media types, held
// by every attachment reference).
func (a *Archive) internPtr(s string) *string {
	if p, ok := a.ptrs[s]; ok {
		return p
	}
	s = a.intern(s)
	p := &s
	a.ptrs[s] = p
	return p
}

// compact makes ev's strings share memory with earlier events': the
// known enumerations become their constants, repeated strings one copy.
func (a *Archive) compact(ev *events.Event) {
	ev.Type = events.Type(a.intern(string(ev.Type)))
	ev.Client = events.Client(a.intern(string(ev.Client)))
	ev.Actor.ID = a.intern(ev.Actor.ID)
	ev.Actor.Role = events.Role(a.intern(string(ev.Actor.Role)))
	for i := range ev.Attachments {
		ev.Attachments[i].MediaType = a.intern(ev.Attachments[i].MediaType)
	}
}

// Applied returns the sequence of the last event applied.
func (a *Archive) Applied() uint64 { return a.applied }

// Apply folds one record into the archive. Records must come in ledger
// order; one at or below Applied is ignored, so replays are harmless.
// Unknown event types are skipped.
//
// A record that is not a sound next event of its chain (a unit, the plans
// or the users) quarantines that chain at its sequence: the record has
// Damage, its event does not link to the chain's last applied event, or
// its payload does not decode. The chain keeps what it held before and
// every later record of it is ignored; the other chains go on. Quarantine
// is a function of the records alone, so a replay finds it again.
// Apply returns an error, and changes nothing, only if the archive cannot
// hold a sound record: it cannot write or read its spooled bodies
// (SpoolTexts). The record is not quarantined then; apply it again.
func (a *Archive) Apply(rec events.Record) error {
	if rec.Seq <= a.applied {
		return nil
	}
	chain := rec.Chain()
	if _, q := a.quarantine[chain]; q {
		a.applied = rec.Seq // a quarantined chain's later records are ignored
		return nil
	}
	if rec.Damage != nil {
		a.quarantineChain(chain, rec.Seq, rec.Damage.Reason)
		return nil
	}
	if prev := a.heads[chain].hash; rec.Event.Prev != prev {
		a.quarantineChain(chain, rec.Seq, fmt.Sprintf("event %s links to previous hash %q, but the chain's previous event has %q (an event was inserted, removed or forged)",
			rec.Event.ID, rec.Event.Prev, prev))
		return nil
	}
	before := a.applied
	if err := a.apply(rec); err != nil {
		if le, ok := errors.AsType[*localError](err); ok {
			return fmt.Errorf("apply event %s at %d: %w", rec.Event.ID, rec.Seq, le.err)
		}
		a.quarantineChain(chain, rec.Seq, err.Error())
		return nil
	}
	a.applied = rec.Seq
	a.noteHead(rec, before) // digest.go
	return nil
}

// localError is a failure of the archive itself (its text file), not of
// the record being applied.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }

// apply folds a sound record into its chain's state. On error it has
// changed nothing.
func (a *Archive) apply(rec events.Record) error {
	ev := rec.Event
	if ev.Unit == events.PlansChain {
		return a.applyPlan(rec)
	}
	if ev.Unit == events.UsersChain {
		return a.applyUser(rec)
	}
	u := a.units[ev.Unit]
	if u == nil {
		u = &UnitArchive{Unit: Unit{ID: ev.Unit}}
		a.units[ev.Unit] = u
	}
	a.compact(ev)
	n, last := u.Unit.Events, u.Unit.LastSeq
	if err := u.apply(a, rec); err != nil {
		u.Unit.Events, u.Unit.LastSeq = n, last
		return err
	}
	return nil
}

func (a *Archive) applyPlan(rec events.Record) error {
	ev := rec.Event
	if ev.Type != events.TypePlanPublished && ev.Type != events.TypePlanRevised {
		return nil
	}
	var p events.PlanPublished
	if err := ev.DecodeData(&p); err != nil {
		return err
	}
	var pl plan.Plan
	if err := json.Unmarshal(p.Plan, &pl); err != nil {
		return fmt.Errorf("%w: plan in event %s: %v", events.ErrInvalid, ev.ID, err)
	}
	a.plans[p.PlanID] = append(a.plans[p.PlanID], PlanVersion{Plan: &pl, Version: p.Version, Seq: rec.Seq, EventID: ev.ID,
		RecordedAt: ev.RecordedAt, PublishedBy: ev.Actor, File: p.File})
	return nil
}

// Plans returns the latest version of every plan recorded at or before
// asOf (all if asOf is zero), sorted by plan id.
func (a *Archive) Plans(asOf time.Time) []PlanVersion {
	ids := make([]string, 0, len(a.plans))
	for id := range a.plans {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []PlanVersion
	for _, id := range ids {
		if v, ok := a.Plan(id, asOf); ok {
			out = append(out, v)
		}
	}
	return out
}

// Plan returns the version of a plan in force at asOf: the latest recorded
// at or before it (the latest of all if asOf is zero).
func (a *Archive) Plan(id string, asOf time.Time) (PlanVersion, bool) {
	vs := a.plans[id]
	for i := len(vs) - 1; i >= 0; i-- {
		if asOf.IsZero() || !vs[i].RecordedAt.After(asOf) {
			return vs[i], true
		}
	}
	return PlanVersion{}, false
}

// PlanVersions returns every version of a plan, oldest first.
func (a *Archive) PlanVersions(id string) []PlanVersion { return a.plans[id] }

// FoldUnit folds one unit's records (its history, possibly cut at an as-of
// time) into its archive. It returns nil if recs is empty.
func FoldUnit(recs []events.Record) (*UnitArchive, error) {
	a := NewArchive()
	for _, r := range recs {
		if err := a.Apply(r); err != nil {
			return nil, err
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	return a.units[recs[0].Event.Unit], nil
}

func (a *Archive) link(rec events.Record, version int) Link {
	ev := rec.Event
	k := linkMeta{ev.Type, ev.Actor, ev.Client}
	m := a.metas[k]
	if m == nil {
		m = &k
		a.metas[k] = m
	}
	l := Link{Seq: rec.Seq, EventID: ev.ID, meta: m,
		OccurredAt: StampOf(ev.OccurredAt), RecordedAt: StampOf(ev.RecordedAt), Hash: ev.Hash,
		Attachments: packAttachments(ev.Attachments, a.internPtr), Version: version}
	if ev.Reason != "" {
		r := ev.Reason
		l.reason = &r
	}
	return l
}

func (u *UnitArchive) apply(a *Archive, rec events.Record) error {
	ev := rec.Event
	u.Unit.Events++
	u.Unit.LastSeq = rec.Seq
	switch ev.Type {
	case events.TypeUnitRegistered:
		var p events.UnitRegistered
		if err := ev.DecodeData(&p); err != nil {
			return err
		}
		u.Unit.Name, u.Unit.Type, u.Unit.Parent, u.Unit.Headcount = p.Name, p.UnitType, p.Parent, p.Headcount
		u.Unit.RegisteredAt = ev.RecordedAt
	case events.TypeEvidenceSubmitted:
		// DecodeData's result, without reflection for a stored payload, and
		// the body apart: text copies it once, into memory or its file.
		p, b, err := rec.DecodeEvidenceSubmittedBody() // perhaps decoded already (Record.Predecode)
		if err != nil {
			return err
		}
		if _, dup := u.byID.find(u.items, ev.ID); dup {
			return nil // cannot happen through the ledger; never double an item
		}
		// The item and its first link share the attachments: amendments
		// build a new slice and never write into this one.
		body, err := a.text(b)
		if err != nil {
			return &localError{err}
		}
		l := a.link(rec, 1)
		it := &Item{ID: ev.ID, Kind: events.Kind(a.intern(string(p.Kind))), Title: p.Title, body: body, occurred: StampOf(ev.OccurredAt),
			Requirements: a.internList(p.Requirements), Attachments: l.Attachments, Version: 1,
			Chain: []Link{l}}
		it.SetExtra(a.internList(p.Tags), p.Figures, p.Finding)
		u.byID.add(u.items, ev.ID)
		u.items = append(u.items, it)
		if p.Finding != "" {
			u.rectified(p.Finding, ev.ID)
		}
		if p.Device != nil {
			if c, ok := a.devices.Check(rec); ok {
				if u.sindex == nil {
					u.sindex = map[uuid.UUID]int{}
				}
				u.sindex[ev.ID] = len(u.signed)
				u.signed = append(u.signed, SignedItem{Item: ev.ID, Seq: rec.Seq, RecordedAt: ev.RecordedAt, Actor: ev.Actor, DeviceCheck: c})
			}
		}
	case events.TypeFindingRecorded, events.TypeFindingResolved, events.TypeFindingReopened:
		return u.applyFinding(a, rec)
	case events.TypeUnitExported:
		u.exports = append(u.exports, a.link(rec, 0))
	case events.TypeEvidenceAmended, events.TypeEvidenceRetracted:
		if ev.Corrects == nil {
			return fmt.Errorf("%w: %s %s names no evidence", events.ErrInvalid, ev.Type, ev.ID)
		}
		i, ok := u.byID.find(u.items, *ev.Corrects)
		if !ok {
			return nil // a correction of an unknown item cannot come through the ledger
		}
		it := u.items[i]
		version := ev.EntityVersion()
		if version == 0 {
			version = int(it.Version) + 1
		}
		l := a.link(rec, version)
		if ev.Type == events.TypeEvidenceAmended {
			var p events.EvidenceAmended
			if err := ev.DecodeData(&p); err != nil {
				return err
			}
			// Read and write the bodies first: on an error nothing has changed.
			before, err := it.before(p.Changes)
			if err != nil {
				return &localError{err}
			}
			body := it.body
			if p.Changes.Body != nil {
				if body, err = a.text([]byte(*p.Changes.Body)); err != nil {
					return &localError{err}
				}
			}
			l.Changes = &Amendment{Changes: p.Changes, Before: before}
			var e events.Evidence
			e, occurred := p.Changes.Apply(events.Evidence{Kind: it.Kind, Title: it.Title, Requirements: it.Requirements,
				Tags: it.Tags(), Figures: it.Figures()}, it.OccurredAt())
			it.occurred = StampOf(occurred)
			it.Kind, it.Title, it.body, it.Requirements = events.Kind(a.intern(string(e.Kind))), e.Title, body, a.internList(e.Requirements)
			it.SetExtra(a.internList(e.Tags), e.Figures, it.Finding())
			if len(p.Changes.RemoveAttachments) > 0 || len(ev.Attachments) > 0 {
				// A new slice: the old one is shared with earlier links.
				atts := make(Attachments, 0, len(it.Attachments)+len(l.Attachments))
				for i := range it.Attachments {
					if !slices.Contains(p.Changes.RemoveAttachments, it.Attachments.Digest(i)) {
						atts = append(atts, it.Attachments[i])
					}
				}
				for i := range l.Attachments {
					if !atts.Has(l.Attachments.Digest(i)) {
						atts = append(atts, l.Attachments[i])
					}
				}
				it.Attachments = slices.Clip(atts)
			}
		} else {
			it.Retracted = true
		}
		it.Version = int32(version)
		it.Chain = append(it.Chain, l)
	}
	return nil
}

// before returns copies of the item's values of the fields c changes, or
// an error if it cannot read the item's body.
func (it *Item) before(c events.Changes) (*events.Changes, error) {
	var b events.Changes
	if c.Kind != nil {
		k := it.Kind
		b.Kind = &k
	}
	if c.Title != nil {
		t := it.Title
		b.Title = &t
	}
	if c.Body != nil {
		t, err := it.Body()
		if err != nil {
			return nil, err
		}
		b.Body = &t
	}
	if c.OccurredAt != nil {
		t := it.OccurredAt()
		b.OccurredAt = &t
	}
	if c.Requirements != nil {
		r := append([]string{}, it.Requirements...)
		b.Requirements = &r
	}
	if c.Tags != nil {
		t := append([]string{}, it.Tags()...)
		b.Tags = &t
	}
	if c.Figures != nil {
		f := maps.Clone(it.Figures())
		if f == nil {
			f = map[string]float64{}
		}
		b.Figures = &f
	}
	if b.Empty() {
		return nil, nil
	}
	return &b, nil
}

// maxLists bounds the lists internList shares: past it, new lists are
// held by their items only (a ledger whose every item has its own list
// would otherwise double them in the map).
const maxLists = 1 << 16

// internList returns one shared copy of the list ss, its strings interned:
// items' requirement and tag lists repeat (a plan has a few dozen
// requirements), and a million items each holding its own slice of them
// cost 16 MB. The list is shared: nothing may write into it.
func (a *Archive) internList(ss []string) []string {
	if len(ss) == 0 {
		return a.internAll(ss)
	}
	key := ss[0]
	if len(ss) > 1 {
		key = strings.Join(ss, "\x00")
	}
	if l, ok := a.lists[key]; ok && slices.Equal(l, ss) {
		return l
	}
	l := a.internAll(ss)
	if len(a.lists) < maxLists {
		a.lists[key] = l
	}
	return l
}

// internAll interns every string of ss in place.
func (a *Archive) internAll(ss []string) []string {
	for i, v := range ss {
		ss[i] = a.intern(v)
	}
	return slices.Clip(ss)
}

// Items returns the unit's items in the order they were first recorded.
func (u *UnitArchive) Items() []*Item { return u.items }

// Item returns one item, or nil.
func (u *UnitArchive) Item(id uuid.UUID) *Item {
	if i, ok := u.byID.find(u.items, id); ok {
		return u.items[i]
	}
	return nil
}

// Units returns the registered units sorted by id.
func (a *Archive) Units() []Unit {
	out := make([]Unit, 0, len(a.units))
	for _, u := range a.units {
		if !u.Unit.RegisteredAt.IsZero() {
			out = append(out, u.Unit)
		}
	}
	slices.SortFunc(out, func(x, y Unit) int {
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	return out
}

// Unit returns one unit's archive, or nil if the unit is not registered.
func (a *Archive) Unit(id string) *UnitArchive {
	u := a.units[id]
	if u == nil || u.Unit.RegisteredAt.IsZero() {
		return nil
	}
	return u
}

// View is the serialisable form of a unit's archive, as the API returns it.
type View struct {
	Version int       `json:"projection_version"`
	Unit    Unit      `json:"unit"`
	AsOf    time.Time `json:"as_of,omitzero"`
	Items   []*Item   `json:"items"`
}

// View returns the unit archive's serialisable form.
func (u *UnitArchive) View(asOf time.Time) View {
	items := u.items
	if items == nil {
		items = []*Item{}
	}
	return View{Version: ArchiveVersion, Unit: u.Unit, AsOf: asOf, Items: items}
}

// MarshalState returns the whole projection state in a deterministic
// encoding: the same events give the same bytes.
func (a *Archive) MarshalState() ([]byte, error) {
	type state struct {
		Version     int                 `json:"projection_version"`
		Applied     uint64              `json:"applied"`
		Units       []View              `json:"units"`
		Quarantined []events.Quarantine `json:"quarantined,omitempty"`
	}
	s := state{Version: ArchiveVersion, Applied: a.applied, Units: []View{}, Quarantined: a.Quarantined()}
	ids := make([]string, 0, len(a.units))
	for id := range a.units {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s.Units = append(s.Units, a.units[id].View(time.Time{}))
	}
	return json.Marshal(s)
}
