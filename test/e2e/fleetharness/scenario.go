package fleetharness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/internal/testbin"
)

// Setup is what the Fleet scenario needs from its caller.
type Setup struct {
	RepoRoot string // the module root, to build the plugin from
	Nomad    string // a non-release nomad (mock_driver)
}

// report is the part of `status -format json` the scenario reads.
type report struct {
	Expected   map[string]any `json:"expected"`
	Deployment *struct {
		ID              string `json:"id"`
		Status          string `json:"status"`
		DesiredCanaries int    `json:"desired_canaries"`
		PlacedCanaries  int    `json:"placed_canaries"`
		Promoted        bool   `json:"promoted"`
	} `json:"deployment"`
	Nodes []struct {
		Name       string   `json:"name"`
		Protected  bool     `json:"protected"`
		Eligible   bool     `json:"eligible"`
		PolicyMode string   `json:"policy_mode"`
		Bundle     string   `json:"bundle"`
		Problems   []string `json:"problems"`
		Allocation *struct {
			Canary bool `json:"canary"`
		} `json:"allocation"`
	} `json:"nodes"`
	Summary struct {
		Protected   int      `json:"protected"`
		Eligible    int      `json:"eligible"`
		Unprotected []string `json:"unprotected"`
		Stranded    []string `json:"stranded"`
		OK          bool     `json:"ok"`
	} `json:"summary"`
}

