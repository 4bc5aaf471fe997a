package fleet

import (
	"bytes"
	"strings"
	"testing"
)

// Cases the recordings do not cover: the snapshots are written by hand,
// with the values the API returns (see collect.go for where each comes from).
func snapshot() Snapshot {
	healthy := true
	job := &Job{ID: "tetragon", Namespace: "default", Version: 4, Status: "running", Datacenters: []string{"eu-*"}, NodePool: "all",
		JobVersion: JobVersion{Bundle: "b-monitor", Contract: "k1", PolicyMode: "monitor"}}
	docker := Docker{Detected: true, Healthy: true, Privileged: true}
	node := func(name string, allocs ...Alloc) Node {
		return Node{ID: name + "-id", Name: name, Datacenter: "eu-west1", NodePool: "default", Status: "ready",
			SchedulingEligibility: "eligible", Contract: "k1", Docker: docker, Allocs: allocs}
	}
	running := func(id string, version uint64) Alloc {
		return Alloc{ID: id, JobVersion: version, ClientStatus: "running", TaskState: "running", CreateIndex: uint64(len(id)) + version}
	}
	canary := running("canary-alloc", 4)
	canary.Canary, canary.Healthy = true, &healthy
	crashing := running("crash-alloc", 4)
	crashing.TaskState, crashing.Restarts = "pending", 7
	failing := running("check-alloc", 4)
	failing.Checks = []Check{{Name: "health", Status: "failure", Output: "connection refused"}, {Name: "metrics", Status: "success"}}
	old := running("old-alloc", 3)
	drained := node("drained", running("x", 4))
	drained.Drain = true
	elsewhere := node("us-node")
	elsewhere.Datacenter = "us-east1"
	return Snapshot{
		Job: job, JobID: "tetragon", Namespace: "default",
		Versions: map[uint64]JobVersion{3: {Bundle: "b-enforce", Contract: "k1", PolicyMode: "enforce"}, 4: job.JobVersion},
		Deployment: &Deployment{ID: "0123456789abcdef", JobVersion: 4, Status: "running", DesiredCanaries: 1, PlacedCanaries: 1,
			DesiredTotal: 5, HealthyAllocs: 1, StatusDescription: "Deployment is running but requires manual promotion"},
		Nodes: []Node{
			node("canary", old, canary),
			node("crashing", crashing),
			node("failing-check", failing),
			node("not-yet", old),
			drained, elsewhere,
		},
	}
}

func TestEvaluateCanaryCrashLoopChecksAndEligibility(t *testing.T) {
	r := Evaluate(snapshot(), Expected{})
	got := map[string]string{}
	for _, n := range r.Nodes {
		got[n.Name] = strings.Join(n.Problems, "; ")
		if !n.Eligible {
			got[n.Name] = "not eligible: " + n.NotEligible
		}
	}
	want := map[string]string{
		"canary":        "",
		"crashing":      "task tetragon is pending after 7 restart(s)",
		"failing-check": "check health: failure",
		"not-yet":       "runs bundle b-enforce, expected b-monitor",
		"drained":       "not eligible: draining",
		"us-node":       "not eligible: datacenter us-east1 not targeted",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
	if r.Expected.Source != "job" || r.Expected.Bundle != "b-monitor" {
		t.Errorf("without a bundle the job's own is expected: %+v", r.Expected)
	}
	if r.Summary.OK || r.Summary.Protected != 1 || r.Summary.Eligible != 4 {
		t.Errorf("summary %+v", r.Summary)
	}

	var b bytes.Buffer
	if err := Table(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"Deployment 01234567 (job version 4): running, canaries 1/1 placed, not promoted, 1/5 healthy",
		"promote when the canaries look right: nomad deployment promote 0123456789abcdef",
		"canary-a running canary",
		"not eligible: drained, us-node",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}

func TestEvaluateWithoutJobOrBundle(t *testing.T) {
	s := snapshot()
	s.Job, s.Deployment = nil, nil
	for i := range s.Nodes {
		s.Nodes[i].Allocs = nil
	}
	r := Evaluate(s, Expected{})
	if r.Summary.OK || r.Summary.Protected != 0 {
		t.Errorf("summary %+v", r.Summary)
	}
	if p := r.Nodes[0].Problems; len(p) != 1 || p[0] != `no Tetragon allocation: job "tetragon" is not registered in namespace "default"` {
		t.Errorf("problems %q", p)
	}
}

func TestNoEligibleClientIsNotOK(t *testing.T) {
	r := Evaluate(Snapshot{JobID: "tetragon", Namespace: "default"}, Expected{Bundle: "b"})
	if r.Summary.OK {
		t.Error("a fleet without eligible clients must not pass a monitoring probe")
	}
	if got := SummaryLine(r); !strings.HasPrefix(got, "NOT PROTECTED: no eligible client among 0") {
		t.Errorf("summary line %q", got)
	}
}
