package render

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/golden"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

const testPluginVersion = "0.0.0-test"

// goldenVariants are rendered into testdata/golden/<name>/.
var goldenVariants = map[string]string{
	"default":            "testdata/decl/default.hcl",
	"inline-user-policy": "testdata/decl/inline-user-policy.hcl",
	"bucket-private":     "testdata/decl/bucket-private.hcl",
	"bucket-public":      "testdata/decl/bucket-public.hcl",
	"staged":             "testdata/decl/staged.hcl",
	"example":            "../examples/declaration.hcl", // the README's: base config with GCE auto-join
}

func sortedVariants() []string {
	names := make([]string, 0, len(goldenVariants))
	for n := range goldenVariants {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// load reads a declaration and its policy files the way the render
// subcommand does.
func load(t testing.TB, file string) (*model.Declaration, []policy.File) {
	t.Helper()
	d, err := model.LoadFile(file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var user []policy.File
	for _, p := range d.Policies.Files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		user = append(user, policy.File{Path: p, Data: data})
	}
	return d, user
}

func renderFile(t testing.TB, file string) *bundle.Bundle {
	t.Helper()
	d, user := load(t, file)
	b, _, err := Render(d, user, testPluginVersion)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return b
}

func TestGoldenBundles(t *testing.T) {
	for _, name := range sortedVariants() {
		t.Run(name, func(t *testing.T) {
			b := renderFile(t, goldenVariants[name])
			dir := filepath.Join("testdata", "golden", name)
			if golden.Updating() {
				// build.json is the build's, not the bundle's; keep it out.
				b.Build = bundle.Build{}
				if err := b.WriteDir(dir); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := bundle.ReadDir(dir)
			if err != nil {
				t.Fatalf("%v (go test -update writes the golden bundles)", err)
			}
			gotManifest, _ := b.Manifest.Encode()
			wantManifest, _ := want.Manifest.Encode()
			if !bytes.Equal(gotManifest, wantManifest) {
				t.Errorf("manifest differs from %s (go test -update rewrites it):\n%s", dir, gotManifest)
			}
			for p, data := range b.Content {
				if !bytes.Equal(data, want.Content[p]) {
					t.Errorf("%s differs from %s/%s:\n%s", p, dir, p, data)
				}
			}
			// ReadDir holds exactly the manifest's files; nothing else may be there.
			var onDisk []string
			_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					rel, _ := filepath.Rel(dir, p)
					onDisk = append(onDisk, filepath.ToSlash(rel))
				}
				return err
			})
			if len(onDisk) != len(b.Content)+1 {
				t.Errorf("%s holds %v, the bundle %d files and the manifest", dir, onDisk, len(b.Content))
			}
		})
	}
}

func TestSameInputSameBytes(t *testing.T) {
	for _, name := range sortedVariants() {
		a, b := renderFile(t, goldenVariants[name]), renderFile(t, goldenVariants[name])
		ma, _ := a.Manifest.Encode()
		mb, _ := b.Manifest.Encode()
		if !bytes.Equal(ma, mb) {
			t.Errorf("%s: manifests of two renderings differ", name)
		}
		for p := range a.Content {
			if !bytes.Equal(a.Content[p], b.Content[p]) {
				t.Errorf("%s: %s differs between two renderings", name, p)
			}
		}
	}
}

func TestBundleLayoutAndManifest(t *testing.T) {
	b := renderFile(t, goldenVariants["example"])
	m := b.Manifest
	if !regexp.MustCompile(`^[0-9a-f]{20}$`).MatchString(m.BundleID) {
		t.Errorf("bundle id %q is not 20 hex characters", m.BundleID)
	}
	roles := map[string]string{}
	for _, f := range m.Files {
		roles[f.Path] = f.Role
		if f.SHA256 != bundle.SHA256Hex(b.Content[f.Path]) || f.Size != int64(len(b.Content[f.Path])) {
			t.Errorf("%s: manifest sha256/size do not match the content", f.Path)
		}
	}
	want := map[string]string{
		"jobs/tetragon.nomad.hcl":             bundle.RoleJobspec,
		"nomad/tetragon.hcl":                  bundle.RoleClientConfig,
		"nomad/client.hcl":                    bundle.RoleBaseConfig,
		"policies/log-file-access.yaml":       bundle.RolePolicy,
		"policies/block-internet-egress.yaml": bundle.RolePolicy,
	}
	if len(roles) != len(want) {
		t.Errorf("files = %v, want %v", roles, want)
	}
	for p, r := range want {
		if roles[p] != r {
			t.Errorf("%s has role %q, want %q", p, roles[p], r)
		}
	}
	d, _ := load(t, goldenVariants["example"])
	if m.Contract != d.Contract().Hash() {
		t.Errorf("manifest contract %q, want %q", m.Contract, d.Contract().Hash())
	}
	wantVersions := bundle.Versions{Tetragon: "v1.7.0", TetragonImage: "quay.io/cilium/tetragon:v1.7.0",
		ExportImage: model.DefaultExportImage, Nomad: "2.0.5"}
	if m.Versions != wantVersions {
		t.Errorf("versions = %+v, want %+v", m.Versions, wantVersions)
	}
	if m.Target != (bundle.Target{Bucket: "acme-tetranomad-bundles", Prefix: "prod", DownloadBaseURL: bundle.DefaultDownloadBaseURL}) {
		t.Errorf("target = %+v", m.Target)
	}
	if len(m.Policies) != 2 || m.Policies[0].File != "policies/block-internet-egress.yaml" || m.Policies[1].File != "policies/log-file-access.yaml" {
		t.Errorf("policy requirements = %+v, want both policies by bundle path in bundle order", m.Policies)
	}
	if !bytes.Contains(b.Content[bundle.JobspecPath], []byte("/bundles/"+m.BundleID+"/policies/")) {
		t.Error("the jobspec's artifacts do not fetch from this bundle id")
	}
}

