package main

import "github.com/hashicorp/packer-plugin-sdk/plugin"

// registerComponents registers the Packer components that work today.
func registerComponents(pps *plugin.Set) {}
