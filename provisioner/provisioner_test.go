package provisioner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclparse"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

const (
	stage       = "/var/tmp/stage"
	runID       = "0123abcd"
	script      = stage + "/tetranomad-" + runID + ".sh"
	results     = stage + "/tetranomad-" + runID + ".preflight.json"
	execCommand = "chmod +x " + script + "; TETRANOMAD_RESULTS='" + results + "' sudo -E " + script
	rmCommand   = "rm -f -- '" + script + "' '" + results + "'"
	probe       = "sha256sum -- '/usr/local/bin/nomad'"
)

var fakeNomad = []byte("\x7fELF a nomad binary, for tests\n")

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// nomadBinary writes the fake nomad binary and returns its path.
func nomadBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nomad")
	if err := os.WriteFile(p, fakeNomad, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// e2eRaw is the e2e template's provisioner block as Packer hands it over.
func e2eRaw(t *testing.T) map[string]interface{} {
	return map[string]interface{}{
		"output_dir":    filepath.Join(t.TempDir(), "bundle"),
		"remote_folder": stage,
		"docker":        map[string]interface{}{"source": "distro", "bridge_cidr": "172.18.0.0/16"},
		"nomad": map[string]interface{}{
			"install": "binary", "binary_source": nomadBinary(t), "binary_sha256": sha(fakeNomad),
			"base_config": map[string]interface{}{"enabled": true, "datacenter": "e2e"},
		},
		"logging":  map[string]interface{}{"agent": "none"},
		"policies": map[string]interface{}{"library": []string{"log-file-access"}},
	}
}

func prepared(t *testing.T, raw map[string]interface{}) *Provisioner {
	t.Helper()
	p := &Provisioner{newID: func() string { return runID }}
	if err := p.Prepare(raw); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return p
}

var servedPreflight = bundle.Preflight{
	OS:                 bundle.PreflightOS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
	Arch:               "amd64",
	KernelRelease:      "6.1.0-28-cloud-amd64",
	BTF:                true,
	KernelConfigSource: "/boot/config-6.1.0-28-cloud-amd64",
	KernelConfig:       bundle.KernelConfig{BPFLSM: "y", BPFKprobeOverride: "n", DebugInfoBTF: "y"},
	LSMs:               []string{"lockdown", "capability", "bpf"},
	Policies: []bundle.PreflightPolicy{{Policy: "log-file-access", File: "policies/log-file-access.yaml", OK: true,
		Symbols: []bundle.PreflightSymbol{{Symbol: "security_file_permission", FoundAs: "security_file_permission"}}}},
	Errors: []string{},
}

const successOutput = "tetranomad 0.1.0-dev, bundle X\n" +
	"##tetranomad step preflight checking the VM before changing anything\n" +
	"OS: Debian GNU/Linux 12 (bookworm), amd64, kernel 6.1.0-28-cloud-amd64\n" +
	"##tetranomad step packages installing what is missing\n" +
	"every package is already installed\n" +
	"##tetranomad step docker Docker engine (docker.source = distro)\n" +
	"##tetranomad step logging logging agent (logging.agent = none)\n" +
	"##tetranomad step nomad Nomad client (nomad.install = binary)\n" +
	"##tetranomad done no changes\n"

func callStrings(calls []call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Op + " " + c.Command + c.Path
	}
	return out
}

