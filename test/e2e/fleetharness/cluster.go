// Package fleetharness runs a small real Nomad cluster on this machine for
// the Fleet end-to-end test: one server and several clients, each a plain
// `nomad agent` process with its own data directory, ports and cgroup
// parent, all on 127.0.0.1. Tasks use the mock_driver that Nomad's
// non-release builds include (nomad@v1.10.5:
// helper/pluginutils/catalog/register_testing.go, build tag !release), so a
// client costs a process, not a VM. A client "has Docker" when a FakeDocker
// answers on its DOCKER_HOST socket.
package fleetharness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/test/e2e/wait"
)

// Cluster is one server and its clients.
type Cluster struct {
	Nomad   string // the nomad binary
	Dir     string // everything the cluster writes lives here
	Addr    string // the server's HTTP API, http://127.0.0.1:PORT
	rpc     string
	server  *Agent
	Clients map[string]*Agent
	tag     string
}

// Agent is one nomad agent process.
type Agent struct {
	Name    string
	Addr    string
	dir     string
	args    []string
	env     []string
	cgroup  string
	cmd     *exec.Cmd
	log     *os.File
	exited  chan struct{}
	cluster *Cluster
}

// freePort asks the kernel for a port nobody uses right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start boots the server and waits for it to elect itself leader.
// Everything is torn down with the test.
func Start(t *testing.T, nomad string) *Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "tn-fleet-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Nomad: nomad, Dir: dir, Clients: map[string]*Agent{}, tag: filepath.Base(dir)}
	t.Cleanup(func() { c.teardown(t) })

	http, rpc, serf := freePort(t), freePort(t), freePort(t)
	c.Addr = fmt.Sprintf("http://127.0.0.1:%d", http)
	c.rpc = fmt.Sprintf("127.0.0.1:%d", rpc)
	conf := fmt.Sprintf(`name      = "server"
disable_update_check = true
data_dir  = %q
bind_addr = "127.0.0.1"
ports {
  http = %d
  rpc  = %d
  serf = %d
}
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
server {
  enabled          = true
  bootstrap_expect = 1
}
`, filepath.Join(dir, "server", "data"), http, rpc, serf)
	c.server = c.agent(t, "server", conf, nil, c.Addr)
	c.server.start(t)
	c.waitFor(t, 60*time.Second, "the server to elect a leader", func() (bool, string) {
		var leader string
		err := c.GetJSON("/v1/status/leader", &leader)
		return err == nil && leader != "", fmt.Sprint(err)
	})
	return c
}

func (c *Cluster) agent(t *testing.T, name, conf string, extra []string, addr string) *Agent {
	t.Helper()
	adir := filepath.Join(c.Dir, name)
	if err := os.MkdirAll(filepath.Join(adir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(adir, "agent.hcl")
	if err := os.WriteFile(main, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"agent", "-config", main}
	for _, e := range extra {
		args = append(args, "-config", e)
	}
	return &Agent{Name: name, Addr: addr, dir: adir, args: args, cluster: c}
}

// AddClient starts a client named name with the client config files given
// (a tetranomad drop-in, for instance). dockerSock is its DOCKER_HOST
// socket: Docker is "installed" when a FakeDocker serves it.
func (c *Cluster) AddClient(t *testing.T, name, dockerSock string, configs ...string) *Agent {
	t.Helper()
	port := freePort(t)
	cgroup := c.tag + "-" + name
	conf := fmt.Sprintf(`name      = %q
disable_update_check = true
data_dir  = %q
bind_addr = "127.0.0.1"
ports {
  http = %d
  rpc  = %d
  serf = %d
}
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
client {
  enabled           = true
  servers           = [%q]
  network_interface = "lo"
  cgroup_parent     = %q
  gc_interval       = "5s"
}
plugin "mock_driver" {}
`, name, filepath.Join(c.Dir, name, "data"), port, freePort(t), freePort(t), c.rpc, "/"+cgroup)
	a := c.agent(t, name, conf, configs, fmt.Sprintf("http://127.0.0.1:%d", port))
	a.cgroup = cgroup
	a.env = []string{"DOCKER_HOST=unix://" + dockerSock}
	c.Clients[name] = a
	a.start(t)
	return a
}

// Restart stops the agent and starts it again with other extra config files
// (same name, data directory and node ID): a client rebuilt from a new image.
func (a *Agent) Restart(t *testing.T, configs ...string) {
	t.Helper()
	a.stop()
	args := a.args[:3]
	for _, e := range configs {
		args = append(args, "-config", e)
	}
	a.args = args
	a.start(t)
}

func (a *Agent) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(a.dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(a.cluster.Nomad, a.args...)
	// Nomad 1.10 agents fail at start where AWS_CA_BUNDLE is set (FACTS.md).
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "AWS_CA_BUNDLE=") && !strings.HasPrefix(e, "DOCKER_HOST=") && !strings.HasPrefix(e, "NOMAD_") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, a.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", a.Name, err)
	}
	a.cmd, a.log, a.exited = cmd, logf, make(chan struct{})
	go func() { _ = cmd.Wait(); close(a.exited) }()
}

