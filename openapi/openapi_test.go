package openapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"taizhang/auth"
	"taizhang/gate"
	"taizhang/httpserver"
	"taizhang/openapi"
)

// doc is the document decoded as plain JSON, for the structural checks.
type doc struct {
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas         map[string]json.RawMessage `json:"schemas"`
		Responses       map[string]json.RawMessage `json:"responses"`
		SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
	} `json:"components"`
}

type operation struct {
	OperationID string                     `json:"operationId"`
	Action      string                     `json:"x-taizhang-action"`
	Unit        bool                       `json:"x-taizhang-unit"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Security    *[]map[string][]string     `json:"security"`
	Parameters  []json.RawMessage          `json:"parameters"`
}

func load(t *testing.T) doc {
	t.Helper()
	var d doc
	if err := json.Unmarshal(openapi.Document(), &d); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	return d
}

// opsRoutes are the API routes outside /api/: operations, and thumbnails
// (images for any client). Every other route outside /api/ is a web page
// (HTML), which the document does not describe.
var opsRoutes = []string{"/healthz", "/readyz", "/metrics", "/thumbs/"}

func isAPI(path string) bool {
	if strings.HasPrefix(path, "/api/") {
		return true
	}
	for _, p := range opsRoutes {
		if path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// apiRoutes returns the server's API routes by "METHOD path".
func apiRoutes(t *testing.T) map[string]gate.Route {
	t.Helper()
	s := httpserver.New(nil, nil, nil, nil, httpserver.Config{}, nil)
	out := map[string]gate.Route{}
	for _, r := range s.Routes() {
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok {
			t.Fatalf("route %q has no method", r.Pattern)
		}
		if !isAPI(path) {
			continue
		}
		if strings.Contains(path, "{$}") || strings.Contains(path, "...}") || strings.HasSuffix(path, "/") {
			t.Fatalf("API route %q: the document cannot express this pattern; give it a plain path", r.Pattern)
		}
		out[method+" "+path] = r
	}
	return out
}

// TestRoutesMatchDocument: the document has exactly the server's API
// routes (no route missing, none the server does not serve), each with the
// action and unit scope the server authorises it as.
func TestRoutesMatchDocument(t *testing.T) {
	d := load(t)
	routes := apiRoutes(t)
	if len(routes) < 50 {
		t.Fatalf("only %d API routes: is the route table read right?", len(routes))
	}
	seen := map[string]bool{}
	for path, item := range d.Paths {
		for method, op := range item {
			key := strings.ToUpper(method) + " " + path
			seen[key] = true
			r, ok := routes[key]
			if !ok {
				t.Errorf("the document has %s, which the server does not serve", key)
				continue
			}
			if op.Action != string(r.Action) {
				t.Errorf("%s: x-taizhang-action %q, the server authorises it as %q", key, op.Action, r.Action)
			}
			if op.Unit != r.Unit {
				t.Errorf("%s: x-taizhang-unit %v, the server's route says %v", key, op.Unit, r.Unit)
			}
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", key)
			}
		}
	}
	for key := range routes {
		if !seen[key] {
			t.Errorf("the server serves %s, which the document does not describe", key)
		}
	}
}

// TestOperationsListErrorsAndSecurity: every operation lists its error
// responses (the shared ones, each with the error body) and its security:
// none for the public ones, a token or a session otherwise, and with a
// session the CSRF header on every method that changes something.
func TestOperationsListErrorsAndSecurity(t *testing.T) {
	d := load(t)
	for path, item := range d.Paths {
		for method, op := range item {
			key := strings.ToUpper(method) + " " + path
			public := op.Action == string(auth.ActPublic) || op.Action == string(auth.ActHealth)
			var errs []int
			for code, raw := range op.Responses {
				st, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("%s: response %q is not a status", key, code)
					continue
				}
				if st < 400 {
					continue
				}
				errs = append(errs, st)
				var ref struct {
					Ref string `json:"$ref"`
				}
				_ = json.Unmarshal(raw, &ref)
				if !strings.HasPrefix(ref.Ref, "#/components/responses/") && !(path == "/readyz" && st == 503) {
					t.Errorf("%s: error response %d is not one of the shared error responses", key, st)
				}
			}
			if !slices.Contains(errs, http.StatusInternalServerError) {
				t.Errorf("%s: no 500 response", key)
			}
			if !public {
				for _, st := range []int{400, 401, 403, 503} {
					if !slices.Contains(errs, st) {
						t.Errorf("%s: an authenticated route, without error response %d", key, st)
					}
				}
			}
			if op.Security == nil {
				t.Errorf("%s: no security listed", key)
				continue
			}
			sec := *op.Security
			if public {
				if len(sec) != 0 {
					t.Errorf("%s: public, but security %v", key, sec)
				}
				continue
			}
			var bearer, session bool
			for _, req := range sec {
				for name := range req {
					if _, ok := d.Components.SecuritySchemes[name]; !ok {
						t.Errorf("%s: security scheme %q is not defined", key, name)
					}
				}
				_, b := req["bearer"]
				_, s := req["session"]
				_, csrf := req["csrf"]
				bearer = bearer || b
				if s {
					session = true
					if method != "get" && !csrf {
						t.Errorf("%s: a session changing something without the CSRF header", key)
					}
				}
			}
			if !bearer || !session {
				t.Errorf("%s: security %v: want a bearer token or a session", key, sec)
			}
		}
	}
}

// TestErrorCodes: the error codes the document lists, per status, are
// exactly those the server answers with (its error table and fallbacks).
func TestErrorCodes(t *testing.T) {
	d := load(t)
	want := map[string]bool{}
	for _, c := range gate.ErrorCodes() {
		want[fmt.Sprintf("%d %s", c.Status, c.Code)] = true
	}
	got := map[string]bool{}
	for name, raw := range d.Components.Responses {
		var r struct {
			Content map[string]struct {
				Schema struct {
					AllOf []struct {
						Ref string `json:"$ref"`
						errorCodes
					} `json:"allOf"`
				} `json:"schema"`
			} `json:"content"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		st := statusOf(t, d, name)
		s := r.Content["application/json"].Schema
		if len(s.AllOf) != 2 || s.AllOf[0].Ref != "#/components/schemas/Error" {
			t.Errorf("response %s: not the Error schema narrowed to its codes", name)
			continue
		}
		for _, c := range s.AllOf[1].Properties.Error.Properties.Code.Enum {
			got[fmt.Sprintf("%d %s", st, c)] = true
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("the server answers %s; the document does not list it", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("the document lists %s; the server never answers it", k)
		}
	}
	var errSchema errorCodes
	if err := json.Unmarshal(d.Components.Schemas["Error"], &errSchema); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, c := range gate.ErrorCodes() {
		if !slices.Contains(codes, c.Code) {
			codes = append(codes, c.Code)
		}
	}
	sort.Strings(codes)
	enum := slices.Clone(errSchema.Properties.Error.Properties.Code.Enum)
	sort.Strings(enum)
	if !slices.Equal(enum, codes) {
		t.Errorf("Error.code enum %v, the server's codes %v", enum, codes)
	}
}

