package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/policy"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/policydir"
)

// Config is one conformance run.
type Config struct {
	Release   string   // tetragon-vX.Y.Z-ARCH.tar.gz or the directory it unpacks to
	Bundle    string   // a rendered bundle: jobs/*.nomad.hcl and policies/
	Scenarios []string // scenario files or directories of *.yaml
	Work      string   // scratch directory (created; kept for the logs)
	// Helper is the argv prefix that runs Helper in a new process, e.g.
	// [/proc/self/exe conformance helper].
	Helper []string
	// DockerBridgeCIDR is where container cases get their address from.
	DockerBridgeCIDR string
	BTF              string        // default /sys/kernel/btf/vmlinux
	AgentTimeout     time.Duration // from start to "Listening for events"
	Out              io.Writer     // progress and results
}

// CaseResult is one case's outcome.
type CaseResult struct {
	Policy, Case string
	Expect, Got  string // killed or allowed
	Event        string // expected event, "" when not checked
	EventOK      bool
	Err          string // why the case could not run
	Duration     time.Duration
}

// Pass reports whether the case did what its scenario says.
func (r CaseResult) Pass() bool {
	return r.Err == "" && r.Got == r.Expect && (r.Event == "" || r.EventOK)
}

// Result is a whole run.
type Result struct {
	Cases      []CaseResult
	Untested   []string // bundle policies without scenarios
	AgentReady time.Duration
	Total      time.Duration
}

// Failed counts the cases that did not pass.
func (r Result) Failed() int {
	n := 0
	for _, c := range r.Cases {
		if !c.Pass() {
			n++
		}
	}
	return n
}

// readyLine is what the agent logs once every policy of its directory is
// loaded (cilium/tetragon@v1.7.0: pkg/observer/observer_linux.go:105, after
// loadTpFromDir in cmd/tetragon/main.go:507).
const readyLine = "Listening for events..."

