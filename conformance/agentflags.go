package conformance

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tetranomad/packer-plugin-tetranomad/jobs"
)

// JobspecArgs returns the Tetragon task's args from a rendered jobspec:
// job > group > task "tetragon" > config > args.
func JobspecArgs(file string, src []byte) ([]string, error) {
	f, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: %s", file, diags.Error())
	}
	body := f.Body.(*hclsyntax.Body)
	var task *hclsyntax.Block
	for _, job := range blocks(body, "job") {
		for _, g := range blocks(job.Body, "group") {
			for _, t := range blocks(g.Body, "task") {
				if len(t.Labels) == 1 && t.Labels[0] == jobs.TetragonTask {
					task = t
				}
			}
		}
	}
	if task == nil {
		return nil, fmt.Errorf("%s: no task %q in any job group; is this a jobspec tetranomad rendered?", file, jobs.TetragonTask)
	}
	cfg := blocks(task.Body, "config")
	if len(cfg) != 1 {
		return nil, fmt.Errorf("%s: task %q has %d config blocks, want 1", file, jobs.TetragonTask, len(cfg))
	}
	attr, ok := cfg[0].Body.Attributes["args"]
	if !ok {
		return nil, fmt.Errorf("%s: task %q has no config.args", file, jobs.TetragonTask)
	}
	v, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: task %q config.args cannot be evaluated without Nomad (interpolation?): %s", file, jobs.TetragonTask, diags.Error())
	}
	if !v.Type().IsTupleType() && !v.Type().IsListType() {
		return nil, fmt.Errorf("%s: task %q config.args is not a list", file, jobs.TetragonTask)
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.Type() != cty.String || e.IsNull() {
			return nil, fmt.Errorf("%s: task %q config.args holds a non-string", file, jobs.TetragonTask)
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

func blocks(b *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, bl := range b.Blocks {
		if bl.Type == typ {
			out = append(out, bl)
		}
	}
	return out
}

// HostPaths are where the runner puts what the container sees at fixed
// paths: the policy directory, the export file and the BTF file.
type HostPaths struct {
	PolicyDir  string
	ExportFile string
	BTF        string
	BPFLib     string // the release's BPF objects (the image has them at the default)
}

// pathFlags are the flags whose value is a path inside the Tetragon
// container; the runner maps each to the host.
var pathFlags = map[string]func(HostPaths) string{
	"--tracing-policy-dir": func(h HostPaths) string { return h.PolicyDir },
	"--export-filename":    func(h HostPaths) string { return h.ExportFile },
	"--btf":                func(h HostPaths) string { return h.BTF },
}

// AgentArgs turns the jobspec's args into the agent's command line on the
// host: the same flags in the same order, path values mapped to HostPaths,
// and --bpf-lib added (the release tarball keeps its BPF objects elsewhere
// than the image). Flags the runner must map are required: without them the
// run would not test the rendered bundle.
func AgentArgs(args []string, h HostPaths) ([]string, error) {
	out := make([]string, 0, len(args)+1)
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(a, "=")
		if name == "--bpf-lib" {
			return nil, fmt.Errorf("the jobspec sets --bpf-lib (%s); the runner supplies the release's own", a)
		}
		mapTo, isPath := pathFlags[name]
		if !isPath {
			out = append(out, a)
			continue
		}
		seen[name] = true
		if !hasValue { // "--flag value" form
			i++
			if i == len(args) {
				return nil, fmt.Errorf("flag %s has no value", name)
			}
		}
		out = append(out, name+"="+mapTo(h))
	}
	for _, name := range []string{"--tracing-policy-dir", "--export-filename"} {
		if !seen[name] {
			return nil, fmt.Errorf("the jobspec's Tetragon args have no %s; the runner cannot point the agent at the bundle's policies and read its events", name)
		}
	}
	return append(out, "--bpf-lib="+h.BPFLib), nil
}
