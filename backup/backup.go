// Package backup writes, checks and restores a copy of everything taizhang
// keeps: its JetStream streams and KV buckets, as server snapshots, and every
// blob the ledger references, with a manifest of every file's SHA-256. A
// backup can be checked on its own (Check) and restored into a fresh
// cluster and bucket (Restore). The caller opens the stores (Stores).
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jsm.go"
	jsmapi "github.com/nats-io/jsm.go/api"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"taizhang/auth/natsaccess"
	"taizhang/auth/natskv"
	"taizhang/blobstore"
	tzjs "taizhang/events/jetstream"
)

// Stores is what a backup is written from or restored into, opened by the
// caller.
type Stores struct {
	// NC is connected to the NATS server or cluster holding the streams.
	NC *nats.Conn
	// Replicas is the target's replica count (restored streams get it).
	Replicas int
	// Blobs opens the blob store; it is called only once the streams are
	// done (written) or found absent (restored).
	Blobs func(ctx context.Context) (blobstore.Store, error)
	// NATSName and BlobsName say in the manifest where a backup came from
	// (no credentials).
	NATSName, BlobsName string
}

// Format names the layout of a backup directory; Check refuses
// another.
const Format = "taizhang-backup/1"

// streams are the streams a backup holds, in the order they are
// snapshotted and restored. The ledger comes last both ways: snapshotted
// last, every checkpoint and token in the backup is about events it holds;
// restored last, a target with a ledger is a complete restore, and nothing
// restored before it refers to anything missing. Not backed up: web
// sessions (short-lived; users sign in again) and the checkpoint lease
// (held by a running replica).
var streams = []struct {
	name, kind, holds string
	required          bool
}{
	{natsaccess.Stream, "stream", "access log", false},
	{"KV_" + natskv.TokensBucket, "kv", "API tokens (KV " + natskv.TokensBucket + ")", false},
	{"KV_" + natskv.PasswordsBucket, "kv", "password hashes (KV " + natskv.PasswordsBucket + ")", false},
	{tzjs.DefaultCheckpointStream, "stream", "signed checkpoints", false},
	{tzjs.DefaultCosignatureStream, "stream", "witness cosignatures", false},
	{tzjs.DefaultStream, "stream", "the ledger", true},
}

// Manifest is DIR/manifest.json: what a backup holds and the hash of every
// file in it.
type Manifest struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Source    struct {
		NATS  string `json:"nats"`
		Blobs string `json:"blobs"`
	} `json:"source"`
	Streams []ManifestStream `json:"streams"`
	Ledger  struct {
		Chains  int    `json:"chains"`
		Events  uint64 `json:"events"`
		LastSeq uint64 `json:"last_seq"`
	} `json:"ledger"`
	Blobs struct {
		Count int            `json:"count"`
		Bytes int64          `json:"bytes"`
		List  []ManifestBlob `json:"list"`
	} `json:"blobs"`
	// Problems found while backing up (a blob the ledger references that
	// is missing or corrupt at the source). A backup with problems fails
	// its check and is not restored.
	Problems []string `json:"problems,omitempty"`
}

// ManifestStream is one stream or KV bucket of a backup: its state when
// snapshotted and its files.
type ManifestStream struct {
	Name     string         `json:"name"`
	Kind     string         `json:"kind"` // "stream" or "kv"
	Holds    string         `json:"holds"`
	Messages uint64         `json:"messages"`
	Bytes    uint64         `json:"bytes"`
	FirstSeq uint64         `json:"first_seq"`
	LastSeq  uint64         `json:"last_seq"`
	Files    []ManifestFile `json:"files"`
}