// Run starts the release's agent with the bundle's jobspec flags and policy
// directory, runs every case whose policy is in the bundle, and checks the
// export file.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	start := time.Now()
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	if cfg.BTF == "" {
		cfg.BTF = "/sys/kernel/btf/vmlinux"
	}
	if cfg.AgentTimeout == 0 {
		cfg.AgentTimeout = 10 * time.Minute
	}
	if err := os.MkdirAll(cfg.Work, 0o755); err != nil {
		return nil, err
	}
	rel, err := OpenRelease(cfg.Release, cfg.Work)
	if err != nil {
		return nil, err
	}
	jobFiles, _ := filepath.Glob(filepath.Join(cfg.Bundle, "jobs", "*.nomad.hcl"))
	if len(jobFiles) != 1 {
		return nil, fmt.Errorf("bundle %s: want one jobs/*.nomad.hcl, found %d; pass the directory that render -out wrote", cfg.Bundle, len(jobFiles))
	}
	src, err := os.ReadFile(jobFiles[0])
	if err != nil {
		return nil, err
	}
	jobArgs, err := JobspecArgs(jobFiles[0], src)
	if err != nil {
		return nil, err
	}
	// The policy directory exactly as the agent will read it.
	pdir := filepath.Join(cfg.Work, "policies")
	policies, err := stagePolicies(filepath.Join(cfg.Bundle, "policies"), pdir)
	if err != nil {
		return nil, err
	}
	scenarios, err := LoadScenarios(cfg.Scenarios)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	var run []*Scenario
	covered := map[string]bool{}
	for _, s := range scenarios {
		if policies[s.Policy] {
			run = append(run, s)
			covered[s.Policy] = true
		}
	}
	for p := range policies {
		if !covered[p] {
			res.Untested = append(res.Untested, p)
		}
	}
	sort.Strings(res.Untested)

	exportFile := filepath.Join(cfg.Work, "export", "tetragon.log")
	if err := os.MkdirAll(filepath.Dir(exportFile), 0o755); err != nil {
		return nil, err
	}
	args, err := AgentArgs(jobArgs, HostPaths{PolicyDir: pdir, ExportFile: exportFile, BTF: cfg.BTF, BPFLib: rel.BPFLib})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", jobFiles[0], err)
	}
	fmt.Fprintf(out, "agent: %s %s\n", rel.Agent, strings.Join(args, " "))
	agent, err := startAgent(ctx, rel.Agent, args, filepath.Join(cfg.Work, "agent.log"), cfg.AgentTimeout)
	if err != nil {
		return nil, err
	}
	defer agent.stop()
	res.AgentReady = time.Since(start)
	fmt.Fprintf(out, "agent ready after %s with %d policies\n", res.AgentReady.Round(time.Second), len(policies))

	net, err := newSandboxNet(cfg.DockerBridgeCIDR, needsContainer(run))
	if err != nil {
		return nil, err
	}
	defer net.teardown()

	type pending struct {
		pid uint32
		c   Case
	}
	var checks []pending
	n := 0
	for _, s := range run {
		for _, c := range s.Cases {
			n++
			r := CaseResult{Policy: s.Policy, Case: c.Name, Expect: c.Expect, Event: c.Event}
			t0 := time.Now()
			o, err := runCase(ctx, cfg, net, c, n)
			r.Duration = time.Since(t0)
			if err != nil {
				r.Err = err.Error()
			} else {
				r.Got = o.got
			}
			res.Cases = append(res.Cases, r)
			checks = append(checks, pending{o.pid, c})
		}
	}
	// Events reach the export file asynchronously.
	time.Sleep(2 * time.Second)
	events, err := readEventsFile(exportFile)
	if err != nil {
		return nil, fmt.Errorf("export file %s: %w", exportFile, err)
	}
	for i, p := range checks {
		r := &res.Cases[i]
		switch p.c.Event {
		case "":
		case EventNone:
			r.EventOK = len(Matching(events, r.Policy, p.pid, "")) == 0
		default:
			r.EventOK = len(Matching(events, r.Policy, p.pid, p.c.Event)) > 0
		}
	}
	res.Total = time.Since(start)
	return res, nil
}

func readEventsFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadEvents(f)
}

// stagePolicies copies the bundle's policies into dir and returns their
// metadata.names, read the way the agent reads the directory.
func stagePolicies(from, dir string) (map[string]bool, error) {
	files, err := policydir.Read(from)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, f := range files {
		rel, _ := filepath.Rel(from, f.Path)
		target := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(target, f.Data, 0o644); err != nil {
			return nil, err
		}
	}
	rep, err := policy.LintWith(files, policy.Options{})
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, p := range rep.Policies {
		names[p.Policy] = true
	}
	return names, nil
}

// LoadScenarios reads scenario files, and the *.yaml files of directories.
func LoadScenarios(paths []string) ([]*Scenario, error) {
	var out []*Scenario
	for _, p := range paths {
		files := []string{p}
		if st, err := os.Stat(p); err != nil {
			return nil, err
		} else if st.IsDir() {
			files, _ = filepath.Glob(filepath.Join(p, "*.yaml"))
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			s, err := ParseScenario(f, data)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func needsContainer(ss []*Scenario) bool {
	for _, s := range ss {
		for _, c := range s.Cases {
			if c.In == InContainer {
				return true
			}
		}
	}
	return false
}

type agentProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startAgent starts the agent and waits for its ready line. When the agent
// exits first (a refused policy makes it exit 255), the error carries the
// end of its log, which names the reason.
func startAgent(ctx context.Context, bin string, args []string, logPath string, timeout time.Duration) (*agentProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(logf, pw), io.MultiWriter(logf, pw)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting the agent: %w", err)
	}
	a := &agentProc{cmd: cmd, done: make(chan struct{}), log: logPath}
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), readyLine) {
				once.Do(func() { close(ready) })
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		logf.Close()
		close(a.done)
	}()
	select {
	case <-ready:
		return a, nil
	case <-a.done:
		return nil, fmt.Errorf("the agent exited before it was ready (%s); end of %s: %s", cmd.ProcessState, logPath, "\n"+tail(logPath, 15))
	case <-time.After(timeout):
		a.stop()
		return nil, fmt.Errorf("the agent was not ready after %s (no %q in %s); end of the log: %s", timeout, readyLine, logPath, "\n"+tail(logPath, 15))
	case <-ctx.Done():
		a.stop()
		return nil, ctx.Err()
	}
}

