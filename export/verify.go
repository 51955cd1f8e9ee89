package export

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"taizhang/events"
	"taizhang/events/checkpoint"
)

// Problem is one thing wrong with a bag: the file (path inside the bag
// directory) and, for an event, the event it is about.
type Problem struct {
	File  string `json:"file,omitempty"`
	Event string `json:"event,omitempty"`
	Msg   string `json:"msg"`
}

func (p Problem) String() string {
	var sb strings.Builder
	if p.File != "" {
		sb.WriteString(p.File + ": ")
	}
	if p.Event != "" {
		sb.WriteString("event " + p.Event + ": ")
	}
	sb.WriteString(p.Msg)
	return sb.String()
}

// Report is what Verify found.
type Report struct {
	Unit        string    `json:"unit"`
	AsOf        time.Time `json:"as_of"`
	Events      int       `json:"events"`
	Attachments int       `json:"attachments"`
	TreeSize    uint64    `json:"tree_size"`
	RootHash    string    `json:"root_hash"`
	Key         string    `json:"key"`
	Files       int       `json:"files"`
	// Witnesses are the trusted witnesses that cosigned the checkpoint
	// (when witness keys were given).
	Witnesses []string  `json:"witnesses,omitempty"`
	Problems  []Problem `json:"problems"`
	// Devices is the check of the device-signed submissions (nil if the
	// bag has none).
	Devices *DeviceReport `json:"devices,omitempty"`
}

// OK reports whether the bag verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// PublicKey, if set, is the checkpoint verifier key the bag must be
	// signed with; otherwise the key in bag-info.txt is used.
	PublicKey string
	// WitnessKeys, if any, are trusted witnesses' verifier keys, of which
	// WitnessQuorum must have cosigned the bag's checkpoint: their
	// cosignature lines are read from checkpoint.note and from Cosigned,
	// notes of the same checkpoint fetched later (GET
	// /api/v1/checkpoints/{seq}?format=note), since witnesses cosign
	// after the export made its checkpoint.
	WitnessKeys   []string
	WitnessQuorum int
	Cosigned      [][]byte
}

// VerifyFile opens a zipped bag and verifies it.
func VerifyFile(path string, opt VerifyOptions) (*Report, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("open bag: %w", err)
	}
	defer zr.Close()
	return Verify(&zr.Reader, opt), nil
}

type verifier struct {
	files map[string]*zip.File // by path inside the bag directory
	rep   *Report
}

func (v *verifier) problem(file, event, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, Problem{File: file, Event: event, Msg: fmt.Sprintf(format, args...)})
}

// read returns a small file's bytes (tag files, events), or nil after
// reporting a problem.
func (v *verifier) read(name string, required bool) []byte {
	f := v.files[name]
	if f == nil {
		if required {
			v.problem(name, "", "missing")
		}
		return nil
	}
	rc, err := f.Open()
	if err != nil {
		v.problem(name, "", "%v", err)
		return nil
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<30))
	if err != nil {
		v.problem(name, "", "%v", err)
		return nil
	}
	return b
}

// digest streams a file and returns its SHA-256 in hex.
func (v *verifier) digest(name string) (string, int64, error) {
	rc, err := v.files[name].Open()
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, rc, make([]byte, 64<<10))
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// parseManifest reads "digest  path" lines.
func (v *verifier) parseManifest(name string, b []byte) map[string]string {
	out := map[string]string{}
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		d, p, ok := strings.Cut(l, " ")
		p = strings.TrimLeft(p, " *")
		if !ok || len(d) != 64 || p == "" {
			v.problem(name, "", "line %d is not \"sha256  path\": %q", i+1, l)
			continue
		}
		if _, dup := out[p]; dup {
			v.problem(name, "", "%s listed twice", p)
		}
		out[p] = strings.ToLower(d)
	}
	return out
}