func TestProvisionUploadsOnceRunsOnce(t *testing.T) {
	p := prepared(t, e2eRaw(t))
	id := p.bundle.Manifest.BundleID
	doc, _ := json.Marshal(servedPreflight)
	comm := &recordingComm{
		respond: func(cmd string) (string, int, error) {
			if cmd == execCommand {
				return successOutput, 0, nil
			}
			return "", 0, nil
		},
		files: map[string][]byte{results: doc},
	}
	ui := &recordingUI{}
	if err := p.Provision(context.Background(), ui, comm, nil); err != nil {
		t.Fatalf("Provision: %v\nUI:\n%s", err, ui.Text())
	}

	calls := comm.Calls()
	want := []string{"start " + probe, "upload " + script, "start " + execCommand, "download " + results, "start " + rmCommand}
	if got := callStrings(calls); !reflect.DeepEqual(got, want) {
		t.Fatalf("communicator calls:\n%q\nwant:\n%q", got, want)
	}

	// The one upload is the self-extracting script of this bundle.
	up := calls[1]
	if up.Mode != 0o700 {
		t.Errorf("uploaded with mode %v, want 0700", up.Mode)
	}
	head, archive, ok := bytes.Cut(up.Data, []byte("\n__TETRANOMAD_PAYLOAD__\n"))
	if !ok || !bytes.HasPrefix(head, []byte("#!/usr/bin/env bash\n# Rendered by tetranomad")) || !bytes.Contains(head, []byte("TN_BUNDLE_ID='"+id+"'")) {
		t.Fatalf("the upload is not the setup script of bundle %s:\n%.300s", id, up.Data)
	}
	payload := untar(t, archive)
	if !bytes.Equal(payload["nomad/nomad"], fakeNomad) {
		t.Errorf("the payload's nomad/nomad is not the binary_source file")
	}
	dropIn := p.bundle.Content["nomad/tetragon.hcl"]
	if len(dropIn) == 0 || !bytes.Equal(payload["nomad/config/tetragon.hcl"], dropIn) {
		t.Errorf("the payload's drop-in differs from the bundle's nomad/tetragon.hcl")
	}
	if !bytes.Contains(payload["docker/daemon.json"], []byte(`"bip": "172.18.0.1/16"`)) {
		t.Errorf("daemon.json fragment: %s", payload["docker/daemon.json"])
	}

	// Output is prefixed with the running step.
	text := ui.Text()
	for _, line := range []string{
		"say: tetranomad: [preflight] checking the VM before changing anything",
		"say: tetranomad: [preflight] OS: Debian GNU/Linux 12 (bookworm), amd64, kernel 6.1.0-28-cloud-amd64",
		"say: tetranomad: [packages] every package is already installed",
		"say: tetranomad: [nomad] Nomad client (nomad.install = binary)",
		"say: tetranomad: no changes",
		"say: tetranomad: [setup] tetranomad 0.1.0-dev, bundle X",
	} {
		if !strings.Contains(text, line+"\n") && !strings.HasSuffix(text, line) {
			t.Errorf("UI lacks %q:\n%s", line, text)
		}
	}

	// The bundle on disk verifies, keeps its id, and carries the preflight.
	b, err := bundle.ReadDir(p.config.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.BundleID != id {
		t.Errorf("bundle id %s after Provision, %s after Prepare", b.Manifest.BundleID, id)
	}
	if !reflect.DeepEqual(b.Build.Preflight, &servedPreflight) {
		t.Errorf("manifest preflight = %+v", b.Build.Preflight)
	}
}

// TestProvisionSkipsInstalledBinary: when the VM already has the binary
// (a re-run), the upload leaves it out and the script checks the one in place.
func TestProvisionSkipsInstalledBinary(t *testing.T) {
	p := prepared(t, e2eRaw(t))
	doc, _ := json.Marshal(servedPreflight)
	comm := &recordingComm{files: map[string][]byte{results: doc}}
	comm.respond = func(cmd string) (string, int, error) {
		switch cmd {
		case probe:
			return sha(fakeNomad) + "  /usr/local/bin/nomad\n", 0, nil
		case execCommand:
			return successOutput, 0, nil
		}
		return "", 0, nil
	}
	ui := &recordingUI{}
	if err := p.Provision(context.Background(), ui, comm, nil); err != nil {
		t.Fatal(err)
	}
	calls := comm.Calls()
	head, archive, _ := bytes.Cut(calls[1].Data, []byte("\n__TETRANOMAD_PAYLOAD__\n"))
	if _, shipped := untar(t, archive)["nomad/nomad"]; shipped || !bytes.Contains(head, []byte("TN_NOMAD_SHIPPED='0'")) {
		t.Errorf("the binary was shipped although the VM has it")
	}
	if want := "say: tetranomad: /usr/local/bin/nomad on the VM already has sha256 " + sha(fakeNomad) + "; not uploading it again"; !strings.Contains(ui.Text(), want) {
		t.Errorf("UI lacks %q:\n%s", want, ui.Text())
	}

	// Another binary there: shipped.
	comm = &recordingComm{files: map[string][]byte{results: doc}}
	comm.respond = func(cmd string) (string, int, error) {
		switch cmd {
		case probe:
			return strings.Repeat("1", 64) + "  /usr/local/bin/nomad\n", 0, nil
		case execCommand:
			return successOutput, 0, nil
		}
		return "", 0, nil
	}
	if err := p.Provision(context.Background(), &recordingUI{}, comm, nil); err != nil {
		t.Fatal(err)
	}
	_, archive, _ = bytes.Cut(comm.Calls()[1].Data, []byte("\n__TETRANOMAD_PAYLOAD__\n"))
	if !bytes.Equal(untar(t, archive)["nomad/nomad"], fakeNomad) {
		t.Errorf("a different nomad on the VM, and the binary was not shipped")
	}
}

func untar(t *testing.T, archive []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name], _ = io.ReadAll(tr)
	}
}

