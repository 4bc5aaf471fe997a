package policy

// Argument filters: matchArgs indexes, operator/type pairs, addresses and exact binary paths.

import (
	"fmt"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

func (d *docLinter) checkMatchArgs(h *hook, s *selector) {
	args := seqItems(mapValue(s.node, "matchArgs"))
	if n := len(args) + len(seqItems(mapValue(s.node, "matchData"))); n > maxArgFilters {
		d.add(s.node, RuleSelectorLimit,
			fmt.Sprintf("%s has %d matchArgs/matchData filters; Tetragon supports at most %d", s.path, n, maxArgFilters), "")
	}
	for j, a := range args {
		opNode := mapValue(a, "operator")
		op, _ := scalarString(opNode)
		at := opNode
		if at == nil {
			at = a
		}
		where := fmt.Sprintf("%s.matchArgs[%d]", s.path, j)
		typ, known := d.argType(h, a, where)
		if known && isArgType(typ) && (addrOps[op] || sockOps[op]) {
			bad := !sockTypes[typ] && !(typ == "sockaddr_un" && op == "Family")
			if !bad && typ == "sockaddr" && (op == "DAddr" || op == "NotDAddr" || op == "DPort" || op == "NotDPort" ||
				op == "Protocol" || op == "State" || op == "DPortPriv" || op == "NotDPortPriv") {
				bad = true
			}
			if bad {
				d.add(at, RuleOperatorArgType,
					fmt.Sprintf("%s: operator %s does not work on an argument of type %q", where, op, typ),
					"address and port operators need a sock, socket, skb or sockaddr argument (sockaddr: source side and family only)")
			}
		}
		values := seqItems(mapValue(a, "values"))
		if op == "InMap" || op == "NotInMap" {
			ltyp := typ
			if h.section == "tracepoints" {
				ltyp = tracepointArgType(h, a)
			} else if !known {
				ltyp = ""
			}
			for _, v := range values {
				if str, ok := scalarString(v); ok && !d.placeholders[v] {
					if name, isList := strings.CutPrefix(str, "list:"); isList {
						d.checkListValue(where, v, name, ltyp)
					}
				}
			}
		}
		if addrOps[op] {
			s.egress = s.egress || op == "DAddr" || op == "NotDAddr"
			if op == "NotDAddr" && s.ndaddrAt == nil {
				s.ndaddrAt = at
			}
			for _, v := range values {
				str, ok := scalarString(v)
				if !ok || d.placeholders[v] {
					continue
				}
				p, err := parseAddr(str)
				if err != nil {
					d.add(v, RuleAddress, fmt.Sprintf("%s: %q is not an IP address or CIDR", where, str),
						"write an address like 10.0.0.1 or a CIDR like 10.0.0.0/8")
					continue
				}
				switch op {
				case "SAddr":
					s.saddrs = append(s.saddrs, addrValue{p, v})
					s.scoped = true
				case "NotDAddr":
					s.ndaddrs = append(s.ndaddrs, p)
				}
			}
		}
		if op == "Equal" {
			for _, v := range values {
				str, _ := scalarString(v)
				if isExecutablePath(str) {
					d.add(v, RuleEqualBinaryPath,
						fmt.Sprintf("%s: Equal %q matches only that exact path; a copy of the binary elsewhere bypasses it", where, str),
						fmt.Sprintf("use operator Postfix with %q, or match on the file's hash", "/"+lastElem(str)))
					break
				}
			}
		}
	}
}

// argType resolves the type of the argument a matchArgs entry filters on, as
// Tetragon's argIndexType does, reporting references to undeclared args.
func (d *docLinter) argType(h *hook, a *yaml.Node, where string) (string, bool) {
	if !h.checkArgs {
		return "", false
	}
	if k, pos := mapGet(a, "args"); k != nil {
		items := seqItems(pos)
		if len(items) == 0 {
			return "", false
		}
		i, ok := scalarInt(items[0])
		if !ok {
			return "", false
		}
		for _, it := range items {
			if j, ok := scalarInt(it); ok && (j < 0 || j >= int64(len(h.argList))) {
				d.add(it, RuleArgIndex,
					fmt.Sprintf("%s: args refers to position %d but %s declares %d args", where, j, h.path(), len(h.argList)), "")
				return "", false
			}
		}
		return h.argList[i], true
	}
	idxNode := mapValue(a, "index")
	idx := int64(0)
	if idxNode != nil {
		var ok bool
		if idx, ok = scalarInt(idxNode); !ok {
			return "", false
		}
	}
	typ, ok := h.argByIndex[idx]
	if !ok {
		at := idxNode
		if at == nil {
			at = a
		}
		d.add(at, RuleArgIndex,
			fmt.Sprintf("%s: index %d is not declared in %s.args", where, idx, h.path()),
			"declare the argument (index and type) in the hook's args")
		return "", false
	}
	return typ, true
}

// isArgType reports whether t is an argument type of the pinned schema; an
// unknown type is already a schema-enum error and says nothing about operators.
func isArgType(t string) bool {
	return argTypes()[t]
}

var argTypes = sync.OnceValue(func() map[string]bool {
	out := map[string]bool{}
	cs, err := loadSchema()
	if err != nil {
		return out
	}
	var cur any = cs.raw
	for _, k := range []string{"properties", "spec", "properties", "kprobes", "items", "properties", "args", "items", "properties", "type", "enum"} {
		m, _ := cur.(map[string]any)
		cur = m[k]
	}
	list, _ := cur.([]any)
	for _, v := range list {
		if s, ok := v.(string); ok {
			out[s] = true
		}
	}
	return out
})

func isExecutablePath(p string) bool {
	for _, dir := range binDirs {
		if strings.HasPrefix(p, dir) && len(p) > len(dir) && !strings.HasSuffix(p, "/") {
			return true
		}
	}
	return false
}

func lastElem(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// tracepointArgType is the type the selector code sees for a tracepoint's
// matchArgs index (cilium/tetragon@v1.7.0:
// pkg/sensors/tracing/generictracepoint.go:704-733): a filter on a field that
// spec args declares gets that arg's type; any other index is taken as a
// position in spec args (the upstream example list-syscalls-tracepoint.yaml
// is refused that way). "" when the type comes from the kernel's format.
func tracepointArgType(h *hook, a *yaml.Node) string {
	idx, _ := scalarInt(mapValue(a, "index"))
	args := seqItems(mapValue(h.node, "args"))
	for _, arg := range args {
		if i, ok := scalarInt(mapValue(arg, "index")); ok && i == idx {
			t, _ := scalarString(mapValue(arg, "type"))
			return t
		}
	}
	if idx >= 0 && idx < int64(len(args)) {
		t, _ := scalarString(mapValue(args[idx], "type"))
		return t
	}
	return ""
}
