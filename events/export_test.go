package events

// ScanStored exposes the strict canonical scanner to the tests, so that
// they can show the fast path is the one taken for stored events.
var ScanStored = scanStored

// DecodeJSON is Decode without the strict pass: the reference the tests
// hold the fast path to.
var DecodeJSON = decodeJSON

// EvidenceSubmittedFast reports whether DecodeEvidenceSubmitted reads b in
// its one pass, so that the tests can show stored payloads take it.
func EvidenceSubmittedFast(b []byte) bool {
	_, ok := scanEvidenceSubmitted(b, nil)
	return ok
}

// CanonicalFast, CanonicalSlow and FastVersion expose the two paths of
// CanonicalJSON and EntityVersion's fast path, so that the tests can hold
// one to the other and show the fast one is taken.
var (
	CanonicalFast = canonicalFast
	CanonicalSlow = canonicalSlow
	FastVersion   = fastVersion
)
