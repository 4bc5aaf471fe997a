package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

const exampleDeclaration = "../../examples/declaration.hcl"

func runRenderCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runRender(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRenderWritesAVerifiedBundle(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bundle")
	code, stdout, stderr := runRenderCmd("-config", exampleDeclaration, "-out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q; render reports on stderr", stdout)
	}
	b, err := bundle.ReadDir(out)
	if err != nil {
		t.Fatalf("the written bundle does not verify: %v", err)
	}
	first := strings.SplitN(stderr, "\n", 2)[0]
	if want := "bundle " + b.Manifest.BundleID + " written to " + out + " (0 warning(s))"; first != want {
		t.Errorf("first line %q, want %q", first, want)
	}
	for _, f := range b.Manifest.Files {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(f.Path) + ` +` + f.SHA256 + `$`).MatchString(stderr) {
			t.Errorf("stderr does not list %s with its sha256:\n%s", f.Path, stderr)
		}
	}
	for _, p := range []string{"nomad/tetragon.hcl", "nomad/client.hcl", bundle.JobspecPath, "policies/log-file-access.yaml", "policies/block-internet-egress.yaml", bundle.ManifestPath} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
}

func TestRenderTwiceGivesIdenticalBytes(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, out := range []string{a, b, a} { // a is rendered over an existing bundle too
		if code, _, stderr := runRenderCmd("-config", exampleDeclaration, "-out", out); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	}
	treeA, treeB := readTree(t, a), readTree(t, b)
	if len(treeA) != len(treeB) || len(treeA) < 6 {
		t.Fatalf("trees differ in size: %d and %d files", len(treeA), len(treeB))
	}
	for p, data := range treeA {
		if !bytes.Equal(data, treeB[p]) {
			t.Errorf("%s differs between two renders", p)
		}
	}
}

func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRenderBadDeclaration(t *testing.T) {
	dir := t.TempDir()
	decl := writeFile(t, filepath.Join(dir, "bad.hcl"), `docker {
  bridge_cidr = "172.17.0.1/16"
}

logging {
  forward_address = "10.0.0.5:24224"
}
`)
	out := filepath.Join(dir, "out")
	code, _, stderr := runRenderCmd("-config", decl, "-out", out)
	want := decl + `:2: docker.bridge_cidr: "172.17.0.1/16" has host bits set; did you mean "172.17.0.0/16"?` + "\n" +
		decl + `:6: logging.forward_address: "10.0.0.5:24224" is not a loopback address; the agent's forward receiver must not listen beyond the VM` + "\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1, stderr:\n%s", code, stderr, want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a bundle directory was written for a bad declaration")
	}
}

func TestRenderUnknownAttribute(t *testing.T) {
	decl := writeFile(t, filepath.Join(t.TempDir(), "typo.hcl"), "tetragon {\n  verison = \"v1.7.0\"\n}\n")
	code, _, stderr := runRenderCmd("-config", decl, "-out", filepath.Join(t.TempDir(), "out"))
	want := decl + `:2: tetragon.verison: Unsupported argument: An argument named "verison" is not expected here. Did you mean "version"?` + "\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1, stderr:\n%s", code, stderr, want)
	}
}

func TestRenderPolicyLintErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "policies", "broken.yaml"), `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "broken"
spec:
  kprobes:
  - call: "fd_install"
    bogus: 1
`)
	decl := writeFile(t, filepath.Join(dir, "d.hcl"), "policies {\n  files = [\"policies/broken.yaml\"]\n}\n")
	out := filepath.Join(dir, "out")
	code, _, stderr := runRenderCmd("-config", decl, "-out", out)
	want := filepath.Join(dir, "policies", "broken.yaml") + `:8:5: error: schema-unknown-field: unknown field "bogus" in spec.kprobes[0] (allowed: args, call, data, ignore, message, return, returnArg, returnArgAction, selectors, syscall, tags)` + "\n" +
		"render: 1 policy error(s); nothing written\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1, stderr:\n%s", code, stderr, want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a bundle directory was written despite lint errors")
	}
}

