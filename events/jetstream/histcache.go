package jetstream

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"taizhang/internal/spool"
)

// histCache is a local copy of the stream's messages, kept in a spool
// file with each chain's list of sequences, so that a chain's history is
// read from local disk rather than from the server. Units interleave in
// the stream: a chain's history read from the server touches every block
// of it, which at a million events made one unit's history take seconds
// cold and had the server cache the whole stream while histories were
// being read.
//
// It is fed, like the id index, by the projection's Follow of the whole
// stream from its start (feed), and serves a read only if it holds every
// message up to the read's end; otherwise the read goes to the server.
// What it serves is what a filtered read of the stream returns: every
// message stored on the chain's subject, in order, as stored.
//
// The copy outlives the process (copy.go): its file holds every message
// of the stream in order (subject, the id index's headers, body), and a
// record of how far the file is durable is saved now and then and at
// Close. At the next Open the copy is checked against the stream (the
// same stream, still holding what the copy claims, every chain's last
// message in the copy identical to the stream's); if it holds, a Follow
// from the start reads the messages up to there from the file instead of
// the server (replay), and the file is not written again.
type histCache struct {
	dir     string
	prefix  string
	mu      sync.RWMutex
	f       *spool.File
	applied uint64 // every message up to here was fed (0: none)
	chains  map[string][]histEntry
	broken  error // a write failed: the cache serves nothing more
	hits    atomic.Int64
	rec     []byte // feed's record buffer

	// The copy at Open: messages 1..local are the file's first localLen
	// bytes, which Follow replays from there. 0 if the file was made new.
	local    uint64
	localLen int64
	marks    []mark              // the offsets of some records below localLen, for replays from the middle
	heads    map[string]copyHead // each chain's last message in the copy, as checked (read-only)
	saved    uint64              // the applied of the last record saved
	replayed atomic.Int64
	info     copyInfo
	log      *slog.Logger
}

// histEntry is one stored message of a chain.
type histEntry struct {
	seq uint64
	ref spool.Ref
}

// feed takes the message at seq, which a Follow of the whole stream
// delivered after prev, if the cache's last message is prev: it so holds
// every message once and in order, and a Follow from the middle of the
// stream feeds it nothing. A message below a chain's own subject is no
// chain's history: the file holds it (a replay delivers it as the server
// does) but no chain's list.
func (c *histCache) feed(prev, seq uint64, subject string, h idHeaders, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil || c.applied != prev || seq <= prev || seq <= c.local {
		return
	}
	var off int
	c.rec, off = appendRecord(c.rec[:0], seq, subject, h, data)
	ref, err := c.f.Put(c.rec)
	if err != nil {
		c.broken = err
		return
	}
	c.adoptLocked(seq, subject, spool.MakeRef(ref.Off()+int64(off), len(data)))
}

// adoptLocked adds the message at seq, whose body is at ref in the file,
// to its chain's list; c.mu is held, and seq follows c.applied.
func (c *histCache) adoptLocked(seq uint64, subject string, ref spool.Ref) {
	chain, ok := strings.CutPrefix(subject, c.prefix+".")
	if ok && !strings.Contains(chain, ".") {
		c.chains[chain] = append(c.chains[chain], histEntry{seq, ref})
	}
	c.applied = seq
}

// close closes the cache's file; it serves nothing more.
func (c *histCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = errors.New("the ledger is closed")
	}
	if c.f != nil {
		c.f.Close()
	}
}

// errNotCached is scan's answer when the cache does not hold a read.
var errNotCached = errors.New("not in the history cache")

// scan hands fn the chain's messages from sequence from up to end, as
// Ledger.scan does, if the cache holds every message up to end; else it
// returns errNotCached and has called fn for none. It reads them all
// before the first call, so that a cache that cannot be read (it then
// serves nothing more) is errNotCached too. fn may keep data.
func (c *histCache) scan(chain string, from, end uint64, fn func(seq uint64, data []byte) (bool, error)) error {
	c.mu.RLock()
	if c.broken != nil || c.applied < end {
		c.mu.RUnlock()
		return errNotCached
	}
	es := c.chains[chain] // appended to only past end: this prefix stays as it is
	f := c.f
	c.mu.RUnlock()
	var raws []raw
	for _, e := range es {
		if e.seq > end {
			break
		}
		if e.seq < from {
			continue
		}
		data, err := f.Get(e.ref)
		if err != nil {
			c.mu.Lock()
			c.broken = fmt.Errorf("read the history cache: %w", err)
			c.mu.Unlock()
			return errNotCached
		}
		raws = append(raws, raw{e.seq, data})
	}
	c.hits.Add(1)
	for _, r := range raws {
		if more, err := fn(r.seq, r.data); err != nil || !more {
			return err
		}
	}
	return nil
}
