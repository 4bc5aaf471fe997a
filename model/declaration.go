// Package model is the one declaration a user writes (the provisioner's HCL
// block, or the same schema in a standalone file) decoded into one typed value.
// Every artifact tetranomad produces is rendered from a prepared Declaration;
// a name two artifacts share lives here once.
package model

//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Declaration,Tetragon,Nomad,BaseClient,HostVolumes,HostVolume,Docker,Logging,Policies,Publish,Repositories,Repository

// Declaration is everything a user declares.
type Declaration struct {
	// Tetragon agent and export sidecar.
	Tetragon Tetragon `mapstructure:"tetragon"`
	// Nomad client, installation and jobspec settings.
	Nomad Nomad `mapstructure:"nomad"`
	// Host volumes the Nomad client exposes to the Tetragon job.
	HostVolumes HostVolumes `mapstructure:"host_volumes"`
	// Docker engine settings.
	Docker Docker `mapstructure:"docker"`
	// The logging agent that forwards Tetragon events to Cloud Logging.
	Logging Logging `mapstructure:"logging"`
	// TracingPolicies: library selection, your own files, templated values.
	Policies Policies `mapstructure:"policies"`
	// Where the bundle is published.
	Publish Publish `mapstructure:"publish"`
	// The vendors' apt repositories, or your mirrors of them, each with the
	// fingerprint its signing key must have.
	Repositories Repositories `mapstructure:"repositories"`
}

// Tetragon configures the agent task and its export sidecar.
type Tetragon struct {
	// Tetragon release, `vX.Y.Z`, at least v1.7.0. Defaults to `v1.7.0`.
	Version string `mapstructure:"version"`
	// Agent image. Defaults to `quay.io/cilium/tetragon:<version>`; a digest
	// (`repo@sha256:…` or `repo:tag@sha256:…`) pins it exactly.
	Image string `mapstructure:"image"`
	// Export sidecar image. Defaults to `quay.io/cilium/hubble-export-stdout:v1.2.0`.
	ExportImage string `mapstructure:"export_image"`
	// Extra Tetragon flags appended to the ones tetranomad manages.
	ExtraArgs []string `mapstructure:"extra_args"`
	// Run the agent in the host PID namespace, so process ancestry is the
	// host's. Defaults to `true`.
	HostPID *bool `mapstructure:"host_pid"`
	// File name of the JSON export inside the log volume. Defaults to `tetragon.log`.
	ExportFilename string `mapstructure:"export_filename"`
	// Rotate the export file at this size. Defaults to `10`.
	ExportFileMaxSizeMB int `mapstructure:"export_file_max_size_mb"`
	// Rotated export files kept. Defaults to `5`.
	ExportFileMaxBackups int `mapstructure:"export_file_max_backups"`
	// Gzip rotated export files.
	ExportFileCompress bool `mapstructure:"export_file_compress"`
	// Policy directory inside the container. Defaults to `/etc/tetragon/tetragon.tp.d`.
	PolicyDir string `mapstructure:"policy_dir"`
	// Prometheus metrics port inside the container. Defaults to `2112`.
	MetricsPort int `mapstructure:"metrics_port"`
	// gRPC health server port inside the container. Defaults to `6789`.
	HealthPort int `mapstructure:"health_port"`
	// CPU for the agent task, in MHz. Defaults to `500`.
	CPU int `mapstructure:"cpu"`
	// Memory for the agent task, in MiB. Defaults to `512`.
	MemoryMB int `mapstructure:"memory_mb"`
}

