package projections

import (
	"unsafe"

	"taizhang/internal/spool"
)

// text is an item's body: in memory, or kept out of the Go heap in a
// spool file. The archive holds every item of the ledger; bodies are most
// of its bytes and are read only when a page or an answer shows an item,
// so a Live archive keeps them on disk (SpoolTexts). A text is two words:
// p is the *spool.File and n its spool.Ref, or, with inMemory set in n, p
// points to the string's bytes and n holds its length.
type text struct {
	p unsafe.Pointer
	n uint64
}

// inMemory marks a text held in memory. A spool.Ref never has it: that
// would take an offset of 2^39 bytes (512 GiB of bodies), which putText
// keeps in memory instead.
const inMemory = 1 << 63

// memText returns s as an in-memory text (it keeps s).
func memText(s string) text {
	return text{p: unsafe.Pointer(unsafe.StringData(s)), n: uint64(len(s)) | inMemory}
}

// get returns the text.
func (t text) get() (string, error) {
	if t.n&inMemory != 0 {
		return unsafe.String((*byte)(t.p), int(t.n&^inMemory)), nil
	}
	if t.p == nil {
		return "", nil
	}
	b, err := (*spool.File)(t.p).Get(spool.Ref(t.n))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// putText stores s in f and returns its text; it does not keep s. Empty
// texts, and texts longer than a spool holds, are held in memory.
func putText(f *spool.File, s []byte) (text, error) {
	if len(s) == 0 || len(s) > spool.MaxLen {
		return memText(string(s)), nil
	}
	ref, err := f.Put(s)
	if err != nil {
		return text{}, err
	}
	if ref&inMemory != 0 {
		return memText(string(s)), nil
	}
	return text{p: unsafe.Pointer(f), n: uint64(ref)}, nil
}
