package jobs

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/text/unicode/norm"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/golden"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

const policyA = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "a"
spec:
  kprobes:
  - call: "fd_install"
    syscall: false
`

// policyB has text HCL and consul-template would otherwise interpret.
const policyB = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "b"
  annotations:
    note: "${not_hcl} %{not_a_directive} {{ not_a_template }}"
spec: {}
`

func policyFile(name, data string) PolicyFile {
	return PolicyFile{Path: bundle.PolicyDir + "/" + name, Data: []byte(data), SHA256: bundle.SHA256Hex([]byte(data))}
}

var twoPolicies = []PolicyFile{policyFile("b.yaml", policyB), policyFile("a.yaml", policyA)}

func parseDecl(t testing.TB, src string) *model.Declaration {
	t.Helper()
	d, err := model.Parse("test.hcl", []byte(src))
	if err != nil {
		t.Fatalf("declaration: %v", err)
	}
	return d
}

func render(t testing.TB, decl string, policies []PolicyFile, bundleID string) []byte {
	t.Helper()
	out, err := Render(Input{Declaration: parseDecl(t, decl), Policies: policies, BundleID: bundleID})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return out
}

const (
	privateBucket = "publish {\n  bucket = \"acme-tetragon\"\n}\n"
	publicBucket  = "publish {\n  bucket = \"acme-public\"\n  prefix = \"fleet/prod\"\n  public = true\n}\n"
	tuned         = `
tetragon {
  host_pid             = false
  export_file_compress = true
  extra_args           = ["--enable-process-cred", "--rb-size-total=64M"]
  policy_dir           = "/etc/policies"
}
nomad {
  version     = "1.10.2"
  job_name    = "security_agent.v2"
  datacenters = ["eu1", "eu2"]
}
policies {
  library = []
}
`
)

// canaryMonitor is a staged rollout on Nomad 1.11: canaries, monitor mode.
const canaryMonitor = `
nomad {
  version        = "1.11.3"
  max_parallel   = 4
  canary_percent = 25
}
policies {
  mode = "monitor"
}
`

var variants = []struct {
	golden   string
	decl     string
	policies []PolicyFile
}{
	{"inline.nomad.hcl", "", twoPolicies},
	{"gcs-private.nomad.hcl", privateBucket, twoPolicies},
	{"https-public.nomad.hcl", publicBucket, twoPolicies},
	{"no-policies.nomad.hcl", tuned, nil},
	{"canary-monitor.nomad.hcl", canaryMonitor, twoPolicies},
}

func TestGolden(t *testing.T) {
	for _, v := range variants {
		t.Run(v.golden, func(t *testing.T) {
			got := render(t, v.decl, v.policies, "0123456789abcdef0123")
			golden.Check(t, filepath.Join("testdata", v.golden), got)
		})
	}
}

func TestOutputIsFormattedAndDeterministic(t *testing.T) {
	for _, v := range variants {
		a := render(t, v.decl, v.policies, "id")
		if f := hclwrite.Format(a); !bytes.Equal(f, a) {
			t.Errorf("%s: not formatted; hclwrite.Format changes it to:\n%s", v.golden, f)
		}
		reversed := append([]PolicyFile(nil), v.policies...)
		for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
			reversed[i], reversed[j] = reversed[j], reversed[i]
		}
		if b := render(t, v.decl, reversed, "id"); !bytes.Equal(a, b) {
			t.Errorf("%s: the order of the policies changes the jobspec", v.golden)
		}
	}
}

func TestArtifactsFetchPublishedPoliciesWithChecksums(t *testing.T) {
	cases := []struct {
		decl       string
		wantPrefix string
	}{
		{privateBucket, "gcs::https://www.googleapis.com/storage/v1/acme-tetragon/tetranomad/bundles/feedc0de/policies/"},
		{publicBucket, "https://storage.googleapis.com/acme-public/fleet/prod/bundles/feedc0de/policies/"},
	}
	for _, c := range cases {
		task := tetragonTask(t, parseJob(t, render(t, c.decl, twoPolicies, "feedc0de")))
		arts := blocks(task, "artifact")
		if len(arts) != 2 {
			t.Fatalf("%d artifacts, want 2", len(arts))
		}
		if len(blocks(task, "template")) != 0 {
			t.Error("templates rendered though a bucket is declared")
		}
		for i, want := range []PolicyFile{policyFile("a.yaml", policyA), policyFile("b.yaml", policyB)} {
			a := arts[i].Body
			file := filepath.Base(want.Path)
			if got := str(t, a, "source"); got != c.wantPrefix+file {
				t.Errorf("source = %q, want %q", got, c.wantPrefix+file)
			}
			if got := str(t, a, "destination"); got != "local/policies/"+file {
				t.Errorf("destination = %q", got)
			}
			if got := str(t, a, "mode"); got != "file" {
				t.Errorf("mode = %q, want file (checksums need it)", got)
			}
			if got := str(t, only(t, a, "options"), "checksum"); got != "sha256:"+want.SHA256 {
				t.Errorf("checksum = %q, want sha256:%s", got, want.SHA256)
			}
		}
	}
}