// TestProvisionFailures: every way the remote run can go wrong gives an
// error naming what failed, and the staging files are removed regardless.
func TestProvisionFailures(t *testing.T) {
	dockerFails := "##tetranomad step preflight checking\n" +
		"OS: Debian\n" +
		"##tetranomad step docker Docker engine (docker.source = distro)\n" +
		"created /etc/docker\n" +
		"jq: error (at /etc/docker/daemon.json:3): Cannot index string\n" +
		"##tetranomad fail docker /etc/docker/daemon.json is not a JSON object; tetranomad merges its settings into it: fix or remove it\n"
	for _, tc := range []struct {
		name      string
		stdout    string
		exit      int
		startErr  error
		uploadErr error
		cancel    bool
		wantErr   string
		wantCalls []string
	}{
		{
			name:    "failing step",
			stdout:  dockerFails,
			exit:    1,
			wantErr: `tetranomad: step "docker" failed on the VM (exit status 1): /etc/docker/daemon.json is not a JSON object; tetranomad merges its settings into it: fix or remove it` + "\n  created /etc/docker\n  jq: error (at /etc/docker/daemon.json:3): Cannot index string",
		},
		{
			name:    "exit status without a fail marker",
			stdout:  "##tetranomad step nomad Nomad client\nSegmentation fault\n",
			exit:    139,
			wantErr: `tetranomad: step "nomad" failed on the VM (exit status 139)` + "\n  Segmentation fault",
		},
		{
			name:    "sudo refuses",
			stdout:  "sudo: a terminal is required to read the password\n",
			exit:    1,
			wantErr: `tetranomad: the setup script did not start (exit status 1); check execute_command "` + execCommand + `" and that the SSH user may sudo` + "\n  sudo: a terminal is required to read the password",
		},
		{
			name:    "connection dropped",
			stdout:  "##tetranomad step packages installing what is missing\napt-get update\n",
			exit:    packersdk.CmdDisconnect,
			wantErr: `tetranomad: the connection to the VM dropped during step "packages" (the command ended without an exit status); the VM may be partly configured: run the build again, the script is idempotent` + "\n  apt-get update",
		},
		{
			name:    "ended without finishing",
			stdout:  "##tetranomad step nomad Nomad client\nwrote /etc/nomad.d/tetragon.hcl\n",
			exit:    0,
			wantErr: `tetranomad: the setup script stopped during step "nomad" without finishing (lost connection?); run the build again, the script is idempotent` + "\n  wrote /etc/nomad.d/tetragon.hcl",
		},
		{
			name:     "communicator cannot start the command",
			startErr: errors.New("ssh: unexpected packet in response to channel open: <nil>"),
			wantErr:  "tetranomad: could not start the setup script on the VM: ssh: unexpected packet in response to channel open: <nil>",
		},
		{
			name:      "upload fails",
			uploadErr: errors.New("scp: /var/tmp/stage/tetranomad-0123abcd.sh: No such file or directory"),
			wantErr:   "tetranomad: uploading the setup script to " + script + ": scp: /var/tmp/stage/tetranomad-0123abcd.sh: No such file or directory (is remote_folder an existing, writable directory?)",
			wantCalls: []string{"start " + probe, "upload " + script, "start " + rmCommand},
		},
		{
			name:    "build cancelled",
			stdout:  "##tetranomad step packages installing what is missing\n",
			exit:    -1, // never exits
			cancel:  true,
			wantErr: `tetranomad: cancelled while step "packages" ran on the VM: context canceled`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := prepared(t, e2eRaw(t))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			comm := &recordingComm{uploadErr: tc.uploadErr}
			ui := &recordingUI{}
			comm.respond = func(cmd string) (string, int, error) {
				if cmd != execCommand {
					return "", 0, nil
				}
				if tc.cancel {
					go func() {
						// Cancel once the running step is on screen.
						for !strings.Contains(ui.Text(), "[packages]") {
							time.Sleep(time.Millisecond)
						}
						cancel()
					}()
				}
				return tc.stdout, tc.exit, tc.startErr
			}
			err := p.Provision(ctx, ui, comm, nil)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tc.wantErr)
			}
			want := tc.wantCalls
			if want == nil {
				want = []string{"start " + probe, "upload " + script, "start " + execCommand, "start " + rmCommand}
			}
			if got := callStrings(comm.Calls()); !reflect.DeepEqual(got, want) {
				t.Errorf("communicator calls:\n%q\nwant:\n%q", got, want)
			}
			// The bundle is written before the VM is touched; without a
			// finished run it carries no preflight.
			b, err := bundle.ReadDir(p.config.OutputDir)
			if err != nil {
				t.Fatal(err)
			}
			if b.Build.Preflight != nil {
				t.Error("a failed run wrote preflight results into the manifest")
			}
		})
	}
}