func TestRenderUsageAndIOErrors(t *testing.T) {
	dir := t.TempDir()
	missingPolicy := writeFile(t, filepath.Join(dir, "missing.hcl"), "policies {\n  files = [\"nowhere.yaml\"]\n}\n")
	aFile := writeFile(t, filepath.Join(dir, "file"), "")
	cases := []struct {
		name       string
		args       []string
		code       int
		stderrHead string
	}{
		{"no flags", nil, 2, "render: -config and -out are required, and nothing else\nUsage: packer-plugin-tetranomad render -config FILE -out DIR [-host-files HOSTDIR]\n"},
		{"no out", []string{"-config", exampleDeclaration}, 2, "render: -config and -out are required"},
		{"extra argument", []string{"-config", exampleDeclaration, "-out", dir, "more"}, 2, "render: -config and -out are required"},
		{"unknown flag", []string{"-conf", "x"}, 2, "flag provided but not defined: -conf\n"},
		{"help", []string{"-h"}, 0, "Usage: packer-plugin-tetranomad render -config FILE -out DIR [-host-files HOSTDIR]\n"},
		{"missing declaration", []string{"-config", filepath.Join(dir, "nope.hcl"), "-out", dir}, 2, "render: open " + filepath.Join(dir, "nope.hcl") + ": no such file or directory\n"},
		{"missing policy file", []string{"-config", missingPolicy, "-out", filepath.Join(dir, "o")}, 2, "render: policies.files[0]: open " + filepath.Join(dir, "nowhere.yaml") + ": no such file or directory\n"},
		{"out under a file", []string{"-config", exampleDeclaration, "-out", filepath.Join(aFile, "bundle")}, 2, "render: lstat " + filepath.Join(aFile, "bundle") + ": not a directory\n"},
	}
	for _, c := range cases {
		code, _, stderr := runRenderCmd(c.args...)
		if code != c.code || !strings.HasPrefix(stderr, c.stderrHead) {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit %d, stderr starting:\n%s", c.name, code, stderr, c.code, c.stderrHead)
		}
	}
}

func TestRenderIsRegistered(t *testing.T) {
	sc, ok := commands()["render"]
	if !ok || sc.synopsis == "" {
		t.Fatal("render is not a registered subcommand")
	}
	var buf bytes.Buffer
	usage(&buf)
	if !strings.Contains(buf.String(), "render ") {
		t.Errorf("usage does not list render:\n%s", buf.String())
	}
}

// -host-files lays out what the provisioner installs at the VM's paths,
// replaces its own earlier output and refuses any other directory.
func TestRenderHostFiles(t *testing.T) {
	tmp := t.TempDir()
	out, host := filepath.Join(tmp, "bundle"), filepath.Join(tmp, "host")
	for run := 0; run < 2; run++ {
		code, _, stderr := runRenderCmd("-config", exampleDeclaration, "-out", out, "-host-files", host)
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s", run, code, stderr)
		}
	}
	b, err := bundle.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	dropIn, err := os.ReadFile(filepath.Join(host, "etc/nomad.d/tetragon.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if want := b.Content[b.Manifest.FilesWithRole(bundle.RoleClientConfig)[0].Path]; string(dropIn) != string(want) {
		t.Error("the drop-in under -host-files is not the bundle's client config")
	}
	for p, mode := range map[string]os.FileMode{
		"etc/nomad.d/tetragon.hcl":                           0o640,
		"etc/docker/daemon.json":                             0o644,
		"etc/systemd/system/nomad.service.d/tetranomad.conf": 0o644,
		"etc/google-cloud-ops-agent/config.yaml":             0o644,
	} {
		fi, err := os.Stat(filepath.Join(host, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), mode)
		}
	}

	mine := filepath.Join(tmp, "mine")
	writeFile(t, filepath.Join(mine, "notes.txt"), "keep me")
	code, _, stderr := runRenderCmd("-config", exampleDeclaration, "-out", filepath.Join(tmp, "b2"), "-host-files", mine)
	if code != 2 || !strings.Contains(stderr, "is not empty and was not written by -host-files") {
		t.Errorf("exit %d, stderr %q; want a refusal", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(tmp, "b2")); err == nil {
		t.Error("the bundle was written although -host-files was refused")
	}
	if data, _ := os.ReadFile(filepath.Join(mine, "notes.txt")); string(data) != "keep me" {
		t.Error("the user's directory was changed")
	}
}
