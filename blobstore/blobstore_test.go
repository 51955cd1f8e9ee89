package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"taizhang/blobstore"
)

func TestRefStringParse(t *testing.T) {
	for _, b := range [][]byte{nil, {}, []byte("abc"), bytes.Repeat([]byte{0xff}, 1000)} {
		r := blobstore.RefOf(b)
		sum := sha256.Sum256(b)
		if r != blobstore.RefFromHash(sum[:]) {
			t.Errorf("RefOf and RefFromHash disagree for %q", b)
		}
		s := r.String()
		if len(s) != 64 || strings.ToLower(s) != s {
			t.Errorf("String = %q, want 64 lowercase hex", s)
		}
		p, err := blobstore.ParseRef(s)
		if err != nil || p != r {
			t.Errorf("ParseRef(%q) = %v, %v; want %v", s, p, err, r)
		}
		if r.IsZero() {
			t.Errorf("RefOf(%q).IsZero()", b)
		}
		if !bytes.Equal(r.Bytes(), sum[:]) {
			t.Errorf("Bytes = %x, want %x", r.Bytes(), sum)
		}
	}
	// The well-known digest of the empty string.
	if got := blobstore.RefOf(nil).String(); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("RefOf(nil) = %s", got)
	}
	var zero blobstore.Ref
	if !zero.IsZero() {
		t.Error("zero Ref is not IsZero")
	}
}

func TestParseRefRejects(t *testing.T) {
	good := blobstore.RefOf([]byte("x")).String()
	for _, s := range []string{
		"",
		"abc",
		good[:63],
		good + "0",
		strings.ToUpper(good),
		good[:63] + "g",
		good[:63] + " ",
		" " + good[1:],
		"sha256:" + good[7:],
		good[:62] + "é",
		"../../../../etc/passwd" + good[22:],
		strings.Repeat("z", 64),
	} {
		if r, err := blobstore.ParseRef(s); !errors.Is(err, blobstore.ErrInvalidRef) {
			t.Errorf("ParseRef(%q) = %v, %v; want ErrInvalidRef", s, r, err)
		}
	}
}

func TestRefFromHashPanicsOnWrongLength(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("RefFromHash of 31 bytes did not panic")
		}
	}()
	blobstore.RefFromHash(make([]byte, 31))
}

