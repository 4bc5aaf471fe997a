// Package clientconfig renders the Nomad client configuration files from a
// prepared declaration: the drop-in the Tetragon job depends on, and an
// optional base client config. Pure: model in, bytes out, written with
// hclwrite so the output is exactly what `nomad fmt` produces.
package clientconfig

import (
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

// BaseFileName is the base config's file name in the Nomad config directory
// (the model refuses it as a drop-in name when the base config is enabled).
const BaseFileName = "client.hcl"

// DropIn renders the client drop-in: the host volumes, Nomad's bridge subnet,
// the contract hash in node meta, and a Docker plugin that allows privileged
// containers. Host volumes reach Docker as bind mounts, so the plugin needs
// no `volumes` setting.
func DropIn(d *model.Declaration) []byte {
	contract := d.Contract()
	hash := contract.Hash()
	f := hclwrite.NewEmptyFile()
	root := f.Body()
	comment(root,
		"Rendered by tetranomad. The Tetragon job relies on every value in this file",
		"(contract "+hash+"); change the declaration and render again.")

	client := root.AppendNewBlock("client", nil).Body()
	client.SetAttributeValue("bridge_network_subnet", cty.StringVal(d.Nomad.BridgeNetworkSubnet))
	for _, v := range d.HostVolumes.Roles() {
		client.AppendNewline()
		hv := client.AppendNewBlock("host_volume", []string{v.Name}).Body()
		hv.SetAttributeValue("path", cty.StringVal(v.Path))
		hv.SetAttributeValue("read_only", cty.BoolVal(v.ReadOnly))
	}
	client.AppendNewline()
	meta := client.AppendNewBlock("meta", nil).Body()
	meta.SetAttributeValue(model.ContractMetaKey, cty.StringVal(hash))

	root.AppendNewline()
	docker := root.AppendNewBlock("plugin", []string{"docker"}).Body()
	config := docker.AppendNewBlock("config", nil).Body()
	// Sets the driver attribute driver.docker.privileged.enabled, which the
	// jobspec constrains on.
	if d.Tetragon.HostPID != nil && *d.Tetragon.HostPID {
		// Said in the file, for whoever edits it on a node: dropping
		// allow_privileged also takes away pid_mode = "host".
		for _, l := range []string{
			"Also admits the job's pid_mode = \"host\": since Nomad 2.0.4 (CVE-2026-14891)",
			"host namespace modes need allow_privileged or the plugin's allowed_modes.",
			"This file relies on allow_privileged; allowed_modes is left out because",
			"Nomad 1.10 agents refuse to start with it.",
		} {
			// Attached to the attribute, unlike comment()'s detached paragraphs.
			config.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# " + l + "\n")}})
		}
	}
	config.SetAttributeValue("allow_privileged", cty.BoolVal(contract.Privileged))
	return f.Bytes()
}

// Base renders the base client config, or nil when the declaration does not
// enable it. bind_addr is a go-sockaddr template Nomad resolves at start, so
// the image needs no per-VM editing.
func Base(d *model.Declaration) []byte {
	b := d.Nomad.Base
	if !b.Enabled {
		return nil
	}
	f := hclwrite.NewEmptyFile()
	root := f.Body()
	comment(root, "Rendered by tetranomad: the base client configuration.")
	root.SetAttributeValue("region", cty.StringVal(d.Nomad.Region))
	root.SetAttributeValue("datacenter", cty.StringVal(b.Datacenter))
	root.SetAttributeValue("data_dir", cty.StringVal(b.DataDir))
	root.SetAttributeValue("bind_addr", cty.StringVal(BindAddr(b)))

	root.AppendNewline()
	client := root.AppendNewBlock("client", nil).Body()
	client.SetAttributeValue("enabled", cty.True)
	client.SetAttributeValue("node_pool", cty.StringVal(b.NodePool))
	if join := RetryJoin(b); len(join) > 0 {
		client.AppendNewline()
		sj := client.AppendNewBlock("server_join", nil).Body()
		sj.SetAttributeValue("retry_join", stringList(join))
	}
	return f.Bytes()
}

// BindAddr is the go-sockaddr template for bind_addr.
func BindAddr(b model.BaseClient) string {
	if b.BindInterface == "" {
		return "{{ GetPrivateIP }}"
	}
	return `{{ GetInterfaceIP "` + b.BindInterface + `" }}`
}

// RetryJoin lists server_join.retry_join: the GCE cloud auto-join entry
// (go-discover's "provider=gce key=value ..." form) first, then static servers.
func RetryJoin(b model.BaseClient) []string {
	var out []string
	if b.ServerJoinTag != "" {
		parts := []string{"provider=gce"}
		if b.ServerJoinProject != "" {
			parts = append(parts, "project_name="+b.ServerJoinProject)
		}
		parts = append(parts, "tag_value="+b.ServerJoinTag)
		if b.ServerJoinZonePattern != "" {
			parts = append(parts, "zone_pattern="+b.ServerJoinZonePattern)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return append(out, b.Servers...)
}

func stringList(vs []string) cty.Value {
	if len(vs) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(vs))
	for i, v := range vs {
		vals[i] = cty.StringVal(v)
	}
	return cty.ListVal(vals)
}

func comment(body *hclwrite.Body, lines ...string) {
	for _, l := range lines {
		body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# " + l + "\n")}})
	}
	body.AppendNewline()
}
