package httpserver

import (
	"net/http"
	"taizhang/auth"
	"taizhang/events"
	"taizhang/openapi"
	"taizhang/pages"
	"taizhang/web"
)

// routes registers every route behind the one gate, with the action it is
// authorised as and whether its path names the unit it is authorised
// against: the route table, in one place (the README's authorisation
// table is rendered from it; see authz_table_test.go). The ops routes are
// this package's (ops.go, status.go), the JSON API's handlers package
// api's, the web app's package pages'.
func (s *Server) routes() {
	g, a, pg := s.gate, s.api, s.pages
	// Ops and the JSON API.
	g.Handle("GET /healthz", auth.ActHealth, false, s.health)
	g.Handle("GET /api/v1/status", auth.ActStatus, false, s.status)
	g.Handle("GET /api/v1/openapi.json", auth.ActPublic, false, serveOpenAPI)
	g.Handle("GET /readyz", auth.ActHealth, false, s.ready)
	g.Handle("GET /metrics", auth.ActHealth, false, s.metrics)
	g.Handle("POST /api/v1/units", auth.ActUnitCreate, false, a.CreateUnit)
	g.Handle("GET /api/v1/units", auth.ActUnitList, false, a.ListUnits)
	g.Handle("GET /api/v1/units/{unit}", auth.ActUnitRead, true, a.ShowUnit)
	g.Handle("POST /api/v1/units/{unit}/evidence", auth.ActEvidenceWrite, true, a.SubmitEvidence)
	g.Handle("POST /api/v1/units/{unit}/evidence/{id}/amend", auth.ActEvidenceWrite, true, a.AmendEvidence)
	g.Handle("POST /api/v1/units/{unit}/evidence/{id}/retract", auth.ActEvidenceWrite, true, a.RetractEvidence)
	g.Handle("GET /api/v1/units/{unit}/history", auth.ActUnitRead, true, a.History)
	g.Handle("GET /api/v1/units/{unit}/archive", auth.ActUnitRead, true, a.UnitArchive)
	g.Handle("GET /api/v1/blobs/{sha256}", auth.ActBlobRead, false, a.Blob)
	g.Handle("POST /api/v1/tokens", auth.ActTokenCreate, false, a.CreateToken)
	g.Handle("GET /api/v1/tokens", auth.ActTokenAdmin, false, a.ListTokens)
	g.Handle("POST /api/v1/tokens/{id}/revoke", auth.ActTokenAdmin, false, a.RevokeToken)
	g.Handle("POST /api/v1/users", auth.ActUserWrite, false, a.PostUser)
	g.Handle("GET /api/v1/users", auth.ActUserRead, false, a.ListUsers)
	g.Handle("GET /api/v1/users/{user}", auth.ActUserRead, false, a.GetUser)
	g.Handle("GET /api/v1/users/{user}/can", auth.ActUserRead, false, a.UserCan)
	g.Handle("POST /api/v1/users/{user}/change", auth.ActUserWrite, false, a.ChangeUser(events.TypeUserChanged))
	g.Handle("POST /api/v1/users/{user}/disable", auth.ActUserWrite, false, a.ChangeUser(events.TypeUserDisabled))
	g.Handle("POST /api/v1/users/{user}/enable", auth.ActUserWrite, false, a.ChangeUser(events.TypeUserEnabled))
	g.Handle("POST /api/v1/users/{user}/password", auth.ActUserWrite, false, a.PutPassword)
	g.Handle("GET /api/v1/access/who", auth.ActUserRead, false, a.WhoCan)
	g.Handle("GET /api/v1/audit/access", auth.ActAccessLog, false, a.AccessLog)
	g.Handle("GET /api/v1/me", auth.ActSession, false, a.Me)
	g.Handle("POST /api/v1/session", auth.ActPublic, false, a.SignIn)
	g.Handle("POST /api/v1/session/end", auth.ActSession, false, a.SignOut)
	g.Handle("POST /api/v1/units/{unit}/findings", auth.ActFindingWrite, true, a.RecordFinding)
	g.Handle("POST /api/v1/units/{unit}/findings/{id}/resolve", auth.ActFindingWrite, true, a.ResolveFinding)
	g.Handle("POST /api/v1/units/{unit}/findings/{id}/reopen", auth.ActFindingWrite, true, a.ReopenFinding)
	g.Handle("GET /api/v1/units/{unit}/findings", auth.ActUnitRead, true, a.ListFindings)
	g.Handle("GET /api/v1/units/{unit}/compliance", auth.ActUnitRead, true, a.Compliance)
	g.Handle("GET /api/v1/verify", auth.ActVerify, false, a.VerifyUnit)
	g.Handle("GET /api/v1/plans/{plan}/ranking", auth.ActPlanRead, false, a.ShowRanking)
	g.Handle("POST /api/v1/plans", auth.ActPlanPublish, false, a.PublishPlan)
	g.Handle("GET /api/v1/plans", auth.ActPlanRead, false, a.ListPlans)
	g.Handle("GET /api/v1/plans/{plan}", auth.ActPlanRead, false, a.ShowPlan)
	g.Handle("GET /api/v1/audit/corrections", auth.ActAudit, false, a.AuditView("corrections"))
	g.Handle("GET /api/v1/audit/backfill", auth.ActAudit, false, a.AuditView("backfill"))
	g.Handle("GET /api/v1/audit/bursts", auth.ActAudit, false, a.AuditView("bursts"))
	g.Handle("GET /api/v1/audit/reuse", auth.ActAudit, false, a.AuditView("reuse"))
	g.Handle("GET /api/v1/audit/photo-times", auth.ActAudit, false, a.AuditView("photo-times"))
	g.Handle("GET /api/v1/audit/actors", auth.ActAudit, false, a.AuditView("actors"))
	g.Handle("GET /api/v1/audit/devices", auth.ActAudit, false, a.AuditView("devices"))
	// Signed devices.
	g.Handle("POST /api/v1/devices", auth.ActDevice, false, a.RegisterDevice)
	g.Handle("GET /api/v1/devices", auth.ActDevice, false, a.ListDevices)
	g.Handle("POST /api/v1/devices/{key}/revoke", auth.ActDevice, false, a.RevokeDevice)
	g.Handle("GET /api/v1/devices/registry", auth.ActUserRead, false, a.DeviceRegistry)
	// Checkpoints over the whole ledger and proofs against them.
	g.Handle("GET /api/v1/checkpoints/key", auth.ActCheckpointRead, false, a.CheckpointKey)
	g.Handle("GET /api/v1/checkpoints/latest", auth.ActCheckpointRead, false, a.LatestCheckpoint)
	g.Handle("GET /api/v1/checkpoints", auth.ActCheckpointRead, false, a.ListCheckpoints)
	g.Handle("POST /api/v1/checkpoints", auth.ActCheckpointCreate, false, a.CreateCheckpoint)
	g.Handle("GET /api/v1/checkpoints/{seq}", auth.ActCheckpointRead, false, a.ShowCheckpoint)
	g.Handle("POST /api/v1/checkpoints/{seq}/cosignatures", auth.ActCosign, false, a.PostCosignature)
	g.Handle("GET /api/v1/proofs/inclusion", auth.ActCheckpointRead, false, a.InclusionProof)
	g.Handle("GET /api/v1/proofs/consistency", auth.ActCheckpointRead, false, a.ConsistencyProof)
	g.Handle("GET /api/v1/units/{unit}/proof", auth.ActUnitRead, true, a.UnitProof)
	g.Handle("GET /api/v1/units/{unit}/export", auth.ActUnitExport, true, a.ExportUnit)
	g.Handle("GET /thumbs/{sha256}", auth.ActBlobRead, false, a.Thumb)
	// The web app's pages.
	g.Handle("GET /static/", auth.ActPublic, false, web.Static().ServeHTTP)
	g.Handle("GET /sw.js", auth.ActPublic, false, web.ServiceWorker().ServeHTTP) // the offline worker: scope /
	g.Handle("GET /login", auth.ActPublic, false, pg.Login)
	g.Handle("POST /login", auth.ActPublic, false, pg.LoginPassword)
	g.Handle("POST /login/token", auth.ActPublic, false, pg.LoginToken)
	g.Handle("POST /logout", auth.ActSession, false, pg.Logout) // a signed-in user, with the CSRF check
	g.Handle("GET /{$}", auth.ActHome, false, pg.Home)
	g.Handle("GET /units", auth.ActHome, false, pg.Units)
	g.Handle("GET /units/{unit}", auth.ActUnitRead, true, pg.Unit)
	g.Handle("GET /units/{unit}/timeline", auth.ActUnitRead, true, pg.Timeline)
	g.Handle("GET /units/{unit}/dossier", auth.ActUnitRead, true, pg.Dossier)
	g.Handle("GET /units/{unit}/receipts/{id}", auth.ActUnitRead, true, pg.Receipt)
	g.Handle("GET /units/{unit}/submit", auth.ActEvidenceWrite, true, pg.SubmitForm)
	g.Handle("POST /units/{unit}/submit", auth.ActEvidenceWrite, true, pg.Submit)
	g.Handle("POST /units/{unit}/evidence/{id}/amend", auth.ActEvidenceWrite, true, pg.Amend)
	g.Handle("POST /units/{unit}/evidence/{id}/retract", auth.ActEvidenceWrite, true, pg.Retract)
	g.Handle("POST /units/{unit}/findings", auth.ActFindingWrite, true, pg.RecordFinding)
	g.Handle("POST /units/{unit}/findings/{id}/resolve", auth.ActFindingWrite, true, pg.Decide(true))
	g.Handle("POST /units/{unit}/findings/{id}/reopen", auth.ActFindingWrite, true, pg.Decide(false))
	// The supervisor's pages: the audit views, the verification page and
	// exports, the monthly ranking, the witnesses.
	g.Handle("GET /audit/{$}", auth.ActAudit, false, pg.AuditIndex)
	for _, v := range pages.AuditViews() {
		g.Handle("GET /audit/"+v, auth.ActAudit, false, pg.AuditPage(v))
	}
	g.Handle("GET /audit/verify", auth.ActAudit, false, pg.AuditVerify)
	g.Handle("GET /audit/export", auth.ActAudit, false, pg.AuditExport)
	g.Handle("GET /plans/{plan}/ranking", auth.ActPlanRead, false, pg.RankingPage)
	g.Handle("GET /audit/witnesses", auth.ActAudit, false, pg.AuditWitnesses)
}

// serveOpenAPI answers the API's OpenAPI 3.1 document (package openapi).
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapi.Document())
}
