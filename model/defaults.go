package model

import (
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/schema"
)

// Defaults a user gets from an empty declaration. Exported so renderers,
// docs and tests refer to one value.
const (
	// DefaultTetragonVersion is the Tetragon whose TracingPolicy schema the
	// linter embeds, so the default agent is the one the policies were
	// checked for. To move it, regenerate the schema (policy/schema/gen).
	DefaultTetragonVersion    = schema.TetragonVersion
	MinimumTetragonVersion    = "v1.7.0"
	DefaultTetragonRepository = "quay.io/cilium/tetragon"
	DefaultExportImage        = "quay.io/cilium/hubble-export-stdout:v1.2.0"
	DefaultPolicyDir          = "/etc/tetragon/tetragon.tp.d"
	// DefaultNomadVersion is the current community-edition release: since
	// 2.0.0 (2026-04) the 2.0.x line is the only one, and 2.0.4 fixed
	// CVE-2026-14891, which 1.10.5 never got.
	DefaultNomadVersion      = "2.0.5"
	DefaultNomadBridgeSubnet = "172.26.64.0/20"
	DefaultDockerBridgeCIDR  = "172.17.0.0/16"
	DefaultForwardAddress    = "127.0.0.1:24224"
	// DefaultBufferLimit bounds what dockerd holds for an unreachable agent:
	// at 1-2 KiB per Tetragon event, 16-32 MiB (Docker's own default,
	// 1,048,576 messages, is gigabytes).
	DefaultBufferLimit = 16384
	// GoogleFluentdEndOfSupport is the date Google ended support for the
	// legacy logging agent.
	GoogleFluentdEndOfSupport = "2026-09-28"
)

// The vendors' apt repositories and the fingerprints of their signing keys,
// as each vendor publishes them. The key paths are relative to the URL, so a
// mirror that proxies the whole site serves the key too. "{os_id}" is
// replaced on the VM by ID from /etc/os-release.
const (
	// Docker: https://docs.docker.com/engine/install/debian/ (and .../ubuntu/),
	// "Install using the apt repository"; the fingerprint is the one Docker's
	// install page has told users to verify (docker/docs engine/install/debian.md).
	DefaultDockerRepositoryURL  = "https://download.docker.com/linux/{os_id}"
	DockerKeyPath               = "/gpg"
	DefaultDockerKeyFingerprint = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
	// HashiCorp: https://www.hashicorp.com/official-packaging-guide (Linux
	// packages: "798A EC65 4E5C 1542 8C8E 42EE AA16 FCBC A621 E701"), the
	// key behind apt's NO_PUBKEY AA16FCBCA621E701 after the 2023 rotation
	// (hashicorp/terraform#32622).
	DefaultHashiCorpRepositoryURL  = "https://apt.releases.hashicorp.com"
	HashiCorpKeyPath               = "/gpg"
	DefaultHashiCorpKeyFingerprint = "798AEC654E5C15428C8E42EEAA16FCBCA621E701"
	// Google: add-google-cloud-ops-agent-repo.sh (dl.google.com/cloudagents)
	// adds https://packages.cloud.google.com/apt signed by
	// .../apt/doc/apt-key.gpg; https://cloud.google.com/artifact-registry/docs
	// names that key "Google Cloud Artifact Registry Automatic Signing Key".
	// The file may carry several keys: only the pinned one is trusted.
	DefaultGoogleRepositoryURL  = "https://packages.cloud.google.com/apt"
	GoogleKeyPath               = "/doc/apt-key.gpg"
	DefaultGoogleKeyFingerprint = "35BAA0B33E9EB396F59CA838C0BA5CE6DC6315A3"
	// OSIDPlaceholder in a repository URL becomes the VM's OS ID.
	OSIDPlaceholder = "{os_id}"
)

// DefaultLibraryPolicies observe and never enforce, so an empty declaration
// cannot break a workload.
var DefaultLibraryPolicies = []string{"log-file-access", "log-tcp-connect"}

// DefaultVPCCIDRs is the address range of a GCE auto-mode VPC.
var DefaultVPCCIDRs = []string{"10.128.0.0/9"}

// DefaultNetwork is the network of an empty declaration, for tools that lint
// without one (the lint command's flag defaults).
func DefaultNetwork() policy.Network {
	var d Declaration
	d.ApplyDefaults()
	return d.Network()
}

// Network is where the policies run, as the policy library renders and the
// linter checks them: the container bridges and the VPC.
func (d *Declaration) Network() policy.Network {
	return policy.Network{
		DockerBridgeCIDR: d.Docker.BridgeCIDR,
		NomadBridgeCIDR:  d.Nomad.BridgeNetworkSubnet,
		VPCCIDRs:         d.Policies.VPCCIDRs,
	}
}

