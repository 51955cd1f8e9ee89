package natsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"taizhang/auth"
)

// ObjectRef names an object in the uploads bucket to attach, and the file
// name to record (a label only; default: the object name's last element).
type ObjectRef struct {
	Object string `json:"object"`
	Name   string `json:"name,omitempty"`
}

// call is the HTTP request one NATS call becomes.
type call struct {
	method, path string
	query        url.Values
	body         []byte      // the JSON body (or the JSON part with objects)
	part         string      // the multipart JSON part's name, with objects
	objects      []ObjectRef // attachments from the uploads bucket
}

// endpoint is one NATS endpoint: its name and what call a payload makes.
type endpoint struct {
	name, doc string
	build     func(payload []byte) (*call, error)
}

// errPayload is a payload the service cannot turn into a call (400).
var errPayload = errors.New("bad payload")

func (s *Service) endpoints() []endpoint {
	return []endpoint{
		{EpSubmit, `evidence JSON (as POST /api/v1/units/{unit}/evidence) plus "unit" and optional "objects": [{"object","name"}]`, func(p []byte) (*call, error) {
			f, err := fields(p, "unit", "objects")
			if err != nil {
				return nil, err
			}
			if err := needID(f.rest); err != nil {
				return nil, err
			}
			if err := f.objectsOfUnit(); err != nil {
				return nil, err
			}
			return &call{method: http.MethodPost, path: "/api/v1/units/" + url.PathEscape(f.unit) + "/evidence",
				body: f.rest, part: "evidence", objects: f.objects}, nil
		}},
		{EpAmend, `correction JSON (as POST .../evidence/{id}/amend: reason, expected_version, changed fields) plus "unit", "id", optional "objects"`, func(p []byte) (*call, error) {
			f, err := fields(p, "unit", "id", "objects")
			if err != nil {
				return nil, err
			}
			if err := f.objectsOfUnit(); err != nil {
				return nil, err
			}
			return &call{method: http.MethodPost, path: "/api/v1/units/" + url.PathEscape(f.unit) + "/evidence/" + url.PathEscape(f.id) + "/amend",
				body: f.rest, part: "amend", objects: f.objects}, nil
		}},
		{EpRetract, `{"unit","id","reason","expected_version"}`, func(p []byte) (*call, error) {
			f, err := fields(p, "unit", "id")
			if err != nil {
				return nil, err
			}
			return &call{method: http.MethodPost, path: "/api/v1/units/" + url.PathEscape(f.unit) + "/evidence/" + url.PathEscape(f.id) + "/retract",
				body: f.rest}, nil
		}},
		{EpHistory, `{"unit","as_of"}: the unit's events in order`, read("history", false)},
		{EpArchive, `{"unit","as_of"}: the unit's archive projection`, read("archive", false)},
		{EpCompliance, `{"unit","as_of","plan"}: per plan and requirement, what is met and missing`, read("compliance", true)},
	}
}

// read builds the call of a read endpoint: GET /api/v1/units/{unit}/what
// with as_of (and plan) as query parameters.
func read(what string, plan bool) func([]byte) (*call, error) {
	return func(p []byte) (*call, error) {
		var in struct {
			Unit string  `json:"unit"`
			AsOf string  `json:"as_of"`
			Plan *string `json:"plan"`
		}
		if err := strict(p, &in); err != nil {
			return nil, err
		}
		if in.Unit == "" {
			return nil, fmt.Errorf("%w: \"unit\" is required", errPayload)
		}
		if in.Plan != nil && !plan {
			return nil, fmt.Errorf("%w: %s takes only \"unit\" and \"as_of\"", errPayload, what)
		}
		q := url.Values{}
		if in.AsOf != "" {
			q.Set("as_of", in.AsOf)
		}
		if in.Plan != nil && *in.Plan != "" {
			q.Set("plan", *in.Plan)
		}
		return &call{method: http.MethodGet, path: "/api/v1/units/" + url.PathEscape(in.Unit) + "/" + what, query: q}, nil
	}
}

// needID refuses a submission without its evidence id. Over HTTP the id
// is optional; over NATS a request often times out while the service
// still records it, and only a retry with the same id is then safe.
func needID(evidence []byte) error {
	var in struct {
		ID any `json:"id"`
	}
	_ = json.Unmarshal(evidence, &in)
	if in.ID == nil || in.ID == "" {
		return fmt.Errorf("%w: \"id\" is required: a client-made UUID (v7 preferred), so that a retry after a timeout appends nothing new", errPayload)
	}
	return nil
}