// errorCodes is the part of an error schema that lists its codes:
// properties.error.properties.code.enum.
type errorCodes struct {
	Properties struct {
		Error struct {
			Properties struct {
				Code struct {
					Enum []string `json:"enum"`
				} `json:"code"`
			} `json:"properties"`
		} `json:"error"`
	} `json:"properties"`
}

// statusOf returns the status a shared error response is used for, from
// the operations that refer to it (all must agree).
func statusOf(t *testing.T, d doc, name string) int {
	t.Helper()
	st := 0
	for path, item := range d.Paths {
		for method, op := range item {
			for code, raw := range op.Responses {
				if strings.Contains(string(raw), `"#/components/responses/`+name+`"`) {
					n, _ := strconv.Atoi(code)
					if st != 0 && st != n {
						t.Errorf("response %s is used for %d and %d (%s %s)", name, st, n, method, path)
					}
					st = n
				}
			}
		}
	}
	if st == 0 && name != "MethodNotAllowed" {
		t.Errorf("response %s is used by no operation", name)
	}
	if st == 0 {
		st = http.StatusMethodNotAllowed // answered for methods the paths do not take
	}
	return st
}

// TestDocumentIsValidOpenAPI: the document is a valid OpenAPI 3.1
// document (checked against the OpenAPI 3.1 schema by libopenapi-
// validator), builds into a model without errors, and every $ref in it
// resolves.
func TestDocumentIsValidOpenAPI(t *testing.T) {
	ld, err := libopenapi.NewDocument(openapi.Document())
	if err != nil {
		t.Fatal(err)
	}
	if v := ld.GetVersion(); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("openapi %q, want 3.1", v)
	}
	if _, err := ld.BuildV3Model(); err != nil {
		t.Fatalf("build the model: %v", err)
	}
	v, errs := validator.NewValidator(ld)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s (line %d)", se.Reason, se.FieldPath, se.Line)
			}
		}
	}
	var all any
	if err := json.Unmarshal(openapi.Document(), &all); err != nil {
		t.Fatal(err)
	}
	refs := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					refs++
					if _, err := pointer(all, s); err != nil {
						t.Errorf("$ref %s: %v", s, err)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(all)
	if refs < 100 {
		t.Errorf("only %d $refs: is the walk right?", refs)
	}
}

// pointer resolves a local JSON pointer ("#/a/b") in v.
func pointer(v any, ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("not a local reference")
	}
	for _, tok := range strings.Split(p, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q: not an object", tok)
		}
		if v, ok = m[tok]; !ok {
			return nil, fmt.Errorf("%q: no such member", tok)
		}
	}
	return v, nil
}
