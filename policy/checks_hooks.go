package policy

// Hooks: what each kprobe, fentry, LSM hook, uprobe or tracepoint declares, and the kernel symbols it needs.

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// hook is one entry of kprobes, fentries, lsmhooks, uprobes, tracepoints or usdts.
type hook struct {
	section string     // "kprobes", ...
	index   int        // position in the section
	node    *yaml.Node // the hook mapping
	call    string     // kprobes/fentries call, lsm hook name
	syscall bool       // the call is a syscall (syscall: true or a syscalls list)
	// args by declared index, and positionally, when the section checks them.
	argByIndex map[int64]string
	argList    []string
	checkArgs  bool
}

func (h *hook) path() string { return fmt.Sprintf("spec.%s[%d]", h.section, h.index) }

func (d *docLinter) addSymbol(s string) {
	if s == "" {
		return
	}
	if d.symbols == nil {
		d.symbols = map[string]bool{}
	}
	d.symbols[s] = true
}

// describeHook fills in the call, syscall-ness and argument types of a hook
// and records its kernel requirements.
func (d *docLinter) describeHook(h *hook, lists map[string]*yaml.Node) {
	switch h.section {
	case "kprobes", "fentries":
		callNode := mapValue(h.node, "call")
		h.call, _ = scalarString(callNode)
		h.syscall, _ = scalarBool(mapValue(h.node, "syscall"))
		h.checkArgs = true
		if name, ok := strings.CutPrefix(h.call, "list:"); ok {
			l, found := lists[name]
			if !found {
				d.add(callNode, RuleListRef,
					fmt.Sprintf("call %q refers to spec.lists entry %q, which is not defined", h.call, name), "")
				break
			}
			typ, _ := scalarString(mapValue(l, "type"))
			if typ == "syscalls" || typ == "generated_syscalls" {
				h.syscall = true
			}
			if typ == "syscalls" {
				for _, v := range seqItems(mapValue(l, "values")) {
					if s, ok := scalarString(v); ok && !d.placeholders[v] {
						d.addSymbol(s)
					}
				}
			}
		} else if !d.placeholders[callNode] {
			d.addSymbol(h.call)
		}
	case "lsmhooks":
		hn := mapValue(h.node, "hook")
		h.call, _ = scalarString(hn)
		h.checkArgs = true
		if h.call != "" && !d.placeholders[hn] {
			if d.lsmHooks == nil {
				d.lsmHooks = map[string]bool{}
			}
			d.lsmHooks[h.call] = true
		}
	case "uprobes":
		h.checkArgs = true
	}
	if !h.checkArgs {
		return
	}
	h.argByIndex = map[int64]string{}
	for _, a := range seqItems(mapValue(h.node, "args")) {
		idx, _ := scalarInt(mapValue(a, "index"))
		typ, _ := scalarString(mapValue(a, "type"))
		h.argByIndex[idx] = typ
		h.argList = append(h.argList, typ)
	}
}

func scalarInt(n *yaml.Node) (int64, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return 0, false
	}
	i, err := strconv.ParseInt(n.Value, 0, 64)
	return i, err == nil
}