func TestPolicySourceUsesTheSharedObjectName(t *testing.T) {
	p := model.Publish{Bucket: "b", Prefix: "p/q", Public: true, DownloadBaseURL: "https://cdn.example.com/"}
	want := "https://cdn.example.com/b/" + bundle.ObjectName("p/q", "id", "policies/x.yaml")
	if got := PolicySource(p, "id", "policies/x.yaml"); got != want {
		t.Errorf("PolicySource = %q, want %q", got, want)
	}
}

func TestInlineTemplatesAreVerbatim(t *testing.T) {
	job := parseJob(t, render(t, "", twoPolicies, ""))
	task := tetragonTask(t, job)
	if len(blocks(task, "artifact")) != 0 {
		t.Error("artifacts rendered without a bucket")
	}
	tpls := blocks(task, "template")
	if len(tpls) != 2 {
		t.Fatalf("%d templates, want 2", len(tpls))
	}
	for i, want := range []string{policyA, policyB} {
		b := tpls[i].Body
		data := str(t, b, "data")
		if data != want {
			t.Errorf("template %d data = %q, want %q", i, data, want)
		}
		if left := str(t, b, "left_delimiter"); strings.Contains(data, left) {
			t.Errorf("policy text contains the template's left delimiter %q", left)
		}
	}
	if !bytes.Contains(render(t, "", twoPolicies, ""), []byte("<<EOT\n")) {
		t.Error("policies ending in a newline are not heredocs")
	}
}

// Every text comes back unchanged from the HCL data expression.
func TestTemplateDataRoundTrip(t *testing.T) {
	texts := []string{
		"plain\n",
		"${a} $${b} $$${c} %{d} %%{e} $ % {}\n",
		"EOT\n  EOT\nEOT1\n",
		"no final newline",
		"crlf\r\nline\r\n",
		"tab\tback\\slash \"quotes\"\n",
		"",
		"\n",
		"ends in dollar $\n",
		"ends in brace ${",
		"unicode: ü 漢字\n",
	}
	for _, text := range texts {
		if got := roundTrip(t, text); got != text {
			t.Errorf("round trip of %q gave %q", text, got)
		}
	}
}

func FuzzTemplateDataRoundTrip(f *testing.F) {
	for _, s := range []string{"a\n", "${x}\n", "%{ if }\nEOT\n", "$${\n", "\r\n", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) || !norm.NFC.IsNormalString(text) {
			t.Skip("Render refuses to inline text that is not NFC-normalized UTF-8")
		}
		if got := roundTrip(t, text); got != text {
			t.Fatalf("round trip of %q gave %q", text, got)
		}
	})
}

func roundTrip(t *testing.T, text string) string {
	t.Helper()
	f := hclwrite.NewEmptyFile()
	f.Body().SetAttributeRaw("data", templateData(text))
	src := f.Bytes()
	parsed, diags := hclsyntax.ParseConfig(src, "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%q renders as HCL that does not parse: %v\n%s", text, diags, src)
	}
	v, diags := parsed.Body.(*hclsyntax.Body).Attributes["data"].Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%q: data is not a literal: %v\n%s", text, diags, src)
	}
	return v.AsString()
}

func TestDelimitersAvoidThePolicyText(t *testing.T) {
	text := "a [[tetranomad b [[tetranomad1 c"
	left, right := Delimiters(text)
	if strings.Contains(text, left) || left != "[[tetranomad2" || right != "tetranomad2]]" {
		t.Errorf("Delimiters = %q %q", left, right)
	}
}

