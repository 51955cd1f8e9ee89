package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
)

// userInput is the body of POST /api/v1/users and of a change.
type userInput struct {
	ID       string      `json:"id"`
	Name     string      `json:"name"`
	Role     events.Role `json:"role"`
	Scope    string      `json:"scope"`
	Subtree  bool        `json:"subtree"`
	Password string      `json:"password"` // optional, creation only: sets a web password
	Reason   string      `json:"reason"`   // changes only
}

// createUser records a new user and waits until the projection has it.
func (s *Service) createUser(ctx context.Context, u *events.User, by events.Actor, client events.Client) error {
	u.Normalize()
	if err := u.Validate(); err != nil {
		return err
	}
	if u.Scope != "" {
		if _, err := s.UnitSeq(ctx, u.Scope); err != nil {
			return fmt.Errorf("scope: %w", err)
		}
	}
	rec, err := s.ledger.RecordUser(ctx, events.UserCommand{Type: events.TypeUserCreated, User: *u, Actor: by, Client: client})
	if err != nil {
		return err
	}
	gate.NoteSeq(ctx, rec.Seq)
	return s.waitApplied(ctx, rec.Seq)
}

// waitApplied waits (at most WaitProjection) until the archive projection
// has applied seq, so that what a request wrote or names is in it; it
// returns an error wrapping projections.ErrBehind if it is not.
func (s *Service) waitApplied(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WaitProjection)
	defer cancel()
	return s.archive.WaitFor(ctx, seq)
}

