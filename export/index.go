package export

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"taizhang/events"
)

var indexTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8">
<title>台賬 {{.Unit}} — as of {{.AsOf}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
img{max-width:240px;max-height:180px;display:block;margin:4px 0}.meta td{border:none}.h{font-family:monospace;font-size:80%;color:#666}</style>
</head><body>
<h1>台賬 — unit {{.Unit}}</h1>
<table class="meta">
<tr><td>as of</td><td>{{.AsOf}}</td></tr>
<tr><td>events</td><td>{{len .Events}}</td></tr>
<tr><td>checkpoint</td><td>tree size {{.TreeSize}}, root <span class="h">{{.Root}}</span></td></tr>
<tr><td>exported</td><td>{{.ExportTime}} by {{.Exporter}}</td></tr>
</table>
<p>This page opens offline. The bag's files are checked by <code>taizhang verify-bag</code>;
<code>sha256sum -c manifest-sha256.txt</code> in the bag's directory checks the payload.
{{if .Compliance}}The compliance report is <a href="compliance.json">compliance.json</a>.{{end}}
The events are in <a href="events.jsonl">events.jsonl</a>.</p>
<table>
<tr><th>seq</th><th>recorded</th><th>occurred</th><th>type</th><th>actor</th><th>what</th><th>attachments</th></tr>
{{range .Events}}<tr>
<td>{{.Seq}}</td><td>{{.Recorded}}</td><td>{{.Occurred}}</td><td>{{.Type}}</td><td>{{.Actor}}</td>
<td>{{if .Title}}<b>{{.Title}}</b><br>{{end}}{{.Body}}{{if .Reason}}<br><i>reason: {{.Reason}}</i>{{end}}{{if .Device}}<br><i>{{.Device}}</i>{{end}}<div class="h">{{.Hash}}</div></td>
<td>{{range .Attachments}}{{if .Image}}<a href="{{.Path}}"><img src="{{.Path}}" alt="{{.Name}}"></a>{{end}}<a href="{{.Path}}">{{.Name}}</a> ({{.Size}} B)<br>{{end}}</td>
</tr>
{{end}}</table>
</body></html>
`))

type indexAttachment struct {
	Path  template.URL
	Name  string
	Size  int64
	Image bool
}

type indexEvent struct {
	Seq                                                  uint64
	Recorded, Occurred, Type, Actor, Title, Body, Reason string
	Hash                                                 string
	Device                                               string // the device signature's verdict, if signed
	Attachments                                          []indexAttachment
}

func writeIndex(w io.Writer, b *Bag) error {
	v := struct {
		Unit, AsOf, Root, ExportTime, Exporter string
		TreeSize                               uint64
		Compliance                             bool
		Events                                 []indexEvent
	}{Unit: b.opt.Unit, AsOf: b.opt.AsOf.Format(time.RFC3339), Root: b.cp.Root.String(), ExportTime: b.exportTime.Format(time.RFC3339),
		Exporter: b.opt.Exporter, TreeSize: b.cp.Size, Compliance: b.compliance != nil}
	reg := events.NewDeviceRegistry()
	for _, r := range b.users {
		_ = reg.Apply(r) // a registry event that does not decode: verify-bag reports it
	}
	for _, r := range b.recs {
		e := r.Event
		var d struct {
			Title       string `json:"title"`
			Name        string `json:"name"`
			Body        string `json:"body"`
			Description string `json:"description"`
		}
		_ = json.Unmarshal(e.Data, &d)
		ie := indexEvent{Seq: r.Seq, Recorded: e.RecordedAt.Format(time.RFC3339), Occurred: e.OccurredAt.Format(time.RFC3339),
			Type: string(e.Type), Actor: e.Actor.ID + " (" + string(e.Actor.Role) + ")", Title: d.Title + d.Name,
			Body: d.Body + d.Description, Reason: e.Reason, Hash: e.Hash.String()}
		if c, ok := reg.Check(r); ok {
			ie.Device = fmt.Sprintf("device-signed: key %s, captured %s: %s", c.Key, c.CapturedAt.Format(time.RFC3339), c.Verdict)
			if c.Late {
				ie.Device += ", captured after it was recorded"
			}
		}
		for _, a := range e.Attachments {
			p := strings.TrimPrefix(AttachmentPath(a), "data/")
			ie.Attachments = append(ie.Attachments, indexAttachment{Path: template.URL(p), Name: a.Name, Size: a.Size,
				Image: strings.HasPrefix(a.MediaType, "image/")})
		}
		v.Events = append(v.Events, ie)
	}
	return indexTmpl.Execute(w, v)
}
