package policy

// Hook-level refusals: what Tetragon v1.7.0 checks in a hook's spec before
// it touches the kernel. Each message is the agent's own, so a lint error
// reads like the log line of the node it would have broken.

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

func (d *docLinter) checkHookSpec(h *hook) {
	if h.section == "kprobes" {
		d.checkReturnArgAction(h)
	}
	if h.section == "kprobes" || h.section == "uprobes" {
		d.checkReturnArg(h)
	}
	if h.section == "uprobes" {
		d.checkUprobeTarget(h)
	}
}

// checkReturnArgAction mirrors addKprobe (cilium/tetragon@v1.7.0:
// pkg/sensors/tracing/generickprobe.go:724-735): only TrackSock and
// UntrackSock are allowed; "Post" in particular is refused.
func (d *docLinter) checkReturnArgAction(h *hook) {
	n := mapValue(h.node, "returnArgAction")
	v, ok := scalarString(n)
	if !ok || v == "" || d.placeholders[deref(n)] {
		return
	}
	switch strings.ToLower(v) {
	case "tracksock", "untracksock":
		return
	}
	msg := fmt.Sprintf("ReturnArgAction type '%s' unsupported; omit returnArgAction or use 'TrackSock'/'UntrackSock'", v)
	if !knownAction(v) {
		msg = fmt.Sprintf("ReturnArgAction type '%s' unsupported", v)
	}
	d.add(n, RuleReturnArgAction, fmt.Sprintf("%s: %s", h.path(), msg),
		"the agent refuses the policy and exits; returned values are reported without it (return: true with returnArg)")
}

// knownAction is selectors.ActionTypeFromString != ActionTypeInvalid
// (cilium/tetragon@v1.7.0: pkg/selectors/kernel.go:53, case-insensitive).
func knownAction(v string) bool {
	switch strings.ToLower(v) {
	case "post", "followfd", "unfollowfd", "sigkill", "copyfd", "override", "geturl", "dnslookup", "nopost",
		"signal", "tracksock", "untracksock", "notifyenforcer", "cleanupenforcernotification", "set":
		return true
	}
	return false
}

// checkReturnArg mirrors the Return checks of addKprobe and
// createGenericUprobe (cilium/tetragon@v1.7.0:
// pkg/sensors/tracing/generickprobe.go:880-890, genericuprobe.go:739-749).
func (d *docLinter) checkReturnArg(h *hook) {
	k, rv := mapGet(h.node, "return")
	if r, _ := scalarBool(rv); !r {
		return
	}
	ra := mapValue(h.node, "returnArg")
	typ, _ := scalarString(mapValue(ra, "type"))
	if isNull(ra) || typ == "" {
		d.add(k, RuleReturnArg, h.path()+": ReturnArg not specified with Return=true",
			"add returnArg with the type of the returned value (e.g. {index: 0, type: int})")
	}
	// An unsupported type is a schema-enum error already.
}

// checkUprobeTarget mirrors createGenericUprobe's sanity checks
// (cilium/tetragon@v1.7.0: pkg/sensors/tracing/genericuprobe.go:521-542),
// including their exact conditions, and records the path for the preflight.
func (d *docLinter) checkUprobeTarget(h *hook) {
	if pn := mapValue(h.node, "path"); pn != nil {
		if p, ok := scalarString(pn); ok && p != "" && !d.placeholders[deref(pn)] {
			if d.uprobePaths == nil {
				d.uprobePaths = map[string]bool{}
			}
			d.uprobePaths[p] = true
		}
	}
	symbols := len(seqItems(mapValue(h.node, "symbols")))
	offsets := len(seqItems(mapValue(h.node, "offsets")))
	addrs := len(seqItems(mapValue(h.node, "addrs")))
	refs := len(seqItems(mapValue(h.node, "refCtrOffsets")))
	switch {
	case symbols == 0 && offsets == 0 && addrs == 0:
		d.add(h.node, RuleUprobeTarget, h.path()+": uprobe need either Symbols, Offsets or Addrs defined",
			"name the function(s) to probe under symbols")
	case symbols != 0 && offsets != 0 && addrs != 0:
		d.add(h.node, RuleUprobeTarget, h.path()+": uprobe is defined either only with Symbols, Offsets or Addrs",
			"keep one of symbols, offsets and addrs")
	case refs != 0 && symbols != 0 && symbols != refs:
		d.add(h.node, RuleUprobeTarget, fmt.Sprintf("%s: RefCtrOffsets(%d) has different dimension than Symbols(%d)", h.path(), refs, symbols), "")
	case refs != 0 && offsets != 0 && offsets != refs:
		d.add(h.node, RuleUprobeTarget, fmt.Sprintf("%s: RefCtrOffsets(%d) has different dimension than Offsets(%d)", h.path(), refs, offsets), "")
	}
}

// deprecatedActions are deprecated in v1.7.0 and announced for removal
// (cilium/tetragon@v1.7.0: pkg/k8s/apis/cilium.io/v1alpha1/types.go:248,
// docs/content/en/docs/concepts/tracing-policy/selectors.md:742).
var deprecatedActions = map[string]bool{"followfd": true, "unfollowfd": true, "copyfd": true}

// checkDeprecated warns on the deprecated fd-tracking actions and on their
// argFd/argName fields (which only they read: pkg/selectors/kernel.go:1193).
func (d *docLinter) checkDeprecated(s *selector, key string, a *yaml.Node) {
	an := mapValue(a, "action")
	act, _ := scalarString(an)
	if deprecatedActions[strings.ToLower(act)] {
		d.add(an, RuleDeprecated,
			fmt.Sprintf("%s.%s: action %s is deprecated in Tetragon v1.7.0 (unsafe) and removed in a later release", s.path, key, act),
			"track files by path instead (e.g. security_file_permission with a file argument)")
	}
	for _, f := range []string{"argFd", "argName"} {
		if k, _ := mapGet(a, f); k != nil {
			d.add(k, RuleDeprecated,
				fmt.Sprintf("%s.%s: %s is deprecated in Tetragon v1.7.0 with the FollowFD/UnfollowFD/CopyFD actions that read it", s.path, key, f),
				"remove it with the fd-tracking action")
		}
	}
}

// checkListValue mirrors listReader.Read (cilium/tetragon@v1.7.0:
// pkg/sensors/tracing/lists_linux.go:117-135), which the selector code calls
// for each "list:NAME" value of an argument filter
// (pkg/selectors/kernel.go:579). typ is the filtered argument's declared
// type, "" when it depends on the kernel (a tracepoint field without a type).
func (d *docLinter) checkListValue(where string, v *yaml.Node, name, typ string) {
	l, ok := d.lists[name]
	if !ok {
		d.add(v, RuleListRef, fmt.Sprintf("%s: error list '%s' not found", where, name), "define it under spec.lists")
		return
	}
	lt, _ := scalarString(mapValue(l, "type"))
	if lt = strings.ToLower(lt); lt != "syscalls" && lt != "generated_syscalls" {
		d.add(v, RuleListArgType, fmt.Sprintf("%s: error list '%s' is not syscall type", where, name),
			"only syscalls lists can be used as argument values")
		return
	}
	if typ != "" && typ != "syscall64" {
		d.add(v, RuleListArgType, fmt.Sprintf("%s: error list '%s' argument type is not syscall64", where, name),
			"the filtered argument must be declared with type: syscall64")
	}
}