// ManifestFile is one file of a stream's snapshot.
type ManifestFile struct {
	Path   string `json:"path"` // relative to the backup directory, with /
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ManifestBlob is one blob of a backup.
type ManifestBlob struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// snapshotMeta is the backup.json that jsm.go writes beside a snapshot.
type snapshotMeta struct {
	Config jsmapi.StreamConfig `json:"config"`
	State  jsmapi.StreamState  `json:"state"`
}

// blobWorkers is how many blobs are copied at once.
const blobWorkers = 4

// BlobPath is where a backup in dir keeps blob ref.
func BlobPath(dir, ref string) string { return filepath.Join(dir, "blobs", "sha256", ref) }

// Write writes a backup of st into dir, which must be new or empty: a
// snapshot of each of the service's streams (the server checks every
// message as it snapshots), then every blob the ledger in the backup
// references, then the manifest. It returns the manifest written (also
// when some blobs could not be copied: then with Problems, and an error).
// It never creates a ledger: a server without one is refused.
func Write(ctx context.Context, st Stores, dir string) (*Manifest, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty; back up into a new directory", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w", err)
	}
	js, err := jetstream.New(st.NC)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	// Never create a ledger to back it up.
	if _, err := js.Stream(ctx, tzjs.DefaultStream); errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("there is no ledger (stream %s) on this NATS server", tzjs.DefaultStream)
	} else if err != nil {
		return nil, fmt.Errorf("ledger stream: %w", err)
	}
	mgr, err := jsm.New(st.NC, jsm.WithTimeout(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("%w", err)
	}

	m := &Manifest{Format: Format, CreatedAt: time.Now().UTC()}
	m.Source.NATS, m.Source.Blobs = st.NATSName, st.BlobsName
	for _, s := range streams {
		if _, err := js.Stream(ctx, s.name); errors.Is(err, jetstream.ErrStreamNotFound) && !s.required {
			continue // never created: nothing to keep
		} else if err != nil {
			return nil, fmt.Errorf("stream %s: %w", s.name, err)
		}
		str, err := mgr.LoadStream(s.name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", s.name, err)
		}
		sdir := filepath.Join(dir, "streams", s.name)
		// The server checks every message of the stream as it snapshots.
		if _, err := str.SnapshotToDirectory(ctx, sdir, jsm.SnapshotHealthCheck()); err != nil {
			return nil, fmt.Errorf("snapshot of stream %s: %w", s.name, err)
		}
		meta, err := readSnapshotMeta(sdir)
		if err != nil {
			return nil, fmt.Errorf("%w", err)
		}
		ms := ManifestStream{Name: s.name, Kind: s.kind, Holds: s.holds, Messages: meta.State.Msgs,
			Bytes: meta.State.Bytes, FirstSeq: meta.State.FirstSeq, LastSeq: meta.State.LastSeq}
		ents, err := os.ReadDir(sdir)
		if err != nil {
			return nil, fmt.Errorf("%w", err)
		}
		for _, e := range ents {
			rel := "streams/" + s.name + "/" + e.Name()
			size, sum, err := hashFile(filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil {
				return nil, fmt.Errorf("%w", err)
			}
			ms.Files = append(ms.Files, ManifestFile{Path: rel, Size: size, SHA256: sum})
		}
		m.Streams = append(m.Streams, ms)
		if s.name == tzjs.DefaultStream {
			m.Ledger.Events, m.Ledger.LastSeq = meta.State.Msgs, meta.State.LastSeq
		}
	}

	// The blobs that the ledger in the backup references: a blob is stored
	// before the event that names it, so each is there.
	ledger, err := tzjs.Open(ctx, st.NC, tzjs.Config{Replicas: st.Replicas})
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	defer ledger.Close()
	chains, err := ledger.Units(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	m.Ledger.Chains = len(chains)
	sizes := map[string]int64{}
	err = ledger.Scan(ctx, 1, m.Ledger.LastSeq, func(seq uint64, data []byte) error {
		var ev struct {
			Attachments []ManifestBlob `json:"attachments"`
		}
		if json.Unmarshal(data, &ev) != nil {
			return nil // not an event (verify reports it); nothing it names
		}
		for _, a := range ev.Attachments {
			if _, err := blobstore.ParseRef(a.SHA256); err == nil {
				sizes[a.SHA256] = a.Size
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	blobs, err := st.Blobs(ctx)
	if err != nil {
		return nil, err
	}
	refs := make([]string, 0, len(sizes))
	for r := range sizes {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	probs, err := forEachBlob(ctx, refs, func(ctx context.Context, ref string) (string, error) {
		return copyBlobOut(ctx, blobs, ref, BlobPath(dir, ref))
	})
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	m.Problems = probs
	for _, r := range refs {
		if fi, err := os.Stat(BlobPath(dir, r)); err == nil {
			m.Blobs.List = append(m.Blobs.List, ManifestBlob{SHA256: r, Size: fi.Size()})
			m.Blobs.Bytes += fi.Size()
		}
	}
	m.Blobs.Count = len(m.Blobs.List)
	if err := writeManifest(dir, m); err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	if len(m.Problems) > 0 {
		return m, fmt.Errorf("%d referenced blobs could not be copied (%s); the backup is incomplete and will not restore: run taizhang verify on the source",
			len(m.Problems), m.Problems[0])
	}
	return m, nil
}

// forEachBlob runs fn on every ref with blobWorkers at once. fn returns a
// problem with that blob (it is then not in the backup or target), or an
// error that stops the whole run.
func forEachBlob(ctx context.Context, refs []string, fn func(ctx context.Context, ref string) (string, error)) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		problems []string
		first    error
		wg       sync.WaitGroup
	)
	next := make(chan string)
	for range min(blobWorkers, max(1, len(refs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ref := range next {
				p, err := fn(ctx, ref)
				mu.Lock()
				if err != nil && first == nil {
					first = err
					cancel()
				}
				if p != "" {
					problems = append(problems, p)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, r := range refs {
		select {
		case next <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.Sort(problems)
	return problems, nil
}

// copyBlobOut copies the verified bytes of ref from the store to path
// (through a temporary file, synced, then renamed).
func copyBlobOut(ctx context.Context, blobs blobstore.Store, ref, path string) (string, error) {
	r, err := blobstore.ParseRef(ref)
	if err != nil {
		return "", err
	}
	rc, _, err := blobstore.Open(ctx, blobs, r)
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		return fmt.Sprintf("blob %s: referenced by the ledger but not in the blob store", ref), nil
	case err != nil:
		return "", fmt.Errorf("blob %s: %w", ref, err)
	}
	defer rc.Close()
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, rc)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, blobstore.ErrCorrupt) {
		os.Remove(tmp)
		return fmt.Sprintf("blob %s: stored bytes do not match their digest", ref), nil
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("blob %s: %w", ref, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return "", nil
}

func readSnapshotMeta(sdir string) (*snapshotMeta, error) {
	b, err := os.ReadFile(filepath.Join(sdir, jsm.SnapshotMetaFile))
	if err != nil {
		return nil, fmt.Errorf("snapshot metadata: %w", err)
	}
	var meta snapshotMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("snapshot metadata %s: %w", filepath.Join(sdir, jsm.SnapshotMetaFile), err)
	}
	return &meta, nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// writeManifest writes DIR/manifest.json last, through a synced temporary
// file: a directory without it is an unfinished backup.
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "manifest.json.tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "manifest.json")); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Check reads DIR/manifest.json and checks the backup against it:
// every stream file is there with its size and SHA-256, each snapshot's
// own state agrees with the manifest, the ledger is there, and every blob
// file is there, of its size, and hashes to its name. It returns the
// manifest and the problems found; the error is for a directory that is
// not a backup at all (no or unreadable manifest, another format).
func Check(dir string) (*Manifest, []string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s is not a finished backup: it has no manifest.json", dir)
	}
	if err != nil {
		return nil, nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	if m.Format != Format {
		return nil, nil, fmt.Errorf("%s/manifest.json: format %q, want %q", dir, m.Format, Format)
	}
	problems := slices.Clone(m.Problems)
	hasLedger := false
	seen := map[string]bool{}
	for _, s := range m.Streams {
		if !knownStream(s.Name) || seen[s.Name] {
			problems = append(problems, fmt.Sprintf("stream %q: not one that a backup holds, or twice", s.Name))
			continue
		}
		seen[s.Name] = true
		if s.Name == tzjs.DefaultStream {
			hasLedger = true
			if s.Messages != m.Ledger.Events || s.LastSeq != m.Ledger.LastSeq {
				problems = append(problems, fmt.Sprintf("ledger: the manifest says %d events to seq %d, the stream %d to seq %d",
					m.Ledger.Events, m.Ledger.LastSeq, s.Messages, s.LastSeq))
			}
		}
		for _, f := range s.Files {
			if strings.Contains(f.Path, "..") || filepath.IsAbs(f.Path) {
				problems = append(problems, fmt.Sprintf("%s: a path outside the backup", f.Path))
				continue
			}
			size, sum, err := hashFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s: %v", f.Path, err))
			case size != f.Size || sum != f.SHA256:
				problems = append(problems, fmt.Sprintf("%s: %d bytes with SHA-256 %s, the manifest says %d bytes %s", f.Path, size, sum, f.Size, f.SHA256))
			}
		}
		meta, err := readSnapshotMeta(filepath.Join(dir, "streams", s.Name))
		if err != nil {
			problems = append(problems, fmt.Sprintf("stream %s: %v", s.Name, err))
		} else if meta.Config.Name != s.Name || meta.State.Msgs != s.Messages || meta.State.LastSeq != s.LastSeq {
			problems = append(problems, fmt.Sprintf("stream %s: the snapshot holds %q with %d messages to seq %d, the manifest says %d to seq %d",
				s.Name, meta.Config.Name, meta.State.Msgs, meta.State.LastSeq, s.Messages, s.LastSeq))
		}
	}
	if !hasLedger {
		problems = append(problems, "the backup holds no ledger stream "+tzjs.DefaultStream)
	}
	if len(m.Blobs.List) != m.Blobs.Count {
		problems = append(problems, fmt.Sprintf("blobs: the manifest counts %d but lists %d", m.Blobs.Count, len(m.Blobs.List)))
	}
	refs := make([]string, len(m.Blobs.List))
	want := map[string]int64{}
	for i, bl := range m.Blobs.List {
		refs[i], want[bl.SHA256] = bl.SHA256, bl.Size
	}
	probs, err := forEachBlob(context.Background(), refs, func(_ context.Context, ref string) (string, error) {
		if _, err := blobstore.ParseRef(ref); err != nil {
			return fmt.Sprintf("blob %q: not a digest", ref), nil
		}
		size, sum, err := hashFile(BlobPath(dir, ref))
		switch {
		case err != nil:
			return fmt.Sprintf("blob %s: %v", ref, err), nil
		case sum != ref:
			return fmt.Sprintf("blob %s: its bytes hash to %s", ref, sum), nil
		case size != want[ref]:
			return fmt.Sprintf("blob %s: %d bytes, the manifest says %d", ref, size, want[ref]), nil
		}
		return "", nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &m, append(problems, probs...), nil
}

// knownStream reports whether name is one of streams.
func knownStream(name string) bool {
	return slices.ContainsFunc(streams, func(s struct {
		name, kind, holds string
		required          bool
	}) bool {
		return s.name == name
	})
}

// inRestoreOrder returns the manifest's streams in streams order, the
// ledger last, whatever order the manifest lists them in.
func inRestoreOrder(list []ManifestStream) []ManifestStream {
	var out []ManifestStream
	for _, b := range streams {
		for _, s := range list {
			if s.Name == b.name {
				out = append(out, s)
			}
		}
	}
	return out
}

// Summary writes what the backup in dir holds, a few lines for a person.
func (m *Manifest) Summary(w io.Writer, dir string) {
	fmt.Fprintf(w, "backup %s (%s, made %s)\n", dir, m.Format, m.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(w, "  from NATS %s, blobs %s\n", m.Source.NATS, m.Source.Blobs)
	for _, s := range m.Streams {
		fmt.Fprintf(w, "  %-24s %8d messages  seq %d..%d  %s\n", s.Name, s.Messages, s.FirstSeq, s.LastSeq, s.Holds)
	}
	fmt.Fprintf(w, "  ledger: %d chains, %d events, last seq %d\n", m.Ledger.Chains, m.Ledger.Events, m.Ledger.LastSeq)
	fmt.Fprintf(w, "  blobs: %d (%.1f MiB)\n", m.Blobs.Count, float64(m.Blobs.Bytes)/(1<<20))
}

// ErrTargetHasLedger is the refusal of a restore onto a ledger.
var ErrTargetHasLedger = errors.New("the target already holds a ledger")

// Restore restores the backup m in dir (checked with Check) into st,
// which must hold none of its streams: the blobs first (each read back
// verified), then the streams in backup order, the ledger last, each with
// st's replica count; then the restored ledger must open.
func Restore(ctx context.Context, st Stores, dir string, m *Manifest) error {
	js, err := jetstream.New(st.NC)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	var present []string
	for _, s := range m.Streams {
		info, err := js.Stream(ctx, s.Name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			continue
		case err != nil:
			return fmt.Errorf("stream %s: %w", s.Name, err)
		case s.Name == tzjs.DefaultStream:
			return fmt.Errorf("%w: stream %s has %d events; restore only into a fresh NATS cluster (or a new --data directory)",
				ErrTargetHasLedger, s.Name, info.CachedInfo().State.Msgs)
		}
		present = append(present, s.Name)
	}
	if len(present) > 0 {
		return fmt.Errorf("the target has no ledger but already has stream(s) %s, left by an interrupted restore or another service; delete them (nats stream rm NAME) or use a fresh cluster",
			strings.Join(present, ", "))
	}
	mgr, err := jsm.New(st.NC, jsm.WithTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("%w", err)
	}

	blobs, err := st.Blobs(ctx)
	if err != nil {
		return err
	}
	refs := make([]string, len(m.Blobs.List))
	for i, b := range m.Blobs.List {
		refs[i] = b.SHA256
	}
	probs, err := forEachBlob(ctx, refs, func(ctx context.Context, ref string) (string, error) {
		return "", putBlob(ctx, blobs, ref, BlobPath(dir, ref))
	})
	if err == nil && len(probs) > 0 {
		err = errors.New(probs[0])
	}
	if err != nil {
		return fmt.Errorf("blobs: %w", err)
	}

	for _, s := range inRestoreOrder(m.Streams) {
		sdir := filepath.Join(dir, "streams", s.Name)
		meta, err := readSnapshotMeta(sdir)
		if err != nil {
			return fmt.Errorf("%w", err)
		}
		cfg := meta.Config
		cfg.Replicas = st.Replicas
		cfg.Placement = nil // the source's cluster and tags need not exist here
		if s.Kind == "stream" && (s.Name == tzjs.DefaultStream || s.Name == tzjs.DefaultCheckpointStream || s.Name == tzjs.DefaultCosignatureStream) {
			cfg.AllowDirect = st.Replicas == 1 // as the ledger creates them
		} else if s.Kind == "stream" && st.Replicas > 1 {
			cfg.AllowDirect = false
		}
		_, state, err := mgr.RestoreSnapshotFromDirectory(ctx, s.Name, sdir, jsm.RestoreConfiguration(cfg))
		if err != nil {
			return fmt.Errorf("stream %s: %w", s.Name, err)
		}
		if state == nil || state.Msgs != s.Messages || state.LastSeq != s.LastSeq {
			return fmt.Errorf("stream %s: restored %+v, the backup holds %d messages to seq %d", s.Name, state, s.Messages, s.LastSeq)
		}
	}
	// The restored ledger opens: its configuration keeps the ledger's
	// promises.
	ledger, err := tzjs.Open(ctx, st.NC, tzjs.Config{Replicas: st.Replicas})
	if err != nil {
		return fmt.Errorf("the restored ledger: %w", err)
	}
	ledger.Close()
	return nil
}

// putBlob stores the backup's file for ref in the target store and reads it
// back verified.
func putBlob(ctx context.Context, blobs blobstore.Store, ref, path string) error {
	r, err := blobstore.ParseRef(ref)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := blobs.Put(ctx, r, fi.Size(), f); err != nil {
		return fmt.Errorf("blob %s: %w", ref, err)
	}
	if _, err := blobstore.Verify(ctx, blobs, r); err != nil {
		return fmt.Errorf("blob %s after storing it: %w", ref, err)
	}
	return nil
}
