package library

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/internal/golden"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

var defaults = policy.Network{
	DockerBridgeCIDR: "172.17.0.0/16",
	NomadBridgeCIDR:  "172.26.64.0/20",
	VPCCIDRs:         []string{"10.128.0.0/9"},
}

func TestNames(t *testing.T) {
	want := []string{
		"block-fd-install", "block-internet-egress", "block-package-managers",
		"log-file-access", "log-tcp-connect", "protect-nginx-html",
	}
	if got := Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

// TestLibraryLintsClean renders the whole library for several networks and
// lints it as one set with the same network: no errors and no warnings.
// (No library policy carries a documented warning today; if one ever does,
// pin it here and explain it in its doc.)
func TestLibraryLintsClean(t *testing.T) {
	for _, v := range []policy.Network{
		defaults,
		{DockerBridgeCIDR: "172.17.0.1/16"},
		{NomadBridgeCIDR: "172.26.64.0/20", VPCCIDRs: []string{"10.0.0.0/16", "10.1.0.0/16"}},
		{DockerBridgeCIDR: "192.168.100.0/24", NomadBridgeCIDR: "192.168.200.0/24", VPCCIDRs: []string{"172.16.0.0/12"}},
	} {
		files, err := RenderFiles(Names(), v)
		if err != nil {
			t.Fatalf("RenderFiles(%+v): %v", v, err)
		}
		r, err := policy.LintWith(files, policy.Options{Network: v})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.Findings {
			t.Errorf("values %+v: %s", v, f)
		}
		if len(r.Policies) != len(Names()) {
			t.Fatalf("%d policies linted, want %d", len(r.Policies), len(Names()))
		}
		for i, req := range r.Policies {
			if req.Policy != Names()[i] || req.File != Names()[i]+".yaml" {
				t.Errorf("policy %d is %q in %s: metadata.name must equal the library name", i, req.Policy, req.File)
			}
			if req.NeedsOverride || len(req.LSMHooks) > 0 {
				t.Errorf("%s needs Override or BPF LSM; the library must load on Debian 12's cloud kernel", req.Policy)
			}
		}
	}
}

// TestLibraryRequirements pins what each policy asks of the kernel, which
// is what the provisioner's preflight looks up in /proc/kallsyms.
func TestLibraryRequirements(t *testing.T) {
	want := map[string][]string{
		"block-fd-install":       {"fd_install"},
		"block-internet-egress":  {"tcp_connect"},
		"block-package-managers": {"security_bprm_creds_from_file"},
		"log-file-access":        {"security_file_permission", "security_path_truncate"},
		"log-tcp-connect":        {"tcp_close", "tcp_connect"},
		"protect-nginx-html":     {"security_file_permission", "security_path_truncate"},
	}
	for _, name := range Names() {
		b, err := Render(name, defaults)
		if err != nil {
			t.Fatal(err)
		}
		r := lint([]policy.File{{Path: name + ".yaml", Data: b}})
		if len(r.Policies) != 1 || !reflect.DeepEqual(r.Policies[0].Symbols, want[name]) {
			t.Errorf("%s: requirements %+v, want symbols %v", name, r.Policies, want[name])
		}
	}
}

// The reference policies killed the host's own daemons. Each enforcing
// library policy must be scoped so that a host process cannot match: check
// that removing the scoping makes the linter complain, which proves the
// linter would catch a regression in the template.
func TestEnforcingPoliciesAreScoped(t *testing.T) {
	for _, name := range []string{"block-package-managers", "block-fd-install", "protect-nginx-html"} {
		b, _ := Render(name, defaults)
		if !strings.Contains(string(b), "host_ns") {
			t.Fatalf("%s lost its host_ns scoping", name)
		}
		unscoped := strings.ReplaceAll(string(b), "operator: NotIn", "operator: In")
		r := lint([]policy.File{{Path: name, Data: []byte(unscoped)}})
		if !hasRule(r, policy.RuleUnscopedEnforcement) {
			t.Errorf("%s scoped to the host should warn unscoped-enforcement:\n%v", name, r.Findings)
		}
	}
	b, _ := Render("block-internet-egress", defaults)
	vpcSource := strings.Replace(string(b), "        - 172.17.0.0/16\n", "        - 10.128.0.0/9\n", 1)
	r := lint([]policy.File{{Path: "egress", Data: []byte(vpcSource)}})
	if !hasRule(r, policy.RuleEgressSourceVPC) {
		t.Errorf("egress with the VPC as source should warn egress-source-vpc:\n%v", r.Findings)
	}
	// Without its v4-mapped sources the policy is bypassed by AF_INET6
	// sockets (issue 12): the linter must say so.
	ipv4Only := strings.Replace(string(b), "        - ::ffff:172.17.0.0/112\n", "", 1)
	if ipv4Only == string(b) {
		t.Fatal("block-internet-egress lost its v4-mapped Docker bridge source")
	}
	if r := lint([]policy.File{{Path: "egress", Data: []byte(ipv4Only)}}); !hasRule(r, policy.RuleEgressV4Mapped) {
		t.Errorf("egress without the v4-mapped bridge should warn egress-v4-mapped:\n%v", r.Findings)
	}
}

func hasRule(r policy.Report, rule string) bool {
	for _, f := range r.Findings {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

func TestEgressGolden(t *testing.T) {
	cases := map[string]policy.Network{
		"defaults":        defaults,
		"docker-only":     {DockerBridgeCIDR: "172.17.0.0/16"},
		"nomad-only":      {NomadBridgeCIDR: "172.26.64.0/20"},
		"bip-and-dup-vpc": {DockerBridgeCIDR: "172.18.0.1/16", NomadBridgeCIDR: "172.18.0.0/16", VPCCIDRs: []string{"10.10.0.0/20", "10.20.0.0/20", "10.10.0.0/20"}},
		"ipv6-vpc":        {DockerBridgeCIDR: "172.17.0.0/16", VPCCIDRs: []string{"fd20:1:2::/48"}},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Render("block-internet-egress", v)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Render("block-internet-egress", v)
			if string(again) != string(got) {
				t.Fatal("Render is not deterministic")
			}
			golden.Check(t, filepath.Join("testdata", "block-internet-egress."+name+".yaml"), got)
		})
	}
}

func TestRenderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    policy.Network
		want string
	}{
		{"no-such-policy", defaults, "valid names: block-fd-install, block-internet-egress"},
		{"block-internet-egress", policy.Network{VPCCIDRs: []string{"10.0.0.0/8"}}, "needs DockerBridgeCIDR or NomadBridgeCIDR"},
		{"block-internet-egress", policy.Network{DockerBridgeCIDR: "172.17.0.0"}, `DockerBridgeCIDR "172.17.0.0"`},
		{"block-internet-egress", policy.Network{NomadBridgeCIDR: "172.26.64.0/20\n- 0.0.0.0/0"}, `NomadBridgeCIDR`},
		{"block-internet-egress", policy.Network{DockerBridgeCIDR: "172.17.0.0/16", VPCCIDRs: []string{"10.0.0.0/8", "x"}}, `VPCCIDRs[1] "x"`},
	} {
		_, err := Render(tc.name, tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Render(%s, %+v) error = %v, want it to contain %q", tc.name, tc.v, err, tc.want)
		}
	}
	// Policies that do not use the network render without values.
	if _, err := Render("block-package-managers", policy.Network{}); err != nil {
		t.Errorf("block-package-managers with a zero network: %v", err)
	}
}

