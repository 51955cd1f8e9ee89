package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"taizhang/events/checkpoint"
	"taizhang/internal/atomicfile"
)

// Config configures a witness.
type Config struct {
	// Dir is the state directory (see Init).
	Dir string
	// URL is the taizhang server's base URL; Token a bearer token of a
	// role that may post cosignatures (a supervisor's).
	URL   string
	Token string
	// LogKey, if set, is the log's checkpoint verifier key; it must match
	// the one pinned in the state, and is pinned if none is.
	LogKey string
	// HTTP is the client (a 30 s timeout client if nil).
	HTTP *http.Client
	// Log receives what the witness does (discarded if nil).
	Log *slog.Logger
	// Now is the clock of the cosignatures' timestamps (time.Now if nil).
	Now func() time.Time
}

// Witness cosigns one log's checkpoints.
type Witness struct {
	cfg    Config
	signer *checkpoint.Cosigner
}

// New returns the witness of cfg.Dir.
func New(cfg Config) (*Witness, error) {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	if _, err := url.Parse(cfg.URL); err != nil || cfg.URL == "" {
		return nil, fmt.Errorf("witness: server URL %q: %v", cfg.URL, err)
	}
	s, err := loadKey(cfg.Dir, cfg.Now)
	if err != nil {
		return nil, err
	}
	return &Witness{cfg: cfg, signer: s}, nil
}

// Result is what one round did.
type Result struct {
	Checkpoint checkpoint.Checkpoint
	Seq        uint64
	// Cosigned is true if this round cosigned a checkpoint it had not
	// cosigned before; Posted if the server recorded the cosignature now
	// (false: it already held it).
	Cosigned, Posted bool
	// Evidence is the directory of the evidence kept, on a refusal.
	Evidence string
}

