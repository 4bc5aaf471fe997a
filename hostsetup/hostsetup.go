// Package hostsetup renders the one script the provisioner runs on the VM,
// and the data files it installs, from a prepared declaration and its
// rendered bundle. Pure: model and bundle in, bytes out.
//
// The script is self-extracting: Payload.Write emits the script followed by
// a gzipped tar of the data files, so the provisioner uploads one file and
// runs one command. On the VM the script runs its steps in order
// (preflight, packages, docker, logging, nomad), announces each one and
// reports through marker lines (see protocol.go) that the provisioner turns
// into prefixed UI output and errors.
package hostsetup

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/clientconfig"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

//go:embed setup.sh
var scriptBody []byte

// OpsAgentMergeScript merges the rendered Ops Agent configuration into the
// VM's config.yaml (python3 with PyYAML, run by the script).
//
//go:embed opsagent_merge.py
var OpsAgentMergeScript []byte

// Where the script installs Nomad when it uploads the binary. /usr/local/bin
// keeps it apart from a dpkg-managed /usr/bin/nomad.
const (
	BinaryInstallPath = "/usr/local/bin/nomad"
	// APTBinaryPath is where HashiCorp's package puts nomad.
	APTBinaryPath = "/usr/bin/nomad"
	// UnitPath is where the script writes nomad.service for a binary install.
	UnitPath = "/etc/systemd/system/nomad.service"
	// OrderingDropInPath orders nomad.service after Docker and the logging agent.
	OrderingDropInPath = "/etc/systemd/system/nomad.service.d/tetranomad.conf"
	// DaemonJSONPath is Docker's daemon configuration, merged, never replaced.
	DaemonJSONPath = "/etc/docker/daemon.json"
	// OpsAgentConfigPath is the Ops Agent's user configuration.
	OpsAgentConfigPath = "/etc/google-cloud-ops-agent/config.yaml"
	// FluentdConfigPath is tetranomad's file in google-fluentd's config.d.
	FluentdConfigPath = "/etc/google-fluentd/config.d/tetragon.conf"
)

// Payload file names, relative to the payload root.
const (
	NomadBinaryFile   = "nomad/nomad"
	requirementsFile  = "preflight/requirements.tsv"
	daemonJSONFile    = "docker/daemon.json"
	unitFile          = "nomad/nomad.service"
	orderingFile      = "nomad/ordering.conf"
	opsAgentFile      = "logging/config.yaml"
	opsAgentMergeFile = "logging/merge.py"
	fluentdFile       = "logging/tetragon.conf"
	nomadConfigPrefix = "nomad/config/"
	keysPrefix        = "keys/"
)

// Input is what the script is rendered from.
type Input struct {
	// Declaration is prepared (defaults applied, valid).
	Declaration *model.Declaration
	// Bundle is the rendered bundle; its client-config (and base-config)
	// files are installed on the VM byte for byte.
	Bundle *bundle.Bundle
	// Policies are the selected policies' kernel requirements, checked by
	// the preflight.
	Policies []policy.Requirements
	// PluginVersion is printed by the script, for support.
	PluginVersion string
	// NomadBinaryInstalled says the VM already has nomad.binary_sha256 at
	// BinaryInstallPath (the provisioner looked), so the binary is not
	// shipped again; the script still checks it.
	NomadBinaryInstalled bool
}

// File is one data file of the payload.
type File struct {
	Name string // slash-separated, relative to the payload root
	Mode int64
	Data []byte
}

// Payload is the rendered script and the data files that travel with it.
type Payload struct {
	// Script is the bash script, without the appended archive.
	Script []byte
	// Files are the data files, sorted by name.
	Files []File
	// Streams names the files the caller must supply to Write because they
	// are too big to render into memory (the uploaded nomad binary).
	Streams []string
}

