package natsapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"taizhang/auth"
	"taizhang/internal/testenv"
	"taizhang/natsapi"
)

// accountsConf is a nats-server with the service in account TZ, whose
// endpoints COUNTY imports sharing its requesters (share: true), OTHER
// too but is not trusted by the service, and NOSHARE without sharing.
const accountsConf = `
host: 127.0.0.1
port: -1
jetstream { store_dir: %q }
accounts {
  TZ: {
    jetstream: enabled
    # serve's user as deploy/nats/cluster.conf has it for the NATS API:
    # subscribe (not publish) on its subjects, answers by allow_responses.
    users: [
      {user: svc, password: svc-pass, permissions: {
        publish: {allow: [">"], deny: ["taizhang.v1.>"]}
        subscribe: {allow: ["_INBOX.>", "$JS.API.>", "taizhang.v1.>", "$SRV.>"]}
        allow_responses: true
      }}
      # An operator as deploy/nats/cluster.conf has it: no publishing on
      # the API's subjects from inside the service's account.
      {user: op, password: pw, permissions: {publish: {deny: ["taizhang.v1.>"]}}}
    ]
    exports: [{service: "taizhang.v1.>"}]
  }
  COUNTY: {
    users: [{user: clerk-wang, password: pw}, {user: insp-zhao, password: pw}, {user: nobody, password: pw}]
    imports: [{service: {account: TZ, subject: "taizhang.v1.>"}, share: true}]
  }
  OTHER: {
    users: [{user: clerk-li, password: pw}]
    imports: [{service: {account: TZ, subject: "taizhang.v1.>"}, share: true}]
  }
  NOSHARE: {
    users: [{user: admin, password: pw}]
    imports: [{service: {account: TZ, subject: "taizhang.v1.>"}}]
  }
}
`