// Once runs one round: fetch the latest checkpoint, check it, cosign and
// post. A checkpoint inconsistent with the last one cosigned is refused
// with an error wrapping ErrInconsistent, after its evidence is written
// under Dir/evidence (Result.Evidence).
func (w *Witness) Once(ctx context.Context) (Result, error) {
	unlock, err := lock(w.cfg.Dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	st, err := LoadState(w.cfg.Dir)
	if err != nil {
		return Result{}, err
	}
	logKey, err := w.logKey(ctx, st)
	if err != nil {
		return Result{}, err
	}
	op, err := checkpoint.NewVerifier(logKey)
	if err != nil {
		return Result{}, fmt.Errorf("log key: %w", err)
	}
	var latest checkpoint.Stored
	if err := w.getJSON(ctx, "/api/v1/checkpoints/latest", &latest); err != nil {
		return Result{}, err
	}
	// Only the operator's line is kept: other witnesses' cosignatures
	// are not this witness's business.
	offered, cp, err := operatorNote([]byte(latest.Note), op)
	if err != nil {
		return Result{}, fmt.Errorf("checkpoint %d from %s: %w", latest.Seq, w.cfg.URL, err)
	}
	if cp.Origin != op.Name() {
		return Result{}, fmt.Errorf("checkpoint %d: origin %q, but the log key is named %q", latest.Seq, cp.Origin, op.Name())
	}
	res := Result{Checkpoint: cp, Seq: latest.Seq}
	if st.LogKey == "" {
		st.LogKey = logKey
	}
	st.URL = w.cfg.URL
	body, _, _ := checkpoint.SplitNote(offered)
	if last := st.Last; last != nil {
		switch {
		case cp.Size < last.Size:
			return w.refuse(res, st, offered, nil, fmt.Sprintf("the log's latest checkpoint (#%d) holds %d events, fewer than the %d of checkpoint #%d this witness cosigned: the log was rolled back",
				latest.Seq, cp.Size, last.Size, last.Seq))
		case cp.Size == last.Size && cp.Root != last.Root:
			return w.refuse(res, st, offered, nil, fmt.Sprintf("checkpoint #%d has %d events and root %s; checkpoint #%d this witness cosigned has the same size and root %s: two different trees",
				latest.Seq, cp.Size, cp.Root, last.Seq, last.Root))
		case cp.Size == last.Size:
			if lb, _, err := checkpoint.SplitNote([]byte(last.Note)); err == nil && bytes.Equal(lb, body) {
				// Nothing new: make sure the server holds our line.
				posted, err := w.post(ctx, latest.Seq, last.Cosignature)
				res.Posted = posted
				return res, err
			}
			// The same tree re-signed: cosign this note too.
		default:
			var p checkpoint.ConsistencyProof
			path := fmt.Sprintf("/api/v1/proofs/consistency?from=%d&to=%d", last.Size, cp.Size)
			if err := w.getJSON(ctx, path, &p); err != nil {
				return Result{}, fmt.Errorf("consistency proof from %d to %d: %w", last.Size, cp.Size, err)
			}
			if err := checkpoint.VerifyConsistency(last.Size, cp.Size, p.Hashes, last.Root, cp.Root); err != nil || p.From != last.Size || p.To != cp.Size {
				if err == nil {
					err = fmt.Errorf("the proof is for sizes %d to %d", p.From, p.To)
				}
				return w.refuse(res, st, offered, &p, fmt.Sprintf("checkpoint #%d (%d events, root %s) is not proven consistent with checkpoint #%d (%d events, root %s) this witness cosigned: %v",
					latest.Seq, cp.Size, cp.Root, last.Seq, last.Size, last.Root, err))
			}
		}
	}
	line, err := checkpoint.Cosign(body, w.signer)
	if err != nil {
		return Result{}, err
	}
	c := &Cosigned{Seq: latest.Seq, Size: cp.Size, Root: cp.Root, Note: string(checkpoint.AppendSignatures(offered, line)), Cosignature: line, At: w.cfg.Now().UTC()}
	st.Last = c
	// Recorded before the cosignature leaves: after a crash the witness
	// still knows what it vouched for.
	if err := saveState(w.cfg.Dir, st); err != nil {
		return Result{}, err
	}
	if err := appendHistory(w.cfg.Dir, c); err != nil {
		return Result{}, err
	}
	res.Cosigned = true
	w.cfg.Log.Info("witness: cosigned", "checkpoint", latest.Seq, "size", cp.Size, "root", cp.Root.String())
	res.Posted, err = w.post(ctx, latest.Seq, line)
	return res, err
}

// operatorNote checks msg's operator signature and returns the note with
// only the operator's signature line, and the checkpoint.
func operatorNote(msg []byte, op note.Verifier) ([]byte, checkpoint.Checkpoint, error) {
	w, err := checkpoint.CheckWitnessed(msg, op, nil, 0)
	if err != nil {
		return nil, checkpoint.Checkpoint{}, err
	}
	_, sigs, _ := checkpoint.SplitNote(msg)
	out := append(bytes.Clone(w.Body), '\n')
	for _, s := range sigs {
		if s.Name == op.Name() && s.Hash == op.KeyHash() {
			out = append(append(out, s.Line...), '\n')
			break
		}
	}
	return out, w.Checkpoint, nil
}

// logKey returns the pinned log key, checking cfg.LogKey against it; with
// none pinned or given, the server's, trusted on first use.
func (w *Witness) logKey(ctx context.Context, st *State) (string, error) {
	given := strings.TrimSpace(w.cfg.LogKey)
	switch {
	case st.LogKey != "" && given != "" && given != st.LogKey:
		return "", fmt.Errorf("the log key given (%s) is not the one pinned in %s (%s)", given, filepath.Join(w.cfg.Dir, StateFile), st.LogKey)
	case st.LogKey != "":
		return st.LogKey, nil
	case given != "":
		return given, nil
	}
	var k struct{ Key string }
	if err := w.getJSON(ctx, "/api/v1/checkpoints/key", &k); err != nil {
		return "", fmt.Errorf("log key: %w", err)
	}
	w.cfg.Log.Warn("witness: no log key pinned; trusting the server's on first use (give --log-key to pin the one the operator publishes)", "key", k.Key)
	return k.Key, nil
}

// refuse keeps the evidence of an inconsistent checkpoint and returns the
// error.
func (w *Witness) refuse(res Result, st *State, offered []byte, proof *checkpoint.ConsistencyProof, why string) (Result, error) {
	dir, err := w.keepEvidence(st, res.Seq, offered, proof, why)
	res.Evidence = dir
	w.cfg.Log.Error("witness: REFUSING to cosign: the log showed a checkpoint inconsistent with one this witness cosigned; evidence kept for the supervisor",
		"why", why, "evidence", dir, "server", w.cfg.URL)
	if err != nil {
		return res, fmt.Errorf("%w: %s (and keeping the evidence failed: %v)", ErrInconsistent, why, err)
	}
	return res, fmt.Errorf("%w: %s; evidence in %s", ErrInconsistent, why, dir)
}

// Evidence is evidence/<dir>/report.json.
type Evidence struct {
	Server    string                       `json:"server"`
	Found     time.Time                    `json:"found"`
	Why       string                       `json:"why"`
	Cosigned  *Cosigned                    `json:"cosigned"`
	Offered   uint64                       `json:"offered_checkpoint"`
	Proof     *checkpoint.ConsistencyProof `json:"proof,omitempty"`
	Witness   string                       `json:"witness"`
	LogKey    string                       `json:"log_key"`
	Checkable string                       `json:"how_to_check"`
}

func (w *Witness) keepEvidence(st *State, seq uint64, offered []byte, proof *checkpoint.ConsistencyProof, why string) (string, error) {
	now := w.cfg.Now().UTC()
	dir := filepath.Join(w.cfg.Dir, EvidenceDir, fmt.Sprintf("%s-checkpoint-%d", now.Format("20060102T150405.000000000Z"), seq))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return dir, fmt.Errorf("evidence: %w", err)
	}
	if err := atomicfile.Write(dir, "cosigned.note", []byte(st.Last.Note), 0o600); err != nil {
		return dir, err
	}
	if err := atomicfile.Write(dir, "offered.note", offered, 0o600); err != nil {
		return dir, err
	}
	if proof != nil {
		b, _ := json.MarshalIndent(proof, "", "  ")
		if err := atomicfile.Write(dir, "proof.json", append(b, '\n'), 0o600); err != nil {
			return dir, err
		}
	}
	ev := Evidence{Server: w.cfg.URL, Found: now, Why: why, Cosigned: st.Last, Offered: seq, Proof: proof, Witness: w.signer.VerifierKey(), LogKey: st.LogKey,
		Checkable: "both notes carry the log's signature (log_key): cosigned.note, also signed by this witness, and offered.note are two statements by the operator that no single append-only history satisfies" +
			"; proof.json, if present, is the consistency proof the server gave, which fails checkpoint.VerifyConsistency"}
	b, _ := json.MarshalIndent(ev, "", "  ")
	if err := atomicfile.Write(dir, "report.json", append(b, '\n'), 0o600); err != nil {
		return dir, err
	}
	return dir, nil
}

