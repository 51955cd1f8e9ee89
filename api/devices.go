package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/projections"
)

// DeviceInput is the "device" object of a signed submission's evidence
// JSON: the key's id, its public key ("ed25519:" + base64), the device's
// capture time (RFC 3339) and the signature (standard base64) over
// events.SignedContent. A signed submission must carry its evidence id.
type DeviceInput struct {
	Key        string `json:"key"`
	PublicKey  string `json:"public_key"`
	CapturedAt string `json:"captured_at"`
	Signature  string `json:"signature"`
}

// parse checks a device object (nil: an unsigned submission) of the
// submission with evidence id: well formed, or an error wrapping
// events.ErrInvalid. The signature is verified by the ledger.
func (in *DeviceInput) parse(id uuid.UUID) (*events.DeviceSignature, error) {
	if in == nil {
		return nil, nil
	}
	if id == uuid.Nil {
		return nil, fmt.Errorf("%w: a signed submission must carry its evidence id (the device signs it)", events.ErrInvalid)
	}
	t, err := time.Parse(time.RFC3339Nano, in.CapturedAt)
	if err != nil {
		return nil, fmt.Errorf("%w: device.captured_at %q is not an RFC 3339 time", events.ErrInvalid, in.CapturedAt)
	}
	d := &events.DeviceSignature{Key: in.Key, PublicKey: in.PublicKey, CapturedAt: t.UTC(), Signature: in.Signature}
	if err := d.Check(); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	return d, nil
}

// writeSubmitReceipt answers a submission's receipt, with the verdict on
// its device signature if it was signed: the archive's, against the
// registry as of the submission, once the projection has applied it
// (waited for at most WaitProjection; without it the receipt has no
// verdict, and the audit view has it later).
func (s *Service) writeSubmitReceipt(w http.ResponseWriter, r *http.Request, status int, rec *events.Record) {
	out := receipt(rec)
	out.Device = s.deviceCheck(r.Context(), rec)
	gate.NoteSeq(r.Context(), rec.Seq)
	gate.WriteJSON(w, status, out)
}

// deviceCheck is the archive's verdict on a signed submission rec, or nil.
func (s *Service) deviceCheck(ctx context.Context, rec *events.Record) *events.DeviceCheck {
	if _, sig, err := events.ContentOf(rec.Event); err != nil || sig == nil {
		return nil
	}
	if err := s.waitApplied(ctx, rec.Seq); err != nil {
		return nil
	}
	var out *events.DeviceCheck
	_ = s.archive.Lookup(func(a *projections.Archive) error {
		if ua := a.Unit(rec.Event.Unit); ua != nil {
			if si, ok := ua.Device(rec.Event.ID); ok {
				out = &si.DeviceCheck
			}
		}
		return nil
	})
	return out
}

// DeviceRegistry answers GET /api/v1/devices/registry: the users chain's
// events (users and devices) as stored, in the form of a unit's history,
// so that a verifier outside (verify --url) rebuilds the device registry
// and checks it link by link.
func (s *Service) DeviceRegistry(w http.ResponseWriter, r *http.Request) {
	recs, q, err := s.SoundHistory(r.Context(), events.UsersChain, time.Time{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]HistoryEntry, len(recs))
	for i, rec := range recs {
		out[i] = HistoryEntry{Seq: rec.Seq, Event: rec.Event}
	}
	body := map[string]any{"unit": events.UsersChain, "events": out}
	if q != nil {
		body["quarantine"] = q
	}
	gate.WriteJSON(w, http.StatusOK, body)
}

// forUser checks that p may act on user's devices: anyone on their own,
// and on another's what act allows (ActUserWrite to register or revoke,
// ActUserRead to list).
func (s *Service) forUser(p auth.Principal, user string, act auth.Action) error {
	if user == p.User {
		return nil
	}
	if err := s.gate.Authorize(p, act, ""); err != nil {
		return fmt.Errorf("%w (another user's devices)", err)
	}
	return nil
}

// deviceInput is the JSON of POST /api/v1/devices: the user (default: the
// caller), the public key and a label; id, if set, makes a retry
// idempotent.
type deviceInput struct {
	ID        string `json:"id"`
	User      string `json:"user"`
	PublicKey string `json:"public_key"`
	Label     string `json:"label"`
}