func TestRefJSON(t *testing.T) {
	type doc struct {
		Ref  blobstore.Ref            `json:"ref"`
		Refs map[blobstore.Ref]string `json:"refs"`
	}
	r := blobstore.RefOf([]byte("evidence"))
	b, err := json.Marshal(doc{Ref: r, Refs: map[blobstore.Ref]string{r: "photo.jpg"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ref":"` + r.String() + `","refs":{"` + r.String() + `":"photo.jpg"}}`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil || d.Ref != r || d.Refs[r] != "photo.jpg" {
		t.Errorf("round trip = %+v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"ref":"ABC"}`), &d); !errors.Is(err, blobstore.ErrInvalidRef) {
		t.Errorf("unmarshalling a bad ref: %v, want ErrInvalidRef", err)
	}
}

func FuzzParseRef(f *testing.F) {
	f.Add(blobstore.RefOf(nil).String())
	f.Add(strings.ToUpper(blobstore.RefOf(nil).String()))
	f.Add("")
	f.Add("0")
	f.Add(strings.Repeat("0", 64))
	f.Add(strings.Repeat("f", 64))
	f.Add(strings.Repeat("g", 64))
	f.Fuzz(func(t *testing.T, s string) {
		r, err := blobstore.ParseRef(s)
		if err != nil {
			if !errors.Is(err, blobstore.ErrInvalidRef) {
				t.Fatalf("ParseRef(%q) error %v does not wrap ErrInvalidRef", s, err)
			}
			return
		}
		if r.String() != s {
			t.Fatalf("ParseRef(%q).String() = %q", s, r.String())
		}
		var u blobstore.Ref
		text, _ := r.MarshalText()
		if err := u.UnmarshalText(text); err != nil || u != r {
			t.Fatalf("text round trip of %q = %v, %v", s, u, err)
		}
	})
}

// mem is an in-memory Store for the tests of Receive and Open; lie, when set,
// replaces what Get serves (bytes and claimed size) to simulate damage.
type mem struct {
	objs map[blobstore.Ref][]byte
	puts int
	lie  func(b []byte) ([]byte, int64)
}

func newMem() *mem { return &mem{objs: map[blobstore.Ref][]byte{}} }

func (m *mem) Put(ctx context.Context, ref blobstore.Ref, size int64, r io.Reader) error {
	m.puts++
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	m.objs[ref] = b
	return nil
}

func (m *mem) Get(ctx context.Context, ref blobstore.Ref) (io.ReadCloser, int64, error) {
	b, ok := m.objs[ref]
	if !ok {
		return nil, 0, blobstore.ErrNotFound
	}
	size := int64(len(b))
	if m.lie != nil {
		b, size = m.lie(b)
	}
	return io.NopCloser(bytes.NewReader(b)), size, nil
}

func (m *mem) Stat(ctx context.Context, ref blobstore.Ref) (blobstore.Info, error) {
	b, ok := m.objs[ref]
	if !ok {
		return blobstore.Info{}, blobstore.ErrNotFound
	}
	return blobstore.Info{Ref: ref, Size: int64(len(b))}, nil
}

func TestOpenDetectsSizeAndDigestMismatch(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789"), 10000)
	cases := []struct {
		name string
		lie  func(b []byte) ([]byte, int64)
	}{
		{"longer than stored size", func(b []byte) ([]byte, int64) { return append(bytes.Clone(b), 'x'), int64(len(b)) }},
		{"shorter than stored size", func(b []byte) ([]byte, int64) { return b[:len(b)-1], int64(len(b)) }},
		{"size agrees, bytes truncated", func(b []byte) ([]byte, int64) { return b[:len(b)-1], int64(len(b) - 1) }},
		{"size agrees, bytes extended", func(b []byte) ([]byte, int64) { return append(bytes.Clone(b), 'x'), int64(len(b) + 1) }},
		{"flipped byte", func(b []byte) ([]byte, int64) {
			c := bytes.Clone(b)
			c[0] ^= 1
			return c, int64(len(c))
		}},
		{"empty", func(b []byte) ([]byte, int64) { return nil, 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMem()
			rec, err := blobstore.Receive(context.Background(), m, bytes.NewReader(content), blobstore.ReceiveOptions{TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			m.lie = tc.lie
			rc, info, err := blobstore.Open(context.Background(), m, rec.Ref)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if !errors.Is(err, blobstore.ErrCorrupt) {
				t.Errorf("reading: %v, want ErrCorrupt", err)
			}
			if int64(len(got)) > info.Size {
				t.Errorf("served %d bytes, more than the stored size %d", len(got), info.Size)
			}
			// The error is sticky.
			if _, err := rc.Read(make([]byte, 10)); !errors.Is(err, blobstore.ErrCorrupt) {
				t.Errorf("read after the error: %v, want ErrCorrupt again", err)
			}
			if _, err := blobstore.Verify(context.Background(), m, rec.Ref); !errors.Is(err, blobstore.ErrCorrupt) {
				t.Errorf("Verify: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestReceiveHeadInspectAndPutArguments(t *testing.T) {
	m := newMem()
	content := bytes.Repeat([]byte("abcdefgh"), 1000)
	var inspected bool
	rec, err := blobstore.Receive(context.Background(), m, iotestOneByte(content), blobstore.ReceiveOptions{
		TempDir: t.TempDir(),
		Inspect: func(f io.ReaderAt, size int64) error {
			inspected = true
			b := make([]byte, 8)
			if _, err := f.ReadAt(b, size-8); err != nil {
				return err
			}
			if string(b) != "abcdefgh" {
				t.Errorf("Inspect read %q at the end", b)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !inspected {
		t.Error("Inspect was not called")
	}
	if rec.Ref != blobstore.RefOf(content) || rec.Size != int64(len(content)) {
		t.Errorf("Receive = %s/%d", rec.Ref, rec.Size)
	}
	if !bytes.Equal(rec.Head, content[:blobstore.HeadLen]) {
		t.Errorf("Head = %d bytes, want the first %d", len(rec.Head), blobstore.HeadLen)
	}
	if !bytes.Equal(m.objs[rec.Ref], content) || m.puts != 1 {
		t.Errorf("store got %d bytes in %d puts", len(m.objs[rec.Ref]), m.puts)
	}
}

// iotestOneByte returns a reader that yields one byte per Read, so Receive's
// head and hash see the smallest possible chunks.
func iotestOneByte(b []byte) io.Reader { return &oneByte{b: b} }

type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}

func TestReceivePutErrorIsWrapped(t *testing.T) {
	errDown := errors.Join(blobstore.ErrUnavailable, errors.New("connection refused"))
	_, err := blobstore.Receive(context.Background(), failingPut{errDown}, strings.NewReader("x"), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if !errors.Is(err, blobstore.ErrUnavailable) {
		t.Errorf("Receive with a failing Put: %v, want ErrUnavailable", err)
	}
}

type failingPut struct{ err error }

func (f failingPut) Put(context.Context, blobstore.Ref, int64, io.Reader) error { return f.err }
func (f failingPut) Get(context.Context, blobstore.Ref) (io.ReadCloser, int64, error) {
	return nil, 0, f.err
}
func (f failingPut) Stat(context.Context, blobstore.Ref) (blobstore.Info, error) {
	return blobstore.Info{}, f.err
}