func (a *agentProc) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type caseOutcome struct {
	pid uint32
	got string
}

// runCase runs one case in a helper process and reports whether it was
// killed.
func runCase(ctx context.Context, cfg Config, sn *sandboxNet, c Case, n int) (caseOutcome, error) {
	act, _ := ParseAction(c.Do) // checked by ParseScenario
	binDir := filepath.Join(cfg.Work, "bin")
	switch act.Kind {
	case "write":
		if _, err := os.Stat(act.Path); err != nil {
			// Created here, removed at the end of the run with the
			// directories made for it.
			top := act.Path
			for d := filepath.Dir(act.Path); d != "/"; d = filepath.Dir(d) {
				if _, err := os.Stat(d); err == nil {
					break
				}
				top = d
			}
			sn.cleanup = append(sn.cleanup, top)
		}
		if err := os.MkdirAll(filepath.Dir(act.Path), 0o755); err != nil {
			return caseOutcome{}, err
		}
		if err := os.WriteFile(act.Path, []byte("conformance\n"), 0o644); err != nil {
			return caseOutcome{}, err
		}
	case "exec":
		if err := os.MkdirAll(binDir, 0o755); err != nil {
			return caseOutcome{}, err
		}
		t, err := exec.LookPath("true")
		if err != nil {
			return caseOutcome{}, err
		}
		b, err := os.ReadFile(t)
		if err != nil {
			return caseOutcome{}, err
		}
		if err := os.WriteFile(filepath.Join(binDir, act.Path), b, 0o755); err != nil {
			return caseOutcome{}, err
		}
	}
	argv := append(append([]string{}, cfg.Helper...), strings.Fields(act.String())...)
	var setup []string
	if c.In == InContainer {
		setup = sn.containerSetup(n)
		argv = append(append(argv, "--"), strings.Join(setup, " ; "))
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	if c.In == InContainer {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return caseOutcome{}, err
	}
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		return caseOutcome{}, fmt.Errorf("starting the case: %w", err)
	}
	pid := uint32(cmd.Process.Pid)
	if c.In == InContainer {
		if err := sn.attach(cmd.Process.Pid, n); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return caseOutcome{}, err
		}
	}
	io.WriteString(stdin, "go\n")
	stdin.Close()
	err = cmd.Wait()
	var ws syscall.WaitStatus
	if cmd.ProcessState != nil {
		ws, _ = cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		return caseOutcome{pid, ExpectKilled}, nil
	case err == nil:
		return caseOutcome{pid, ExpectAllowed}, nil
	default:
		return caseOutcome{pid, ""}, fmt.Errorf("the case's process failed: %v: %s", err, strings.TrimSpace(output.String()))
	}
}

// sandboxNet gives container cases an address on the Docker bridge range,
// as a container on a Nomad client has, and the host a default route so a
// connect to the internet reaches tcp_connect even on a VM without network.
type sandboxNet struct {
	bridge  string
	gw      netip.Addr
	bits    int
	created []string // interfaces to delete
	cleanup []string // files and directories the cases created on the host
}