// strict decodes exactly one JSON object into v, unknown fields refused.
func strict(p []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: want a JSON object: %v", errPayload, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the JSON object", errPayload)
	}
	return nil
}

// envelope is a write payload split: the fields naming the target, and the
// rest, the HTTP API's JSON body (checked strictly there).
type envelope struct {
	unit, id string
	objects  []ObjectRef
	rest     []byte
}

// objectsOfUnit checks that every object the call attaches is named under
// its unit ("cun-1/photo.jpg" for unit cun-1). The uploads bucket is shared
// by every caller and its objects pass no gate on the way in, so this is
// what keeps a caller, who may write only to the units of its scope (the
// gate decides that), from attaching, and so reading, what was uploaded
// for a unit outside it.
func (f envelope) objectsOfUnit() error {
	for i, o := range f.objects {
		if !strings.HasPrefix(o.Object, f.unit+"/") || len(o.Object) == len(f.unit)+1 {
			return fmt.Errorf("%w: objects[%d]: %q is not an object of unit %s: put the bytes under %s/ (e.g. %s/photo.jpg)",
				errPayload, i, o.Object, f.unit, f.unit, f.unit)
		}
	}
	return nil
}

// fields splits a write payload (a JSON object) into the named envelope
// fields (unit and id: required strings; objects: optional) and the rest.
func fields(p []byte, names ...string) (envelope, error) {
	var m map[string]json.RawMessage
	if err := strict(p, &m); err != nil {
		return envelope{}, err
	}
	if m == nil {
		return envelope{}, fmt.Errorf("%w: want a JSON object, got null", errPayload)
	}
	var f envelope
	for _, n := range names {
		raw, ok := m[n]
		delete(m, n)
		switch n {
		case "unit", "id":
			var v string
			if !ok || json.Unmarshal(raw, &v) != nil || v == "" {
				return envelope{}, fmt.Errorf("%w: %q is required (a string)", errPayload, n)
			}
			if n == "unit" {
				f.unit = v
			} else {
				f.id = v
			}
		case "objects":
			if !ok {
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&f.objects); err != nil {
				return envelope{}, fmt.Errorf("%w: \"objects\": want [{\"object\": NAME, \"name\": FILE NAME}]: %v", errPayload, err)
			}
			for i, o := range f.objects {
				if o.Object == "" {
					return envelope{}, fmt.Errorf("%w: objects[%d]: \"object\" is required", errPayload, i)
				}
			}
		}
	}
	rest, err := json.Marshal(m)
	if err != nil {
		return envelope{}, fmt.Errorf("%w: %v", errPayload, err)
	}
	f.rest = rest
	return f, nil
}