// checkManifest checks every listed file's digest; with payload set, also
// that every file under data/ is listed.
func (v *verifier) checkManifest(name string, m map[string]string, payload bool) (octets int64) {
	for p, want := range m {
		if v.files[p] == nil {
			v.problem(p, "", "listed in %s but missing from the bag", name)
			continue
		}
		got, n, err := v.digest(p)
		octets += n
		switch {
		case err != nil:
			v.problem(p, "", "%v", err)
		case got != want:
			v.problem(p, "", "SHA-256 is %s, %s says %s", got, name, want)
		}
	}
	if payload {
		for p := range v.files {
			if strings.HasPrefix(p, "data/") && m[p] == "" {
				v.problem(p, "", "payload file not listed in %s", name)
			}
		}
	}
	return octets
}

// Verify checks a zipped bag: its BagIt structure and both manifests, every
// event's hash and the chain from the first event, each event's inclusion
// proof against the signed checkpoint, the checkpoint's signature, every
// attachment against its digest, and completeness (the unit head proven
// under the checkpoint's unit heads root is the bag's last event, counting
// the later events of later-events.jsonl).
func Verify(zr *zip.Reader, opt VerifyOptions) *Report {
	rep := &Report{Problems: []Problem{}}
	v := &verifier{files: map[string]*zip.File{}, rep: rep}
	v.index(zr)
	if b := v.read(BagitTxt, true); b != nil && string(b) != bagitTxt {
		v.problem(BagitTxt, "", "not a BagIt 1.0 declaration: %q", b)
	}
	man, octets := v.checkManifests()
	info := v.readInfo()
	if ox := info.get("Payload-Oxum"); ox != "" && ox != fmt.Sprintf("%d.%d", octets, len(man)) {
		v.problem(BagInfoTxt, "", "Payload-Oxum %s, the payload is %d.%d", ox, octets, len(man))
	}
	rep.Unit = info.get("Taizhang-Unit")
	asOf, err := time.Parse(time.RFC3339Nano, info.get("Taizhang-As-Of"))
	if err != nil {
		v.problem(BagInfoTxt, "", "Taizhang-As-Of: %v", err)
	}
	rep.AsOf = asOf
	cp, cpOK := v.checkCheckpoint(info, opt)
	ch := v.checkChain(info, asOf)
	v.checkAttachments(ch.evs, man)
	v.checkDevices(ch.evs, cp, cpOK)
	if cpOK {
		v.checkInclusion(ch.evs, cp)
		v.checkCompleteness(ch, cp, asOf)
	}
	return rep
}

// index files the zip's entries by their path inside the bag directory
// (the one directory holding bagit.txt); an entry outside it is a problem.
func (v *verifier) index(zr *zip.Reader) {
	prefix := ""
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/"+BagitTxt) && strings.Count(f.Name, "/") == 1 {
			prefix = strings.TrimSuffix(f.Name, BagitTxt)
		}
	}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		if !strings.HasPrefix(f.Name, prefix) {
			v.problem(f.Name, "", "outside the bag directory %s", prefix)
			continue
		}
		v.files[strings.TrimPrefix(f.Name, prefix)] = f
	}
	v.rep.Files = len(v.files)
}

// checkManifests checks the tag manifest (every tag file listed, every
// digest right) and the payload manifest (every payload file listed, every
// digest right); it returns the payload manifest and the payload's size.
func (v *verifier) checkManifests() (man map[string]string, octets int64) {
	tagm := v.parseManifest(TagManifestTxt, v.read(TagManifestTxt, true))
	for _, name := range []string{BagitTxt, BagInfoTxt, ManifestTxt, CheckpointNote, UnitProofJSON, InclusionJSONL} {
		if _, ok := tagm[name]; !ok && v.files[name] != nil {
			v.problem(name, "", "not listed in %s", TagManifestTxt)
		}
	}
	v.checkManifest(TagManifestTxt, tagm, false)
	man = v.parseManifest(ManifestTxt, v.read(ManifestTxt, true))
	return man, v.checkManifest(ManifestTxt, man, true)
}

// bagInfo is bag-info.txt: each label's values in order.
type bagInfo struct {
	v      *verifier
	values map[string][]string
}

