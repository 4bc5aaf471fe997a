package policy

// Network rules: egress selectors checked against the container bridges, the VPC and the exceptions a node needs.

import (
	"fmt"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

type addrValue struct {
	prefix netip.Prefix
	node   *yaml.Node
}

// checkEgress checks an egress selector's sources and exceptions. Every
// rule reads v4-mapped ranges (::ffff:172.17.0.0/112) as the IPv4 range they
// stand for: Tetragon reports IPv4 traffic on AF_INET6 sockets that way, so
// a complete egress selector lists both forms.
func (d *docLinter) checkEgress(s *selector) {
	if !s.egress {
		return
	}
	hasV4, hasMapped := false, false
	for _, sa := range s.saddrs {
		u := unmap(sa.prefix)
		shown := sa.prefix.String()
		if u != sa.prefix {
			shown = fmt.Sprintf("%s (v4-mapped %s)", sa.prefix, u)
			hasMapped = true
		} else if u.Addr().Is4() {
			hasV4 = true
		}
		overlapsVPC := false
		for _, v := range d.net.vpc {
			if v.Overlaps(u) {
				overlapsVPC = true
				d.add(sa.node, RuleEgressSourceVPC,
					fmt.Sprintf("%s: source %s overlaps the VPC range %s, so the rule also matches the VM's own connections", s.path, shown, v),
					"use the Docker bridge and Nomad bridge subnets as sources, and the VPC as an allowed destination (NotDAddr)")
				break
			}
		}
		if !overlapsVPC && len(d.net.bridges) > 0 {
			inBridge := false
			for _, b := range d.net.bridges {
				if contains(b, u) {
					inBridge = true
					break
				}
			}
			if !inBridge {
				d.add(sa.node, RuleEgressSourceBridge,
					fmt.Sprintf("%s: source %s is outside the container bridges (%s)", s.path, shown, joinPrefixes(d.net.bridges)),
					"containers get addresses from the Docker bridge and Nomad's bridge_network_subnet; match those")
			}
		}
		if m, ok := V4Mapped(sa.prefix); ok && !s.hasSource(m) {
			d.add(sa.node, RuleEgressV4Mapped,
				fmt.Sprintf("%s: source %s has no v4-mapped form %s: IPv4 connects from AF_INET6 sockets (the JVM's default), which Tetragon reports as ::ffff:a.b.c.d, bypass this selector", s.path, sa.prefix, m),
				fmt.Sprintf("add %s to the SAddr values, and the v4-mapped form of each NotDAddr range", m))
		}
	}
	if len(s.enforce) == 0 || s.ndaddrAt == nil {
		return
	}
	// Without a source filter the selector sees both kinds of socket.
	if len(s.saddrs) == 0 {
		hasV4, hasMapped = true, true
	}
	var needs []netip.Prefix
	for _, p := range []netip.Prefix{loopback, metadataServer} {
		if hasV4 {
			needs = append(needs, p)
		}
		if m, _ := V4Mapped(p); hasMapped {
			needs = append(needs, m)
		}
	}
	var missing []string
	for _, need := range needs {
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
		d.add(s.ndaddrAt, RuleEgressExceptions,
			fmt.Sprintf("%s: egress block does not exempt %s", s.path, strings.Join(missing, " and ")),
			"list 127.0.0.0/8 (loopback) and 169.254.169.254/32 (metadata server, DNS on GCE) under NotDAddr, with their v4-mapped forms ::ffff:127.0.0.0/104 and ::ffff:169.254.169.254/128 when the sources include v4-mapped ranges")
	}
}

// hasSource reports whether an SAddr value of s covers p.
func (s *selector) hasSource(p netip.Prefix) bool {
	for _, sa := range s.saddrs {
		if contains(sa.prefix, p) {
			return true
		}
	}
	return false
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
