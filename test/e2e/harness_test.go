//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The harness is set up once in TestMain and shared by every test: the real
// packer and nomad binaries, the plugin installed in an isolated plugin
// directory, and one running target.
type harness struct {
	packer    string
	nomadOnce sync.Once
	nomad     string
	nomadErr  error
	pluginBin string
	packerEnv []string
	workDir   string
	target    *target
	// pristine is a second target nothing provisions before the test that
	// needs an untouched system; booted alongside the first to save its boot time.
	pristine   *target
	mu         sync.Mutex
	extraDowns []*target
}

var (
	repoRoot   string
	scriptsDir string
	h          *harness
	// skipReason is why the harness could not be set up on this machine (a
	// prerequisite is missing); every test skips with it (or fails, when the
	// e2e run is required).
	skipReason string
	// setupErr is a set-up failure that is a bug, not a missing prerequisite
	// (the plugin does not build, the target does not boot): every test fails.
	setupErr error
)

// missing marks a set-up error as a missing prerequisite (skip), not a failure.
type missing struct{ msg string }

func (m missing) Error() string { return m.msg }

// e2eRequired turns a missing prerequisite into a failure instead of a skip,
// so CI cannot go green by skipping everything.
func e2eRequired() bool {
	return os.Getenv("TETRANOMAD_E2E_REQUIRED") == "1" || os.Getenv("CI") == "true"
}

func logPhase(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[e2e %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// timed runs one set-up phase and logs how long it took.
func timed(name string, f func() error) error {
	start := time.Now()
	err := f()
	if err != nil {
		logPhase("%s failed after %s: %v", name, time.Since(start).Round(time.Millisecond), err)
	} else {
		logPhase("%s took %s", name, time.Since(start).Round(time.Millisecond))
	}
	return err
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	total := time.Now()
	var err error
	if repoRoot, err = filepath.Abs("../.."); err == nil {
		scriptsDir = filepath.Join(repoRoot, "test", "e2e", "target")
	}
	if skipReason = prerequisites(); skipReason != "" {
		logPhase("skipping: %s", skipReason)
		if e2eRequired() {
			fmt.Fprintf(os.Stderr, "e2e required (CI=true or TETRANOMAD_E2E_REQUIRED=1) but: %s\n", skipReason)
			return 1
		}
		return m.Run()
	}

	h = &harness{}
	defer h.teardown()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-signals
		logPhase("got %s: tearing down", s)
		h.teardown()
		os.Exit(130)
	}()

	if err := h.setUp(); err != nil {
		var m missing
		if errors.As(err, &m) {
			skipReason = m.msg
			if e2eRequired() {
				fmt.Fprintf(os.Stderr, "e2e required (CI=true or TETRANOMAD_E2E_REQUIRED=1) but: %s\n", m.msg)
				return 1
			}
		} else {
			setupErr = err
		}
	}
	logPhase("set-up done in %s", time.Since(total).Round(time.Millisecond))
	code := m.Run()
	logPhase("tests done, %s since start", time.Since(total).Round(time.Millisecond))
	return code
}

// prerequisites says why this machine cannot run the e2e tests at all, or "".
func prerequisites() string {
	if runtime.GOOS != "linux" {
		return "e2e tests need Linux (systemd-nspawn, network namespaces); this is " + runtime.GOOS
	}
	if os.Geteuid() != 0 {
		return "e2e tests need root (debootstrap, ip netns, systemd-nspawn): run them with sudo or as root"
	}
	if scriptsDir == "" {
		return "cannot locate the repository root from the test's working directory"
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			return "debootstrap is not installed and there is no apt-get to install it: the Debian target cannot be built"
		}
	}
	return ""
}

func (h *harness) setUp() error {
	var err error
	if h.workDir, err = os.MkdirTemp("", "tetranomad-e2e-"); err != nil {
		return err
	}
	// The rootfs must exist before a target can boot; if it cannot be built
	// (no mirror, no debootstrap), nothing else is worth doing.
	if err := timed("rootfs (cached debootstrap)", func() error {
		out, err := exec.Command(filepath.Join(scriptsDir, "rootfs")).CombinedOutput()
		if err != nil {
			return missing{fmt.Sprintf("cannot build the Debian 12 rootfs with debootstrap (test/e2e/target/rootfs failed: %v):\n%s", err, tail(string(out), 20))}
		}
		return nil
	}); err != nil {
		return err
	}

	// Independent phases run side by side: tools, plugin build, target boot.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	run := func(i int, name string, f func() error) {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = timed(name, f) }()
	}
	run(0, "ensure packer", func() (err error) { h.packer, err = ensureTool("packer", "TETRANOMAD_PACKER"); return })
	run(1, "build plugin", h.buildPlugin)
	run(2, "boot target", func() (err error) { h.target, err = startTarget(uniqueName("e2e"), -1); return })
	run(3, "boot pristine target", func() (err error) { h.pristine, err = startTarget(uniqueName("pre"), -1); return })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return timed("install plugin", h.installPlugin)
}