// TestDocs: every library policy has its doc in docs/, which the
// policies-on-nomad guide links to.
func TestDocs(t *testing.T) {
	for _, name := range Names() {
		b, err := os.ReadFile(filepath.Join("docs", name+".md"))
		if err != nil {
			t.Fatalf("policy %s has no doc: %v", name, err)
		}
		doc := string(b)
		for _, section := range []string{"# " + name + "\n", "**Catches**", "**Costs**", "**Test by hand**", `policy_name="` + name + `"`} {
			if !strings.Contains(doc, section) {
				t.Errorf("doc of %s lacks %q", name, section)
			}
		}
	}
}

// lint lints files in the network the library was rendered for.
func lint(files []policy.File) policy.Report {
	r, err := policy.LintWith(files, policy.Options{Network: defaults})
	if err != nil {
		panic(err)
	}
	return r
}

func TestRenderFilesRejectsRepeats(t *testing.T) {
	if _, err := RenderFiles([]string{"log-tcp-connect", "log-tcp-connect"}, defaults); err == nil ||
		!strings.Contains(err.Error(), "selected twice") {
		t.Fatalf("err = %v", err)
	}
	if _, err := RenderFiles([]string{"log-tcp"}, defaults); err == nil || !strings.Contains(err.Error(), "valid names") {
		t.Fatalf("err = %v", err)
	}
}
