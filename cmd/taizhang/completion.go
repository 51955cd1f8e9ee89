package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"taizhang/auth"
	"taizhang/events"
)

// cliCommand is one command of the usage text, with its subcommands and
// the flags of each (key "" for the command's own flags).
type cliCommand struct {
	Name  string
	Subs  []string
	Flags map[string][]string
	// Valued holds the flags that take a value (the others are booleans).
	Valued map[string]bool
}

var (
	wordRE = regexp.MustCompile(`^[a-z][a-z-]*$`)
	// flagRE is a flag's line as flag.PrintDefaults writes it: "  -name"
	// then " type" if it takes a value (usage lines start "    \t").
	flagRE = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9-]*)( \S+)?`)
)

// commandTree reads the commands and subcommands from the usage text (so
// that the completion scripts can never list other commands than `help`
// does), and each one's flags from its own flag set: it runs the command
// with -h, under a cancelled context, and reads the flags it prints.
func commandTree() []cliCommand {
	byName := map[string]*cliCommand{}
	var order []string
	for _, line := range strings.Split(usage, "\n") {
		rest, ok := strings.CutPrefix(line, "  taizhang ")
		if !ok {
			continue
		}
		toks := strings.Fields(rest)
		name := toks[0]
		c := byName[name]
		if c == nil {
			c = &cliCommand{Name: name, Flags: map[string][]string{}, Valued: map[string]bool{}}
			byName[name] = c
			order = append(order, name)
		}
		// Subcommands: the word right after the command, and any word
		// right after a '|' (as in "list|show ID|can ID" or
		// "... | token revoke TOKEN-ID").
		afterBar := true
		for _, tok := range toks[1:] {
			parts := strings.Split(tok, "|")
			for i, p := range parts {
				if (afterBar || i > 0) && wordRE.MatchString(p) && p != name && !slices.Contains(c.Subs, p) {
					c.Subs = append(c.Subs, p)
				}
				afterBar = false
			}
			afterBar = strings.HasSuffix(tok, "|")
			if tok == name {
				afterBar = true // "| token revoke": the word after the repeated name
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	flagsOf := func(c *cliCommand, args ...string) []string {
		var out, errb bytes.Buffer
		Run(ctx, append(args, "-h"), nil, &out, &errb)
		var fl []string
		for _, l := range strings.Split(errb.String(), "\n") {
			if m := flagRE.FindStringSubmatch(l); m != nil && m[1] != "h" && !slices.Contains(fl, "--"+m[1]) {
				fl = append(fl, "--"+m[1])
				if m[2] != "" {
					c.Valued["--"+m[1]] = true
				}
			}
		}
		return fl
	}
	out := make([]cliCommand, 0, len(order)+2)
	for _, name := range order {
		c := byName[name]
		if name == "completion" { // no flags; and running it would recurse
			out = append(out, *c)
			continue
		}
		if own := flagsOf(c, name); len(own) > 0 {
			c.Flags[""] = own
		}
		for _, s := range c.Subs {
			c.Flags[s] = flagsOf(c, name, s)
		}
		out = append(out, *c)
	}
	out = append(out, cliCommand{Name: "help", Flags: map[string][]string{}})
	return out
}

// flagValues are the values some flags take, offered after the flag.
func flagValues() map[string][]string {
	kinds := make([]string, len(events.Kinds))
	for i, k := range events.Kinds {
		kinds[i] = string(k)
	}
	return map[string][]string{
		"--kind":     kinds,
		"--role":     {"admin", "submitter", "inspector", "supervisor"},
		"--severity": {"low", "medium", "high"},
		"--outcome":  {auth.OutcomeAllowed, auth.OutcomeDenied, auth.OutcomeFailed},
	}
}

// completionCmd is `taizhang completion bash|zsh|fish`: it prints the
// shell's completion script.
func completionCmd(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usagef("want 'completion bash', 'completion zsh' or 'completion fish'")
	}
	cmds := commandTree()
	switch args[0] {
	case "bash":
		return writeBash(stdout, cmds)
	case "zsh":
		return writeZsh(stdout, cmds)
	case "fish":
		return writeFish(stdout, cmds)
	}
	return usagef("unknown shell %q: want bash, zsh or fish", args[0])
}

func names(cmds []cliCommand) string {
	n := make([]string, len(cmds))
	for i, c := range cmds {
		n[i] = c.Name
	}
	return strings.Join(n, " ")
}

func sortedValues(vals map[string][]string) []string {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// shellCases are the case arms of a bash or zsh script, as formats of the
// pattern and the space-separated words it completes: a flag's values, a
// command's subcommands, a "command subcommand" pair's flags and a
// command's own flags (the pattern then ends in *).
type shellCases struct{ value, sub, subFlags, cmdFlags string }

var (
	bashCases = shellCases{
		value:    "        %s) COMPREPLY=( $(compgen -W %q -- \"$cur\") ); return ;;\n",
		sub:      "            %s) COMPREPLY=( $(compgen -W %q -- \"$cur\") ); return ;;\n",
		subFlags: "            %q) words=%q ;;\n",
		cmdFlags: "            %q*) words=%q ;;\n",
	}
	zshCases = shellCases{
		value:    "        (%s) compadd -- %s; return ;;\n",
		sub:      "            (%s) compadd -- %s; return ;;\n",
		subFlags: "            (%q) compadd -- %s ;;\n",
		cmdFlags: "            (%q*) compadd -- %s ;;\n",
	}
)

func (sc shellCases) values(b *strings.Builder, vals map[string][]string) {
	for _, f := range sortedValues(vals) {
		fmt.Fprintf(b, sc.value, f, strings.Join(vals[f], " "))
	}
}

func (sc shellCases) subs(b *strings.Builder, cmds []cliCommand) {
	for _, c := range cmds {
		if len(c.Subs) > 0 {
			fmt.Fprintf(b, sc.sub, c.Name, strings.Join(c.Subs, " "))
		}
	}
}

func (sc shellCases) flags(b *strings.Builder, cmds []cliCommand) {
	for _, c := range cmds {
		for _, s := range c.Subs {
			if len(c.Flags[s]) > 0 {
				fmt.Fprintf(b, sc.subFlags, c.Name+" "+s, strings.Join(c.Flags[s], " "))
			}
		}
		if len(c.Flags[""]) > 0 {
			fmt.Fprintf(b, sc.cmdFlags, c.Name+" ", strings.Join(c.Flags[""], " "))
		}
	}
}

func writeBash(w io.Writer, cmds []cliCommand) error {
	var b strings.Builder
	b.WriteString(`# bash completion for taizhang; generated by 'taizhang completion bash'.
