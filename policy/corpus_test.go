package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/internal/golden"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/schema"
)

// tetragonDir returns the directory of the pinned tetragon module in the
// module cache, downloading it through the proxy if needed.
var tetragonDir = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/cilium/tetragon@"+schema.TetragonVersion).Output()
	if err != nil {
		return "", err
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", err
	}
	if info.Dir == "" {
		return "", os.ErrNotExist
	}
	return info.Dir, nil
})

// upstreamExamples returns every YAML file under the module's examples/
// directory that holds a TracingPolicy (either kind), keyed by its path
// relative to examples/.
func upstreamExamples(tb testing.TB) map[string][]byte {
	tb.Helper()
	dir, err := tetragonDir()
	if err != nil {
		tb.Skipf("github.com/cilium/tetragon@%s not in the module cache and not downloadable (%v): run `go mod download github.com/cilium/tetragon@%s`", schema.TetragonVersion, err, schema.TetragonVersion)
	}
	root := filepath.Join(dir, "examples")
	out := map[string][]byte{}
	err = filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), "kind: TracingPolicy") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func sortedNames(m map[string][]byte) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// upstreamRejected pins, for each upstream example that cannot work on Nomad,
// the exact error rules it gets. Every other example must have no errors.
var upstreamRejected = map[string][]string{
	"other/file-block-kubectl-exec-access.yaml":      {RuleKind, RuleMultiDocument, RulePodSelector},
	"policylibrary/egress.yaml":                      {RulePlaceholder, RulePlaceholder},
	"quickstart/file_monitoring_enforce.yaml":        {RuleNamespacedKind},
	"quickstart/network_egress_cluster.yaml":         {RulePlaceholder, RulePlaceholder},
	"quickstart/network_egress_cluster_enforce.yaml": {RuleNamespacedKind, RulePlaceholder, RulePlaceholder},
	"tracingpolicy/list-syscalls-tracepoint.yaml":    {RuleListArgType},
	"tracingpolicy/modules-nohost.yaml":              {RulePodSelector},
}

func TestUpstreamExamples(t *testing.T) {
	ex := upstreamExamples(t)
	if len(ex) < 70 {
		t.Fatalf("found only %d upstream examples; the corpus walk is broken", len(ex))
	}
	for name := range upstreamRejected {
		if _, ok := ex[name]; !ok {
			t.Errorf("pinned example %s is not in the corpus", name)
		}
	}
	for _, name := range sortedNames(ex) {
		r := lint([]File{{Path: name, Data: ex[name]}})
		var got []string
		for _, f := range r.Findings {
			if f.Severity == SeverityError {
				got = append(got, f.Rule)
			}
		}
		sort.Strings(got)
		want := upstreamRejected[name]
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: error rules %v, want %v; findings:\n%s", name, got, want, findingsText(r))
		}
		if len(want) == 0 && len(r.Policies) != 1 {
			t.Errorf("%s: %d requirement entries, want 1", name, len(r.Policies))
		}
	}
}

// upstreamAgent is Tetragon v1.7.0's own verdict on the examples the linter
// rejects, read from its load path (the file and line are cited in the
// checks), and why the two agree.
var upstreamAgent = map[string]string{
	"other/file-block-kubectl-exec-access.yaml":      "refuses: the first document is kind Pod (`unknown CRD kind: Pod`, pkg/tracingpolicy/k8s.go:56); the policy in the second document is never read, and needs the policy filter anyway",
	"policylibrary/egress.yaml":                      "refuses: `${PODCIDR}` is taken literally and is no CIDR (the template is meant for envsubst)",
	"quickstart/file_monitoring_enforce.yaml":        "refuses: a namespaced policy needs the policy filter (`policyfilter is disabled`, pkg/sensors/k8s.go:84)",
	"quickstart/network_egress_cluster.yaml":         "refuses: `${PODCIDR}` is taken literally and is no CIDR (meant for envsubst)",
	"quickstart/network_egress_cluster_enforce.yaml": "refuses: namespaced (`policyfilter is disabled`), and `${PODCIDR}` is no CIDR",
	"tracingpolicy/list-syscalls-tracepoint.yaml":    "refuses on any kernel: `error list 'dups' argument type is not syscall64` (pkg/sensors/tracing/lists_linux.go:133): matchArgs index 0 reads the uint64 arg",
	"tracingpolicy/modules-nohost.yaml":              "refuses: podSelector needs the policy filter (`policyfilter is disabled`)",
}

