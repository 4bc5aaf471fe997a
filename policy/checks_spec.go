package policy

// Spec-level rules: Kubernetes-only selectors, options, and the walk over the hooks.

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

func (d *docLinter) checkSpec() {
	spec := mapValue(d.root, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		return
	}
	d.checkPolicyFilter(spec)
	d.checkOptions(spec)

	lists := map[string]*yaml.Node{}
	d.lists = lists
	for _, l := range seqItems(mapValue(spec, "lists")) {
		if name, ok := scalarString(mapValue(l, "name")); ok {
			lists[name] = l
		}
	}

	for _, section := range []string{"kprobes", "fentries", "lsmhooks", "uprobes", "tracepoints", "usdts"} {
		for i, hn := range seqItems(mapValue(spec, section)) {
			if hn.Kind != yaml.MappingNode {
				continue
			}
			h := &hook{section: section, index: i, node: hn}
			d.describeHook(h, lists)
			d.checkHookSpec(h)
			d.checkSelectors(h)
		}
	}
	for _, e := range seqItems(mapValue(spec, "enforcers")) {
		for _, c := range seqItems(mapValue(e, "calls")) {
			if s, ok := scalarString(c); ok && !d.placeholders[c] {
				d.addSymbol(s)
			}
		}
	}
}

func mappingLen(n *yaml.Node) int {
	if n == nil || n.Kind != yaml.MappingNode {
		return 0
	}
	return len(n.Content) / 2
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// checkOptions checks spec.options against the names Tetragon v1.7.0 knows
// (pkg/sensors/tracing/options.go).
func (d *docLinter) checkOptions(spec *yaml.Node) {
	for _, o := range seqItems(mapValue(spec, "options")) {
		nameNode := mapValue(o, "name")
		name, ok := scalarString(nameNode)
		if !ok {
			continue
		}
		vk, vn := mapGet(o, "value")
		val, _ := scalarString(vn)
		at := deref(vn)
		if vk == nil {
			at = o
		}
		valid := true
		want := ""
		switch name {
		case "disable-kprobe-multi", "disable-uprobe-multi":
			_, err := strconv.ParseBool(val)
			valid, want = err == nil, `"true" or "false"`
		case "override-method":
			valid, want = val == "fmod-ret" || val == "override-return", `"fmod-ret" or "override-return"`
		case "policy-mode":
			valid, want = val == "enforce" || val == "monitor", `"enforce" or "monitor"`
		default:
			d.add(nameNode, RuleUnknownOption, fmt.Sprintf("spec.options name %q is not an option Tetragon knows; it is ignored", name),
				"known: disable-kprobe-multi, disable-uprobe-multi, override-method, policy-mode")
			continue
		}
		if !valid && !d.placeholders[at] {
			d.add(at, RuleOption, fmt.Sprintf("spec.options %s: value %q is invalid; Tetragon fails to load the policy", name, val),
				"use "+want)
		}
	}
}