// serve returns the handler of one endpoint: it turns the message into its
// call, sends that through the HTTP API's handler in this process with
// the caller's token, and answers what the API answered.
func (s *Service) serve(ep endpoint) func(micro.Request) {
	return func(req micro.Request) {
		if req.Reply() == "" {
			// Nobody would hear the answer: do nothing rather than append
			// what no one is told of.
			s.log.Warn("nats api: call without a reply subject ignored", "subject", req.Subject())
			return
		}
		if !s.begin() {
			s.answerError(req, http.StatusServiceUnavailable, "unavailable", "the service is stopping; retry (a retried submission with the same evidence id appends nothing new)", nil)
			return
		}
		defer s.calls.Done()
		c, err := ep.build(req.Data())
		if err != nil {
			s.answerError(req, http.StatusBadRequest, "bad_request", err.Error(), nil)
			return
		}
		if len(c.objects) > 0 && s.uploads == nil {
			s.answerError(req, http.StatusBadRequest, "bad_request", "this server takes no attachments through the object store; attach stored blobs by digest (\"blobs\")", nil)
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
		defer cancel()
		s.answer(req, s.do(ctx, req, c))
	}
}

// result is what the HTTP API answered.
type result struct {
	status int
	header http.Header
	body   []byte
	err    *apiError // set for a refusal made here, not by the API
}

type apiError struct {
	status        int
	code, message string
}

// do runs c through the HTTP API's handler, with the caller's
// credentials: only its Authorization header (never a cookie: a NATS call
// cannot ride on a web session), and X-Taizhang-Client: nats.
func (s *Service) do(ctx context.Context, req micro.Request, c *call) result {
	target := c.path
	if len(c.query) > 0 {
		target += "?" + c.query.Encode()
	}
	var body io.Reader
	contentType := ""
	var wait func(status int) *apiError
	switch {
	case len(c.objects) > 0:
		var r io.ReadCloser
		r, contentType, wait = s.multipart(ctx, c)
		defer r.Close()
		body = r
	case c.body != nil:
		body, contentType = bytes.NewReader(c.body), "application/json"
	}
	hreq, err := http.NewRequestWithContext(ctx, c.method, "http://nats"+target, body)
	if err != nil {
		return result{err: &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("unit or id cannot make a path: %v", err)}}
	}
	hreq.RemoteAddr = "nats" // the access log's client address
	hreq.Header.Set("X-Taizhang-Client", "nats")
	if contentType != "" {
		hreq.Header.Set("Content-Type", contentType)
	}
	for _, h := range []string{HeaderAuthorization, HeaderMinSeq, HeaderRequestID} {
		if v := req.Headers().Get(h); v != "" {
			hreq.Header.Set(h, v)
		}
	}
	if hreq.Header.Get(HeaderAuthorization) == "" {
		if user, ok := s.natsUser(req); ok {
			hreq = hreq.WithContext(auth.WithAssertedUser(hreq.Context(), user, "nats"))
		}
	}
	rec := &recorder{header: http.Header{}, max: s.cfg.MaxAnswer}
	if perr := s.serveHTTP(rec, hreq); perr != nil {
		return result{err: perr}
	}
	res := result{status: rec.status, header: rec.header, body: rec.buf.Bytes()}
	if res.status == 0 {
		res.status = http.StatusOK
	}
	if wait != nil {
		if oerr := wait(res.status); oerr != nil {
			res.err = oerr
		}
	}
	if rec.over {
		res.err = &apiError{http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the answer is over %d bytes, more than a NATS message here carries; read it over the HTTP API (%s %s)", s.cfg.MaxAnswer, c.method, target)}
	}
	return res
}

// HeaderRequestInfo is the header nats-server sets on a request that
// crosses a service import, naming the requester's account (and, when the
// import shares it, user).
const HeaderRequestInfo = "Nats-Request-Info"

// natsUser returns the taizhang user a call is from by the NATS server's
// word: the user named in Nats-Request-Info, when its account is one of
// Config.Accounts.
func (s *Service) natsUser(req micro.Request) (string, bool) {
	if len(s.cfg.Accounts) == 0 {
		return "", false
	}
	h := req.Headers().Get(HeaderRequestInfo)
	if h == "" {
		return "", false
	}
	var ci struct {
		Account string `json:"acc"`
		User    string `json:"user"`
	}
	// A NATS token user is named "[REDACTED]": that names no one.
	if err := json.Unmarshal([]byte(h), &ci); err != nil || ci.User == "" || ci.User == "[REDACTED]" || !slices.Contains(s.cfg.Accounts, ci.Account) {
		return "", false
	}
	return ci.User, true
}

// serveHTTP calls the handler, turning a panic into a 500 (net/http would
// have recovered it for a connection; here nothing else would).
func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request) (perr *apiError) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("nats api: handler panicked", "path", r.URL.Path, "panic", v)
			perr = &apiError{http.StatusInternalServerError, "internal", "internal error; see the server log"}
		}
	}()
	s.cfg.Handler.ServeHTTP(w, r)
	return nil
}

// errAnswered closes the multipart pipe once the API has answered.
var errAnswered = errors.New("natsapi: the API answered")

// multipart streams c's JSON part and then its objects, read from the
// uploads bucket one at a time (nats.go checks each object's digest), as a
// multipart body. The returned wait, called once the API has answered with
// status, ends the stream and reports an object that could not be read when
// that is why the API refused (a missing object: 404; the store: 503).
func (s *Service) multipart(ctx context.Context, c *call) (io.ReadCloser, string, func(int) *apiError) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	errc := make(chan error, 1)
	go func() {
		err := s.writeParts(ctx, mw, c)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err) // nil: EOF
		errc <- err
	}()
	wait := func(status int) *apiError {
		pr.CloseWithError(errAnswered) // a writer still writing stops
		err := <-errc
		var oe *objectError
		if status < 400 || !errors.As(err, &oe) {
			return nil
		}
		if errors.Is(oe.err, jetstream.ErrObjectNotFound) {
			return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("object %q is not in the %s object store (objects there expire after %s)", oe.object, s.cfg.Uploads, s.cfg.UploadTTL)}
		}
		if errors.Is(oe.err, jetstream.ErrDigestMismatch) {
			return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("object %q: %v; put it again", oe.object, oe.err)}
		}
		return &apiError{http.StatusServiceUnavailable, "unavailable", fmt.Sprintf("object %q: %v; retry", oe.object, oe.err)}
	}
	return pr, mw.FormDataContentType(), wait
}