func newSandboxNet(cidr string, containers bool) (*sandboxNet, error) {
	sn := &sandboxNet{}
	if !containers {
		return sn, nil
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("docker bridge CIDR %q: want an IPv4 CIDR like 172.17.0.0/16", cidr)
	}
	p = p.Masked()
	sn.gw, sn.bits = p.Addr().Next(), p.Bits()
	// Reuse the interface that already holds the gateway (docker0 on a
	// machine with Docker); otherwise create a bridge.
	if name := ipOut("-o", "-4", "addr", "show", "to", sn.gw.String()); name != "" {
		sn.bridge = strings.Fields(name)[1]
	} else {
		sn.bridge = "tnconf0"
		for _, c := range [][]string{
			{"link", "add", sn.bridge, "type", "bridge"},
			{"addr", "add", fmt.Sprintf("%s/%d", sn.gw, sn.bits), "dev", sn.bridge},
			{"link", "set", sn.bridge, "up"},
		} {
			if err := ip(c...); err != nil {
				sn.teardown()
				return nil, err
			}
			if c[0] == "link" && c[1] == "add" {
				sn.created = append(sn.created, sn.bridge)
			}
		}
	}
	if ipOut("route", "show", "default") == "" {
		for _, c := range [][]string{
			{"link", "add", "tnconfd0", "type", "dummy"},
			{"addr", "add", "192.0.2.1/24", "dev", "tnconfd0"},
			{"link", "set", "tnconfd0", "up"},
			{"route", "add", "default", "dev", "tnconfd0"},
		} {
			if err := ip(c...); err != nil {
				sn.teardown()
				return nil, err
			}
			if c[0] == "link" && c[1] == "add" {
				sn.created = append(sn.created, "tnconfd0")
			}
		}
	}
	return sn, nil
}

func (sn *sandboxNet) addr(n int) netip.Addr {
	a := sn.gw
	for i := 0; i <= n; i++ {
		a = a.Next()
	}
	return a
}

// containerSetup are the commands the helper runs inside its namespaces.
func (sn *sandboxNet) containerSetup(n int) []string {
	return []string{
		"ip link set lo up",
		fmt.Sprintf("ip addr add %s/%d dev eth0", sn.addr(n), sn.bits),
		"ip link set eth0 up",
		fmt.Sprintf("ip route add default via %s", sn.gw),
	}
}

// attach gives the helper pid an eth0 on the bridge.
func (sn *sandboxNet) attach(pid, n int) error {
	host := fmt.Sprintf("tnc%d", n)
	if err := ip("link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", fmt.Sprint(pid)); err != nil {
		return err
	}
	return ip("link", "set", host, "master", sn.bridge, "up")
}

func (sn *sandboxNet) teardown() {
	for i := len(sn.created) - 1; i >= 0; i-- {
		ip("link", "del", sn.created[i])
	}
	for _, p := range sn.cleanup {
		os.RemoveAll(p)
	}
}

func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func ipOut(args ...string) string {
	out, _ := exec.Command("ip", args...).Output()
	return strings.TrimSpace(string(out))
}

// Report prints the results, one line per case, and a summary.
func Report(w io.Writer, r *Result) {
	for _, c := range r.Cases {
		status := "PASS"
		if !c.Pass() {
			status = "FAIL"
		}
		detail := fmt.Sprintf("expect %s, got %s", c.Expect, orDash(c.Got))
		if c.Event != "" {
			detail += fmt.Sprintf("; event %s: %s", c.Event, map[bool]string{true: "ok", false: "MISSING"}[c.EventOK])
			if c.Event == EventNone && !c.EventOK {
				detail = strings.Replace(detail, "MISSING", "UNEXPECTED EVENT", 1)
			}
		}
		if c.Err != "" {
			detail += "; " + c.Err
		}
		fmt.Fprintf(w, "%s  %s: %s (%s) %s\n", status, c.Policy, c.Case, detail, c.Duration.Round(time.Millisecond))
	}
	for _, p := range r.Untested {
		fmt.Fprintf(w, "NOTE  %s: no scenarios\n", p)
	}
	fmt.Fprintf(w, "%d cases, %d failed; agent ready after %s, total %s\n",
		len(r.Cases), r.Failed(), r.AgentReady.Round(time.Second), r.Total.Round(time.Second))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