// Install, source and agent kinds.
const (
	NomadInstallAPT    = "hashicorp-apt"
	NomadInstallBinary = "binary"
	NomadInstallNone   = "none"

	DockerSourceCE           = "docker-ce"
	DockerSourceDistro       = "distro"
	DockerSourcePreinstalled = "preinstalled"

	PolicyModeEnforce = "enforce"
	PolicyModeMonitor = "monitor"

	AgentOps           = "ops-agent"
	AgentGoogleFluentd = "google-fluentd"
	AgentNone          = "none"
)

// ApplyDefaults fills every unset field. It is idempotent.
func (d *Declaration) ApplyDefaults() {
	t := &d.Tetragon
	setString(&t.Version, DefaultTetragonVersion)
	setString(&t.Image, DefaultTetragonRepository+":"+t.Version)
	setString(&t.ExportImage, DefaultExportImage)
	setBool(&t.HostPID, true)
	setString(&t.ExportFilename, "tetragon.log")
	setInt(&t.ExportFileMaxSizeMB, 10)
	setInt(&t.ExportFileMaxBackups, 5)
	setString(&t.PolicyDir, DefaultPolicyDir)
	setInt(&t.MetricsPort, 2112)
	setInt(&t.HealthPort, 6789)
	setInt(&t.CPU, 500)
	setInt(&t.MemoryMB, 512)

	n := &d.Nomad
	setString(&n.Install, NomadInstallAPT)
	setString(&n.Version, DefaultNomadVersion)
	setString(&n.ConfigDir, "/etc/nomad.d")
	setString(&n.DropInName, "tetragon")
	setString(&n.JobName, "tetragon")
	setString(&n.Namespace, "default")
	setString(&n.Region, "global")
	if n.Datacenters == nil {
		n.Datacenters = []string{"*"}
	}
	setString(&n.NodePool, "all")
	setInt(&n.MaxParallel, 1)
	setString(&n.BridgeNetworkSubnet, DefaultNomadBridgeSubnet)
	setString(&n.Base.Datacenter, "dc1")
	setString(&n.Base.NodePool, "default")
	setString(&n.Base.DataDir, "/opt/nomad/data")

	v := &d.HostVolumes
	setString(&v.BTF.Name, "tetragon-btf")
	setString(&v.BTF.Path, "/sys/kernel/btf/vmlinux")
	setString(&v.Logs.Name, "tetragon-logs")
	setString(&v.Logs.Path, "/var/log/tetragon")
	setString(&v.BPFFS.Name, "tetragon-bpffs")
	setString(&v.BPFFS.Path, "/sys/fs/bpf")

	k := &d.Docker
	setString(&k.Source, DockerSourceCE)
	setString(&k.BridgeCIDR, DefaultDockerBridgeCIDR)
	setString(&k.LogMaxSize, "10m")
	setInt(&k.LogMaxFile, 3)
	setBool(&k.LiveRestore, true)

	l := &d.Logging
	setString(&l.Agent, AgentOps)
	setString(&l.ForwardAddress, DefaultForwardAddress)
	setString(&l.Tag, "tetragon")
	setString(&l.MaxBufferSize, "8m")
	setInt(&l.BufferLimit, DefaultBufferLimit)

	p := &d.Policies
	if p.Library == nil {
		p.Library = append([]string(nil), DefaultLibraryPolicies...)
	}
	if p.VPCCIDRs == nil {
		p.VPCCIDRs = append([]string(nil), DefaultVPCCIDRs...)
	}
	setString(&p.Mode, PolicyModeEnforce)

	r := &d.Repositories
	r.Docker.applyDefaults(DefaultDockerRepositoryURL, DockerKeyPath, DefaultDockerKeyFingerprint)
	r.HashiCorp.applyDefaults(DefaultHashiCorpRepositoryURL, HashiCorpKeyPath, DefaultHashiCorpKeyFingerprint)
	r.Google.applyDefaults(DefaultGoogleRepositoryURL, GoogleKeyPath, DefaultGoogleKeyFingerprint)

	setString(&d.Publish.Prefix, bundle.DefaultPrefix)
	setString(&d.Publish.DownloadBaseURL, bundle.DefaultDownloadBaseURL)
}

func setString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setBool(p **bool, v bool) {
	if *p == nil {
		*p = &v
	}
}

// applyDefaults fills a repository: a mirror's key is looked up where the
// vendor keeps it, relative to the mirror's URL.
func (r *Repository) applyDefaults(url, keyPath, fingerprint string) {
	setString(&r.URL, url)
	setString(&r.KeyURL, strings.TrimRight(r.URL, "/")+keyPath)
	setString(&r.KeyFingerprint, fingerprint)
}

// NormalizeFingerprint is a fingerprint as gpg prints it in --with-colons:
// upper-case hex without spaces.
func NormalizeFingerprint(f string) string {
	return strings.ToUpper(strings.ReplaceAll(f, " ", ""))
}
