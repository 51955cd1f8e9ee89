package services

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/projections"
)

// memCreds is a Credentials in memory, for tests that need no NATS.
type memCreds struct {
	mu       sync.Mutex
	tokens   map[auth.TokenHash]auth.TokenRecord
	sessions map[auth.TokenHash]auth.Session
	pw       map[string][]byte
}

func newMemCreds() *memCreds {
	return &memCreds{tokens: map[auth.TokenHash]auth.TokenRecord{}, sessions: map[auth.TokenHash]auth.Session{}, pw: map[string][]byte{}}
}

func (m *memCreds) Put(_ context.Context, h auth.TokenHash, r auth.TokenRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[h] = r
	return nil
}

func (m *memCreds) Get(_ context.Context, h auth.TokenHash) (auth.TokenRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.tokens[h]
	if !ok {
		return r, auth.ErrUnknownToken
	}
	return r, nil
}

func (m *memCreds) List(context.Context) (map[auth.TokenHash]auth.TokenRecord, error) {
	return m.tokens, nil
}

func (m *memCreds) SetPassword(_ context.Context, u string, h []byte) error { m.pw[u] = h; return nil }

func (m *memCreds) PasswordHash(_ context.Context, u string) ([]byte, error) {
	if h, ok := m.pw[u]; ok {
		return h, nil
	}
	return nil, auth.ErrUnknownToken
}

func (m *memCreds) PutSession(_ context.Context, h auth.TokenHash, s auth.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[h] = s
	return nil
}

func (m *memCreds) GetSession(_ context.Context, h auth.TokenHash) (auth.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[h]
	if !ok {
		return s, auth.ErrUnknownToken
	}
	return s, nil
}

func (m *memCreds) DeleteSession(_ context.Context, h auth.TokenHash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, h)
	return nil
}

// oneUser is a projections.Source holding one user.created event.
type oneUser struct{ u events.User }

func (o oneUser) Follow(ctx context.Context, from uint64, fn func(events.Record) error) error {
	if from <= 1 {
		ev := &events.Event{ID: uuid.New(), Type: events.TypeUserCreated, Unit: events.UsersChain, Actor: events.Actor{ID: "t", Role: events.RoleSystem},
			RecordedAt: time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)}
		ev.Data, _ = json.Marshal(o.u)
		if err := fn(events.Record{Seq: 1, Event: ev}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestSessionTimeouts: a session unused for longer than SessionIdle ends; a
// session in use ends anyway SessionMax after it started.
func TestSessionTimeouts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := projections.NewLive(oneUser{events.User{ID: "clerk", Name: "clerk", Role: events.RoleSubmitter, Scope: "cun-1"}}, nil)
	go live.Run(ctx)
	if err := live.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	s := New(nil, nil, live, newMemCreds(), Config{Now: func() time.Time { return now }, SessionIdle: 30 * time.Minute, SessionMax: 12 * time.Hour}, nil)
	start := func() string {
		w := httptest.NewRecorder()
		if _, err := s.newSession(w, httptest.NewRequest("POST", "/", nil), auth.Principal{User: "clerk"}, "password"); err != nil {
			t.Fatal(err)
		}
		c := w.Result().Cookies()[0]
		return c.Value
	}
	use := func(cookie string) error {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		_, err := s.authenticate(r)
		return err
	}
	idle := start()
	now = now.Add(29 * time.Minute)
	if err := use(idle); err != nil {
		t.Fatalf("after 29 minutes: %v", err)
	}
	now = now.Add(31 * time.Minute)
	if err := use(idle); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("after 31 idle minutes: %v", err)
	}
	if err := use(idle); err == nil || !strings.Contains(err.Error(), "unknown or ended") {
		t.Fatalf("a timed-out session is gone: %v", err)
	}
	busy := start()
	for i := 0; i < 12*3; i++ { // used every 20 minutes for 12 hours
		now = now.Add(20 * time.Minute)
		if err := use(busy); err != nil {
			t.Fatalf("in use after %d minutes: %v", (i+1)*20, err)
		}
	}
	now = now.Add(20 * time.Minute)
	if err := use(busy); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("after 12h20m: %v", err)
	}
}
