package policy

import (
	"fmt"
	"net/netip"
)

// Network describes where the policies run: the library renders its egress
// policy from it and the egress rules are checked against it. Plain values;
// their defaults belong to the model (model.Declaration.Network), which is
// the one place users set them. An empty field means "not in use".
type Network struct {
	// DockerBridgeCIDR is Docker's default bridge (daemon.json "bip" range).
	DockerBridgeCIDR string
	// NomadBridgeCIDR is Nomad's bridge_network_subnet.
	NomadBridgeCIDR string
	// VPCCIDRs are the ranges the VMs themselves have addresses in.
	VPCCIDRs []string
}

type netFacts struct {
	bridges []netip.Prefix
	vpc     []netip.Prefix
}

func (n Network) parse() (*netFacts, error) {
	var f netFacts
	for _, b := range []struct{ field, v string }{
		{"DockerBridgeCIDR", n.DockerBridgeCIDR},
		{"NomadBridgeCIDR", n.NomadBridgeCIDR},
	} {
		if b.v == "" {
			continue
		}
		p, err := netip.ParsePrefix(b.v)
		if err != nil {
			return nil, fmt.Errorf("network %s %q: %w", b.field, b.v, err)
		}
		f.bridges = append(f.bridges, p.Masked())
	}
	for i, v := range n.VPCCIDRs {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("network VPCCIDRs[%d] %q: %w", i, v, err)
		}
		f.vpc = append(f.vpc, p.Masked())
	}
	return &f, nil
}

// parseAddr accepts what Tetragon's address operators accept: an IP or a CIDR.
func parseAddr(v string) (netip.Prefix, error) {
	for i := 0; i < len(v); i++ {
		if v[i] == '/' {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return netip.Prefix{}, err
			}
			return p.Masked(), nil
		}
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// contains reports whether outer covers all of inner.
func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

var (
	loopback       = netip.MustParsePrefix("127.0.0.0/8")
	metadataServer = netip.MustParsePrefix("169.254.169.254/32")
)

// V4Mapped returns the IPv4-mapped IPv6 form of an IPv4 prefix
// (172.17.0.0/16 → ::ffff:172.17.0.0/112: 96 + the IPv4 length). Tetragon
// reports IPv4 traffic on an AF_INET6 socket (the default of the JVM and of
// many runtimes) with such addresses, and an IPv4 CIDR never matches them, so
// an address filter needs both forms. ok is false for an IPv6 prefix.
func V4Mapped(p netip.Prefix) (netip.Prefix, bool) {
	if !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(netip.AddrFrom16(p.Addr().As16()), 96+p.Bits()).Masked(), true
}

// unmap returns the IPv4 prefix a v4-mapped prefix stands for, so the
// network rules compare ::ffff:172.17.0.0/112 with 172.17.0.0/16; any other
// prefix is returned as is.
func unmap(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return p
}
