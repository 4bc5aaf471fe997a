//go:build e2e

package e2e

// What the whole-path test checks once the job runs: artifacts, the policies
// the stub loaded, the records the receiver got, the mounts.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/test/e2e/wait"
)

func manifestPolicies(t *testing.T, m manifestDoc) map[string]string {
	out := map[string]string{} // name -> sha256 of its file
	pols, _ := m.raw["policies"].([]any)
	for _, p := range pols {
		pm := p.(map[string]any)
		name, file := pm["policy"].(string), pm["file"].(string)
		for _, f := range m.Files {
			if f.Path == file {
				out[name] = f.SHA256
			}
		}
	}
	if len(out) < 2 {
		t.Fatalf("manifest names %d policies with files (%v), want the library one and the test's", len(out), pols)
	}
	return out
}

// checkArtifacts: Nomad downloaded every policy object from the fake bucket
// (the target's own GETs, in the server's log) and the task events say so.
func (e *fpEnv) checkArtifacts(t *testing.T, a allocInfo, m manifestDoc) {
	bundleID := m.raw["bundle_id"].(string)
	for _, f := range m.Files {
		if f.Role != "policy" {
			continue
		}
		obj := fpPrefix + "/bundles/" + bundleID + "/" + f.Path
		if n := e.gcs.getsFrom(e.tg.SSHHost, "/"+fpBucket+"/"+obj); n == 0 {
			t.Errorf("the target never fetched %s from the fake bucket", obj)
		}
	}
	found := false
	for _, ev := range a.TaskStates["tetragon"].Events {
		if ev.Type == "Downloading Artifacts" {
			found = true
		}
	}
	if !found {
		t.Errorf("tetragon task has no \"Downloading Artifacts\" event:%s", taskEvents(a))
	}
}

// checkStubSaw: the stub's record of the files at the mounted policy path
// is exactly the manifest's policies, byte for byte.
func (e *fpEnv) checkStubSaw(t *testing.T, want map[string]string) {
	data, err := os.ReadFile(filepath.Join(e.tg.Rootfs, logDir, "stub-seen.txt"))
	if err != nil {
		t.Fatalf("the tetragon stub left no record of its policies: %v", err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || filepath.Dir(f[1]) != fpPolicyMount {
			t.Errorf("stub saw %q, not a file in %s", line, fpPolicyMount)
			continue
		}
		got[f[2]] = f[0]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stub saw policies %v, manifest has %v", got, want)
	}
}

type fpRecord struct {
	Tag       string
	Record    map[string]any
	AgentTime time.Time `json:"agent_time"`
}

func (e *fpEnv) records(t *testing.T) []fpRecord {
	data, _ := os.ReadFile(filepath.Join(e.tg.Rootfs, fpRecords))
	var out []fpRecord
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var r fpRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("receiver record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// waitRecords waits until the receiver holds, for each policy, at least
// atLeast records tagged fpTag whose log is Tetragon's JSON for it, and
// checks every record is such a line.
func (e *fpEnv) waitRecords(t *testing.T, policies map[string]string, atLeast int, limit time.Duration) {
	t.Helper()
	var counts map[string]int
	err := wait.For(limit, 2*time.Second, func() (bool, error) {
		counts = map[string]int{}
		var bad []string
		for _, r := range e.records(t) {
			line, _ := r.Record["log"].(string)
			var ev struct {
				ProcessKprobe struct {
					PolicyName string `json:"policy_name"`
				} `json:"process_kprobe"`
				NodeName string `json:"node_name"`
				Time     string `json:"time"`
			}
			if r.Tag != fpTag || json.Unmarshal([]byte(line), &ev) != nil || ev.NodeName == "" || ev.Time == "" {
				bad = append(bad, fmt.Sprintf("%s %q", r.Tag, line))
				continue
			}
			// The entry's timestamp is Tetragon's own time, to the nanosecond.
			if tt, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil || !r.AgentTime.Equal(tt) {
				bad = append(bad, fmt.Sprintf("agent time %s for Tetragon time %q (%v)", r.AgentTime.Format(time.RFC3339Nano), ev.Time, err))
				continue
			}
			counts[ev.ProcessKprobe.PolicyName]++
		}
		if len(bad) > 0 {
			t.Fatalf("receiver got records that are not tag %s with Tetragon JSON: %v", fpTag, bad)
		}
		ok := len(counts) == len(policies)
		for name := range policies {
			if counts[name] < atLeast {
				ok = false
			}
		}
		if ok && (atLeast > 1 || allEqual(counts, 1)) {
			return true, nil
		}
		if atLeast == 1 && !allAtMost(counts, 1) {
			t.Fatalf("receiver counts per policy %v, want exactly 1 per policy of %v", counts, keys(policies))
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("receiver counts per policy %v, want %d per policy of %v (%v)", counts, atLeast, keys(policies), err)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func allEqual(m map[string]int, n int) bool {
	for _, v := range m {
		if v != n {
			return false
		}
	}
	return true
}

func allAtMost(m map[string]int, n int) bool {
	for _, v := range m {
		if v > n {
			return false
		}
	}
	return true
}

// checkMounts: docker inspect shows the host volumes and the policy mount
// with the read-only flags the jobspec declares.
func (e *fpEnv) checkMounts(t *testing.T, a allocInfo) {
	want := map[string]map[string]bool{ // container -> destination -> RW
		"tetragon-" + a.ID: {"/var/lib/tetragon/btf": false, "/var/log/tetragon": true, "/sys/fs/bpf": true, fpPolicyMount: false},
		"export-" + a.ID:   {"/var/log/tetragon": false},
	}
	for name, dests := range want {
		var mounts []struct {
			Source, Destination string
			RW                  bool
		}
		if err := json.Unmarshal([]byte(e.tg.must(t, "docker", "inspect", "-f", "{{json .Mounts}}", name)), &mounts); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, m := range mounts {
			got[m.Destination] = m.RW
		}
		for d, rw := range dests {
			if g, ok := got[d]; !ok || g != rw {
				t.Errorf("container %s: mount %s present=%v RW=%v, want RW=%v (mounts %+v)", name, d, ok, g, rw, mounts)
			}
		}
	}
	if out := strings.TrimSpace(e.tg.must(t, "docker", "inspect", "-f", "{{.HostConfig.Privileged}} {{.HostConfig.PidMode}}", "tetragon-"+a.ID)); out != "true host" {
		t.Errorf("tetragon container privileged/pid mode %q, want \"true host\"", out)
	}
	logCfg := e.tg.must(t, "docker", "inspect", "-f", "{{json .HostConfig.LogConfig}}", "export-"+a.ID)
	for _, want := range []string{`"Type":"fluentd"`, `"fluentd-async":"true"`, `"tag":"` + fpTag + `"`, `"mode":"non-blocking"`} {
		if !strings.Contains(logCfg, want) {
			t.Errorf("export container log config %s lacks %s", strings.TrimSpace(logCfg), want)
		}
	}
	// The one capability the runtime wrapper removed is the one this
	// machine cannot grant (see capwrap and FULLPATH.md).
	if log := e.tg.must(t, "cat", "/var/log/capwrap.log"); !strings.Contains(log, "dropped CAP_SYS_RESOURCE (") {
		t.Errorf("capwrap log does not show exactly CAP_SYS_RESOURCE dropped:\n%s", log)
	} else {
		t.Logf("capwrap: %s", strings.TrimSpace(tail(log, 1)))
	}
}
