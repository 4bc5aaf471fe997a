package policy

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// base is a valid policy with no findings. Line numbers matter: the table
// below edits single lines and expects findings on them.
const base = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: test-policy
spec:
  kprobes:
  - call: tcp_connect
    syscall: false
    args:
    - index: 0
      type: sock
    selectors:
    - matchArgs:
      - index: 0
        operator: NotDAddr
        values:
        - 127.0.0.0/8
        - 169.254.169.254/32
      matchActions:
      - action: Post
`

// edit replaces line n (1-based) of base with repl (which may span lines).
func edit(n int, repl string) string {
	lines := strings.Split(base, "\n")
	lines[n-1] = repl
	return strings.Join(lines, "\n")
}

type want struct {
	rule string
	line int
}

func got(r Report) []want {
	var out []want
	for _, f := range r.Findings {
		out = append(out, want{f.Rule, f.Line})
	}
	return out
}

func TestBaseIsClean(t *testing.T) {
	r := lint([]File{{Path: "base.yaml", Data: []byte(base)}})
	if len(r.Findings) != 0 {
		t.Fatalf("base policy has findings:\n%s", findingsText(r))
	}
	want := []Requirements{{Policy: "test-policy", File: "base.yaml", Symbols: []string{"tcp_connect"}}}
	if !reflect.DeepEqual(r.Policies, want) {
		t.Fatalf("requirements = %+v, want %+v", r.Policies, want)
	}
}

// scopedSigkill turns base into an enforcing egress policy scoped by source.
func scopedSigkill(saddr string, notDAddr ...string) string {
	return scopedSigkillFrom([]string{saddr}, notDAddr...)
}

// scopedSigkillFrom is scopedSigkill with several sources (lines 17, 18, …).
func scopedSigkillFrom(saddrs []string, notDAddr ...string) string {
	var b strings.Builder
	b.WriteString(strings.Join(strings.Split(base, "\n")[:13], "\n"))
	b.WriteString("\n      - index: 0\n        operator: SAddr\n        values:\n") // lines 14-16
	for _, v := range saddrs {
		fmt.Fprintf(&b, "        - %s\n", v)
	}
	b.WriteString("      - index: 0\n        operator: NotDAddr\n        values:\n") // then NotDAddr
	for _, v := range notDAddr {
		fmt.Fprintf(&b, "        - %s\n", v)
	}
	b.WriteString("      matchActions:\n      - action: Sigkill\n")
	return b.String()
}

func TestCraftedPolicies(t *testing.T) {
	cases := []struct {
		name  string
		files []File
		want  []want
	}{
		{"typo field", one(edit(8, "    syscal: false")), []want{{RuleUnknownField, 8}}},
		{"typo metadata field", one(edit(4, "  nmae: test-policy")), []want{{RuleName, 3}, {RuleUnknownField, 4}}},
		{"wrong enum", one(edit(15, "        operator: NotDAdr")), []want{{RuleEnum, 15}}},
		{"wrong arg type", one(edit(11, "      type: sockk")), []want{{RuleEnum, 11}}},
		{"wrong value type", one(edit(10, "    - index: zero")), []want{{RuleType, 10}}},
		{"bad CIDR", one(edit(17, "        - 127.0.0.0/33")), []want{{RuleAddress, 17}}},
		{"bad IP", one(edit(18, "        - 169.254.169.2544")), []want{{RuleAddress, 18}}},
		{"namespaced kind", one(edit(2, "kind: TracingPolicyNamespaced")), []want{{RuleNamespacedKind, 2}}},
		{"other kind", one(edit(2, "kind: Pod")), []want{{RuleKind, 2}}},
		{"missing kind", one(edit(2, "# no kind")), []want{{RuleKind, 1}}},
		{"pod selector", one(edit(5, "spec:\n  podSelector:\n    matchLabels:\n      app: web")), []want{{RulePodSelector, 6}}},
		{"container selector", one(edit(5, "spec:\n  containerSelector:\n    matchExpressions: []")), []want{{RuleContainerSelector, 6}}},
		{"host selector labels", one(edit(5, "spec:\n  hostSelector:\n    matchLabels:\n      a: b")), []want{{RuleHostSelector, 6}}},
		{"host selector empty alone needs the policy filter", one(edit(5, "spec:\n  hostSelector: {}")), []want{{RuleHostSelector, 6}}},
		{"all three selectors empty match all", one(edit(5, "spec:\n  hostSelector: {}\n  podSelector: {}\n  containerSelector: {}")), nil},
		{"empty file", one(""), []want{{RuleEmpty, 1}}},
		{"comment-only file", one("# nothing here\n"), []want{{RuleEmpty, 1}}},
		{"empty document", one("---\n"), []want{{RuleEmpty, 1}}},
		{"broken YAML", one(edit(7, "  - call: tcp_connect: x")), []want{{RuleYAML, 7}}},
		{"broken mapping", one(edit(8, "    syscall: false\n      x: 1")), []want{{RuleYAML, 9}}},
		{"unterminated quote", one(edit(4, `  name: "test-policy`)), []want{{RuleYAML, 4}}},
		{"duplicate key", one(edit(2, "kind: TracingPolicy\nkind: TracingPolicy")), []want{{RuleDuplicateKey, 3}}},
		{"not a mapping", one("- a\n- b\n"), []want{{RuleType, 1}}},
		{"bad name", one(edit(4, "  name: Test_Policy")), []want{{RuleName, 4}}},
		{"missing name", one(edit(4, "  labels: {}")), []want{{RuleName, 3}}},
		{"wrong apiVersion", one(edit(1, "apiVersion: cilium.io/v1")), []want{{RuleAPIVersion, 1}}},
		{"duplicate names", []File{{"a.yaml", []byte(base)}, {"b.yaml", []byte(base)}}, []want{{RuleDuplicateName, 4}}},
		{"duplicate names in one file", one(base + "---\n" + base), []want{{RuleMultiDocument, 21}, {RuleDuplicateName, 25}}},
		{"placeholder", one(edit(17, "        - ${POD_CIDR}")), []want{{RulePlaceholder, 17}}},
		{"go template placeholder", one(edit(4, "  name: {{ .Name }}")), []want{{RulePlaceholder, 4}, {RuleType, 4}}},
		{"unparsable template", one(edit(17, "        {{- range .VPCCIDRs }}")), []want{{RuleYAML, 17}, {RulePlaceholder, 17}}},
		{"quoted go template placeholder", one(edit(4, `  name: "{{ .Name }}"`)), []want{{RulePlaceholder, 4}}},
		{"arg index not declared", one(edit(14, "      - index: 1")), []want{{RuleArgIndex, 14}}},
		{"address operator on int", one(edit(11, "      type: int")), []want{{RuleOperatorArgType, 15}}},
		{"too many actions", one(edit(20, "      - action: Post\n      - action: Post\n      - action: Post\n      - action: Post")), []want{{RuleSelectorLimit, 23}}},
		{"namespace value", one(edit(20, "      - action: Post\n      matchNamespaces:\n      - namespace: Pid\n        operator: In\n        values: [hostns]")), []want{{RuleNamespaceValue, 24}}},
		{"list ref", one(edit(7, "  - call: list:missing")), []want{{RuleListRef, 7}}},
		{"option value", one(edit(5, "spec:\n  options:\n  - name: policy-mode\n    value: audit")), []want{{RuleOption, 8}}},
		{"unknown option", one(edit(5, "spec:\n  options:\n  - name: policy-mod\n    value: monitor")), []want{{RuleUnknownOption, 7}}},
		{"YAML 1.1 boolean", one(edit(8, "    syscall: no")), nil},
		// base's NotDAddr lacks the v4-mapped exceptions, which a selector
		// without SAddr needs once it enforces: dual-stack sockets reach
		// ::ffff:127.0.0.1.
		{"unscoped sigkill", one(edit(20, "      - action: Sigkill")), []want{{RuleEgressExceptions, 15}, {RuleUnscopedEnforcement, 20}}},
		{"sigkill scoped to containers", one(edit(20, "      - action: Sigkill\n      matchNamespaces:\n      - namespace: Pid\n        operator: NotIn\n        values: [host_ns]")), []want{{RuleEgressExceptions, 15}}},
		{"sigkill with v4-mapped exceptions", one(edit(18, "        - 169.254.169.254/32\n        - ::ffff:127.0.0.0/104\n        - ::ffff:169.254.169.254/128")), nil},
		{"sigkill scoped to host is unscoped", one(edit(20, "      - action: Sigkill\n      matchNamespaces:\n      - namespace: Pid\n        operator: In\n        values: [host_ns]")), []want{{RuleEgressExceptions, 15}, {RuleUnscopedEnforcement, 20}}},
		{"override on plain function", one(edit(20, "      - action: Override\n      matchBinaries:\n      - operator: In\n        values: [/usr/bin/curl]")), []want{{RuleEgressExceptions, 15}, {RuleOverrideTarget, 20}}},
		{"equal on executable", one(equalExec), []want{{RuleEqualBinaryPath, 16}}},
		{"follow forks", one(edit(20, "      - action: Post\n      matchPIDs:\n      - operator: In\n        followForks: false\n        values: [1]")), []want{{RuleFollowForks, 23}}},
		{"parents map", one(edit(20, "      - action: Post\n      matchParentBinaries:\n      - operator: In\n        values: [/usr/bin/bash]")), []want{{RuleParentsMap, 21}}},
		{"egress from bridge, IPv4 only", one(scopedSigkill("172.17.0.0/16", "127.0.0.0/8", "169.254.169.254/32", "10.128.0.0/9")), []want{{RuleEgressV4Mapped, 17}}},
		{"egress from bridge, both forms", one(scopedSigkillFrom([]string{"172.17.0.0/16", "::ffff:172.17.0.0/112"},
			"127.0.0.0/8", "169.254.169.254/32", "10.128.0.0/9", "::ffff:127.0.0.0/104", "::ffff:169.254.169.254/128", "::ffff:10.128.0.0/105")), nil},
		{"egress from bridge, v4-mapped exceptions missing", one(scopedSigkillFrom([]string{"172.17.0.0/16", "::ffff:172.17.0.0/112"},
			"127.0.0.0/8", "169.254.169.254/32", "::ffff:127.0.0.1")), []want{{RuleEgressExceptions, 20}}},
		{"egress from v4-mapped VPC", one(scopedSigkillFrom([]string{"::ffff:10.128.0.0/105"}, "::ffff:127.0.0.0/104", "::ffff:169.254.169.254/128")), []want{{RuleEgressSourceVPC, 17}}},
		{"egress from v4-mapped elsewhere", one(scopedSigkillFrom([]string{"::ffff:192.168.0.0/112"}, "::ffff:127.0.0.0/104", "::ffff:169.254.169.254/128")), []want{{RuleEgressSourceBridge, 17}}},
		{"egress from VPC", one(scopedSigkill("10.128.0.0/9", "127.0.0.0/8", "169.254.169.254/32")), []want{{RuleEgressSourceVPC, 17}, {RuleEgressV4Mapped, 17}}},
		{"egress from elsewhere", one(scopedSigkill("192.168.0.0/16", "127.0.0.0/8", "169.254.169.254/32")), []want{{RuleEgressSourceBridge, 17}, {RuleEgressV4Mapped, 17}}},
		{"egress missing metadata", one(scopedSigkill("172.26.64.0/20", "127.0.0.1", "10.0.0.0/8")), []want{{RuleEgressV4Mapped, 17}, {RuleEgressExceptions, 19}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := lint(tc.files)
			g := got(r)
			if !reflect.DeepEqual(g, tc.want) {
				t.Fatalf("findings %v, want %v:\n%s", g, tc.want, findingsText(r))
			}
			if r.HasErrors() != hasError(tc.want) {
				t.Fatalf("HasErrors = %v", r.HasErrors())
			}
			for _, f := range r.Findings {
				if f.File == "" || f.Message == "" || f.Column < 1 {
					t.Errorf("incomplete finding %+v", f)
				}
				if sev, ok := ruleSeverity(f.Rule); !ok || sev != f.Severity {
					t.Errorf("finding %s has severity %s; Rules says %s (known=%v)", f.Rule, f.Severity, sev, ok)
				}
			}
		})
	}
}

