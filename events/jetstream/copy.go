package jetstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	"taizhang/internal/atomicfile"
	"taizhang/internal/spool"
)

// The history cache's copy of the stream, kept across restarts: the file
// copyFile in Config.HistoryDir, and copyInfoFile, which says how much of
// the file is durable and what it is a copy of.
const (
	copyFile     = "ledger.copy"
	copyInfoFile = "ledger.copy.json"
	copyFormat   = 1
	// markEvery is how many records apart the replay notes offsets, so
	// that a Follow from the middle of the copy (a projection's retry)
	// starts reading near where it begins.
	markEvery = 4096
	// saveEvery is how often the copy's record is saved while the ledger
	// is open: after a crash, at most this much of the stream is read
	// from the server again.
	saveEvery = 30 * time.Second
)

// copyInfo is what copyInfoFile holds: the file's first Length bytes hold
// every message of the stream Stream (created at Created) from sequence 1
// to Applied, and Heads is each chain's last message among them, which
// Open compares with the stream's.
type copyInfo struct {
	Format  int        `json:"format"`
	Stream  string     `json:"stream"`
	Created time.Time  `json:"created"`
	Applied uint64     `json:"applied"`
	Length  int64      `json:"length"`
	Heads   []copyHead `json:"heads"`
}

// copyHead is a chain's last message in the copy: its sequence and where
// its body is in the file.
type copyHead struct {
	Chain string    `json:"chain"`
	Seq   uint64    `json:"seq"`
	Ref   spool.Ref `json:"ref"`
}

// mark is the offset in the file of the record of the message at seq.
type mark struct {
	seq uint64
	off int64
}

// A record in the file is two little-endian uint32s, the lengths of its
// head and of the message's body, then the head (the sequence as a
// uvarint, then the subject and the Tz-Type, Tz-Entity and Tz-Version
// headers, each a uvarint length and its bytes), then the body.
const recordPrefix = 8

// appendRecord appends the record of a message to b and returns it with
// the offset of the body within the record.
func appendRecord(b []byte, seq uint64, subject string, h idHeaders, data []byte) ([]byte, int) {
	start := len(b)
	b = append(b, make([]byte, recordPrefix)...)
	b = binary.AppendUvarint(b, seq)
	for _, s := range [...]string{subject, h.typ, h.entity, h.version} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	head := len(b) - start - recordPrefix
	binary.LittleEndian.PutUint32(b[start:], uint32(head))
	binary.LittleEndian.PutUint32(b[start+4:], uint32(len(data)))
	return append(b, data...), recordPrefix + head
}

// errBadRecord is the error of a record that does not parse.
var errBadRecord = errors.New("a record of the history copy does not parse")

// parseHead parses a record's head into its sequence, subject and
// headers; strs interns the subjects and event types, which repeat.
func parseHead(head []byte, strs map[string]string) (uint64, string, idHeaders, error) {
	seq, n := binary.Uvarint(head)
	if n <= 0 {
		return 0, "", idHeaders{}, errBadRecord
	}
	head = head[n:]
	var f [4]string
	for i := range f {
		l, n := binary.Uvarint(head)
		if n <= 0 || l > uint64(len(head)-n) {
			return 0, "", idHeaders{}, errBadRecord
		}
		b := head[n : n+int(l)]
		head = head[n+int(l):]
		if i == 2 { // the entity: a new one nearly every record
			f[i] = string(b)
			continue
		}
		s, ok := strs[string(b)]
		if !ok && len(strs) < 1<<16 {
			s = string(b)
			strs[s] = s
		} else if !ok {
			s = string(b)
		}
		f[i] = s
	}
	if len(head) != 0 {
		return 0, "", idHeaders{}, errBadRecord
	}
	return seq, f[0], idHeaders{f[1], f[2], f[3]}, nil
}

