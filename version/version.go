// Package version holds the plugin's version, reported to Packer by `describe`
// and stamped into every rendered bundle's manifest.
package version

import "github.com/hashicorp/packer-plugin-sdk/version"

var (
	// Version is overridden at release time by goreleaser's ldflags.
	Version = "0.1.0"
	// VersionPrerelease is "dev" for local builds; releases set it to "".
	VersionPrerelease = "dev"
	// VersionMetadata is optional build metadata.
	VersionMetadata = ""

	PluginVersion = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)
)
