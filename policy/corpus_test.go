package policy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

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

func findingsText(r Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}