const equalExec = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: exec-block
spec:
  kprobes:
  - call: security_bprm_creds_from_file
    syscall: false
    args:
    - index: 1
      type: file
    selectors:
    - matchArgs:
      - index: 1
        operator: Equal
        values: [/usr/bin/apt]
`

func one(s string) []File { return []File{{Path: "p.yaml", Data: []byte(s)}} }

func hasError(ws []want) bool {
	for _, w := range ws {
		if s, _ := ruleSeverity(w.rule); s == SeverityError {
			return true
		}
	}
	return false
}

func ruleSeverity(id string) (Severity, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r.Severity, true
		}
	}
	return "", false
}

func TestRulesTableUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules {
		if seen[r.ID] || r.Summary == "" || (r.Severity != SeverityError && r.Severity != SeverityWarning) {
			t.Errorf("bad or duplicate rule entry %+v", r)
		}
		seen[r.ID] = true
	}
}

func TestHints(t *testing.T) {
	r := lint(one(edit(8, "    syscal: false")))
	if len(r.Findings) != 1 || r.Findings[0].Hint != `did you mean "syscall"?` {
		t.Fatalf("unknown-field hint: %+v", r.Findings)
	}
	r = lint(one(edit(15, "        operator: NotDAdr")))
	if len(r.Findings) != 1 || r.Findings[0].Hint != `did you mean "NotDAddr"?` {
		t.Fatalf("enum hint: %+v", r.Findings)
	}
	if !strings.Contains(r.Findings[0].Message, "spec.kprobes[0].selectors[0].matchArgs[0].operator") {
		t.Fatalf("enum message lacks the field path: %q", r.Findings[0].Message)
	}
}

func TestFindingFormats(t *testing.T) {
	f := Finding{File: "a.yaml", Line: 3, Column: 5, Rule: RuleName, Severity: SeverityError, Message: "bad", Hint: "fix it"}
	if got, want := f.String(), "a.yaml:3:5: error: name: bad (fix it)"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	f.Hint = ""
	if got, want := f.String(), "a.yaml:3:5: error: name: bad"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"file":"a.yaml","line":3,"column":5,"rule":"name","severity":"error","message":"bad"}`; got != want {
		t.Fatalf("JSON = %s, want %s", got, want)
	}
}

