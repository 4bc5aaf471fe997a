//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// target is one running Debian system, as `target/up` reported it.
type target struct {
	Name    string
	SSHHost string
	SSHPort string
	SSHUser string
	SSHKey  string
	HostIP  string
	NodeIP  string // forwardable address, only reachable inside the target
	Rootfs  string
	State   string

	watchdog *os.Process
}

// startTarget boots a target with `target/up` and arranges that it is torn
// down even if this process dies without running its deferred calls (a panic
// in a test, a -timeout, SIGKILL): a detached watchdog waits for this
// process to exit and then runs `target/down`.
// A negative slot lets `up` pick a free one, so runs can go side by side.
func startTarget(name string, slot int) (*target, error) {
	start := time.Now()
	slotArg := "auto"
	if slot >= 0 {
		slotArg = fmt.Sprint(slot)
	}
	up := exec.Command(filepath.Join(scriptsDir, "up"), name, slotArg)
	var stdout bytes.Buffer
	up.Stdout = &stdout
	up.Stderr = os.Stderr
	up.Env = os.Environ()
	wd, werr := startWatchdog(name)
	if err := up.Run(); err != nil {
		stopWatchdog(wd)
		return nil, fmt.Errorf("target/up %s: %w", name, err)
	}
	env := parseEnv(stdout.String())
	t := &target{
		Name: env["E2E_NAME"], SSHHost: env["E2E_SSH_HOST"], SSHPort: env["E2E_SSH_PORT"],
		SSHUser: env["E2E_SSH_USER"], SSHKey: env["E2E_SSH_KEY"], HostIP: env["E2E_HOST_IP"], NodeIP: env["E2E_NODE_IP"],
		Rootfs: env["E2E_ROOTFS"], State: env["E2E_STATE"], watchdog: wd,
	}
	if werr != nil {
		logPhase("warning: no teardown watchdog for %s: %v", name, werr)
	}
	if t.SSHHost == "" || t.SSHKey == "" {
		t.stop()
		return nil, fmt.Errorf("target/up %s printed no E2E_SSH_HOST/E2E_SSH_KEY:\n%s", name, stdout.String())
	}
	logPhase("target %s up at %s in %s", name, t.SSHHost, time.Since(start).Round(time.Millisecond))
	return t, nil
}

func startWatchdog(name string) (*os.Process, error) {
	script := `while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" "$3"`
	cmd := exec.Command("bash", "-c", script, "watchdog", fmt.Sprint(os.Getpid()), filepath.Join(scriptsDir, "down"), name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd.Process, nil
}

func stopWatchdog(p *os.Process) {
	if p != nil {
		_ = p.Kill()
		_, _ = p.Wait()
	}
}

// stop tears the target down; safe to call more than once.
func (t *target) stop() {
	if t == nil {
		return
	}
	stopWatchdog(t.watchdog)
	t.watchdog = nil
	start := time.Now()
	down := exec.Command(filepath.Join(scriptsDir, "down"), t.Name)
	down.Stdout, down.Stderr = os.Stderr, os.Stderr
	if err := down.Run(); err != nil {
		logPhase("target/down %s: %v", t.Name, err)
	}
	logPhase("target %s down in %s", t.Name, time.Since(start).Round(time.Millisecond))
}

// uniqueName names a target after this test process, so concurrent runs on
// one machine do not collide (target names are at most 11 characters).
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, os.Getpid()%1000000)
}

func parseEnv(s string) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

// exec runs a command as root inside the target (through nsenter, not SSH,
// so it never counts as an SSH session) and returns its stdout.
func (t *target) exec(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(scriptsDir, "exec"), append([]string{t.Name}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("in target %s: %s: %w\nstderr: %s", t.Name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// must runs a command inside the target and fails the test if it fails.
func (t *target) must(tb testing.TB, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := t.exec(ctx, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// sh runs a shell snippet inside the target as root.
func (t *target) sh(tb testing.TB, script string) string {
	tb.Helper()
	return t.must(tb, "bash", "-euo", "pipefail", "-c", script)
}