func TestTetragonTaskConfig(t *testing.T) {
	d := parseDecl(t, "")
	task := tetragonTask(t, parseJob(t, render(t, "", twoPolicies, "")))
	cfg := only(t, task, "config")
	if !boolean(t, cfg, "privileged") {
		t.Error("tetragon is not privileged")
	}
	if got := str(t, cfg, "pid_mode"); got != "host" {
		t.Errorf("pid_mode = %q", got)
	}
	if got := str(t, cfg, "cgroupns"); got != "host" {
		t.Errorf("cgroupns = %q with nomad %s", got, d.Nomad.Version)
	}
	wantArgs := []string{
		"--btf=/var/lib/tetragon/btf",
		"--export-filename=/var/log/tetragon/tetragon.log",
		"--export-file-max-size-mb=10",
		"--export-file-max-backups=5",
		"--tracing-policy-dir=/etc/tetragon/tetragon.tp.d",
		"--metrics-server=:2112",
		"--health-server-address=:6789",
	}
	if got := strs(t, cfg, "args"); strings.Join(got, " ") != strings.Join(wantArgs, " ") {
		t.Errorf("args = %q\nwant %q", got, wantArgs)
	}
	m := only(t, cfg, "mount")
	if str(t, m, "type") != "bind" || str(t, m, "source") != PolicyTaskDir || str(t, m, "target") != d.Tetragon.PolicyDir || !boolean(t, m, "readonly") {
		t.Errorf("policy mount is not a read-only bind of %s onto %s", PolicyTaskDir, d.Tetragon.PolicyDir)
	}
	res := only(t, task, "resources")
	if num(t, res, "cpu") != 500 || num(t, res, "memory") != 512 {
		t.Error("resources are not the model's")
	}
}

func TestTunedDeclaration(t *testing.T) {
	job := parseJob(t, render(t, tuned, nil, ""))
	task := tetragonTask(t, job)
	cfg := only(t, task, "config")
	if _, ok := cfg.Attributes["pid_mode"]; ok {
		t.Error("pid_mode set though host_pid = false")
	}
	if _, ok := cfg.Attributes["cgroupns"]; ok {
		t.Error("cgroupns set for nomad 1.10.2, which does not know it")
	}
	args := strs(t, cfg, "args")
	if !contains(args, "--export-file-compress=true") || !contains(args, "--tracing-policy-dir=/etc/policies") {
		t.Errorf("args %q miss the compress flag or the policy dir", args)
	}
	if got := args[len(args)-2:]; got[0] != "--enable-process-cred" || got[1] != "--rb-size-total=64M" {
		t.Errorf("extra_args are not last: %q", args)
	}
	m := only(t, cfg, "mount")
	if str(t, m, "type") != "tmpfs" || str(t, m, "target") != "/etc/policies" {
		t.Error("without policies the policy dir is not an empty tmpfs")
	}
	if got := strs(t, job.Body, "datacenters"); strings.Join(got, ",") != "eu1,eu2" {
		t.Errorf("datacenters = %q", got)
	}
	svc := only(t, task, "service")
	if got := str(t, svc, "name"); got != "security-agent-v2" {
		t.Errorf("service name = %q", got)
	}
}

func TestExportSidecar(t *testing.T) {
	d := parseDecl(t, "logging {\n  forward_address = \"127.0.0.1:5170\"\n  tag = \"tg\"\n  max_buffer_size = \"16m\"\n  buffer_limit = 5000\n}\n")
	out, err := Render(Input{Declaration: d})
	if err != nil {
		t.Fatal(err)
	}
	group := only(t, parseJob(t, out).Body, "group")
	var export *hclsyntax.Body
	for _, b := range blocks(group, "task") {
		if b.Labels[0] == ExportTask {
			export = b.Body
		}
	}
	if export == nil {
		t.Fatal("no export task")
	}
	lc := only(t, export, "lifecycle")
	if str(t, lc, "hook") != "poststart" || !boolean(t, lc, "sidecar") {
		t.Error("export is not a poststart sidecar")
	}
	if str(t, only(t, export, "restart"), "mode") != "delay" {
		t.Error("a failing exporter could fail the allocation")
	}
	cfg := only(t, export, "config")
	if _, ok := cfg.Attributes["command"]; ok {
		t.Error("export sets command; the image's entrypoint needs args only")
	}
	if got := strs(t, cfg, "args"); len(got) != 1 || got[0] != "/var/log/tetragon/tetragon.log" {
		t.Errorf("args = %q", got)
	}
	logging := only(t, cfg, "logging")
	if str(t, logging, "type") != "fluentd" {
		t.Error("logging driver is not fluentd")
	}
	want := map[string]string{
		"fluentd-address": "127.0.0.1:5170",
		"tag":             "tg",
		"fluentd-async":   "true",
		// A message count (fluent-logger-golang's pending channel), not a size.
		"fluentd-buffer-limit":         "5000",
		"fluentd-sub-second-precision": "true",
		"mode":                         "non-blocking",
		"max-buffer-size":              "16m",
	}
	lc2 := only(t, logging, "config")
	if len(lc2.Attributes) != len(want) {
		t.Errorf("logging config has %d options, want %d", len(lc2.Attributes), len(want))
	}
	for k, v := range want {
		if got := str(t, lc2, k); got != v {
			t.Errorf("logging %s = %q, want %q", k, got, v)
		}
	}
	vm := only(t, export, "volume_mount")
	if str(t, vm, "volume") != "logs" || !boolean(t, vm, "read_only") {
		t.Error("the exporter does not mount the logs volume read-only")
	}
}

