// Package natskv keeps taizhang's credentials in JetStream key-value
// buckets, apart from the ledger stream: API token records and web sessions
// under the SHA-256 of the token or cookie, and password hashes (bcrypt)
// under the user id. No credential in clear is ever stored, so none appears
// in NATS, in an event or in an export.
package natskv

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"taizhang/auth"
)

// Bucket names.
const (
	TokensBucket    = "TAIZHANG_TOKENS"
	PasswordsBucket = "TAIZHANG_PASSWORDS"
	SessionsBucket  = "TAIZHANG_SESSIONS"
)

// Store is a auth.Credentials on three JetStream KV buckets.
type Store struct {
	tokens, passwords, sessions jetstream.KeyValue
}

// Open creates or opens the credential buckets (file storage, replicas as
// given). Sessions expire from their bucket after sessionTTL (the longest a
// session may live) even if nobody signs out.
func Open(ctx context.Context, js jetstream.JetStream, replicas int, sessionTTL time.Duration) (*Store, error) {
	if replicas == 0 {
		replicas = 1
	}
	open := func(name, desc string, history uint8, ttl time.Duration) (jetstream.KeyValue, error) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: name, Description: desc, Storage: jetstream.FileStorage, Replicas: replicas, History: history, TTL: ttl,
		})
		if err != nil {
			return nil, fmt.Errorf("open credential bucket %s: %w", name, err)
		}
		return kv, nil
	}
	var st Store
	var err error
	if st.tokens, err = open(TokensBucket, "taizhang API token records by token hash", 5, 0); err != nil {
		return nil, err
	}
	if st.passwords, err = open(PasswordsBucket, "taizhang password hashes (bcrypt) by user", 5, 0); err != nil {
		return nil, err
	}
	if st.sessions, err = open(SessionsBucket, "taizhang web sessions by cookie hash", 1, sessionTTL); err != nil {
		return nil, err
	}
	return &st, nil
}

func put(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("store in %s: %w", kv.Bucket(), err)
	}
	return nil
}

func get(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return auth.ErrUnknownToken
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", kv.Bucket(), err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return fmt.Errorf("decode %s record: %w", kv.Bucket(), err)
	}
	return nil
}

// Put stores a token record under the token hash h.
func (s *Store) Put(ctx context.Context, h auth.TokenHash, rec auth.TokenRecord) error {
	return put(ctx, s.tokens, h.String(), rec)
}

// Get returns the token record under h, or auth.ErrUnknownToken.
func (s *Store) Get(ctx context.Context, h auth.TokenHash) (auth.TokenRecord, error) {
	var rec auth.TokenRecord
	err := get(ctx, s.tokens, h.String(), &rec)
	return rec, err
}

// List returns every token record by hash.
func (s *Store) List(ctx context.Context) (map[auth.TokenHash]auth.TokenRecord, error) {
	keys, err := s.tokens.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := map[auth.TokenHash]auth.TokenRecord{}
	for k := range keys.Keys() {
		var h auth.TokenHash
		if b, err := hex.DecodeString(k); err != nil || len(b) != len(h) {
			continue
		} else {
			copy(h[:], b)
		}
		var rec auth.TokenRecord
		if err := get(ctx, s.tokens, k, &rec); errors.Is(err, auth.ErrUnknownToken) {
			continue
		} else if err != nil {
			return nil, err
		}
		out[h] = rec
	}
	return out, nil
}

type passwordRecord struct {
	Hash    []byte    `json:"bcrypt"`
	Changed time.Time `json:"changed"`
}

// SetPassword stores user's password hash.
func (s *Store) SetPassword(ctx context.Context, user string, hash []byte) error {
	return put(ctx, s.passwords, user, passwordRecord{Hash: hash, Changed: time.Now().UTC()})
}

// PasswordHash returns user's password hash, or auth.ErrUnknownToken.
func (s *Store) PasswordHash(ctx context.Context, user string) ([]byte, error) {
	var rec passwordRecord
	err := get(ctx, s.passwords, user, &rec)
	return rec.Hash, err
}

// PutSession stores a session under its cookie hash.
func (s *Store) PutSession(ctx context.Context, h auth.TokenHash, sess auth.Session) error {
	return put(ctx, s.sessions, h.String(), sess)
}

// GetSession returns the session under h, or auth.ErrUnknownToken.
func (s *Store) GetSession(ctx context.Context, h auth.TokenHash) (auth.Session, error) {
	var sess auth.Session
	err := get(ctx, s.sessions, h.String(), &sess)
	return sess, err
}

// DeleteSession ends the session under h.
func (s *Store) DeleteSession(ctx context.Context, h auth.TokenHash) error {
	if err := s.sessions.Delete(ctx, h.String()); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