# Load it with: source <(taizhang completion bash)
_taizhang() {
    local cur prev cmd sub words
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [ "$COMP_CWORD" -eq 1 ]; then
`)
	fmt.Fprintf(&b, "        COMPREPLY=( $(compgen -W %q -- \"$cur\") )\n        return\n    fi\n", names(cmds))
	b.WriteString("    cmd=\"${COMP_WORDS[1]}\"\n    sub=\"\"\n    [ \"$COMP_CWORD\" -gt 2 ] && sub=\"${COMP_WORDS[2]}\"\n")
	b.WriteString("    case \"$prev\" in\n")
	bashCases.values(&b, flagValues())
	b.WriteString("    esac\n    if [ \"$COMP_CWORD\" -eq 2 ] && [[ \"$cur\" != -* ]]; then\n        case \"$cmd\" in\n")
	bashCases.subs(&b, cmds)
	b.WriteString("        esac\n    fi\n    if [[ \"$cur\" == -* ]]; then\n        words=\"\"\n        case \"$cmd $sub\" in\n")
	bashCases.flags(&b, cmds)
	b.WriteString(`        esac
        COMPREPLY=( $(compgen -W "$words" -- "$cur") )
        return
    fi
    COMPREPLY=( $(compgen -f -- "$cur") )
}
complete -o filenames -o bashdefault -F _taizhang taizhang
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeZsh(w io.Writer, cmds []cliCommand) error {
	var b strings.Builder
	b.WriteString(`#compdef taizhang
# zsh completion for taizhang; generated by 'taizhang completion zsh'.
# Load it with: source <(taizhang completion zsh), or save it as _taizhang in $fpath.
_taizhang() {
    local cmd=${words[2]} sub=${words[3]} prev=${words[CURRENT-1]}
    if (( CURRENT == 2 )); then
`)
	fmt.Fprintf(&b, "        compadd -- %s\n        return\n    fi\n    case $prev in\n", names(cmds))
	zshCases.values(&b, flagValues())
	b.WriteString("    esac\n    if (( CURRENT == 3 )) && [[ $PREFIX != -* ]]; then\n        case $cmd in\n")
	zshCases.subs(&b, cmds)
	b.WriteString("        esac\n    fi\n    if [[ $PREFIX == -* ]]; then\n        case \"$cmd $sub\" in\n")
	zshCases.flags(&b, cmds)
	b.WriteString(`        esac
        return
    fi
    _files
}
if [ "$funcstack[1]" = "_taizhang" ]; then
    _taizhang "$@"
else
    compdef _taizhang taizhang
fi
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFish(w io.Writer, cmds []cliCommand) error {
	var b strings.Builder
	b.WriteString("# fish completion for taizhang; generated by 'taizhang completion fish'.\n" +
		"# Load it with: taizhang completion fish | source, or save it as ~/.config/fish/completions/taizhang.fish\n" +
		"")
	fmt.Fprintf(&b, "complete -c taizhang -n '__fish_use_subcommand' -f -a %q\n", names(cmds))
	vals := flagValues()
	for _, c := range cmds {
		if len(c.Subs) > 0 {
			fmt.Fprintf(&b, "complete -c taizhang -n '__fish_seen_subcommand_from %s; and not __fish_seen_subcommand_from %s' -f -a %q\n",
				c.Name, strings.Join(c.Subs, " "), strings.Join(c.Subs, " "))
		}
		flagLine := func(cond string, flags []string) {
			for _, f := range flags {
				name := strings.TrimPrefix(f, "--")
				switch v, ok := vals[f]; {
				case ok:
					fmt.Fprintf(&b, "complete -c taizhang -n %q -l %s -x -a %q\n", cond, name, strings.Join(v, " "))
				case c.Valued[f]:
					fmt.Fprintf(&b, "complete -c taizhang -n %q -l %s -r\n", cond, name)
				default:
					fmt.Fprintf(&b, "complete -c taizhang -n %q -l %s\n", cond, name)
				}
			}
		}
		for _, s := range c.Subs {
			flagLine(fmt.Sprintf("__fish_seen_subcommand_from %s; and __fish_seen_subcommand_from %s", c.Name, s), c.Flags[s])
		}
		flagLine("__fish_seen_subcommand_from "+c.Name, c.Flags[""])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
