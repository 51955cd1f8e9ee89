package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Receipt is what the server answered a submission with.
type Receipt struct {
	Sequence uint64
	Hash     string
	// Attachments are the sha256 (hex) of the stored item's first
	// attachments, in order.
	Attachments []string
}

// Refusal is a submission the server refused (a 4xx answer): sending it
// again would not help, so the run goes on with the next folder.
type Refusal struct {
	Status int
	Code   string
	Msg    string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("refused by the server: %s (HTTP %d %s)", r.Msg, r.Status, r.Code)
}

// Submitter sends one item. created is false when the server already had
// the id (and answered with the original receipt). A refusal is returned
// as a *Refusal; any other error is taken as the server being unreachable
// or unavailable for now, and the item is sent again with the same id.
type Submitter interface {
	Submit(ctx context.Context, it Item) (r Receipt, created bool, err error)
}

// Progress shows a run's progress (bench.NewProgress is one).
type Progress interface {
	Start(phase string, total int)
	Add(n int)
	End()
}

// Outcome is what became of one folder.
type Outcome string

// Outcomes of a folder.
const (
	Submitted Outcome = "submitted"
	Already   Outcome = "already there"
	// Changed: the id was already there, but with other attachments than
	// the folder now holds (its files were edited after the import).
	Changed Outcome = "already there, changed since"
	Refused Outcome = "refused"
	NotSent Outcome = "not sent" // the run stopped before it
)

// Result is one folder's outcome.
type Result struct {
	Folder  string
	Unit    string
	ID      string
	Outcome Outcome
	Reason  string // why refused or changed
	Receipt Receipt
}

// Summary is a run's outcome, folder by folder.
type Summary struct {
	Results []Result
	// Err is why the run stopped early (the server unreachable after the
	// retries, or the context ended), or nil.
	Err error
}