func TestProvisionReportsCleanupFailure(t *testing.T) {
	p := prepared(t, e2eRaw(t))
	doc, _ := json.Marshal(servedPreflight)
	comm := &recordingComm{files: map[string][]byte{results: doc}}
	comm.respond = func(cmd string) (string, int, error) {
		if cmd == execCommand {
			return successOutput, 0, nil
		}
		return "rm: cannot remove '" + results + "': Operation not permitted\n", 1, nil
	}
	ui := &recordingUI{}
	if err := p.Provision(context.Background(), ui, comm, nil); err != nil {
		t.Fatalf("a failed cleanup failed the build: %v", err)
	}
	want := "error: tetranomad: removing " + script + " " + results + " from the VM exited 1: rm: cannot remove '" + results + "': Operation not permitted"
	if !strings.Contains(ui.Text(), want) {
		t.Errorf("UI lacks %q:\n%s", want, ui.Text())
	}
}

func TestProvisionPrintsLintWarnings(t *testing.T) {
	raw := e2eRaw(t)
	raw["policies"] = map[string]interface{}{"library": []string{}, "files": []string{writePolicy(t, "unknown-option.yaml", warningPolicy)}}
	p := prepared(t, raw)
	var warnings []string
	for _, f := range p.report.Findings {
		if f.Severity == policy.SeverityWarning {
			warnings = append(warnings, "say: tetranomad: policy warning: "+f.String())
		}
	}
	if len(warnings) == 0 {
		t.Fatalf("the test policy raises no warning: %+v", p.report.Findings)
	}
	doc, _ := json.Marshal(servedPreflight)
	comm := &recordingComm{files: map[string][]byte{results: doc}, respond: func(string) (string, int, error) { return successOutput, 0, nil }}
	ui := &recordingUI{}
	if err := p.Provision(context.Background(), ui, comm, nil); err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		if !strings.Contains(ui.Text(), w) {
			t.Errorf("UI lacks %q:\n%s", w, ui.Text())
		}
	}
}

// An option Tetragon does not know is ignored: a warning, not an error.
const warningPolicy = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: with-unknown-option
spec:
  options:
    - name: made-up-option
      value: "1"
  kprobes:
    - call: tcp_connect
      syscall: false
      args:
        - index: 0
          type: sock
`

func writePolicy(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigSpecDecodesTemplateBlock decodes the block the e2e template
// writes through the provisioner's HCL2 spec, as Packer does, and prepares
// it: the attribute names are the model's.
func TestConfigSpecDecodesTemplateBlock(t *testing.T) {
	bin := nomadBinary(t)
	src := `
output_dir    = "` + filepath.Join(t.TempDir(), "out") + `"
remote_folder = "/var/tmp"
execute_command = "sudo env {{.Vars}} bash {{.Path}}"

docker {
  source       = "distro"
  bridge_cidr  = "172.18.0.0/16"
  log_max_size = "20m"
  log_max_file = 4
  live_restore = true
}

nomad {
  install       = "binary"
  binary_source = "` + bin + `"
  binary_sha256 = "` + sha(fakeNomad) + `"
  base_config {
    enabled        = true
    datacenter     = "e2e"
    bind_interface = "ens4"
  }
}

logging {
  agent          = "ops-agent"
  configure_only = true
}

