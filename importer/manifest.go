// Package importer turns a folder of evidence folders into submissions to
// the ledger: `taizhang import DIR`. Each sub-folder of DIR is one evidence
// item, described by an evidence.yaml manifest (ParseManifest), by its row
// of an evidence.csv sheet at the top of DIR (ParseSheet) or, without
// either, by its files (the title from the folder name, the date from the
// photos' EXIF or the files' modification times). Plan reads and checks
// everything locally; Run submits what Plan accepted, idempotently: each
// item's id derives from the unit and the folder's path (ItemID), so a
// second run, or a run after a crash at any point, appends nothing new.
package importer

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ManifestName is the file name of an evidence folder's manifest.
const ManifestName = "evidence.yaml"

// maxManifest bounds a manifest's size.
const maxManifest = 256 << 10

// Manifest is the content of an evidence.yaml. Only Kind, Title and
// Occurred are required (and Finding for a rectification); Unit may come
// from the command line instead.
type Manifest struct {
	// ID pins the evidence id (a UUID); empty means derived (ItemID).
	ID   string `yaml:"id"`
	Unit string `yaml:"unit"`
	Kind string `yaml:"kind"`
	// Title is required; a folder without a manifest takes its name.
	Title string `yaml:"title"`
	// Occurred is when it happened: YYYY-MM-DD (in the plans' zone) or
	// RFC 3339.
	Occurred string `yaml:"occurred"`
	// Requirements are the plan requirement ids this answers; the manifest
	// may say `requirement: ID` or `requirements: [A, B]`.
	Requirements StringList         `yaml:"requirements"`
	Requirement  StringList         `yaml:"requirement"`
	Body         string             `yaml:"body"`
	Tags         StringList         `yaml:"tags"`
	Figures      map[string]float64 `yaml:"figures"`
	// Finding is the finding id a rectification answers.
	Finding string `yaml:"finding"`
	// Files lists the attachments, in order, by name within the folder;
	// empty means every file of the folder but the manifest, by name.
	Files StringList `yaml:"files"`
}

// AllRequirements returns Requirement and Requirements together, in order,
// without repeats.
func (m *Manifest) AllRequirements() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range append(append([]string{}, m.Requirement...), m.Requirements...) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// StringList is a YAML string or a list of strings.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*s = nil
			return nil
		}
		*s = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				return fmt.Errorf("line %d: want a string", c.Line)
			}
			out = append(out, c.Value)
		}
		*s = out
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// ParseManifest decodes an evidence.yaml strictly: one YAML mapping, no
// unknown keys (a misspelt key is an error, not a silent default), at most
// 256 KiB. Dates may be written bare (occurred: 2016-06-09). It checks only
// the YAML's shape; Plan checks the values.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > maxManifest {
		return nil, fmt.Errorf("manifest is over %d bytes", maxManifest)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("manifest is empty")
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("manifest holds more than one YAML document")
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("manifest is not a YAML mapping of keys (kind:, title:, occurred:, ...)")
	}
	if err := noAliases(root.Content[0]); err != nil {
		return nil, err
	}
	var m Manifest
	dec = yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			keys := map[string]string{} // "line N" -> the key on it
			top := root.Content[0].Content
			for i := 0; i+1 < len(top); i += 2 {
				keys[fmt.Sprintf("line %d", top[i].Line)] = top[i].Value
			}
			msgs := make([]string, len(te.Errors))
			for i, e := range te.Errors {
				e = strings.ReplaceAll(e, " in type importer.Manifest", "")
				if line, rest, ok := strings.Cut(e, ": "); ok && keys[line] != "" && !strings.HasPrefix(rest, "field ") {
					e = line + ": " + keys[line] + ": " + rest
				}
				msgs[i] = e
			}
			return nil, fmt.Errorf("manifest: %s", strings.Join(msgs, "; "))
		}
		return nil, fmt.Errorf("manifest: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return &m, nil
}

// noAliases refuses YAML aliases and anchors: a manifest has no use for
// them, and they are how a small file expands into a huge one.
func noAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return fmt.Errorf("manifest line %d: YAML anchors and aliases are not allowed", n.Line)
	}
	for _, c := range n.Content {
		if err := noAliases(c); err != nil {
			return err
		}
	}
	return nil
}
