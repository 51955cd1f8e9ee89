package natskv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"taizhang/auth"
	"taizhang/auth/natskv"
	"taizhang/internal/testenv"
)

func open(t *testing.T, js jetstream.JetStream, ttl time.Duration) *natskv.Store {
	t.Helper()
	s, err := natskv.Open(context.Background(), js, 1, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTokensPasswordsSessions: each kind of credential is stored, read
// back, reported unknown (auth.ErrUnknownToken) when absent, and still
// there when the buckets are opened again; List skips keys that are not
// token hashes; a session ends when deleted, deleting it twice is no error.
func TestTokensPasswordsSessions(t *testing.T) {
	ns := testenv.StartNATS(t)
	js, err := jetstream.New(ns.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := open(t, js, time.Hour)
	var _ auth.Credentials = s

	t0 := time.Date(2016, 7, 1, 8, 0, 0, 0, time.UTC)
	recs := map[auth.TokenHash]auth.TokenRecord{}
	for i := range 3 {
		h := auth.HashToken(fmt.Sprintf("tz_token-%d", i))
		rec := auth.TokenRecord{ID: fmt.Sprintf("t%d", i), User: "clerk", Label: "蘋果", Created: t0.Add(time.Duration(i) * time.Hour)}
		if err := s.Put(ctx, h, rec); err != nil {
			t.Fatal(err)
		}
		recs[h] = rec
	}
	// A revocation replaces the record.
	h0 := auth.HashToken("tz_token-0")
	revoked := recs[h0]
	revoked.Revoked, revoked.RevokedBy = t0.Add(48*time.Hour), "root"
	if err := s.Put(ctx, h0, revoked); err != nil {
		t.Fatal(err)
	}
	recs[h0] = revoked
	// A key that is no token hash (written by hand) is not listed.
	kv, err := js.KeyValue(ctx, natskv.TokensBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "not-a-hash", []byte(`{"token_id":"x"}`)); err != nil {
		t.Fatal(err)
	}

	if err := s.SetPassword(ctx, "clerk", []byte("$2a$10$hash")); err != nil {
		t.Fatal(err)
	}
	sh := auth.HashToken("cookie-value")
	sess := auth.Session{User: "clerk", Created: t0, LastSeen: t0.Add(time.Minute), Via: "password"}
	if err := s.PutSession(ctx, sh, sess); err != nil {
		t.Fatal(err)
	}

	s = open(t, js, time.Hour) // reopened: everything is still there
	got, err := s.Get(ctx, h0)
	if err != nil || !got.Revoked.Equal(revoked.Revoked) || got.RevokedBy != "root" || got.Label != "蘋果" {
		t.Errorf("Get after reopen: %+v, %v", got, err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(recs) {
		t.Errorf("List: %d records, want %d: %+v", len(list), len(recs), list)
	}
	for h, want := range recs {
		if g := list[h]; g.ID != want.ID || !g.Created.Equal(want.Created) || !g.Revoked.Equal(want.Revoked) {
			t.Errorf("List[%s] = %+v, want %+v", h, g, want)
		}
	}
	if _, err := s.Get(ctx, auth.HashToken("tz_never-issued")); !errors.Is(err, auth.ErrUnknownToken) {
		t.Errorf("Get of an unknown token: %v, want ErrUnknownToken", err)
	}
	if pw, err := s.PasswordHash(ctx, "clerk"); err != nil || string(pw) != "$2a$10$hash" {
		t.Errorf("PasswordHash: %q, %v", pw, err)
	}
	if _, err := s.PasswordHash(ctx, "nobody"); !errors.Is(err, auth.ErrUnknownToken) {
		t.Errorf("PasswordHash of a user without one: %v, want ErrUnknownToken", err)
	}
	if g, err := s.GetSession(ctx, sh); err != nil || g.User != "clerk" || !g.LastSeen.Equal(sess.LastSeen) || g.Via != "password" {
		t.Errorf("GetSession: %+v, %v", g, err)
	}
	for range 2 {
		if err := s.DeleteSession(ctx, sh); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
	}
	if _, err := s.GetSession(ctx, sh); !errors.Is(err, auth.ErrUnknownToken) {
		t.Errorf("GetSession after delete: %v, want ErrUnknownToken", err)
	}
	// Nothing in clear: every key is a hash or a user id.
	for _, b := range []string{natskv.TokensBucket, natskv.SessionsBucket} {
		kv, err := js.KeyValue(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k := range keys.Keys() {
			if k == "tz_token-0" || k == "cookie-value" {
				t.Errorf("bucket %s holds a credential in clear as a key", b)
			}
		}
	}
}

// TestSessionTTL: a session nobody ends leaves its bucket after the TTL
// given to Open (the longest a session may live).
func TestSessionTTL(t *testing.T) {
	ns := testenv.StartNATS(t)
	js, err := jetstream.New(ns.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := open(t, js, time.Second)
	h := auth.HashToken("short-lived")
	if err := s.PutSession(ctx, h, auth.Session{User: "clerk", Via: "token"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, h); err != nil {
		t.Fatalf("GetSession right after PutSession: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if _, err := s.GetSession(ctx, h); !errors.Is(err, auth.ErrUnknownToken) {
			return fmt.Errorf("session still there past its TTL: %v", err)
		}
		return nil
	})
}
