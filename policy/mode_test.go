package policy

import (
	"strings"
	"testing"
)

const enforcing = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "kill-curl"
spec:
  kprobes:
  - call: "sys_execve"
    syscall: true
    args:
    - index: 0
      type: "string"
    selectors:
    - matchArgs:
      - index: 0
        operator: "Equal"
        values: ["/usr/bin/curl"]
      matchActions:
      - action: Sigkill # the kill becomes an event in monitor mode
`

const observing = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "watch"
spec:
  kprobes:
  - call: "fd_install"
    syscall: false
    selectors:
    - matchActions:
      - action: Post
`

func TestSetMonitorModeAddsTheOption(t *testing.T) {
	out, changed, err := SetMonitorMode([]byte(enforcing))
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	docs, perr := parseDocuments(out)
	if perr != nil {
		t.Fatalf("rewritten policy does not parse: %v\n%s", perr.msg, out)
	}
	opts := seqItems(mapValue(mapValue(docs[0], "spec"), "options"))
	if len(opts) != 1 {
		t.Fatalf("%d options, want 1:\n%s", len(opts), out)
	}
	name, _ := scalarString(mapValue(opts[0], "name"))
	value, _ := scalarString(mapValue(opts[0], "value"))
	if name != "policy-mode" || value != "monitor" {
		t.Errorf("option %s=%s, want policy-mode=monitor", name, value)
	}
	// The action and the comment stay: monitor mode reports the kill.
	if !strings.Contains(string(out), "action: Sigkill # the kill becomes an event in monitor mode") {
		t.Errorf("action or comment lost:\n%s", out)
	}
	// The result is still a valid policy for the pinned Tetragon.
	r := lint([]File{{Path: "kill-curl.yaml", Data: out}})
	if r.HasErrors() {
		t.Errorf("rewritten policy has lint errors: %v", r.Findings)
	}
}

func TestSetMonitorModeReplacesAnEnforceOption(t *testing.T) {
	src := strings.Replace(enforcing, "spec:\n", "spec:\n  options:\n  - name: disable-kprobe-multi\n    value: \"true\"\n  - name: policy-mode\n    value: enforce\n", 1)
	out, changed, err := SetMonitorMode([]byte(src))
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	docs, _ := parseDocuments(out)
	var got []string
	for _, o := range seqItems(mapValue(mapValue(docs[0], "spec"), "options")) {
		n, _ := scalarString(mapValue(o, "name"))
		v, _ := scalarString(mapValue(o, "value"))
		got = append(got, n+"="+v)
	}
	if strings.Join(got, ",") != "disable-kprobe-multi=true,policy-mode=monitor" {
		t.Errorf("options = %v", got)
	}
}

func TestSetMonitorModeLeavesObservingPoliciesAlone(t *testing.T) {
	out, changed, err := SetMonitorMode([]byte(observing))
	if err != nil || changed || string(out) != observing {
		t.Errorf("changed=%v err=%v, output differs: %v", changed, err, string(out) != observing)
	}
}

func TestEnforcersCountAsEnforcing(t *testing.T) {
	docs, _ := parseDocuments([]byte("spec:\n  enforcers:\n  - calls: [\"sys_write\"]\n"))
	if !Enforces(docs[0]) {
		t.Error("a policy with enforcers is enforcing")
	}
}

// The usual file gains exactly three lines, so the monitor bundle's diff
// against the enforcing one is the option and nothing else.
func TestSetMonitorModeAppendsThreeLines(t *testing.T) {
	out, changed, err := SetMonitorMode([]byte(enforcing))
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	want := enforcing + "  options:\n  - name: policy-mode\n    value: monitor\n"
	if string(out) != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}
