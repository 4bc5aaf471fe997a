package policy

// Rule identifiers. They appear in findings and are stable: CI configs and
// tests match on them.
const (
	// File and document shape.
	RuleYAML          = "yaml"           // YAML syntax error
	RuleEmpty         = "empty"          // file or document has no policy
	RuleMultiDocument = "multi-document" // Tetragon reads only the first document of a file
	RuleAPIVersion    = "api-version"    // apiVersion is not cilium.io/v1alpha1
	RuleKind          = "kind"           // kind is not TracingPolicy
	RuleDuplicateKey  = "duplicate-key"  // a mapping repeats a key

	// Schema of the pinned Tetragon version.
	RuleUnknownField = "schema-unknown-field"
	RuleEnum         = "schema-enum"
	RuleType         = "schema-type"
	RuleRequired     = "schema-required"
	RuleSchema       = "schema" // any other schema constraint

	// What Tetragon checks when it loads the policy, and the rules that only
	// matter outside Kubernetes.
	RuleName              = "name"               // metadata.name missing or not a DNS subdomain
	RuleDuplicateName     = "duplicate-name"     // two documents in the set share metadata.name
	RuleNamespacedKind    = "namespaced-kind"    // TracingPolicyNamespaced: no namespaces outside Kubernetes
	RulePodSelector       = "pod-selector"       // spec.podSelector: no pods outside Kubernetes
	RuleContainerSelector = "container-selector" // spec.containerSelector: no pods outside Kubernetes
	RuleHostSelector      = "host-selector"      // spec.hostSelector with labels: Tetragon refuses it
	RulePlaceholder       = "placeholder"        // an unresolved ${...} or {{...}} template placeholder
	RuleAddress           = "address"            // an IP or CIDR in an address operator does not parse
	RuleNamespaceValue    = "namespace-value"    // matchNamespaces value not numeric or host_ns
	RuleArgIndex          = "arg-index"          // matchArgs refers to an argument the hook does not declare
	RuleOperatorArgType   = "operator-arg-type"  // socket operator on a non-socket argument
	RuleSelectorLimit     = "selector-limit"     // more selectors/filters/actions than Tetragon supports
	RuleOverrideTarget    = "override-target"    // Override on a function that is neither a syscall nor security_*
	RuleListRef           = "list-ref"           // call: list:NAME without a spec.lists entry NAME
	RuleOption            = "option"             // spec.options value Tetragon cannot parse
	RuleReturnArgAction   = "return-arg-action"  // returnArgAction other than TrackSock/UntrackSock
	RuleReturnArg         = "return-arg"         // return: true without returnArg
	RuleUprobeTarget      = "uprobe-target"      // uprobe without symbols/offsets/addrs, or mismatched refCtrOffsets
	RuleListArgType       = "list-arg-type"      // list:NAME value on a non-syscall64 argument or a non-syscall list

	// Warnings: the policy loads, but probably does not do what was meant.
	RuleEqualBinaryPath     = "equal-binary-path"    // Equal on an executable path: a copy bypasses it
	RuleUnscopedEnforcement = "unscoped-enforcement" // Sigkill/Override/Signal that also hits host daemons
	RuleEgressSourceVPC     = "egress-source-vpc"    // egress source CIDR overlaps the VPC: hits the host
	RuleEgressSourceBridge  = "egress-source-bridge" // egress source CIDR outside the container bridges
	RuleEgressExceptions    = "egress-exceptions"    // egress block without loopback/metadata exceptions
	RuleEgressV4Mapped      = "egress-v4-mapped"     // IPv4 egress source without its ::ffff: form: AF_INET6 sockets bypass it
	RuleFollowForks         = "follow-forks"         // matchPIDs without followForks: children escape
	RuleOverride            = "override"             // Override needs kernel support the VM may lack
	RuleParentsMap          = "parents-map"          // matchParentBinaries needs --parents-map-enabled
	RuleUnknownOption       = "option-unknown"       // spec.options name Tetragon ignores
	RuleDeprecated          = "deprecated"           // FollowFD/UnfollowFD/CopyFD, argFd, argName
)

// RuleInfo documents one rule.
type RuleInfo struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary"`
}

