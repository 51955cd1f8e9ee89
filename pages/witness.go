package pages

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"taizhang/api"
	"taizhang/events"
	"taizhang/events/checkpoint"
)

// witnessPageCheckpoints is how many of the newest checkpoints the
// witnesses page shows and checks.
const witnessPageCheckpoints = 30

// witnessPageData is the witnesses page: the newest checkpoints with their
// cosignatures, how to run a witness, and (with ?keys=) the quorum check
// against the witnesses the supervisor trusts.
type witnessPageData struct {
	LogKey  string
	URL     string
	Rows    []witnessRow
	Problem string // why the checkpoints could not be read

	Keys    string // the trusted keys as typed, one a line
	Quorum  string
	Checked bool
	Check   witnessCheck
}

// witnessRow is one checkpoint and who cosigned it.
type witnessRow struct {
	Seq, Size    uint64
	Time         time.Time
	Cosignatures []checkpoint.Cosignature
	Problem      string
}

// witnessCheck is the quorum check's answer.
type witnessCheck struct {
	OK        bool
	Seq, Size uint64
	Cosigners []string
	Quorum    int
	Trusted   int
	Errors    []string // keys that do not parse, forged lines
	Most      int      // without a quorum: the most trusted cosigners of one checkpoint
	MostSeq   uint64
}

// AuditWitnesses shows the newest checkpoints with their witness
// cosignatures and, given trusted witness keys (?keys=, one a line) and
// ?quorum=, the newest of them cosigned by that many: the check verify
// --witness-key makes, here on the server's copy (the page says so).
func (pg *Pages) AuditWitnesses(w http.ResponseWriter, r *http.Request) {
	s := pg.api
	if _, _, err := s.AuditOptions(r); err != nil { // as every audit page: a unit out of scope is refused
		pg.failErr(w, r, err)
		return
	}
	q := r.URL.Query()
	d := witnessPageData{Keys: q.Get("keys"), Quorum: q.Get("quorum"), URL: "https://" + r.Host}
	if r.TLS == nil {
		d.URL = "http://" + r.Host
	}
	if s.Checkpoints() == nil {
		d.Problem = api.ErrNoCheckpoints.Error()
		pg.render(w, r, http.StatusOK, "witnesses", pg.page(w, r, d, "title.audit_witnesses"))
		return
	}
	d.LogKey = s.Checkpoints().PublicKey()
	var notes []checkpoint.Stored
	latest, err := s.Checkpoints().Latest(r.Context())
	switch {
	case errors.Is(err, events.ErrNotFound):
	case err != nil:
		d.Problem = err.Error()
	default:
		from := uint64(1)
		if latest.Seq > witnessPageCheckpoints {
			from = latest.Seq - witnessPageCheckpoints + 1
		}
		list, err := s.Checkpoints().List(r.Context(), from, witnessPageCheckpoints)
		if err != nil {
			d.Problem = err.Error()
		}
		for i := len(list) - 1; i >= 0; i-- {
			cp, err := s.WithCosignatures(r.Context(), list[i])
			if err != nil {
				d.Problem = err.Error()
				break
			}
			notes = append(notes, cp)
			d.Rows = append(d.Rows, witnessRow{Seq: cp.Seq, Size: cp.Size, Time: cp.Time, Cosignatures: cp.Cosignatures, Problem: cp.Problem})
		}
	}
	if strings.TrimSpace(d.Keys) != "" {
		d.Checked = true
		d.Check = checkWitnessQuorum(notes, d.LogKey, d.Keys, d.Quorum)
	}
	pg.render(w, r, http.StatusOK, "witnesses", pg.page(w, r, d, "title.audit_witnesses"))
}

// checkWitnessQuorum finds the newest of notes (newest first) whose note
// carries the operator's signature and quorum cosignatures by the keys.
func checkWitnessQuorum(notes []checkpoint.Stored, logKey, keys, quorum string) witnessCheck {
	var c witnessCheck
	op, err := checkpoint.NewVerifier(logKey)
	if err != nil {
		c.Errors = append(c.Errors, err.Error())
		return c
	}
	var trusted []*checkpoint.CosignatureVerifier
	seen := map[string]bool{}
	for _, line := range strings.Split(keys, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := checkpoint.NewCosignatureVerifier(line)
		if err != nil {
			c.Errors = append(c.Errors, fmt.Sprintf("%.40s…: %v", line, err))
			continue
		}
		if !seen[v.String()] {
			seen[v.String()] = true
			trusted = append(trusted, v)
		}
	}
	c.Trusted, c.Quorum = len(trusted), len(trusted)
	if n, err := strconv.Atoi(strings.TrimSpace(quorum)); err == nil && n > 0 {
		c.Quorum = n
	}
	if len(trusted) == 0 {
		return c
	}
	for _, n := range notes {
		if n.Problem != "" {
			continue
		}
		wd, err := checkpoint.CheckWitnessed([]byte(n.Note), op, trusted, c.Quorum)
		for _, l := range wd.Bad {
			c.Errors = append(c.Errors, fmt.Sprintf("checkpoint %d: a cosignature by a trusted key does not verify: %s", n.Seq, l))
		}
		if len(wd.Cosigned) > c.Most {
			c.Most, c.MostSeq = len(wd.Cosigned), n.Seq
		}
		if err == nil {
			c.OK, c.Seq, c.Size = true, n.Seq, n.Size
			for _, cs := range wd.Cosigned {
				c.Cosigners = append(c.Cosigners, cs.Witness)
			}
			return c
		}
	}
	return c
}