// Render renders the script and its data files.
func Render(in Input) (*Payload, error) {
	d := in.Declaration
	if d == nil || in.Bundle == nil {
		return nil, fmt.Errorf("hostsetup: a declaration and a bundle are required")
	}
	p := &Payload{}
	add := func(name string, mode int64, data []byte) {
		p.Files = append(p.Files, File{Name: name, Mode: mode, Data: data})
	}

	dropIn, err := bundleFile(in.Bundle, bundle.RoleClientConfig, true)
	if err != nil {
		return nil, err
	}
	dropInName := d.Nomad.DropInName + ".hcl"
	add(nomadConfigPrefix+dropInName, 0o640, dropIn)
	baseName := ""
	if d.Nomad.Base.Enabled {
		base, err := bundleFile(in.Bundle, bundle.RoleBaseConfig, true)
		if err != nil {
			return nil, err
		}
		baseName = clientconfig.BaseFileName
		add(nomadConfigPrefix+baseName, 0o640, base)
	}

	daemon, err := DaemonJSON(d)
	if err != nil {
		return nil, err
	}
	add(daemonJSONFile, 0o644, daemon)
	add(orderingFile, 0o644, OrderingDropIn(d))
	shipBinary := d.Nomad.Install == model.NomadInstallBinary && !in.NomadBinaryInstalled
	if d.Nomad.Install == model.NomadInstallBinary {
		add(unitFile, 0o644, NomadUnit(d))
	}
	if shipBinary {
		p.Streams = append(p.Streams, NomadBinaryFile)
	}
	switch d.Logging.Agent {
	case model.AgentOps:
		cfg, err := OpsAgentConfig(d)
		if err != nil {
			return nil, err
		}
		add(opsAgentFile, 0o644, cfg)
		add(opsAgentMergeFile, 0o644, OpsAgentMergeScript)
	case model.AgentGoogleFluentd:
		add(fluentdFile, 0o644, FluentdConfig(d))
	}
	add(requirementsFile, 0o644, Requirements(in.Policies))
	// Keys given in the declaration travel with the script (air-gapped
	// builds); the others are downloaded from their key_url on the VM.
	for _, r := range repositories(d) {
		if r.Key != "" {
			add(keysPrefix+r.name+".asc", 0o644, []byte(r.Key))
		}
	}
	sort.Slice(p.Files, func(i, j int) bool { return p.Files[i].Name < p.Files[j].Name })

	// The script checks every file against these before using any: a
	// truncated or damaged upload fails before anything changes.
	var sums strings.Builder
	for _, f := range p.Files {
		fmt.Fprintf(&sums, "%s  %s\n", bundle.SHA256Hex(f.Data), f.Name)
	}
	if shipBinary {
		fmt.Fprintf(&sums, "%s  %s\n", d.Nomad.BinarySHA256, NomadBinaryFile)
	}

	var script bytes.Buffer
	script.WriteString("#!/usr/bin/env bash\n")
	fmt.Fprintf(&script, "# Rendered by tetranomad %s for bundle %s. Do not edit: render again.\n", in.PluginVersion, in.Bundle.Manifest.BundleID)
	script.WriteString("# Configures this VM as a Nomad client for Tetragon; its data files follow\n")
	script.WriteString("# the " + payloadMarker + " line as a gzipped tar.\n")
	script.WriteString("set -Eeuo pipefail\n\n")
	for _, v := range []struct{ name, value string }{
		{"TN_MARK", Marker},
		{"TN_PAYLOAD_MARKER", payloadMarker},
		{"TN_PLUGIN_VERSION", in.PluginVersion},
		{"TN_BUNDLE_ID", in.Bundle.Manifest.BundleID},
		{"TN_DOCKER_SOURCE", d.Docker.Source},
		{"TN_NOMAD_INSTALL", d.Nomad.Install},
		{"TN_NOMAD_VERSION", d.Nomad.Version},
		{"TN_NOMAD_SHA256", d.Nomad.BinarySHA256},
		{"TN_NOMAD_SHIPPED", boolFlag(shipBinary)},
		{"TN_NOMAD_CONFIG_DIR", d.Nomad.ConfigDir},
		{"TN_NOMAD_DROP_IN", dropInName},
		{"TN_NOMAD_BASE_CONFIG", baseName},
		{"TN_NOMAD_DATA_DIR", d.Nomad.Base.DataDir},
		{"TN_BTF_PATH", d.HostVolumes.BTF.Path},
		{"TN_LOGS_PATH", d.HostVolumes.Logs.Path},
		{"TN_BPFFS_PATH", d.HostVolumes.BPFFS.Path},
		{"TN_AGENT", d.Logging.Agent},
		{"TN_AGENT_CONFIGURE_ONLY", boolFlag(d.Logging.ConfigureOnly)},
		{"TN_FORWARD_ADDRESS", d.Logging.ForwardAddress},
		{"TN_FLUENTD_END_OF_SUPPORT", model.GoogleFluentdEndOfSupport},
		{"TN_NOMAD_BINARY_PATH", BinaryInstallPath},
		{"TN_NOMAD_APT_PATH", APTBinaryPath},
		{"TN_NOMAD_UNIT", UnitPath},
		{"TN_NOMAD_ORDERING", OrderingDropInPath},
		{"TN_DAEMON_JSON", DaemonJSONPath},
		{"TN_OPS_AGENT_CONFIG", OpsAgentConfigPath},
		{"TN_FLUENTD_CONFIG", FluentdConfigPath},
		{"TN_PAYLOAD_SUMS", sums.String()},
	} {
		fmt.Fprintf(&script, "%s=%s\n", v.name, ShellQuote(v.value))
	}
	for _, r := range repositories(d) {
		prefix := "TN_" + strings.ToUpper(r.name) + "_REPO_"
		fmt.Fprintf(&script, "%sURL=%s\n", prefix, ShellQuote(r.URL))
		fmt.Fprintf(&script, "%sKEY_URL=%s\n", prefix, ShellQuote(r.KeyURL))
		fmt.Fprintf(&script, "%sFPR=%s\n", prefix, ShellQuote(model.NormalizeFingerprint(r.KeyFingerprint)))
	}
	script.WriteString("\n")
	script.Write(scriptBody)
	p.Script = script.Bytes()
	return p, nil
}

