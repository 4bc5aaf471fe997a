package quickstart

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

// quickStart returns the shell commands of the README's quick start (the
// section whose heading starts with "## Quick start"), in order.
func quickStart(t *testing.T) (source string, commands []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, ok := sectionCommands(string(data), "## Quick start")
	if !ok || len(cmds) == 0 {
		t.Fatal(`README.md has no "## Quick start" section with sh commands`)
	}
	return "README.md", cmds
}

// sectionCommands collects the lines of ```sh blocks in the section whose
// heading starts with heading, without comments.
func sectionCommands(doc, heading string) ([]string, bool) {
	var cmds []string
	found, in, fence := false, false, false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			if in {
				fence = !fence && strings.TrimSpace(line) == "```sh"
			}
			continue
		case !fence && strings.HasPrefix(line, "## "):
			in = strings.HasPrefix(strings.TrimSpace(line), heading)
			found = found || in
			continue
		}
		if !in || !fence {
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds, found
}

// walkthrough is the state of one run through the quick start: a workspace
// that looks like the checkout (examples/ is a link to the real one), so
// out/bundle is written there and not into the source tree.
type walkthrough struct {
	ws     string
	cwd    string
	plugin string
	env    []string
	packer string
}

// The quick start, step by step, exactly as written: each command is run as
// it stands, except the ones that would touch the network or the developer's
// machine, which run their offline equivalent (said next to each).
func TestQuickStart(t *testing.T) {
	source, cmds := quickStart(t)
	t.Logf("following the quick start in %s: %d commands", source, len(cmds))

	w := &walkthrough{ws: t.TempDir()}
	w.cwd = w.ws
	if err := os.Symlink(filepath.Join(repoRoot, "examples"), filepath.Join(w.ws, "examples")); err != nil {
		t.Fatal(err)
	}
	w.env = packerEnv(t, filepath.Join(w.ws, ".packer"))

	for i, line := range cmds {
		args := strings.Fields(line)
		if !t.Run(stepName(i, line), func(t *testing.T) { w.step(t, args) }) {
			t.Fatalf("step %d (%s) of %s failed; later steps depend on it", i+1, line, source)
		}
	}
}

// stepName is the subtest name: the step number and the command's first words.
func stepName(i int, line string) string {
	words := strings.Fields(line)
	return fmt.Sprintf("%02d_%s", i+1, strings.Join(words[:min(3, len(words))], "_"))
}

func (w *walkthrough) step(t *testing.T, args []string) {
	switch {
	case len(args) == 2 && args[0] == "make" && args[1] == "build":
		// make build: the same build (dev prerelease), into the workspace.
		bin := pluginBinary(t)
		w.plugin = filepath.Join(w.ws, "packer-plugin-tetranomad")
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(w.plugin, data, 0o755); err != nil {
			t.Fatal(err)
		}

	case args[0] == "./packer-plugin-tetranomad":
		if w.plugin == "" {
			t.Fatal("the quick start runs ./packer-plugin-tetranomad before `make build`")
		}
		r := mustRun(t, w.cwd, nil, w.plugin, args[1:]...)
		w.checkSubcommand(t, args[1:], r)

	case args[0] == "nomad":
		nomad := need(t, nomadTool)
		mustRun(t, w.cwd, nil, nomad, args[1:]...)

	case len(args) == 2 && args[0] == "make" && args[1] == "dev":
		// make dev: `packer plugins install --path` the built binary, into
		// this run's plugin directory instead of the developer's.
		w.packer = need(t, packerTool)
		if w.plugin == "" {
			t.Fatal("the quick start runs `make dev` before `make build`")
		}
		mustRun(t, w.cwd, w.env, w.packer, "plugins", "install", "--path", w.plugin, "github.com/tetranomad/tetranomad")

	case args[0] == "cd" && len(args) == 2:
		dir := filepath.Join(w.cwd, args[1])
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("cd %s: no such directory in the checkout", args[1])
		}
		w.cwd = dir

	case len(args) == 4 && args[0] == "packer" && args[1] == "plugins" && args[2] == "install":
		// The release download comes from GitHub; install the same plugin
		// built from the Go module proxy instead (test/tools/ensure-tool packer-plugin-googlecompute).
		w.packer = need(t, packerTool)
		if args[3] != "github.com/hashicorp/googlecompute" {
			t.Fatalf("the quick start installs %s; only github.com/hashicorp/googlecompute has an offline build here", args[3])
		}
		gc := need(t, googlecomputeTool)
		mustRun(t, w.cwd, w.env, w.packer, "plugins", "install", "--path", gc, args[3])

	case args[0] == "packer":
		w.packer = need(t, packerTool)
		mustRun(t, w.cwd, w.env, w.packer, args[1:]...)

	default:
		t.Fatalf("the quick start has a step this test does not know how to follow: %q; teach TestQuickStart", strings.Join(args, " "))
	}
}

// checkSubcommand asserts what a plugin subcommand of the quick start must
// have produced, beyond its exit status.
func (w *walkthrough) checkSubcommand(t *testing.T, args []string, r result) {
	switch args[0] {
	case "render":
		out := ""
		for i, a := range args {
			if a == "-out" && i+1 < len(args) {
				out = filepath.Join(w.cwd, args[i+1])
			}
		}
		b, err := bundle.ReadDir(out)
		if err != nil {
			t.Fatalf("render wrote no readable bundle to %s: %v", out, err)
		}
		if _, ok := b.Manifest.File(bundle.JobspecPath); !ok {
			t.Errorf("the rendered bundle has no %s", bundle.JobspecPath)
		}
		if len(b.Manifest.FilesWithRole(bundle.RolePolicy)) == 0 {
			t.Errorf("the rendered bundle has no policies")
		}
		if !strings.Contains(r.stderr, b.Manifest.BundleID) {
			t.Errorf("render did not print the bundle id %s:\n%s", b.Manifest.BundleID, r)
		}
	case "lint":
		if !strings.Contains(r.stdout+r.stderr, " 0 errors") {
			t.Errorf("lint exited 0 but did not report 0 errors:\n%s", r)
		}
	}
}
