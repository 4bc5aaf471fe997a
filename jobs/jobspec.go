// Package jobs renders the Tetragon system jobspec from a prepared
// declaration. Pure: model and policy bytes in, HCL out, written with hclwrite
// so it is exactly what `nomad fmt` produces. The curated policy library lives
// in the policies subpackage.
package jobs

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/text/unicode/norm"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

// Where the host volumes and policies appear inside the Tetragon container.
// BTF at /var/lib/tetragon/btf is where Tetragon's own docs mount it.
const (
	BTFMountPath   = "/var/lib/tetragon/btf"
	LogsMountPath  = "/var/log/tetragon"
	BPFFSMountPath = "/sys/fs/bpf"
	// PolicyTaskDir is where artifacts and templates put the policies, in the
	// task directory; it is bind-mounted read-only onto tetragon.policy_dir.
	PolicyTaskDir = "local/policies"
)

// Names inside the jobspec.
const (
	GroupName        = "tetragon"
	TetragonTask     = "tetragon"
	ExportTask       = "export"
	MetricsPortLabel = "metrics"
	HealthPortLabel  = "health"
	// BundleMetaKey is the job meta key carrying the bundle id.
	BundleMetaKey = "tetranomad_bundle"
	// PolicyModeMetaKey is the job meta key carrying policies.mode, so
	// every allocation says whether its policies enforce or only monitor.
	PolicyModeMetaKey = "tetranomad_policy_mode"
)

// Resources of the export sidecar: it only tails a file.
const (
	exportCPU      = 50
	exportMemoryMB = 64
)

// cgroupns is a Docker task option from Nomad 1.10.3; older clients reject it.
var cgroupnsSince = [3]int{1, 10, 3}

// PolicyFile is one policy file of the bundle.
type PolicyFile struct {
	Path   string // bundle path, "policies/<file>"
	Data   []byte
	SHA256 string // hex sha256 of Data
}

// Input is everything the jobspec is rendered from.
type Input struct {
	// Declaration is prepared (defaults applied, validated).
	Declaration *model.Declaration
	// Policies delivered to Tetragon, in any order.
	Policies []PolicyFile
	// BundleID names the published bundle the artifacts download from. It may
	// be empty: the bundle id itself is derived from the jobspec rendered
	// without one.
	BundleID string
}

var policyFileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Render renders the jobspec.
func Render(in Input) ([]byte, error) {
	d := in.Declaration
	if d == nil {
		return nil, errors.New("jobs: no declaration")
	}
	policies, err := checkPolicies(in.Policies)
	if err != nil {
		return nil, err
	}
	if d.Publish.Bucket == "" {
		for _, p := range policies {
			// HCL holds strings as NFC-normalized UTF-8, so Nomad would write
			// other bytes than the manifest's.
			if !utf8.Valid(p.Data) || !norm.NFC.IsNormal(p.Data) {
				return nil, fmt.Errorf("jobs: policy %s cannot be inlined byte for byte: it is not NFC-normalized UTF-8; normalize it or declare publish.bucket", p.Path)
			}
		}
	}

	f := hclwrite.NewEmptyFile()
	root := f.Body()
	contract := d.Contract().Hash()
	comment(root,
		"Rendered by tetranomad (contract "+contract+"). It runs only on Nomad clients",
		"configured from the same declaration; change that and render again rather",
		"than editing this file.")
	root.AppendNewline()

	job := root.AppendNewBlock("job", []string{d.Nomad.JobName}).Body()
	setString(job, "type", "system")
	setString(job, "namespace", d.Nomad.Namespace)
	setString(job, "region", d.Nomad.Region)
	setStrings(job, "datacenters", d.Nomad.Datacenters)
	setString(job, "node_pool", d.Nomad.NodePool)

	job.AppendNewline()
	meta := job.AppendNewBlock("meta", nil).Body()
	setString(meta, BundleMetaKey, in.BundleID)
	setString(meta, model.ContractMetaKey, contract)
	setString(meta, PolicyModeMetaKey, d.Policies.Mode)

	job.AppendNewline()
	comment(job, "The client drop-in provides the host volumes and privileged Docker;",
		"its node meta carries the contract hash of exactly those facts.")
	constraint(job, "attr.kernel.name", "linux")
	constraint(job, "attr.driver.docker.privileged.enabled", "true")
	constraint(job, "meta."+model.ContractMetaKey, contract)

	job.AppendNewline()
	renderUpdate(job, d.Nomad)

	job.AppendNewline()
	renderGroup(job.AppendNewBlock("group", []string{GroupName}).Body(), d, policies, in.BundleID)
	return f.Bytes(), nil
}

