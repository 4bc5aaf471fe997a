package clientconfig

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/tetranomad/packer-plugin-tetranomad/internal/golden"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

func parse(t testing.TB, src string) *model.Declaration {
	t.Helper()
	d, err := model.Parse("test.hcl", []byte(src))
	if err != nil {
		t.Fatalf("declaration: %v", err)
	}
	return d
}

const customDeclaration = `
host_volumes {
  btf {
    name = "kernel-btf"
    path = "/opt/btf/vmlinux"
  }
  logs {
    name = "tg_logs"
    path = "/srv/tetragon/logs"
  }
}
nomad {
  bridge_network_subnet = "172.30.0.0/20"
}
logging {
  forward_address = "127.0.0.2:24225"
}
`

const gceBase = `
nomad {
  region = "europe"
  base_config {
    enabled                  = true
    datacenter               = "europe-west1"
    node_pool                = "observability"
    data_dir                 = "/var/lib/nomad"
    bind_interface           = "ens4"
    server_join_tag          = "nomad-server"
    server_join_project      = "infra-prod"
    server_join_zone_pattern = "europe-west1-.*"
    servers                  = ["10.10.0.2", "10.10.0.3:4647"]
  }
}
`

func TestGolden(t *testing.T) {
	cases := []struct {
		golden string
		render func(*model.Declaration) []byte
		decl   string
	}{
		{"dropin-default.hcl", DropIn, ""},
		{"dropin-custom.hcl", DropIn, customDeclaration},
		{"base-gce.hcl", Base, gceBase},
		{"base-private-ip.hcl", Base, "nomad {\n  base_config {\n    enabled = true\n  }\n}\n"},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			got := c.render(parse(t, c.decl))
			golden.Check(t, filepath.Join("testdata", c.golden), got)
		})
	}
}

// The output is what nomad fmt writes: hclwrite's formatter (which nomad fmt
// runs) leaves it unchanged. The real binary is checked in package render.
func TestOutputIsFormatted(t *testing.T) {
	for _, src := range []string{"", customDeclaration, gceBase} {
		d := parse(t, src)
		for name, out := range map[string][]byte{"drop-in": DropIn(d), "base": Base(d)} {
			if out == nil {
				continue
			}
			if formatted := hclwrite.Format(out); !bytes.Equal(formatted, out) {
				t.Errorf("%s is not formatted:\n%s\n--- formatted:\n%s", name, out, formatted)
			}
			if !bytes.HasSuffix(out, []byte("}\n")) {
				t.Errorf("%s does not end in a newline", name)
			}
		}
	}
}

func TestBaseIsNilUnlessEnabled(t *testing.T) {
	if out := Base(parse(t, "")); out != nil {
		t.Fatalf("base config rendered though not enabled:\n%s", out)
	}
}

// Reading the drop-in back gives exactly the model's values.
func TestDropInCarriesTheModel(t *testing.T) {
	d := parse(t, customDeclaration)
	body := parseHCL(t, DropIn(d))

	client := onlyBlock(t, body, "client")
	if got := attrString(t, client, "bridge_network_subnet"); got != "172.30.0.0/20" {
		t.Errorf("bridge_network_subnet = %q", got)
	}
	type vol struct {
		path     string
		readOnly bool
	}
	got := map[string]vol{}
	for _, b := range client.Blocks {
		if b.Type == "host_volume" {
			got[b.Labels[0]] = vol{attrString(t, b.Body, "path"), attrBool(t, b.Body, "read_only")}
		}
	}
	want := map[string]vol{
		"kernel-btf":     {"/opt/btf/vmlinux", true},
		"tg_logs":        {"/srv/tetragon/logs", false},
		"tetragon-bpffs": {"/sys/fs/bpf", false},
	}
	if len(got) != len(want) {
		t.Errorf("host volumes = %v, want %v", got, want)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("host_volume %q = %+v, want %+v", name, got[name], w)
		}
	}
	meta := onlyBlock(t, client, "meta")
	if got, want := attrString(t, meta, model.ContractMetaKey), d.Contract().Hash(); got != want {
		t.Errorf("meta %s = %q, want the contract hash %q", model.ContractMetaKey, got, want)
	}
	plugin := onlyBlock(t, body, "plugin")
	if !attrBool(t, onlyBlock(t, plugin, "config"), "allow_privileged") {
		t.Error("plugin docker does not allow privileged containers")
	}
}