// readInfo reads bag-info.txt.
func (v *verifier) readInfo() bagInfo {
	info := bagInfo{v: v, values: map[string][]string{}}
	for _, l := range strings.Split(string(v.read(BagInfoTxt, true)), "\n") {
		if k, val, ok := strings.Cut(l, ": "); ok {
			info.values[k] = append(info.values[k], val)
		}
	}
	return info
}

// get returns the first value of label k, or "" after reporting it missing.
func (b bagInfo) get(k string) string {
	if len(b.values[k]) == 0 {
		b.v.problem(BagInfoTxt, "", "no %s", k)
		return ""
	}
	return b.values[k][0]
}

// checkCheckpoint opens the signed checkpoint with the bag's key (or
// opt.PublicKey, which must then be the bag's), checks that bag-info
// repeats its size, root and signature, and, with opt.WitnessKeys, the
// witness quorum; ok is false if it did not open.
func (v *verifier) checkCheckpoint(info bagInfo, opt VerifyOptions) (cp checkpoint.Checkpoint, ok bool) {
	key := info.get("Taizhang-Public-Key")
	if opt.PublicKey != "" {
		if strings.TrimSpace(opt.PublicKey) != key {
			v.problem(BagInfoTxt, "", "Taizhang-Public-Key %s is not the expected key %s", key, strings.TrimSpace(opt.PublicKey))
		}
		key = strings.TrimSpace(opt.PublicKey)
	}
	v.rep.Key = key
	note := v.read(CheckpointNote, true)
	if note == nil || key == "" {
		return cp, false
	}
	nv, err := checkpoint.NewVerifier(key)
	if err != nil {
		v.problem(BagInfoTxt, "", "%v", err)
		return cp, false
	}
	if cp, err = checkpoint.Open(note, nv); err != nil {
		v.problem(CheckpointNote, "", "%v", err)
		return cp, false
	}
	v.rep.TreeSize, v.rep.RootHash = cp.Size, cp.Root.String()
	if s := info.get("Taizhang-Tree-Size"); s != strconv.FormatUint(cp.Size, 10) {
		v.problem(BagInfoTxt, "", "Taizhang-Tree-Size %s, the checkpoint's is %d", s, cp.Size)
	}
	if s := info.get("Taizhang-Root-Hash"); s != cp.Root.String() {
		v.problem(BagInfoTxt, "", "Taizhang-Root-Hash %s, the checkpoint's is %s", s, cp.Root)
	}
	if sig := strings.Join(info.values["Taizhang-Checkpoint-Signature"], "\n"); sig != signatureLines(string(note)) {
		v.problem(BagInfoTxt, "", "Taizhang-Checkpoint-Signature is not the signature of %s", CheckpointNote)
	}
	if len(opt.WitnessKeys) > 0 {
		v.witnesses(note, nv, opt)
	}
	return cp, true
}

// chain is the bag's events: those as of the bag's time, the later ones,
// and the hash of the last of all.
type chain struct {
	evs, later []Line
	head       events.Hash
}

// checkChain reads events.jsonl (recorded up to asOf) and then
// later-events.jsonl (recorded after it) as one hash chain from the unit's
// first event, checking every hash, link, unit and sequence, and the
// event count bag-info gives.
func (v *verifier) checkChain(info bagInfo, asOf time.Time) chain {
	var ch chain
	var lastSeq uint64
	ch.evs = v.events(EventsJSONL, v.rep.Unit, &ch.head, &lastSeq, func(ev *events.Event) string {
		if !asOf.IsZero() && ev.RecordedAt.After(asOf) {
			return "recorded at " + ev.RecordedAt.Format(time.RFC3339Nano) + ", after the bag's as-of time"
		}
		return ""
	})
	v.rep.Events = len(ch.evs)
	if n := info.get("Taizhang-Events"); n != strconv.Itoa(len(ch.evs)) {
		v.problem(BagInfoTxt, "", "Taizhang-Events %s, %s has %d", n, EventsJSONL, len(ch.evs))
	}
	ch.later = v.events(LaterEventsJSON, v.rep.Unit, &ch.head, &lastSeq, func(ev *events.Event) string {
		if !ev.RecordedAt.After(asOf) {
			return "recorded at " + ev.RecordedAt.Format(time.RFC3339Nano) + ", not after the as-of time: it belongs in " + EventsJSONL
		}
		return ""
	})
	return ch
}

