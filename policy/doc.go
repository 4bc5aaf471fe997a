// Package policy lints Tetragon TracingPolicy files before anything is
// built, so a policy that would stop Tetragon from starting (one bad file in
// the policy directory aborts start on every node) or that would not do on
// Nomad what it says is caught at `packer validate` time.
//
// Each file is checked as Tetragon v1.7.0 loads it from --tracing-policy-dir:
// YAML syntax, one document per file, apiVersion and kind, the TracingPolicy
// JSON Schema generated from Tetragon's CRD with unknown fields rejected
// (package schema), metadata.name as a DNS subdomain, and the checks Tetragon
// makes when it builds its BPF selectors (address syntax, argument indexes
// and types, limits, options). Then come the rules that matter on Nomad:
// Kubernetes-only features, unresolved placeholders, enforcement that would
// also hit the host's daemons, egress rules checked against the Docker and
// Nomad bridges and the VPC (Network), and Override's kernel requirements.
// The full list is Rules; rule IDs are stable.
//
// Callers lint the whole set that will share one policy directory at once
// (the selected library policies from policy/library plus the user's files),
// because duplicate names are a set-level error:
//
//	rep, err := policy.LintWith(files, policy.Options{Network: nw})
//	if rep.HasErrors() { /* stop, print rep.Findings */ }
//	// otherwise print the warnings; rep.Policies feeds the kernel preflight.
//
// Linting is pure: bytes in, findings out, no I/O. The embedded schema is
// compiled once per process (about 50 ms).
package policy
