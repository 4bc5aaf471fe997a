package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/hashicorp/nomad/api"

	"github.com/tetranomad/packer-plugin-tetranomad/jobs"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

// workers bounds the per-node and per-allocation requests in flight, so a
// fleet of hundreds costs seconds without flooding the servers.
const workers = 8

// Collect reads the snapshot from Nomad's HTTP API: the job and its
// versions, its allocations and latest deployment, every client node, and
// the checks of every running allocation. It only reads.
func Collect(ctx context.Context, c *api.Client, jobID, namespace string) (Snapshot, error) {
	q := (&api.QueryOptions{Namespace: namespace}).WithContext(ctx)
	s := Snapshot{JobID: jobID, Namespace: namespace, Versions: map[uint64]JobVersion{}}

	job, _, err := c.Jobs().Info(jobID, q)
	switch {
	case notFound(err):
	case err != nil:
		return s, fmt.Errorf("reading job %q: %w", jobID, err)
	default:
		s.Job = jobOf(job)
		versions, _, _, err := c.Jobs().Versions(jobID, false, q)
		if err != nil {
			return s, fmt.Errorf("reading the versions of job %q: %w", jobID, err)
		}
		for _, v := range versions {
			if v.Version != nil {
				s.Versions[*v.Version] = versionOf(v.Meta)
			}
		}
		if d, _, err := c.Jobs().LatestDeployment(jobID, q); err != nil {
			return s, fmt.Errorf("reading the deployment of job %q: %w", jobID, err)
		} else if d != nil {
			s.Deployment = deploymentOf(d)
		}
	}

	stubs, _, err := c.Nodes().List(q)
	if err != nil {
		return s, fmt.Errorf("listing client nodes: %w", err)
	}
	s.Nodes = make([]Node, len(stubs))
	index := map[string]int{}
	if err := parallel(len(stubs), func(i int) error {
		n, _, err := c.Nodes().Info(stubs[i].ID, q)
		if err != nil {
			return fmt.Errorf("reading node %s: %w", stubs[i].Name, err)
		}
		s.Nodes[i] = nodeOf(n)
		return nil
	}); err != nil {
		return s, err
	}
	for i, n := range s.Nodes {
		index[n.ID] = i
	}

	if s.Job == nil {
		return s, nil
	}
	stubsA, _, err := c.Jobs().Allocations(jobID, false, q)
	if err != nil {
		return s, fmt.Errorf("listing the allocations of job %q: %w", jobID, err)
	}
	allocs := make([]Alloc, len(stubsA))
	if err := parallel(len(stubsA), func(i int) error {
		allocs[i] = allocOf(stubsA[i])
		if stubsA[i].ClientStatus != "running" {
			return nil
		}
		checks, err := c.Allocations().Checks(stubsA[i].ID, q)
		if err != nil {
			// The client is unreachable from the servers: its checks are
			// unknown, which is not healthy.
			allocs[i].Checks = []Check{{Name: "(all)", Status: "unknown", Output: err.Error()}}
			return nil
		}
		allocs[i].Checks = checksOf(checks)
		return nil
	}); err != nil {
		return s, err
	}
	for i, a := range stubsA {
		if at, ok := index[a.NodeID]; ok {
			s.Nodes[at].Allocs = append(s.Nodes[at].Allocs, allocs[i])
		}
	}
	return s, nil
}

func notFound(err error) bool {
	var ue api.UnexpectedResponseError
	return errors.As(err, &ue) && ue.StatusCode() == http.StatusNotFound
}

func parallel(n int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func jobOf(j *api.Job) *Job {
	out := &Job{
		ID: deref(j.ID), Namespace: deref(j.Namespace), Version: deref(j.Version), Status: deref(j.Status),
		Stable: deref(j.Stable), Stopped: deref(j.Stop), Datacenters: j.Datacenters, NodePool: deref(j.NodePool),
		JobVersion: versionOf(j.Meta),
	}
	return out
}

func versionOf(meta map[string]string) JobVersion {
	return JobVersion{Bundle: meta[jobs.BundleMetaKey], Contract: meta[model.ContractMetaKey], PolicyMode: meta[jobs.PolicyModeMetaKey]}
}

func deploymentOf(d *api.Deployment) *Deployment {
	out := &Deployment{ID: d.ID, JobVersion: d.JobVersion, Status: d.Status, StatusDescription: d.StatusDescription}
	for _, tg := range d.TaskGroups {
		if tg == nil {
			continue
		}
		out.DesiredCanaries += tg.DesiredCanaries
		out.PlacedCanaries += len(tg.PlacedCanaries)
		out.Promoted = out.Promoted || tg.Promoted
		out.DesiredTotal += tg.DesiredTotal
		out.PlacedAllocs += tg.PlacedAllocs
		out.HealthyAllocs += tg.HealthyAllocs
		out.UnhealthyAllocs += tg.UnhealthyAllocs
	}
	return out
}

func nodeOf(n *api.Node) Node {
	out := Node{
		ID: n.ID, Name: n.Name, Datacenter: n.Datacenter, NodePool: n.NodePool, Status: n.Status,
		SchedulingEligibility: n.SchedulingEligibility, Drain: n.Drain, Contract: n.Meta[model.ContractMetaKey],
	}
	if d := n.Drivers["docker"]; d != nil {
		out.Docker = Docker{Detected: d.Detected, Healthy: d.Healthy, Health: d.HealthDescription}
	}
	out.Docker.Privileged = n.Attributes["driver.docker.privileged.enabled"] == "true"
	return out
}

func allocOf(a *api.AllocationListStub) Alloc {
	out := Alloc{ID: a.ID, JobVersion: a.JobVersion, ClientStatus: a.ClientStatus, DesiredStatus: a.DesiredStatus, CreateIndex: a.CreateIndex}
	for name, ts := range a.TaskStates {
		if ts == nil {
			continue
		}
		out.Restarts += ts.Restarts
		if name == jobs.TetragonTask {
			out.TaskState = ts.State
		}
	}
	if ds := a.DeploymentStatus; ds != nil {
		out.Healthy, out.Canary = ds.Healthy, ds.Canary
	}
	return out
}

func checksOf(cs api.AllocCheckStatuses) []Check {
	out := make([]Check, 0, len(cs))
	for _, c := range cs {
		out = append(out, Check{Name: c.Check, Status: c.Status, Output: c.Output})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