func TestFindingsSorted(t *testing.T) {
	files := []File{
		{"z.yaml", []byte(edit(20, "      - action: Sigkill"))},
		{"a.yaml", []byte("")},
		{"m.yaml", []byte(edit(1, "apiVersion: x") + "\n")},
	}
	r := lint(files)
	if !sort.SliceIsSorted(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	}) {
		t.Fatalf("findings not sorted:\n%s", findingsText(r))
	}
	if r.Findings[0].File != "a.yaml" {
		t.Fatalf("first finding %v", r.Findings[0])
	}
}

func TestRequirements(t *testing.T) {
	const pol = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: reqs
spec:
  lists:
  - name: dups
    type: syscalls
    values: [sys_dup2, sys_dup]
  - name: gen
    type: generated_ftrace
    pattern: "^ksys_*"
  kprobes:
  - call: list:dups
  - call: list:gen
  - call: sys_linkat
    syscall: true
    args:
    - index: 0
      type: int
    selectors:
    - matchBinaries:
      - operator: In
        values: [/usr/bin/ln]
      matchActions:
      - action: Override
        argError: -1
  - call: security_inode_mkdir
    selectors:
    - matchNamespaces:
      - namespace: Pid
        operator: NotIn
        values: [host_ns]
      matchActions:
      - action: Override
        argError: -1
  - call: security_inode_mkdir
  lsmhooks:
  - hook: file_open
  - hook: bprm_check_security
  enforcers:
  - calls: [sys_kill]
`
	r := lint(one(pol))
	if r.HasErrors() {
		t.Fatalf("unexpected errors:\n%s", findingsText(r))
	}
	want := []Requirements{{
		Policy:        "reqs",
		File:          "p.yaml",
		Symbols:       []string{"security_inode_mkdir", "sys_dup", "sys_dup2", "sys_kill", "sys_linkat"},
		LSMHooks:      []string{"bprm_check_security", "file_open"},
		NeedsOverride: true,
	}}
	if !reflect.DeepEqual(r.Policies, want) {
		t.Fatalf("requirements\n got %+v\nwant %+v", r.Policies, want)
	}
	// Override on a security_ function alone uses fmod_ret, not the override helper.
	r = lint(one(strings.Replace(pol, "    syscall: true\n", "    syscall: false\n", 1)))
	if !r.HasErrors() {
		t.Fatalf("Override on non-syscall sys_linkat should be an override-target error")
	}
}

func TestKallsymsCandidates(t *testing.T) {
	for _, tc := range []struct {
		sym, arch string
		want      []string
	}{
		{"sys_write", "amd64", []string{"__x64_sys_write", "sys_write"}},
		{"sys_write", "arm64", []string{"__arm64_sys_write", "sys_write"}},
		{"__x64_sys_write", "amd64", []string{"__x64_sys_write"}},
		{"tcp_connect", "amd64", []string{"tcp_connect"}},
		{"sys_write", "riscv64", []string{"sys_write"}},
	} {
		if got := KallsymsCandidates(tc.sym, tc.arch); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("KallsymsCandidates(%q, %q) = %v, want %v", tc.sym, tc.arch, got, tc.want)
		}
	}
}

func TestLintWithNetwork(t *testing.T) {
	if _, err := LintWith(nil, Options{Network: Network{DockerBridgeCIDR: "172.17.0.0/33"}}); err == nil ||
		!strings.Contains(err.Error(), "DockerBridgeCIDR") {
		t.Fatalf("invalid network: err = %v", err)
	}
	// A custom bridge makes the default one a foreign source, and a custom
	// VPC makes its range a host source.
	nw := Network{DockerBridgeCIDR: "192.168.0.0/24", VPCCIDRs: []string{"172.16.0.0/12"}}
	r, err := LintWith(one(scopedSigkillFrom([]string{"192.168.0.0/25", "::ffff:192.168.0.0/121"},
		"127.0.0.0/8", "169.254.169.254/32", "::ffff:127.0.0.0/104", "::ffff:169.254.169.254/128")), Options{Network: nw})
	if err != nil || len(r.Findings) != 0 {
		t.Fatalf("custom bridge source: err=%v\n%s", err, findingsText(r))
	}
	r, _ = LintWith(one(scopedSigkill("172.17.0.0/16", "127.0.0.0/8", "169.254.169.254/32")), Options{Network: nw})
	if g := got(r); !reflect.DeepEqual(g, []want{{RuleEgressSourceVPC, 17}, {RuleEgressV4Mapped, 17}}) {
		t.Fatalf("default bridge inside custom VPC: %v", g)
	}
}

func TestAliasBombIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("kind: TracingPolicy\napiVersion: cilium.io/v1alpha1\n")
	r := lint(one(b.String()))
	if !r.HasErrors() {
		t.Fatalf("alias bomb produced no error")
	}
}

func TestMergeKeys(t *testing.T) {
	const pol = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: merged
spec:
  kprobes:
  - &probe
    call: tcp_connect
    args:
    - index: 0
      type: sock
  - <<: *probe
    call: tcp_close
`
	r := lint(one(pol))
	if len(r.Findings) != 0 {
		t.Fatalf("merge keys: %s", findingsText(r))
	}
	if want := []string{"tcp_close", "tcp_connect"}; !reflect.DeepEqual(r.Policies[0].Symbols, want) {
		t.Fatalf("symbols %v, want %v", r.Policies[0].Symbols, want)
	}
}

