package jetstream_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

// TestLeaseOneHolder: of two processes only one holds the lease, both name
// it; when the holder closes (releasing it) the other takes it over; a
// holder whose entry was overwritten behind its back loses it at the next
// renewal.
func TestLeaseOneHolder(t *testing.T) {
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	ctx := context.Background()
	var changes atomic.Int32
	open := func(name string) *tzjs.Lease {
		ls, err := tzjs.OpenLease(ctx, l, tzjs.LeaseConfig{Key: "checkpoint", Holder: name, TTL: 900 * time.Millisecond},
			func(bool) { changes.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	a := open("a")
	b := open("b")
	defer b.Close()
	testenv.Eventually(t, 10*time.Second, func() error {
		if a.Held() == b.Held() || a.Holder() == "" || a.Holder() != b.Holder() {
			return fmt.Errorf("a held %v (%q), b held %v (%q)", a.Held(), a.Holder(), b.Held(), b.Holder())
		}
		return nil
	})
	if a.TTL() != 900*time.Millisecond {
		t.Fatalf("TTL %s", a.TTL())
	}
	holder, other := a, b
	if b.Held() {
		holder, other = b, a
	}
	holder.Close()
	testenv.Eventually(t, 10*time.Second, func() error {
		if !other.Held() {
			return fmt.Errorf("%s does not hold the lease after %s released it", other.Name(), holder.Name())
		}
		return nil
	})
	if holder == b {
		a = open("a") // keep one to close at the end
		defer a.Close()
	}

	// Someone overwrites the entry: the holder loses the lease.
	kv, err := l.JetStream().KeyValue(ctx, tzjs.DefaultLeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		// Keep the intruder's entry alive (it expires with the TTL too).
		if _, err := kv.Put(ctx, "checkpoint", []byte("intruder")); err != nil {
			return err
		}
		if other.Held() || other.Holder() != "intruder" {
			return fmt.Errorf("%s: held %v, holder %q, after the entry was overwritten", other.Name(), other.Held(), other.Holder())
		}
		return nil
	})
	if changes.Load() < 3 {
		t.Fatalf("%d lease changes reported", changes.Load())
	}
}