// Count returns how many folders had outcome o.
func (s *Summary) Count(o Outcome) int {
	n := 0
	for _, r := range s.Results {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

// OK reports whether every folder is in the ledger as it is on disk.
func (s *Summary) OK() bool {
	return s.Err == nil && s.Count(Refused) == 0 && s.Count(Changed) == 0 && s.Count(NotSent) == 0
}

// RunOptions tune Run.
type RunOptions struct {
	// Retries is how many times an item is sent again, with the same id,
	// after a failure that is not a refusal (default 0: none).
	Retries int
	// Backoff is the first pause between tries, doubling (default 500 ms).
	Backoff  time.Duration
	Progress Progress
	// OnResult, if set, is called after each folder (for tests and logs).
	OnResult func(Result)
}

// Run submits the batch's items in order; the folders Plan refused are
// reported as refused with their problems. A refusal by the server is
// reported and the run goes on; a failure that outlives the retries (or
// the end of ctx) stops the run, the rest reported as not sent: nothing is
// lost, a rerun resumes, since every item keeps its id.
func Run(ctx context.Context, b *Batch, sub Submitter, o RunOptions) *Summary {
	if o.Progress == nil {
		o.Progress = quiet{}
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	s := &Summary{}
	results := map[string]Result{}
	probs := map[string][]string{}
	for _, p := range b.Problems {
		top, _, _ := strings.Cut(p.Path, "/")
		probs[top] = append(probs[top], p.String())
	}
	for _, f := range b.Refused {
		results[f] = Result{Folder: f, Outcome: Refused, Reason: strings.Join(probs[f], "\n")}
	}
	o.Progress.Start("import", len(b.Items))
	for _, it := range b.Items {
		r := Result{Folder: it.Folder, Unit: it.Unit, ID: it.ID.String(), Outcome: NotSent}
		if s.Err == nil {
			s.Err = submitOne(ctx, sub, it, o, &r)
			o.Progress.Add(1)
			if o.OnResult != nil && r.Outcome != NotSent {
				o.OnResult(r)
			}
		}
		results[it.Folder] = r
	}
	o.Progress.End()
	for _, f := range b.Folders() {
		s.Results = append(s.Results, results[f])
	}
	return s
}

// submitOne sends it, with retries, and fills in r; it returns an error
// only when the run must stop.
func submitOne(ctx context.Context, sub Submitter, it Item, o RunOptions, r *Result) error {
	wait := o.Backoff
	for attempt := 0; ; attempt++ {
		rec, created, err := sub.Submit(ctx, it)
		var ref *Refusal
		switch {
		case err == nil:
			r.Receipt, r.Outcome = rec, Submitted
			if !created {
				r.Outcome = Already
				if want := hashes(it); rec.Attachments != nil && !slices.Equal(want, rec.Attachments) {
					r.Outcome = Changed
					r.Reason = fmt.Sprintf("the ledger holds %d attachment(s) that differ from the folder's %d; the import never appends a folder twice: correct it with 'taizhang amend --unit %s --id %s'",
						len(rec.Attachments), len(want), it.Unit, it.ID)
				}
			}
			return nil
		case errors.As(err, &ref):
			r.Outcome, r.Reason = Refused, ref.Error()
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("stopped at %s: %w", it.Folder, ctx.Err())
		case attempt >= o.Retries:
			return fmt.Errorf("stopped at %s after %d attempt(s): %w (nothing lost: run the import again to resume)", it.Folder, attempt+1, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped at %s: %w", it.Folder, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func hashes(it Item) []string {
	out := make([]string, len(it.Files))
	for i, f := range it.Files {
		out[i] = f.SHA256
	}
	return out
}

type quiet struct{}

func (quiet) Start(string, int) {}
func (quiet) Add(int)           {}
func (quiet) End()              {}

// WritePlan prints what a dry run found: each item that would be
// submitted, then every problem with its path.
func WritePlan(w io.Writer, b *Batch) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d folder(s): %d to submit, %d with problems; nothing was sent\n", len(b.Items)+len(b.Refused), len(b.Items), len(b.Refused))
	for _, it := range b.Items {
		src := cmp.Or(it.Source, "files only")
		fmt.Fprintf(&sb, "  %s  unit %s  %s  %s  %q  id %s  (%s)\n", it.Folder, it.Unit, it.Meta.OccurredAt, it.Meta.Kind, it.Meta.Title, it.ID, src)
		if len(it.Meta.Requirements) > 0 {
			fmt.Fprintf(&sb, "      requirements: %s\n", strings.Join(it.Meta.Requirements, ", "))
		}
		for _, f := range it.Files {
			fmt.Fprintf(&sb, "      %-40s %10d  %s\n", f.Name, f.Size, f.MediaType)
		}
	}
	if len(b.Problems) > 0 {
		fmt.Fprintf(&sb, "problems:\n")
		for _, p := range b.Problems {
			fmt.Fprintf(&sb, "  %s\n", p)
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// WriteSummary prints a run's outcome: the counts, then each folder that
// was refused, changed or not sent, with why.
func WriteSummary(w io.Writer, s *Summary) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "submitted %d, already there %d, refused %d", s.Count(Submitted), s.Count(Already)+s.Count(Changed), s.Count(Refused))
	if n := s.Count(Changed); n > 0 {
		fmt.Fprintf(&sb, ", changed since imported %d", n)
	}
	if n := s.Count(NotSent); n > 0 {
		fmt.Fprintf(&sb, ", not sent %d", n)
	}
	sb.WriteString("\n")
	for _, r := range s.Results {
		switch r.Outcome {
		case Submitted, Already:
			fmt.Fprintf(&sb, "  %-14s %s  %s  sequence %d\n", r.Outcome, r.Folder, r.ID, r.Receipt.Sequence)
		case Changed:
			fmt.Fprintf(&sb, "  %-14s %s  %s: %s\n", "CHANGED", r.Folder, r.ID, r.Reason)
		case Refused:
			fmt.Fprintf(&sb, "  %-14s %s\n", "REFUSED", r.Folder)
			for _, l := range strings.Split(r.Reason, "\n") {
				fmt.Fprintf(&sb, "      %s\n", l)
			}
		case NotSent:
			fmt.Fprintf(&sb, "  %-14s %s\n", "not sent", r.Folder)
		}
	}
	if s.Err != nil {
		fmt.Fprintf(&sb, "the run stopped: %v\n", s.Err)
	}
	_, err := io.WriteString(w, sb.String())
	return err
}