func (r report) protected() []string {
	var out []string
	for _, n := range r.Nodes {
		if n.Protected {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

func (r report) node(name string) (problems string, mode string, canary bool) {
	for _, n := range r.Nodes {
		if n.Name == name {
			return strings.Join(n.Problems, "; "), n.PolicyMode, n.Allocation != nil && n.Allocation.Canary
		}
	}
	return "(no such node)", "", false
}

// The three clients: one built from the current declaration, one from an
// older declaration (another contract), one without Docker.
const (
	good     = "c1-current"
	old      = "c2-old-contract"
	noDocker = "c3-no-docker"
)

// Scenario is the Fleet end-to-end test: status on a real cluster says
// exactly which clients are protected, exits 1, and 0 once they are fixed;
// a monitor-mode bundle rolls out (as canaries, promoted, where the Nomad
// has system-job canaries); a bundle with a new contract names the clients
// it would strand.
func Scenario(t *testing.T, s Setup) {
	work := t.TempDir()
	plugin := filepath.Join(work, "packer-plugin-tetranomad")
	build := exec.Command("go", "build", "-o", plugin, "./cmd/packer-plugin-tetranomad")
	build.Dir = s.RepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	version := nomadVersion(t, s.Nomad)
	canaries := atLeast111(version)
	logs := filepath.Join(work, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}

	// The declarations: host volume paths that exist here (paths are not part
	// of the contract; names are).
	decl := func(name, logsVolume, extra string) string {
		return renderBundle(t, plugin, work, name, fmt.Sprintf(`
nomad {
  version      = %q
  max_parallel = 3
  %s
}
host_volumes {
  logs {
    name = %q
    path = %q
  }
}
policies {
  library = ["block-package-managers", "log-tcp-connect"]
  %s
}
`, version, map[bool]string{true: "canary_percent = 50", false: ""}[canaries && strings.Contains(extra, "monitor")], logsVolume, logs, extra))
	}
	current := decl("current", "tetragon-logs", "")
	older := decl("older", "tetragon-logs-v0", "")
	monitor := decl("monitor", "tetragon-logs", `mode = "monitor"`)
	newContract := decl("new-contract", "tetragon-logs-v2", "")

	c := Start(t, s.Nomad)
	socks := map[string]string{}
	for _, n := range []string{good, old, noDocker} {
		socks[n] = filepath.Join(work, n+"-docker.sock")
	}
	ServeDocker(t, socks[good])
	ServeDocker(t, socks[old])
	c.AddClient(t, good, socks[good], filepath.Join(current, "nomad", "tetragon.hcl"))
	c.AddClient(t, old, socks[old], filepath.Join(older, "nomad", "tetragon.hcl"))
	c.AddClient(t, noDocker, socks[noDocker], filepath.Join(current, "nomad", "tetragon.hcl"))
	c.WaitFor(t, 90*time.Second, "three ready clients, two with Docker", func() (bool, string) {
		var nodes []struct {
			Name    string
			Status  string
			Drivers map[string]struct{ Detected bool }
		}
		if err := c.GetJSON("/v1/nodes", &nodes); err != nil {
			return false, err.Error()
		}
		ready, docker := 0, 0
		for _, n := range nodes {
			if n.Status == "ready" {
				ready++
			}
			if n.Drivers["docker"].Detected {
				docker++
			}
		}
		return ready == 3 && docker == 2, fmt.Sprintf("%d ready, %d with docker", ready, docker)
	})

	status := func(args ...string) (int, report, string) {
		t.Helper()
		return runStatus(t, plugin, c.Addr, args...)
	}
	// With $TETRANOMAD_FLEET_RECORD set, the API answers status gets at
	// each stage are recorded for the fleet package's unit tests.
	rec := c.Record(t, version)
	record := func(name, bundle string) {
		t.Helper()
		if rec == nil {
			return
		}
		_, r, _ := runStatus(t, plugin, rec.Addr(), "-bundle", bundle)
		rec.Save(t, name, r.Expected)
	}

	// 1. The job of the current bundle runs where it can: only c1.
	runJob(t, c, current)
	c.WaitFor(t, 2*time.Minute, "c1's allocation to run", func() (bool, string) {
		_, r, _ := status("-bundle", current)
		return len(r.protected()) == 1, fmt.Sprint(r.protected())
	})
	record("unprotected", current)
	code, r, table := status("-bundle", current)
	t.Logf("status before the fix:\n%s", table)
	if code != 1 {
		t.Errorf("status exit %d, want 1 (two clients unprotected)", code)
	}
	if got := strings.Join(r.protected(), ","); got != good {
		t.Errorf("protected = %q, want exactly %s", got, good)
	}
	if p, _, _ := r.node(old); !strings.Contains(p, "a client built from another declaration") {
		t.Errorf("%s problems = %q, want the contract named", old, p)
	}
	if p, _, _ := r.node(noDocker); !strings.Contains(p, "no Docker driver") {
		t.Errorf("%s problems = %q, want the missing Docker named", noDocker, p)
	}
	// The same through NOMAD_ADDR, as the Nomad CLI reads it, in JSON.
	if code, _, _ := runStatusEnv(t, plugin, c.Addr, "-bundle", current); code != 1 {
		t.Errorf("status with NOMAD_ADDR: exit %d, want 1", code)
	}

	// 2. Fix them: c2 rebuilt from the current declaration (its agent
	// restarts with the current drop-in), Docker started on c3.
	c.Clients[old].Restart(t, filepath.Join(current, "nomad", "tetragon.hcl"))
	ServeDocker(t, socks[noDocker])
	c.WaitFor(t, 3*time.Minute, "every client protected", func() (bool, string) {
		code, r, _ := status("-bundle", current)
		return code == 0, fmt.Sprintf("exit %d, protected %v", code, r.protected())
	})
	record("protected", current)
	code, _, table = status("-bundle", current)
	t.Logf("status after the fix:\n%s", table)
	if code != 0 {
		t.Fatalf("status exit %d after the fix, want 0", code)
	}

	// 3. A monitor-mode bundle, staged.
	code, r, _ = status("-bundle", monitor)
	if code != 1 || len(r.Summary.Stranded) != 0 {
		t.Errorf("before the monitor rollout: exit %d, stranded %v; want 1 and none (same contract)", code, r.Summary.Stranded)
	}
	runJob(t, c, monitor)
	if canaries {
		var depID string
		c.WaitFor(t, 3*time.Minute, "a canary of the monitor bundle, awaiting promotion", func() (bool, string) {
			_, r, _ := status("-bundle", monitor)
			d := r.Deployment
			if d == nil || d.DesiredCanaries == 0 || d.PlacedCanaries < d.DesiredCanaries || d.Promoted {
				return false, fmt.Sprintf("%+v", d)
			}
			canaryModes := 0
			for _, n := range r.Nodes {
				if _, mode, canary := r.node(n.Name); canary && mode == "monitor" {
					canaryModes++
				}
			}
			depID = d.ID
			return canaryModes == d.DesiredCanaries, fmt.Sprintf("%+v, %d monitor canaries", d, canaryModes)
		})
		record("canary", monitor)
		code, r, table = status("-bundle", monitor)
		t.Logf("status with the canary placed:\n%s", table)
		if code != 1 || r.Summary.Protected >= 3 {
			t.Errorf("while canarying: exit %d, %d protected; want 1 and fewer than 3", code, r.Summary.Protected)
		}
		if !strings.Contains(table, "nomad deployment promote "+depID) {
			t.Errorf("the table does not say how to promote:\n%s", table)
		}
		if out, err := c.Run(t, "deployment", "promote", depID); err != nil {
			t.Fatalf("nomad deployment promote: %v\n%s", err, out)
		}
	} else {
		t.Logf("nomad %s has no system-job canaries (1.11.0 and later): the monitor bundle rolls out with max_parallel only", version)
	}
	c.WaitFor(t, 4*time.Minute, "every client on the monitor bundle", func() (bool, string) {
		code, r, _ := status("-bundle", monitor)
		return code == 0, fmt.Sprintf("exit %d, protected %v", code, r.protected())
	})
	code, r, table = status("-bundle", monitor)
	t.Logf("status after the monitor rollout:\n%s", table)
	if code != 0 {
		t.Errorf("after the monitor rollout: exit %d, want 0", code)
	}
	for _, n := range []string{good, old, noDocker} {
		if _, mode, _ := r.node(n); mode != "monitor" {
			t.Errorf("%s runs mode %q, want monitor", n, mode)
		}
	}

	// 4. A declaration with another contract: status names every client it
	// would strand before anyone runs its job.
	record("new-contract", newContract)
	code, r, table = status("-bundle", newContract)
	t.Logf("status against a bundle with a new contract:\n%s", table)
	if code != 1 {
		t.Errorf("new contract: exit %d, want 1", code)
	}
	if got := strings.Join(r.Summary.Stranded, ","); got != strings.Join([]string{good, old, noDocker}, ",") {
		t.Errorf("stranded = %q, want all three clients", got)
	}
	if !strings.Contains(table, "stops Tetragon on 3 client(s)") {
		t.Errorf("the table does not warn about the stranded clients:\n%s", table)
	}
}

// FleetNomad is $TETRANOMAD_FLEET_NOMAD (a non-release Nomad 1.11 or later
// exercises system-job canaries), else the project's nomad.
func FleetNomad(t *testing.T) string {
	if p := os.Getenv("TETRANOMAD_FLEET_NOMAD"); p != "" {
		return p
	}
	return testbin.Nomad(t)
}

func nomadVersion(t *testing.T, nomad string) string {
	t.Helper()
	out, err := exec.Command(nomad, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", nomad, err)
	}
	m := regexp.MustCompile(`Nomad v(\d+\.\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("%s version printed %q", nomad, out)
	}
	return string(m[1])
}

func atLeast111(v string) bool {
	var major, minor, patch int
	_, _ = fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &patch)
	return major > 1 || (major == 1 && minor >= 11)
}

func renderBundle(t *testing.T, plugin, work, name, decl string) string {
	t.Helper()
	file := filepath.Join(work, name+".hcl")
	if err := os.WriteFile(file, []byte(decl), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, name)
	if b, err := exec.Command(plugin, "render", "-config", file, "-out", out).CombinedOutput(); err != nil {
		t.Fatalf("render %s: %v\n%s", name, err, b)
	}
	return out
}

// runJob runs the bundle's jobspec, turned to the mock driver.
func runJob(t *testing.T, c *Cluster, bundleDir string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(bundleDir, "jobs", "tetragon.nomad.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	mock, err := MockJobspec(src)
	if err != nil {
		t.Fatal(err)
	}
	// Beside the bundle, not in it: a bundle directory holds only its files.
	file := bundleDir + ".mock.nomad.hcl"
	if err := os.WriteFile(file, mock, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Run(t, "job", "run", "-detach", file); err != nil {
		t.Fatalf("nomad job run: %v\n%s", err, out)
	}
}

func runStatus(t *testing.T, plugin, addr string, args ...string) (int, report, string) {
	t.Helper()
	code, r, _ := statusCmd(t, plugin, nil, append([]string{"-address", addr, "-format", "json"}, args...)...)
	_, _, table := statusCmd(t, plugin, nil, append([]string{"-address", addr}, args...)...)
	return code, r, table
}

func runStatusEnv(t *testing.T, plugin, addr string, args ...string) (int, report, string) {
	t.Helper()
	return statusCmd(t, plugin, []string{"NOMAD_ADDR=" + addr}, append([]string{"-format", "json"}, args...)...)
}

func statusCmd(t *testing.T, plugin string, env []string, args ...string) (int, report, string) {
	t.Helper()
	cmd := exec.Command(plugin, append([]string{"status"}, args...)...)
	base := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "NOMAD_") {
			base = append(base, e)
		}
	}
	cmd.Env = append(base, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("status: %v", err)
	}
	if code == 2 {
		t.Fatalf("status %v: exit 2\n%s", args, stderr.String())
	}
	var r report
	if strings.Contains(strings.Join(args, " "), "-format json") {
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("status JSON: %v\n%s", err, stdout.String())
		}
	}
	return code, r, stdout.String()
}
