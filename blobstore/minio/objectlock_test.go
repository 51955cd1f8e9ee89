package minio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	mc "github.com/minio/minio-go/v7"

	"taizhang/blobstore"
	"taizhang/blobstore/minio"
	"taizhang/internal/testenv"
)

// lockProbe is one question about what a server's object lock does, asked
// with real requests. It returns whether the behaviour held ("yes") and a
// detail for the log.
type lockProbe struct {
	name string
	ask  func(ctx context.Context, l *lockLab) (bool, string)
}

// lockLab is one server with a bucket made by minio.New (object lock, default
// GOVERNANCE retention of 3650 days) and a raw client to act behind the
// store's back.
type lockLab struct {
	t      *testing.T
	srv    testenv.S3Server
	raw    *mc.Client
	store  *minio.Store
	bucket string
}

// put stores content through the store (as serve does) and returns the key
// and the version the server gave it.
func (l *lockLab) put(ctx context.Context, content string) (key, version string) {
	l.t.Helper()
	rec, err := blobstore.Receive(ctx, l.store, strings.NewReader(content), blobstore.ReceiveOptions{TempDir: l.t.TempDir()})
	if err != nil {
		l.t.Fatalf("Receive: %v", err)
	}
	key = minio.Key(rec.Ref)
	st, err := l.raw.StatObject(ctx, l.bucket, key, mc.StatObjectOptions{})
	if err != nil {
		l.t.Fatalf("StatObject: %v", err)
	}
	return key, st.VersionID
}

// rawPut stores content with the raw client and explicit options.
func (l *lockLab) rawPut(ctx context.Context, key, content string, opt mc.PutObjectOptions) (string, error) {
	info, err := l.raw.PutObject(ctx, l.bucket, key, strings.NewReader(content), int64(len(content)), opt)
	return info.VersionID, err
}

