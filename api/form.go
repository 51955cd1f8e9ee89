package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"taizhang/param"
)

// maxFormFields bounds the text fields of a posted form.
const maxFormFields = 32

// ReadForm reads a browser form posted as multipart/form-data: its text
// fields, and the files of the file inputs named in files, each received
// into the upload's stage as it streams in, as the API's uploads are
// (readUpload: sniffed, size- and pixel-checked, at most Config.MaxFiles);
// nothing reaches the blob store until the caller commits, and the caller
// always closes the upload. Empty file inputs are skipped. Before the first
// file is received, early (if not nil) is given the fields read so far
// (the form puts its id right after the csrf field); a true answer stops
// reading: the request is answered from what is already known. The fields
// read are returned also with an error, to show the form again.
func (s *Service) ReadForm(w http.ResponseWriter, r *http.Request, files map[string]bool, early func(url.Values) bool) (_ url.Values, _ *Upload, _ bool, err error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return nil, nil, false, fmt.Errorf("%w: want a multipart/form-data form", param.ErrBadRequest)
	}
	mr, err := s.multipartReader(w, r) // after the csrf field, for a session's form
	if err != nil {
		return nil, nil, false, err
	}
	vals := url.Values{}
	up := &Upload{}
	defer func() {
		if err != nil {
			up.Close()
			up = nil
		}
	}()
	n := 0
	for {
		part, err := nextPart(mr)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return vals, nil, false, err
		}
		name := part.FormName()
		switch {
		case files[name]:
			if part.FileName() == "" { // an empty file input
				_, _ = io.Copy(io.Discard, io.LimitReader(part, 1<<10))
				break
			}
			if len(up.attachments) == 0 && early != nil && early(vals) {
				return vals, up, true, nil
			}
			if err := s.addAttachment(r.Context(), up, part); err != nil {
				return vals, nil, false, err
			}
		case part.FileName() != "":
			return vals, nil, false, fmt.Errorf("%w: unexpected file field %q", param.ErrBadRequest, name)
		default:
			if n++; n > maxFormFields {
				return vals, nil, false, fmt.Errorf("%w: too many form fields", param.ErrBadRequest)
			}
			b, err := readField(part, maxMetaSize, param.ErrBadRequest)
			if err != nil {
				return vals, nil, false, err
			}
			vals.Add(name, string(b))
		}
		part.Close()
	}
	return vals, up, false, nil
}

// ReadSmallForm parses a URL-encoded (or multipart) form of text fields.
func ReadSmallForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxMetaSize)
	if err := r.ParseMultipartForm(maxMetaSize); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return fmt.Errorf("%w: %v", param.ErrBadRequest, err)
	}
	return nil
}
