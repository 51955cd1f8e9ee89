package media

import (
	"archive/zip"
	"bytes"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
)

// Media types beyond what net/http sniffs.
const (
	TypeHEIC = "image/heic"
	TypeDOC  = "application/msword"
	TypeXLS  = "application/vnd.ms-excel"
	TypePPT  = "application/vnd.ms-powerpoint"
	TypeDOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	TypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	TypePPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	// TypeScript is text that a system would run: a "#!" script or PHP.
	TypeScript = "text/x-script"
)

// TextClaimsOther reports whether name's extension claims a binary type
// (a photo, PDF or Office file): text bytes under such a name are a
// disguise, not a document, and are refused. A PNG named .pdf is still a
// PNG and accepted as one; text is accepted only under a name that does
// not claim to be something else.
func TextClaimsOther(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".heic", ".heif", ".pdf",
		".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".odp", ".exe", ".zip":
		return true
	}
	return false
}

// Allowed lists the media types an attachment may have: photos (JPEG, PNG,
// WebP, HEIC, GIF) and documents (PDF, Office, OpenDocument, plain text).
var Allowed = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/webp": true, TypeHEIC: true, "image/gif": true,
	"application/pdf": true, "text/plain": true,
	TypeDOC: true, TypeXLS: true, TypePPT: true, TypeDOCX: true, TypeXLSX: true, TypePPTX: true,
	"application/vnd.oasis.opendocument.text":         true,
	"application/vnd.oasis.opendocument.spreadsheet":  true,
	"application/vnd.oasis.opendocument.presentation": true,
}

// oleMagic starts every OLE2 compound file (.doc, .xls, .ppt).
var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// maxZipEntries bounds how many entries of a ZIP are looked at.
const maxZipEntries = 4096

// Sniff returns the media type of the file in r (size bytes, head its first
// bytes) from its content, never from the client's word: what net/http
// recognises, plus HEIC photos, OLE2 Office files and ZIP-based Office and
// OpenDocument files. name, the client's file name, only tells apart the
// kinds of an OLE2 file (which look alike from outside). Only a ZIP's central
// directory and its "mimetype" entry (bounded) are read.
func Sniff(head []byte, r io.ReaderAt, size int64, name string) string {
	if len(head) >= 12 && string(head[4:8]) == "ftyp" {
		switch string(head[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1":
			return TypeHEIC
		}
	}
	if bytes.HasPrefix(head, oleMagic) {
		switch strings.ToLower(path.Ext(name)) {
		case ".xls", ".xlt":
			return TypeXLS
		case ".ppt", ".pps", ".pot":
			return TypePPT
		}
		return TypeDOC
	}
	mt := http.DetectContentType(head)
	if m, _, err := mime.ParseMediaType(mt); err == nil {
		mt = m
	} else {
		mt = "application/octet-stream"
	}
	if mt == "text/plain" {
		t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF")), " \t\r\n")
		if bytes.HasPrefix(t, []byte("#!")) || bytes.HasPrefix(t, []byte("<?php")) || bytes.HasPrefix(t, []byte("<?=")) {
			return TypeScript
		}
	}
	if mt == "application/zip" && r != nil {
		if office := zipKind(r, size); office != "" {
			return office
		}
	}
	return mt
}

// zipKind returns the Office or OpenDocument type of a ZIP, or "".
func zipKind(r io.ReaderAt, size int64) (kind string) {
	defer func() {
		if recover() != nil { // a hostile ZIP must not take the server down
			kind = ""
		}
	}()
	zr, err := zip.NewReader(r, size)
	if err != nil || len(zr.File) > maxZipEntries {
		return ""
	}
	for _, f := range zr.File {
		switch f.Name {
		case "word/document.xml":
			return TypeDOCX
		case "xl/workbook.xml":
			return TypeXLSX
		case "ppt/presentation.xml":
			return TypePPTX
		case "mimetype":
			if f.UncompressedSize64 > 100 {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(io.LimitReader(rc, 100))
			rc.Close()
			if m := strings.TrimSpace(string(b)); strings.HasPrefix(m, "application/vnd.oasis.opendocument.") {
				return m
			}
		}
	}
	return ""
}
