// Package docs_test checks that the documentation keeps up with the code.
package docs_test

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

const troubleshooting = "guides/troubleshooting.md"

// Directories whose messages never reach a user of the plugin: tests,
// benchmarks, code generators and the docs' own examples.
var skipDirs = map[string]bool{".git": true, "test": true, "bench": true, "gen": true, "scripts": true, "examples": true, "docs": true, "docs-partials": true, "testdata": true}

var verb = regexp.MustCompile(`%[-+# 0]*(?:\[\d+\])?(?:\d+|\*)?(?:\.(?:\d+|\*))?[a-zA-Z%]`)
var word = regexp.MustCompile(`[A-Za-z][A-Za-z]+`)

// normalize turns a format string into the form the troubleshooting guide
// lists it in: every formatting verb becomes "…".
func normalize(format string) string {
	s := verb.ReplaceAllStringFunc(format, func(v string) string {
		if v == "%%" {
			return "%"
		}
		return "…"
	})
	return strings.TrimSpace(s)
}

// significant reports whether a message says something of its own rather
// than only wrapping another error ("%s: %w", "policy %s: %w").
func significant(msg string) bool {
	if wrapper.MatchString(msg) {
		return false
	}
	return len(word.FindAllString(strings.ReplaceAll(msg, "…", " "), -1)) >= 2
}

// wrapper is a context prefix in front of another error: "policies.library: …".
var wrapper = regexp.MustCompile(`^(?:[^\s…]+: )+…$`)

// codeMessages collects every user-facing message format in the module:
// fmt.Errorf, errors.New, a declaration problem (X.add(path, "format", …)),
// and lines printed to stderr by the commands.
func codeMessages(t *testing.T, root string) map[string][]string {
	t.Helper()
	msgs := map[string][]string{}
	add := func(file, format string) {
		m := normalize(format)
		if significant(m) {
			msgs[m] = append(msgs[m], file)
		}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && skipDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go"):
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if idx := messageArg(call); idx >= 0 && idx < len(call.Args) {
					if lit, ok := call.Args[idx].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, err := strconv.Unquote(lit.Value); err == nil {
							add(rel, s)
						}
					}
				}
				return true
			})
		case strings.HasSuffix(p, ".sh"):
			for _, m := range shellFailures(t, p) {
				add(rel, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// messageArg returns the index of the message argument of a call that
// produces a user-facing message, or -1.
func messageArg(call *ast.CallExpr) int {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return -1
	}
	pkg, _ := sel.X.(*ast.Ident)
	switch {
	case pkg != nil && pkg.Name == "fmt" && sel.Sel.Name == "Errorf":
		return 0
	case pkg != nil && pkg.Name == "errors" && sel.Sel.Name == "New":
		return 0
	case pkg != nil && pkg.Name == "fmt" && (sel.Sel.Name == "Fprintf" || sel.Sel.Name == "Fprintln"):
		if len(call.Args) > 0 && isStderr(call.Args[0]) {
			return 1
		}
	case sel.Sel.Name == "usageError":
		// The commands' usage errors, printed after "SUBCOMMAND: ".
		return 0
	case sel.Sel.Name == "add" && len(call.Args) >= 2:
		// model.Problems.add(path, format, args...): the declaration problems.
		if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			return 1
		}
	}
	return -1
}

func isStderr(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "stderr"
	case *ast.SelectorExpr:
		id, ok := x.X.(*ast.Ident)
		return ok && id.Name == "os" && x.Sel.Name == "Stderr"
	}
	return false
}

// The remote script reports failures three ways: tn_fail "message",
// TN_ERRORS+=("message") for the preflight's list of problems, and awk
// lines "E\t" policy ": …" "\n" for the policies' kernel requirements.
var (
	shellFailStart = regexp.MustCompile(`\btn_fail\s+"|TN_ERRORS\+=\("|tn_mark\s+"fail \$TN_STEP `)
	awkError       = regexp.MustCompile(`"E\\t"((?:\s+(?:"[^"]*"|[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?))*?\s+"[^"]*\\n")`)
	awkToken       = regexp.MustCompile(`"[^"]*"|[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?`)
)

func shellFailures(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	var out []string
	for _, loc := range shellFailStart.FindAllStringIndex(src, -1) {
		if msg, ok := shellDoubleQuoted(src, loc[1]); ok {
			out = append(out, msg)
		}
	}
	for _, m := range awkError.FindAllStringSubmatch(src, -1) {
		var b strings.Builder
		for _, tok := range awkToken.FindAllString(m[1], -1) {
			if strings.HasPrefix(tok, `"`) {
				lit := strings.TrimSuffix(strings.Trim(tok, `"`), `\n`)
				b.WriteString(strings.ReplaceAll(lit, "%", "%%"))
			} else {
				b.WriteString("%s")
			}
		}
		out = append(out, b.String())
	}
	return out
}

