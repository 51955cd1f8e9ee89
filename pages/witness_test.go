package pages_test

import (
	"context"
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
	"taizhang/httpserver/servertest"
)

// TestWitnessPage: the supervisor's witnesses page lists the newest
// checkpoints with their cosigners, checks a quorum of the keys typed in,
// and is a sound page (labels, no inline script) in both languages.
func TestWitnessPage(t *testing.T) {
	e := servertest.New(t)
	ctx := context.Background()
	e.Page("supervisor", "/audit/witnesses", 200) // checkpoints not enabled: said so, not an error

	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := checkpoint.NewSigner(skey)
	cp, err := tzjs.StartCheckpointer(ctx, e.Ledger, tzjs.CheckpointConfig{Signer: signer, VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Close)
	cl, err := tzjs.StartCosignatures(ctx, cp, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.Server.SetCheckpoints(cp)
	e.Server.SetCosignatures(cl)
	e.Page("supervisor", "/audit/witnesses", 200) // no checkpoint yet
	st, _, err := cp.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wskey, wvkey, err := checkpoint.GenerateCosignerKey(nil, "witness.example/qian")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := checkpoint.NewCosigner(wskey, nil)
	body, _, _ := checkpoint.SplitNote([]byte(st.Note))
	line, _ := checkpoint.Cosign(body, c)
	if _, _, err := cl.Add(ctx, st.Seq, line, wvkey, "sup-qian"); err != nil {
		t.Fatal(err)
	}
	_, other, _ := checkpoint.GenerateCosignerKey(nil, "witness.example/other")

	for _, lang := range []string{"en", "zh-Hans"} {
		page := html.UnescapeString(e.Page("supervisor", "/audit/witnesses?lang="+lang, 200))
		if !strings.Contains(page, "witness.example/qian+") || !strings.Contains(page, vkey) {
			t.Fatalf("%s: the cosigner or the log key is missing:\n%s", lang, page)
		}
	}
	page := html.UnescapeString(e.Page("supervisor", "/audit/witnesses?lang=en&keys="+url.QueryEscape(wvkey), 200))
	if !strings.Contains(page, "is cosigned by 1 of your 1 trusted witnesses (quorum 1)") {
		t.Fatalf("quorum 1:\n%s", page)
	}
	page = html.UnescapeString(e.Page("supervisor", "/audit/witnesses?lang=en&quorum=2&keys="+url.QueryEscape(wvkey+"\n"+other), 200))
	if !strings.Contains(page, "Quorum not met: none of the newest 1 checkpoints is cosigned by 2 of your 2 trusted witnesses (the most: 1, on checkpoint 1)") {
		t.Fatalf("quorum 2:\n%s", page)
	}
	e.Page("clerk", "/audit/witnesses", 403)
}