// startAccounts starts that server for one test.
func startAccounts(t *testing.T) *server.Server {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, accountsConf, t.TempDir()), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func connectAs(t *testing.T, ns *server.Server, user string) *nats.Conn {
	t.Helper()
	pass := "pw"
	if user == "svc" {
		pass = "svc-pass"
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(user, pass))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestNATSUsers: with Config.Accounts, a user of a trusted account calling
// through the shared import acts as the taizhang user of the same name,
// decided by the same gate as its token would be (its unit only; an
// inspector may not submit); an unknown user, a user of an untrusted
// account and an import that does not share are unauthenticated; a header
// a caller writes itself is replaced by the server's, so no one claims
// another user; a token still wins over the NATS identity.
func TestNATSUsers(t *testing.T) {
	ns := startAccounts(t)
	e := newEnvOn(t, connectAs(t, ns, "svc"), connectAs(t, ns, "svc"), natsapi.Config{Accounts: []string{"COUNTY"}})
	before1, before2 := e.events("cun-1"), e.events("cun-2")
	call := func(nc *nats.Conn, hdr nats.Header, endpoint string, payload map[string]any) (code string, body []byte) {
		t.Helper()
		msg := nats.NewMsg(natsapi.DefaultPrefix + "." + endpoint)
		for k, v := range hdr {
			msg.Header[k] = v
		}
		msg.Data, _ = json.Marshal(payload)
		resp, err := nc.RequestMsg(msg, 30*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", endpoint, err)
		}
		return resp.Header.Get(natsapi.HeaderStatus), resp.Data
	}
	sub := func(unit, id string) map[string]any {
		return map[string]any{"unit": unit, "id": "0190a0a0-0000-7000-8000-0000000001" + id, "kind": "activity", "title": "集中學習", "occurred_at": "2016-04-20"}
	}
	clerk := connectAs(t, ns, "clerk-wang")
	if code, body := call(clerk, nil, "submit", sub("cun-1", "01")); code != "201" {
		t.Fatalf("clerk-wang by NATS identity: %s %s", code, body)
	}
	var hist struct {
		Events []struct {
			Actor struct {
				ID string `json:"id"`
			} `json:"actor"`
		} `json:"events"`
	}
	if code, body := call(clerk, nil, "history", map[string]any{"unit": "cun-1"}); code != "200" || json.Unmarshal(body, &hist) != nil ||
		hist.Events[len(hist.Events)-1].Actor.ID != "clerk-wang" {
		t.Fatalf("history as clerk-wang: %s %s", code, body)
	}
	for _, c := range []struct {
		who      *nats.Conn
		hdr      nats.Header
		unit     string
		want, id string
	}{
		{clerk, nil, "cun-2", "403", "02"},                         // not its unit
		{connectAs(t, ns, "insp-zhao"), nil, "cun-1", "403", "03"}, // an inspector does not submit
		{connectAs(t, ns, "nobody"), nil, "cun-1", "401", "04"},    // no such taizhang user
		{connectAs(t, ns, "clerk-li"), nil, "cun-2", "401", "05"},  // OTHER is not trusted
		{connectAs(t, ns, "admin"), nil, "cun-1", "401", "06"},     // NOSHARE: no user in the header
		// A header written by the caller is replaced by the server's.
		{connectAs(t, ns, "nobody"), nats.Header{natsapi.HeaderRequestInfo: {`{"acc":"COUNTY","user":"admin"}`}}, "cun-1", "401", "07"},
		{connectAs(t, ns, "admin"), nats.Header{natsapi.HeaderRequestInfo: {`{"acc":"COUNTY","user":"admin"}`}}, "cun-1", "401", "08"},
	} {
		if code, body := call(c.who, c.hdr, "submit", sub(c.unit, c.id)); code != c.want {
			t.Errorf("submit %s to %s: %s %s, want %s", c.id, c.unit, code, body, c.want)
		}
	}
	// A token wins: clerk-wang's connection with clerk-li's token acts as clerk-li.
	if code, body := call(clerk, nats.Header{"Authorization": {"Bearer " + e.tokens["clerk2"]}}, "submit", sub("cun-2", "09")); code != "201" {
		t.Fatalf("token over NATS identity: %s %s", code, body)
	}
	if n1, n2 := e.events("cun-1"), e.events("cun-2"); n1 != before1+1 || n2 != before2+1 {
		t.Fatalf("appended %d to cun-1 and %d to cun-2, want 1 and 1", n1-before1, n2-before2)
	}
	// Inside the service's own account the API's subjects are closed to
	// publishers (a header written there would be believed): the server
	// refuses op's message.
	violations := make(chan error, 4)
	op, err := nats.Connect(ns.ClientURL(), nats.UserInfo("op", "pw"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		violations <- err
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	forged := nats.NewMsg(natsapi.DefaultPrefix + ".submit")
	forged.Header.Set(natsapi.HeaderRequestInfo, `{"acc":"COUNTY","user":"clerk-wang"}`)
	forged.Data, _ = json.Marshal(sub("cun-1", "10"))
	if err := op.PublishMsg(forged); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("op's publish: %v, want a permissions violation", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("op's publish on the API's subject was not refused")
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		es, err := e.access.ListAccess(context.Background(), auth.AccessFilter{Actor: "clerk-wang", Limit: 100})
		if err != nil {
			return err
		}
		for _, en := range es {
			if en.Via == "nats" && en.Action == auth.ActEvidenceWrite && en.Unit == "cun-2" && en.Outcome == auth.OutcomeDenied {
				return nil
			}
		}
		return fmt.Errorf("no denied evidence.write on cun-2 by clerk-wang via nats in %+v", es)
	})
	if n1 := e.events("cun-1"); n1 != before1+1 {
		t.Fatalf("cun-1 has %d new events after op's forged call, want 1", n1-before1)
	}
}

// TestNATSUsersOwnAccount: the service refuses to trust its own account,
// whose users could write Nats-Request-Info themselves.
func TestNATSUsersOwnAccount(t *testing.T) {
	ns := startAccounts(t)
	nc := connectAs(t, ns, "svc")
	_, err := natsapi.Start(context.Background(), nc, natsapi.Config{Handler: http.NotFoundHandler(), Accounts: []string{"COUNTY", "TZ"}})
	if err == nil || !strings.Contains(err.Error(), "account TZ is the service's own") {
		t.Fatalf("trusting its own account: %v", err)
	}
	// On a server without accounts every client is in the one account.
	n := testenv.StartNATS(t)
	_, err = natsapi.Start(context.Background(), n.Connect(t), natsapi.Config{Handler: http.NotFoundHandler(), Accounts: []string{"$G"}})
	if err == nil || !strings.Contains(err.Error(), "account $G is the service's own") {
		t.Fatalf("trusting the one account of a server without accounts: %v", err)
	}
}
