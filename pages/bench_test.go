package pages_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/httpserver/servertest"
)

// BenchmarkUnitPage500: a unit's archive page with 500 evidence items and
// 2,000 photos against the archive JSON endpoint of the same unit, in the
// same run (target: page ≤ 1.5× JSON). Thumbnails are separate requests
// (/thumbs/), not part of the page's time.
func BenchmarkUnitPage500(b *testing.B) {
	e := servertest.New(b)
	ctx := context.Background()
	reqs := []string{"festival", "midyear", "autumn", ""}
	for i := range 500 {
		e.Clock.Set(time.Date(2016, 5, 2, 9, 0, 0, 0, servertest.Zone).Add(time.Duration(i) * 10 * time.Minute))
		var atts []events.Attachment
		for j := range 4 {
			sum := sha256.Sum256([]byte(fmt.Sprint(i, "/", j)))
			atts = append(atts, events.Attachment{SHA256: hex.EncodeToString(sum[:]), Size: 150 << 10, MediaType: "image/jpeg",
				Name: fmt.Sprintf("IMG_%04d_%d.jpg", i, j), Width: 1600, Height: 1200, TakenAt: "2016-05-01T10:00:00"})
		}
		ev := events.Evidence{Kind: events.KindActivity, Title: fmt.Sprintf("第%d次活動 <b>", i), Body: "時間：2016年5月1日\n地點：村委會"}
		if r := reqs[i%len(reqs)]; r != "" {
			ev.Requirements = []string{r}
		}
		if _, _, err := e.Ledger.SubmitEvidence(ctx, events.Submission{ID: uuid.New(), Unit: "cun-1", Evidence: ev,
			OccurredAt: time.Date(2016, 5, 1, 10, 0, 0, 0, servertest.Zone), Attachments: atts, Actor: events.Actor{ID: "clerk", Role: events.RoleSubmitter},
			Client: events.ClientWeb}); err != nil {
			b.Fatal(err)
		}
	}
	e.Clock.Set(time.Date(2016, 6, 20, 9, 0, 0, 0, servertest.Zone))
	get := func(b *testing.B, path string) int {
		req, _ := http.NewRequest("GET", e.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.Tokens["inspector"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return int(n)
	}
	get(b, "/units/cun-1") // the projection has caught up
	for _, c := range []struct{ name, path string }{{"json", "/api/v1/units/cun-1/archive"}, {"page", "/units/cun-1"}} {
		b.Run(c.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				n = get(b, c.path)
			}
			b.ReportMetric(float64(n), "bytes/page")
		})
	}
}
