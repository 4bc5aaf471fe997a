package quickstart

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"gopkg.in/yaml.v3"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/publish"
)

const (
	templateDir = "examples/googlecompute"
	varFile     = "example.pkrvars.hcl"
	terraformEx = "examples/terraform"
	bakeYML     = "examples/github-actions/bake.yml"
)

func examplePath(rel string) string { return filepath.Join(repoRoot, filepath.FromSlash(rel)) }

// The Packer example is `packer fmt`-clean and passes `packer validate
// -syntax-only` with its variables file (which needs no plugin; the full
// validate with both plugins installed is a step of the quick start).
func TestExamplePackerTemplate(t *testing.T) {
	packer := need(t, packerTool)
	dir := examplePath(templateDir)
	env := packerEnv(t, t.TempDir())

	if r := run(t, dir, env, packer, "fmt", "-check", "-diff", "."); r.code != 0 {
		t.Errorf("packer fmt -check %s: files need formatting (run packer fmt):\n%s", templateDir, r)
	}
	r := run(t, dir, env, packer, "validate", "-syntax-only", "-var-file="+varFile, ".")
	if r.code != 0 {
		t.Errorf("packer validate -syntax-only %s: %s", templateDir, r)
	}
}

// The template asks for both plugins by the sources users install them from.
func TestExamplePackerTemplateRequiresPlugins(t *testing.T) {
	body := parseHCL(t, examplePath(templateDir+"/build.pkr.hcl"))
	sources := map[string]string{}
	for _, packer := range blocks(body, "packer") {
		for _, rp := range blocks(packer.Body, "required_plugins") {
			for name, attr := range rp.Body.Attributes {
				src := exprText(t, attr.Expr, examplePath(templateDir+"/build.pkr.hcl"))
				sources[name] = src
			}
		}
	}
	for name, want := range map[string]string{
		"googlecompute": `"github.com/hashicorp/googlecompute"`,
		"tetranomad":    `"github.com/tetranomad/tetranomad"`,
	} {
		if !strings.Contains(sources[name], "source") || !strings.Contains(sources[name], want) {
			t.Errorf("required_plugins.%s = %s, want source = %s", name, sources[name], want)
		}
	}
}

// Every Terraform file parses and is canonically formatted; with terraform
// installed, `terraform fmt -check` and (when the google provider can be
// downloaded) `terraform validate` pass too.
func TestExampleTerraform(t *testing.T) {
	dir := examplePath(terraformEx)
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s (%v)", terraformEx, err)
	}
	t.Run("parse-and-format", func(t *testing.T) {
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos); diags.HasErrors() {
				t.Errorf("%s", diags)
				continue
			}
			if formatted := hclwrite.Format(src); string(formatted) != string(src) {
				t.Errorf("%s is not formatted (terraform fmt would change it)", f)
			}
		}
	})

	env := []string{"TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TF_CLI_CONFIG_FILE=" + os.DevNull}
	t.Run("terraform-fmt", func(t *testing.T) {
		tf := need(t, terraformTool)
		if r := run(t, dir, env, tf, "fmt", "-check", "-diff", "-recursive"); r.code != 0 {
			t.Errorf("terraform fmt -check %s: %s", terraformEx, r)
		}
	})

	t.Run("terraform-validate", func(t *testing.T) {
		tf := need(t, terraformTool)
		// validate needs the provider: init a copy, so the example directory
		// stays free of .terraform and the lock file.
		work := t.TempDir()
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(work, filepath.Base(f)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		env := append(env, "TF_DATA_DIR="+filepath.Join(work, ".terraform"))
		if r := run(t, work, env, tf, "init", "-backend=false", "-input=false", "-no-color"); r.code != 0 {
			out := r.stdout + r.stderr
			if strings.Contains(out, "registry.terraform.io") || strings.Contains(out, "Failed to query available provider packages") {
				t.Skip("terraform validate skipped: terraform init cannot download the hashicorp/google provider (registry.terraform.io unreachable)")
			}
			t.Fatalf("terraform init: %s", r)
		}
		if r := run(t, work, env, tf, "validate", "-no-color"); r.code != 0 {
			t.Errorf("terraform validate %s: %s", terraformEx, r)
		}
	})
}

