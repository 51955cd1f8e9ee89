package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"taizhang/httpserver"
	"taizhang/natsapi"
)

// autoBool is a boolean flag that also knows whether it was given: unset,
// it means "the default for this setup".
type autoBool struct {
	set, on bool
}

func (b *autoBool) String() string {
	if b == nil || !b.set {
		return "auto"
	}
	return strconv.FormatBool(b.on)
}

func (b *autoBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	b.set, b.on = true, v
	return nil
}

// IsBoolFlag lets --nats-api stand for --nats-api=true.
func (b *autoBool) IsBoolFlag() bool { return true }

// natsAPIFlags registers --nats-api and --nats-api-prefix.
func natsAPIFlags(fs *flag.FlagSet, c *serveConfig) {
	fs.Var(&c.natsAPI, "nats-api", "serve the NATS service API (micro service \"taizhang\", subjects PREFIX.submit|amend|retract|history|archive|compliance; see README); default on with the embedded NATS, off with --nats")
	fs.StringVar(&c.natsAPIPrefix, "nats-api-prefix", natsapi.DefaultPrefix, "subject prefix of the NATS service API's endpoints")
	fs.IntVar(&c.natsAPIWorkers, "nats-api-workers", 4, "NATS service API calls served at once by this process (each an instance of the service in $SRV discovery)")
	fs.Func("nats-api-accounts", "comma-separated NATS accounts whose users act as the taizhang users of the same id when they call the NATS service API through a service import with share: true (see README; sound only if no user of serve's own account may publish on the API's subjects)", func(v string) error {
		c.natsAPIAccounts = nil
		for a := range strings.SplitSeq(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.natsAPIAccounts = append(c.natsAPIAccounts, a)
			}
		}
		return nil
	})
}

// startNATSAPI starts the NATS service API on serve's connection, every
// call going through api (the HTTP API's one gate), when --nats-api says
// so (by default: on the embedded server); nil when it is off.
func startNATSAPI(ctx context.Context, c serveConfig, st *stores, api *httpserver.Server, log *slog.Logger) (*natsapi.Service, error) {
	on := c.natsAPI.on
	if !c.natsAPI.set {
		on = c.natsURL == ""
	}
	if !on {
		return nil, nil
	}
	if c.natsAPIWorkers < 1 || c.natsAPIWorkers > 64 {
		return nil, usagef("--nats-api-workers must be from 1 to 64")
	}
	svc, err := natsapi.Start(ctx, st.nc, natsapi.Config{Handler: api, Prefix: c.natsAPIPrefix, JetStream: st.ledger.JetStream(),
		Replicas: st.replicas, Replica: c.name, Accounts: c.natsAPIAccounts, Workers: c.natsAPIWorkers, Log: log})
	if err != nil {
		return nil, fmt.Errorf("--nats-api: %w", err)
	}
	return svc, nil
}

// stopNATSAPI stops svc (nil: nothing), giving its calls in progress up to
// 15 seconds to be answered.
func stopNATSAPI(svc *natsapi.Service, log *slog.Logger) {
	if svc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := svc.Stop(ctx); err != nil {
		log.Warn("nats api stop", "err", err)
	}
}
