package projections

import (
	"taizhang/internal/spool"
)

// text is an item's body: held in s, or, when f is set, kept out of the
// Go heap in f at ref. The archive holds every item of the ledger; bodies
// are most of its bytes and are read only when a page or an answer shows
// an item, so a Live archive keeps them on disk (SpoolTexts).
type text struct {
	f   *spool.File // nil: the text is s
	ref spool.Ref
	s   string
}

// get returns the text.
func (t text) get() (string, error) {
	if t.f == nil {
		return t.s, nil
	}
	b, err := t.f.Get(t.ref)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// putText stores s in f and returns its text; it does not keep s. Empty
// texts, and texts longer than a spool holds, are held in memory.
func putText(f *spool.File, s []byte) (text, error) {
	if len(s) == 0 || len(s) > spool.MaxLen {
		return text{s: string(s)}, nil
	}
	ref, err := f.Put(s)
	if err != nil {
		return text{}, err
	}
	return text{f: f, ref: ref}, nil
}