policies {
  library = ["log-file-access"]
  files   = []
}
`
	f, diags := hclparse.NewParser().ParseHCL([]byte(src), "provisioner.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := &Provisioner{}
	val, diags := hcldec.Decode(f.Body, p.ConfigSpec(), &hcl.EvalContext{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := p.Prepare(val); err != nil {
		t.Fatal(err)
	}
	c := p.config
	if c.Docker.LogMaxFile != 4 || c.Docker.BridgeCIDR != "172.18.0.0/16" || c.Nomad.Base.BindInterface != "ens4" ||
		!c.Logging.ConfigureOnly || c.Logging.Agent != "ops-agent" || c.RemoteFolder != "/var/tmp" ||
		c.ExecuteCommand != "sudo env {{.Vars}} bash {{.Path}}" {
		t.Errorf("decoded config: %+v", c)
	}
	if c.Tetragon.Version != "v1.7.0" || c.Nomad.ConfigDir != "/etc/nomad.d" {
		t.Errorf("model defaults not applied: %+v", c.Declaration)
	}
}

func TestPrepareDefaults(t *testing.T) {
	raw := e2eRaw(t)
	delete(raw, "output_dir")
	delete(raw, "remote_folder")
	p := prepared(t, raw)
	if p.config.OutputDir != DefaultOutputDir || p.config.RemoteFolder != "/tmp" || p.config.ExecuteCommand != "chmod +x {{.Path}}; {{.Vars}} sudo -E {{.Path}}" {
		t.Errorf("defaults: output_dir %q remote_folder %q execute_command %q", p.config.OutputDir, p.config.RemoteFolder, p.config.ExecuteCommand)
	}
}

func TestPrepareErrors(t *testing.T) {
	missingPolicy := filepath.Join(t.TempDir(), "missing.yaml")
	badPolicy := `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bad
spec:
  kprobes:
    - call: tcp_connect
      syscall: false
      bogus: true