// openHistCache opens the history cache in dir for the ledger's stream
// st: the copy kept there by the last run if it is a sound copy of st
// (see openCopy), else a new, empty one. It says which in the log. A
// cache that cannot be made serves nothing (its error is logged), and the
// ledger reads histories from the stream.
func openHistCache(ctx context.Context, dir, prefix string, st js.Stream, get msgGetter, log *slog.Logger) *histCache {
	c := &histCache{dir: dir, prefix: prefix, chains: map[string][]histEntry{}, log: log}
	if info := st.CachedInfo(); info != nil {
		c.info = copyInfo{Format: copyFormat, Stream: info.Config.Name, Created: info.Created}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.broken = fmt.Errorf("the history copy: %w", err)
		log.Warn("no history cache: histories are read from the stream", "err", err)
		return c
	}
	old, err := c.openCopy(ctx, st, get)
	if err == nil {
		c.f, c.local, c.localLen, c.saved = old.f, old.Applied, old.Length, old.Applied
		c.heads = make(map[string]copyHead, len(old.Heads))
		for _, h := range old.Heads {
			c.heads[h.Chain] = h
		}
		log.Info("history copy kept from the last run: the projection reads it from disk", "dir", dir, "messages", old.Applied, "bytes", old.Length)
		return c
	}
	if !errors.Is(err, fs.ErrNotExist) {
		log.Warn("history copy discarded: it is rebuilt from the stream", "dir", dir, "reason", err)
	}
	// The record goes first: it must never describe a file being rewritten.
	if err := os.Remove(filepath.Join(dir, copyInfoFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.broken = fmt.Errorf("the history copy: %w", err)
		log.Warn("no history cache: histories are read from the stream", "err", err)
		return c
	}
	f, err := spool.Create(filepath.Join(dir, copyFile))
	if err != nil {
		c.broken = err
		log.Warn("no history cache: histories are read from the stream", "err", err)
		return c
	}
	c.f = f
	return c
}

// openedCopy is a copy that openCopy found sound.
type openedCopy struct {
	copyInfo
	f *spool.File
}

// openCopy reads the copy's record and opens its file if the copy is
// sound: its record is of this format and of stream st as it is (same
// name and creation time: a stream deleted and made again, or restored
// from a backup, is another), st holds every message the copy claims, the
// file is as long as recorded, and each chain's last message in the copy
// is, byte for byte, the message st holds at that sequence on that
// chain's subject. As every event names its predecessor's hash, equal
// heads vouch for whole chains; every message is still checked as the
// replay delivers it (see replay and Ledger.Follow), and one that fails
// is compared with the stream's; the replay also wants every sequence in
// order and no chain past its checked last message (withinHeads). A file
// altered on purpose so that every message in it still checks and links
// to the one before would show as a broken chain in the fold at the next
// message (the unit quarantined, loudly), not be believed. It returns an error
// wrapping fs.ErrNotExist if there is no copy.
func (c *histCache) openCopy(ctx context.Context, st js.Stream, get msgGetter) (*openedCopy, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, copyInfoFile))
	if err != nil {
		return nil, err
	}
	var in copyInfo
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("its record does not parse: %v", err)
	}
	info := st.CachedInfo()
	switch {
	case in.Format != copyFormat:
		return nil, fmt.Errorf("it is of format %d, not %d", in.Format, copyFormat)
	case info == nil:
		return nil, errors.New("the stream's state is not known")
	case in.Stream != info.Config.Name || !in.Created.Equal(info.Created):
		return nil, fmt.Errorf("it is of stream %s created %s, not of %s created %s", in.Stream, in.Created.Format(time.RFC3339Nano), info.Config.Name, info.Created.Format(time.RFC3339Nano))
	case in.Applied > info.State.LastSeq:
		return nil, fmt.Errorf("it holds messages up to %d, the stream only to %d", in.Applied, info.State.LastSeq)
	case info.State.FirstSeq > 1 || info.State.NumDeleted > 0:
		// Only if someone turned the ledger's promises off: the copy
		// would hold messages the stream no longer does.
		return nil, fmt.Errorf("the stream has lost messages (its first is %d, %d deleted)", info.State.FirstSeq, info.State.NumDeleted)
	case in.Applied == 0:
		return nil, errors.New("it holds nothing")
	}
	for _, h := range in.Heads {
		if h.Seq == 0 || h.Seq > in.Applied || h.Ref.Off() < 0 || h.Ref.Off()+int64(h.Ref.Len()) > in.Length {
			return nil, fmt.Errorf("its record names chain %s's last message at %d, bytes %d+%d, outside what it holds", h.Chain, h.Seq, h.Ref.Off(), h.Ref.Len())
		}
	}
	f, err := spool.Open(filepath.Join(c.dir, copyFile), in.Length)
	if err != nil {
		return nil, err
	}
	if err := c.checkHeads(ctx, f, in.Heads, get); err != nil {
		f.Close()
		return nil, err
	}
	return &openedCopy{in, f}, nil
}

