package main

import (
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// patternReader yields n deterministic, poorly compressible bytes without
// holding them.
type patternReader struct {
	n, off int64
	x      uint64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		p.x ^= p.x << 13
		p.x ^= p.x >> 7
		p.x ^= p.x << 17
		b[i] = byte(p.x)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// pdfLike yields size bytes that sniff as a PDF (a scan is an allowed
// document): a PDF header, then the pattern.
func pdfLike(size int64, seed uint64) io.Reader {
	const header = "%PDF-1.4\n"
	return io.MultiReader(strings.NewReader(header), &patternReader{n: size - int64(len(header)), x: seed})
}

// uploadPeakHeap streams one attachment of size bytes to s (multipart
// through a pipe, never whole in memory on the client side either) and
// returns the peak heap growth seen while the request ran.
func uploadPeakHeap(t testing.TB, s *server, size int64) uint64 {
	return peakHeapGrowth(func() {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			meta, _ := json.Marshal(map[string]any{"kind": "document", "title": "large scan", "occurred_at": "2016-07-01"})
			w, _ := mw.CreateFormField("evidence")
			w.Write(meta)
			fw, _ := mw.CreateFormFile("attachment", "scan.pdf")
			_, err := io.CopyBuffer(fw, pdfLike(size, 88172645463325252), make([]byte, 32<<10))
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/units/cun/evidence", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+s.Admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Errorf("upload: %d %s", resp.StatusCode, body)
		}
	})
}

// peakHeapGrowth runs fn while sampling the heap every few milliseconds and
// returns how far HeapAlloc rose above its level (after a GC) at the start.
// It runs fn with GOGC=25: HeapAlloc counts garbage not yet collected, and
// with the default 100 the runtime lets garbage grow to the size of the
// whole live heap (the server's projections, templates and buffers), which
// would measure the collector's pacing rather than what fn holds.
func peakHeapGrowth(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var m runtime.MemStats
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// TestUploadMemoryBounded: receiving a 60 MiB attachment (the server and
// this client share the heap) raises the peak heap by less than 16 MiB.
func TestUploadMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 60 MiB")
	}
	s := startServer(t, "")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})
	growth := uploadPeakHeap(t, s, 60<<20)
	t.Logf("peak heap growth while receiving 60 MiB: %.1f MiB", float64(growth)/(1<<20))
	if growth >= 16<<20 {
		t.Fatalf("peak heap grew by %.1f MiB, want < 16 MiB", float64(growth)/(1<<20))
	}
}