// The GitHub Actions example reads the bundle the template writes, with the
// manifest fields and object names the plugin really uses.
func TestExampleBakeWorkflow(t *testing.T) {
	data, err := os.ReadFile(examplePath(bakeYML))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]struct {
			Defaults struct {
				Run struct {
					WorkingDirectory string `yaml:"working-directory"`
				} `yaml:"run"`
			} `yaml:"defaults"`
			Steps []struct {
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("%s: %v", bakeYML, err)
	}
	if wf.Permissions["id-token"] != "write" {
		t.Errorf("%s: permissions.id-token = %q; Workload Identity Federation needs write", bakeYML, wf.Permissions["id-token"])
	}
	job, ok := wf.Jobs["bake"]
	if !ok {
		t.Fatalf("%s: no job \"bake\"", bakeYML)
	}

	// The template writes the bundle to ${path.root}/out/bundle; the
	// workflow runs Packer in packer/, so it uploads packer/out/bundle.
	tmpl := examplePath(templateDir + "/build.pkr.hcl")
	outputDir := provisionerAttr(t, tmpl, "provisioner", "tetranomad", "output_dir")
	bundleDir := provisionerAttr(t, tmpl, "post-processor", "tetranomad-publish", "bundle_dir")
	if outputDir != bundleDir {
		t.Errorf("%s: provisioner output_dir %s and post-processor bundle_dir %s differ", tmpl, outputDir, bundleDir)
	}
	rel := strings.TrimPrefix(strings.Trim(outputDir, `"`), "${path.root}/")
	wantUpload := job.Defaults.Run.WorkingDirectory + "/" + rel

	var uploaded, summary string
	var uses []string
	for _, s := range job.Steps {
		uses = append(uses, s.Uses)
		if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
			uploaded = s.With["path"]
		}
		if strings.Contains(s.Run, "GITHUB_STEP_SUMMARY") {
			summary = s.Run
		}
	}
	if uploaded != wantUpload {
		t.Errorf("%s uploads %q, but the template writes the bundle to %q", bakeYML, uploaded, wantUpload)
	}
	for _, want := range []string{"google-github-actions/auth@", "hashicorp/setup-packer@", "actions/upload-artifact@"} {
		if !strings.Contains(strings.Join(uses, " "), want) {
			t.Errorf("%s does not use %s", bakeYML, want)
		}
	}
	if summary == "" {
		t.Fatalf("%s: no step writes $GITHUB_STEP_SUMMARY", bakeYML)
	}

	// Every manifest field the summary reads with jq exists in manifest.json.
	m := bundle.Manifest{BundleID: "id", Target: bundle.Target{Bucket: "b", Prefix: "p", Public: true, DownloadBaseURL: "https://cdn.example"}, Versions: bundle.Versions{Tetragon: "v1.7.0", Nomad: "1.10.5"}}
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"bundle_id", "target.bucket", "target.prefix", "target.public", "target.download_base_url", "versions.tetragon", "versions.nomad"} {
		if !strings.Contains(summary, "."+path) {
			t.Errorf("%s: the summary step does not read .%s (test out of date?)", bakeYML, path)
		}
		if !jsonHas(doc, path) {
			t.Errorf("%s reads .%s from manifest.json, which has no such field", bakeYML, path)
		}
	}
	// The URLs are the ones the publisher prints and the jobspec uses.
	for _, tg := range []bundle.Target{{Bucket: "$bucket"}, {Bucket: "$bucket", Public: true, DownloadBaseURL: "$base"}} {
		if u := tg.URL("$object"); !strings.Contains(summary, `url="`+u+`"`) {
			t.Errorf("%s: the summary should build url=%q for %+v (publish.URL)", bakeYML, u, tg)
		}
	}
	// The jobspec object the summary names is where the publisher puts it.
	want := bundle.ObjectName("$prefix", "$bundle_id", bundle.JobspecPath)
	if !strings.Contains(summary, `object="`+want+`"`) {
		t.Errorf("%s: the summary should compute object=%q (bundle.ObjectName)", bakeYML, want)
	}
}