// TestUpstreamExamplesTable keeps docs/guides/upstream-examples.md, the
// linter's verdict beside Tetragon's for every upstream example, in step with
// the linter (go test ./policy -update rewrites it).
func TestUpstreamExamplesTable(t *testing.T) {
	ex := upstreamExamples(t)
	var b strings.Builder
	fmt.Fprintf(&b, "# The linter and Tetragon %s on Tetragon's own examples\n\n", schema.TetragonVersion)
	fmt.Fprintf(&b, "Generated by `go test ./policy -update` from the %d TracingPolicy examples in the module zip of\n", len(ex))
	fmt.Fprintf(&b, "`github.com/cilium/tetragon@%s` (`examples/`), linted on their own with the default network.\n", schema.TetragonVersion)
	b.WriteString("The Tetragon column is the agent's verdict for what does not depend on the kernel, read from its\n" +
		"load path (the linter's checks cite file and line); \"loads\" means it passes everything that needs no\n" +
		"kernel, and what it needs from the kernel is listed (the provisioner's preflight checks it on the VM).\n" +
		"Warnings never stop a build: they flag policies that load but may not do what was meant on Nomad.\n\n")
	b.WriteString("| example | linter | Tetragon " + schema.TetragonVersion + " | kernel needs, and why they differ |\n|---|---|---|---|\n")
	agree, differ := 0, 0
	for _, name := range sortedNames(ex) {
		r := lint([]File{{Path: name, Data: ex[name]}})
		var errs, warns []string
		for _, f := range r.Findings {
			if f.Severity == SeverityError {
				errs = appendUnique(errs, f.Rule)
			} else {
				warns = appendUnique(warns, f.Rule)
			}
		}
		linter := "ok"
		if len(errs) > 0 {
			linter = "**error** " + strings.Join(errs, ", ")
		}
		if len(warns) > 0 {
			linter += "; warns " + strings.Join(warns, ", ")
		}
		agent, why := "loads", ""
		if a, ok := upstreamAgent[name]; ok {
			agent, why = "refuses", a
		} else if len(r.Policies) == 1 {
			why = kernelNeeds(r.Policies[0])
		}
		if (agent == "refuses") == (len(errs) > 0) {
			agree++
		} else {
			differ++
			why = "DISAGREES: " + why
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, linter, agent, why)
	}
	fmt.Fprintf(&b, "\n%d examples: the verdicts agree on %d, differ on %d.\n", len(ex), agree, differ)
	if differ > 0 {
		t.Errorf("%d examples where the linter and the agent disagree; explain or fix them", differ)
	}
	golden.Check(t, filepath.Join("..", "docs", "guides", "upstream-examples.md"), []byte(b.String()))
}

func appendUnique(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

func kernelNeeds(r Requirements) string {
	var n []string
	if len(r.Symbols) > 0 {
		n = append(n, fmt.Sprintf("%d kernel function(s) in /proc/kallsyms", len(r.Symbols)))
	}
	if len(r.LSMHooks) > 0 {
		n = append(n, "BPF LSM")
	}
	if r.NeedsOverride {
		n = append(n, "CONFIG_BPF_KPROBE_OVERRIDE")
	}
	for _, p := range r.UprobePaths {
		n = append(n, "file "+p)
	}
	if len(n) == 0 {
		return "tracepoints/USDT only: the tracepoint or binary must exist"
	}
	return strings.Join(n, "; ")
}

func findingsText(r Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}
