package model

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/gcsname"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/library"
)

// Problem is one thing wrong with a declaration, at an attribute path such as
// "docker.bridge_cidr" or "host_volumes.logs.path".
type Problem struct {
	Path    string
	Message string
}

func (p Problem) Error() string { return p.Path + ": " + p.Message }

// Problems is every problem found; validation never stops at the first.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

func (ps *Problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Prepare applies defaults and validates. The error, if any, is Problems.
func (d *Declaration) Prepare() error {
	d.ApplyDefaults()
	if ps := d.Validate(); len(ps) > 0 {
		return ps
	}
	return nil
}

var (
	semverTag     = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)$`)
	imageRef      = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)
	volumeName    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	fileName      = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	jobID         = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	datacenter    = regexp.MustCompile(`^[A-Za-z0-9_.*-]{1,128}$`)
	sha256Hex     = regexp.MustCompile(`^[a-f0-9]{64}$`)
	dockerSize    = regexp.MustCompile(`^[0-9]+[kmg]$`)
	interfaceName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	fingerprint   = regexp.MustCompile(`^[0-9A-F]{40}$`)
	nomadSemver   = regexp.MustCompile(`^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$`)
	// A Docker log tag without template, a fluentd tag whose parts are
	// split on "." and that holds no match wildcard, and a Cloud Logging
	// log ID ([A-Za-z0-9/_.-]): the alphabet all three accept literally.
	logTag = regexp.MustCompile(`^[A-Za-z0-9_/-]+(?:\.[A-Za-z0-9_/-]+)*$`)
)

// tetragonManagedFlags are set from typed fields; a second copy in extra_args
// would silently win or clash.
var tetragonManagedFlags = map[string]string{
	"--export-filename":         "tetragon.export_filename",
	"--export-file-max-size-mb": "tetragon.export_file_max_size_mb",
	"--export-file-max-backups": "tetragon.export_file_max_backups",
	"--export-file-compress":    "tetragon.export_file_compress",
	"--tracing-policy-dir":      "tetragon.policy_dir",
	"--metrics-server":          "tetragon.metrics_port",
	"--health-server-address":   "tetragon.health_port",
	"--btf":                     "host_volumes.btf",
}

// Validate reports every problem of a declaration whose defaults are applied.
func (d *Declaration) Validate() Problems {
	var ps Problems
	controlChars(&ps, "", reflect.ValueOf(d).Elem())
	d.validateTetragon(&ps)
	d.validateNomad(&ps)
	d.validateHostVolumes(&ps)
	d.validateDocker(&ps)
	d.validateLogging(&ps)
	d.validatePolicies(&ps)
	d.validatePublish(&ps)
	d.validateRepositories(&ps)
	return ps
}

func (d *Declaration) validateTetragon(ps *Problems) {
	t := d.Tetragon
	if m := semverTag.FindStringSubmatch(t.Version); m == nil {
		ps.add("tetragon.version", "%q is not a release tag like %q", t.Version, DefaultTetragonVersion)
	} else if compareTags(t.Version, MinimumTetragonVersion) < 0 {
		ps.add("tetragon.version", "%s is older than the minimum supported %s", t.Version, MinimumTetragonVersion)
	}
	for _, f := range []struct{ path, ref string }{{"tetragon.image", t.Image}, {"tetragon.export_image", t.ExportImage}} {
		if !imageRef.MatchString(f.ref) {
			ps.add(f.path, "%q is not an image reference like %q or repo@sha256:<64 hex>", f.ref, DefaultExportImage)
		}
	}
	for i, arg := range t.ExtraArgs {
		flag, _, _ := strings.Cut(arg, "=")
		if owner, managed := tetragonManagedFlags[flag]; managed {
			ps.add(fmt.Sprintf("tetragon.extra_args[%d]", i), "%s is managed by tetranomad; set %s instead", flag, owner)
		} else if i == 0 && !strings.HasPrefix(arg, "-") {
			ps.add("tetragon.extra_args[0]", "%q is not a flag; extra_args are Tetragon flags such as \"--enable-process-cred\"", arg)
		}
	}
	if strings.ContainsAny(t.ExportFilename, "/\\") || t.ExportFilename == "." || t.ExportFilename == ".." {
		ps.add("tetragon.export_filename", "%q must be a file name, not a path (it lives in host_volumes.logs)", t.ExportFilename)
	}
	positive(ps, "tetragon.export_file_max_size_mb", t.ExportFileMaxSizeMB)
	positive(ps, "tetragon.export_file_max_backups", t.ExportFileMaxBackups)
	absolute(ps, "tetragon.policy_dir", t.PolicyDir)
	port(ps, "tetragon.metrics_port", t.MetricsPort)
	port(ps, "tetragon.health_port", t.HealthPort)
	if t.MetricsPort == t.HealthPort {
		ps.add("tetragon.health_port", "%d is also tetragon.metrics_port; the two servers need different ports", t.HealthPort)
	}
	positive(ps, "tetragon.cpu", t.CPU)
	atMost(ps, "tetragon.cpu", t.CPU, maxCPU)
	if t.MemoryMB < 128 {
		ps.add("tetragon.memory_mb", "%d MiB is too little for Tetragon; use at least 128", t.MemoryMB)
	}
	atMost(ps, "tetragon.memory_mb", t.MemoryMB, maxMemoryMB)
	atMost(ps, "tetragon.export_file_max_size_mb", t.ExportFileMaxSizeMB, maxMemoryMB)
	atMost(ps, "tetragon.export_file_max_backups", t.ExportFileMaxBackups, maxFiles)
}

func (d *Declaration) validateNomad(ps *Problems) {
	n := d.Nomad
	switch n.Install {
	case NomadInstallAPT, NomadInstallNone:
	case NomadInstallBinary:
		if n.BinarySource == "" {
			ps.add("nomad.binary_source", "required when nomad.install is %q: the local path of a nomad binary", NomadInstallBinary)
		}
		if n.BinarySHA256 == "" {
			ps.add("nomad.binary_sha256", "required when nomad.install is %q, so a wrong binary is never installed", NomadInstallBinary)
		}
	default:
		oneOf(ps, "nomad.install", n.Install, NomadInstallAPT, NomadInstallBinary, NomadInstallNone)
	}
	if n.BinarySHA256 != "" && !sha256Hex.MatchString(n.BinarySHA256) {
		ps.add("nomad.binary_sha256", "%q is not 64 lowercase hex characters", n.BinarySHA256)
	}
	if !nomadSemver.MatchString(n.Version) {
		ps.add("nomad.version", "%q is not a Nomad version like %q (no leading v)", n.Version, DefaultNomadVersion)
	}
	absolute(ps, "nomad.config_dir", n.ConfigDir)
	if !fileName.MatchString(n.DropInName) || strings.HasSuffix(n.DropInName, ".hcl") {
		ps.add("nomad.drop_in_name", "%q must be a lowercase file name without .hcl, e.g. \"tetragon\"", n.DropInName)
	}
	if n.Base.Enabled && n.DropInName == "client" {
		ps.add("nomad.drop_in_name", "\"client\" is the file of nomad.base_config; choose another name")
	}
	if !jobID.MatchString(n.JobName) {
		ps.add("nomad.job_name", "%q is not a valid Nomad job ID (letters, digits, '_', '-', '.', at most 128)", n.JobName)
	}
	if !jobID.MatchString(n.Namespace) {
		ps.add("nomad.namespace", "%q is not a valid Nomad namespace", n.Namespace)
	}
	if !jobID.MatchString(n.Region) {
		ps.add("nomad.region", "%q is not a valid Nomad region", n.Region)
	}
	if len(n.Datacenters) == 0 {
		ps.add("nomad.datacenters", "must name at least one datacenter (\"*\" matches all)")
	}
	for i, dc := range n.Datacenters {
		if strings.TrimSpace(dc) == "" {
			ps.add(fmt.Sprintf("nomad.datacenters[%d]", i), "is empty")
		} else if !datacenter.MatchString(dc) {
			ps.add(fmt.Sprintf("nomad.datacenters[%d]", i), "%q is not a Nomad datacenter name or pattern (letters, digits, '_', '-', '.', '*', at most 128)", dc)
		}
	}
	if !jobID.MatchString(n.NodePool) {
		ps.add("nomad.node_pool", "%q is not a valid Nomad node pool", n.NodePool)
	}
	cidr(ps, "nomad.bridge_network_subnet", n.BridgeNetworkSubnet)
	positive(ps, "nomad.max_parallel", n.MaxParallel)
	switch {
	case n.CanaryPercent < 0 || n.CanaryPercent > 100:
		ps.add("nomad.canary_percent", "%d is not a percentage; use 1 to 100, or 0 for no canaries", n.CanaryPercent)
	case n.CanaryPercent > 0 && !NomadAtLeast(n.Version, SystemDeploymentsSince):
		// Nomad before 1.11 accepts the attribute and ignores it: the new
		// version would reach every client at once.
		ps.add("nomad.canary_percent", "system-job canaries need Nomad 1.11.0 or later and nomad.version is %q; older servers ignore canary and update every client. Set nomad.version to your servers' version, or remove canary_percent", n.Version)
	}

	if !n.Base.Enabled {
		return
	}
	b := n.Base
	if !jobID.MatchString(b.Datacenter) {
		ps.add("nomad.base_config.datacenter", "%q is not a valid Nomad datacenter", b.Datacenter)
	}
	if !jobID.MatchString(b.NodePool) || b.NodePool == "all" {
		ps.add("nomad.base_config.node_pool", "%q is not a node pool a client can join", b.NodePool)
	}
	absolute(ps, "nomad.base_config.data_dir", b.DataDir)
	if b.BindInterface != "" && !interfaceName.MatchString(b.BindInterface) {
		ps.add("nomad.base_config.bind_interface", "%q is not a network interface name like \"ens4\"", b.BindInterface)
	}
	if b.ServerJoinTag == "" && (b.ServerJoinProject != "" || b.ServerJoinZonePattern != "") {
		ps.add("nomad.base_config.server_join_tag", "required when server_join_project or server_join_zone_pattern is set")
	}
	if b.ServerJoinZonePattern != "" {
		if _, err := regexp.Compile(b.ServerJoinZonePattern); err != nil {
			ps.add("nomad.base_config.server_join_zone_pattern", "not a regular expression: %v", err)
		}
	}
	for _, f := range []struct{ path, v string }{
		{"nomad.base_config.server_join_tag", b.ServerJoinTag},
		{"nomad.base_config.server_join_project", b.ServerJoinProject},
		{"nomad.base_config.server_join_zone_pattern", b.ServerJoinZonePattern},
	} {
		// go-discover splits its configuration on spaces and '='.
		if strings.ContainsAny(f.v, " =") {
			ps.add(f.path, "%q must not contain spaces or '='", f.v)
		}
	}
	for i, s := range b.Servers {
		host, p := s, ""
		if h, pp, err := net.SplitHostPort(s); err == nil {
			host, p = h, pp
		}
		if host == "" || strings.ContainsAny(host, " /") {
			ps.add(fmt.Sprintf("nomad.base_config.servers[%d]", i), "%q is not host or host:port", s)
		} else if p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				ps.add(fmt.Sprintf("nomad.base_config.servers[%d]", i), "%q has an invalid port", s)
			}
		}
	}
}

func (d *Declaration) validateHostVolumes(ps *Problems) {
	names := map[string]string{}
	paths := map[string]string{}
	for _, vol := range d.HostVolumes.Roles() {
		at := "host_volumes." + vol.Role
		if !volumeName.MatchString(vol.Name) {
			ps.add(at+".name", "%q is not a host volume name (letters, digits, '_', '-')", vol.Name)
		} else if other, dup := names[vol.Name]; dup {
			ps.add(at+".name", "%q is also %s.name; every host volume needs its own name", vol.Name, other)
		} else {
			names[vol.Name] = at
		}
		if absolute(ps, at+".path", vol.Path) {
			if other, dup := paths[vol.Path]; dup {
				ps.add(at+".path", "%q is also %s.path", vol.Path, other)
			}
			paths[vol.Path] = at
		}
	}
}

func (d *Declaration) validateDocker(ps *Problems) {
	k := d.Docker
	oneOf(ps, "docker.source", k.Source, DockerSourceCE, DockerSourceDistro, DockerSourcePreinstalled)
	if p, ok := cidr(ps, "docker.bridge_cidr", k.BridgeCIDR); ok {
		switch {
		case !p.Addr().Is4():
			ps.add("docker.bridge_cidr", "%q must be an IPv4 range", k.BridgeCIDR)
		case p.Bits() > 30:
			ps.add("docker.bridge_cidr", "%q is too small for a bridge; use a /30 or larger", k.BridgeCIDR)
		default:
			if nb, err := netip.ParsePrefix(d.Nomad.BridgeNetworkSubnet); err == nil && nb.Overlaps(p) {
				ps.add("docker.bridge_cidr", "%s overlaps nomad.bridge_network_subnet %s", k.BridgeCIDR, d.Nomad.BridgeNetworkSubnet)
			}
			for _, v := range d.Policies.VPCCIDRs {
				if vp, err := netip.ParsePrefix(v); err == nil && vp.Overlaps(p) {
					ps.add("docker.bridge_cidr", "%s overlaps the VPC range %s in policies.vpc_cidrs; containers could not reach it", k.BridgeCIDR, v)
				}
			}
		}
	}
	if !dockerSize.MatchString(k.LogMaxSize) {
		ps.add("docker.log_max_size", "%q is not a size like \"10m\" (number and k, m or g)", k.LogMaxSize)
	}
	positive(ps, "docker.log_max_file", k.LogMaxFile)
	atMost(ps, "docker.log_max_file", k.LogMaxFile, maxFiles)
}

func (d *Declaration) validateLogging(ps *Problems) {
	l := d.Logging
	oneOf(ps, "logging.agent", l.Agent, AgentOps, AgentGoogleFluentd, AgentNone)
	if l.ConfigureOnly && l.Agent == AgentNone {
		ps.add("logging.configure_only", "has nothing to configure when logging.agent is \"none\"")
	}
	host, p, err := net.SplitHostPort(l.ForwardAddress)
	if err != nil {
		ps.add("logging.forward_address", "%q is not address:port, e.g. %q", l.ForwardAddress, DefaultForwardAddress)
	} else {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			ps.add("logging.forward_address", "%q has an invalid port", l.ForwardAddress)
		}
		// Docker's fluentd driver dials from the host, and both agents are
		// configured to listen on this exact address. The driver joins host
		// and port with ":" (fluent-logger-golang@v1.9.0:fluent/fluent.go,
		// connect), so an IPv6 literal fails with "too many colons".
		if ip, err := netip.ParseAddr(host); err != nil {
			ps.add("logging.forward_address", "%q must be an IPv4 address the agent on the VM listens on, e.g. %q", l.ForwardAddress, DefaultForwardAddress)
		} else if !ip.Is4() {
			ps.add("logging.forward_address", "%q is not IPv4: Docker's fluentd driver cannot dial an IPv6 address (\"too many colons in address\"); use an IPv4 loopback address such as %q", l.ForwardAddress, DefaultForwardAddress)
		} else if !ip.IsLoopback() && l.Agent != AgentNone {
			ps.add("logging.forward_address", "%q is not a loopback address; the agent's forward receiver must not listen beyond the VM", l.ForwardAddress)
		}
	}
	if !logTag.MatchString(l.Tag) || len(l.Tag) > maxTagLength {
		ps.add("logging.tag", "%q is not a tag like \"tetragon\" or \"security.tetragon\": it is a Docker log tag, a fluentd match pattern and part of the Cloud Logging log name, so it takes 1 to %d letters, digits, \"_\", \"-\" and \"/\", with \".\" only between parts", l.Tag, maxTagLength)
	}
	if !dockerSize.MatchString(l.MaxBufferSize) {
		ps.add("logging.max_buffer_size", "%q is not a size like \"8m\"", l.MaxBufferSize)
	}
	if l.BufferLimit < 1 {
		ps.add("logging.buffer_limit", "%d is not a positive number of events", l.BufferLimit)
	}
}

// maxTagLength keeps the Ops Agent's log name, "<receiver>.<tag>", well
// under Cloud Logging's 512-character limit on log IDs.
const maxTagLength = 256

// Warnings are things a valid declaration should still change.
func (d *Declaration) Warnings() Problems {
	var ws Problems
	if d.Logging.Agent == AgentGoogleFluentd {
		ws.add("logging.agent", "google-fluentd (the legacy logging agent) reached its end of support on %s; switch to logging.agent = %q (the Ops Agent)", GoogleFluentdEndOfSupport, AgentOps)
	}
	return ws
}

func (d *Declaration) validatePolicies(ps *Problems) {
	known := map[string]bool{}
	for _, name := range library.Names() {
		known[name] = true
	}
	seen := map[string]bool{}
	for i, name := range d.Policies.Library {
		switch {
		case !known[name]:
			ps.add(fmt.Sprintf("policies.library[%d]", i), "%q is not a library policy; choose from %s", name, quoteJoin(library.Names()))
		case seen[name]:
			ps.add(fmt.Sprintf("policies.library[%d]", i), "%q is listed twice", name)
		}
		seen[name] = true
	}
	for i, f := range d.Policies.Files {
		if strings.TrimSpace(f) == "" {
			ps.add(fmt.Sprintf("policies.files[%d]", i), "is empty")
		}
	}
	for i, c := range d.Policies.VPCCIDRs {
		cidr(ps, fmt.Sprintf("policies.vpc_cidrs[%d]", i), c)
	}
	oneOf(ps, "policies.mode", d.Policies.Mode, PolicyModeEnforce, PolicyModeMonitor)
}

func (d *Declaration) validatePublish(ps *Problems) {
	p := d.Publish
	// The same rules as the publisher's (gcsname), so what render accepts
	// publish accepts.
	if p.Bucket != "" {
		if err := gcsname.Bucket(p.Bucket); err != nil {
			ps.add("publish.bucket", "%v", err)
		}
	}
	if p.Bucket == "" && p.Public {
		ps.add("publish.public", "needs publish.bucket")
	}
	if err := gcsname.Prefix(p.Prefix); err != nil {
		ps.add("publish.prefix", "%v", err)
	}
	if err := gcsname.BaseURL(p.DownloadBaseURL); err != nil {
		ps.add("publish.download_base_url", "%v", err)
	}
}

func (d *Declaration) validateRepositories(ps *Problems) {
	r := d.Repositories
	for _, repo := range []struct {
		at string
		r  Repository
	}{{"repositories.docker", r.Docker}, {"repositories.hashicorp", r.HashiCorp}, {"repositories.google", r.Google}} {
		for _, f := range []struct{ name, v string }{{"url", repo.r.URL}, {"key_url", repo.r.KeyURL}} {
			// {os_id} is filled in on the VM; check the rest of the URL.
			u, err := url.Parse(strings.ReplaceAll(f.v, OSIDPlaceholder, "debian"))
			switch {
			case err != nil || strings.ContainsAny(f.v, " \t\n'\"\\"):
				ps.add(repo.at+"."+f.name, "%q is not a URL", f.v)
			case u.Scheme == "file" && u.Path != "":
			case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
			default:
				ps.add(repo.at+"."+f.name, "%q is not an http, https or file URL", f.v)
			}
		}
		if !fingerprint.MatchString(NormalizeFingerprint(repo.r.KeyFingerprint)) {
			ps.add(repo.at+".key_fingerprint", "%q is not a key fingerprint (40 hex digits, spaces allowed)", repo.r.KeyFingerprint)
		}
		if repo.r.Key != "" && !strings.Contains(repo.r.Key, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
			ps.add(repo.at+".key", "is not an ASCII-armored public key (-----BEGIN PGP PUBLIC KEY BLOCK-----); export it with gpg --armor --export")
		}
	}
}

func oneOf(ps *Problems, path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	ps.add(path, "%q is not one of %s", v, quoteJoin(allowed))
}

func quoteJoin(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

func absolute(ps *Problems, at, p string) bool {
	if !path.IsAbs(p) || path.Clean(p) != p {
		ps.add(at, "%q must be an absolute, clean path such as \"/var/log/tetragon\"", p)
		return false
	}
	return true
}

func positive(ps *Problems, at string, v int) {
	if v <= 0 {
		ps.add(at, "%d must be greater than 0", v)
	}
}

// Upper bounds of the numeric attributes: far above any real setting, far
// below where a number would overflow on its way to Nomad or Docker.
const (
	maxCPU      = 1_000_000 // MHz
	maxMemoryMB = 1 << 20   // 1 TiB
	maxFiles    = 10_000
)

func atMost(ps *Problems, at string, v, limit int) {
	if v > limit {
		ps.add(at, "%d is more than %d; check the unit", v, limit)
	}
}

func port(ps *Problems, at string, v int) {
	if v < 1 || v > 65535 {
		ps.add(at, "%d is not a TCP port (1-65535)", v)
	}
}

func cidr(ps *Problems, at, v string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		ps.add(at, "%q is not a CIDR range like \"172.17.0.0/16\"", v)
		return p, false
	}
	if p.Masked() != p {
		ps.add(at, "%q has host bits set; did you mean %q?", v, p.Masked().String())
		return p, false
	}
	return p, true
}

// compareTags compares vX.Y.Z tags numerically.
func compareTags(a, b string) int {
	ma, mb := semverTag.FindStringSubmatch(a), semverTag.FindStringSubmatch(b)
	for i := 1; i <= 3; i++ {
		x, _ := strconv.Atoi(ma[i])
		y, _ := strconv.Atoi(mb[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
