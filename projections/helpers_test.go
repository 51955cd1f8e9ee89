package projections_test

import (
	"bytes"
	"encoding/json"
)

func jsonIndent(dst *bytes.Buffer, b []byte) error { return json.Indent(dst, b, "", "  ") }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
