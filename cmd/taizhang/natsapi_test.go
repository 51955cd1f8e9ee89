package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"taizhang/natsapi"
)

// TestServeNATSAPI: serve on the embedded NATS answers the NATS service
// API by default (discovery, a submission with an attachment through the
// object store, seen by the HTTP API), stops it cleanly with the server,
// and --nats-api=false serves none.
func TestServeNATSAPI(t *testing.T) {
	port := freeLoopbackPort(t)
	s := startServer(t, "", "--nats-listen", "127.0.0.1:"+strconv.Itoa(port))
	nc, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	resp, err := nc.Request("$SRV.INFO.taizhang", nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(resp.Data, &info); err != nil || info.Name != "taizhang" || len(info.Endpoints) != 6 {
		t.Fatalf("info %s: %v", resp.Data, err)
	}
	if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun-1", "name": "東村", "type": "village"}); r.Status != 201 {
		t.Fatalf("unit: %d %s", r.Status, r.Body)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	os, err := js.ObjectStore(ctx, natsapi.DefaultUploads)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.PutBytes(ctx, "cun-1/p1.png", pngPhoto(t, 9)); err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("taizhang.v1.submit")
	msg.Header.Set("Authorization", "Bearer "+s.Admin)
	msg.Data = []byte(`{"unit":"cun-1","id":"0190a0a0-0000-7000-8000-0000000000d1","kind":"photo","title":"照片","occurred_at":"2016-04-20","objects":[{"object":"cun-1/p1.png"}]}`)
	resp, err = nc.RequestMsg(msg, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(natsapi.HeaderStatus) != "201" || resp.Header.Get(micro.ErrorCodeHeader) != "" {
		t.Fatalf("submit: %v %s", resp.Header, resp.Data)
	}
	h := s.history(t, s.Admin, "cun-1", "")
	last := h[len(h)-1]
	if last.Event.Client != "nats" || len(last.Event.Attachments) != 1 || last.Event.Attachments[0].MediaType != "image/png" {
		t.Fatalf("last event %+v", last.Event)
	}
	s.stop(t) // exits 0 (checked by stop)
	if !strings.Contains(s.log.String(), "nats api stopped") {
		t.Errorf("no 'nats api stopped' in the log:\n%s", s.log.String())
	}

	off := startServer(t, "", "--nats-listen", "127.0.0.1:"+strconv.Itoa(port), "--nats-api=false")
	nc2, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	if _, err := nc2.Request("$SRV.PING.taizhang", nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("--nats-api=false: ping answered or failed otherwise: %v", err)
	}
	off.stop(t)
}