func TestNoBucketNoTarget(t *testing.T) {
	m := renderFile(t, goldenVariants["default"]).Manifest
	if m.Target != (bundle.Target{}) {
		t.Errorf("target = %+v without a bucket", m.Target)
	}
	if m.Policies == nil {
		t.Error("policies is null in the manifest; want a list")
	}
}

// The id follows the content: a policy byte, a jobspec setting, a client
// setting each change it; the plugin version (not content) does not.
func TestBundleIDFollowsContent(t *testing.T) {
	base := `policies {
  files = ["p/watch-fd.yaml"]
}
`
	idOf := func(decl string, policyText string, pluginVersion string) string {
		t.Helper()
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "p"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "p", "watch-fd.yaml"), []byte(policyText), 0o644); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "d.hcl")
		if err := os.WriteFile(file, []byte(decl), 0o644); err != nil {
			t.Fatal(err)
		}
		d, user := load(t, file)
		b, _, err := Render(d, user, pluginVersion)
		if err != nil {
			t.Fatal(err)
		}
		return b.Manifest.BundleID
	}
	policyText, err := os.ReadFile("testdata/decl/policies/watch-fd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ref := idOf(base, string(policyText), "1")
	if idOf(base, string(policyText), "2") != ref {
		t.Error("the plugin version changed the bundle id")
	}
	changes := map[string]string{
		"policy text":     idOf(base, string(policyText)+"# changed\n", "1"),
		"jobspec":         idOf(base+"tetragon {\n  cpu = 700\n}\n", string(policyText), "1"),
		"client":          idOf(base+"nomad {\n  bridge_network_subnet = \"172.27.0.0/20\"\n}\n", string(policyText), "1"),
		"bucket":          idOf(base+"publish {\n  bucket = \"b-one\"\n}\n", string(policyText), "1"),
		"other bucket":    idOf(base+"publish {\n  bucket = \"b-two\"\n}\n", string(policyText), "1"),
		"base config":     idOf(base+"nomad {\n  base_config {\n    enabled = true\n  }\n}\n", string(policyText), "1"),
		"export tag":      idOf(base+"logging {\n  tag = \"tg\"\n}\n", string(policyText), "1"),
		"library changed": idOf("policies {\n  files = [\"p/watch-fd.yaml\"]\n  library = [\"log-tcp-connect\"]\n}\n", string(policyText), "1"),
	}
	seen := map[string]string{ref: "reference"}
	for what, id := range changes {
		if other, dup := seen[id]; dup {
			t.Errorf("changing %s gave the same id as %s", what, other)
		}
		seen[id] = what
	}
}

func TestPolicyFileNameClashes(t *testing.T) {
	d, _ := load(t, goldenVariants["default"])
	read := func(p string) policy.File {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return policy.File{Path: p, Data: data}
	}
	mine := read("testdata/decl/policies/watch-fd.yaml")
	other := read("testdata/decl/other/watch-fd.yml")
	cases := []struct {
		user []policy.File
		want string
	}{
		{[]policy.File{mine, other}, "policies: policy file testdata/decl/policies/watch-fd.yaml and policy file testdata/decl/other/watch-fd.yml would both be policies/watch-fd.yaml; rename one"},
		{[]policy.File{{Path: "x/log-tcp-connect.yaml", Data: mine.Data}}, "policies: library policy log-tcp-connect and policy file x/log-tcp-connect.yaml would both be policies/log-tcp-connect.yaml; rename one"},
		{[]policy.File{{Path: "x/my policy.yaml", Data: mine.Data}}, `policies.files: x/my policy.yaml: "my policy" cannot name a bundle file (letters, digits, '_', '-', '.'); rename the file`},
	}
	for _, c := range cases {
		b, _, err := Render(d, c.user, testPluginVersion)
		if err == nil || err.Error() != c.want {
			t.Errorf("error = %v\nwant  %s", err, c.want)
		}
		if b != nil {
			t.Error("a bundle came back with the error")
		}
	}
}

