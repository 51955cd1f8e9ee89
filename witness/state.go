// Package witness is taizhang's checkpoint witness: a process anyone (a
// discipline supervisor, say) runs on their own machine with their own
// Ed25519 key and state directory. It fetches the ledger's latest signed
// checkpoint, checks the operator's signature and that the checkpoint is
// consistent with the last one it cosigned (a consistency proof from the
// server, checked with the Merkle library's verifier), cosigns it in the
// C2SP tlog-cosignature format and posts the cosignature back. Shown a
// checkpoint inconsistent with one it cosigned, it refuses, keeps both
// checkpoints and the failed proof in its state directory as evidence, and
// stops. Compare checks two witnesses' states against each other, which
// catches a server that showed them different trees.
//
// The state directory holds:
//
//	witness.key     the signer key (mode 0600), made by Init
//	witness.pub     its verifier key, to give to whoever verifies
//	state.json      the log's pinned public key and the last cosigned checkpoint
//	history.jsonl   every checkpoint cosigned (sequence, size, root, time, note), one a line
//	evidence/       one directory per refusal: the two checkpoints, the proof, what failed
//
// state.json is replaced atomically (temporary file, fsync, rename, fsync
// of the directory) before a cosignature leaves the process, so a crash
// can never make the witness forget what it vouched for.
package witness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"taizhang/events/checkpoint"
	"taizhang/internal/atomicfile"
)

// Files of the state directory.
const (
	KeyFile      = "witness.key"
	PubFile      = "witness.pub"
	StateFile    = "state.json"
	HistoryFile  = "history.jsonl"
	EvidenceDir  = "evidence"
	lockFile     = "lock"
	stateVersion = 1
)

// ErrInconsistent is the refusal: the log showed a checkpoint that is not
// consistent with one this witness cosigned.
var ErrInconsistent = errors.New("INCONSISTENT CHECKPOINT: the log is not append-only, or shows different histories")

// Cosigned is a checkpoint this witness cosigned.
type Cosigned struct {
	Seq         uint64          `json:"checkpoint"`
	Size        uint64          `json:"tree_size"`
	Root        checkpoint.Hash `json:"root_hash"`
	Note        string          `json:"note"`        // the operator-signed note with this witness's line
	Cosignature string          `json:"cosignature"` // this witness's line
	At          time.Time       `json:"cosigned_at"`
}

// State is state.json.
type State struct {
	Version int `json:"version"`
	// LogKey is the operator's checkpoint verifier key, pinned at init or
	// on the first run.
	LogKey string    `json:"log_key,omitempty"`
	URL    string    `json:"url,omitempty"`
	Last   *Cosigned `json:"last,omitempty"`
}

// Init makes a state directory with a new witness key named name and
// returns its verifier key. logKey, if not empty, pins the log's
// checkpoint verifier key. An existing key is never overwritten.
func Init(dir, name, logKey string) (vkey string, err error) {
	if logKey != "" {
		if _, err := checkpoint.NewVerifier(logKey); err != nil {
			return "", fmt.Errorf("log key: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("witness state: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
		return "", fmt.Errorf("witness state %s already holds a key (%s): not overwriting it", dir, KeyFile)
	}
	skey, vkey, err := checkpoint.GenerateCosignerKey(nil, name)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(dir, KeyFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write witness key: %w", err)
	}
	_, err = f.WriteString(skey + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write witness key: %w", err)
	}
	if err := atomicfile.Write(dir, PubFile, []byte(vkey+"\n"), 0o644); err != nil {
		return "", err
	}
	st := State{Version: stateVersion, LogKey: strings.TrimSpace(logKey)}
	if err := saveState(dir, &st); err != nil {
		return "", err
	}
	return vkey, nil
}

// loadKey reads the witness's signer key.
func loadKey(dir string, now func() time.Time) (*checkpoint.Cosigner, error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("witness key (run taizhang witness init --state %s): %w", dir, err)
	}
	return checkpoint.NewCosigner(string(b), now)
}

// PublicKey returns the verifier key of the witness in dir.
func PublicKey(dir string) (string, error) {
	c, err := loadKey(dir, nil)
	if err != nil {
		return "", err
	}
	return c.VerifierKey(), nil
}

// LoadState reads dir's state.json.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("witness state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("witness state %s: %w", filepath.Join(dir, StateFile), err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("witness state %s: version %d, this witness reads %d", filepath.Join(dir, StateFile), st.Version, stateVersion)
	}
	return &st, nil
}

func saveState(dir string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	return atomicfile.Write(dir, StateFile, append(b, '\n'), 0o600)
}

// appendHistory appends c's sequence, size, root, time and note to
// history.jsonl, fsynced; a torn last line left by a crash is cut off
// first.
func appendHistory(dir string, c *Cosigned) error {
	p := filepath.Join(dir, HistoryFile)
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
		if err := os.Truncate(p, int64(bytes.LastIndexByte(b, '\n')+1)); err != nil {
			return fmt.Errorf("witness history: cut a torn line: %w", err)
		}
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("witness history: %w", err)
	}
	b, _ := json.Marshal(HistoryEntry{Seq: c.Seq, Size: c.Size, Root: c.Root, At: c.At, Note: c.Note})
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("witness history: %w", err)
	}
	return nil
}

// HistoryEntry is one line of history.jsonl.
type HistoryEntry struct {
	Seq  uint64          `json:"checkpoint"`
	Size uint64          `json:"tree_size"`
	Root checkpoint.Hash `json:"root_hash"`
	At   time.Time       `json:"cosigned_at"`
	Note string          `json:"note"` // the operator's note with this witness's line
}

// History reads dir's history.jsonl (empty if there is none). A last line
// without its newline (torn by a crash while appending) is passed over:
// state.json, written first, records that cosignature. Any other line
// that does not parse is an error.
func History(dir string) ([]HistoryEntry, error) {
	b, err := os.ReadFile(filepath.Join(dir, HistoryFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("witness history: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	lines = lines[:len(lines)-1] // after the last newline: empty, or torn
	out := make([]HistoryEntry, 0, len(lines))
	for n, l := range lines {
		var h HistoryEntry
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			return out, fmt.Errorf("witness history %s line %d: %w", filepath.Join(dir, HistoryFile), n+1, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// lock takes dir's lock file, so that two witness processes never share a
// state directory.
func lock(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("witness lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("witness state %s is in use by another witness process: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
