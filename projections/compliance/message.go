package compliance

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"

	"taizhang/projections/plan"
)

// Message is one sentence or phrase of the engine, kept apart from any
// language so that each reader sees it in theirs: Key names it in the
// engine's catalogues (messages/*.json) and Args fill its placeholders
// {0}, {1}, … in order. An argument is a Message (a nested phrase), a
// string (text from the plan or the ledger: a tag, a phase or window name,
// a figure, a reason; shown as it is), an int, or a plan.Date. A Message
// whose Key starts with "list." joins its Args with that key's separator
// (list.or: 或 / or; list.and: 、 / ,).
//
// Result.Owed and Rejected.Because are Messages; Result.Missing and
// Rejected.Why are the same rendered in DefaultLang with ISO dates.
type Message struct {
	Key  string `json:"key"`
	Args []any  `json:"args,omitempty"`
}

// msg returns the Message key with args.
func msg(key string, args ...any) Message { return Message{Key: key, Args: args} }

// DefaultLang is the language of Result.Missing and Rejected.Why: that of
// the published seed plans, traditional Chinese.
const DefaultLang = "zh-Hant"

// Langs are the languages the engine's catalogues hold.
var Langs = []string{"zh-Hant", "zh-Hans", "en"}

//go:embed messages/*.json
var messageFS embed.FS

// catalogues parses the embedded catalogues once; they are read-only after.
var catalogues = sync.OnceValues(func() (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(Langs))
	for _, l := range Langs {
		b, err := messageFS.ReadFile(path.Join("messages", l+".json"))
		if err != nil {
			return nil, fmt.Errorf("compliance: catalogue %s: %w", l, err)
		}
		var c map[string]string
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("compliance: catalogue %s: %w", l, err)
		}
		out[l] = c
	}
	return out, nil
})

// Catalogue returns the engine's texts in lang (key → text with
// placeholders), or nil if lang is not one of Langs (or the embedded
// catalogues do not parse, which TestCatalogues rules out).
func Catalogue(lang string) map[string]string {
	cs, err := catalogues()
	if err != nil {
		return nil
	}
	return cs[lang]
}

// Say renders ms in lang, joined as clauses (；, "; "). A lang not in Langs
// is DefaultLang. date writes a plan date; nil writes it as YYYY-MM-DD. A
// key missing from the catalogue shows as [key] (the catalogue test keeps
// that from happening for every key the engine uses).
func Say(lang string, ms []Message, date func(plan.Date) string) string {
	c := Catalogue(lang)
	if c == nil {
		c = Catalogue(DefaultLang)
	}
	if c == nil {
		c = map[string]string{}
	}
	var b strings.Builder
	b.Grow(64)
	for i, m := range ms {
		if i > 0 {
			b.WriteString(c["sep.clause"])
		}
		say(&b, c, m, date)
	}
	return b.String()
}

// Say writes the report's words (Missing, each rejected item's Why, each
// period's Name) in lang, from their Messages, dates as YYYY-MM-DD. A lang
// not in Langs is DefaultLang, in which Evaluate already wrote them.
func (rep *Report) Say(lang string) {
	for i := range rep.Requirements {
		r := &rep.Requirements[i]
		r.Missing = Say(lang, r.Owed, nil)
		for j := range r.Rejected {
			r.Rejected[j].Why = Say(lang, r.Rejected[j].Because, nil)
		}
		for j := range r.Periods {
			r.Periods[j].Name = Say(lang, []Message{r.Periods[j].Label}, nil)
		}
	}
}

func say(b *strings.Builder, c map[string]string, m Message, date func(plan.Date) string) {
	if strings.HasPrefix(m.Key, "list.") {
		for i, a := range m.Args {
			if i > 0 {
				b.WriteString(c[m.Key])
			}
			sayArg(b, c, a, date)
		}
		return
	}
	text, ok := c[m.Key]
	if !ok {
		b.WriteString("[" + m.Key + "]")
		return
	}
	for {
		i := strings.IndexByte(text, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(text[i:], '}')
		n, err := strconv.Atoi(text[i+1 : i+max(j, 1)])
		if j < 0 || err != nil || n < 0 || n >= len(m.Args) {
			b.WriteString(text[:i+1]) // not a placeholder of this message: literal
			text = text[i+1:]
			continue
		}
		b.WriteString(text[:i])
		sayArg(b, c, m.Args[n], date)
		text = text[i+j+1:]
	}
	b.WriteString(text)
}

func sayArg(b *strings.Builder, c map[string]string, a any, date func(plan.Date) string) {
	switch x := a.(type) {
	case Message:
		say(b, c, x, date)
	case string:
		b.WriteString(x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case plan.Date:
		if date != nil {
			b.WriteString(date(x))
			break
		}
		if x.Year < 1000 || x.Year > 9999 {
			b.WriteString(x.String())
			break
		}
		var buf [10]byte // YYYY-MM-DD, without time.Format: Why is written for every rejected item
		d := append(strconv.AppendInt(buf[:0], int64(x.Year), 10), '-', byte('0'+x.Month/10), byte('0'+x.Month%10), '-', byte('0'+x.Day/10), byte('0'+x.Day%10))
		b.Write(d)
	default:
		fmt.Fprint(b, x)
	}
}
