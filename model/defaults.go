package model

import "github.com/tetranomad/packer-plugin-tetranomad/bundle"

// Defaults a user gets from an empty declaration. Exported so renderers,
// docs and tests refer to one value.
const (
	DefaultTetragonVersion    = "v1.7.0"
	MinimumTetragonVersion    = "v1.7.0"
	DefaultTetragonRepository = "quay.io/cilium/tetragon"
	DefaultExportImage        = "quay.io/cilium/hubble-export-stdout:v1.2.0"
	DefaultPolicyDir          = "/etc/tetragon/tetragon.tp.d"
	DefaultNomadVersion       = "1.10.5"
	DefaultNomadBridgeSubnet  = "172.26.64.0/20"
	DefaultDockerBridgeCIDR   = "172.17.0.0/16"
	DefaultForwardAddress     = "127.0.0.1:24224"
)

// DefaultLibraryPolicies observe and never enforce, so an empty declaration
// cannot break a workload.
var DefaultLibraryPolicies = []string{"log-file-access", "log-tcp-connect"}

// Install, source and agent kinds.
const (
	NomadInstallAPT    = "hashicorp-apt"
	NomadInstallBinary = "binary"
	NomadInstallNone   = "none"

	DockerSourceCE           = "docker-ce"
	DockerSourceDistro       = "distro"
	DockerSourcePreinstalled = "preinstalled"

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

	p := &d.Policies
	if p.Library == nil {
		p.Library = append([]string(nil), DefaultLibraryPolicies...)
	}
	if p.VPCCIDRs == nil {
		p.VPCCIDRs = []string{"10.128.0.0/9"}
	}

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