// checkHeads compares each head with the stream's message at its
// sequence, a few at a time.
func (c *histCache) checkHeads(ctx context.Context, f *spool.File, heads []copyHead, get msgGetter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan copyHead)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	for range 8 {
		wg.Go(func() {
			for h := range work {
				mine, err := f.Get(h.Ref)
				if err != nil {
					fail(err)
					continue
				}
				gctx, gcancel := context.WithTimeout(ctx, 10*time.Second)
				m, err := get.GetMsg(gctx, h.Seq)
				gcancel()
				switch {
				case err != nil:
					fail(fmt.Errorf("chain %s's last message, at %d, cannot be read from the stream: %w", h.Chain, h.Seq, err))
				case m.Subject != c.prefix+"."+h.Chain || !bytes.Equal(m.Data, mine):
					fail(fmt.Errorf("chain %s's last message, at %d, is not the stream's", h.Chain, h.Seq))
				}
			}
		})
	}
	for _, h := range heads {
		select {
		case work <- h:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// save makes what the file holds durable and saves its record, if the
// cache has taken messages since the last save and a replay is not
// halfway through the copy. It must not be called concurrently with
// itself or close.
func (c *histCache) save() error {
	c.mu.Lock()
	if c.broken != nil || c.f == nil || c.applied <= c.saved || c.applied < c.local {
		c.mu.Unlock()
		return nil
	}
	in := c.info
	in.Applied = c.applied
	written, buffered := c.f.Sizes()
	in.Length = written + buffered
	in.Heads = make([]copyHead, 0, len(c.chains))
	for chain, es := range c.chains {
		e := es[len(es)-1]
		in.Heads = append(in.Heads, copyHead{chain, e.seq, e.ref})
	}
	f := c.f
	c.mu.Unlock()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save the history copy: %w", err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("save the history copy: %w", err)
	}
	if err := atomicfile.Write(c.dir, copyInfoFile, b, 0o600); err != nil {
		return fmt.Errorf("save the history copy: %w", err)
	}
	c.mu.Lock()
	c.saved = in.Applied
	c.mu.Unlock()
	return nil
}

// keepSaving saves the copy every saveEvery until ctx is done.
func (c *histCache) keepSaving(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(saveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.save(); err != nil {
				log.Warn("history copy not saved: a restart reads more of the stream from the server", "err", err)
			}
		}
	}
}

// copied is a message the replay read from the file.
type copied struct {
	seq     uint64
	subject string
	h       idHeaders
	data    []byte
	ref     spool.Ref     // of data in the file
	off     int64         // of its record in the file
	rec     events.Record // for replay's prepare to fill in
}

// errCopyUnsound is what replay's fn returns for a message of the copy
// that is not the stream's.
var errCopyUnsound = errors.New("the history copy differs from the stream")

// replayBatch is how many messages replay reads before it hands them to
// prepare: enough to spread prepare's work over the cores.
const replayBatch = 512

// replay reads the copy's messages from sequence from up to c.local from
// the file and hands them, a batch at a time, to prepare (which may work
// on them concurrently), then each to fn in order, having fed the cache
// with it if its last message is prev (as feed). It returns the sequence
// of the last message fn took (from-1 if none). It stops with fn's error
// or ctx's; a file that cannot be read or does not parse, or fn's
// errCopyUnsound, instead drops the copy (see fail) and ends the replay
// with a nil error after the messages before, so that the caller goes on
// from the stream. It reads nothing if from is past the copy.
func (c *histCache) replay(ctx context.Context, from, prev uint64, prepare func([]copied), fn func(*copied) error) (uint64, error) {
	last := max(from, 1) - 1
	c.mu.RLock()
	local, length, broken := c.local, c.localLen, c.broken
	var start mark
	for _, m := range c.marks {
		if m.seq > from {
			break
		}
		start = m
	}
	c.mu.RUnlock()
	if broken != nil || from > local {
		return last, nil
	}
	cr := &copyReader{r: bufio.NewReaderSize(c.f.Section(start.off, length-start.off), 1<<20), off: start.off,
		length: length, local: local, seen: max(start.seq, 1) - 1, strs: map[string]string{}}
	batch := make([]copied, 0, replayBatch)
	for {
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		batch = batch[:0]
		var readErr error
		for len(batch) < replayBatch && (len(batch) == 0 || batch[len(batch)-1].seq < local) {
			m, err := cr.next(from)
			if err != nil {
				readErr = err
				break
			}
			batch = append(batch, m)
		}
		prepare(batch)
		for i := range batch {
			m := &batch[i]
			c.mu.Lock()
			if c.applied == prev && m.seq > prev {
				c.adoptLocked(m.seq, m.subject, m.ref)
				if m.seq%markEvery == 0 {
					c.marks = append(c.marks, mark{m.seq, m.off})
				}
			}
			c.mu.Unlock()
			if err := c.withinHeads(m); err != nil {
				return last, c.fail(err)
			}
			err := fn(m)
			if errors.Is(err, errCopyUnsound) {
				return last, c.fail(err)
			}
			c.replayed.Add(1)
			prev, last = m.seq, m.seq
			if err != nil {
				return last, err
			}
			if m.seq >= local {
				return last, nil
			}
		}
		if readErr != nil {
			return last, c.fail(readErr)
		}
	}
}