func TestLintErrorsStopTheRender(t *testing.T) {
	d, _ := load(t, goldenVariants["default"])
	data, err := os.ReadFile("testdata/decl/policies/broken.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, report, err := Render(d, []policy.File{{Path: "testdata/decl/policies/broken.yaml", Data: data}}, testPluginVersion)
	var lint *LintError
	if !errors.As(err, &lint) || b != nil {
		t.Fatalf("Render = %v, %v; want no bundle and a *LintError", b, err)
	}
	want := "1 policy lint error(s):\n" + `testdata/decl/policies/broken.yaml:8:5: error: schema-unknown-field: unknown field "bogus" in spec.kprobes[0] (allowed: args, call, data, ignore, message, return, returnArg, returnArgAction, selectors, syscall, tags)`
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	if len(report.Findings) != 1 || report.Findings[0].File != "testdata/decl/policies/broken.yaml" {
		t.Errorf("report findings = %v; want the one error, naming the user's path", report.Findings)
	}
}

// Library policies are linted with the declaration's network: a Docker
// bridge moved elsewhere is what the egress policy is rendered and checked
// against.
func TestLibraryRenderedFromTheModel(t *testing.T) {
	d, err := model.Parse("d.hcl", []byte(`docker {
  bridge_cidr = "192.168.128.0/20"
}
policies {
  library = ["block-internet-egress"]
}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, report, err := Render(d, nil, testPluginVersion)
	if err != nil {
		t.Fatalf("%v\n%v", err, report.Findings)
	}
	egress := string(b.Content["policies/block-internet-egress.yaml"])
	if !strings.Contains(egress, "192.168.128.0/20") || strings.Contains(egress, "172.17.0.0/16") {
		t.Errorf("egress policy does not use the declared bridge:\n%s", egress)
	}
}

// BenchmarkRender measures a whole bundle from the README's example
// declaration: library rendering, linting, both client configs, the jobspec
// twice (for the id) and the manifest.
func BenchmarkRender(b *testing.B) {
	d, user := load(b, goldenVariants["example"])
	for b.Loop() {
		if _, _, err := Render(d, user, testPluginVersion); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMonitorModeRewritesOnlyEnforcingPolicies: policies.mode = "monitor"
// ships the same policies with Tetragon's policy-mode option on the
// enforcing ones, under another bundle id.
func TestMonitorModeRewritesOnlyEnforcingPolicies(t *testing.T) {
	const decl = "policies {\n  library = [\"block-package-managers\", \"log-tcp-connect\"]\n%s}\n"
	renderMode := func(mode string) *bundle.Bundle {
		t.Helper()
		d, err := model.Parse("d.hcl", []byte(strings.Replace(decl, "%s", mode, 1)))
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := Render(d, nil, testPluginVersion)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	enforce, monitor := renderMode(""), renderMode("  mode = \"monitor\"\n")
	if enforce.Manifest.PolicyMode != "enforce" || monitor.Manifest.PolicyMode != "monitor" {
		t.Errorf("manifest policy_mode %q / %q", enforce.Manifest.PolicyMode, monitor.Manifest.PolicyMode)
	}
	if enforce.Manifest.BundleID == monitor.Manifest.BundleID {
		t.Error("monitor and enforce bundles share an id")
	}
	const blocking, logging = "policies/block-package-managers.yaml", "policies/log-tcp-connect.yaml"
	if !bytes.Equal(enforce.Content[logging], monitor.Content[logging]) {
		t.Errorf("%s does not enforce and must not change", logging)
	}
	if bytes.Contains(enforce.Content[blocking], []byte("policy-mode")) {
		t.Fatalf("%s already has a policy-mode option; the test needs an enforcing policy without one", blocking)
	}
	if !regexp.MustCompile(`(?m)^\s*- name: policy-mode\n\s*value: monitor$`).Match(monitor.Content[blocking]) {
		t.Errorf("%s in monitor mode lacks policy-mode: monitor:\n%s", blocking, monitor.Content[blocking])
	}
	r, err := policy.LintWith([]policy.File{{Path: blocking, Data: monitor.Content[blocking]}}, policy.Options{Network: model.DefaultNetwork()})
	if err != nil {
		t.Fatal(err)
	}
	if r.HasErrors() {
		t.Errorf("monitor-mode policy has lint errors: %v", r.Findings)
	}
	if !bytes.Contains(monitor.Content[bundle.JobspecPath], []byte(`tetranomad_policy_mode = "monitor"`)) {
		t.Error("jobspec meta does not carry the monitor mode")
	}
}
