package importer

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SheetName is the file name of a whole import's manifest sheet: a CSV at
// the top of DIR with one row per evidence folder, for a clerk who keeps
// the list in a spreadsheet rather than a manifest in every folder.
const SheetName = "evidence.csv"

// sheetColumns are the columns a sheet may have, as in evidence.yaml;
// folder, and the columns evidence.yaml requires, are required.
var sheetColumns = []string{"folder", "unit", "kind", "title", "occurred", "requirements", "tags", "figures", "body", "finding", "files", "id"}

// SheetRow is one row of an evidence.csv: the folder it describes (a
// sub-folder of DIR, by name), the line it is on, and its manifest.
type SheetRow struct {
	Folder   string
	Line     int
	Manifest *Manifest
}

// splitList splits a cell that holds a list at a semicolon, or at the
// enumeration comma or full-width semicolon a Chinese spreadsheet uses
// (、；).
func splitList(s string) StringList {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '；' || r == '、' })
	var out StringList
	for _, v := range f {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// ParseSheet decodes an evidence.csv strictly: UTF-8 (a byte-order mark,
// as Excel's "CSV UTF-8" writes, is skipped; another encoding is an error
// saying how to save it), comma-separated, a header row of known columns
// (sheetColumns, each once, folder required), then one row per folder,
// each folder once. A list cell (requirements, tags, files) separates its
// entries with ; or 、; figures are name=number pairs (participants=32;
// volunteers=5). At most 256 KiB. It checks only the sheet's shape; Plan
// checks the values, as an evidence.yaml's. Errors name the line.
func ParseSheet(b []byte) ([]SheetRow, error) {
	if len(b) > maxManifest {
		return nil, fmt.Errorf("%s is over %d bytes", SheetName, maxManifest)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%s is not UTF-8 text: save it as \"CSV UTF-8\" (Excel) or UTF-8 CSV (WPS, LibreOffice), not GBK", SheetName)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = 0 // every row as long as the header
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s is empty: it needs a header row (folder,kind,title,occurred,...)", SheetName)
	}
	if err != nil {
		return nil, sheetErr(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case !slices.Contains(sheetColumns, h):
			return nil, fmt.Errorf("%s line 1: unknown column %q (allowed: %s)", SheetName, header[i], strings.Join(sheetColumns, ", "))
		case col[h] > 0:
			return nil, fmt.Errorf("%s line 1: column %q twice", SheetName, h)
		}
		col[h] = i + 1
	}
	if col["folder"] == 0 {
		return nil, fmt.Errorf("%s line 1: no folder column: each row names the sub-folder it describes", SheetName)
	}
	var rows []SheetRow
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, sheetErr(err)
		}
		line, _ := r.FieldPos(0)
		cell := func(name string) string {
			if i := col[name]; i > 0 {
				return strings.TrimSpace(rec[i-1])
			}
			return ""
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue // a blank row, as spreadsheets leave at the end
		}
		folder := cell("folder")
		switch {
		case folder == "":
			return nil, fmt.Errorf("%s line %d: no folder", SheetName, line)
		case folder != path.Base(folder) || folder == "." || folder == ".." || strings.ContainsAny(folder, `/\`):
			return nil, fmt.Errorf("%s line %d: folder %q is not the name of a sub-folder", SheetName, line, folder)
		case seen[folder] > 0:
			return nil, fmt.Errorf("%s line %d: folder %q is also on line %d", SheetName, line, folder, seen[folder])
		}
		seen[folder] = line
		m := &Manifest{ID: cell("id"), Unit: cell("unit"), Kind: cell("kind"), Title: cell("title"), Occurred: cell("occurred"),
			Requirements: splitList(cell("requirements")), Tags: splitList(cell("tags")), Files: splitList(cell("files")),
			Body: strings.ReplaceAll(cell("body"), "\r\n", "\n"), Finding: cell("finding")}
		if m.Figures, err = parseFigures(cell("figures")); err != nil {
			return nil, fmt.Errorf("%s line %d: figures: %v", SheetName, line, err)
		}
		rows = append(rows, SheetRow{Folder: folder, Line: line, Manifest: m})
	}
	return rows, nil
}

// parseFigures reads name=number pairs separated by ; (or ；、).
func parseFigures(s string) (map[string]float64, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]float64{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not name=number", kv)
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a number", k, v)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s given twice", k)
		}
		out[k] = n
	}
	return out, nil
}

// sheetErr words a CSV syntax error with the sheet's name and line.
func sheetErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s line %d: %v", SheetName, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", SheetName, err)
}