func (l *lockLab) read(ctx context.Context, key, version string) (string, error) {
	obj, err := l.raw.GetObject(ctx, l.bucket, key, mc.GetObjectOptions{VersionID: version})
	if err != nil {
		return "", err
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	return string(b), err
}

func errText(err error) string {
	if err == nil {
		return "accepted"
	}
	if er := mc.ToErrorResponse(err); er.Code != "" {
		return "refused: " + er.Code
	}
	return "refused: " + err.Error()
}

// lockProbes are the questions; the README's table "S3 servers and object
// lock" has one row per probe, and lockExpect says the answer per server.
var lockProbes = []lockProbe{
	{"bucket with object lock and default retention", func(ctx context.Context, l *lockLab) (bool, string) {
		enabled, mode, validity, unit, err := l.raw.GetObjectLockConfig(ctx, l.bucket)
		if err != nil || mode == nil || validity == nil || unit == nil {
			return false, fmt.Sprintf("%q %v", enabled, errText(err))
		}
		d := fmt.Sprintf("%s %s %d %s", enabled, *mode, *validity, *unit)
		return enabled == "Enabled" && *mode == mc.Governance && *validity == 3650 && *unit == mc.Days, d
	}},
	{"default retention applied to a new object", func(ctx context.Context, l *lockLab) (bool, string) {
		key, v := l.put(ctx, "default retention")
		mode, until, err := l.raw.GetObjectRetention(ctx, l.bucket, key, v)
		if err != nil || mode == nil || until == nil {
			return false, errText(err)
		}
		return *mode == mc.Governance && until.After(time.Now().AddDate(9, 0, 0)), fmt.Sprintf("%s until %s", *mode, until.Format(time.DateOnly))
	}},
	{"delete of a locked version refused", func(ctx context.Context, l *lockLab) (bool, string) {
		key, v := l.put(ctx, "delete me")
		err := l.raw.RemoveObject(ctx, l.bucket, key, mc.RemoveObjectOptions{VersionID: v})
		got, rerr := l.read(ctx, key, v)
		return err != nil && rerr == nil && got == "delete me", errText(err)
	}},
	{"overwrite keeps the locked original as its own version", func(ctx context.Context, l *lockLab) (bool, string) {
		key, v := l.put(ctx, "original")
		nv, err := l.rawPut(ctx, key, "forged!!", mc.PutObjectOptions{})
		if err != nil {
			return true, "overwrite " + errText(err)
		}
		got, rerr := l.read(ctx, key, v)
		return rerr == nil && got == "original" && nv != v, fmt.Sprintf("overwrite accepted as a new version; original %q %v", got, rerr)
	}},
	{"delete without a version id hides the object, locked version kept", func(ctx context.Context, l *lockLab) (bool, string) {
		key, v := l.put(ctx, "hidden")
		err := l.raw.RemoveObject(ctx, l.bucket, key, mc.RemoveObjectOptions{})
		_, serr := l.raw.StatObject(ctx, l.bucket, key, mc.StatObjectOptions{})
		got, rerr := l.read(ctx, key, v)
		return err == nil && serr != nil && rerr == nil && got == "hidden",
			fmt.Sprintf("delete %s; latest %s; original %q %v", errText(err), errText(serr), got, rerr)
	}},
	{"GOVERNANCE: shortening the default retention without bypass refused", func(ctx context.Context, l *lockLab) (bool, string) {
		key, v := l.put(ctx, "governance shorten")
		// A retention a moment from now: if the server takes it, the
		// version becomes deletable without any bypass once it passes.
		until, mode := time.Now().Add(2*time.Second), mc.Governance
		err := l.raw.PutObjectRetention(ctx, l.bucket, key, mc.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until, VersionID: v})
		if err != nil {
			return true, errText(err)
		}
		for range 50 { // bounded: 50 tries, 200 ms apart
			if err := l.raw.RemoveObject(ctx, l.bucket, key, mc.RemoveObjectOptions{VersionID: v}); err == nil {
				return false, "accepted; then the version was deleted without bypass once the short date passed"
			}
			select {
			case <-ctx.Done():
				return false, "accepted"
			case <-time.After(200 * time.Millisecond):
			}
		}
		return false, "accepted, but the version stayed undeletable"
	}},
	{"GOVERNANCE: shortening an explicit retention without bypass refused", func(ctx context.Context, l *lockLab) (bool, string) {
		key := "probe/governance-explicit"
		v, err := l.rawPut(ctx, key, "explicit", mc.PutObjectOptions{Mode: mc.Governance, RetainUntilDate: time.Now().Add(48 * time.Hour)})
		if err != nil {
			return false, "put " + errText(err)
		}
		until, mode := time.Now().Add(24*time.Hour), mc.Governance
		err = l.raw.PutObjectRetention(ctx, l.bucket, key, mc.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until, VersionID: v})
		return err != nil, errText(err)
	}},
	{"GOVERNANCE: delete with bypass by the root user allowed", func(ctx context.Context, l *lockLab) (bool, string) {
		key, v := l.put(ctx, "bypass me")
		err := l.raw.RemoveObject(ctx, l.bucket, key, mc.RemoveObjectOptions{VersionID: v, GovernanceBypass: true})
		_, rerr := l.read(ctx, key, v)
		return err == nil && rerr != nil, fmt.Sprintf("delete %s; read after %s", errText(err), errText(rerr))
	}},
	{"COMPLIANCE: delete with bypass refused", func(ctx context.Context, l *lockLab) (bool, string) {
		key := "probe/compliance-delete"
		v, err := l.rawPut(ctx, key, "compliance", mc.PutObjectOptions{Mode: mc.Compliance, RetainUntilDate: time.Now().Add(48 * time.Hour)})
		if err != nil {
			return false, "put " + errText(err)
		}
		err = l.raw.RemoveObject(ctx, l.bucket, key, mc.RemoveObjectOptions{VersionID: v, GovernanceBypass: true})
		got, rerr := l.read(ctx, key, v)
		return err != nil && rerr == nil && got == "compliance", errText(err)
	}},
	{"COMPLIANCE: shortening retention with bypass refused", func(ctx context.Context, l *lockLab) (bool, string) {
		key := "probe/compliance-shorten"
		v, err := l.rawPut(ctx, key, "compliance", mc.PutObjectOptions{Mode: mc.Compliance, RetainUntilDate: time.Now().Add(48 * time.Hour)})
		if err != nil {
			return false, "put " + errText(err)
		}
		until, mode := time.Now().Add(24*time.Hour), mc.Compliance
		err = l.raw.PutObjectRetention(ctx, l.bucket, key, mc.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until, VersionID: v, GovernanceBypass: true})
		return err != nil, errText(err)
	}},
	{"COMPLIANCE: downgrade to GOVERNANCE refused", func(ctx context.Context, l *lockLab) (bool, string) {
		key := "probe/compliance-downgrade"
		until := time.Now().Add(48 * time.Hour)
		v, err := l.rawPut(ctx, key, "compliance", mc.PutObjectOptions{Mode: mc.Compliance, RetainUntilDate: until})
		if err != nil {
			return false, "put " + errText(err)
		}
		mode := mc.Governance
		err = l.raw.PutObjectRetention(ctx, l.bucket, key, mc.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until, VersionID: v, GovernanceBypass: true})
		return err != nil, errText(err)
	}},
	{"legal hold: delete with governance bypass refused", func(ctx context.Context, l *lockLab) (bool, string) {
		key := "probe/legal-hold"
		v, err := l.rawPut(ctx, key, "held", mc.PutObjectOptions{LegalHold: mc.LegalHoldEnabled})
		if err != nil {
			return false, "put " + errText(err)
		}
		err = l.raw.RemoveObject(ctx, l.bucket, key, mc.RemoveObjectOptions{VersionID: v, GovernanceBypass: true})
		got, rerr := l.read(ctx, key, v)
		return err != nil && rerr == nil && got == "held", errText(err)
	}},
	{"legal hold: released, then delete with bypass allowed", func(ctx context.Context, l *lockLab) (bool, string) {
		key := "probe/legal-hold-released"
		v, err := l.rawPut(ctx, key, "held", mc.PutObjectOptions{LegalHold: mc.LegalHoldEnabled})
		if err != nil {
			return false, "put " + errText(err)
		}
		off := mc.LegalHoldDisabled
		if err := l.raw.PutObjectLegalHold(ctx, l.bucket, key, mc.PutObjectLegalHoldOptions{VersionID: v, Status: &off}); err != nil {
			return false, "release " + errText(err)
		}
		err = l.raw.RemoveObject(ctx, l.bucket, key, mc.RemoveObjectOptions{VersionID: v, GovernanceBypass: true})
		return err == nil, errText(err)
	}},
	{"retention refused on a bucket without object lock", func(ctx context.Context, l *lockLab) (bool, string) {
		plain := newBucketName()
		if err := l.raw.MakeBucket(ctx, plain, mc.MakeBucketOptions{}); err != nil {
			return false, "make bucket " + errText(err)
		}
		_, err := l.raw.PutObject(ctx, plain, "k", strings.NewReader("x"), 1,
			mc.PutObjectOptions{Mode: mc.Compliance, RetainUntilDate: time.Now().Add(time.Hour)})
		return err != nil, errText(err)
	}},
}