// checkAttachments checks that every attachment an event names is in the
// bag under the digest the manifest gives, and that the bag holds no
// attachment no event names.
func (v *verifier) checkAttachments(evs []Line, man map[string]string) {
	named := map[string]bool{}
	for _, l := range evs {
		for _, a := range l.Attachments {
			p := AttachmentPath(a)
			if named[p] {
				continue
			}
			named[p] = true
			v.rep.Attachments++
			switch {
			case v.files[p] == nil:
				v.problem(p, l.ID.String(), "attachment %s missing", a.SHA256)
			case man[p] != "" && man[p] != a.SHA256:
				v.problem(p, l.ID.String(), "manifest digest %s is not the attachment's digest %s", man[p], a.SHA256)
			}
		}
	}
	for p := range v.files {
		if strings.HasPrefix(p, AttachmentsDir) && !named[p] {
			v.problem(p, "", "attachment not named by any event")
		}
	}
}

// checkInclusion checks that inclusion.jsonl proves each event of evs,
// and only those, in the checkpoint's tree.
func (v *verifier) checkInclusion(evs []Line, cp checkpoint.Checkpoint) {
	proofs := map[uint64]checkpoint.InclusionProof{}
	for i, l := range bytes.Split(v.read(InclusionJSONL, true), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var p checkpoint.InclusionProof
		if err := json.Unmarshal(l, &p); err != nil {
			v.problem(InclusionJSONL, "", "line %d: %v", i+1, err)
			continue
		}
		proofs[p.Seq] = p
	}
	inBag := map[uint64]bool{}
	for _, l := range evs {
		inBag[l.Seq] = true
	}
	for seq, p := range proofs {
		if !inBag[seq] {
			v.problem(EventsJSONL, "", "the event at seq %d (hash %s), proven in %s, is missing", seq, p.EventHash, InclusionJSONL)
		}
	}
	for _, l := range evs {
		p, ok := proofs[l.Seq]
		switch {
		case !ok:
			v.problem(InclusionJSONL, l.ID.String(), "no inclusion proof for seq %d", l.Seq)
		case p.EventHash != l.Hash:
			v.problem(InclusionJSONL, l.ID.String(), "the proof of seq %d is for event hash %s, not %s", l.Seq, p.EventHash, l.Hash)
		case p.Size != cp.Size || p.Index != l.Seq-1:
			v.problem(InclusionJSONL, l.ID.String(), "the proof of seq %d is for leaf %d of %d, want leaf %d of the checkpoint's %d", l.Seq, p.Index, p.Size, l.Seq-1, cp.Size)
		default:
			if err := p.Verify(cp.Root); err != nil {
				v.problem(InclusionJSONL, l.ID.String(), "seq %d is not proven in the checkpoint: %v", l.Seq, err)
			}
		}
	}
}

// checkCompleteness checks unit-proof.json: the checkpoint's unit heads
// root proves the unit's head and event count, which must be the bag's
// last event and its count of events (as of the bag's time and later).
func (v *verifier) checkCompleteness(ch chain, cp checkpoint.Checkpoint, asOf time.Time) {
	b := v.read(UnitProofJSON, true)
	if b == nil {
		return
	}
	var up checkpoint.UnitProof
	if err := json.Unmarshal(b, &up); err != nil {
		v.problem(UnitProofJSON, "", "%v", err)
		return
	}
	if err := up.Verify(cp.UnitsRoot); err != nil || up.Units != cp.Units || up.Size != cp.Size {
		v.problem(UnitProofJSON, "", "the unit head is not proven under the checkpoint's unit heads root (%v)", err)
		return
	}
	total := uint64(len(ch.evs) + len(ch.later))
	switch {
	case up.Unit != v.rep.Unit:
		v.problem(UnitProofJSON, "", "proves unit %s, the bag is of %s", up.Unit, v.rep.Unit)
	case up.Count != total || up.Head != ch.head:
		v.problem(EventsJSONL, "", "incomplete: the checkpoint proves unit %s has %d events with head %s, the bag has %d (%d as of %s and %d later) ending in %s",
			up.Unit, up.Count, up.Head, total, len(ch.evs), asOf.Format(time.RFC3339Nano), len(ch.later), ch.head)
	}
}