// RegisterDevice answers POST /api/v1/devices: the key registered to the
// user, 201 with the registered device.
func (s *Service) RegisterDevice(w http.ResponseWriter, r *http.Request) {
	var in deviceInput
	if err := gate.DecodeJSON(r, w, &in, 16<<10); err != nil {
		s.fail(w, r, err)
		return
	}
	p := gate.Principal(r)
	if in.User == "" {
		in.User = p.User
	}
	in.User = strings.ToLower(in.User)
	if err := s.forUser(p, in.User, auth.ActUserWrite); err != nil {
		s.fail(w, r, err)
		return
	}
	pub, err := events.ParsePublicKey(strings.TrimSpace(in.PublicKey))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var id uuid.UUID
	if in.ID != "" {
		if id, err = uuid.Parse(in.ID); err != nil {
			s.fail(w, r, fmt.Errorf("%w: id %q is not a UUID", events.ErrInvalid, in.ID))
			return
		}
	}
	d := events.Device{User: in.User, Key: events.KeyID(pub), PublicKey: events.FormatPublicKey(pub), Label: strings.TrimSpace(in.Label)}
	rec, err := s.ledger.RecordDevice(r.Context(), events.DeviceCommand{ID: id, Type: events.TypeDeviceRegistered, Device: d, Actor: p.Actor(), Client: clientOf(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeDevice(w, r, http.StatusCreated, rec, d.Key)
}

// RevokeDevice answers POST /api/v1/devices/{key}/revoke with {"reason"}:
// the key revoked; submissions it signs from then on are recorded and
// flagged.
func (s *Service) RevokeDevice(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := gate.DecodeJSON(r, w, &in, 16<<10); err != nil {
		s.fail(w, r, err)
		return
	}
	key := r.PathValue("key")
	var d events.RegisteredDevice
	var found bool
	_ = s.archive.Lookup(func(a *projections.Archive) error {
		d, found = a.Devices().Lookup(key)
		return nil
	})
	if !found {
		s.fail(w, r, fmt.Errorf("device key %q: %w", key, events.ErrNotFound))
		return
	}
	p := gate.Principal(r)
	if err := s.forUser(p, d.User, auth.ActUserWrite); err != nil {
		s.fail(w, r, err)
		return
	}
	rec, err := s.ledger.RecordDevice(r.Context(), events.DeviceCommand{Type: events.TypeDeviceRevoked, Device: d.Device,
		Reason: strings.TrimSpace(in.Reason), Actor: p.Actor(), Client: clientOf(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeDevice(w, r, http.StatusOK, rec, key)
}

// writeDevice answers a device event's record with the device as the
// registry holds it once the projection has applied it.
func (s *Service) writeDevice(w http.ResponseWriter, r *http.Request, status int, rec *events.Record, key string) {
	gate.NoteSeq(r.Context(), rec.Seq)
	if err := s.waitApplied(r.Context(), rec.Seq); err != nil {
		s.fail(w, r, err)
		return
	}
	var d events.RegisteredDevice
	_ = s.archive.Lookup(func(a *projections.Archive) error {
		d, _ = a.Devices().Lookup(key)
		return nil
	})
	gate.WriteJSON(w, status, map[string]any{"sequence": rec.Seq, "device": d})
}

// ListDevices answers GET /api/v1/devices[?user=U]: the caller's device
// keys, or user's (an admin or supervisor), or everyone's with user=* (an
// admin or supervisor), revoked ones included.
func (s *Service) ListDevices(w http.ResponseWriter, r *http.Request) {
	p := gate.Principal(r)
	user := r.URL.Query().Get("user")
	if user == "" {
		user = p.User
	}
	if err := s.forUser(p, user, auth.ActUserRead); err != nil {
		s.fail(w, r, err)
		return
	}
	if user == "*" {
		user = ""
	}
	var out []events.RegisteredDevice
	_ = s.archive.Read(func(a *projections.Archive) error {
		out = a.Devices().Devices(user)
		return nil
	})
	gate.WriteJSON(w, http.StatusOK, map[string]any{"devices": out})
}
