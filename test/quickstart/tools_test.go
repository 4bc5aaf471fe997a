// Package quickstart follows the README's quick start step by step, and
// checks every example with the real tools, so neither can rot.
package quickstart

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the module root, two levels up from this package.
var repoRoot = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}()

func cacheDir() string {
	if d := os.Getenv("TETRANOMAD_CACHE"); d != "" {
		return d
	}
	return "/var/cache/tetranomad"
}

// required: in CI a missing tool is a failure, not a skip.
func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("TETRANOMAD_QUICKSTART_REQUIRED") == "1"
}

// tool describes where a real binary may be: an env var, cached builds, PATH.
type tool struct {
	name   string
	envVar string
	cached []string // relative to the cache dir
	path   string   // name to look up in PATH; empty: not from PATH
	how    string   // how to get it, for the skip message
}

var (
	packerTool = tool{"packer", "TETRANOMAD_PACKER", []string{"packer-1.11.2/packer"}, "packer",
		"run test/tools/ensure-tool packer or set TETRANOMAD_PACKER"}
	nomadTool = tool{"nomad", "TETRANOMAD_NOMAD", []string{"nomad-1.10.5/nomad"}, "nomad",
		"run test/tools/ensure-tool nomad or set TETRANOMAD_NOMAD"}
	terraformTool = tool{"terraform", "TETRANOMAD_TERRAFORM", nil, "terraform",
		"install terraform or set TETRANOMAD_TERRAFORM"}
	googlecomputeTool = tool{"packer-plugin-googlecompute", "TETRANOMAD_GOOGLECOMPUTE",
		[]string{"packer-plugin-googlecompute-1.2.5/packer-plugin-googlecompute"}, "",
		"run test/tools/ensure-tool packer-plugin-googlecompute or set TETRANOMAD_GOOGLECOMPUTE"}
)

// find returns the binary's path, or a message saying exactly what is missing.
func (tl tool) find() (string, string) {
	if p := os.Getenv(tl.envVar); p != "" {
		if bin, ok := executable(p); ok {
			return bin, ""
		}
		return "", fmt.Sprintf("%s=%s is not an executable %s", tl.envVar, p, tl.name)
	}
	for _, c := range tl.cached {
		if bin, ok := executable(filepath.Join(cacheDir(), c)); ok {
			return bin, ""
		}
	}
	if tl.path != "" {
		if bin, err := exec.LookPath(tl.path); err == nil {
			return bin, ""
		}
	}
	return "", fmt.Sprintf("%s not found: %s", tl.name, tl.how)
}

// executable accepts a regular, executable file.
func executable(p string) (string, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", false
	}
	return p, fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// need returns the tool's path or skips (fails in CI) with what is missing.
func need(t *testing.T, tl tool) string {
	t.Helper()
	bin, missing := tl.find()
	if missing == "" {
		return bin
	}
	if required() && tl.name != "terraform" {
		t.Fatal(missing)
	}
	t.Skip(missing)
	return ""
}

// result of a command.
type result struct {
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs a command in dir with extra environment; it fails the test only
// when the command cannot be started.
func run(t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// mustRun runs a command that has to succeed.
func mustRun(t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	r := run(t, dir, env, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s in %s: %s", filepath.Base(name), strings.Join(args, " "), dir, r)
	}
	return r
}

// pluginBinary builds the plugin once per test binary, as `make build` does
// (a dev prerelease), but into a temporary directory instead of the checkout.
var pluginBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

func pluginBinary(t *testing.T) string {
	t.Helper()
	pluginBuild.once.Do(func() {
		pluginBuild.dir, pluginBuild.err = os.MkdirTemp("", "tetranomad-quickstart-")
		if pluginBuild.err != nil {
			return
		}
		pluginBuild.bin = filepath.Join(pluginBuild.dir, "packer-plugin-tetranomad")
		cmd := exec.Command("go", "build", "-o", pluginBuild.bin,
			"-ldflags=-X github.com/tetranomad/packer-plugin-tetranomad/version.VersionPrerelease=dev",
			"./cmd/packer-plugin-tetranomad")
		cmd.Dir = repoRoot
		pluginBuild.out, pluginBuild.err = cmd.CombinedOutput()
	})
	if pluginBuild.err != nil {
		t.Fatalf("go build ./cmd/packer-plugin-tetranomad: %v\n%s", pluginBuild.err, pluginBuild.out)
	}
	return pluginBuild.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pluginBuild.dir != "" {
		os.RemoveAll(pluginBuild.dir)
	}
	os.Exit(code)
}

// packerEnv isolates Packer's plugin, config and cache directories in dir.
func packerEnv(t *testing.T, dir string) []string {
	t.Helper()
	env := []string{"CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1"}
	for name, sub := range map[string]string{"PACKER_PLUGIN_PATH": "plugins", "PACKER_CONFIG_DIR": "config", "PACKER_CACHE_DIR": "cache"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		env = append(env, name+"="+p)
	}
	return env
}