func TestBadPolicies(t *testing.T) {
	good := policyFile("a.yaml", policyA)
	badSum := good
	badSum.SHA256 = strings.Repeat("0", 64)
	cases := []struct {
		policies []PolicyFile
		want     string
	}{
		{[]PolicyFile{{Path: "a.yaml", Data: nil, SHA256: bundle.SHA256Hex(nil)}}, `jobs: policy "a.yaml" must be policies/<file> with a file name of letters, digits, '_', '-', '.'`},
		{[]PolicyFile{policyFile("has space.yaml", "x")}, `jobs: policy "policies/has space.yaml" must be policies/<file> with a file name of letters, digits, '_', '-', '.'`},
		{[]PolicyFile{good, good}, "jobs: policies policies/a.yaml and policies/a.yaml have the same file name"},
		{[]PolicyFile{badSum}, `jobs: policy policies/a.yaml: sha256 "` + badSum.SHA256 + `" does not match its content (` + good.SHA256 + ")"},
	}
	for _, c := range cases {
		_, err := Render(Input{Declaration: parseDecl(t, ""), Policies: c.policies})
		if err == nil || err.Error() != c.want {
			t.Errorf("error = %v\nwant %s", err, c.want)
		}
	}
	for _, text := range []string{"e\u0301\n", "\xff\n"} {
		p := policyFile("x.yaml", text)
		want := "jobs: policy policies/x.yaml cannot be inlined byte for byte: it is not NFC-normalized UTF-8; normalize it or declare publish.bucket"
		if _, err := Render(Input{Declaration: parseDecl(t, ""), Policies: []PolicyFile{p}}); err == nil || err.Error() != want {
			t.Errorf("inlining %q: error = %v\nwant %s", text, err, want)
		}
		if _, err := Render(Input{Declaration: parseDecl(t, privateBucket), Policies: []PolicyFile{p}}); err != nil {
			t.Errorf("artifacts carry bytes as they are, but %q gave %v", text, err)
		}
	}
	if _, err := Render(Input{}); err == nil {
		t.Error("no error without a declaration")
	}
}