// withinHeads returns an error wrapping errCopyUnsound if the message m
// of the copy is past its chain's last message as openCopy found it
// (checkHeads compared those with the stream), or is at that sequence but
// not the record whose bytes were compared: the copy's record would then
// vouch for less than the file holds, and what lies beyond was never
// compared with anything.
func (c *histCache) withinHeads(m *copied) error {
	chain, ok := strings.CutPrefix(m.subject, c.prefix+".")
	if !ok || strings.Contains(chain, ".") {
		return nil // no chain's: checked as the server's message would be
	}
	h, ok := c.heads[chain]
	switch {
	case !ok:
		return fmt.Errorf("message %d: chain %s has no last message in the copy's record: %w", m.seq, chain, errCopyUnsound)
	case m.seq > h.Seq:
		return fmt.Errorf("message %d: chain %s is past its last message in the copy's record, %d: %w", m.seq, chain, h.Seq, errCopyUnsound)
	case m.seq == h.Seq && m.ref != h.Ref:
		return fmt.Errorf("message %d: chain %s's last message is not where the copy's record has it: %w", m.seq, chain, errCopyUnsound)
	}
	return nil
}

// copyReader reads the records of the copy's file in order.
type copyReader struct {
	r           *bufio.Reader
	off, length int64
	local, seen uint64 // the copy's last sequence; the last record's (the one before the first read)
	strs        map[string]string
	pre         [recordPrefix]byte
	head        []byte
}

// next returns the next record at or after sequence from.
func (cr *copyReader) next(from uint64) (copied, error) {
	for {
		recOff := cr.off
		if _, err := io.ReadFull(cr.r, cr.pre[:]); err != nil {
			return copied{}, fmt.Errorf("read the history copy at %d: %w", recOff, err)
		}
		hl, dl := binary.LittleEndian.Uint32(cr.pre[:]), binary.LittleEndian.Uint32(cr.pre[4:])
		if int64(hl)+int64(dl) > cr.length-recOff-recordPrefix {
			return copied{}, fmt.Errorf("the history copy at %d: %w", recOff, errBadRecord)
		}
		if cap(cr.head) < int(hl) {
			cr.head = make([]byte, hl)
		}
		cr.head = cr.head[:hl]
		if _, err := io.ReadFull(cr.r, cr.head); err != nil {
			return copied{}, fmt.Errorf("read the history copy at %d: %w", recOff, err)
		}
		seq, subject, h, err := parseHead(cr.head, cr.strs)
		// The copy is believed only of a stream that has lost no message
		// (openCopy): it holds every sequence, each once and in order, so
		// a record missing from the file is found here, before a chain
		// seems to break.
		if err != nil || seq != cr.seen+1 || seq > cr.local {
			return copied{}, fmt.Errorf("the history copy at %d: %w", recOff, errBadRecord)
		}
		cr.seen = seq
		cr.off += recordPrefix + int64(hl)
		if seq < from {
			if _, err := cr.r.Discard(int(dl)); err != nil {
				return copied{}, fmt.Errorf("read the history copy at %d: %w", cr.off, err)
			}
			cr.off += int64(dl)
			continue
		}
		data := make([]byte, dl)
		if _, err := io.ReadFull(cr.r, data); err != nil {
			return copied{}, fmt.Errorf("read the history copy at %d: %w", cr.off, err)
		}
		ref := spool.MakeRef(cr.off, int(dl))
		cr.off += int64(dl)
		return copied{seq: seq, subject: subject, h: h, data: data, ref: ref, off: recOff}, nil
	}
}

// fail drops the copy after a read of its file failed or found it
// unsound: the cache serves nothing more in this process and saves no
// record; the next start makes a new copy. It returns nil (see replay).
func (c *histCache) fail(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = err
		_ = os.Remove(filepath.Join(c.dir, copyInfoFile))
		c.log.Warn("history copy dropped: the rest is read from the stream, histories too, and the next start makes a new copy", "err", err)
	}
	return nil
}