// lockExpect is, per server, which probes hold ("yes"); every probe not
// listed must not hold. The README table is this map; change them together.
var lockExpect = map[string]map[string]bool{
	"MinIO": {
		"bucket with object lock and default retention":                       true,
		"default retention applied to a new object":                           true,
		"delete of a locked version refused":                                  true,
		"overwrite keeps the locked original as its own version":              true,
		"delete without a version id hides the object, locked version kept":   true,
		"GOVERNANCE: shortening the default retention without bypass refused": true,
		"GOVERNANCE: shortening an explicit retention without bypass refused": true,
		"GOVERNANCE: delete with bypass by the root user allowed":             true,
		"COMPLIANCE: delete with bypass refused":                              true,
		"COMPLIANCE: shortening retention with bypass refused":                true,
		"COMPLIANCE: downgrade to GOVERNANCE refused":                         true,
		"legal hold: delete with governance bypass refused":                   true,
		"legal hold: released, then delete with bypass allowed":               true,
		"retention refused on a bucket without object lock":                   true,
	},
	"VersityGW": {
		"bucket with object lock and default retention":                       true,
		"delete of a locked version refused":                                  true,
		"overwrite keeps the locked original as its own version":              true,
		"delete without a version id hides the object, locked version kept":   true,
		"GOVERNANCE: shortening an explicit retention without bypass refused": true,
		"GOVERNANCE: delete with bypass by the root user allowed":             true,
		"COMPLIANCE: delete with bypass refused":                              true,
		"COMPLIANCE: shortening retention with bypass refused":                true,
		"COMPLIANCE: downgrade to GOVERNANCE refused":                         true,
		"legal hold: delete with governance bypass refused":                   true,
		"legal hold: released, then delete with bypass allowed":               true,
		"retention refused on a bucket without object lock":                   true,
	},
}

// TestObjectLock asks every lockProbe of each S3 server and checks the
// answers against lockExpect, which is what the README's table "S3 servers
// and object lock" claims: so the table cannot drift from the servers'
// behaviour at the versions scripts/test builds.
func TestObjectLock(t *testing.T) {
	servers := []struct {
		name  string
		start func(t testing.TB) testenv.S3Server
	}{
		{"MinIO", func(t testing.TB) testenv.S3Server { return testenv.MinIO(t) }},
		{"VersityGW", func(t testing.TB) testenv.S3Server { return testenv.VersityGW(t) }},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			srv := s.start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			bucket := newBucketName()
			l := &lockLab{t: t, srv: srv, raw: rawClient(t, srv), store: newStore(t, srv, bucket), bucket: bucket}
			want := lockExpect[s.name]
			var table bytes.Buffer
			for _, p := range lockProbes {
				got, detail := p.ask(ctx, l)
				fmt.Fprintf(&table, "| %s | %s | %s |\n", p.name, yesNo(got), detail)
				if got != want[p.name] {
					t.Errorf("%s: %q holds = %v (%s), the README says %v", s.name, p.name, got, detail, want[p.name])
				}
			}
			t.Logf("%s object lock:\n%s", s.name, table.String())
			if err := ctx.Err(); err != nil {
				t.Fatal(errors.Join(errors.New("probes ran out of time"), err))
			}
		})
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