// A different forward address is a different contract, so the meta changes.
func TestContractMetaFollowsTheDeclaration(t *testing.T) {
	a := DropIn(parse(t, ""))
	b := DropIn(parse(t, "logging {\n  forward_address = \"127.0.0.1:24225\"\n}\n"))
	if bytes.Equal(a, b) {
		t.Fatal("changing logging.forward_address did not change the drop-in's contract meta")
	}
}

func TestBaseCarriesTheModel(t *testing.T) {
	body := parseHCL(t, Base(parse(t, gceBase)))
	for attr, want := range map[string]string{
		"region":     "europe",
		"datacenter": "europe-west1",
		"data_dir":   "/var/lib/nomad",
		"bind_addr":  `{{ GetInterfaceIP "ens4" }}`,
	} {
		if got := attrString(t, body, attr); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	client := onlyBlock(t, body, "client")
	if !attrBool(t, client, "enabled") {
		t.Error("client.enabled is not true")
	}
	if got := attrString(t, client, "node_pool"); got != "observability" {
		t.Errorf("node_pool = %q", got)
	}
	join := evalAttr(t, onlyBlock(t, client, "server_join"), "retry_join")
	var got []string
	for _, v := range join.AsValueSlice() {
		got = append(got, v.AsString())
	}
	want := []string{
		"provider=gce project_name=infra-prod tag_value=nomad-server zone_pattern=europe-west1-.*",
		"10.10.0.2",
		"10.10.0.3:4647",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("retry_join = %q, want %q", got, want)
	}
}

func TestRetryJoin(t *testing.T) {
	cases := []struct {
		base model.BaseClient
		want []string
	}{
		{model.BaseClient{}, nil},
		{model.BaseClient{ServerJoinTag: "srv"}, []string{"provider=gce tag_value=srv"}},
		{model.BaseClient{Servers: []string{"a:1"}}, []string{"a:1"}},
		{model.BaseClient{ServerJoinTag: "srv", ServerJoinZonePattern: "us-.*"}, []string{"provider=gce tag_value=srv zone_pattern=us-.*"}},
	}
	for _, c := range cases {
		if got := RetryJoin(c.base); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("RetryJoin(%+v) = %q, want %q", c.base, got, c.want)
		}
	}
	// Without any server to join the base config has no server_join block.
	body := parseHCL(t, Base(parse(t, "nomad {\n  base_config {\n    enabled = true\n  }\n}\n")))
	for _, b := range onlyBlock(t, body, "client").Blocks {
		if b.Type == "server_join" {
			t.Error("server_join rendered without servers")
		}
	}
	if got := attrString(t, body, "bind_addr"); got != "{{ GetPrivateIP }}" {
		t.Errorf("bind_addr without an interface = %q", got)
	}
}

func TestDeterministic(t *testing.T) {
	for _, src := range []string{"", customDeclaration, gceBase} {
		if !bytes.Equal(DropIn(parse(t, src)), DropIn(parse(t, src))) || !bytes.Equal(Base(parse(t, src)), Base(parse(t, src))) {
			t.Fatalf("two renderings of the same declaration differ:\n%s", src)
		}
	}
}

func parseHCL(t *testing.T, src []byte) *hclsyntax.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "rendered.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("rendered HCL does not parse: %v\n%s", diags, src)
	}
	return f.Body.(*hclsyntax.Body)
}

func onlyBlock(t *testing.T, body *hclsyntax.Body, typ string) *hclsyntax.Body {
	t.Helper()
	var found []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %q blocks, want 1", len(found), typ)
	}
	return found[0].Body
}

func evalAttr(t *testing.T, body *hclsyntax.Body, name string) cty.Value {
	t.Helper()
	a, ok := body.Attributes[name]
	if !ok {
		t.Fatalf("no attribute %q", name)
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	return v
}

func attrString(t *testing.T, body *hclsyntax.Body, name string) string {
	return evalAttr(t, body, name).AsString()
}

func attrBool(t *testing.T, body *hclsyntax.Body, name string) bool {
	return evalAttr(t, body, name).True()
}
