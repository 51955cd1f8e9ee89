// Package openapi holds the OpenAPI 3.1 document of taizhang's HTTP API,
// served at GET /api/v1/openapi.json. The document (openapi.json) is
// written by hand; its tests check it against the server it describes:
// the same paths and methods as the routes the server registers, each
// operation's action, security and error responses, the error codes of
// the server's error table, and real answers against their schemas.
package openapi

import _ "embed"

//go:embed openapi.json
var document []byte

// Document returns the OpenAPI document (JSON). The slice is shared: the
// caller must not modify it.
func Document() []byte { return document }
