package api

import (
	"net/http"

	"taizhang/auth"
	"taizhang/gate"
)

// CSRFToken returns the CSRF token that every form the web app renders for
// r must carry in a hidden field named "csrf" (the first field of a
// multipart form), or that a script sends as X-CSRF-Token. It is "" for a
// request that did not come with a session (bearer tokens need none).
func (s *Service) CSRFToken(r *http.Request) string { return gate.Principal(r).CSRF }

// SignIn answers POST /api/v1/session {"user","password"} or {"token"}: it
// starts a web session (the cookie) and answers the principal and the
// session's CSRF token, which scripts send as X-CSRF-Token.
func (s *Service) SignIn(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User     string `json:"user"`
		Password string `json:"password"`
		Token    string `json:"token"`
	}
	if err := gate.DecodeJSON(r, w, &in, 4<<10); err != nil {
		s.fail(w, r, err)
		return
	}
	var p auth.Principal
	var err error
	if in.Token != "" {
		p, err = s.authn.StartTokenSession(w, r, in.Token)
	} else {
		p, err = s.authn.StartSession(w, r, in.User, in.Password)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusOK, map[string]any{"principal": p, "csrf": p.CSRF})
}

// SignOut answers POST /api/v1/session/end: the session ends at once.
func (s *Service) SignOut(w http.ResponseWriter, r *http.Request) {
	s.authn.EndSession(w, r)
	w.WriteHeader(http.StatusNoContent)
}
