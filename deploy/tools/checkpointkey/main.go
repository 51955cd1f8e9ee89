// Command checkpointkey writes a new checkpoint signing key (an Ed25519
// note signer key named for the ledger's origin) to the file named by its
// one argument, refusing to overwrite one, and prints the public verifier
// key. Every serve replica of one ledger must be given the same key
// (--checkpoint-key); make it once, keep it with the other secrets.
package main

import (
	"fmt"
	"os"

	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: checkpointkey FILE")
		os.Exit(2)
	}
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	if err == nil {
		err = writeNew(os.Args[1], skey+"\n")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkpointkey:", err)
		os.Exit(1)
	}
	fmt.Println(vkey)
}

func writeNew(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
