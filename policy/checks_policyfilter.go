package policy

// Policy filter: the pod, container and host selectors. Tetragon applies
// them with its policy filter, which runs only on Kubernetes
// (--enable-policy-filter); without it any policy that needs filtering is
// refused and the agent exits.

import "gopkg.in/yaml.v3"

// policyFilterDisabled is the agent's error (cilium/tetragon@v1.7.0:
// pkg/policyfilter/disabled.go:26).
const policyFilterDisabled = "policyfilter is disabled"

// checkPolicyFilter mirrors updatePolicyFilter (cilium/tetragon@v1.7.0:
// pkg/sensors/k8s.go:24-90): a policy loads without the filter only when
// pod, container and host selectors are all null, or all {}; a null pod or
// container selector becomes {} when the other one is set.
func (d *docLinter) checkPolicyFilter(spec *yaml.Node) {
	type sel struct {
		key  *yaml.Node
		val  *yaml.Node
		set  bool // not null
		any  bool // {} (no labels or expressions)
		rule string
	}
	get := func(name, rule string) sel {
		k, v := mapGet(spec, name)
		s := sel{key: k, val: v, rule: rule, set: k != nil && !isNull(v)}
		s.any = s.set && mappingLen(mapValue(v, "matchLabels"))+len(seqItems(mapValue(v, "matchExpressions"))) == 0
		return s
	}
	pod := get("podSelector", RulePodSelector)
	ctr := get("containerSelector", RuleContainerSelector)
	host := get("hostSelector", RuleHostSelector)

	// pkg/sensors/k8s.go:35: labels on hosts are refused outright.
	if host.set && !host.any {
		d.add(host.key, RuleHostSelector,
			"spec.hostSelector does not support arbitrary labels. Only null (default) and {} (all) is supported for now",
			"remove the labels")
		return
	}
	// pkg/sensors/k8s.go:41-48: each of pod and container selector implies
	// the other as {}.
	if pod.set && !ctr.set {
		ctr.set, ctr.any = true, true
	}
	if ctr.set && !pod.set {
		pod.set, pod.any = true, true
	}
	matchAll := pod.any && ctr.any && host.any
	matchNothing := !pod.set && !ctr.set && !host.set
	if matchAll || matchNothing {
		return
	}
	hint := "remove it and scope with matchNamespaces (e.g. Pid NotIn host_ns for containers) or matchBinaries"
	for _, s := range []sel{pod, ctr} {
		if s.key != nil && s.set {
			d.add(s.key, s.rule,
				"spec."+s.key.Value+" needs Tetragon's policy filter, which runs only on Kubernetes; the agent refuses the policy (\""+policyFilterDisabled+"\") and exits",
				hint)
		}
	}
	if host.set && !pod.set {
		d.add(host.key, RuleHostSelector,
			"spec.hostSelector: {} alone needs Tetragon's policy filter, which runs only on Kubernetes; the agent refuses the policy (\""+policyFilterDisabled+"\") and exits",
			"remove spec.hostSelector: without it the policy already applies to the whole host")
	}
}