// Nomad configures how Nomad is installed on the image, the client drop-in
// and the jobspec's placement.
type Nomad struct {
	// How Nomad gets onto the image: `hashicorp-apt` (HashiCorp's signed apt
	// repository), `binary` (upload `binary_source`), or `none` (already there).
	// Defaults to `hashicorp-apt`.
	Install string `mapstructure:"install"`
	// Nomad version installed and recorded in image labels. Defaults to `2.0.5`,
	// the current community-edition release; 1.10 and later work.
	Version string `mapstructure:"version"`
	// Local path of a nomad binary to upload when `install = "binary"`.
	BinarySource string `mapstructure:"binary_source"`
	// Expected sha256 (hex) of `binary_source`, checked before upload and on the VM.
	BinarySHA256 string `mapstructure:"binary_sha256"`
	// Nomad's configuration directory on the VM. Defaults to `/etc/nomad.d`.
	ConfigDir string `mapstructure:"config_dir"`
	// Name of the drop-in written to `<config_dir>/<drop_in_name>.hcl`. Defaults to `tetragon`.
	DropInName string `mapstructure:"drop_in_name"`
	// Job ID of the Tetragon system job. Defaults to `tetragon`.
	JobName string `mapstructure:"job_name"`
	// Nomad namespace of the job. Defaults to `default`.
	Namespace string `mapstructure:"namespace"`
	// Nomad region of the job (and of the base client config). Defaults to `global`.
	Region string `mapstructure:"region"`
	// Datacenters the job runs in. Defaults to `["*"]`.
	Datacenters []string `mapstructure:"datacenters"`
	// Node pool of the job. Defaults to `all`, so Tetragon runs on every client.
	NodePool string `mapstructure:"node_pool"`
	// Clients whose Tetragon allocation is replaced at the same time during a
	// job update. Defaults to `1`. From Nomad 1.11 it also caps the canaries.
	MaxParallel int `mapstructure:"max_parallel"`
	// Percentage (1-100) of the clients being updated that first get the new
	// job version as canaries, with `auto_promote = false` and
	// `auto_revert = true`: the rest wait for `nomad deployment promote`.
	// Needs `version` 1.11.0 or later (system-job canaries); `0`, the default,
	// rolls out without canaries. Nomad caps the canaries at `max_parallel`.
	CanaryPercent int `mapstructure:"canary_percent"`
	// Nomad's bridge network subnet, written to the client drop-in and used by
	// egress policies. Defaults to Nomad's own default, `172.26.64.0/20`.
	BridgeNetworkSubnet string `mapstructure:"bridge_network_subnet"`
	// Optional base client configuration, so no `sed` runs at boot.
	Base BaseClient `mapstructure:"base_config"`
}

// BaseClient is an optional full client configuration written next to the drop-in.
type BaseClient struct {
	// Write `<config_dir>/client.hcl` with the settings below.
	Enabled bool `mapstructure:"enabled"`
	// Client datacenter. Defaults to `dc1`.
	Datacenter string `mapstructure:"datacenter"`
	// Client node pool. Defaults to `default`.
	NodePool string `mapstructure:"node_pool"`
	// Nomad data directory. Defaults to `/opt/nomad/data`.
	DataDir string `mapstructure:"data_dir"`
	// Interface whose address Nomad binds to, resolved at boot by go-sockaddr
	// (`GetInterfaceIP`). Empty binds to the private IP (`GetPrivateIP`).
	BindInterface string `mapstructure:"bind_interface"`
	// `tag_value` of the GCE cloud auto-join for `server_join`; servers are
	// found by this network tag. Empty with `servers` empty writes no `server_join`.
	ServerJoinTag string `mapstructure:"server_join_tag"`
	// GCE project of the servers; empty means the VM's own project.
	ServerJoinProject string `mapstructure:"server_join_project"`
	// Regular expression of the zones searched for servers.
	ServerJoinZonePattern string `mapstructure:"server_join_zone_pattern"`
	// Static server addresses (`host[:port]`), instead of or besides the GCE tag.
	Servers []string `mapstructure:"servers"`
}

// HostVolumes names the Nomad host volumes the job mounts. Whether each is
// read-only is fixed by its role, not configurable.
type HostVolumes struct {
	// The kernel's BTF, read-only. Defaults to `tetragon-btf` at `/sys/kernel/btf/vmlinux`.
	BTF HostVolume `mapstructure:"btf"`
	// Tetragon's log directory, read-write. Defaults to `tetragon-logs` at `/var/log/tetragon`.
	Logs HostVolume `mapstructure:"logs"`
	// The BPF filesystem, read-write, so pinned maps outlive the container.
	// Defaults to `tetragon-bpffs` at `/sys/fs/bpf`.
	BPFFS HostVolume `mapstructure:"bpffs"`
}

// HostVolume is one `host_volume` in the client config.
type HostVolume struct {
	// Volume name shared by the client config and the jobspec.
	Name string `mapstructure:"name"`
	// Absolute path on the host.
	Path string `mapstructure:"path"`
}

// Docker configures the Docker engine on the image.
type Docker struct {
	// `docker-ce` (Docker's signed apt repository), `distro` (the OS's
	// `docker.io`), or `preinstalled`. Defaults to `docker-ce`.
	Source string `mapstructure:"source"`
	// Docker's default bridge network, IPv4 CIDR. Defaults to `172.17.0.0/16`.
	BridgeCIDR string `mapstructure:"bridge_cidr"`
	// json-file log rotation size. Defaults to `10m`.
	LogMaxSize string `mapstructure:"log_max_size"`
	// json-file rotated files kept. Defaults to `3`.
	LogMaxFile int `mapstructure:"log_max_file"`
	// Keep containers running while dockerd restarts. Defaults to `true`.
	LiveRestore *bool `mapstructure:"live_restore"`
}