// ensureTool finds a real packer or nomad: $ENV, then test/tools/ensure-tool
// (which returns the cached build, or builds it from the module proxy).
func ensureTool(tool, envVar string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		bin, err := executable(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", envVar, p, err)
		}
		return bin, nil
	}
	cmd := exec.Command(filepath.Join(repoRoot, "test", "tools", "ensure-tool"), tool)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", missing{fmt.Sprintf("%s not found: test/tools/ensure-tool %s failed (%v), or set %s:\n%s", tool, tool, err, envVar, tail(stderr.String(), 20))}
	}
	return executable(strings.TrimSpace(stdout.String()))
}

// executable checks that p is a runnable regular file.
func executable(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	return p, nil
}

// nomadBinary returns the real nomad, found or built on first use only, so
// tests that do not need it do not wait for its 20-minute first build.
func nomadBinary(t *testing.T) string {
	t.Helper()
	h.nomadOnce.Do(func() {
		h.nomadErr = timed("ensure nomad", func() (err error) { h.nomad, err = ensureTool("nomad", "TETRANOMAD_NOMAD"); return })
	})
	if h.nomadErr != nil {
		if e2eRequired() {
			t.Fatal(h.nomadErr)
		}
		t.Skip(h.nomadErr.Error())
	}
	return h.nomad
}

func (h *harness) buildPlugin() error {
	h.pluginBin = filepath.Join(h.workDir, "packer-plugin-tetranomad")
	cmd := exec.Command("go", "build", "-o", h.pluginBin, "./cmd/packer-plugin-tetranomad")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/packer-plugin-tetranomad: %v\n%s", err, out)
	}
	return nil
}

// installPlugin installs the plugin the only way Packer >= 1.11 loads it, into
// a plugin directory of this run, with Packer's config and cache isolated too.
func (h *harness) installPlugin() error {
	dirs := map[string]string{}
	for _, d := range []string{"plugins", "config", "cache"} {
		dirs[d] = filepath.Join(h.workDir, "packer-"+d)
		if err := os.MkdirAll(dirs[d], 0o755); err != nil {
			return err
		}
	}
	h.packerEnv = append(os.Environ(),
		"PACKER_PLUGIN_PATH="+dirs["plugins"],
		"PACKER_CONFIG_DIR="+dirs["config"],
		"PACKER_CACHE_DIR="+dirs["cache"],
		"CHECKPOINT_DISABLE=1",
	)
	cmd := exec.Command(h.packer, "plugins", "install", "--path", h.pluginBin, "github.com/tetranomad/tetranomad")
	cmd.Env = h.packerEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("packer plugins install --path %s: %v\n%s", h.pluginBin, err, out)
	}
	return nil
}

func (h *harness) teardown() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// All targets at once: each teardown is mostly waiting on the disk.
	var wg sync.WaitGroup
	for _, tg := range append(h.extraDowns, h.target, h.pristine) {
		if tg != nil {
			wg.Add(1)
			go func() { defer wg.Done(); tg.stop() }()
		}
	}
	wg.Wait()
	h.extraDowns, h.target, h.pristine = nil, nil, nil
	if h.workDir != "" && os.Getenv("TETRANOMAD_E2E_KEEP") == "" {
		_ = os.RemoveAll(h.workDir)
	}
}

// requireHarness skips (or, when required, fails) a test that cannot run here.
func requireHarness(t *testing.T) {
	t.Helper()
	if setupErr != nil {
		t.Fatalf("e2e set-up failed: %v", setupErr)
	}
	if skipReason == "" && h != nil && h.target != nil {
		return
	}
	if e2eRequired() {
		t.Fatalf("e2e required but: %s", skipReason)
	}
	t.Skip(skipReason)
}

// freshTarget boots an extra, untouched target for one test, torn down with
// the test (and by the harness and the watchdog if the test dies).
func freshTarget(t *testing.T, name string, slot int) *target {
	t.Helper()
	tg, err := startTarget(name, slot)
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.extraDowns = append(h.extraDowns, tg)
	h.mu.Unlock()
	t.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		tg.stop()
		for i, x := range h.extraDowns {
			if x == tg {
				h.extraDowns = append(h.extraDowns[:i], h.extraDowns[i+1:]...)
				break
			}
		}
	})
	return tg
}

// packerResult is one `packer build`.
type packerResult struct {
	Output   string
	Err      error
	Duration time.Duration
}

// packerBuild runs `packer build` of a template in testdata/ against a
// target, passing its SSH settings and extra as -var.
func packerBuild(t *testing.T, tg *target, template string, extra map[string]string) packerResult {
	t.Helper()
	vars := map[string]string{
		"ssh_host":             tg.SSHHost,
		"ssh_port":             tg.SSHPort,
		"ssh_username":         tg.SSHUser,
		"ssh_private_key_file": tg.SSHKey,
	}
	for k, v := range extra {
		vars[k] = v
	}
	args := []string{"build", "-color=false"}
	for k, v := range vars {
		args = append(args, "-var", k+"="+v)
	}
	tmpl, err := filepath.Abs(filepath.Join("testdata", template))
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, tmpl)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.packer, args...)
	cmd.Env = h.packerEnv
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	res := packerResult{Output: out.String(), Err: err, Duration: time.Since(start)}
	logPhase("%s: packer build %s: %s (err=%v)", t.Name(), template, res.Duration.Round(time.Millisecond), err)
	return res
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
