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

func (d *docLinter) checkEgress(s *selector) {
	if !s.egress {
		return
	}
	for _, sa := range s.saddrs {
		overlapsVPC := false
		for _, v := range d.net.vpc {
			if v.Overlaps(sa.prefix) {
				overlapsVPC = true
				d.add(sa.node, RuleEgressSourceVPC,
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
			d.add(sa.node, RuleEgressSourceBridge,
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
		d.add(s.ndaddrAt, RuleEgressExceptions,
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