// Logging configures the agent that receives Tetragon's events.
type Logging struct {
	// `ops-agent`, `google-fluentd` (legacy: end of support 2026-09-28) or
	// `none`. Defaults to `ops-agent`.
	Agent string `mapstructure:"agent"`
	// Write the agent's configuration but do not install the agent.
	ConfigureOnly bool `mapstructure:"configure_only"`
	// Fluent forward address the agent listens on and Docker sends to: an
	// IPv4 `address:port` (Docker's driver cannot dial an IPv6 literal).
	// Defaults to `127.0.0.1:24224`.
	ForwardAddress string `mapstructure:"forward_address"`
	// Fluentd tag of Tetragon's events, also the end of the Cloud Logging log
	// name: letters, digits, `_`, `-`, `/`, and `.` between parts. Defaults to `tetragon`.
	Tag string `mapstructure:"tag"`
	// Size of the non-blocking ring in front of Docker's fluentd driver
	// (Docker's `max-buffer-size`). Defaults to `8m`.
	MaxBufferSize string `mapstructure:"max_buffer_size"`
	// Events dockerd queues in memory while the agent is unreachable
	// (Docker's `fluentd-buffer-limit`, a message count); newer events are
	// dropped once it is full. Defaults to `16384`.
	BufferLimit int `mapstructure:"buffer_limit"`
}

// Policies selects the TracingPolicies shipped in the bundle.
type Policies struct {
	// Library policies by name. Defaults to `["log-file-access", "log-tcp-connect"]`
	// (observe only); `[]` ships none.
	Library []string `mapstructure:"library"`
	// Your own TracingPolicy YAML files.
	Files []string `mapstructure:"files"`
	// VPC ranges that egress policies treat as internal. Defaults to `["10.128.0.0/9"]`.
	VPCCIDRs []string `mapstructure:"vpc_cidrs"`
	// `enforce` (the default) ships the policies as written; `monitor` ships
	// every enforcing policy with Tetragon's `spec.options` `policy-mode:
	// monitor`, so its kills and overrides are reported, not carried out.
	Mode string `mapstructure:"mode"`
}

// Publish says where the bundle goes. Without a bucket the policies are
// inlined into the jobspec.
type Publish struct {
	// GCS bucket the bundle is published to.
	Bucket string `mapstructure:"bucket"`
	// Object prefix inside the bucket. Defaults to `tetranomad`.
	Prefix string `mapstructure:"prefix"`
	// The bucket is publicly readable: the jobspec fetches over https instead
	// of `gcs::` with the VM's service account.
	Public bool `mapstructure:"public"`
	// Base URL of public downloads. Defaults to `https://storage.googleapis.com`.
	DownloadBaseURL string `mapstructure:"download_base_url"`
}

// Repositories are the three vendors' apt repositories the image may install
// from. Point them at a mirror (Artifactory, Nexus, an air-gapped copy); a
// key whose fingerprint differs from key_fingerprint stops the build before
// apt uses it.
type Repositories struct {
	// Docker's repository (`docker.source = "docker-ce"`). Defaults to
	// `https://download.docker.com/linux/{os_id}`, its key from `<url>/gpg`.
	Docker Repository `mapstructure:"docker"`
	// HashiCorp's repository (`nomad.install = "hashicorp-apt"`). Defaults to
	// `https://apt.releases.hashicorp.com`, its key from `<url>/gpg`.
	HashiCorp Repository `mapstructure:"hashicorp"`
	// Google's repository of the logging agents. Defaults to
	// `https://packages.cloud.google.com/apt`, its key from `<url>/doc/apt-key.gpg`.
	Google Repository `mapstructure:"google"`
}

// Repository is one apt repository and the key that signs it.
type Repository struct {
	// Base URL of the repository (http, https or file); `{os_id}` becomes the
	// VM's `ID` from /etc/os-release (`debian`, `ubuntu`). Suites and
	// components are the vendor's, so a mirror must keep them.
	URL string `mapstructure:"url"`
	// Where the VM downloads the signing key (http, https or file; `{os_id}`
	// as in `url`). Defaults to the vendor's key location under `url`.
	KeyURL string `mapstructure:"key_url"`
	// The signing key itself (ASCII-armored), e.g. `file("mirror.asc")`,
	// shipped with the script instead of being downloaded: for air-gapped builds.
	Key string `mapstructure:"key" text:"multiline"`
	// Fingerprint (40 hex digits, spaces allowed) of the key apt may trust
	// for this repository. Defaults to the vendor's published fingerprint.
	KeyFingerprint string `mapstructure:"key_fingerprint"`
}