// events reads and checks a JSON-lines file of events continuing the chain
// at *prev.
func (v *verifier) events(name, unit string, prev *events.Hash, lastSeq *uint64, check func(*events.Event) string) []Line {
	f := v.files[name]
	if f == nil {
		if name == EventsJSONL {
			v.problem(name, "", "missing")
		}
		return nil
	}
	rc, err := f.Open()
	if err != nil {
		v.problem(name, "", "%v", err)
		return nil
	}
	defer rc.Close()
	var out []Line
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), events.MaxEventSize*2)
	for n := 1; sc.Scan(); n++ {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Event == nil {
			v.problem(name, "", "line %d: not an event: %v", n, err)
			continue
		}
		id := l.ID.String()
		if err := l.VerifyHash(); err != nil {
			v.problem(name, id, "line %d, seq %d: %v", n, l.Seq, err)
		}
		if l.Prev != *prev {
			v.problem(name, id, "line %d, seq %d: chain broken: links to %q, the previous event is %q (an event is missing or altered before it)", n, l.Seq, l.Prev, *prev)
		}
		if l.Unit != unit {
			v.problem(name, id, "line %d: of unit %s, the bag is of %s", n, l.Unit, unit)
		}
		if l.Seq <= *lastSeq {
			v.problem(name, id, "line %d: seq %d is not after %d", n, l.Seq, *lastSeq)
		}
		if msg := check(l.Event); msg != "" {
			v.problem(name, id, "line %d: %s", n, msg)
		}
		*prev, *lastSeq = l.Hash, l.Seq
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		v.problem(name, "", "%v", err)
	}
	return out
}

// witnesses checks the witness quorum over the bag's checkpoint note (its
// operator signature already verified by op), with the cosignature lines of
// opt.Cosigned notes of the same checkpoint added.
func (v *verifier) witnesses(msg []byte, op note.Verifier, opt VerifyOptions) {
	var trusted []*checkpoint.CosignatureVerifier
	for _, k := range opt.WitnessKeys {
		w, err := checkpoint.NewCosignatureVerifier(k)
		if err != nil {
			v.problem("", "", "witness key %q: %v", k, err)
			return
		}
		trusted = append(trusted, w)
	}
	body, _, err := checkpoint.SplitNote(msg)
	if err != nil {
		v.problem(CheckpointNote, "", "%v", err)
		return
	}
	all := msg
	for i, extra := range opt.Cosigned {
		b, sigs, err := checkpoint.SplitNote(extra)
		if err != nil {
			v.problem("", "", "cosigned note %d: %v", i+1, err)
			continue
		}
		if !bytes.Equal(b, body) {
			v.problem("", "", "cosigned note %d is not a note of this bag's checkpoint (tree size %d)", i+1, v.rep.TreeSize)
			continue
		}
		lines := make([]string, len(sigs))
		for j, s := range sigs {
			lines[j] = s.Line
		}
		all = checkpoint.AppendSignatures(all, lines...)
	}
	w, err := checkpoint.CheckWitnessed(all, op, trusted, opt.WitnessQuorum)
	for _, c := range w.Cosigned {
		v.rep.Witnesses = append(v.rep.Witnesses, c.Witness)
	}
	for _, l := range w.Bad {
		v.problem(CheckpointNote, "", "a cosignature claims a trusted witness's key but does not verify: %s", l)
	}
	if err != nil {
		v.problem(CheckpointNote, "", "%v", err)
	}
}