type namedRepository struct {
	name string // as in repositories.<name> and the script's TN_<NAME>_REPO_*
	model.Repository
}

func repositories(d *model.Declaration) []namedRepository {
	r := d.Repositories
	return []namedRepository{{"docker", r.Docker}, {"hashicorp", r.HashiCorp}, {"google", r.Google}}
}

func bundleFile(b *bundle.Bundle, role string, required bool) ([]byte, error) {
	files := b.Manifest.FilesWithRole(role)
	switch {
	case len(files) == 1:
		return b.Content[files[0].Path], nil
	case len(files) == 0 && !required:
		return nil, nil
	default:
		return nil, fmt.Errorf("hostsetup: the bundle has %d files with role %q, want exactly one", len(files), role)
	}
}

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// ShellQuote quotes s for a POSIX shell: single quotes, with embedded single
// quotes closed, escaped and reopened.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// BridgeIP is Docker's `bip` for a bridge CIDR: the first host address with
// the prefix length, e.g. 172.17.0.0/16 gives 172.17.0.1/16.
func BridgeIP(cidr string) (string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return "", fmt.Errorf("docker.bridge_cidr %q is not an IPv4 range of /30 or larger", cidr)
	}
	return netip.PrefixFrom(p.Masked().Addr().Next(), p.Bits()).String(), nil
}

