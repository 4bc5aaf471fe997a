package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentRefusals lints each fixture of testdata/agent, a policy Tetragon
// v1.7.0 refuses (or warns about) without needing a kernel. Each fixture
// names, in "# want: RULE: TEXT" lines, the findings it must produce; TEXT is
// part of the message, the agent's own wording. No other finding may appear.
func TestAgentRefusals(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "agent", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			type want struct{ rule, text string }
			var wants []want
			for _, line := range strings.Split(string(data), "\n") {
				if rest, ok := strings.CutPrefix(line, "# want: "); ok {
					rule, text, _ := strings.Cut(rest, ": ")
					wants = append(wants, want{rule, text})
				}
			}
			if len(wants) == 0 {
				t.Fatal("fixture has no # want: line")
			}
			r := lint([]File{{Path: p, Data: data}})
			used := make([]bool, len(r.Findings))
			for _, w := range wants {
				found := false
				for i, f := range r.Findings {
					if !used[i] && f.Rule == w.rule && strings.Contains(f.Message, w.text) {
						used[i], found = true, true
						break
					}
				}
				if !found {
					t.Errorf("want %s finding containing %q; got:\n%s", w.rule, w.text, findingsText(r))
				}
			}
			for i, f := range r.Findings {
				if !used[i] {
					t.Errorf("unexpected finding %s", f)
				}
			}
		})
	}
}
