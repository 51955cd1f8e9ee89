package openapi_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/events"
	"taizhang/events/checkpoint"
	"taizhang/httpserver"
	"taizhang/openapi"
	"taizhang/projections"
	"taizhang/projections/audit"
	"taizhang/projections/compliance"
	"taizhang/projections/plan"
	"taizhang/verify"
)

// goTypes are the Go types the document's object schemas describe, by
// schema name. Item, Link and FindingItem encode through their own
// MarshalJSON (unexported shapes) and are checked by
// TestAnswersMatchDocument instead; the other schemas without a Go type
// here are written for answers built in the handlers (maps, wrappers) or
// for unexported inputs, and are listed in handWritten.
var goTypes = map[string]reflect.Type{
	"Accepts":           reflect.TypeFor[plan.Accepts](),
	"AccessEntry":       reflect.TypeFor[auth.AccessEntry](),
	"Actor":             reflect.TypeFor[events.Actor](),
	"ActorActivity":     reflect.TypeFor[audit.ActorActivity](),
	"ActorsReport":      reflect.TypeFor[audit.ActorsReport](),
	"Amendment":         reflect.TypeFor[projections.Amendment](),
	"Anchor":            reflect.TypeFor[audit.Anchor](),
	"ArchiveView":       reflect.TypeFor[projections.View](),
	"Attachment":        reflect.TypeFor[events.Attachment](),
	"AttachmentAnswer":  reflect.TypeFor[api.AttachmentAnswer](),
	"AuditCorrection":   reflect.TypeFor[audit.Correction](),
	"AuditFilter":       reflect.TypeFor[api.AuditFilter](),
	"BackfillItem":      reflect.TypeFor[audit.BackfillItem](),
	"BackfillReport":    reflect.TypeFor[audit.BackfillReport](),
	"BackfillUnit":      reflect.TypeFor[audit.BackfillUnit](),
	"BlobRef":           reflect.TypeFor[api.BlobRef](),
	"Burst":             reflect.TypeFor[audit.Burst](),
	"BurstsReport":      reflect.TypeFor[audit.BurstsReport](),
	"CanAnswer":         reflect.TypeFor[api.CanAnswer](),
	"Changes":           reflect.TypeFor[events.Changes](),
	"Checkpoint":        reflect.TypeFor[checkpoint.Stored](),
	"CheckpointReport":  reflect.TypeFor[verify.CheckpointReport](),
	"Closure":           reflect.TypeFor[projections.Closure](),
	"ClosureBasis":      reflect.TypeFor[events.ClosureBasis](),
	"ComplianceAnswer":  reflect.TypeFor[api.ComplianceAnswer](),
	"ComplianceReport":  reflect.TypeFor[compliance.Report](),
	"ConsistencyProof":  reflect.TypeFor[checkpoint.ConsistencyProof](),
	"CorrectionInput":   reflect.TypeFor[api.CorrectionInput](),
	"CorrectionsReport": reflect.TypeFor[audit.CorrectionsReport](),
	"Cosignature":       reflect.TypeFor[checkpoint.Cosignature](),
	"CosignatureRecord": reflect.TypeFor[checkpoint.CosignatureRecord](),
	"Counted":           reflect.TypeFor[compliance.Counted](),
	"DecisionInput":     reflect.TypeFor[api.DecisionInput](),
	"DeviceCheck":       reflect.TypeFor[events.DeviceCheck](),
	"DeviceFlag":        reflect.TypeFor[verify.DeviceFlag](),
	"DeviceInput":       reflect.TypeFor[api.DeviceInput](),
	"DeviceItem":        reflect.TypeFor[audit.DeviceItem](),
	"DeviceReport":      reflect.TypeFor[verify.DeviceReport](),
	"DeviceSignature":   reflect.TypeFor[events.DeviceSignature](),
	"DevicesReport":     reflect.TypeFor[audit.DevicesReport](),
	"EvidenceAmended":   reflect.TypeFor[events.EvidenceAmended](),
	"EvidenceInput":     reflect.TypeFor[api.EvidenceInput](),
	"EvidenceRetracted": reflect.TypeFor[events.EvidenceRetracted](),
	"EvidenceSubmitted": reflect.TypeFor[events.EvidenceSubmitted](),
	"ExactReuse":        reflect.TypeFor[audit.ExactReuse](),
	"FieldChange":       reflect.TypeFor[audit.FieldChange](),
	"FindingChanged":    reflect.TypeFor[events.FindingChanged](),
	"FindingInput":      reflect.TypeFor[api.FindingInput](),
	"FindingRecorded":   reflect.TypeFor[events.FindingRecorded](),
	"FindingsView":      reflect.TypeFor[projections.FindingsView](),
	"GPS":               reflect.TypeFor[events.GPS](),
	"HistoryEntry":      reflect.TypeFor[api.HistoryEntry](),
	"InclusionProof":    reflect.TypeFor[checkpoint.InclusionProof](),
	"LeaseStatus":       reflect.TypeFor[httpserver.LeaseStatus](),
	"Message":           reflect.TypeFor[compliance.Message](),
	"NearDuplicate":     reflect.TypeFor[audit.NearDuplicate](),
	"PeriodResult":      reflect.TypeFor[compliance.PeriodResult](),
	"Permission":        reflect.TypeFor[api.Permission](),
	"Phase":             reflect.TypeFor[plan.Phase](),
	"PhotoTime":         reflect.TypeFor[audit.PhotoTime](),
	"PhotoTimesReport":  reflect.TypeFor[audit.PhotoTimesReport](),
	"Plan":              reflect.TypeFor[plan.Plan](),
	"PlanAnswer":        reflect.TypeFor[api.PlanAnswer](),
	"PlanPublished":     reflect.TypeFor[events.PlanPublished](),
	"PlanSummary":       reflect.TypeFor[api.PlanSummary](),
	"PlanVersion":       reflect.TypeFor[projections.PlanVersion](),
	"Principal":         reflect.TypeFor[auth.Principal](),
	"ProjectionStatus":  reflect.TypeFor[httpserver.ProjectionStatus](),
	"Quarantine":        reflect.TypeFor[events.Quarantine](),
	"RankEntry":         reflect.TypeFor[api.RankEntry](),
	"Ranking":           reflect.TypeFor[api.Ranking](),
	"Ratio":             reflect.TypeFor[compliance.Ratio](),
	"Readiness":         reflect.TypeFor[httpserver.Readiness](),
	"Receipt":           reflect.TypeFor[api.Receipt](),
	"RegisteredDevice":  reflect.TypeFor[events.RegisteredDevice](),
	"Rejected":          reflect.TypeFor[compliance.Rejected](),
	"Requirement":       reflect.TypeFor[plan.Requirement](),
	"RequirementResult": reflect.TypeFor[compliance.Result](),
	"ReusePhoto":        reflect.TypeFor[audit.Photo](),
	"ReuseReport":       reflect.TypeFor[audit.ReuseReport](),
	"ReuseUse":          reflect.TypeFor[audit.Use](),
	"Rule":              reflect.TypeFor[plan.Rule](),
	"Scope":             reflect.TypeFor[plan.Scope](),
	"ServerStatus":      reflect.TypeFor[httpserver.Status](),
	"Span":              reflect.TypeFor[plan.Span](),
	"TokenAnswer":       reflect.TypeFor[api.TokenAnswer](),
	"TokenInfo":         reflect.TypeFor[api.TokenInfo](),
	"Unit":              reflect.TypeFor[projections.Unit](),
	"UnitExported":      reflect.TypeFor[events.UnitExported](),
	"UnitProof":         reflect.TypeFor[checkpoint.UnitProof](),
	"UnitRegistered":    reflect.TypeFor[events.UnitRegistered](),
	"UnitReport":        reflect.TypeFor[verify.UnitReport](),
	"User":              reflect.TypeFor[events.User](),
	"UserAnswer":        reflect.TypeFor[api.UserAnswer](),
	"UserVersion":       reflect.TypeFor[projections.UserVersion](),
	"VerifyProblem":     reflect.TypeFor[verify.Problem](),
	"VerifyReport":      reflect.TypeFor[verify.Report](),
	"Window":            reflect.TypeFor[plan.Window](),
	"WitnessReport":     reflect.TypeFor[verify.WitnessReport](),
}

