package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Limits Tetragon enforces when it turns selectors into BPF maps
// (pkg/selectors in Tetragon v1.7.0). Going over one fails the load.
const (
	maxSelectors        = 5
	maxArgFilters       = 5 // matchArgs + matchData, kernels >= 5.3
	maxActions          = 3
	maxNamespaceValues  = 4
	maxNamespaceFilters = 10
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

func (d *docLinter) checkSpec() {
	spec := mapValue(d.root, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		return
	}
	for _, sel := range []struct{ key, rule, what string }{
		{"podSelector", RulePodSelector, "spec.podSelector selects Kubernetes pods"},
		{"containerSelector", RuleContainerSelector, "spec.containerSelector selects containers of Kubernetes pods"},
	} {
		k, v := mapGet(spec, sel.key)
		if k == nil || isNull(v) {
			continue
		}
		d.add(k, sel.rule, SeverityError,
			sel.what+"; without Kubernetes Tetragon cannot apply the filter and fails to load the policy",
			"remove it and scope with matchNamespaces (e.g. Pid NotIn host_ns for containers) or matchBinaries")
	}
	if k, v := mapGet(spec, "hostSelector"); k != nil && !isNull(v) {
		if mappingLen(mapValue(v, "matchLabels"))+len(seqItems(mapValue(v, "matchExpressions"))) > 0 {
			d.add(k, RuleHostSelector, SeverityError,
				"spec.hostSelector with labels: Tetragon only supports null or {} and fails to load the policy",
				"remove the labels")
		}
	}
	d.checkOptions(spec)

	lists := map[string]*yaml.Node{}
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
				d.add(callNode, RuleListRef, SeverityError,
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

var (
	addrOps = map[string]bool{"SAddr": true, "NotSAddr": true, "DAddr": true, "NotDAddr": true}
	sockOps = map[string]bool{
		"SPort": true, "NotSPort": true, "DPort": true, "NotDPort": true, "Protocol": true, "Family": true, "State": true,
		"SPortPriv": true, "NotSportPriv": true, "DPortPriv": true, "NotDPortPriv": true,
	}
	sockTypes      = map[string]bool{"sock": true, "skb": true, "sockaddr": true, "socket": true}
	enforceActions = map[string]bool{"Sigkill": true, "Override": true, "Signal": true, "NotifyEnforcer": true}
	// Directories whose files are executables; Equal on one of them is an
	// exact-path match that a copy to /tmp defeats.
	binDirs = []string{"/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/", "/usr/libexec/"}
)

// selector gathers what the rules need to know about one selector.
type selector struct {
	path     string
	node     *yaml.Node
	scoped   bool           // binary, namespace, PID or source-address scoping
	enforce  []*yaml.Node   // action value nodes that enforce
	saddrs   []addrValue    // SAddr values that parsed
	ndaddrs  []netip.Prefix // NotDAddr values that parsed
	ndaddrAt *yaml.Node     // first NotDAddr operator node
	egress   bool           // has a DAddr or NotDAddr filter
}

type addrValue struct {
	prefix netip.Prefix
	node   *yaml.Node
}

func (d *docLinter) checkSelectors(h *hook) {
	sels := seqItems(mapValue(h.node, "selectors"))
	if len(sels) > maxSelectors {
		d.add(sels[maxSelectors], RuleSelectorLimit, SeverityError,
			fmt.Sprintf("%s has %d selectors; Tetragon supports at most %d", h.path(), len(sels), maxSelectors),
			"split the hook into several entries")
	}
	for i, sn := range sels {
		if sn.Kind != yaml.MappingNode {
			continue
		}
		s := &selector{path: fmt.Sprintf("%s.selectors[%d]", h.path(), i), node: sn}
		d.checkMatchArgs(h, s)
		d.checkBinaries(s)
		d.checkNamespaces(s)
		d.checkPIDs(s)
		d.checkActions(h, s)
		d.checkEnforcement(s)
		d.checkEgress(s)
	}
}

func (d *docLinter) checkMatchArgs(h *hook, s *selector) {
	args := seqItems(mapValue(s.node, "matchArgs"))
	if n := len(args) + len(seqItems(mapValue(s.node, "matchData"))); n > maxArgFilters {
		d.add(s.node, RuleSelectorLimit, SeverityError,
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
				d.add(at, RuleOperatorArgType, SeverityError,
					fmt.Sprintf("%s: operator %s does not work on an argument of type %q", where, op, typ),
					"address and port operators need a sock, socket, skb or sockaddr argument (sockaddr: source side and family only)")
			}
		}
		values := seqItems(mapValue(a, "values"))
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
					d.add(v, RuleAddress, SeverityError, fmt.Sprintf("%s: %q is not an IP address or CIDR", where, str),
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
					d.add(v, RuleEqualBinaryPath, SeverityWarning,
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
				d.add(it, RuleArgIndex, SeverityError,
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
		d.add(at, RuleArgIndex, SeverityError,
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

func (d *docLinter) checkBinaries(s *selector) {
	for _, key := range []string{"matchBinaries", "matchParentBinaries"} {
		k, v := mapGet(s.node, key)
		items := seqItems(v)
		if len(items) == 0 {
			continue
		}
		s.scoped = true
		if len(items) > 1 {
			d.add(items[1], RuleSelectorLimit, SeverityError,
				fmt.Sprintf("%s.%s has %d entries; Tetragon supports one per selector", s.path, key, len(items)),
				"merge the values into one entry")
		}
		if key == "matchParentBinaries" {
			d.add(k, RuleParentsMap, SeverityWarning,
				fmt.Sprintf("%s.matchParentBinaries only loads when Tetragon runs with --parents-map-enabled", s.path),
				"add --parents-map-enabled to the Tetragon task's args, or use matchBinaries")
		}
	}
}

func (d *docLinter) checkNamespaces(s *selector) {
	items := seqItems(mapValue(s.node, "matchNamespaces"))
	if len(items) > maxNamespaceFilters {
		d.add(items[maxNamespaceFilters], RuleSelectorLimit, SeverityError,
			fmt.Sprintf("%s.matchNamespaces has %d entries; Tetragon supports at most %d", s.path, len(items), maxNamespaceFilters), "")
	}
	for _, ns := range items {
		op, _ := scalarString(mapValue(ns, "operator"))
		values := seqItems(mapValue(ns, "values"))
		if len(values) > maxNamespaceValues {
			d.add(values[maxNamespaceValues], RuleNamespaceValue, SeverityError,
				fmt.Sprintf("%s.matchNamespaces entry has %d values; Tetragon supports at most %d", s.path, len(values), maxNamespaceValues), "")
		}
		hostOnly := true
		for _, v := range values {
			str, _ := scalarString(v)
			if str == "host_ns" {
				if op == "NotIn" {
					s.scoped = true // acts only outside the host's namespace: containers
				}
				continue
			}
			hostOnly = false
			if _, err := strconv.ParseUint(str, 10, 32); err != nil && !d.placeholders[v] {
				d.add(v, RuleNamespaceValue, SeverityError,
					fmt.Sprintf("%s.matchNamespaces value %q is neither a namespace inode number nor host_ns", s.path, str), "")
			}
		}
		if !hostOnly && len(values) > 0 {
			s.scoped = true // specific namespaces
		}
	}
}

func (d *docLinter) checkPIDs(s *selector) {
	for _, p := range seqItems(mapValue(s.node, "matchPIDs")) {
		if op, _ := scalarString(mapValue(p, "operator")); op == "In" {
			s.scoped = true
		}
		fk, fv := mapGet(p, "followForks")
		if ff, _ := scalarBool(fv); ff {
			continue
		}
		at := fk
		if at == nil {
			at = p
		}
		d.add(at, RuleFollowForks, SeverityWarning,
			fmt.Sprintf("%s.matchPIDs without followForks: true matches only those PIDs, not the processes they start", s.path),
			"set followForks: true")
	}
}

func (d *docLinter) checkActions(h *hook, s *selector) {
	for _, key := range []string{"matchActions", "matchReturnActions"} {
		acts := seqItems(mapValue(s.node, key))
		if len(acts) > maxActions {
			d.add(acts[maxActions], RuleSelectorLimit, SeverityError,
				fmt.Sprintf("%s.%s has %d actions; Tetragon supports at most %d", s.path, key, len(acts), maxActions), "")
		}
		for _, a := range acts {
			an := mapValue(a, "action")
			act, _ := scalarString(an)
			if !enforceActions[act] {
				continue
			}
			s.enforce = append(s.enforce, an)
			if act == "Override" {
				d.checkOverride(h, s, an)
			}
		}
	}
}

func (d *docLinter) checkOverride(h *hook, s *selector, an *yaml.Node) {
	if h.section != "kprobes" && h.section != "fentries" {
		return // LSM hooks override through the BPF LSM: recorded in LSMHooks
	}
	security := strings.HasPrefix(h.call, "security_")
	switch {
	case security:
		d.add(an, RuleOverride, SeverityWarning,
			fmt.Sprintf("%s: Override on %s uses fmod_ret, which Tetragon refuses when it attaches with kprobe_multi (the default on recent kernels)", s.path, h.call),
			`add spec.options {name: disable-kprobe-multi, value: "true"}, or use an lsmhooks entry`)
	case h.syscall:
		d.override = true
		d.add(an, RuleOverride, SeverityWarning,
			fmt.Sprintf("%s: Override on syscall %s needs CONFIG_BPF_KPROBE_OVERRIDE, which e.g. Debian 12's cloud kernel lacks", s.path, h.call),
			"the provisioner's preflight checks the VM's kernel; use Sigkill where the option is missing")
	case h.call != "":
		d.add(an, RuleOverrideTarget, SeverityError,
			fmt.Sprintf("%s: Override on %s: Tetragon allows Override only on syscalls (syscall: true) and security_* functions", s.path, h.call), "")
	}
}

func (d *docLinter) checkEnforcement(s *selector) {
	if s.scoped {
		return
	}
	for _, an := range s.enforce {
		act, _ := scalarString(an)
		d.add(an, RuleUnscopedEnforcement, SeverityWarning,
			fmt.Sprintf("%s: %s has no binary, namespace, PID or source-address scoping, so it also hits the host's own processes (apt, dockerd, nomad, the logging agent)", s.path, act),
			"add matchNamespaces {namespace: Pid, operator: NotIn, values: [host_ns]} to act only inside containers, or matchBinaries")
	}
}

func (d *docLinter) checkEgress(s *selector) {
	if !s.egress {
		return
	}
	for _, sa := range s.saddrs {
		overlapsVPC := false
		for _, v := range d.net.vpc {
			if v.Overlaps(sa.prefix) {
				overlapsVPC = true
				d.add(sa.node, RuleEgressSourceVPC, SeverityWarning,
					fmt.Sprintf("%s: source %s overlaps the VPC range %s, so the rule also matches the VM's own connections", s.path, sa.prefix, v),
					"use the Docker bridge and Nomad bridge subnets as sources, and the VPC as an allowed destination (NotDAddr)")
				break
			}
		}
		if overlapsVPC || len(d.net.bridges) == 0 {
			continue
		}
		inBridge := false
		for _, b := range d.net.bridges {
			if contains(b, sa.prefix) {
				inBridge = true
				break
			}
		}
		if !inBridge {
			d.add(sa.node, RuleEgressSourceBridge, SeverityWarning,
				fmt.Sprintf("%s: source %s is outside the container bridges (%s)", s.path, sa.prefix, joinPrefixes(d.net.bridges)),
				"containers get addresses from the Docker bridge and Nomad's bridge_network_subnet; match those")
		}
	}
	if len(s.enforce) == 0 || s.ndaddrAt == nil {
		return
	}
	var missing []string
	for _, need := range []netip.Prefix{loopback, metadataServer} {
		covered := false
		for _, p := range s.ndaddrs {
			if contains(p, need) {
				covered = true
				break
			}
		}
		if !covered {
			missing = append(missing, need.String())
		}
	}
	if len(missing) > 0 {
		d.add(s.ndaddrAt, RuleEgressExceptions, SeverityWarning,
			fmt.Sprintf("%s: egress block does not exempt %s", s.path, strings.Join(missing, " and ")),
			"list 127.0.0.0/8 (loopback) and 169.254.169.254/32 (metadata server, DNS on GCE) under NotDAddr")
	}
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
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
			d.add(nameNode, RuleUnknownOption, SeverityWarning, fmt.Sprintf("spec.options name %q is not an option Tetragon knows; it is ignored", name),
				"known: disable-kprobe-multi, disable-uprobe-multi, override-method, policy-mode")
			continue
		}
		if !valid && !d.placeholders[at] {
			d.add(at, RuleOption, SeverityError, fmt.Sprintf("spec.options %s: value %q is invalid; Tetragon fails to load the policy", name, val),
				"use "+want)
		}
	}
}
