package media

import (
	"archive/zip"
	"bytes"
	"testing"
)

func zipWith(t testing.TB, files map[string]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	return b.Bytes()
}

func TestSniff(t *testing.T) {
	heic := append([]byte{0, 0, 0, 24}, []byte("ftypheic\x00\x00\x00\x00mif1heic")...)
	ole := append(append([]byte{}, oleMagic...), make([]byte, 100)...)
	for _, c := range []struct {
		name string
		b    []byte
		file string
		want string
	}{
		{"heic", heic, "IMG_0001.HEIC", TypeHEIC},
		{"doc", ole, "記錄.doc", TypeDOC},
		{"xls", ole, "統計.XLS", TypeXLS},
		{"ppt", ole, "a.ppt", TypePPT},
		{"docx", zipWith(t, map[string]string{"[Content_Types].xml": "x", "word/document.xml": "x"}), "a.bin", TypeDOCX},
		{"xlsx", zipWith(t, map[string]string{"xl/workbook.xml": "x"}), "a", TypeXLSX},
		{"pptx", zipWith(t, map[string]string{"ppt/presentation.xml": "x"}), "a", TypePPTX},
		{"odt", zipWith(t, map[string]string{"mimetype": "application/vnd.oasis.opendocument.text"}), "a", "application/vnd.oasis.opendocument.text"},
		{"plain zip", zipWith(t, map[string]string{"photos/1.jpg": "x"}), "photos.zip", "application/zip"},
		{"pdf", []byte("%PDF-1.4\n..."), "a.pdf", "application/pdf"},
		{"text", []byte("工作總結"), "a.txt", "text/plain"},
		{"exe disguised as jpg", []byte("MZ\x90\x00\x03\x00\x00\x00"), "photo.jpg", "application/octet-stream"},
		{"html disguised as pdf", []byte("<html><script>alert(1)</script>"), "a.pdf", "text/html"},
		{"shell script", []byte("#!/bin/sh\nrm -rf /\n"), "photo.jpg", TypeScript},
		{"php", []byte("\xEF\xBB\xBF <?php system($_GET['c']);"), "a.txt", TypeScript},
	} {
		got := Sniff(c.b[:min(len(c.b), 512)], bytes.NewReader(c.b), int64(len(c.b)), c.file)
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
		if allowed := Allowed[got]; allowed != (c.name != "plain zip" && c.name != "exe disguised as jpg" && c.name != "html disguised as pdf" && c.name != "shell script" && c.name != "php") {
			t.Errorf("%s: allowed %v", c.name, allowed)
		}
	}
}

func TestTextClaimsOther(t *testing.T) {
	for name, want := range map[string]bool{"photo.JPG": true, "a.pdf": true, "x.docx": true, "notes.txt": false, "notes": false, "a.csv": false, "": false} {
		if got := TextClaimsOther(name); got != want {
			t.Errorf("%q: %v", name, got)
		}
	}
}

// FuzzSniff: no file makes Sniff panic (ZIP central directories included).
func FuzzSniff(f *testing.F) {
	f.Add(zipWith(f, map[string]string{"word/document.xml": "x"}))
	f.Add(append(append([]byte{}, oleMagic...), 1, 2, 3))
	f.Add([]byte("PK\x03\x04garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = Sniff(b[:min(len(b), 512)], bytes.NewReader(b), int64(len(b)), "x.doc")
	})
}
