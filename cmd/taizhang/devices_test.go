package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/client"
	"taizhang/events"
	"taizhang/projections/audit"
)

// TestDevices drives signed devices end to end on a real server: a clerk
// makes a key (device init), registers it, and submits signed with the
// CLI; a submission whose content differs from what was signed is
// refused 422; one by a key never registered, one captured (by the
// device's clock) after it was recorded and one by a revoked key are
// recorded and flagged in the supervisor's audit view; verify (--url and
// over the stores) and an exported bag re-check every signature.
func TestDevices(t *testing.T) {
	s := startServer(t, "")
	dir := t.TempDir()
	if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "dongcun", "name": "東村村委會", "type": "village"}); r.Status != 201 {
		t.Fatalf("unit: %d %s", r.Status, r.Body)
	}
	clerk := newUserToken(t, s, map[string]any{"id": "clerk-li", "role": "submitter", "scope": "dongcun"})
	sup := newUserToken(t, s, map[string]any{"id": "sup", "role": "supervisor"})
	other := newUserToken(t, s, map[string]any{"id": "clerk-wang", "role": "submitter", "scope": "dongcun"})
	photo := filepath.Join(dir, "合影.png")
	if err := os.WriteFile(photo, pngPhoto(t, 3), 0o644); err != nil {
		t.Fatal(err)
	}

	keyFile := filepath.Join(dir, "li.key")
	code, out, errs := cli(t, s, clerk, "device", "init", "--out", keyFile)
	pub := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(pub, events.PublicKeyPrefix) {
		t.Fatalf("device init: %d %q %q", code, out, errs)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if code, _, errs := cli(t, s, clerk, "device", "init", "--out", keyFile); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("device init over an existing key: %d %q", code, errs)
	}
	if code, _, errs := cli(t, s, other, "device", "register", "--user", "clerk-li", "--key", pub); code != 1 || !strings.Contains(errs, "403") {
		t.Fatalf("registering a key for another user: %d %q", code, errs)
	}
	if code, out, errs := cli(t, s, clerk, "device", "register", "--key", pub, "--label", "李的電腦"); code != 0 || !strings.Contains(out, "registered to clerk-li") {
		t.Fatalf("device register: %d %q %q", code, out, errs)
	}
	key, err := client.LoadDeviceKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	// Signed with the CLI: recorded, no warning.
	code, out, errs = cli(t, s, clerk, "submit", "--device-key", keyFile, "--unit", "dongcun", "--kind", "activity", "--title", "端午節活動",
		"--occurred", "2016-06-09", "--requirement", "festival", "--figure", "people=30", photo)
	if code != 0 || strings.Contains(errs, "warning") {
		t.Fatalf("signed submit: %d %q %q", code, out, errs)
	}

	// Through the API: content that differs from what was signed is refused.
	sign := func(k *client.DeviceKey, title string, captured time.Time) client.Evidence {
		ev, err := k.Sign("dongcun", client.Evidence{ID: uuid.NewString(), Kind: "summary", Title: title, OccurredAt: "2016-06-10"}, nil, displayZone(), captured)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	tampered := sign(key, "原文", time.Now())
	tampered.Title = "改過的"
	if r := s.submit(t, clerk, "dongcun", tampered); r.Status != 422 || r.errCode(t) != "bad_device_signature" {
		t.Fatalf("tampered title: %d %s", r.Status, r.Body)
	}
	// A device clock ahead of the ledger: recorded, flagged late.
	r := s.submit(t, clerk, "dongcun", sign(key, "時鐘快了", time.Now().Add(3*time.Hour)))
	var rec client.Receipt
	r.decode(t, &rec)
	if r.Status != 201 || rec.Device == nil || rec.Device.Verdict != "ok" || !rec.Device.Late {
		t.Fatalf("late capture: %d %s", r.Status, r.Body)
	}
	// A key never registered: recorded, flagged; the CLI warns.
	strangerFile := filepath.Join(dir, "stranger.key")
	if code, _, errs := cli(t, s, clerk, "device", "init", "--out", strangerFile); code != 0 {
		t.Fatalf("device init: %q", errs)
	}
	code, _, errs = cli(t, s, clerk, "submit", "--device-key", strangerFile, "--unit", "dongcun", "--kind", "photo", "--title", "陌生鑰匙",
		"--occurred", "2016-06-11", photo)
	if code != 0 || !strings.Contains(errs, "unknown_key") {
		t.Fatalf("unregistered key: %d %q", code, errs)
	}
	// Revoked, then used: recorded, flagged.
	if code, out, errs := cli(t, s, clerk, "device", "revoke", "--key", key.ID(), "--reason", "電腦送修"); code != 0 {
		t.Fatalf("revoke: %d %q %q", code, out, errs)
	}
	code, _, errs = cli(t, s, clerk, "submit", "--device-key", keyFile, "--unit", "dongcun", "--kind", "photo", "--title", "撤銷後",
		"--occurred", "2016-06-12", photo)
	if code != 0 || !strings.Contains(errs, "revoked_key") {
		t.Fatalf("revoked key: %d %q", code, errs)
	}
	code, out, _ = cli(t, s, clerk, "device", "list")
	if code != 0 || !strings.Contains(out, key.ID()) || !strings.Contains(out, "電腦送修") {
		t.Fatalf("device list: %q", out)
	}

	// The supervisor's audit view.
	var view audit.DevicesReport
	s.get(t, sup, "/api/v1/audit/devices").decode(t, &view)
	verdicts := map[string]string{}
	for _, f := range view.Flagged {
		verdicts[f.Title] = string(f.Verdict)
		if f.Late {
			verdicts[f.Title] += "+late"
		}
	}
	if view.Signed != 4 || view.OK != 2 || len(view.Flagged) != 3 || verdicts["時鐘快了"] != "ok+late" ||
		verdicts["陌生鑰匙"] != "unknown_key" || verdicts["撤銷後"] != "revoked_key" {
		t.Fatalf("audit devices: %+v", view)
	}
	if code, out, _ := cli(t, s, sup, "audit", "devices"); code != 0 || !strings.Contains(out, "3 flagged") || !strings.Contains(out, "revoked_key") {
		t.Fatalf("taizhang audit devices: %d\n%s", code, out)
	}
	for lang, want := range map[string][]string{"en": {"key revoked", "key not registered to the submitter", "after it was recorded"},
		"zh-Hant": {"密鑰已撤銷", "密鑰未登記給提交人", "採集時間晚於記錄時間"}, "zh-Hans": {"密钥已撤销", "设备签名"}} {
		r := s.get(t, sup, "/audit/devices?lang="+lang)
		for _, w := range want {
			if r.Status != 200 || !strings.Contains(string(r.Body), w) {
				t.Errorf("/audit/devices?lang=%s: %d, no %q", lang, r.Status, w)
			}
		}
	}
	// The unit page marks signed items, flagged ones apart.
	if r := s.get(t, sup, "/units/dongcun?lang=en"); r.Status != 200 || strings.Count(string(r.Body), "device signature flagged") != 3 ||
		strings.Count(string(r.Body), ">device-signed at submission<") != 1 {
		t.Errorf("unit page: %d, %d flagged, %d signed", r.Status, strings.Count(string(r.Body), "device signature flagged"), strings.Count(string(r.Body), ">device-signed at submission<"))
	}
	if r := s.get(t, clerk, "/api/v1/audit/devices"); r.Status != 403 {
		t.Fatalf("a clerk reads the audit view: %d", r.Status)
	}

	// verify --url re-checks every signature against the served registry.
	code, out, errs = cli(t, s, s.Admin, "verify", "--url", s.URL)
	if code != 0 || !strings.Contains(out, "device signatures: 4 signed submissions, 2 by a registered key, 3 flagged; 1 key(s) registered") {
		t.Fatalf("verify --url: %d\n%s\n%s", code, out, errs)
	}
	// A clerk may not read the registry: the signatures are still checked, and it says what was not.
	code, out, errs = cli(t, s, clerk, "verify", "--url", s.URL)
	if code != 0 || !strings.Contains(out, "device keys: the device registry (the users chain) could not be read") {
		t.Fatalf("verify --url as a clerk: %d\n%s\n%s", code, out, errs)
	}
	// verify over the stores (the server stopped) does the same.
	s.stop(t)
	code, out, errs = runVerify(t, "--data", s.Data)
	if code != 0 || !strings.Contains(out, "device signatures: 4 signed submissions, 2 by a registered key, 3 flagged; 1 key(s) registered") ||
		strings.Count(out, "FLAGGED") != 3 {
		t.Fatalf("verify --data: %d\n%s\n%s", code, out, errs)
	}
	s.start(t)
	// An exported bag checks them offline.
	bag := filepath.Join(dir, "dongcun.zip")
	if code, _, errs := cli(t, s, s.Admin, "export", "--unit", "dongcun", "-o", bag); code != 0 {
		t.Fatalf("export: %q", errs)
	}
	code, out, errs = cli(t, s, s.Admin, "verify-bag", "--json", bag)
	var bagRep struct {
		Problems []any `json:"problems"`
		Devices  struct {
			Signed, OK int
			Flagged    []any
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(out), &bagRep); err != nil || code != 0 || bagRep.Devices.Signed != 4 || bagRep.Devices.OK != 2 || len(bagRep.Devices.Flagged) != 3 {
		t.Fatalf("verify-bag: %d %v\n%s\n%s", code, err, out, errs)
	}
}
