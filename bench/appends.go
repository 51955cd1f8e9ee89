package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	js "github.com/nats-io/nats.go/jetstream"
)

// appendRows measures the append rows: EventsPerUnit events to each unit
// through the ledger and through the HTTP API, and as many raw
// synchronous publishes of one stored event's bytes, with the same
// concurrency and one subject a unit, to a plain stream on the ledger's
// server (file storage, the ledger's replica count, nothing else), which
// is deleted afterwards. The three run in interleaved rounds.
func (r *runner) appendRows(ctx context.Context) error {
	ledger := Row{Key: "append_ledger", What: fmt.Sprintf("append evidence through the ledger (%d writers, sync to disk)", r.cfg.Concurrency),
		Unit: "events/s", RawWhat: "sync JetStream publish of the same bytes to a plain stream"}
	web := Row{Key: "append_http", What: fmt.Sprintf("submit evidence via the HTTP API (%d clients, multipart, no files)", r.cfg.Concurrency),
		Unit: "events/s", RawWhat: ledger.RawWhat}
	var publish func(ctx context.Context, unit string) error
	if r.t.Ledger == nil {
		ledger.Skipped = "needs the ledger (--nats)"
		web.RawWhat = ""
	} else {
		pub, drop, err := r.rawStream(ctx)
		if err != nil {
			return err
		}
		defer drop()
		publish = pub
	}
	U := len(r.units)
	at := func(k int) (string, int) { return r.units[k%U], k / U }
	var paths []path
	if publish != nil {
		paths = append(paths, path{"raw publish", func(ctx context.Context, k int) error {
			unit, _ := at(k)
			return publish(ctx, unit)
		}}, path{"append via ledger", func(ctx context.Context, k int) error {
			unit, i := at(k)
			_, created, err := r.t.Ledger.SubmitEvidence(ctx, r.submission(unit, i))
			if err == nil && !created {
				err = fmt.Errorf("submission %d to %s was not created", i, unit)
			}
			return err
		}})
	}
	paths = append(paths, path{"append via HTTP", func(ctx context.Context, k int) error {
		unit, i := at(k)
		return r.api.submit(ctx, unit, i, nil)
	}})
	tms, rates, err := r.interleaved(ctx, U*r.cfg.EventsPerUnit, r.cfg.Duration, paths...)
	viaHTTP := tms[len(tms)-1]
	r.rep.Appended.HTTP = viaHTTP.n
	if publish != nil {
		r.rep.Appended.Raw, r.rep.Appended.Ledger = tms[0].n, tms[1].n
	}
	if err != nil {
		return err
	}
	web.Taizhang = viaHTTP.done().rate()
	if publish != nil {
		rawFig := tms[0].done().rate()
		rawFig.Extra = map[string]float64{"bytes": float64(r.rep.EventBytes)}
		ledger.Taizhang = tms[1].done().rate()
		r.withRaw(&ledger, rawFig)
		r.withRaw(&web, rawFig)
		ledger.RatioRange = ratioRange(rates[1], rates[0])
		web.RatioRange = ratioRange(rates[2], rates[0])
	}
	r.rep.Rows = append(r.rep.Rows, ledger, web)
	return r.uploadRow(ctx, publish)
}

// uploadRow measures Attachments HTTP submissions that each upload one
// attachment of AttachmentSize (plain text, new bytes each time), spread
// over the units, against the raw baseline doing what a bare system would:
// the blob's raw put, then a sync publish of the event's bytes.
func (r *runner) uploadRow(ctx context.Context, publish func(context.Context, string) error) error {
	row := Row{Key: "upload_http", What: fmt.Sprintf("submit evidence with a %s attachment via the HTTP API (%d clients)", sizeName(r.cfg.AttachmentSize), r.cfg.Concurrency),
		Unit: "events/s"}
	if r.cfg.Attachments == 0 {
		row.Skipped = "--attachments 0"
		r.rep.Rows = append(r.rep.Rows, row)
		return nil
	}
	n, U := r.cfg.Attachments, len(r.units)
	seed := r.seed()
	seed[31] ^= 0xff // other bytes than the blob rows'
	pool := newBuffers(r.cfg.Concurrency, r.cfg.AttachmentSize)
	rawSeed := seed
	rawSeed[30] ^= 0xff
	paths := []path{{"upload via HTTP", func(ctx context.Context, k int) error {
		b := pool.get()
		defer pool.put(b)
		blobContent(b, seed, k)
		return r.api.submit(ctx, r.units[k%U], k, b)
	}}}
	withRaw := publish != nil && r.t.RawBlobs != nil
	if withRaw {
		put, _ := r.t.RawBlobs.What()
		row.RawWhat = put + ", then the sync publish"
		paths = append(paths, path{"upload (raw)", func(ctx context.Context, k int) error {
			b := pool.get()
			defer pool.put(b)
			blobContent(b, rawSeed, k)
			if err := r.t.RawBlobs.Put(ctx, "upload-"+strconv.Itoa(k), b); err != nil {
				return err
			}
			return publish(ctx, r.units[k%U])
		}})
	}
	tms, rates, err := r.interleaved(ctx, n, r.cfg.Duration, paths...)
	r.rep.Appended.Uploads = tms[0].n
	if withRaw {
		r.rep.Appended.Raw += tms[1].n
	}
	if err != nil {
		return err
	}
	row.Taizhang = tms[0].done().rate()
	if withRaw {
		r.withRaw(&row, tms[1].done().rate())
		row.RatioRange = ratioRange(rates[0], rates[1])
	}
	r.rep.Rows = append(r.rep.Rows, row)
	return nil
}

// rawStream creates the run's plain stream and returns a publish of the
// stored bytes of the first unit's warm-up event to a unit's subject on
// it, and the stream's deletion.
func (r *runner) rawStream(ctx context.Context) (publish func(context.Context, string) error, drop func(), err error) {
	var payload []byte
	err = r.t.Ledger.StoredHistory(ctx, r.units[0], func(_ uint64, data []byte) error {
		payload = data
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("raw publish: %w", err)
	}
	r.rep.EventBytes = len(payload)
	j := r.t.Ledger.JetStream()
	replicas := 1
	if info := r.t.Ledger.Stream().CachedInfo(); info != nil && info.Config.Replicas > 0 {
		replicas = info.Config.Replicas
	}
	name := "TZBENCH_" + strings.ToUpper(strings.ReplaceAll(r.cfg.Prefix, "-", "_"))
	prefix := "tzbench." + r.cfg.Prefix + "."
	if _, err := j.CreateStream(ctx, js.StreamConfig{Name: name, Subjects: []string{prefix + ">"},
		Storage: js.FileStorage, Replicas: replicas}); err != nil {
		return nil, nil, fmt.Errorf("raw publish: create the plain stream %s: %w", name, err)
	}
	publish = func(ctx context.Context, unit string) error {
		_, err := j.Publish(ctx, prefix+unit, payload)
		return err
	}
	drop = func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := j.DeleteStream(dctx, name); err != nil {
			r.t.Log.Warn("bench: delete the raw stream", "stream", name, "err", err)
		}
	}
	return publish, drop, nil
}
