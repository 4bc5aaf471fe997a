package main

import (
	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/tetranomad/packer-plugin-tetranomad/postprocessor"
	"github.com/tetranomad/packer-plugin-tetranomad/provisioner"
)

// registerComponents registers the Packer components that work today.
func registerComponents(pps *plugin.Set) {
	pps.RegisterProvisioner(plugin.DEFAULT_NAME, new(provisioner.Provisioner))
	pps.RegisterPostProcessor("publish", new(postprocessor.PostProcessor))
}
