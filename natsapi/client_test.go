package natsapi_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"taizhang/client"
	"taizhang/natsapi"
)

// TestClient: the Go client submits with an object, says whether a
// retry was recorded already, reads, reports a refusal as *Error without
// retrying it, and retries a submission that found no service until one
// answers.
func TestClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	retried := make(chan error, 10)
	c := &natsapi.Client{NC: e.client, Token: e.tokens["clerk"], OnRetry: func(_ int, err error) { retried <- err }}
	obj, err := c.PutObject(ctx, "", "cun-1/client-photo.png", bytes.NewReader(testPNG(11)))
	if err != nil {
		t.Fatal(err)
	}
	ev := client.Evidence{ID: "0190a0a0-0000-7000-8000-0000000000b1", Kind: "photo", Title: "客戶端", OccurredAt: "2016-04-20"}
	var rc client.Receipt
	created, err := c.Submit(ctx, "cun-1", ev, []natsapi.ObjectRef{obj}, &rc)
	if err != nil || !created || rc.ID != ev.ID || len(rc.Attachments) != 1 {
		t.Fatalf("submit: %v %v %+v", created, err, rc)
	}
	if created, err = c.Submit(ctx, "cun-1", ev, []natsapi.ObjectRef{obj}, nil); err != nil || created {
		t.Fatalf("again: created %v, %v; want already recorded", created, err)
	}
	var hist struct{ Events []struct{ ID string } }
	if err := c.Read(ctx, natsapi.EpHistory, "cun-1", "", "", &hist); err != nil || hist.Events[len(hist.Events)-1].ID != ev.ID {
		t.Fatalf("history: %v %+v", err, hist)
	}
	_, err = c.Submit(ctx, "cun-2", client.Evidence{ID: "0190a0a0-0000-7000-8000-0000000000b2", Kind: "activity", Title: "越權", OccurredAt: "2016-04-20"}, nil, nil)
	var apiErr *natsapi.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 403 || apiErr.Code != "forbidden" || apiErr.RequestID == "" || natsapi.Retryable(err) {
		t.Fatalf("refusal: %v", err)
	}
	if _, err := c.Submit(ctx, "cun-1", client.Evidence{Kind: "activity", Title: "無號", OccurredAt: "2016-04-20"}, nil, nil); err == nil {
		t.Fatal("a submission without its id was sent")
	}
	if len(retried) != 0 {
		t.Fatalf("retried %d times before the service went away", len(retried))
	}

	// No service: the submission is retried until one answers.
	if err := e.svc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, "cun-1", client.Evidence{ID: "0190a0a0-0000-7000-8000-0000000000b3", Kind: "activity", Title: "重試", OccurredAt: "2016-04-20"}, nil, nil)
		done <- err
	}()
	if err := <-retried; !natsapi.Retryable(err) {
		t.Fatalf("retried after %v", err)
	}
	svc, err := natsapi.Start(ctx, e.client, natsapi.Config{Handler: e.api})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(ctx)
	if err := <-done; err != nil {
		t.Fatalf("retried submission: %v", err)
	}
}