`
	for _, tc := range []struct {
		name string
		mod  func(t *testing.T, raw map[string]interface{})
		want []string
	}{
		{
			name: "declaration problems name their attributes",
			mod: func(t *testing.T, raw map[string]interface{}) {
				raw["docker"] = map[string]interface{}{"source": "podman", "bridge_cidr": "172.17.0.1/16"}
				raw["logging"] = map[string]interface{}{"agent": "none", "configure_only": true}
			},
			want: []string{
				`docker.source: "podman" is not one of "docker-ce", "distro", "preinstalled"`,
				`docker.bridge_cidr: "172.17.0.1/16" has host bits set; did you mean "172.17.0.0/16"?`,
				`logging.configure_only: has nothing to configure when logging.agent is "none"`,
			},
		},
		{
			name: "binary install without a binary",
			mod: func(t *testing.T, raw map[string]interface{}) {
				raw["nomad"] = map[string]interface{}{"install": "binary"}
			},
			want: []string{
				`nomad.binary_source: required when nomad.install is "binary": the local path of a nomad binary`,
				`nomad.binary_sha256: required when nomad.install is "binary", so a wrong binary is never installed`,
			},
		},
		{
			name: "binary missing",
			mod: func(t *testing.T, raw map[string]interface{}) {
				raw["nomad"].(map[string]interface{})["binary_source"] = "/nonexistent/nomad"
			},
			want: []string{"nomad.binary_source: open /nonexistent/nomad: no such file or directory"},
		},
		{
			name: "binary checksum mismatch",
			mod: func(t *testing.T, raw map[string]interface{}) {
				raw["nomad"].(map[string]interface{})["binary_sha256"] = strings.Repeat("0", 64)
			},
			want: []string{"nomad.binary_sha256: BIN has sha256 " + sha(fakeNomad) + ", not " + strings.Repeat("0", 64) + `; if it is the binary you mean, set binary_sha256 = "` + sha(fakeNomad) + `"`},
		},
		{
			name: "remote_folder",
			mod: func(t *testing.T, raw map[string]interface{}) {
				raw["remote_folder"] = "tmp/my dir"
			},
			want: []string{`remote_folder: "tmp/my dir" must be an absolute, clean path of letters, digits and . _ - /`},
		},
		{
			name: "execute_command without the script",
			mod: func(t *testing.T, raw map[string]interface{}) {
				raw["execute_command"] = "sudo true {{.Vars}}"
			},
			want: []string{`execute_command: "sudo true {{.Vars}}" never runs the script: use {{.Path}}`},
		},
		{
			name: "execute_command without the variables",
			mod: func(t *testing.T, raw map[string]interface{}) {
				raw["execute_command"] = "sudo bash {{.Path}}"
			},
			want: []string{`execute_command: "sudo bash {{.Path}}" does not pass {{.Vars}}, which the script needs`},
		},
		{
			name: "policy file missing",
			mod: func(t *testing.T, raw map[string]interface{}) {
				raw["policies"] = map[string]interface{}{"files": []string{missingPolicy}}
			},
			want: []string{"policies.files[0]: open " + missingPolicy + ": no such file or directory"},
		},
		{
			name: "policy lint error",
			mod: func(t *testing.T, raw map[string]interface{}) {
				raw["policies"] = map[string]interface{}{"library": []string{}, "files": []string{writePolicy(t, "bad.yaml", badPolicy)}}
			},
			want: []string{"LINT"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := e2eRaw(t)
			tc.mod(t, raw)
			p := &Provisioner{}
			err := p.Prepare(raw)
			var multi *packersdk.MultiError
			if !errors.As(err, &multi) {
				t.Fatalf("Prepare: %v, want a *packersdk.MultiError", err)
			}
			var got []string
			for _, e := range multi.Errors {
				got = append(got, e.Error())
			}
			want := tc.want
			if len(want) == 1 && want[0] == "LINT" {
				// The linter's own wording is its tests' business; here:
				// one error per finding, naming file, line and rule.
				if len(got) != 1 || !strings.Contains(got[0], "bad.yaml:9:") || !strings.Contains(got[0], ": error: ") {
					t.Errorf("lint errors: %q", got)
				}
				return
			}
			if bin, ok := raw["nomad"].(map[string]interface{})["binary_source"].(string); ok {
				for i := range want {
					want[i] = strings.ReplaceAll(want[i], "BIN", bin)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n%q\nwant:\n%q", got, want)
			}
		})
	}
}

// TestProvisionRefusesAForeignOutputDir: issue 11 item 1, output_dir
// deleted whatever it named. Now a directory that is not a bundle is
// refused before the VM is touched, and left exactly as it was.
func TestProvisionRefusesAForeignOutputDir(t *testing.T) {
	raw := e2eRaw(t)
	proj := filepath.Join(t.TempDir(), "proj")
	raw["output_dir"] = proj
	p := prepared(t, raw)
	if err := os.MkdirAll(filepath.Join(proj, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "build.pkr.hcl"), []byte("source {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(proj)
	comm := &recordingComm{respond: func(string) (string, int, error) { return "", 0, nil }}
	err := p.Provision(context.Background(), &recordingUI{}, comm, nil)
	if err == nil || !strings.Contains(err.Error(), "output_dir "+proj) || !strings.Contains(err.Error(), "is not empty and holds no tetranomad bundle") {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.ReadDir(proj)
	if len(before) != 2 || len(after) != 2 {
		t.Errorf("output_dir had %v, now %v", before, after)
	}
	if data, err := os.ReadFile(filepath.Join(proj, "build.pkr.hcl")); err != nil || string(data) != "source {}\n" {
		t.Errorf("the user's file changed: %q, %v", data, err)
	}
	if calls := comm.Calls(); len(calls) != 0 {
		t.Errorf("the VM was touched: %q", callStrings(calls))
	}
}

// TestPrepareChecksNumbersExactly: issue 11 item 9 in a Packer template.
// The SDK's decoder reported cpu = 1.5 as "[{{} tetragon} {{} cpu}]" and
// wrapped huge values; now each is "attribute: problem".
func TestPrepareChecksNumbersExactly(t *testing.T) {
	src := "tetragon {\n  cpu       = 1.5\n  memory_mb = 9223372036854775807\n}\n"
	f, diags := hclparse.NewParser().ParseHCL([]byte(src), "provisioner.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := &Provisioner{}
	val, diags := hcldec.Decode(f.Body, p.ConfigSpec(), &hcl.EvalContext{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	err := p.Prepare(val)
	for _, want := range []string{"tetragon.cpu: 1.5 is not a whole number", "tetragon.memory_mb: 9223372036854775807 is out of range (at most 2147483647)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Prepare: %v; want it to say %q", err, want)
		}
	}
}