// objectError is an object of the uploads bucket that could not be read.
type objectError struct {
	object string
	err    error
}

func (e *objectError) Error() string { return fmt.Sprintf("object %q: %v", e.object, e.err) }

func (s *Service) writeParts(ctx context.Context, mw *multipart.Writer, c *call) error {
	if err := mw.WriteField(c.part, string(c.body)); err != nil {
		return err
	}
	for _, o := range c.objects {
		name := o.Name
		if name == "" {
			name = path.Base(o.Object)
		}
		// The part's header first: it ends the part before it, so that the
		// API has read the evidence (and answered a retry of a recorded
		// submission) before an object that is gone fails the stream.
		part, err := mw.CreateFormFile("attachment", name)
		if err != nil {
			return err
		}
		obj, err := s.uploads.Get(ctx, o.Object)
		if err != nil {
			return &objectError{o.Object, err}
		}
		_, err = io.Copy(part, &objectReader{obj, o.Object})
		obj.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// objectReader marks the errors of an object's reader as objectErrors, to
// tell them from the pipe's.
type objectReader struct {
	r    io.Reader
	name string
}

func (o *objectReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if err != nil && err != io.EOF {
		err = &objectError{o.name, err}
	}
	return n, err
}

// answer sends res as the call's answer: the body, or for a status of 400
// or more a micro error (code: the status; description: the message),
// with the status, request id and ledger sequence in headers.
func (s *Service) answer(req micro.Request, res result) {
	if res.err != nil {
		s.answerError(req, res.err.status, res.err.code, res.err.message, res.header)
		return
	}
	h := answerHeaders(res.status, res.header)
	var err error
	if res.status >= 400 {
		var eb errorBody
		_ = json.Unmarshal(res.body, &eb)
		desc := eb.Error.Message
		if desc == "" {
			desc = http.StatusText(res.status)
		}
		err = req.Error(strconv.Itoa(res.status), oneLine(desc), res.body, micro.WithHeaders(h))
	} else {
		err = req.Respond(res.body, micro.WithHeaders(h))
	}
	if err != nil {
		s.log.Warn("nats api: answer not sent", "subject", req.Subject(), "status", res.status, "err", err)
	}
}

// answerError answers a refusal made here with the HTTP API's error body.
func (s *Service) answerError(req micro.Request, status int, code, message string, from http.Header) {
	var eb errorBody
	eb.Error.Code, eb.Error.Message = code, message
	if from != nil {
		eb.Error.RequestID = from.Get(HeaderRequestID)
	}
	b, _ := json.Marshal(eb)
	if err := req.Error(strconv.Itoa(status), oneLine(message), b, micro.WithHeaders(answerHeaders(status, from))); err != nil {
		s.log.Warn("nats api: answer not sent", "subject", req.Subject(), "status", status, "err", err)
	}
}

// errorBody is the HTTP API's error answer.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

func answerHeaders(status int, from http.Header) micro.Headers {
	h := micro.Headers{HeaderStatus: []string{strconv.Itoa(status)}}
	for _, k := range []string{HeaderRequestID, HeaderSeq, "Retry-After"} {
		if v := from.Get(k); v != "" {
			h[k] = []string{v}
		}
	}
	return h
}

// oneLine makes a message fit a NATS header: one line, at most 1 KiB.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1024 {
		s = strings.ToValidUTF8(s[:1024], "") + "…"
	}
	if s == "" {
		s = "error"
	}
	return s
}

// recorder is the http.ResponseWriter of an in-process call: it keeps the
// status, the header and at most max bytes of body (over marks more).
type recorder struct {
	header http.Header
	status int
	buf    bytes.Buffer
	max    int
	over   bool
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// errAnswerTooLarge stops a handler writing past the recorder's bound.
var errAnswerTooLarge = errors.New("natsapi: answer over the NATS message limit")

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.over || w.buf.Len()+len(b) > w.max {
		w.over = true
		return 0, errAnswerTooLarge
	}
	return w.buf.Write(b)
}