// systemdQuote quotes a word for a unit file's command line only when it
// needs it.
func systemdQuote(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\;$%") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `$$`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}

// NomadUnit is HashiCorp's packaged nomad.service with ExecStart pointing at
// the uploaded binary and the declared config directory. It runs as root,
// like the package's, because the Docker driver needs it.
func NomadUnit(d *model.Declaration) []byte {
	dir := d.Nomad.ConfigDir
	var b strings.Builder
	b.WriteString("# Rendered by tetranomad from HashiCorp's packaged nomad.service, for the\n")
	b.WriteString("# binary it uploaded (nomad.install = \"binary\").\n")
	b.WriteString("[Unit]\n")
	b.WriteString("Description=Nomad\n")
	b.WriteString("Documentation=https://developer.hashicorp.com/nomad/docs\n")
	b.WriteString("Wants=network-online.target\n")
	b.WriteString("After=network-online.target\n\n")
	b.WriteString("[Service]\n")
	b.WriteString("EnvironmentFile=-" + systemdQuote(path.Join(dir, "nomad.env")) + "\n")
	b.WriteString("ExecReload=/bin/kill -HUP $MAINPID\n")
	b.WriteString("ExecStart=" + BinaryInstallPath + " agent -config " + systemdQuote(dir) + "\n")
	b.WriteString("KillMode=process\n")
	b.WriteString("KillSignal=SIGINT\n")
	b.WriteString("LimitNOFILE=65536\n")
	b.WriteString("LimitNPROC=infinity\n")
	b.WriteString("Restart=on-failure\n")
	b.WriteString("RestartSec=2\n")
	b.WriteString("TasksMax=infinity\n")
	b.WriteString("OOMScoreAdjust=-1000\n\n")
	b.WriteString("[Install]\n")
	b.WriteString("WantedBy=multi-user.target\n")
	return []byte(b.String())
}

// AgentUnits are the systemd units of a logging agent: the one to enable and
// restart first, then the ones Nomad is ordered after. Empty for "none".
func AgentUnits(agent string) (main string, after []string) {
	switch agent {
	case model.AgentOps:
		// The listener is the Fluent Bit sub-agent the main unit pulls in.
		return "google-cloud-ops-agent.service", []string{"google-cloud-ops-agent.service", "google-cloud-ops-agent-fluent-bit.service"}
	case model.AgentGoogleFluentd:
		return "google-fluentd.service", []string{"google-fluentd.service"}
	}
	return "", nil
}

// OrderingDropIn starts Nomad after Docker and the logging agent, so the
// Docker driver is healthy at the first fingerprint and Tetragon's logs have
// a listener when its job starts.
func OrderingDropIn(d *model.Declaration) []byte {
	wants := []string{"docker.service"}
	after := []string{"docker.service"}
	if main, units := AgentUnits(d.Logging.Agent); main != "" {
		wants = append(wants, main)
		after = append(after, units...)
	}
	var b strings.Builder
	b.WriteString("# Rendered by tetranomad: Nomad starts after the Docker engine and the\n")
	b.WriteString("# logging agent that receives Tetragon's events.\n")
	b.WriteString("[Unit]\n")
	b.WriteString("Wants=" + strings.Join(wants, " ") + "\n")
	b.WriteString("After=" + strings.Join(after, " ") + "\n")
	return []byte(b.String())
}

// Requirements renders the preflight's table of kernel requirements, one
// tab-separated record per line:
//
//	policy <name> <file> <needs override 0|1> <uses LSM hooks 0|1>
//	symbol <name> <symbol> <amd64 candidates> <arm64 candidates>
//
// Candidates are comma-separated /proc/kallsyms names, best first
// (policy.KallsymsCandidates), so the script holds no syscall-prefix logic.
// An LSM hook needs its bpf_lsm_<hook> function.
func Requirements(reqs []policy.Requirements) []byte {
	var b strings.Builder
	for _, r := range reqs {
		name := field(r.Policy)
		fmt.Fprintf(&b, "policy\t%s\t%s\t%s\t%s\n", name, field(r.File), boolFlag(r.NeedsOverride), boolFlag(len(r.LSMHooks) > 0))
		symbols := append([]string(nil), r.Symbols...)
		for _, h := range r.LSMHooks {
			symbols = append(symbols, "bpf_lsm_"+h)
		}
		for _, s := range symbols {
			s = field(s)
			fmt.Fprintf(&b, "symbol\t%s\t%s\t%s\t%s\n", name, s,
				strings.Join(policy.KallsymsCandidates(s, "amd64"), ","),
				strings.Join(policy.KallsymsCandidates(s, "arm64"), ","))
		}
		for _, p := range r.UprobePaths {
			fmt.Fprintf(&b, "path\t%s\t%s\n", name, field(p))
		}
	}
	return []byte(b.String())
}

// field keeps a value on one tab-separated field.
func field(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// HostFile is a file the script installs on the VM.
type HostFile struct {
	Path string // absolute path on the VM
	Mode int64
	Data []byte
}

// HostFiles are the files the script writes on the VM, at their absolute
// paths, as they end up on a VM that had none of them: daemon.json and the
// Ops Agent's config.yaml are merged into existing files on the VM, and with
// nothing to merge into they are these bytes. Helper files of the payload
// (the preflight table, the merge script) and the uploaded nomad binary are
// not among them.
func HostFiles(in Input) ([]HostFile, error) {
	p, err := Render(in)
	if err != nil {
		return nil, err
	}
	d := in.Declaration
	installed := map[string]string{
		daemonJSONFile: DaemonJSONPath,
		orderingFile:   OrderingDropInPath,
		unitFile:       UnitPath,
		opsAgentFile:   OpsAgentConfigPath,
		fluentdFile:    FluentdConfigPath,
	}
	var out []HostFile
	for _, f := range p.Files {
		dest, ok := installed[f.Name]
		if name, isConfig := strings.CutPrefix(f.Name, nomadConfigPrefix); isConfig {
			dest, ok = path.Join(d.Nomad.ConfigDir, name), true
		}
		if ok {
			out = append(out, HostFile{Path: dest, Mode: f.Mode, Data: f.Data})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
