//go:build e2e

package e2e

// The whole-path test's faults: a tampered object, the logging receiver
// down, the Nomad agent restarted.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/test/e2e/wait"
)

// tamperedPolicy: one policy object in the bucket is replaced; a new
// allocation must fail its artifact checksum and no container may start.
func (e *fpEnv) tamperedPolicy(t *testing.T, jobspec string, m manifestDoc) {
	e.stopJob(t)
	var obj string
	for _, f := range m.Files {
		if f.Role == "policy" {
			obj = fpPrefix + "/bundles/" + m.raw["bundle_id"].(string) + "/" + f.Path
			break
		}
	}
	orig := e.gcs.object(t, obj)
	e.gcs.put(obj, append(append([]byte{}, orig...), []byte("\n# tampered\n")...))
	defer e.gcs.put(obj, orig)
	e.tg.must(t, "rm", "-f", filepath.Join(logDir, "stub-seen.txt"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := e.nomadCmd(ctx, "job", "run", "-detach", jobspec); err != nil {
		t.Fatalf("nomad job run: %v\n%s", err, out)
	}
	var last allocInfo
	err := wait.For(2*time.Minute, 2*time.Second, func() (bool, error) {
		list := e.allocs(t)
		if len(list) == 0 {
			return false, errors.New("no allocation")
		}
		last = list[0]
		for _, ev := range last.TaskStates["tetragon"].Events {
			msg := strings.ToLower(ev.DisplayMessage + " " + fmt.Sprint(ev.Details))
			if ev.Type == "Failed Artifact Download" && strings.Contains(msg, "checksum") {
				t.Logf("nomad reports: %s: %s", ev.Type, ev.DisplayMessage)
				return true, nil
			}
		}
		return false, errors.New("no checksum failure reported")
	})
	if err != nil {
		t.Fatalf("%v:%s", err, taskEvents(last))
	}
	if ps := strings.TrimSpace(e.tg.must(t, "docker", "ps", "-aq")); ps != "" {
		t.Errorf("containers exist although the artifact failed: %s", e.tg.must(t, "docker", "ps", "-a"))
	}
	if _, err := os.Stat(filepath.Join(e.tg.Rootfs, logDir, "stub-seen.txt")); err == nil {
		t.Error("the stub ran (stub-seen.txt exists) with a tampered policy")
	}
	e.stopJob(t)
}

// receiverDown: with nothing on 127.0.0.1:24224 the job still starts
// (fluentd-async), and the buffered lines arrive once the receiver is back.
func (e *fpEnv) receiverDown(t *testing.T, jobspec string, policies map[string]string) {
	e.stopJob(t)
	e.stopReceiver()
	// The export file lives in the host volume and survives the job; the
	// sidecar (tail -F, like the real image) would resend its last lines.
	// Start from empty files so "one record per policy" is exact.
	e.tg.must(t, "truncate", "-s", "0", fpRecords, filepath.Join(logDir, "tetragon.log"))
	e.runJob(t, jobspec)
	if err := wait.Holds(5*time.Second, time.Second, func() (bool, error) {
		n := len(e.records(t))
		return n == 0, fmt.Errorf("receiver is down but %d records exist", n)
	}); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	e.startReceiver()
	e.waitRecords(t, policies, 1, 3*time.Minute)
	t.Logf("buffered records arrived %s after the receiver came back", time.Since(back).Round(time.Second))
}

// agentRestart: the Nomad agent stops, the job's containers are removed
// while it is down, the agent starts again: the job must come back.
func (e *fpEnv) agentRestart(t *testing.T) {
	before := e.allocs(t)
	if len(before) == 0 {
		t.Fatal("no allocation before the restart")
	}
	oldID := strings.TrimSpace(e.tg.must(t, "docker", "inspect", "-f", "{{.Id}}", "tetragon-"+before[0].ID))
	e.tg.sh(t, `systemctl stop nomad; docker rm -f $(docker ps -aq) >/dev/null; systemctl start nomad`)
	e.waitNodeReady()
	a := e.waitHealthy(t, 3*time.Minute)
	newID := strings.TrimSpace(e.tg.must(t, "docker", "inspect", "-f", "{{.Id}}", "tetragon-"+a.ID))
	if newID == oldID {
		t.Errorf("tetragon container %s is the one removed before the restart", newID)
	}
	t.Logf("after the agent restart: allocation %s (before %s), new container %.12s", a.ID, before[0].ID, newID)
}
