package policy

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Tetragon's spec.options entry that switches a policy between enforcing
// and reporting (cilium/tetragon@v1.7.0: pkg/sensors/tracing/options.go
// keyPolicyMode; pkg/policyconf/policyconf.go ParseMode accepts "enforce"
// and "monitor").
const (
	PolicyModeOption = "policy-mode"
	ModeMonitor      = "monitor"
)

// Enforces reports whether a policy document's selectors take an enforcing
// action (Sigkill, Override, Signal, NotifyEnforcer) or it has enforcers.
func Enforces(doc *yaml.Node) bool {
	spec := mapValue(doc, "spec")
	if len(seqItems(mapValue(spec, "enforcers"))) > 0 {
		return true
	}
	return hasEnforcingAction(spec, 0)
}

func hasEnforcingAction(n *yaml.Node, depth int) bool {
	n = deref(n)
	if n == nil || depth > 32 {
		return false
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "matchActions" || k.Value == "matchReturnActions" {
				for _, a := range seqItems(v) {
					if act, _ := scalarString(mapValue(a, "action")); enforceActions[act] {
						return true
					}
				}
				continue
			}
			if hasEnforcingAction(v, depth+1) {
				return true
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if hasEnforcingAction(c, depth+1) {
				return true
			}
		}
	}
	return false
}

// SetMonitorMode rewrites every enforcing document of a policy file with
// spec.options policy-mode: monitor, replacing a policy-mode option already
// there, as Tetragon's own PolicyYAMLSetMode does
// (cilium/tetragon@v1.7.0: pkg/tracingpolicy/yaml.go). Kills and overrides
// then become events. A file with no enforcing document is returned as is
// (changed false). Run it on linted policies: findings name the lines the
// user wrote, not the rewritten ones.
func SetMonitorMode(data []byte) (out []byte, changed bool, err error) {
	docs, perr := parseDocuments(data)
	if perr != nil {
		return nil, false, fmt.Errorf("line %d: %s", perr.line, perr.msg)
	}
	if out, ok := appendOption(data, docs); ok {
		return out, true, nil
	}
	for _, doc := range docs {
		if !Enforces(doc) {
			continue
		}
		if err := setOption(mapValue(doc, "spec"), PolicyModeOption, ModeMonitor); err != nil {
			return nil, false, err
		}
		changed = true
	}
	if !changed {
		return data, false, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, doc := range docs {
		if err := enc.Encode(doc); err != nil {
			return nil, false, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}

func setOption(spec *yaml.Node, name, value string) error {
	if spec == nil || spec.Kind != yaml.MappingNode {
		return fmt.Errorf("spec is not a mapping")
	}
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{str("name"), str(name), str("value"), str(value)}}
	for i := 0; i+1 < len(spec.Content); i += 2 {
		if spec.Content[i].Value != "options" {
			continue
		}
		opts := spec.Content[i+1]
		if opts.Kind != yaml.SequenceNode {
			return fmt.Errorf("line %d: spec.options is not a list; write it as a list of name/value pairs", opts.Line)
		}
		kept := opts.Content[:0]
		for _, o := range opts.Content {
			if n, _ := scalarString(mapValue(o, "name")); n != name {
				kept = append(kept, o)
			}
		}
		opts.Content = append(kept, entry)
		opts.Style = 0
		return nil
	}
	spec.Content = append(spec.Content,
		str("options"),
		&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{entry}})
	return nil
}

// appendOption is the common case done as text, so the monitor-mode file
// differs from the enforcing one by three added lines: one enforcing
// document whose spec, the last top-level key, is a block mapping without
// options. The result is parsed back and checked; anything else is
// rewritten through the YAML tree instead.
func appendOption(data []byte, docs []*yaml.Node) ([]byte, bool) {
	if len(docs) != 1 || !Enforces(docs[0]) || !bytes.HasSuffix(data, []byte("\n")) {
		return nil, false
	}
	root := deref(docs[0])
	if root == nil || root.Kind != yaml.MappingNode || len(root.Content) < 2 {
		return nil, false
	}
	last := root.Content[len(root.Content)-2]
	spec := root.Content[len(root.Content)-1]
	if last.Value != "spec" || spec.Kind != yaml.MappingNode || spec.Style&yaml.FlowStyle != 0 || len(spec.Content) == 0 {
		return nil, false
	}
	if k, _ := mapGet(spec, "options"); k != nil {
		return nil, false
	}
	indent := strings.Repeat(" ", spec.Content[0].Column-1)
	out := append(append([]byte(nil), data...), fmt.Sprintf("%soptions:\n%s- name: %s\n%s  value: %s\n", indent, indent, PolicyModeOption, indent, ModeMonitor)...)
	check, perr := parseDocuments(out)
	if perr != nil || len(check) != 1 {
		return nil, false
	}
	opts := seqItems(mapValue(mapValue(check[0], "spec"), "options"))
	if len(opts) != 1 {
		return nil, false
	}
	name, _ := scalarString(mapValue(opts[0], "name"))
	value, _ := scalarString(mapValue(opts[0], "value"))
	return out, name == PolicyModeOption && value == ModeMonitor
}
