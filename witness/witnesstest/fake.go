// Package witnesstest is a fake taizhang checkpoint server for witness
// tests: it keeps one Merkle tree per view and shows each bearer token the
// view it is assigned, so a test can show two witnesses two different
// trees (a split view) signed with the same log key. It serves the routes
// a witness uses: the log key, the latest checkpoint, consistency proofs
// and cosignature posts (checked with the real cosignature verifier).
package witnesstest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"taizhang/events"
	"taizhang/events/checkpoint"
)

// Origin is the fake log's origin and key name.
const Origin = "taizhang/FAKE"

// Log is the fake server. Its zero value is not usable; see New.
type Log struct {
	signer note.Signer
	// VerifierKey is the log's checkpoint verifier key.
	VerifierKey string

	mu     sync.Mutex
	views  map[string]*view // by view name
	tokens map[string]string
	posts  []Post
	now    time.Time
}

type view struct {
	tree *checkpoint.Log
	cps  []checkpoint.Stored
}

// Post is a cosignature the fake server accepted.
type Post struct {
	View, Token string
	Checkpoint  uint64
	Line, Key   string
}

// New returns a fake log with a fresh key and no views.
func New() (*Log, error) {
	skey, vkey, err := checkpoint.GenerateKey(Origin)
	if err != nil {
		return nil, err
	}
	s, err := checkpoint.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	return &Log{signer: s, VerifierKey: vkey, views: map[string]*view{}, tokens: map[string]string{}, now: time.Unix(1800000000, 0).UTC()}, nil
}

// Show assigns a view to a bearer token (the view is made if new).
func (l *Log) Show(token, viewName string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens[token] = viewName
	if l.views[viewName] == nil {
		l.views[viewName] = &view{tree: checkpoint.NewLog()}
	}
}

// Grow appends n events (hashes derived from salt) to a view and signs a
// checkpoint of it, returned.
func (l *Log) Grow(viewName string, n int, salt string) checkpoint.Stored {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.views[viewName]
	if v == nil {
		v = &view{tree: checkpoint.NewLog()}
		l.views[viewName] = v
	}
	for i := range n {
		v.tree.Append("cun-1", events.Hash(sha256.Sum256(fmt.Appendf(nil, "%s %d %d", salt, v.tree.Size(), i))))
	}
	size := v.tree.Size()
	root, _ := v.tree.Root(size)
	heads, _ := v.tree.Heads(size)
	l.now = l.now.Add(time.Minute)
	cp := checkpoint.Checkpoint{Origin: Origin, Size: size, Root: root, Time: l.now, Units: uint64(len(heads)), UnitsRoot: checkpoint.HeadsRoot(heads)}
	msg, err := checkpoint.Sign(cp, l.signer)
	if err != nil {
		panic(err) // the key is the log's own
	}
	s := checkpoint.Stored{Seq: uint64(len(v.cps) + 1), Checkpoint: cp, Note: string(msg)}
	v.cps = append(v.cps, s)
	return s
}

// Posts returns the cosignatures accepted so far.
func (l *Log) Posts() []Post {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Post(nil), l.posts...)
}

func (l *Log) viewOf(r *http.Request) (string, *view, bool) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	name, ok := l.tokens[tok]
	if !ok {
		return "", nil, false
	}
	return name, l.views[name], true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP serves the witness routes.
func (l *Log) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name, v, ok := l.viewOf(r)
	if !ok {
		writeJSON(w, 401, map[string]string{"error": "unknown token"})
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/v1/checkpoints/key":
		writeJSON(w, 200, map[string]string{"key": l.VerifierKey})
	case r.Method == "GET" && r.URL.Path == "/api/v1/checkpoints/latest":
		if len(v.cps) == 0 {
			writeJSON(w, 404, map[string]string{"error": "no checkpoint"})
			return
		}
		writeJSON(w, 200, v.cps[len(v.cps)-1])
	case r.Method == "GET" && r.URL.Path == "/api/v1/proofs/consistency":
		from, _ := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
		to, _ := strconv.ParseUint(r.URL.Query().Get("to"), 10, 64)
		p := checkpoint.ConsistencyProof{From: from, To: to}
		var err error
		if p.FromRoot, err = v.tree.Root(from); err == nil {
			if p.ToRoot, err = v.tree.Root(to); err == nil {
				p.Hashes, err = v.tree.Consistency(from, to)
			}
		}
		if err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, p)
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/api/v1/checkpoints/") && strings.HasSuffix(r.URL.Path, "/cosignatures"):
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/checkpoints/"), "/cosignatures"), 10, 64)
		if err != nil || seq < 1 || seq > uint64(len(v.cps)) {
			writeJSON(w, 404, map[string]string{"error": "no such checkpoint"})
			return
		}
		var in struct{ Cosignature, Key string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		cv, err := checkpoint.NewCosignatureVerifier(in.Key)
		if err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		body, _, _ := checkpoint.SplitNote([]byte(v.cps[seq-1].Note))
		if _, err := checkpoint.CheckCosignature(body, in.Cosignature, cv); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		for _, p := range l.posts {
			if p.View == name && p.Checkpoint == seq && p.Line == in.Cosignature {
				writeJSON(w, 200, map[string]string{"ok": "already"})
				return
			}
		}
		l.posts = append(l.posts, Post{View: name, Token: r.Header.Get("Authorization"), Checkpoint: seq, Line: in.Cosignature, Key: in.Key})
		writeJSON(w, 201, map[string]string{"ok": "recorded"})
	default:
		writeJSON(w, 404, map[string]string{"error": "no route"})
	}
}