func jsonHas(doc map[string]any, dotted string) bool {
	var cur any = doc
	for _, k := range strings.Split(dotted, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

func parseHCL(t *testing.T, path string) *hclsyntax.Body {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%s", diags)
	}
	return f.Body.(*hclsyntax.Body)
}

func blocks(body *hclsyntax.Body, typ string, labels ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type != typ || len(b.Labels) < len(labels) {
			continue
		}
		match := true
		for i, l := range labels {
			match = match && b.Labels[i] == l
		}
		if match {
			out = append(out, b)
		}
	}
	return out
}

func exprText(t *testing.T, e hclsyntax.Expression, file string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r := e.Range()
	return string(src[r.Start.Byte:r.End.Byte])
}

// provisionerAttr returns the source text of an attribute of a provisioner or
// post-processor block inside the template's build block.
func provisionerAttr(t *testing.T, file, kind, name, attr string) string {
	t.Helper()
	body := parseHCL(t, file)
	for _, b := range blocks(body, "build") {
		for _, p := range blocks(b.Body, kind, name) {
			if a, ok := p.Body.Attributes[attr]; ok {
				return exprText(t, a.Expr, file)
			}
		}
	}
	t.Fatalf("%s: no %s %q with %s", file, kind, name, attr)
	return ""
}

// run-latest.sh reads latest.json as the publisher writes it and hands its
// jobspec URL to nomad job plan, then nomad job run; stub gcloud and nomad
// record what they were asked.
func TestExampleNomadRunLatest(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not found: apt-get install jq")
	}
	m := bundle.Manifest{BundleID: "0123456789abcdef0123", Versions: bundle.Versions{Tetragon: "v1.7.0", Nomad: "1.10.5"}}
	target := bundle.Target{Bucket: "acme-bundles", Prefix: "prod"}
	pointer, err := publish.NewPointer(&m, target, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)).Encode()
	if err != nil {
		t.Fatal(err)
	}
	wantURL := target.URL(bundle.ObjectName(target.Prefix, m.BundleID, bundle.JobspecPath))

	stubs := t.TempDir()
	pointerFile := filepath.Join(stubs, "latest.json")
	logFile := filepath.Join(stubs, "nomad.log")
	if err := os.WriteFile(pointerFile, pointer, 0o644); err != nil {
		t.Fatal(err)
	}
	writeStub(t, stubs, "gcloud", `[ "$*" = "storage cat gs://acme-bundles/prod/latest.json" ] || { echo "gcloud stub: unexpected $*" >&2; exit 1; }
cat "`+pointerFile+`"`)
	// nomad job plan exits 1 when allocations would change.
	writeStub(t, stubs, "nomad", `echo "$*" >>"`+logFile+`"
[ "$2" = plan ] && exit 1
exit 0`)
	env := []string{"PATH=" + stubs + string(os.PathListSeparator) + os.Getenv("PATH")}
	script := examplePath("examples/nomad/run-latest.sh")

	r := run(t, repoRoot, env, script, "-y", "acme-bundles", "prod")
	if r.code != 0 {
		t.Fatalf("run-latest.sh -y: %s", r)
	}
	log, _ := os.ReadFile(logFile)
	want := "job plan " + wantURL + "\njob run " + wantURL + "\n"
	if string(log) != want {
		t.Errorf("nomad was called with:\n%s\nwant:\n%s", log, want)
	}
	if !strings.Contains(r.stdout, "bundle "+m.BundleID+": Tetragon v1.7.0") {
		t.Errorf("run-latest.sh did not name the bundle and version:\n%s", r)
	}

	// Without -y, answering no stops after the plan.
	os.Remove(logFile)
	cmd := exec.Command(script, "acme-bundles", "prod")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader("n\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run-latest.sh answering n: %v\n%s", err, out)
	}
	if log, _ := os.ReadFile(logFile); string(log) != "job plan "+wantURL+"\n" {
		t.Errorf("answering n, nomad was called with:\n%s", log)
	}
}

func writeStub(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
