package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"taizhang/client"
	"taizhang/events"
)

// deviceCmd runs `taizhang device init|register|list|revoke`.
func deviceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: taizhang device init|register|list|revoke ...")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "init":
		return deviceInit(rest, stdout, stderr)
	case "register":
		return deviceRegister(ctx, rest, stdout, stderr)
	case "list":
		return deviceList(ctx, rest, stdout, stderr)
	case "revoke":
		return deviceRevoke(ctx, rest, stdout, stderr)
	}
	return usagef("unknown device command %q (init, register, list, revoke)", args[0])
}

// defaultDeviceKey is where `device init` writes the key unless --out or
// TAIZHANG_DEVICE_KEY says otherwise. submit and import sign only with a
// key named by --device-key or TAIZHANG_DEVICE_KEY: signing is opt-in.
func defaultDeviceKey() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "taizhang-device.key"
	}
	return filepath.Join(dir, "taizhang", "device.key")
}

// deviceInit writes a new device key (0600, never over an existing file)
// and prints its public key, to register with `device register`.
func deviceInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("device init", stderr)
	out := fs.String("out", envOr("TAIZHANG_DEVICE_KEY", defaultDeviceKey()), "where to write the private key (mode 0600; an existing file is never overwritten)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	k, err := client.NewDeviceKey()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o700); err != nil {
		return fmt.Errorf("device key directory: %w", err)
	}
	if err := k.Save(*out); err != nil {
		return err
	}
	fmt.Fprintln(stdout, k.PublicKey())
	fmt.Fprintf(stderr, "device key %s written to %s; register it: taizhang device register --key %s\n", k.ID(), *out, k.PublicKey())
	return nil
}

// registeredDevice is a device as the API answers it.
type registeredDevice struct {
	events.RegisteredDevice
}

func deviceRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("device register", stderr)
	var user, key, keyFile, label string
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&user, "user", "", "the user the key signs for (default: yourself; another user needs an admin)")
		fs.StringVar(&key, "key", "", "the public key (ed25519:...), as device init printed it")
		fs.StringVar(&keyFile, "device-key", "", "or: the private key file, whose public key is registered")
		fs.StringVar(&label, "label", "", "a label, e.g. \"Li's phone\"")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if (key == "") == (keyFile == "") {
		return usagef("give the public key with --key, or the key file with --device-key")
	}
	if keyFile != "" {
		k, err := client.LoadDeviceKey(keyFile)
		if err != nil {
			return err
		}
		key = k.PublicKey()
	}
	var out struct {
		Sequence uint64           `json:"sequence"`
		Device   registeredDevice `json:"device"`
	}
	if _, err := a.PostJSON(ctx, "/api/v1/devices", map[string]any{"user": user, "public_key": key, "label": label}, &out); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "device key %s registered to %s at sequence %d\n", out.Device.Key, out.Device.User, out.Sequence)
	return nil
}

func deviceList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("device list", stderr)
	var user string
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&user, "user", "", "whose keys (default: yours; '*' for everyone's, an admin or supervisor)")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	var out struct {
		Devices []registeredDevice `json:"devices"`
	}
	path := "/api/v1/devices"
	if user != "" {
		path += "?user=" + url.QueryEscape(user)
	}
	if _, err := a.Get(ctx, path, &out); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tUSER\tREGISTERED\tREVOKED\tLABEL")
	for _, d := range out.Devices {
		revoked := "-"
		if d.RevokedSeq != 0 {
			revoked = d.RevokedAt.In(displayZone()).Format(time.DateTime) + " (" + d.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Key, d.User, d.RegisteredAt.In(displayZone()).Format(time.DateTime), revoked, d.Label)
	}
	return tw.Flush()
}

func deviceRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("device revoke", stderr)
	var key, reason string
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&key, "key", "", "the key id (device list shows it) or the public key")
		fs.StringVar(&reason, "reason", "", "why (required), e.g. the phone was lost")
	})
	if err != nil {
		return err
	}
	if key == "" || strings.TrimSpace(reason) == "" {
		return usagef("--key and --reason are required")
	}
	if pub, err := events.ParsePublicKey(key); err == nil {
		key = events.KeyID(pub)
	}
	var out struct {
		Sequence uint64 `json:"sequence"`
	}
	if _, err := a.Do(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(key)+"/revoke", "application/json",
		strings.NewReader(fmt.Sprintf(`{"reason":%q}`, reason)), &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "device key %s revoked at sequence %d; what it signs from now on is recorded and flagged\n", key, out.Sequence)
	return nil
}

// deviceKeyFlag defines --device-key (default TAIZHANG_DEVICE_KEY) on fs;
// the function it returns loads the key once fs is parsed (nil if none
// was named: the submission goes unsigned).
func deviceKeyFlag(fs interface {
	StringVar(p *string, name, value, usage string)
}) func() (*client.DeviceKey, error) {
	var path string
	fs.StringVar(&path, "device-key", os.Getenv("TAIZHANG_DEVICE_KEY"), "sign with this device key file (env TAIZHANG_DEVICE_KEY; see taizhang device init)")
	return func() (*client.DeviceKey, error) {
		if path == "" {
			return nil, nil
		}
		return client.LoadDeviceKey(path)
	}
}

// warnDevice tells stderr of a flagged device verdict in a receipt.
func warnDevice(stderr io.Writer, id string, d *client.DeviceVerdict) {
	if !d.Flagged() {
		return
	}
	why := d.Verdict
	if d.Late {
		why += ", capture time after the recorded time"
	}
	fmt.Fprintf(stderr, "warning: evidence %s is recorded, and flagged for the supervisor: device key %s: %s %s\n", id, d.Key, why, d.Reason)
}
