package gate

import (
	"net/http"

	"taizhang/auth"
	"taizhang/events"
)

// discardAccess records nothing: the access log until SetAccessLog.
type discardAccess struct{}

func (discardAccess) Record(auth.AccessEntry) {}

// SetAccessLog makes the server record every request but the public ones in
// log; if log is also an AccessReader, GET /api/v1/audit/access reads it.
func (g *Gate) SetAccessLog(log auth.AccessLog) { g.access = log }

// AccessLog is the log SetAccessLog set (one that records nothing before).
func (g *Gate) AccessLog() auth.AccessLog { return g.access }

// LogAccess records one request's outcome.
func (g *Gate) LogAccess(r *http.Request, p auth.Principal, act auth.Action, unit string, status int, refused error) {
	if status == 0 {
		status = http.StatusOK
	}
	if unit == "" { // a unit-less route about one unit (?unit=): a blob, a thumbnail, an audit view
		if u := r.URL.Query().Get("unit"); events.ValidUnitID(u) == nil {
			unit = u
		}
	}
	e := auth.AccessEntry{Time: g.cfg.Now().UTC(), Actor: p.User, Role: p.Role, ActorUnit: p.Unit, Via: p.Via, Action: act, Method: r.Method,
		Path: r.URL.Path, Query: r.URL.RawQuery, Unit: unit, Client: auth.ClientAddr(r), Status: status, Outcome: auth.OutcomeAllowed}
	if len(e.Query) > 500 {
		e.Query = e.Query[:500]
	}
	switch {
	case refused != nil || status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests:
		e.Outcome = auth.OutcomeDenied
	case status >= 400:
		e.Outcome = auth.OutcomeFailed
	}
	if refused != nil {
		e.Reason = refused.Error()
		if len(e.Reason) > 300 {
			e.Reason = e.Reason[:300]
		}
	}
	g.access.Record(e)
}
