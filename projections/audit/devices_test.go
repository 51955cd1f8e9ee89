package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"taizhang/events"
	"taizhang/projections"
	"taizhang/projections/audit"
)

// TestDevices: the view counts signed submissions and flags those whose
// key was unknown or revoked as of them, those captured after they were
// recorded, and one whose signature no longer verifies (an event rewritten
// and resealed, which the archive still folds); unsigned ones are not
// counted, and the filter applies.
func TestDevices(t *testing.T) {
	l := &ledger{t: t, heads: map[string]events.Hash{}}
	l.add("dong", events.TypeUnitRegistered, id(1), admin, at("2016-01-01 08:00"), at("2016-01-01 08:00"), nil, "", events.UnitRegistered{Name: "東村", UnitType: "village"})
	li := clerk("dong")
	l.add(events.UsersChain, events.TypeUserCreated, id(2), admin, at("2016-01-01 08:00"), at("2016-01-01 08:00"), nil, "",
		events.User{ID: li.ID, Role: events.RoleSubmitter, Scope: "dong"})
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	dev := events.Device{User: li.ID, Key: events.KeyID(pub), PublicKey: events.FormatPublicKey(pub)}
	signed := func(n int, title, captured, recorded string, alter bool) {
		ev := events.Evidence{Kind: events.KindActivity, Title: title}
		sig := events.SignDevice(priv, events.Content("dong", id(n), ev, at("2016-07-01 09:00"), nil), at(captured))
		if alter {
			ev.Title += "（改）"
		}
		l.add("dong", events.TypeEvidenceSubmitted, id(n), li, at("2016-07-01 09:00"), at(recorded), nil, "", events.EvidenceSubmitted{Evidence: ev, Version: 1, Device: &sig})
	}
	signed(10, "登記前", "2016-07-01 09:00", "2016-07-01 10:00", false)
	l.add(events.UsersChain, events.TypeDeviceRegistered, id(3), li, at("2016-07-02 08:00"), at("2016-07-02 08:00"), nil, "", dev)
	signed(11, "正常", "2016-07-02 09:00", "2016-07-02 10:00", false)
	signed(12, "時鐘快", "2016-07-02 12:00", "2016-07-02 10:30", false)
	signed(13, "改過", "2016-07-02 09:00", "2016-07-02 11:00", true)
	l.submit("dong", 14, "未簽名", "2016-07-02 09:00", "2016-07-02 11:30")
	l.add(events.UsersChain, events.TypeDeviceRevoked, id(4), admin, at("2016-07-03 08:00"), at("2016-07-03 08:00"), nil, "遺失", dev)
	signed(15, "撤銷後", "2016-07-03 09:00", "2016-07-03 10:00", false)
	a := projections.NewArchive()
	for _, r := range l.recs {
		if err := a.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	rep := audit.Devices(a, audit.Options{Zone: zone})
	got := map[string]string{}
	for _, f := range rep.Flagged {
		v := string(f.Verdict)
		if f.Late {
			v += "+late"
		}
		got[f.Title] = v
	}
	want := map[string]string{"登記前": "unknown_key", "時鐘快": "ok+late", "改過（改）": "bad_signature", "撤銷後": "revoked_key"}
	if rep.Signed != 5 || rep.OK != 2 || len(got) != len(want) {
		t.Fatalf("report %+v", rep)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if f := rep.Flagged[1]; f.Title != "時鐘快" || f.AheadSeconds != 5400 {
		t.Errorf("order or lead: %+v", rep.Flagged)
	}
	if rep := audit.Devices(a, audit.Options{Zone: zone, Filter: audit.Filter{From: at("2016-07-03 00:00")}}); rep.Signed != 1 || len(rep.Flagged) != 1 {
		t.Errorf("filtered from 3 July: %+v", rep)
	}
}