// post sends a cosignature line of checkpoint seq; posted is true if the
// server recorded it now (201), false if it held it already (200).
func (w *Witness) post(ctx context.Context, seq uint64, line string) (posted bool, err error) {
	body, _ := json.Marshal(map[string]string{"cosignature": line, "key": w.signer.VerifierKey()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL+"/api/v1/checkpoints/"+strconv.FormatUint(seq, 10)+"/cosignatures", bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("post cosignature: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	status, b, err := w.do(req)
	if err != nil {
		return false, fmt.Errorf("post cosignature of checkpoint %d: %w", seq, err)
	}
	switch status {
	case http.StatusCreated:
		return true, nil
	case http.StatusOK:
		return false, nil
	}
	return false, fmt.Errorf("post cosignature of checkpoint %d: %d %s", seq, status, strings.TrimSpace(string(b)))
}

// client is the HTTP side of a witness.
type client struct {
	url, token string
	http       *http.Client
}

func (w *Witness) getJSON(ctx context.Context, path string, v any) error {
	return w.client().getJSON(ctx, path, v)
}

func (w *Witness) do(req *http.Request) (int, []byte, error) { return w.client().do(req) }

func (w *Witness) client() client { return client{w.cfg.URL, w.cfg.Token, w.cfg.HTTP} }

// ServerProofs returns a ProofFunc that asks the taizhang server at url
// (with token, if not empty) for consistency proofs.
func ServerProofs(url, token string, hc *http.Client) ProofFunc {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := client{strings.TrimSuffix(url, "/"), token, hc}
	return func(ctx context.Context, from, to uint64) (checkpoint.ConsistencyProof, error) {
		var p checkpoint.ConsistencyProof
		err := c.getJSON(ctx, fmt.Sprintf("/api/v1/proofs/consistency?from=%d&to=%d", from, to), &p)
		return p, err
	}
}

func (c client) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	status, b, err := c.do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (c client) do(req *http.Request) (int, []byte, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// Run runs a round every interval until ctx is done or a round refuses a
// checkpoint (that error, wrapping ErrInconsistent, is returned: a
// witness that caught the log stops). Other errors (the server is down,
// say) are logged and the next round tries again.
func (w *Witness) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := w.Once(ctx)
		switch {
		case errors.Is(err, ErrInconsistent):
			return err
		case ctx.Err() != nil:
			return nil
		case err != nil:
			w.cfg.Log.Warn("witness: round failed; trying again next interval", "err", err, "interval", interval.String())
		case !res.Cosigned && !res.Posted:
			w.cfg.Log.Debug("witness: nothing new", "checkpoint", res.Seq, "size", res.Checkpoint.Size)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