// handWritten are the schemas with no exported Go type to hold them to:
// the handlers' map answers and unexported inputs, the string formats, and
// the three types with their own MarshalJSON. TestAnswersMatchDocument
// checks the answers among them.
var handWritten = []string{"AccessList", "CheckpointKey", "CheckpointList", "CosignatureInput", "Date", "DeviceAnswer", "DeviceList",
	"DeviceRegistration", "DeviceRegistry", "DeviceRevocation", "Digest", "Error", "FindingItem", "Hash", "Health", "History", "Item", "Kind",
	"Link", "PasswordAnswer", "PasswordInput", "PlanList", "Role", "SessionAnswer", "SignInInput", "TokenInput", "TokenList", "TreeHash",
	"UnitInput", "UnitList", "UserInput", "UserList", "VerifyAnswer", "WhoCan"}

// inputs are decoded from requests: their required fields are the
// handlers' checks, not the encoding's.
var inputs = []string{"BlobRef", "CorrectionInput", "DecisionInput", "DeviceInput", "EvidenceInput", "FindingInput"}

// auditExtra are the fields the audit view handler adds to every report.
var auditExtra = []string{"applied", "filter", "view"}

// TestSchemasMatchGoTypes: each object schema has exactly the JSON fields
// of the Go type it describes, and (for answers) requires exactly those
// that are always present (no omitempty or omitzero), so that a field added
// to a type, even one a test answer happens to leave out, fails here until
// the document describes it. Every schema is one of goTypes or
// handWritten, and every schema is used.
func TestSchemasMatchGoTypes(t *testing.T) {
	d := load(t)
	for name, raw := range d.Components.Schemas {
		typ, ok := goTypes[name]
		if !ok {
			if !slices.Contains(handWritten, name) {
				t.Errorf("schema %s: neither a Go type in goTypes nor listed in handWritten", name)
			}
			continue
		}
		var s struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		fields, always := jsonFields(typ)
		if strings.HasSuffix(typ.PkgPath(), "/audit") && strings.HasSuffix(name, "Report") {
			fields = append(fields, auditExtra...)
			always = append(always, auditExtra...)
		}
		sort.Strings(fields)
		sort.Strings(always)
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		if !slices.Equal(props, fields) {
			t.Errorf("schema %s has properties %v; %v encodes %v", name, props, typ, fields)
		}
		if slices.Contains(inputs, name) {
			continue
		}
		req := slices.Clone(s.Required)
		sort.Strings(req)
		if !slices.Equal(req, always) {
			t.Errorf("schema %s requires %v; %v always encodes %v", name, req, typ, always)
		}
	}
	for name := range goTypes {
		if _, ok := d.Components.Schemas[name]; !ok {
			t.Errorf("goTypes names %s, which the document does not have", name)
		}
	}
	text := string(openapi.Document())
	for name := range d.Components.Schemas {
		if !strings.Contains(text, `"#/components/schemas/`+name+`"`) {
			t.Errorf("schema %s is used nowhere", name)
		}
	}
}

// jsonFields returns the names encoding/json gives t's fields (embedded
// structs flattened), and those it always writes.
func jsonFields(t reflect.Type) (fields, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			fs, as := jsonFields(ft)
			fields, always = append(fields, fs...), append(always, as...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields = append(fields, name)
		omitEmpty := strings.Contains(opts, "omitempty")
		// omitempty never omits a struct or a non-empty array.
		if !strings.Contains(opts, "omitzero") && (!omitEmpty || f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Array && f.Type.Len() > 0) {
			always = append(always, name)
		}
	}
	return fields, always
}
