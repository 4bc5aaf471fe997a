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