// Health-gated rollout timings (Nomad 1.11 and later): the agent may need
// minutes to load BTF and many policies on a busy node, and its health check
// has a 2m grace.
const (
	healthyDeadline  = "10m"
	progressDeadline = "15m"
)

// renderUpdate writes what the target Nomad honours for a system job: before
// 1.11 only max_parallel and stagger; from 1.11 a deployment gated on the
// allocations' health, with canaries when asked for (nomad@v1.11.3:
// scheduler/scheduler_system.go places ceil(canary% of the updated
// allocations), capped at max_parallel, and ignores stagger).
func renderUpdate(job *hclwrite.Body, n model.Nomad) {
	if !model.NomadAtLeast(n.Version, model.SystemDeploymentsSince) {
		comment(job, "Replace a few nodes' agents at a time, so a bad release never blinds",
			"the whole fleet at once.")
		update := job.AppendNewBlock("update", nil).Body()
		setInt(update, "max_parallel", n.MaxParallel)
		setString(update, "stagger", "30s")
		return
	}
	comment(job, "A deployment: a few nodes at a time, each healthy (checks passing) before",
		"the next; a failed deployment reverts to the last stable version.")
	if n.CanaryPercent > 0 {
		comment(job, "Canaries first: the rest waits for `nomad deployment promote`.")
	}
	update := job.AppendNewBlock("update", nil).Body()
	setInt(update, "max_parallel", n.MaxParallel)
	if n.CanaryPercent > 0 {
		setInt(update, "canary", n.CanaryPercent)
		setBool(update, "auto_promote", false)
	}
	setBool(update, "auto_revert", true)
	setString(update, "health_check", "checks")
	setString(update, "healthy_deadline", healthyDeadline)
	setString(update, "progress_deadline", progressDeadline)
}

