package render

import (
	"fmt"
	"math/rand"
	"path"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/library"
)

// The contract between the client config and the jobspec, checked on the
// rendered bytes alone: both are parsed back with hcl/v2 and compared with
// each other, with the manifest and with the declaration. Nothing here calls
// the renderers' helpers, so a renderer that drifts cannot hide it.

func TestContractDefaultDeclaration(t *testing.T) {
	d, err := model.Parse("empty.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Render(d, nil, testPluginVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range contractProblems(b, d) {
		t.Error(p)
	}
}

func TestContractGoldenVariants(t *testing.T) {
	for _, name := range sortedVariants() {
		d, user := load(t, goldenVariants[name])
		b, _, err := Render(d, user, testPluginVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range contractProblems(b, d) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

func TestContractRandomDeclarations(t *testing.T) {
	for seed := int64(1); seed <= 64; seed++ {
		raw := make([]byte, 256)
		rand.New(rand.NewSource(seed)).Read(raw)
		d, user := randomDeclaration(t, raw)
		b, _, err := Render(d, user, testPluginVersion)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, p := range contractProblems(b, d) {
			t.Errorf("seed %d: %s", seed, p)
		}
	}
}

func FuzzContract(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("tetranomad"))
	f.Add([]byte{0xff, 0x01, 0x7f, 0x80, 0x00, 0x33, 0x99, 0xaa, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70})
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, user := randomDeclaration(t, raw)
		b, _, err := Render(d, user, testPluginVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range contractProblems(b, d) {
			t.Error(p)
		}
	})
}

// A contract check that passes everything would prove nothing: breaking each
// side of the contract in a rendered bundle must be caught.
func TestContractCheckCatchesDrift(t *testing.T) {
	d, user := load(t, goldenVariants["bucket-private"])
	fresh := func() *bundle.Bundle {
		b, _, err := Render(d, user, testPluginVersion)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	edits := []struct {
		what, file, old, new string
	}{
		{"volume source", bundle.JobspecPath, `source    = "tetragon-logs"`, `source    = "tetragon-log"`},
		{"read-only", "nomad/tetragon.hcl", "path      = \"/sys/kernel/btf/vmlinux\"\n    read_only = true", "path      = \"/sys/kernel/btf/vmlinux\"\n    read_only = false"},
		{"privileged", "nomad/tetragon.hcl", "allow_privileged = true", "allow_privileged = false"},
		{"contract meta", "nomad/tetragon.hcl", `tetranomad_contract = "`, `tetranomad_contract = "0`},
		{"fluentd address", bundle.JobspecPath, `fluentd-address              = "127.0.0.1:24224"`, `fluentd-address              = "127.0.0.1:24225"`},
		{"policy checksum", bundle.JobspecPath, `checksum = "sha256:`, `checksum = "sha256:0`},
		{"policy destination", bundle.JobspecPath, `destination = "local/policies/watch-fd.yaml"`, `destination = "local/policies/other.yaml"`},
		{"policy dir", bundle.JobspecPath, `"--tracing-policy-dir=/etc/tetragon/tetragon.tp.d"`, `"--tracing-policy-dir=/etc/tetragon/policies"`},
		{"btf mount", bundle.JobspecPath, `"--btf=/var/lib/tetragon/btf"`, `"--btf=/btf"`},
		{"export file", bundle.JobspecPath, `args  = ["/var/log/tetragon/tetragon.log"]`, `args  = ["/var/log/tetragon/other.log"]`},
	}
	for _, e := range edits {
		b := fresh()
		text := string(b.Content[e.file])
		if !strings.Contains(text, e.old) {
			t.Fatalf("%s: %q not found in %s", e.what, e.old, e.file)
		}
		b.Content[e.file] = []byte(strings.Replace(text, e.old, e.new, 1))
		if problems := contractProblems(b, d); len(problems) == 0 {
			t.Errorf("breaking the %s (%s) went unnoticed", e.what, e.file)
		}
	}
	// An extra reference and a missing one.
	b := fresh()
	delete(b.Content, "policies/watch-fd.yaml")
	var kept []bundle.File
	for _, f := range b.Manifest.Files {
		if f.Path != "policies/watch-fd.yaml" {
			kept = append(kept, f)
		}
	}
	b.Manifest.Files = kept
	if len(contractProblems(b, d)) == 0 {
		t.Error("an artifact for a file missing from the manifest went unnoticed")
	}
}

// contractProblems lists every way the rendered client config, jobspec and
// manifest disagree with each other or with the declaration.
func contractProblems(b *bundle.Bundle, d *model.Declaration) []string {
	c := &checker{}
	clientFile := c.onlyFile(b, bundle.RoleClientConfig)
	jobFile := c.onlyFile(b, bundle.RoleJobspec)
	if clientFile == "" || jobFile == "" {
		return c.problems
	}
	client := c.parse(clientFile, b.Content[clientFile])
	jobspec := c.parse(jobFile, b.Content[jobFile])
	if client == nil || jobspec == nil {
		return c.problems
	}

	// The client side.
	type hostVolume struct {
		path     string
		readOnly bool
	}
	hostVolumes := map[string]hostVolume{}
	clientBlock := c.one(client, "client")
	for _, hv := range blocksOf(clientBlock, "host_volume") {
		hostVolumes[hv.Labels[0]] = hostVolume{c.str(hv.Body, "path"), c.boolean(hv.Body, "read_only")}
	}
	meta := c.str(c.one(clientBlock, "meta"), model.ContractMetaKey)
	var allowPrivileged bool
	for _, p := range blocksOf(client, "plugin") {
		if p.Labels[0] == "docker" {
			allowPrivileged = c.boolean(c.one(p.Body, "config"), "allow_privileged")
		}
	}

	// The job side.
	job := c.one(jobspec, "job")
	constraints := map[string]string{}
	for _, con := range blocksOf(job, "constraint") {
		constraints[c.source(b.Content[jobFile], con.Body, "attribute")] = c.str(con.Body, "value")
	}
	group := c.one(job, "group")
	type groupVolume struct {
		source   string
		readOnly bool
	}
	groupVolumes := map[string]groupVolume{}
	for _, v := range blocksOf(group, "volume") {
		gv := groupVolume{c.str(v.Body, "source"), c.boolean(v.Body, "read_only")}
		groupVolumes[v.Labels[0]] = gv
		hv, ok := hostVolumes[gv.source]
		switch {
		case c.str(v.Body, "type") != "host":
			c.add("group volume %q is not a host volume", v.Labels[0])
		case !ok:
			c.add("group volume %q uses source %q, which the client config does not declare", v.Labels[0], gv.source)
		case hv.readOnly != gv.readOnly:
			c.add("volume %q: read_only is %v in the jobspec and %v in the client config", gv.source, gv.readOnly, hv.readOnly)
		}
	}
	for name := range hostVolumes {
		used := false
		for _, gv := range groupVolumes {
			used = used || gv.source == name
		}
		if !used {
			c.add("client host_volume %q is not used by the jobspec", name)
		}
	}

	tasks := map[string]*hclsyntax.Body{}
	for _, task := range blocksOf(group, "task") {
		tasks[task.Labels[0]] = task.Body
	}
	// mountsOf maps each task's mount destinations to the host path behind them.
	mountsOf := func(task *hclsyntax.Body) map[string]string {
		out := map[string]string{}
		for _, vm := range blocksOf(task, "volume_mount") {
			gv, ok := groupVolumes[c.str(vm.Body, "volume")]
			if !ok {
				c.add("volume_mount of undeclared group volume %q", c.str(vm.Body, "volume"))
				continue
			}
			ro := c.boolean(vm.Body, "read_only")
			if gv.readOnly && !ro {
				c.add("volume_mount of read-only volume %q is read-write", gv.source)
			}
			out[c.str(vm.Body, "destination")] = hostVolumes[gv.source].path
		}
		return out
	}

	tetragon, export := tasks["tetragon"], tasks["export"]
	if tetragon == nil || export == nil {
		c.add("tasks %v, want tetragon and export", keys(tasks))
		return c.problems
	}
	tconf := c.one(tetragon, "config")
	if !c.boolean(tconf, "privileged") {
		c.add("the tetragon task is not privileged")
	}
	if !allowPrivileged {
		c.add("the client config does not allow privileged containers, which the tetragon task needs")
	}
	if got := constraints["${attr.driver.docker.privileged.enabled}"]; got != "true" {
		c.add("no constraint on the Docker driver's privileged attribute (have %v)", constraints)
	}
	if got := constraints["${meta."+model.ContractMetaKey+"}"]; got != meta || meta != b.Manifest.Contract || meta != d.Contract().Hash() {
		c.add("contract: jobspec constraint %q, client meta %q, manifest %q, declaration %q", got, meta, b.Manifest.Contract, d.Contract().Hash())
	}
	if got := constraints["${attr.kernel.name}"]; got != "linux" {
		c.add("no linux constraint")
	}

	flags := map[string]string{}
	for _, a := range c.strs(tconf, "args") {
		k, v, _ := strings.Cut(a, "=")
		flags[k] = v
	}
	tmounts := mountsOf(tetragon)
	if tmounts[flags["--btf"]] != d.HostVolumes.BTF.Path {
		c.add("--btf=%s is not where the BTF host volume (%s) is mounted: %v", flags["--btf"], d.HostVolumes.BTF.Path, tmounts)
	}
	exportFile := flags["--export-filename"]
	if tmounts[path.Dir(exportFile)] != d.HostVolumes.Logs.Path || path.Base(exportFile) != d.Tetragon.ExportFilename {
		c.add("--export-filename=%s is not %s in the logs host volume (%s)", exportFile, d.Tetragon.ExportFilename, d.HostVolumes.Logs.Path)
	}
	econf := c.one(export, "config")
	if args := c.strs(econf, "args"); len(args) != 1 || args[0] != exportFile {
		c.add("the exporter tails %q, Tetragon writes %q", args, exportFile)
	} else if mountsOf(export)[path.Dir(args[0])] != d.HostVolumes.Logs.Path {
		c.add("the exporter does not mount the logs host volume at %s", path.Dir(args[0]))
	}
	logging := c.one(econf, "logging")
	if c.str(logging, "type") != "fluentd" {
		c.add("the exporter does not log to fluentd")
	}
	if got := c.str(c.one(logging, "config"), "fluentd-address"); got != d.Logging.ForwardAddress {
		c.add("fluentd-address %q, the declaration's forward address %q", got, d.Logging.ForwardAddress)
	}

	// Policies: each manifest policy is referenced by exactly one artifact or
	// template, and each reference is a manifest policy.
	policyDir := flags["--tracing-policy-dir"]
	var policyMountSource string
	for _, m := range blocksOf(tconf, "mount") {
		if c.str(m.Body, "target") == policyDir && c.str(m.Body, "type") == "bind" {
			policyMountSource = c.str(m.Body, "source")
			if !c.boolean(m.Body, "readonly") {
				c.add("the policy mount is writable")
			}
		}
	}
	manifestPolicies := map[string]bundle.File{}
	for _, f := range b.Manifest.FilesWithRole(bundle.RolePolicy) {
		manifestPolicies[f.Path] = f
	}
	if len(manifestPolicies) > 0 && policyMountSource == "" {
		c.add("no read-only bind mount onto --tracing-policy-dir=%s", policyDir)
	}
	refs := map[string]int{}
	resolve := func(destination string) (bundle.File, bool) {
		if path.Dir(destination) != policyMountSource {
			c.add("policy destination %s is outside the mounted %s", destination, policyMountSource)
		}
		f, ok := manifestPolicies[bundle.PolicyDir+"/"+path.Base(destination)]
		if !ok {
			c.add("the jobspec delivers %s, which is not a policy in the manifest", destination)
		}
		refs[f.Path]++
		return f, ok
	}
	artifacts, templates := blocksOf(tetragon, "artifact"), blocksOf(tetragon, "template")
	if d.Publish.Bucket != "" && len(templates) > 0 || d.Publish.Bucket == "" && len(artifacts) > 0 {
		c.add("bucket %q with %d artifacts and %d templates", d.Publish.Bucket, len(artifacts), len(templates))
	}
	for _, a := range artifacts {
		f, ok := resolve(c.str(a.Body, "destination"))
		if !ok {
			continue
		}
		object := b.Manifest.Target.Prefix + "/bundles/" + b.Manifest.BundleID + "/" + f.Path
		want := "gcs::https://www.googleapis.com/storage/v1/" + d.Publish.Bucket + "/" + object
		if d.Publish.Public {
			want = strings.TrimSuffix(d.Publish.DownloadBaseURL, "/") + "/" + d.Publish.Bucket + "/" + object
		}
		if got := c.str(a.Body, "source"); got != want {
			c.add("artifact source %q, want %q", got, want)
		}
		if got := c.str(c.one(a.Body, "options"), "checksum"); got != "sha256:"+f.SHA256 {
			c.add("artifact checksum %q for %s, manifest sha256 %s", got, f.Path, f.SHA256)
		}
		if c.str(a.Body, "mode") != "file" {
			c.add("artifact %s is not mode = \"file\"", f.Path)
		}
	}
	for _, tpl := range templates {
		f, ok := resolve(c.str(tpl.Body, "destination"))
		if ok && c.str(tpl.Body, "data") != string(b.Content[f.Path]) {
			c.add("the template for %s does not hold the file's bytes", f.Path)
		}
		if ok && strings.Contains(string(b.Content[f.Path]), c.str(tpl.Body, "left_delimiter")) {
			c.add("%s contains its template's left delimiter", f.Path)
		}
	}
	for p := range manifestPolicies {
		if refs[p] != 1 {
			c.add("policy %s is referenced %d times by the jobspec, want once", p, refs[p])
		}
	}
	return c.problems
}

type checker struct{ problems []string }

func (c *checker) add(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) onlyFile(b *bundle.Bundle, role string) string {
	fs := b.Manifest.FilesWithRole(role)
	if len(fs) != 1 {
		c.add("%d files with role %s, want 1", len(fs), role)
		return ""
	}
	return fs[0].Path
}

func (c *checker) parse(name string, src []byte) *hclsyntax.Body {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		c.add("%s does not parse: %v", name, diags)
		return nil
	}
	return f.Body.(*hclsyntax.Body)
}

func blocksOf(body *hclsyntax.Body, typ string) []*hclsyntax.Block {
	if body == nil {
		return nil
	}
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

func (c *checker) one(body *hclsyntax.Body, typ string) *hclsyntax.Body {
	bs := blocksOf(body, typ)
	if len(bs) != 1 {
		c.add("%d %q blocks, want 1", len(bs), typ)
		return &hclsyntax.Body{}
	}
	return bs[0].Body
}

func (c *checker) value(body *hclsyntax.Body, name string) cty.Value {
	a, ok := body.Attributes[name]
	if !ok {
		c.add("missing attribute %q", name)
		return cty.NullVal(cty.DynamicPseudoType)
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		c.add("%s: %v", name, diags)
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v
}

func (c *checker) str(body *hclsyntax.Body, name string) string {
	v := c.value(body, name)
	if v.IsNull() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func (c *checker) boolean(body *hclsyntax.Body, name string) bool {
	v := c.value(body, name)
	return !v.IsNull() && v.Type() == cty.Bool && v.True()
}

func (c *checker) strs(body *hclsyntax.Body, name string) []string {
	v := c.value(body, name)
	if v.IsNull() || !v.CanIterateElements() {
		return nil
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out
}

// source is an attribute's expression as written, without its quotes: the
// constraints' "${...}" must stay literal for Nomad to resolve.
func (c *checker) source(src []byte, body *hclsyntax.Body, name string) string {
	a, ok := body.Attributes[name]
	if !ok {
		c.add("missing attribute %q", name)
		return ""
	}
	r := a.Expr.Range()
	return strings.Trim(string(src[r.Start.Byte:r.End.Byte]), `"`)
}

func keys(m map[string]*hclsyntax.Body) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// entropy hands out decisions from fuzz bytes; past the end it answers 0.
type entropy struct {
	raw []byte
	pos int
}

func (e *entropy) next() int {
	if e.pos >= len(e.raw) {
		return 0
	}
	e.pos++
	return int(e.raw[e.pos-1])
}

func (e *entropy) intn(n int) int { return e.next() % n }
func (e *entropy) coin() bool     { return e.next()&1 == 1 }

func (e *entropy) word() string {
	const first, rest = "abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz0123456789-_"
	w := []byte{first[e.intn(len(first))]}
	for n := e.intn(10); n > 0; n-- {
		w = append(w, rest[e.intn(len(rest))])
	}
	return string(w)
}

func (e *entropy) absPath(leaf string) string {
	p := ""
	for n := 1 + e.intn(3); n > 0; n-- {
		p += "/" + e.word()
	}
	return p + "/" + leaf
}

// randomDeclaration builds a valid declaration (and user policy files) from
// fuzz bytes. Names that must differ are made distinct by construction, so
// every input yields a declaration worth rendering.
func randomDeclaration(t testing.TB, raw []byte) (*model.Declaration, []policy.File) {
	t.Helper()
	e := &entropy{raw: raw}
	var d model.Declaration
	hostPID := e.coin()
	d.Tetragon.HostPID = &hostPID
	d.Tetragon.ExportFilename = e.word() + ".log"
	d.Tetragon.ExportFileCompress = e.coin()
	d.Tetragon.ExportFileMaxSizeMB = 1 + e.intn(100)
	d.Tetragon.PolicyDir = e.absPath("policies")
	d.Tetragon.MetricsPort = 1024 + e.intn(20000)
	d.Tetragon.HealthPort = d.Tetragon.MetricsPort + 1 + e.intn(1000)
	if e.coin() {
		d.Tetragon.ExtraArgs = []string{"--enable-process-cred", "--rb-size-total=" + strconv.Itoa(1+e.intn(64)) + "M"}
	}
	if e.coin() {
		d.Tetragon.Image = "registry.example.com/" + strings.NewReplacer("_", "", "-", "").Replace(e.word()) + "/tetragon@sha256:" + strings.Repeat("ab", 32)
	}

	d.Nomad.JobName = e.word()
	d.Nomad.DropInName = strings.ReplaceAll(e.word(), "-", "_") + "_tn"
	d.Nomad.Version = []string{"2.0.5", "1.10.5", "1.9.7", "1.10.3"}[e.intn(4)]
	d.Nomad.Datacenters = []string{[]string{"*", "dc1", "europe-west1"}[e.intn(3)]}
	d.Nomad.Base.Enabled = e.coin()
	if d.Nomad.Base.Enabled && e.coin() {
		d.Nomad.Base.ServerJoinTag = e.word()
	}

	d.HostVolumes.BTF = model.HostVolume{Name: e.word() + "-btf", Path: e.absPath("vmlinux")}
	d.HostVolumes.Logs = model.HostVolume{Name: e.word() + "-logs", Path: e.absPath("logs")}
	d.HostVolumes.BPFFS = model.HostVolume{Name: e.word() + "-bpffs", Path: e.absPath("bpf")}

	d.Logging.ForwardAddress = fmt.Sprintf("127.0.0.%d:%d", 1+e.intn(254), 1024+e.intn(60000))
	d.Logging.Tag = e.word()

	names := library.Names()
	d.Policies.Library = []string{}
	for _, n := range names {
		if e.coin() {
			d.Policies.Library = append(d.Policies.Library, n)
		}
	}
	var user []policy.File
	for i := e.intn(3); i > 0; i-- {
		name := fmt.Sprintf("user-%d-%s", i, e.word())
		p := "/declarations/" + e.word() + "/" + name + []string{".yaml", ".yml"}[e.intn(2)]
		data := fmt.Sprintf("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: %q\nspec:\n  kprobes:\n  - call: \"fd_install\"\n    syscall: false\n", strings.ToLower(strings.ReplaceAll(name, "_", "-")))
		user = append(user, policy.File{Path: p, Data: []byte(data)})
		d.Policies.Files = append(d.Policies.Files, p)
	}

	switch e.intn(3) {
	case 1:
		d.Publish.Bucket = "bkt-" + strings.ReplaceAll(e.word(), "_", "-") + "0"
		d.Publish.Prefix = e.word()
	case 2:
		d.Publish.Bucket = "pub-" + strings.ReplaceAll(e.word(), "_", "-") + "0"
		d.Publish.Public = true
	}

	if err := d.Prepare(); err != nil {
		t.Fatalf("the generator built an invalid declaration: %v\n%+v", err, d)
	}
	return &d, user
}
