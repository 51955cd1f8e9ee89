// Command taizhang is the evidence ledger's one binary: `serve` runs the
// service (embedded NATS and a local blob directory by default), and the
// client commands (unit, token, submit, history, archive) talk to a running
// server over its HTTP API. This package only wires things together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // time zones without a system database
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `taizhang — an event-sourced evidence ledger

Usage:
  taizhang serve [--data DIR] [--addr HOST:PORT] [--nats URL] [--s3-endpoint HOST:PORT --s3-bucket B ...]
  taizhang unit add --id ID --name NAME --type TYPE [--parent ID] [--headcount N]
  taizhang unit list
  taizhang token create [--user ID] [--role ROLE --unit U] [--expires-in DURATION] [--label L]
  taizhang token list [--user ID] | token revoke TOKEN-ID
  taizhang user add ID --role ROLE [--scope UNIT] [--subtree] [--name N] [--password-file F]
  taizhang user change ID [--role R] [--scope U] [--name N] --reason TEXT
  taizhang user disable|enable ID --reason TEXT
  taizhang user password ID --password-file F|-
  taizhang user list|show ID|can ID [--as-of T]
  taizhang user who --unit U [--action A] [--as-of T]
  taizhang submit --unit U --kind K --title T --occurred DATE [--body TEXT] [--requirement R]... [--id UUID] [--device-key F] FILE...
  taizhang import [--unit U] [--dry-run] [--kind K] [--device-key F] DIR
  taizhang device init [--out FILE]
  taizhang device register [--user U] --key PUBLIC-KEY|--device-key FILE [--label L]
  taizhang device list [--user U|*]
  taizhang device revoke --key KEY-ID --reason TEXT
  taizhang amend --unit U --id UUID --version N --reason TEXT [--title T] [--body B] [--occurred DATE] [FILE...]
  taizhang retract --unit U --id UUID --version N --reason TEXT
  taizhang plan check FILE...
  taizhang plan publish FILE
  taizhang plan list
  taizhang finding add --unit U --description D --due DATE [--severity S] [--requirement R] [PHOTO...]
  taizhang finding resolve|reopen --unit U --id F --version N [--reason TEXT]
  taizhang finding list --unit U [--as-of T]
  taizhang compliance --unit U [--as-of T] [--plan P]
  taizhang ranking --plan P --period YYYY-MM
  taizhang audit corrections|backfill|bursts|reuse|photo-times|devices|actors [--unit U] [--from D] [--to D] [--actor A] [--json]
  taizhang audit access [--unit U] [--actor A] [--outcome denied] [--from D] [--to D] [--limit N]
  taizhang verify [--data DIR | --nats URL] [--s3-...] [--unit U] [--sample F] [--json]
  taizhang verify --url URL [--checkpoint-pubkey KEY|FILE] [--witness-key K]... [--unit U] [--json]
  taizhang history --unit U [--as-of T] [--json]
  taizhang export --unit U [--as-of T] -o FILE.zip
  taizhang verify-bag [--pubkey KEY|FILE] [--json] FILE.zip
  taizhang witness init --state DIR --name NAME [--log-key KEY|FILE]
  taizhang witness run --state DIR [--url URL] [--token-file F] [--once] [--interval D]
  taizhang witness compare [--url URL] STATE-DIR-A STATE-DIR-B
  taizhang witness status|key --state DIR
  taizhang backup --to DIR [--data DIR | --nats URL] [--s3-...]
  taizhang backup check DIR
  taizhang restore --from DIR [--data DIR | --nats URL] [--s3-...] [--replicas N]
  taizhang archive --unit U [--as-of T] [--json]
  taizhang bench [--units N] [--events N] [--attachments N] [--attachment-size S] [--concurrency N]
                 [--duration D] [--reads N] [--data DIR | --url URL --token T [--nats URL] [--s3-...]] [--json|--markdown]
  taizhang completion bash|zsh|fish

Client commands read TAIZHANG_URL (default http://127.0.0.1:8080) and
TAIZHANG_TOKEN (or --token-file FILE). Run 'taizhang COMMAND -h' for flags.
`

// Run runs the command line args and returns the exit status. Errors are
// printed to stderr as one line; nothing panics out of Run.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serve(ctx, rest, stderr)
	case "unit", "token", "user", "submit", "amend", "retract", "history", "archive":
		err = clientCmd(ctx, cmd, rest, stdout, stderr)
	case "plan":
		err = planCmd(ctx, rest, stdout, stderr)
	case "finding":
		err = findingCmd(ctx, rest, stdout, stderr)
	case "verify":
		err = verifyCmd(ctx, rest, stdout, stderr)
	case "compliance":
		err = complianceCmd(ctx, rest, stdout, stderr)
	case "ranking":
		err = rankingCmd(ctx, rest, stdout, stderr)
	case "audit":
		err = auditCmd(ctx, rest, stdout, stderr)
	case "export":
		err = exportCmd(ctx, rest, stdout, stderr)
	case "verify-bag":
		err = verifyBagCmd(ctx, rest, stdout, stderr)
	case "witness":
		err = witnessCmd(ctx, rest, stdout, stderr)
	case "backup":
		err = backupCmd(ctx, rest, stdout, stderr)
	case "restore":
		err = restoreCmd(ctx, rest, stdout, stderr)
	case "bench":
		err = benchCmd(ctx, rest, stdout, stderr)
	case "import":
		err = importCmd(ctx, rest, stdout, stderr)
	case "device":
		err = deviceCmd(ctx, rest, stdout, stderr)
	case "completion":
		err = completionCmd(rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "taizhang: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "taizhang %s: %s\n", args[0], ue.msg)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "taizhang %s: %v\n", args[0], err)
		if caughtTheLog(err) {
			return 3
		}
		return 1
	}
	return 0
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("taizhang "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, turning flag errors into usage errors. Flags may
// follow positional arguments ('user add ID --role R'); after "--" all is
// positional.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...) // everything after "--"
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// envOr returns the environment variable's value, or def.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
