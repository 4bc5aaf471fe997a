package policy

// Selectors: the walk over each hook's selectors and Tetragon's per-selector limits.

import (
	"fmt"
	"net/netip"

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

func (d *docLinter) checkSelectors(h *hook) {
	sels := seqItems(mapValue(h.node, "selectors"))
	if len(sels) > maxSelectors {
		d.add(sels[maxSelectors], RuleSelectorLimit,
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
