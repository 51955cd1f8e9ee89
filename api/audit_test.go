package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
)

// TestAuditAuthorization: the audit views are a supervisor's and an
// admin's; no other role reads them.
func TestAuditAuthorization(t *testing.T) {
	for role, allowed := range map[events.Role]bool{events.RoleAdmin: true, events.RoleSupervisor: true,
		events.RoleInspector: false, events.RoleSubmitter: false, events.RoleSystem: false} {
		err := auth.Decide(auth.Principal{User: "u", Role: role, Unit: "dongcun"}, auth.ActAudit, "", nil)
		if allowed != (err == nil) || err != nil && !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("%s: %v", role, err)
		}
	}
}

func TestAuditOptions(t *testing.T) {
	s := New(Deps{}, Config{Zone: zone})
	admin := func(r *http.Request) *http.Request {
		return r.WithContext(gate.WithPrincipal(r.Context(), auth.Principal{User: "a", Role: events.RoleAdmin}))
	}
	o, f, err := s.AuditOptions(admin(httptest.NewRequest("GET", "/api/v1/audit/backfill?unit=cun-6&from=2016-09-01&to=2016-09-10&actor=clerk&threshold_days=60&flagged=true", nil)))
	if err != nil {
		t.Fatal(err)
	}
	if o.Unit != "cun-6" || o.Actor != "clerk" || o.ThresholdDays != 60 || !o.FlaggedOnly || f.ThresholdDays != 60 ||
		!o.From.Equal(time.Date(2016, 9, 1, 0, 0, 0, 0, zone)) || !o.To.Equal(time.Date(2016, 9, 11, 0, 0, 0, 0, zone)) || o.Zone != zone {
		t.Fatalf("%+v %+v", o, f)
	}
	for _, bad := range []string{"unit=Bad_Unit", "from=2016-13-01", "to=yesterday", "from=2016-09-10&to=2016-09-01", "threshold_days=0",
		"threshold_days=x", "near_distance=64", "flagged=maybe"} {
		_, _, err := s.AuditOptions(admin(httptest.NewRequest("GET", "/api/v1/audit/backfill?"+bad, nil)))
		if status, _ := gate.StatusOf(err); err == nil || status != 400 {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
