// Package fleet answers "is every eligible Nomad client protected by the
// expected Tetragon bundle?". A Snapshot is what Nomad's API said (collected
// by Collect, the only I/O here besides loading a bundle to compare with);
// Evaluate judges it into a Report, which renders as a table or JSON. Pure
// judging and rendering are separate from the API calls so both are tested
// from recorded responses.
package fleet

// Snapshot is the part of Nomad's state that status judges.
type Snapshot struct {
	// Job is the Tetragon job as registered; nil when it is not.
	Job *Job `json:"job"`
	// JobID and Namespace are what was asked for, also when Job is nil.
	JobID     string `json:"job_id"`
	Namespace string `json:"namespace"`
	// Nodes are every client node, with their Tetragon allocations.
	Nodes []Node `json:"nodes"`
	// Deployment is the job's latest deployment; nil when there is none.
	Deployment *Deployment `json:"deployment,omitempty"`
	// Versions maps a job version to the bundle and mode it ran, from the
	// job's history (job meta), so each allocation names its bundle.
	Versions map[uint64]JobVersion `json:"-"`
}

// Job is the registered job's current version.
type Job struct {
	ID          string   `json:"id"`
	Namespace   string   `json:"namespace"`
	Version     uint64   `json:"version"`
	Status      string   `json:"status"`
	Stable      bool     `json:"stable"`
	Stopped     bool     `json:"stopped"`
	Datacenters []string `json:"datacenters"`
	NodePool    string   `json:"node_pool"`
	JobVersion
}

// JobVersion is what one version of the job ships, from its meta.
type JobVersion struct {
	Bundle     string `json:"bundle"`
	Contract   string `json:"contract"`
	PolicyMode string `json:"policy_mode"`
}

// Node is one client node.
type Node struct {
	ID                    string `json:"id"`
	Name                  string `json:"name"`
	Datacenter            string `json:"datacenter"`
	NodePool              string `json:"node_pool"`
	Status                string `json:"status"` // ready, down, initializing, disconnected
	SchedulingEligibility string `json:"scheduling_eligibility"`
	Drain                 bool   `json:"drain"`
	// Contract is the node meta tetranomad_contract; "" when absent.
	Contract string `json:"contract"`
	Docker   Docker `json:"docker"`
	// Allocs are the job's allocations on this node, newest first.
	Allocs []Alloc `json:"-"`
}

// Docker is the Docker driver as the node fingerprinted it.
type Docker struct {
	Detected   bool   `json:"detected"`
	Healthy    bool   `json:"healthy"`
	Privileged bool   `json:"privileged"` // driver.docker.privileged.enabled
	Health     string `json:"health,omitempty"`
}

// Alloc is one allocation of the job.
type Alloc struct {
	ID            string `json:"id"`
	JobVersion    uint64 `json:"job_version"`
	ClientStatus  string `json:"client_status"`
	DesiredStatus string `json:"desired_status"`
	// TaskState is the Tetragon task's state (pending, running, dead).
	TaskState string `json:"task_state"`
	Restarts  uint64 `json:"restarts"` // every task's restarts added up
	// Healthy is the deployment's verdict; nil while undecided or outside a deployment.
	Healthy     *bool   `json:"healthy"`
	Canary      bool    `json:"canary"`
	Checks      []Check `json:"checks"`
	CreateIndex uint64  `json:"-"`
}

// Check is one Nomad service check of the allocation.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // success, failure, pending
	Output string `json:"output,omitempty"`
}

// Deployment is the job's latest deployment.
type Deployment struct {
	ID                string `json:"id"`
	JobVersion        uint64 `json:"job_version"`
	Status            string `json:"status"`
	StatusDescription string `json:"status_description"`
	DesiredCanaries   int    `json:"desired_canaries"`
	PlacedCanaries    int    `json:"placed_canaries"`
	Promoted          bool   `json:"promoted"`
	DesiredTotal      int    `json:"desired_total"`
	PlacedAllocs      int    `json:"placed_allocs"`
	HealthyAllocs     int    `json:"healthy_allocs"`
	UnhealthyAllocs   int    `json:"unhealthy_allocs"`
}

// Expected is the bundle the fleet should run: the one given to status, or
// the registered job's own.
type Expected struct {
	Bundle     string `json:"bundle"`
	Contract   string `json:"contract"`
	PolicyMode string `json:"policy_mode"`
	// Source says where it came from: a directory, a URL, gs://…, or "job".
	Source string `json:"source"`
	// JobID and Namespace of the bundle's jobspec; empty when unknown.
	JobID     string `json:"job_id,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}
