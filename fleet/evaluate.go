package fleet

import (
	"fmt"
	"path"
	"sort"

	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

// Report is a judged snapshot: what status prints.
type Report struct {
	JobID      string       `json:"job_id"`
	Namespace  string       `json:"namespace"`
	Job        *Job         `json:"job"`
	Expected   Expected     `json:"expected"`
	Deployment *Deployment  `json:"deployment"`
	Nodes      []NodeStatus `json:"nodes"`
	Summary    Summary      `json:"summary"`
}

// NodeStatus is one client node judged against the expected bundle.
type NodeStatus struct {
	Node
	Eligible bool `json:"eligible"`
	// NotEligible says why a node is not counted: down, ineligible,
	// draining, or outside the job's node pool or datacenters.
	NotEligible     string `json:"not_eligible,omitempty"`
	ContractMatches bool   `json:"contract_matches"`
	// Alloc is the node's current Tetragon allocation; nil when it has none.
	Alloc *Alloc `json:"allocation"`
	// Bundle and PolicyMode are what Alloc runs (its job version's meta).
	Bundle     string `json:"bundle"`
	PolicyMode string `json:"policy_mode"`
	Protected  bool   `json:"protected"`
	// Problems say why an eligible node is not protected, most basic first.
	Problems []string `json:"problems"`
	// Strands: the node runs Tetragon now, but its contract is not the
	// expected bundle's, so running that bundle's job stops Tetragon here.
	Strands bool `json:"strands"`
}

// Summary counts the nodes.
type Summary struct {
	Clients     int      `json:"clients"`
	Eligible    int      `json:"eligible"`
	Protected   int      `json:"protected"`
	Unprotected []string `json:"unprotected"`
	NotEligible []string `json:"not_eligible"`
	Stranded    []string `json:"stranded"`
	// OK: at least one eligible client and every one of them protected.
	OK bool `json:"ok"`
}

// Evaluate judges s against want. An empty want.Bundle means the registered
// job's own bundle.
func Evaluate(s Snapshot, want Expected) Report {
	if want.Bundle == "" && s.Job != nil {
		want = Expected{Bundle: s.Job.Bundle, Contract: s.Job.Contract, PolicyMode: s.Job.PolicyMode, Source: "job", JobID: s.Job.ID, Namespace: s.Job.Namespace}
	}
	r := Report{JobID: s.JobID, Namespace: s.Namespace, Job: s.Job, Expected: want, Deployment: s.Deployment,
		Nodes: []NodeStatus{}, Summary: Summary{Unprotected: []string{}, NotEligible: []string{}, Stranded: []string{}}}
	// A bundle for another job ID runs beside this one and stops nothing.
	sameJob := want.JobID == "" || want.JobID == s.JobID
	for _, n := range s.Nodes {
		ns := judge(s, n, want, sameJob)
		r.Nodes = append(r.Nodes, ns)
		r.Summary.Clients++
		switch {
		case !ns.Eligible:
			r.Summary.NotEligible = append(r.Summary.NotEligible, n.Name)
		case ns.Protected:
			r.Summary.Eligible++
			r.Summary.Protected++
		default:
			r.Summary.Eligible++
			r.Summary.Unprotected = append(r.Summary.Unprotected, n.Name)
		}
		if ns.Strands {
			r.Summary.Stranded = append(r.Summary.Stranded, n.Name)
		}
	}
	sort.Slice(r.Nodes, func(i, j int) bool {
		if r.Nodes[i].Name != r.Nodes[j].Name {
			return r.Nodes[i].Name < r.Nodes[j].Name
		}
		return r.Nodes[i].ID < r.Nodes[j].ID
	})
	for _, l := range [][]string{r.Summary.Unprotected, r.Summary.NotEligible, r.Summary.Stranded} {
		sort.Strings(l)
	}
	r.Summary.OK = r.Summary.Eligible > 0 && r.Summary.Protected == r.Summary.Eligible
	return r
}

func judge(s Snapshot, n Node, want Expected, sameJob bool) NodeStatus {
	ns := NodeStatus{Node: n, ContractMatches: want.Contract != "" && n.Contract == want.Contract, Problems: []string{}}
	ns.Alloc = current(n.Allocs)
	if ns.Alloc != nil {
		v := s.Versions[ns.Alloc.JobVersion]
		ns.Bundle, ns.PolicyMode = v.Bundle, v.PolicyMode
	}
	running := ns.Alloc != nil && ns.Alloc.ClientStatus == "running"
	ns.Strands = sameJob && running && want.Contract != "" && !ns.ContractMatches

	ns.NotEligible = notEligible(s.Job, n)
	ns.Eligible = ns.NotEligible == ""
	if !ns.Eligible {
		return ns
	}
	p := &ns.Problems
	switch {
	case want.Contract == "":
	case n.Contract == "":
		add(p, "no %s node meta: this client was not configured by tetranomad", model.ContractMetaKey)
	case n.Contract != want.Contract:
		add(p, "contract %s, the bundle needs %s: a client built from another declaration", n.Contract, want.Contract)
	}
	switch d := n.Docker; {
	case !d.Detected:
		add(p, "no Docker driver: Docker is not installed or not running")
	case !d.Healthy:
		add(p, "Docker driver unhealthy: %s", d.Health)
	case !d.Privileged:
		add(p, "Docker does not allow privileged containers (plugin \"docker\" allow_privileged)")
	}
	a := ns.Alloc
	switch {
	case a == nil:
		if want.Bundle == "" {
			add(p, "no Tetragon allocation: job %q is not registered in namespace %q", s.JobID, s.Namespace)
		} else {
			add(p, "no Tetragon allocation")
		}
		return ns
	case a.ClientStatus != "running":
		add(p, "allocation %s is %s", short(a.ID), a.ClientStatus)
	case a.TaskState != "running":
		add(p, "task tetragon is %s after %d restart(s)", orDash(a.TaskState), a.Restarts)
	}
	if want.Bundle != "" && ns.Bundle != want.Bundle {
		add(p, "runs bundle %s, expected %s", orDash(ns.Bundle), want.Bundle)
	} else if want.PolicyMode != "" && ns.PolicyMode != want.PolicyMode {
		add(p, "runs policy mode %s, expected %s", orDash(ns.PolicyMode), want.PolicyMode)
	}
	for _, c := range a.Checks {
		if c.Status != "success" {
			add(p, "check %s: %s", c.Name, c.Status)
		}
	}
	if a.Healthy != nil && !*a.Healthy {
		add(p, "deployment marked the allocation unhealthy")
	}
	ns.Protected = len(ns.Problems) == 0
	return ns
}

func add(p *[]string, format string, a ...any) { *p = append(*p, fmt.Sprintf(format, a...)) }

func notEligible(job *Job, n Node) string {
	switch {
	case n.Status != "ready":
		return n.Status
	case n.Drain:
		return "draining"
	case n.SchedulingEligibility != "eligible":
		return "ineligible"
	}
	if job == nil {
		return ""
	}
	if job.NodePool != "" && job.NodePool != "all" && job.NodePool != n.NodePool {
		return "node pool " + n.NodePool + " not targeted"
	}
	for _, dc := range job.Datacenters {
		if ok, _ := path.Match(dc, n.Datacenter); ok {
			return ""
		}
	}
	return "datacenter " + n.Datacenter + " not targeted"
}

// current picks the allocation that matters on a node: the newest one that
// is not terminal, else the newest.
func current(allocs []Alloc) *Alloc {
	var best *Alloc
	for i := range allocs {
		a := &allocs[i]
		live := a.ClientStatus == "running" || a.ClientStatus == "pending"
		switch {
		case best == nil:
			best = a
		case live && !isLive(best):
			best = a
		case live == isLive(best) && a.CreateIndex > best.CreateIndex:
			best = a
		}
	}
	return best
}

func isLive(a *Alloc) bool { return a.ClientStatus == "running" || a.ClientStatus == "pending" }

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