func TestServiceName(t *testing.T) {
	for in, want := range map[string]string{
		"tetragon":                     "tetragon",
		"Security_Agent.v2":            "security-agent-v2",
		"___":                          "tetragon",
		strings.Repeat("a", 70) + "-x": strings.Repeat("a", 63),
	} {
		if got := ServiceName(in); got != want {
			t.Errorf("ServiceName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUpdateBlockFollowsTheNomadVersion: before 1.11 a system job honours
// only max_parallel and stagger, and a canary would be silently ignored; from
// 1.11 it is a deployment (nomad@v1.11.3 scheduler/scheduler_system.go).
func TestUpdateBlockFollowsTheNomadVersion(t *testing.T) {
	attrs := func(decl string) map[string]string {
		t.Helper()
		src := render(t, decl, nil, "")
		ups := blocks(parseJob(t, src).Body, "update")
		if len(ups) != 1 {
			t.Fatalf("%d update blocks", len(ups))
		}
		out := map[string]string{}
		for name, a := range ups[0].Body.Attributes {
			out[name] = string(a.Expr.Range().SliceBytes(src))
		}
		return out
	}
	for _, c := range []struct {
		name, decl string
		want       map[string]string
	}{
		{"1.10", "nomad {\n  version = \"1.10.5\"\n}\n", map[string]string{"max_parallel": "1", "stagger": `"30s"`}},
		{"1.11 without canaries", "nomad {\n  version = \"1.11.0\"\n  max_parallel = 2\n}\n", map[string]string{
			"max_parallel": "2", "auto_revert": "true", "health_check": `"checks"`,
			"healthy_deadline": `"10m"`, "progress_deadline": `"15m"`,
		}},
		{"1.11 with canaries", canaryMonitor, map[string]string{
			"max_parallel": "4", "canary": "25", "auto_promote": "false", "auto_revert": "true", "health_check": `"checks"`,
			"healthy_deadline": `"10m"`, "progress_deadline": `"15m"`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := attrs(c.decl); !reflect.DeepEqual(got, c.want) {
				t.Errorf("update = %v, want %v", got, c.want)
			}
		})
	}
}

func TestJobMetaCarriesTheBundleAndPolicyMode(t *testing.T) {
	for decl, mode := range map[string]string{"": "enforce", canaryMonitor: "monitor"} {
		src := render(t, decl, nil, "0123456789abcdef0123")
		metas := blocks(parseJob(t, src).Body, "meta")
		if len(metas) != 1 {
			t.Fatalf("%d meta blocks", len(metas))
		}
		got := map[string]string{}
		for name, a := range metas[0].Body.Attributes {
			v, _ := a.Expr.Value(nil)
			got[name] = v.AsString()
		}
		if got[PolicyModeMetaKey] != mode || got[BundleMetaKey] != "0123456789abcdef0123" {
			t.Errorf("meta = %v, want %s=%s", got, PolicyModeMetaKey, mode)
		}
	}
}

func TestConstraintsAreLiteralInterpolations(t *testing.T) {
	d := parseDecl(t, "")
	job := parseJob(t, render(t, "", nil, ""))
	got := map[string]string{}
	for _, c := range blocks(job.Body, "constraint") {
		expr := c.Body.Attributes["attribute"].Expr
		wrap, ok := expr.(*hclsyntax.TemplateWrapExpr)
		if !ok {
			t.Fatalf("constraint attribute is %T, not \"${...}\"", expr)
		}
		trav := wrap.Wrapped.(*hclsyntax.ScopeTraversalExpr).Traversal
		got[traversalString(trav)] = str(t, c.Body, "value")
	}
	want := map[string]string{
		"attr.kernel.name":                      "linux",
		"attr.driver.docker.privileged.enabled": "true",
		"meta." + model.ContractMetaKey:         d.Contract().Hash(),
	}
	if len(got) != len(want) {
		t.Errorf("constraints = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("constraint %s = %q, want %q", k, got[k], v)
		}
	}
}

// --- helpers reading the jobspec back with hclsyntax ---

func parseJob(t *testing.T, src []byte) *hclsyntax.Block {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "job.nomad.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("jobspec does not parse: %v\n%s", diags, src)
	}
	jobs := blocks(f.Body.(*hclsyntax.Body), "job")
	if len(jobs) != 1 {
		t.Fatalf("%d job blocks", len(jobs))
	}
	return jobs[0]
}

func tetragonTask(t *testing.T, job *hclsyntax.Block) *hclsyntax.Body {
	t.Helper()
	for _, task := range blocks(only(t, job.Body, "group"), "task") {
		if task.Labels[0] == TetragonTask {
			return task.Body
		}
	}
	t.Fatal("no tetragon task")
	return nil
}

func blocks(body *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

func only(t *testing.T, body *hclsyntax.Body, typ string) *hclsyntax.Body {
	t.Helper()
	bs := blocks(body, typ)
	if len(bs) != 1 {
		t.Fatalf("%d %q blocks, want 1", len(bs), typ)
	}
	return bs[0].Body
}

func value(t *testing.T, body *hclsyntax.Body, name string) cty.Value {
	t.Helper()
	a, ok := body.Attributes[name]
	if !ok {
		t.Fatalf("no attribute %q", name)
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	return v
}

func str(t *testing.T, body *hclsyntax.Body, name string) string {
	return value(t, body, name).AsString()
}

func boolean(t *testing.T, body *hclsyntax.Body, name string) bool {
	return value(t, body, name).True()
}

func num(t *testing.T, body *hclsyntax.Body, name string) int64 {
	n, _ := value(t, body, name).AsBigFloat().Int64()
	return n
}

func strs(t *testing.T, body *hclsyntax.Body, name string) []string {
	var out []string
	for _, v := range value(t, body, name).AsValueSlice() {
		out = append(out, v.AsString())
	}
	return out
}

func contains(vs []string, s string) bool {
	for _, v := range vs {
		if v == s {
			return true
		}
	}
	return false
}

func traversalString(trav hcl.Traversal) string {
	parts := []string{trav.RootName()}
	for _, s := range trav[1:] {
		parts = append(parts, s.(hcl.TraverseAttr).Name)
	}
	return strings.Join(parts, ".")
}