// shellDoubleQuoted reads a bash double-quoted string whose content starts
// at src[i], up to the closing quote, with every expansion ($x, ${…},
// $(…)) turned into %s and literal % escaped, so normalize treats both
// languages alike.
func shellDoubleQuoted(src string, i int) (string, bool) {
	var b strings.Builder
	for i < len(src) {
		c := src[i]
		switch {
		case c == '"':
			return b.String(), true
		case c == '\\' && i+1 < len(src):
			b.WriteByte(src[i+1])
			i += 2
			continue
		case c == '%':
			b.WriteString("%%")
		case c == '$' && i+1 < len(src) && (src[i+1] == '{' || src[i+1] == '('):
			open, closing := src[i+1], byte('}')
			if open == '(' {
				closing = ')'
			}
			depth := 0
			for j := i + 1; j < len(src); j++ {
				if src[j] == open {
					depth++
				} else if src[j] == closing {
					depth--
					if depth == 0 {
						i = j
						break
					}
				}
			}
			b.WriteString("%s")
		case c == '$' && i+1 < len(src) && (isShellNameByte(src[i+1]) || src[i+1] == '#' || src[i+1] == '?'):
			j := i + 1
			if src[j] == '#' || src[j] == '?' {
				j++
			} else {
				for j < len(src) && isShellNameByte(src[j]) {
					j++
				}
			}
			b.WriteString("%s")
			i = j
			continue
		default:
			b.WriteByte(c)
		}
		i++
	}
	return "", false
}

func isShellNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// A code span: text between double backticks (which may hold single
// backticks, padded with a space), or between single backticks.
var codeSpan = regexp.MustCompile("``\\s?(.+?)\\s?``|`([^`]+)`")

// documentedMessages reads the catalog of the troubleshooting guide: list
// items under "## Error messages" that start with code spans, up to " — ".
func documentedMessages(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(troubleshooting)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs := map[string]int{}
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line) == "## Error messages"
			continue
		}
		if !in || !strings.HasPrefix(line, "- `") {
			continue
		}
		head, _, _ := strings.Cut(line, " — ")
		for _, m := range codeSpan.FindAllStringSubmatch(head, -1) {
			span := m[1]
			if span == "" {
				span = m[2]
			}
			docs[strings.TrimSpace(span)] = n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return docs
}

// Every message the plugin can print has an entry in the troubleshooting
// guide, and every entry still matches a message in the code.
func TestEveryErrorMessageIsDocumented(t *testing.T) {
	code := codeMessages(t, "..")
	if len(code) < 50 {
		t.Fatalf("found only %d messages in the code; the scanner is broken", len(code))
	}
	docs := documentedMessages(t)

	var missing []string
	for m, files := range code {
		if _, ok := docs[m]; !ok {
			sort.Strings(files)
			missing = append(missing, "- `"+m+"` — ("+strings.Join(dedupe(files), ", ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d messages are not in %s under \"## Error messages\"; add an entry saying what it means and what to do:\n%s",
			len(missing), troubleshooting, strings.Join(missing, "\n"))
	}

	var stale []string
	for m, line := range docs {
		if _, ok := code[m]; !ok {
			stale = append(stale, troubleshooting+":"+strconv.Itoa(line)+": `"+m+"`")
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("%d entries of %s match no message in the code any more (reworded or removed); update or delete them:\n%s",
			len(stale), troubleshooting, strings.Join(stale, "\n"))
	}
}

// Every lint rule has a row in the guide's rule table, with its severity.
func TestEveryLintRuleIsDocumented(t *testing.T) {
	data, err := os.ReadFile(troubleshooting)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line) == "## Policy lint rules"
			continue
		}
		cells := strings.Split(line, "|")
		if !in {
			continue
		}
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
	}
	known := map[string]bool{}
	for _, r := range policy.Rules {
		known[r.ID] = true
		sev, ok := rows[r.ID]
		if !ok {
			t.Errorf("lint rule %q (%s: %s) has no row in %s", r.ID, r.Severity, r.Summary, troubleshooting)
			continue
		}
		if sev != string(r.Severity) {
			t.Errorf("lint rule %q is %s in the code but %q in %s", r.ID, r.Severity, sev, troubleshooting)
		}
	}
	for id := range rows {
		if !known[id] {
			t.Errorf("%s documents lint rule %q, which the linter does not have", troubleshooting, id)
		}
	}
}

func dedupe(xs []string) []string {
	var out []string
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// The normalizer and the catalog parser are what the check rests on.
func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"%s: sha256 %s differs from the manifest's %s": "…: sha256 … differs from the manifest's …",
		"%q is not a TCP port (1-65535)":               "… is not a TCP port (1-65535)",
		"100%% sure %5.2f %-8s %[1]d":                  "100% sure … … …",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if significant("…: …") || significant("policy …: …") || significant("policies.library: …") || significant("tetranomad: execute_command: …") || !significant("is empty") {
		t.Error("significant() misclassifies wrappers")
	}
}

func TestShellMessages(t *testing.T) {
	src := `tn_fail "${#TN_ERRORS[@]} problem(s): $msg"
    TN_ERRORS+=("${f#"$TN_ROOT"} already has a forward source on $TN_FORWARD_ADDRESS: remove it")
  tn_mark "fail $TN_STEP command failed with exit status $1 (script line $2): $cmd"
  errs = errs "E\t" who ": kernel function " sym[p, k] " is not in /proc/kallsyms" looked "; this kernel cannot attach it\n"
  tn_fail "$bin reports \"$version\", 100% sure"`
	dir := t.TempDir()
	p := filepath.Join(dir, "x.sh")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range shellFailures(t, p) {
		got = append(got, normalize(m))
	}
	want := []string{
		"… problem(s): …",
		"… reports \"…\", 100% sure",
		"… already has a forward source on …: remove it",
		"command failed with exit status … (script line …): …",
		"…: kernel function … is not in /proc/kallsyms…; this kernel cannot attach it",
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("shell messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
