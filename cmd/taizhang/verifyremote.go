package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"taizhang/client"
	"taizhang/events"
	"taizhang/events/checkpoint"
	"taizhang/verify"
)

// apiServer is a running server as verify.RunRemote asks of it.
type apiServer struct{ c *client.Client }

func (a apiServer) Units(ctx context.Context) ([]string, error) {
	var v struct {
		Units []struct {
			ID string `json:"id"`
		} `json:"units"`
	}
	if _, err := a.c.Get(ctx, "/api/v1/units", &v); err != nil {
		return nil, err
	}
	out := make([]string, len(v.Units))
	for i, u := range v.Units {
		out[i] = u.ID
	}
	return out, nil
}

func (a apiServer) History(ctx context.Context, unit string) ([]events.Record, error) {
	var v struct {
		Events []struct {
			Seq uint64 `json:"seq"`
			events.Event
		} `json:"events"`
	}
	path := "/api/v1/units/" + url.PathEscape(unit) + "/history"
	if unit == events.UsersChain { // the device registry's chain
		path = "/api/v1/devices/registry"
	}
	if _, err := a.c.Get(ctx, path, &v); err != nil {
		return nil, err
	}
	out := make([]events.Record, len(v.Events))
	for i := range v.Events {
		out[i] = events.Record{Seq: v.Events[i].Seq, Event: &v.Events[i].Event}
	}
	return out, nil
}

func (a apiServer) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var raw json.RawMessage
	_, err := a.c.Get(ctx, "/api/v1/checkpoints/latest?format=note", &raw)
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return nil, nil // no checkpoint yet
	}
	return raw, err
}

func (a apiServer) UnitProof(ctx context.Context, unit string, size uint64) (checkpoint.UnitProof, error) {
	var p checkpoint.UnitProof
	_, err := a.c.Get(ctx, fmt.Sprintf("/api/v1/units/%s/proof?size=%d", url.PathEscape(unit), size), &p)
	return p, err
}

func (a apiServer) Check(ctx context.Context, unit string) (bool, []string, error) {
	var v struct {
		OK     bool `json:"ok"`
		Report struct {
			Problems []verify.Problem `json:"problems"`
		} `json:"report"`
	}
	if _, err := a.c.Get(ctx, "/api/v1/verify?unit="+url.QueryEscape(unit), &v); err != nil {
		return false, nil, err
	}
	var probs []string
	for _, p := range v.Report.Problems {
		probs = append(probs, p.String())
	}
	return v.OK, probs, nil
}

// verifyRemote runs `taizhang verify --url`: the chains as the server
// serves them, checked here, against its newest signed checkpoint.
func verifyRemote(ctx context.Context, a *client.Client, opt verify.RemoteOptions, asJSON bool, stdout io.Writer) error {
	rep, err := verify.RunRemote(ctx, apiServer{a}, opt)
	if err != nil {
		return err
	}
	if asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		printRemote(stdout, a.Base(), opt, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("%d problems found", len(rep.Problems))
	}
	return nil
}

func printRemote(w io.Writer, base string, opt verify.RemoteOptions, rep *verify.RemoteReport) {
	fmt.Fprintf(w, "verifying %s from outside: every hash of the history it serves recomputed here\n", base)
	switch cp := rep.Checkpoint; {
	case cp == nil:
		fmt.Fprintln(w, "checkpoint: none to check against")
	case rep.Signed:
		fmt.Fprintf(w, "checkpoint: tree size %d, root %s, signature checked with the key given", cp.Size, cp.Root)
		if len(opt.WitnessKeys) > 0 {
			fmt.Fprintf(w, "; cosigned by %d of %d trusted witnesses (quorum %d): %s", len(rep.Witnesses), len(opt.WitnessKeys), opt.WitnessQuorum, strings.Join(rep.Witnesses, ", "))
		}
		fmt.Fprintln(w)
	default:
		fmt.Fprintf(w, "checkpoint: tree size %d, root %s, signature NOT checked (give --checkpoint-pubkey, the operator's key you trust)\n", cp.Size, cp.Root)
	}
	mark := func(ok bool, yes string) string {
		if ok {
			return yes
		}
		return "NO"
	}
	for _, u := range rep.Units {
		proven := "-"
		if rep.Checkpoint != nil {
			proven = mark(u.Proven, "proven")
		}
		fmt.Fprintf(w, "  %-24s %6d events  head %.16s  chain %s  in checkpoint %s  server check %s\n",
			u.Unit, u.Events, u.Head.String(), mark(u.ChainOK, "ok"), proven, mark(u.ServerOK, "ok"))
	}
	fmt.Fprintln(w, "attachments: checked by the server (verify --data or --nats reads them yourself)")
	printDevices(w, rep.Devices)
	if rep.DeviceRegistry != "" {
		fmt.Fprintln(w, "device keys: "+rep.DeviceRegistry)
	}
	if rep.OK() {
		fmt.Fprintf(w, "no problems found in %d units, %d events\n", len(rep.Units), rep.Events)
		return
	}
	fmt.Fprintf(w, "%d PROBLEMS:\n", len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "  "+p.String())
	}
}