// stop interrupts the agent (SIGINT, as Ctrl-C) and kills it after 20 s.
func (a *Agent) stop() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-a.exited
	}
	// Task helpers a client started (logmon) outlive it by design, in its
	// process group: nothing of the test may stay behind.
	_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	a.log.Close()
	a.cmd = nil
}

// Log is the tail of the agent's log, for failure messages.
func (a *Agent) Log() string {
	data, _ := os.ReadFile(filepath.Join(a.dir, "agent.log"))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// Logs is every agent's log tail.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, a := range append([]*Agent{c.server}, c.clientList()...) {
		fmt.Fprintf(&b, "--- %s ---\n%s\n", a.Name, a.Log())
	}
	return b.String()
}

func (c *Cluster) clientList() []*Agent {
	var out []*Agent
	for _, a := range c.Clients {
		out = append(out, a)
	}
	return out
}

// GetJSON reads a server API path into v.
func (c *Cluster) GetJSON(path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(body.String()))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Run runs the nomad CLI against the server.
func (c *Cluster) Run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Nomad, args...)
	cmd.Env = append(os.Environ(), "NOMAD_ADDR="+c.Addr)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitFor polls cond every second (wait.For) until it holds or timeout
// passes, and stops early when an agent exits; the failure names what was
// awaited and cond's last word, plus the agents' logs.
func (c *Cluster) waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	err := wait.For(timeout, time.Second, func() (bool, error) {
		ok, last := cond()
		if ok {
			return true, nil
		}
		for _, a := range append([]*Agent{c.server}, c.clientList()...) {
			if a.cmd != nil && a.exited != nil {
				select {
				case <-a.exited:
					t.Fatalf("nomad agent %s exited while waiting for %s:\n%s", a.Name, what, a.Log())
				default:
				}
			}
		}
		return false, errors.New(last)
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v\n%s", what, err, c.Logs())
	}
}

// WaitFor is waitFor for tests.
func (c *Cluster) WaitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	c.waitFor(t, timeout, what, cond)
}

// teardown stops the job's allocations first (so clients unmount their
// allocation directories), then every agent, then removes what is left:
// mounts under the cluster directory, the clients' cgroups, the directory.
func (c *Cluster) teardown(t testing.TB) {
	// Every allocation ever placed: the clients leave their task cgroups
	// behind when they stop (to survive restarts).
	var allocs []struct{ ID string }
	if c.server != nil && c.server.cmd != nil {
		_ = c.GetJSON("/v1/allocations", &allocs)
	}
	for _, a := range c.clientList() {
		a.stop()
	}
	if c.server != nil {
		c.server.stop()
	}
	unmountUnder(c.Dir)
	for _, a := range c.clientList() {
		removeCgroups(a.cgroup)
	}
	for _, a := range allocs {
		removeTaskCgroups(a.ID)
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		t.Errorf("removing %s: %v", c.Dir, err)
	}
}

// unmountUnder lazily unmounts everything mounted below dir (a client's
// secrets tmpfs and the like), deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			mounts = append(mounts, fields[4])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
}

// removeCgroups removes the client's cgroup parent in every hierarchy,
// children first (cgroup directories are removed with rmdir only).
func removeCgroups(parent string) {
	if parent == "" {
		return
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
	if unified := "/sys/fs/cgroup/" + parent; isDir(unified) {
		roots = append(roots, unified)
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}

// removeTaskCgroups removes an allocation's task cgroups. On cgroup v1
// Nomad 1.10 puts them under a fixed "nomad" parent shared by every client
// of the machine (nomad@v1.10.5: client/lib/cgroupslib/editor.go), so only
// this allocation's are removed; rmdir refuses a cgroup still in use.
func removeTaskCgroups(allocID string) {
	for _, pattern := range []string{
		"/sys/fs/cgroup/*/nomad/" + allocID + ".*",
		"/sys/fs/cgroup/*/nomad/*/" + allocID + ".*",
	} {
		dirs, _ := filepath.Glob(pattern)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