// testNetwork is a stock GCE network: Docker's and Nomad's default bridges
// and an auto-mode VPC (model's defaults, which this package cannot import:
// model imports it).
var testNetwork = Network{
	DockerBridgeCIDR: "172.17.0.0/16",
	NomadBridgeCIDR:  "172.26.64.0/20",
	VPCCIDRs:         []string{"10.128.0.0/9"},
}

// lint lints files in testNetwork.
func lint(files []File) Report {
	r, err := LintWith(files, Options{Network: testNetwork})
	if err != nil {
		panic(err)
	}
	return r
}

// TestEveryRuleConstInTable: every Rule* constant of rules.go has its one
// entry (and severity) in Rules, so severityOf never panics.
func TestEveryRuleConstInTable(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "rules.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			for i, name := range spec.(*ast.ValueSpec).Names {
				if !strings.HasPrefix(name.Name, "Rule") {
					continue
				}
				n++
				id, _ := strconv.Unquote(spec.(*ast.ValueSpec).Values[i].(*ast.BasicLit).Value)
				if _, ok := severities[id]; !ok {
					t.Errorf("%s (%q) is not in Rules", name.Name, id)
				}
			}
		}
	}
	if n != len(Rules) {
		t.Errorf("%d Rule constants, %d entries in Rules", n, len(Rules))
	}
}
