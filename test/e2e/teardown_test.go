//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTeardownLeavesNothing stops the pristine target (after the tests that
// use it) with something running in a cgroup of its own and a mount inside,
// and checks that no process, netns, veth, cgroup, mount or directory of it
// is left on the host.
func TestTeardownLeavesNothing(t *testing.T) {
	requireHarness(t)
	h.mu.Lock()
	tg := h.pristine
	h.pristine = nil
	h.mu.Unlock()
	if tg == nil {
		t.Fatal("no pristine target to tear down")
	}
	// Leftovers worth catching: a service cgroup below the target's, a mount in
	// its namespace.
	tg.sh(t, "systemd-run --unit=e2e-sleeper sleep 600 && mkdir -p /mnt/e2e && mount -t tmpfs e2e /mnt/e2e")

	res := parseEnv(readFile(t, filepath.Join(tg.State, "resources")))
	cgroups := strings.Fields(readFile(t, filepath.Join(tg.State, "cgroups")))
	if len(cgroups) == 0 {
		t.Fatal("the target recorded no cgroups")
	}
	var pids []string
	for _, k := range []string{"NSPAWN_PID", "LEADER_PID", "PROXY_PID"} {
		if res[k] == "" {
			t.Fatalf("resources lack %s: %v", k, res)
		}
		pids = append(pids, res[k])
	}
	tg.stop()

	for _, pid := range pids {
		if cmd, err := os.ReadFile("/proc/" + pid + "/cmdline"); err == nil {
			c := strings.ReplaceAll(string(cmd), "\x00", " ")
			if strings.Contains(c, "nspawn") || strings.Contains(c, "mirrorproxy") || strings.Contains(c, "systemd") {
				t.Errorf("process %s (%s) survived teardown", pid, c)
			}
		}
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), res["NETNS"]) {
		t.Errorf("netns %s survived teardown: %s", res["NETNS"], out)
	}
	if err := exec.Command("ip", "link", "show", res["VETH"]).Run(); err == nil {
		t.Errorf("veth %s survived teardown", res["VETH"])
	}
	for _, dir := range append(cgroups, res["ROOT"], tg.State) {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s survived teardown", dir)
		}
	}
	if mounts := readFile(t, "/proc/self/mountinfo"); strings.Contains(mounts, res["ROOT"]) || strings.Contains(mounts, "/run/netns/"+res["NETNS"]) {
		t.Errorf("a mount of the target survived teardown:\n%s", mounts)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
