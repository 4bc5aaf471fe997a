package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/policy"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/library"
)

const cleanPolicy = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: connect
spec:
  kprobes:
  - call: tcp_connect
    args:
    - index: 0
      type: sock
`

// warnOnly loads but kills unscoped: a warning, not an error.
const warnOnly = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: kill-mkdir
spec:
  kprobes:
  - call: sys_mkdirat
    syscall: true
    selectors:
    - matchActions:
      - action: Sigkill
`

const badPolicy = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bad
spec:
  kprobes:
  - call: tcp_connect
    sycall: false
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runLint(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestLintRegistered(t *testing.T) {
	sc, ok := commands()["lint"]
	if !ok || sc.synopsis == "" || sc.run == nil {
		t.Fatal("lint subcommand not registered")
	}
}

func TestLintExitCodes(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"clean.yaml": cleanPolicy, "warn.yml": warnOnly, "bad.yaml": badPolicy,
	})
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // substring of stdout
		err  string // substring of stderr
	}{
		{"clean", []string{p("clean.yaml")}, 0, "1 file, 0 errors, 0 warnings", ""},
		{"warnings only", []string{p("warn.yml")}, 0, "warning: unscoped-enforcement", ""},
		{"errors", []string{p("bad.yaml")}, 1, p("bad.yaml") + ":8:5: error: schema-unknown-field: unknown field \"sycall\"", ""},
		{"dir", []string{dir}, 1, "3 files, 1 errors, 1 warnings", ""},
		{"missing file", []string{p("nope.yaml")}, 2, "", "no such file"},
		{"no args", nil, 2, "", "Usage: packer-plugin-tetranomad lint"},
		{"bad flag", []string{"-nope", p("clean.yaml")}, 2, "", "flag provided but not defined"},
		{"bad format", []string{"-format", "xml", p("clean.yaml")}, 2, "", `-format "xml"`},
		{"bad network", []string{"-docker-bridge-cidr", "172.17.0.0", p("clean.yaml")}, 2, "", "DockerBridgeCIDR"},
		{"rules", []string{"-rules"}, 0, "unscoped-enforcement", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
		})
	}
}

// TestLintDirSelection: lint DIR reads what Tetragon v1.7.0 loads from its
// policy directory (cilium/tetragon@v1.7.0:cmd/tetragon/main.go:530, see
// policy/policydir): every regular file, whatever the extension, and one
// level of subdirectories. A stray README stops the agent, so it is an error.
func TestLintDirSelection(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"b.yaml":          strings.Replace(cleanPolicy, "name: connect", "name: b", 1),
		"a.YML":           strings.Replace(cleanPolicy, "name: connect", "name: a", 1),
		"README.md":       "not a policy",
		"sub/c.yaml":      strings.Replace(cleanPolicy, "name: connect", "name: c", 1),
		"sub/deep/d.yaml": badPolicy, // two levels down: the agent skips it
	})
	code, out, _ := run("-format", "json", dir)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var got lintJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Files != 4 || got.Errors != 1 || len(got.Findings) != 1 {
		t.Fatalf("want 4 files and one error (the README): %+v", got)
	}
	f := got.Findings[0]
	if f.File != filepath.Join(dir, "README.md") || !strings.Contains(f.Hint, "whatever the extension") {
		t.Fatalf("README finding: %+v", f)
	}
	var names []string
	for _, p := range got.Policies {
		names = append(names, p.Policy)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Fatalf("policies %v, want a,b,c", names)
	}
}

func TestLintJSONIsStable(t *testing.T) {
	dir := writeFiles(t, map[string]string{"bad.yaml": badPolicy, "warn.yaml": warnOnly})
	code, out, _ := run("-format", "json", filepath.Join(dir, "warn.yaml"), filepath.Join(dir, "bad.yaml"))
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	out = strings.ReplaceAll(out, dir+string(filepath.Separator), "")
	want := `{
  "tetragon": "v1.7.0",
  "files": 2,
  "errors": 1,
  "warnings": 1,
  "findings": [
    {
      "file": "bad.yaml",
      "line": 8,
      "column": 5,
      "rule": "schema-unknown-field",
      "severity": "error",
      "message": "unknown field \"sycall\" in spec.kprobes[0]",
      "hint": "did you mean \"syscall\"?"
    },
    {
      "file": "warn.yaml",
      "line": 11,
      "column": 17,
      "rule": "unscoped-enforcement",
      "severity": "warning",
      "message": "spec.kprobes[0].selectors[0]: Sigkill has no binary, namespace, PID or source-address scoping, so it also hits the host's own processes (apt, dockerd, nomad, the logging agent)",
      "hint": "add matchNamespaces {namespace: Pid, operator: NotIn, values: [host_ns]} to act only inside containers, or matchBinaries"
    }
  ],
  "policies": [
    {
      "policy": "kill-mkdir",
      "file": "warn.yaml",
      "symbols": [
        "sys_mkdirat"
      ],
      "needs_override": false
    },
    {
      "policy": "bad",
      "file": "bad.yaml",
      "symbols": [
        "tcp_connect"
      ],
      "needs_override": false
    }
  ]
}
`
	if out != want {
		t.Fatalf("JSON output changed:\n%s", out)
	}
}

// TestLintLibraryWithCustomNetwork renders the egress policy for a custom
// network and checks that lint agrees only when given the same network.
func TestLintLibraryWithCustomNetwork(t *testing.T) {
	v := policy.Network{DockerBridgeCIDR: "192.168.50.0/24", VPCCIDRs: []string{"172.20.0.0/16"}}
	b, err := library.Render("block-internet-egress", v)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{"egress.yaml": string(b)})
	code, out, _ := run("-docker-bridge-cidr", "192.168.50.0/24", "-nomad-bridge-cidr", "", "-vpc-cidrs", "172.20.0.0/16", dir)
	if code != 0 || !strings.Contains(out, "0 errors, 0 warnings") {
		t.Fatalf("same network: exit %d\n%s", code, out)
	}
	code, out, _ = run(dir) // defaults: 192.168.50.0/24 is no known bridge
	if code != 0 || !strings.Contains(out, string(policy.RuleEgressSourceBridge)) {
		t.Fatalf("default network: exit %d\n%s", code, out)
	}
}
