// Package plans holds the seed plan files (實施方案 as YAML, see README.md
// here): FS embeds them for `taizhang serve --demo`.
package plans

import "embed"

// FS holds the plan files (*.yaml) of this directory.
//
//go:embed *.yaml
var FS embed.FS