// Rules lists every rule the linter can report, in a stable order.
var Rules = []RuleInfo{
	{RuleYAML, SeverityError, "YAML syntax error; Tetragon aborts start on it"},
	{RuleEmpty, SeverityError, "file has no policy document"},
	{RuleMultiDocument, SeverityError, "more than one YAML document; Tetragon loads only the first"},
	{RuleAPIVersion, SeverityError, "apiVersion must be cilium.io/v1alpha1"},
	{RuleKind, SeverityError, "kind must be TracingPolicy"},
	{RuleDuplicateKey, SeverityError, "a mapping repeats a key; Tetragon's strict decoder rejects it"},
	{RuleUnknownField, SeverityError, "field not in the TracingPolicy schema of the pinned Tetragon version"},
	{RuleEnum, SeverityError, "value not allowed by the schema"},
	{RuleType, SeverityError, "value has the wrong type"},
	{RuleRequired, SeverityError, "required field missing"},
	{RuleSchema, SeverityError, "other schema constraint violated"},
	{RuleName, SeverityError, "metadata.name missing or not a DNS subdomain"},
	{RuleDuplicateName, SeverityError, "metadata.name used by another policy in the set"},
	{RuleNamespacedKind, SeverityError, "TracingPolicyNamespaced needs the policy filter; Tetragon refuses it outside Kubernetes"},
	{RulePodSelector, SeverityError, "spec.podSelector needs the policy filter (Kubernetes); Tetragon refuses it on Nomad"},
	{RuleContainerSelector, SeverityError, "spec.containerSelector needs the policy filter (Kubernetes); Tetragon refuses it on Nomad"},
	{RuleHostSelector, SeverityError, "spec.hostSelector: labels are refused, and {} alone needs the policy filter"},
	{RulePlaceholder, SeverityError, "unresolved template placeholder"},
	{RuleAddress, SeverityError, "IP address or CIDR does not parse"},
	{RuleNamespaceValue, SeverityError, "matchNamespaces values must be numeric inode numbers or host_ns (at most 4)"},
	{RuleArgIndex, SeverityError, "matchArgs index not declared in the hook's args"},
	{RuleOperatorArgType, SeverityError, "address/port operator on an argument that is not a socket"},
	{RuleSelectorLimit, SeverityError, "more selectors, filters or actions than Tetragon supports"},
	{RuleOverrideTarget, SeverityError, "Override only works on syscalls and security_* functions"},
	{RuleListRef, SeverityError, "call refers to an undefined spec.lists entry"},
	{RuleOption, SeverityError, "spec.options value Tetragon cannot parse"},
	{RuleReturnArgAction, SeverityError, "returnArgAction other than TrackSock/UntrackSock; Tetragon refuses the policy"},
	{RuleReturnArg, SeverityError, "return: true without returnArg (and its type); Tetragon refuses the policy"},
	{RuleUprobeTarget, SeverityError, "uprobe without symbols, offsets or addrs, or refCtrOffsets of another length"},
	{RuleListArgType, SeverityError, "list:NAME argument value needs a syscalls list and a syscall64 argument"},
	{RuleEqualBinaryPath, SeverityWarning, "Equal on an executable path; a copy elsewhere bypasses it"},
	{RuleUnscopedEnforcement, SeverityWarning, "enforcement without binary/namespace/source scoping also hits the host's daemons"},
	{RuleEgressSourceVPC, SeverityWarning, "egress source range overlaps the VPC, so it matches the host itself"},
	{RuleEgressSourceBridge, SeverityWarning, "egress source range is outside the Docker and Nomad bridges"},
	{RuleEgressExceptions, SeverityWarning, "egress block does not exempt loopback or the metadata server"},
	{RuleEgressV4Mapped, SeverityWarning, "IPv4 egress source without its v4-mapped ::ffff: form; IPv4 over AF_INET6 sockets bypasses it"},
	{RuleFollowForks, SeverityWarning, "matchPIDs without followForks: true misses the process's children"},
	{RuleOverride, SeverityWarning, "Override needs kernel support (CONFIG_BPF_KPROBE_OVERRIDE or fmod_ret)"},
	{RuleParentsMap, SeverityWarning, "matchParentBinaries needs Tetragon's --parents-map-enabled flag"},
	{RuleUnknownOption, SeverityWarning, "spec.options name that Tetragon ignores"},
	{RuleDeprecated, SeverityWarning, "deprecated in Tetragon v1.7.0 and removed later: FollowFD, UnfollowFD, CopyFD, argFd, argName"},
}

var severities = func() map[string]Severity {
	m := make(map[string]Severity, len(Rules))
	for _, r := range Rules {
		m[r.ID] = r.Severity
	}
	return m
}()

// severityOf is the severity Rules declares for id. A rule missing from the
// table is a programming error, caught by TestEveryRuleConstInTable.
func severityOf(id string) Severity {
	s, ok := severities[id]
	if !ok {
		panic("policy: rule " + id + " is not in Rules")
	}
	return s
}
