// Package natskv keeps taizhang's API tokens in a JetStream key-value bucket,
// apart from the ledger stream: only token hashes are keys, so a token never
// appears in clear in NATS, in an event or in an export.
package natskv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"taizhang/services"
)

// DefaultBucket is the bucket name used when none is given.
const DefaultBucket = "TAIZHANG_TOKENS"

// Tokens is a services.TokenStore on a JetStream KV bucket.
type Tokens struct{ kv jetstream.KeyValue }

// OpenTokens creates or opens the token bucket (file storage, replicas as
// given, history of 5 so that revocations stay visible).
func OpenTokens(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*Tokens, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	if replicas == 0 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "taizhang API token hashes", Storage: jetstream.FileStorage,
		Replicas: replicas, History: 5,
	})
	if err != nil {
		return nil, fmt.Errorf("open token bucket %s: %w", bucket, err)
	}
	return &Tokens{kv: kv}, nil
}

// Put stores p under the token hash h.
func (t *Tokens) Put(ctx context.Context, h services.TokenHash, p services.Principal) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := t.kv.Put(ctx, h.String(), b); err != nil {
		return fmt.Errorf("store token %s: %w", p.TokenID, err)
	}
	return nil
}

// Get returns the principal under h, or services.ErrUnknownToken.
func (t *Tokens) Get(ctx context.Context, h services.TokenHash) (services.Principal, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := t.kv.Get(ctx, h.String())
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return services.Principal{}, services.ErrUnknownToken
	}
	if err != nil {
		return services.Principal{}, fmt.Errorf("look up token: %w", err)
	}
	var p services.Principal
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return services.Principal{}, fmt.Errorf("decode token record: %w", err)
	}
	return p, nil
}
