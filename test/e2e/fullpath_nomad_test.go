//go:build e2e

package e2e

// Talking to the target's Nomad agent, for the whole-path test.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/test/e2e/wait"
)

func (e *fpEnv) nomadCmd(ctx context.Context, args ...string) (string, error) {
	return e.tg.exec(ctx, append([]string{"env", "NOMAD_ADDR=" + e.addr, "nomad"}, args...)...)
}

func (e *fpEnv) api(t *testing.T, path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := e.tg.exec(ctx, "nomad", "operator", "api", "-address="+e.addr, path)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), v)
}

func (e *fpEnv) waitNodeReady() {
	t := e.t
	err := wait.For(2*time.Minute, 2*time.Second, func() (bool, error) {
		var nodes []struct {
			Status  string
			Drivers map[string]struct{ Healthy bool }
		}
		if err := e.api(t, "/v1/nodes?resources=false", &nodes); err != nil {
			return false, err
		}
		return len(nodes) == 1 && nodes[0].Status == "ready", fmt.Errorf("nodes %+v", nodes)
	})
	if err != nil {
		t.Fatalf("nomad node not ready: %v\n%s", err, e.tg.sh(t, "journalctl -u nomad --no-pager -n 40 || true"))
	}
}

// fetchPublishedJobspec reads latest.json and the jobspec it names from
// inside the target, over the same http the artifacts use.
func (e *fpEnv) fetchPublishedJobspec() (path, bundleID string) {
	t := e.t
	base := "http://" + e.gcs.host + "/" + fpBucket + "/"
	var ptr struct {
		BundleID      string `json:"bundle_id"`
		JobspecObject string `json:"jobspec_object"`
		JobspecURL    string `json:"jobspec_url"`
	}
	if err := json.Unmarshal([]byte(e.tg.must(t, "curl", "-fsS", base+fpPrefix+"/latest.json")), &ptr); err != nil {
		t.Fatalf("latest.json: %v", err)
	}
	if ptr.JobspecURL != base+ptr.JobspecObject {
		t.Errorf("latest.json jobspec_url %q is not the download base + object %q", ptr.JobspecURL, ptr.JobspecObject)
	}
	path = "/root/tetragon-" + ptr.BundleID + ".nomad.hcl"
	e.tg.must(t, "curl", "-fsS", "-o", path, ptr.JobspecURL)
	return path, ptr.BundleID
}

type allocInfo struct {
	ID               string
	ClientStatus     string
	DeploymentStatus *struct{ Healthy *bool }
	TaskStates       map[string]struct {
		State  string
		Events []struct {
			Type, DisplayMessage string
			Details              map[string]string
		}
	}
	CreateIndex uint64
}

func (e *fpEnv) allocs(t *testing.T) []allocInfo {
	var list []allocInfo
	if err := e.api(t, "/v1/job/tetragon/allocations", &list); err != nil {
		t.Logf("allocations: %v", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].CreateIndex > list[j].CreateIndex })
	return list
}

func (e *fpEnv) runJob(t *testing.T, jobspec string) allocInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := e.nomadCmd(ctx, "job", "run", "-detach", jobspec); err != nil {
		t.Fatalf("nomad job run %s: %v\n%s", jobspec, err, out)
	}
	return e.waitHealthy(t, 3*time.Minute)
}

// waitHealthy waits for the newest allocation to run with both tasks up and
// every Nomad service check passing.
func (e *fpEnv) waitHealthy(t *testing.T, limit time.Duration) allocInfo {
	t.Helper()
	var last allocInfo
	var checks map[string]struct{ Status, Output string }
	err := wait.For(limit, 3*time.Second, func() (bool, error) {
		list := e.allocs(t)
		if len(list) == 0 {
			return false, errors.New("no allocation")
		}
		last = list[0]
		if last.ClientStatus != "running" || last.TaskStates["tetragon"].State != "running" || last.TaskStates["export"].State != "running" {
			return false, nil
		}
		checks = nil
		if err := e.api(t, "/v1/client/allocation/"+last.ID+"/checks", &checks); err != nil {
			return false, err
		}
		return len(checks) == 2 && allPass(checks), nil
	})
	if err != nil {
		t.Fatalf("allocation not running and healthy (%v): status %q checks %+v tasks %s\n%s", err, last.ClientStatus, checks, taskEvents(last),
			e.tg.sh(t, "journalctl -u nomad --no-pager -n 30 || true; docker ps -a || true"))
	}
	return last
}

func allPass(checks map[string]struct{ Status, Output string }) bool {
	for _, c := range checks {
		if c.Status != "success" {
			return false
		}
	}
	return true
}

func taskEvents(a allocInfo) string {
	var b strings.Builder
	for name, ts := range a.TaskStates {
		fmt.Fprintf(&b, "\n  %s (%s):", name, ts.State)
		for _, ev := range ts.Events {
			fmt.Fprintf(&b, "\n    %s: %s", ev.Type, ev.DisplayMessage)
		}
	}
	return b.String()
}

func (e *fpEnv) stopJob(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := e.nomadCmd(ctx, "job", "stop", "-purge", "tetragon"); err != nil && !strings.Contains(err.Error(), "No job(s)") {
		t.Fatalf("nomad job stop: %v\n%s", err, out)
	}
	// The containers are gone before the next run starts, or the stub's
	// files would be written by two of them.
	err := wait.For(90*time.Second, time.Second, func() (bool, error) {
		return strings.TrimSpace(e.tg.must(t, "docker", "ps", "-q")) == "", nil
	})
	if err != nil {
		t.Fatalf("containers still running after nomad job stop (%v):\n%s", err, e.tg.must(t, "docker", "ps"))
	}
}