func (s *Service) setPassword(ctx context.Context, user, pw string) error {
	if err := auth.CheckPassword(pw); err != nil {
		return err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.creds.SetPassword(ctx, user, h)
}

// PostUser answers POST /api/v1/users.
func (s *Service) PostUser(w http.ResponseWriter, r *http.Request) {
	var in userInput
	if err := gate.DecodeJSON(r, w, &in, 16<<10); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Password != "" {
		if err := auth.CheckPassword(in.Password); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	u := events.User{ID: strings.ToLower(in.ID), Name: in.Name, Role: in.Role, Scope: in.Scope, Subtree: in.Subtree}
	if err := s.createUser(r.Context(), &u, gate.Principal(r).Actor(), clientOf(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Password != "" {
		if err := s.setPassword(r.Context(), u.ID, in.Password); err != nil {
			s.fail(w, r, fmt.Errorf("user %s created, but its password was not set: %w", u.ID, err))
			return
		}
	}
	s.writeUser(w, r, http.StatusCreated, u.ID)
}

// ChangeUser answers POST /api/v1/users/{user}/change, .../disable and
// .../enable; every one needs a reason.
func (s *Service) ChangeUser(typ events.Type) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("user")
		if err := events.ValidUserID(id); err != nil {
			s.fail(w, r, err)
			return
		}
		var in userInput
		if err := gate.DecodeJSON(r, w, &in, 16<<10); err != nil {
			s.fail(w, r, err)
			return
		}
		if in.Password != "" || (in.ID != "" && in.ID != id) {
			s.fail(w, r, fmt.Errorf("%w: a change names the user in the path and sets no password", events.ErrInvalid))
			return
		}
		if strings.TrimSpace(in.Reason) == "" {
			s.fail(w, r, fmt.Errorf("%w: say why (reason)", events.ErrInvalid))
			return
		}
		u := events.User{ID: id, Name: in.Name, Role: in.Role, Scope: in.Scope, Subtree: in.Subtree}
		if typ == events.TypeUserChanged {
			cur, ok := s.currentUser(id)
			if !ok {
				s.fail(w, r, fmt.Errorf("user %s: %w", id, events.ErrNotFound))
				return
			}
			if u.Name == "" {
				u.Name = cur.Name
			}
			if u.Role == "" {
				u.Role = cur.Role
			}
			if u.Scope != "" {
				if _, err := s.UnitSeq(r.Context(), u.Scope); err != nil {
					s.fail(w, r, fmt.Errorf("scope: %w", err))
					return
				}
			}
		}
		rec, err := s.ledger.RecordUser(r.Context(), events.UserCommand{Type: typ, User: u, Reason: in.Reason,
			Actor: gate.Principal(r).Actor(), Client: clientOf(r)})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		gate.NoteSeq(r.Context(), rec.Seq)
		if err := s.waitApplied(r.Context(), rec.Seq); err != nil {
			s.fail(w, r, err)
			return
		}
		s.writeUser(w, r, http.StatusOK, id)
	}
}

// PutPassword answers POST /api/v1/users/{user}/password {"password"}.
func (s *Service) PutPassword(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("user")
	if err := events.ValidUserID(id); err != nil {
		s.fail(w, r, err)
		return
	}
	var in struct {
		Password string `json:"password"`
	}
	if err := gate.DecodeJSON(r, w, &in, 4<<10); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, ok := s.currentUser(id); !ok {
		s.fail(w, r, fmt.Errorf("user %s: %w", id, events.ErrNotFound))
		return
	}
	if err := s.setPassword(r.Context(), id, in.Password); err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusOK, map[string]any{"user": id, "password": "set"})
}

// UserAnswer is a user as the API shows it: its state as of a time and the
// events that made it.
type UserAnswer struct {
	events.User
	AsOf    time.Time                 `json:"as_of,omitzero"`
	History []projections.UserVersion `json:"history"`
}

func (s *Service) writeUser(w http.ResponseWriter, r *http.Request, status int, id string) {
	a, err := s.userAt(id, time.Time{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, status, a)
}

func (s *Service) userAt(id string, asOf time.Time) (UserAnswer, error) {
	var out UserAnswer
	err := s.archive.Read(func(a *projections.Archive) error {
		v, ok := a.User(id, asOf)
		if !ok {
			return fmt.Errorf("user %s (as of %v): %w", id, optTime(asOf), events.ErrNotFound)
		}
		out.User, out.AsOf = v.User, asOf
		for _, h := range a.UserHistory(id) {
			if asOf.IsZero() || !h.RecordedAt.After(asOf) {
				out.History = append(out.History, h)
			}
		}
		return nil
	})
	return out, err
}

// GetUser answers GET /api/v1/users/{user}[?as_of=].
func (s *Service) GetUser(w http.ResponseWriter, r *http.Request) {
	id, asOf, err := s.userAsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.userAt(id, asOf)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusOK, a)
}

// ListUsers answers GET /api/v1/users[?as_of=]: every user as it stood then.
func (s *Service) ListUsers(w http.ResponseWriter, r *http.Request) {
	asOf, err := s.AsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out []projections.UserVersion
	_ = s.archive.Read(func(a *projections.Archive) error {
		out = a.Users(asOf)
		return nil
	})
	gate.WriteJSON(w, http.StatusOK, map[string]any{"as_of": optTime(asOf), "users": out})
}

// Permission is one thing a user could do, and where.
type Permission struct {
	Action auth.Action `json:"action"`
	Reach  string      `json:"reach"`           // "all units" or "own scope"
	Units  []string    `json:"units,omitempty"` // own scope: the registered units it covered then
}

// CanAnswer says what a user could do at a time.
type CanAnswer struct {
	User    events.User  `json:"user"`
	AsOf    time.Time    `json:"as_of,omitzero"`
	Enabled bool         `json:"enabled"`
	Can     []Permission `json:"can"`
}

// UserCan answers GET /api/v1/users/{user}/can[?as_of=]: what the user could
// do as the ledger stood at as_of, replayed from the users chain and the
// authorisation table.
func (s *Service) UserCan(w http.ResponseWriter, r *http.Request) {
	id, asOf, err := s.userAsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out CanAnswer
	err = s.archive.Read(func(a *projections.Archive) error {
		v, ok := a.User(id, asOf)
		if !ok {
			return fmt.Errorf("user %s (as of %v): %w", id, optTime(asOf), events.ErrNotFound)
		}
		out = CanAnswer{User: v.User, AsOf: asOf, Enabled: !v.Disabled, Can: []Permission{}}
		if v.Disabled {
			return nil
		}
		p := auth.PrincipalOf(v.User)
		var scope []string
		for _, u := range a.Units() {
			if (asOf.IsZero() || !u.RegisteredAt.After(asOf)) && p.Sees(u.ID, a.Within) {
				scope = append(scope, u.ID)
			}
		}
		for _, act := range auth.Actions() {
			reach, _ := auth.ReachOf(act, p.Role)
			switch reach {
			case auth.Everywhere:
				out.Can = append(out.Can, Permission{Action: act, Reach: auth.Everywhere.String()})
			case auth.InScope:
				pm := Permission{Action: act, Reach: auth.InScope.String(), Units: scope}
				if p.Unit == "" {
					pm.Reach = auth.Everywhere.String()
					pm.Units = nil
				}
				out.Can = append(out.Can, pm)
			}
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusOK, out)
}

// WhoCan answers GET /api/v1/access/who?unit=U&action=A[&as_of=]: the users
// who could do action on unit as the ledger stood at as_of.
func (s *Service) WhoCan(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	unit, act := q.Get("unit"), auth.Action(q.Get("action"))
	if err := events.ValidUnitID(unit); err != nil {
		s.fail(w, r, err)
		return
	}
	if act == "" {
		act = auth.ActUnitRead
	}
	if _, ok := auth.ReachOf(act, events.RoleAdmin); !ok {
		s.fail(w, r, fmt.Errorf("%w: unknown action %q", param.ErrBadRequest, act))
		return
	}
	asOf, err := s.AsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []events.User{}
	err = s.archive.Read(func(a *projections.Archive) error {
		if a.Unit(unit) == nil {
			return fmt.Errorf("unit %s: %w", unit, events.ErrNotFound)
		}
		for _, v := range a.Users(asOf) {
			if !v.Disabled && auth.Decide(auth.PrincipalOf(v.User), act, unit, a.Within) == nil {
				out = append(out, v.User)
			}
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusOK, map[string]any{"unit": unit, "action": act, "as_of": optTime(asOf), "users": out})
}

// Me answers GET /api/v1/me: who the request acts as.
func (s *Service) Me(w http.ResponseWriter, r *http.Request) {
	p := gate.Principal(r)
	gate.WriteJSON(w, http.StatusOK, map[string]any{"principal": p, "csrf": s.CSRFToken(r)})
}

// userAsOf reads the {user} a path names and ?as_of=.
func (s *Service) userAsOf(r *http.Request) (string, time.Time, error) {
	id := r.PathValue("user")
	if err := events.ValidUserID(id); err != nil {
		return "", time.Time{}, err
	}
	asOf, err := s.AsOf(r)
	return id, asOf, err
}