func checkPolicies(in []PolicyFile) ([]PolicyFile, error) {
	out := append([]PolicyFile(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	seen := map[string]string{}
	for _, p := range out {
		dir, file := path.Split(p.Path)
		if dir != bundle.PolicyDir+"/" || !policyFileName.MatchString(file) {
			return nil, fmt.Errorf("jobs: policy %q must be %s/<file> with a file name of letters, digits, '_', '-', '.'", p.Path, bundle.PolicyDir)
		}
		if other, dup := seen[file]; dup {
			return nil, fmt.Errorf("jobs: policies %s and %s have the same file name", other, p.Path)
		}
		seen[file] = p.Path
		if got := bundle.SHA256Hex(p.Data); got != p.SHA256 {
			return nil, fmt.Errorf("jobs: policy %s: sha256 %q does not match its content (%s)", p.Path, p.SHA256, got)
		}
	}
	return out, nil
}

func renderGroup(g *hclwrite.Body, d *model.Declaration, policies []PolicyFile, bundleID string) {
	comment(g, "A system job is never rescheduled, so a failed allocation would leave the",
		"node unwatched until the next job change. mode = \"delay\" keeps retrying",
		"after the attempts are used up instead of failing the allocation.")
	restart := g.AppendNewBlock("restart", nil).Body()
	setInt(restart, "attempts", 3)
	setString(restart, "interval", "5m")
	setString(restart, "delay", "15s")
	setString(restart, "mode", "delay")

	g.AppendNewline()
	network := g.AppendNewBlock("network", nil).Body()
	portBlock(network, MetricsPortLabel, d.Tetragon.MetricsPort)
	portBlock(network, HealthPortLabel, d.Tetragon.HealthPort)

	for _, v := range d.HostVolumes.Roles() {
		g.AppendNewline()
		vol := g.AppendNewBlock("volume", []string{v.Role}).Body()
		setString(vol, "type", "host")
		setString(vol, "source", v.Name)
		setBool(vol, "read_only", v.ReadOnly)
	}

	g.AppendNewline()
	renderTetragonTask(g.AppendNewBlock("task", []string{TetragonTask}).Body(), d, policies, bundleID)
	g.AppendNewline()
	renderExportTask(g.AppendNewBlock("task", []string{ExportTask}).Body(), d)
}

func portBlock(network *hclwrite.Body, label string, to int) {
	// A dynamic host port mapped to Tetragon's fixed port in the container:
	// nothing on the node can collide with it.
	setInt(network.AppendNewBlock("port", []string{label}).Body(), "to", to)
}

// mountPaths maps a host volume role to its mount point in the containers.
var mountPaths = map[string]string{"btf": BTFMountPath, "logs": LogsMountPath, "bpffs": BPFFSMountPath}

func renderTetragonTask(t *hclwrite.Body, d *model.Declaration, policies []PolicyFile, bundleID string) {
	tt := d.Tetragon
	setString(t, "driver", "docker")
	t.AppendNewline()
	comment(t, "Time for Tetragon to detach its BPF programs on stop.")
	setString(t, "kill_timeout", "30s")
	comment(t, "Deregister the service before the agent stops (Nomad 2.0 warns on a task",
		"with services and no shutdown_delay; 1.10 accepts it too).")
	setString(t, "shutdown_delay", "5s")

	t.AppendNewline()
	config := t.AppendNewBlock("config", nil).Body()
	setString(config, "image", tt.Image)
	setBool(config, "privileged", true)
	if *tt.HostPID {
		setString(config, "pid_mode", "host")
	}
	if model.NomadAtLeast(d.Nomad.Version, cgroupnsSince) {
		setString(config, "cgroupns", "host")
	}
	setStrings(config, "ports", []string{MetricsPortLabel, HealthPortLabel})
	config.SetAttributeRaw("args", multilineList(TetragonArgs(d)))
	config.AppendNewline()
	mount := config.AppendNewBlock("mount", nil).Body()
	if len(policies) == 0 {
		// An empty directory: Tetragon fails on a policy_dir that does not exist.
		setString(mount, "type", "tmpfs")
		setString(mount, "target", tt.PolicyDir)
	} else {
		setString(mount, "type", "bind")
		setString(mount, "source", PolicyTaskDir)
		setString(mount, "target", tt.PolicyDir)
		setBool(mount, "readonly", true)
	}

	for _, v := range d.HostVolumes.Roles() {
		t.AppendNewline()
		vm := t.AppendNewBlock("volume_mount", nil).Body()
		setString(vm, "volume", v.Role)
		setString(vm, "destination", mountPaths[v.Role])
		setBool(vm, "read_only", v.ReadOnly)
	}

	for _, p := range policies {
		t.AppendNewline()
		if d.Publish.Bucket != "" {
			artifact(t, d, p, bundleID)
		} else {
			inlineTemplate(t, p)
		}
	}

	t.AppendNewline()
	res := t.AppendNewBlock("resources", nil).Body()
	setInt(res, "cpu", tt.CPU)
	setInt(res, "memory", tt.MemoryMB)

	t.AppendNewline()
	svc := t.AppendNewBlock("service", nil).Body()
	setString(svc, "name", ServiceName(d.Nomad.JobName))
	setString(svc, "provider", "nomad")
	setString(svc, "port", MetricsPortLabel)
	setStrings(svc, "tags", []string{"metrics"})
	svc.AppendNewline()
	metrics := svc.AppendNewBlock("check", nil).Body()
	setString(metrics, "name", "metrics")
	setString(metrics, "type", "http")
	setString(metrics, "path", "/metrics")
	setString(metrics, "interval", "30s")
	setString(metrics, "timeout", "5s")
	svc.AppendNewline()
	// Nomad's own checks speak only http and tcp; the gRPC health server
	// accepting connections is the tcp-level sign of life.
	health := svc.AppendNewBlock("check", nil).Body()
	setString(health, "name", "health")
	setString(health, "type", "tcp")
	setString(health, "port", HealthPortLabel)
	setString(health, "interval", "15s")
	setString(health, "timeout", "3s")
	health.AppendNewline()
	comment(health, "Restart a wedged agent; the grace covers loading BTF and policies.")
	cr := health.AppendNewBlock("check_restart", nil).Body()
	setInt(cr, "limit", 3)
	setString(cr, "grace", "2m")
}

func artifact(t *hclwrite.Body, d *model.Declaration, p PolicyFile, bundleID string) {
	a := t.AppendNewBlock("artifact", nil).Body()
	setString(a, "source", PolicySource(d.Publish, bundleID, p.Path))
	setString(a, "destination", PolicyTaskDir+"/"+path.Base(p.Path))
	// options.checksum works only for single files.
	setString(a, "mode", "file")
	a.AppendNewline()
	setString(a.AppendNewBlock("options", nil).Body(), "checksum", "sha256:"+p.SHA256)
}

// PolicySource is the artifact URL of a bundle file: go-getter's gcs::
// form with the VM's service account for a private bucket, plain https for a
// public one.
func PolicySource(p model.Publish, bundleID, bundlePath string) string {
	return p.Target().URL(bundle.ObjectName(p.Prefix, bundleID, bundlePath))
}

func inlineTemplate(t *hclwrite.Body, p PolicyFile) {
	tb := t.AppendNewBlock("template", nil).Body()
	tb.SetAttributeRaw("data", templateData(string(p.Data)))
	setString(tb, "destination", PolicyTaskDir+"/"+path.Base(p.Path))
	left, right := Delimiters(string(p.Data))
	// consul-template renders data; delimiters the policy does not contain
	// make it copy the policy verbatim.
	setString(tb, "left_delimiter", left)
	setString(tb, "right_delimiter", right)
}

// Delimiters returns consul-template delimiters such that text contains no
// left delimiter, so rendering leaves it unchanged.
func Delimiters(text string) (left, right string) {
	for i := 0; ; i++ {
		suffix := ""
		if i > 0 {
			suffix = strconv.Itoa(i)
		}
		left, right = "[[tetranomad"+suffix, "tetranomad"+suffix+"]]"
		if !strings.Contains(text, left) {
			return left, right
		}
	}
}

// templateData is text (NFC-normalized UTF-8) as an HCL expression: a heredoc
// when that is exact (a final newline, no carriage returns), else a quoted
// string. Both escape HCL's own ${ and %{ sequences.
func templateData(text string) hclwrite.Tokens {
	if !strings.HasSuffix(text, "\n") || strings.ContainsRune(text, '\r') {
		return hclwrite.TokensForValue(cty.StringVal(text))
	}
	marker := heredocMarker(text)
	return hclwrite.Tokens{
		{Type: hclsyntax.TokenOHeredoc, Bytes: []byte("<<" + marker + "\n")},
		{Type: hclsyntax.TokenStringLit, Bytes: []byte(escapeTemplate(text))},
		{Type: hclsyntax.TokenCHeredoc, Bytes: []byte(marker)},
	}
}

func heredocMarker(text string) string {
	lines := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for i := 0; ; i++ {
		m := "EOT"
		if i > 0 {
			m += strconv.Itoa(i)
		}
		if !lines[m] {
			return m
		}
	}
}

// escapeTemplate makes HCL read ${ and %{ literally: "$${" and "%%{" are
// its escapes for them.
func escapeTemplate(text string) string {
	return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(text)
}

func renderExportTask(t *hclwrite.Body, d *model.Declaration) {
	setString(t, "driver", "docker")
	t.AppendNewline()
	lc := t.AppendNewBlock("lifecycle", nil).Body()
	setString(lc, "hook", "poststart")
	setBool(lc, "sidecar", true)

	t.AppendNewline()
	comment(t, "The exporter only tails a file. It keeps restarting on its own schedule and",
		"never fails the allocation, which would stop Tetragon with it.")
	restart := t.AppendNewBlock("restart", nil).Body()
	setInt(restart, "attempts", 5)
	setString(restart, "interval", "5m")
	setString(restart, "delay", "10s")
	setString(restart, "mode", "delay")

	t.AppendNewline()
	config := t.AppendNewBlock("config", nil).Body()
	setString(config, "image", d.Tetragon.ExportImage)
	// The image's entrypoint is `tail -F "$@"`: give it args, never a command.
	setStrings(config, "args", []string{ExportFilePath(d)})
	config.AppendNewline()
	comment(config, "Async and non-blocking: a logging agent that is down or slow costs",
		"buffered lines, never a stuck or refused container. While the agent is",
		"unreachable dockerd queues at most fluentd-buffer-limit events, then drops.",
		"The agents stamp each event with Tetragon's own time field; the forward",
		"timestamp (when Docker read the line) keeps its nanoseconds as a fallback.")
	logging := config.AppendNewBlock("logging", nil).Body()
	setString(logging, "type", "fluentd")
	lconf := logging.AppendNewBlock("config", nil).Body()
	l := d.Logging
	setString(lconf, "fluentd-address", l.ForwardAddress)
	setString(lconf, "tag", l.Tag)
	setString(lconf, "fluentd-async", "true")
	// A message count: moby@v28.5.2:daemon/logger/fluentd/fluentd.go hands it
	// to fluent-logger-golang@v1.9.0:fluent/fluent.go as the capacity of its
	// pending channel; appendBuffer refuses messages beyond it.
	setString(lconf, "fluentd-buffer-limit", strconv.Itoa(l.BufferLimit))
	setString(lconf, "fluentd-sub-second-precision", "true")
	setString(lconf, "mode", "non-blocking")
	setString(lconf, "max-buffer-size", l.MaxBufferSize)

	t.AppendNewline()
	vm := t.AppendNewBlock("volume_mount", nil).Body()
	setString(vm, "volume", "logs")
	setString(vm, "destination", LogsMountPath)
	setBool(vm, "read_only", true)

	t.AppendNewline()
	res := t.AppendNewBlock("resources", nil).Body()
	setInt(res, "cpu", exportCPU)
	setInt(res, "memory", exportMemoryMB)
}

// ExportFilePath is Tetragon's JSON export file inside the containers.
func ExportFilePath(d *model.Declaration) string {
	return LogsMountPath + "/" + d.Tetragon.ExportFilename
}

// TetragonArgs are the agent's flags: the ones tetranomad manages, then
// tetragon.extra_args (the model refuses managed flags there).
func TetragonArgs(d *model.Declaration) []string {
	t := d.Tetragon
	args := []string{
		"--btf=" + BTFMountPath,
		"--export-filename=" + ExportFilePath(d),
		"--export-file-max-size-mb=" + strconv.Itoa(t.ExportFileMaxSizeMB),
		"--export-file-max-backups=" + strconv.Itoa(t.ExportFileMaxBackups),
	}
	if t.ExportFileCompress {
		args = append(args, "--export-file-compress=true")
	}
	args = append(args,
		"--tracing-policy-dir="+t.PolicyDir,
		"--metrics-server=:"+strconv.Itoa(t.MetricsPort),
		"--health-server-address=:"+strconv.Itoa(t.HealthPort),
	)
	return append(args, t.ExtraArgs...)
}

var serviceUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// ServiceName turns a job name into a valid Nomad service name (RFC 1123
// label: letters, digits, dashes, at most 63).
func ServiceName(jobName string) string {
	s := strings.Trim(serviceUnsafe.ReplaceAllString(strings.ToLower(jobName), "-"), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if s == "" {
		return "tetragon"
	}
	return s
}

func constraint(body *hclwrite.Body, attribute, value string) {
	c := body.AppendNewBlock("constraint", nil).Body()
	c.SetAttributeRaw("attribute", interpolation(attribute))
	setString(c, "value", value)
}

// interpolation is the quoted template "${a.b.c}": Nomad resolves node
// attributes and meta at placement, so the jobspec must carry it literally.
func interpolation(dotted string) hclwrite.Tokens {
	parts := strings.Split(dotted, ".")
	trav := hcl.Traversal{hcl.TraverseRoot{Name: parts[0]}}
	for _, p := range parts[1:] {
		trav = append(trav, hcl.TraverseAttr{Name: p})
	}
	toks := hclwrite.Tokens{
		{Type: hclsyntax.TokenOQuote, Bytes: []byte(`"`)},
		{Type: hclsyntax.TokenTemplateInterp, Bytes: []byte("${")},
	}
	toks = append(toks, hclwrite.TokensForTraversal(trav)...)
	return append(toks,
		&hclwrite.Token{Type: hclsyntax.TokenTemplateSeqEnd, Bytes: []byte("}")},
		&hclwrite.Token{Type: hclsyntax.TokenCQuote, Bytes: []byte(`"`)},
	)
}

func setString(b *hclwrite.Body, name, v string) { b.SetAttributeValue(name, cty.StringVal(v)) }
func setBool(b *hclwrite.Body, name string, v bool) {
	b.SetAttributeValue(name, cty.BoolVal(v))
}
func setInt(b *hclwrite.Body, name string, v int) {
	b.SetAttributeValue(name, cty.NumberIntVal(int64(v)))
}

func setStrings(b *hclwrite.Body, name string, vs []string) {
	if len(vs) == 0 {
		b.SetAttributeValue(name, cty.ListValEmpty(cty.String))
		return
	}
	vals := make([]cty.Value, len(vs))
	for i, v := range vs {
		vals[i] = cty.StringVal(v)
	}
	b.SetAttributeValue(name, cty.ListVal(vals))
}

// multilineList writes one string per line, so a long flag list reads (and
// diffs) one flag at a time.
func multilineList(vs []string) hclwrite.Tokens {
	toks := hclwrite.Tokens{
		{Type: hclsyntax.TokenOBrack, Bytes: []byte("[")},
		{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")},
	}
	for _, v := range vs {
		toks = append(toks, hclwrite.TokensForValue(cty.StringVal(v))...)
		toks = append(toks,
			&hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")},
			&hclwrite.Token{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")},
		)
	}
	return append(toks, &hclwrite.Token{Type: hclsyntax.TokenCBrack, Bytes: []byte("]")})
}

func comment(body *hclwrite.Body, lines ...string) {
	for _, l := range lines {
		body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# " + l + "\n")}})
	}
}
