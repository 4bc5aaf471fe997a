package policy

import (
	"reflect"
	"testing"
)

// FuzzLint checks that the linter never panics and always returns
// well-formed, deterministic findings, whatever the bytes.
func FuzzLint(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(equalExec))
	f.Add([]byte(scopedSigkill("172.17.0.0/16", "127.0.0.0/8", "169.254.169.254/32")))
	f.Add([]byte(""))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("kind: TracingPolicy\nspec: {kprobes: [{call: list:x, selectors: [{matchArgs: [{args: [7]}]}]}]}\n"))
	if dir, err := tetragonDir(); err == nil && dir != "" {
		ex := upstreamExamples(f)
		for _, name := range sortedNames(ex) {
			f.Add(ex[name])
		}
	}
	known := map[string]bool{}
	for _, r := range Rules {
		known[r.ID] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		files := []File{{Path: "f.yaml", Data: data}}
		r := lint(files)
		for _, fd := range r.Findings {
			if fd.Line < 1 || fd.Column < 1 || !known[fd.Rule] || fd.Message == "" || fd.File != "f.yaml" {
				t.Fatalf("malformed finding %+v", fd)
			}
		}
		if again := lint(files); !reflect.DeepEqual(r, again) {
			t.Fatalf("non-deterministic result")
		}
	})
}
