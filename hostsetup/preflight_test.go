package hostsetup

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/hostsetup/hostsetuptest"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

// The preflight tests run the rendered script for real (bash, awk, tar,
// gzip) against hostsetuptest's fake VM.

type fakeVM = hostsetuptest.VM

const testRelease = hostsetuptest.Release

func newFakeVM(t *testing.T) *fakeVM { return hostsetuptest.New(t) }

type preflightRun struct {
	output   string
	exitCode int
	events   []Event
	results  *bundle.Preflight
	stage    string
}

// failure is the text of the fail marker, "" when there is none.
func (r preflightRun) failure() (step, text string) {
	for _, e := range r.events {
		if e.Kind == StepFailed {
			return e.Step, e.Text
		}
	}
	return "", ""
}

func renderScript(t *testing.T, d *model.Declaration, reqs []policy.Requirements) []byte {
	t.Helper()
	return renderScriptWithBinary(t, d, reqs, "fake")
}

// renderScriptWithBinary ships binary as the uploaded nomad.
func renderScriptWithBinary(t *testing.T, d *model.Declaration, reqs []policy.Requirements, binary string) []byte {
	t.Helper()
	p, err := Render(Input{Declaration: d, Bundle: testBundle(t, d), Policies: reqs, PluginVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var streams []Stream
	if len(p.Streams) == 1 {
		streams = append(streams, Stream{Name: NomadBinaryFile, Mode: 0o755, Size: int64(len(binary)), R: strings.NewReader(binary)})
	}
	if err := p.Write(&out, streams...); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// runScript runs a self-extracting script from a staging directory, as the
// provisioner does, and reads the results file it writes.
func runScript(t *testing.T, vm *fakeVM, script []byte, env []string, args ...string) preflightRun {
	t.Helper()
	stage := t.TempDir()
	path := filepath.Join(stage, "tetranomad-test.sh")
	if err := os.WriteFile(path, script, 0o700); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(stage, "tetranomad-test.preflight.json")
	base := vm.Env(t)
	cmd := exec.Command(vm.Bash(), append([]string{path}, args...)...)
	cmd.Env = append(append(base, "TETRANOMAD_RESULTS="+results), env...)
	out, err := cmd.CombinedOutput()
	run := preflightRun{output: string(out), stage: stage}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		run.exitCode = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimRight(run.output, "\n"), "\n") {
		run.events = append(run.events, ParseLine(line))
	}
	if data, err := os.ReadFile(results); err == nil {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var pf bundle.Preflight
		if err := dec.Decode(&pf); err != nil {
			t.Fatalf("the results file is not a bundle.Preflight: %v\n%s", err, data)
		}
		run.results = &pf
	}
	return run
}

func e2eDeclaration(t *testing.T, mod func(d *model.Declaration)) *model.Declaration {
	return declaration(t, func(d *model.Declaration) {
		d.Docker.Source = "distro"
		d.Nomad.Install = "binary"
		d.Nomad.BinarySource = "/cache/nomad"
		d.Nomad.BinarySHA256 = bundle.SHA256Hex([]byte("fake"))
		d.Nomad.Base.Enabled = true
		d.Logging.Agent = "none"
		if mod != nil {
			mod(d)
		}
	})
}

var openatPolicy = policy.Requirements{Policy: "log-file-access", File: "policies/log-file-access.yaml", Symbols: []string{"security_file_permission", "sys_openat"}}

func TestPreflightPasses(t *testing.T) {
	vm := newFakeVM(t)
	vm.Installed = []string{"docker.io"}
	lsm := policy.Requirements{Policy: "lsm-exec", File: "lsm.yaml", LSMHooks: []string{"bprm_check_security"}}
	run := runScript(t, vm, renderScript(t, e2eDeclaration(t, nil), []policy.Requirements{openatPolicy, lsm}), nil, "--preflight-only")
	if run.exitCode != 0 {
		t.Fatalf("exit %d:\n%s", run.exitCode, run.output)
	}
	last := run.events[len(run.events)-1]
	if last != (Event{Kind: Done, Text: "preflight passed"}) {
		t.Errorf("last line %+v, want the done marker", last)
	}
	want := &bundle.Preflight{
		OS:                 bundle.PreflightOS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Arch:               "amd64",
		KernelRelease:      testRelease,
		BTF:                true,
		KernelConfigSource: "/boot/config-" + testRelease,
		KernelConfig:       bundle.KernelConfig{BPFLSM: "y", BPFKprobeOverride: "n", DebugInfoBTF: "y"},
		LSMs:               []string{"lockdown", "capability", "landlock", "yama", "apparmor", "bpf"},
		Policies: []bundle.PreflightPolicy{
			{Policy: "log-file-access", File: "policies/log-file-access.yaml", OK: true, Symbols: []bundle.PreflightSymbol{
				{Symbol: "security_file_permission", FoundAs: "security_file_permission"},
				{Symbol: "sys_openat", FoundAs: "__x64_sys_openat"},
			}},
			{Policy: "lsm-exec", File: "lsm.yaml", OK: true, Symbols: []bundle.PreflightSymbol{
				{Symbol: "bpf_lsm_bprm_check_security", FoundAs: "bpf_lsm_bprm_check_security"},
			}},
		},
		Errors: []string{},
	}
	if !reflect.DeepEqual(run.results, want) {
		got, _ := json.MarshalIndent(run.results, "", "  ")
		t.Errorf("results:\n%s", got)
	}
	for _, line := range []string{
		"OS: Debian GNU/Linux 12 (bookworm), amd64, kernel " + testRelease,
		"kernel config (/boot/config-" + testRelease + "): CONFIG_BPF_LSM=y CONFIG_BPF_KPROBE_OVERRIDE=n CONFIG_DEBUG_INFO_BTF=y",
		"policy log-file-access: ready",
	} {
		if !strings.Contains(run.output, line+"\n") {
			t.Errorf("output lacks %q:\n%s", line, run.output)
		}
	}
	if !strings.Contains(run.output, "nothing to install\n") {
		t.Errorf("docker.io and jq are present, yet the plan installs something:\n%s", run.output)
	}
	// The work directory is gone; only the script and its results remain.
	entries, _ := os.ReadDir(run.stage)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "tetranomad-test.preflight.json tetranomad-test.sh" {
		t.Errorf("staging directory holds %v after the run", names)
	}
}

// google-fluentd is installed only where Google publishes it, but an image
// that has it (or configure_only) is configured on any supported release.
func TestPreflightGoogleFluentdWhereItIs(t *testing.T) {
	for name, c := range map[string]struct {
		configureOnly bool
		installed     []string
	}{
		"configure_only": {configureOnly: true, installed: []string{"docker.io"}},
		"preinstalled":   {installed: []string{"docker.io", "google-fluentd"}},
	} {
		t.Run(name, func(t *testing.T) {
			vm := newFakeVM(t)
			vm.Installed = c.installed
			d := e2eDeclaration(t, func(d *model.Declaration) {
				d.Logging.Agent = model.AgentGoogleFluentd
				d.Logging.ConfigureOnly = c.configureOnly
			})
			run := runScript(t, vm, renderScript(t, d, nil), nil, "--preflight-only")
			if run.exitCode != 0 {
				t.Fatalf("exit %d:\n%s", run.exitCode, run.output)
			}
		})
	}
}

func TestPreflightSyscallPrefixOnArm64(t *testing.T) {
	vm := newFakeVM(t)
	vm.Machine = "aarch64"
	vm.Installed = []string{"docker.io"}
	vm.Write(t, "proc/kallsyms", "ffff800080010000 T __arm64_sys_openat\nffff800080020000 T security_file_permission\n")
	run := runScript(t, vm, renderScript(t, e2eDeclaration(t, nil), []policy.Requirements{openatPolicy}), nil, "--preflight-only")
	if run.exitCode != 0 {
		t.Fatalf("exit %d:\n%s", run.exitCode, run.output)
	}
	if run.results.Arch != "arm64" || run.results.Policies[0].Symbols[1] != (bundle.PreflightSymbol{Symbol: "sys_openat", FoundAs: "__arm64_sys_openat"}) {
		t.Errorf("results: arch %s, symbols %+v", run.results.Arch, run.results.Policies[0].Symbols)
	}
}

func TestPreflightKernelConfigFromProc(t *testing.T) {
	vm := newFakeVM(t)
	vm.Installed = []string{"docker.io"}
	vm.Remove(t, "boot")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("CONFIG_BPF_LSM=y\nCONFIG_BPF_KPROBE_OVERRIDE=y\nCONFIG_DEBUG_INFO_BTF=y\n"))
	zw.Close()
	vm.Write(t, "proc/config.gz", gz.String())
	override := policy.Requirements{Policy: "block-writes", File: "w.yaml", Symbols: []string{"sys_write"}, NeedsOverride: true}
	run := runScript(t, vm, renderScript(t, e2eDeclaration(t, nil), []policy.Requirements{override}), nil, "--preflight-only")
	if run.exitCode != 0 {
		t.Fatalf("an Override policy on a kernel with CONFIG_BPF_KPROBE_OVERRIDE=y failed (exit %d):\n%s", run.exitCode, run.output)
	}
	if got := run.results; got.KernelConfigSource != "/proc/config.gz" || got.KernelConfig.BPFKprobeOverride != "y" || !got.Policies[0].NeedsOverride || !got.Policies[0].OK {
		t.Errorf("results: %+v", got)
	}
}

// TestPreflightFailures: each broken VM fails the preflight step with the
// exact reason, lists it in the results, and changes nothing.
func TestPreflightFailures(t *testing.T) {
	override := policy.Requirements{Policy: "block-writes", File: "policies/block-writes.yaml", Symbols: []string{"sys_write"}, NeedsOverride: true}
	missing := policy.Requirements{Policy: "e2e-missing-symbol", File: "missing-symbol.yaml", Symbols: []string{"tetranomad_e2e_no_such_function"}}
	for _, tc := range []struct {
		name   string
		breakc func(t *testing.T, vm *fakeVM)
		decl   func(d *model.Declaration)
		reqs   []policy.Requirements
		want   []string
	}{
		{
			name: "unsupported OS",
			breakc: func(t *testing.T, vm *fakeVM) {
				vm.Write(t, "etc/os-release", "NAME=\"CentOS Stream\"\nID=\"centos\"\nVERSION_ID=\"9\"\nPRETTY_NAME=\"CentOS Stream 9\"\n")
			},
			want: []string{"unsupported OS: found CentOS Stream 9 (ID=centos VERSION_ID=9); tetranomad supports Debian 11, 12, 13 and Ubuntu 22.04, 24.04"},
		},
		{
			name: "old Ubuntu",
			breakc: func(t *testing.T, vm *fakeVM) {
				vm.Write(t, "etc/os-release", "ID=ubuntu\nVERSION_ID=\"20.04\"\nPRETTY_NAME=\"Ubuntu 20.04.6 LTS\"\n")
			},
			want: []string{"unsupported OS: found Ubuntu 20.04.6 LTS (ID=ubuntu VERSION_ID=20.04); tetranomad supports Debian 11, 12, 13 and Ubuntu 22.04, 24.04"},
		},
		{
			name:   "no os-release",
			breakc: func(t *testing.T, vm *fakeVM) { vm.Remove(t, "etc/os-release") },
			want:   []string{"unsupported OS: found no /etc/os-release (ID=? VERSION_ID=?); tetranomad supports Debian 11, 12, 13 and Ubuntu 22.04, 24.04"},
		},
		{
			name:   "architecture",
			breakc: func(t *testing.T, vm *fakeVM) { vm.Machine = "riscv64" },
			want:   []string{"unsupported architecture riscv64; tetranomad supports x86_64 (amd64) and aarch64 (arm64)"},
		},
		{
			name:   "no BTF",
			breakc: func(t *testing.T, vm *fakeVM) { vm.Remove(t, "sys/kernel/btf") },
			want:   []string{"/sys/kernel/btf/vmlinux is missing: kernel " + testRelease + " exposes no BTF, which Tetragon needs; use an image whose kernel has CONFIG_DEBUG_INFO_BTF"},
		},
		{
			name:   "no systemd",
			breakc: func(t *testing.T, vm *fakeVM) { vm.Remove(t, "run/systemd") },
			want:   []string{"systemd is not the init system (no /run/systemd/system); tetranomad manages services with systemctl"},
		},
		{
			name: "missing symbol",
			reqs: []policy.Requirements{openatPolicy, missing},
			want: []string{"policy e2e-missing-symbol (missing-symbol.yaml): kernel function tetranomad_e2e_no_such_function is not in /proc/kallsyms; this kernel cannot attach it"},
		},
		{
			name:   "missing syscall on arm64",
			breakc: func(t *testing.T, vm *fakeVM) { vm.Machine = "aarch64" },
			reqs:   []policy.Requirements{openatPolicy},
			want:   []string{"policy log-file-access (policies/log-file-access.yaml): kernel function sys_openat is not in /proc/kallsyms (looked for __arm64_sys_openat,sys_openat); this kernel cannot attach it"},
		},
		{
			name: "override without kernel support",
			reqs: []policy.Requirements{override},
			want: []string{"policy block-writes (policies/block-writes.yaml): uses the Override action, which needs CONFIG_BPF_KPROBE_OVERRIDE; kernel " + testRelease + " does not have it (/boot/config-" + testRelease + "): use Sigkill instead of Override, or an image whose kernel has it"},
		},
		{
			name:   "override without kernel config",
			breakc: func(t *testing.T, vm *fakeVM) { vm.Remove(t, "boot") },
			reqs:   []policy.Requirements{override},
			want:   []string{"policy block-writes (policies/block-writes.yaml): uses the Override action, which needs CONFIG_BPF_KPROBE_OVERRIDE, and no kernel config (/boot/config-" + testRelease + " or /proc/config.gz) confirms kernel " + testRelease + " has it: use Sigkill instead of Override, or an image that ships its kernel config"},
		},
		{
			name: "uprobe path missing",
			breakc: func(t *testing.T, vm *fakeVM) {
				vm.Write(t, "usr/bin/bash", "") // present: no finding for it
			},
			reqs: []policy.Requirements{{Policy: "uprobe-libc", File: "u.yaml", UprobePaths: []string{"/lib64/libc.so.6", "/usr/bin/bash"}}},
			want: []string{"policy uprobe-libc: uprobe path /lib64/libc.so.6 does not exist on this VM; Tetragon would refuse the policy and stop: point spec.uprobes[].path at the file this image ships"},
		},
		{
			name:   "LSM hooks without an active BPF LSM",
			breakc: func(t *testing.T, vm *fakeVM) { vm.Write(t, "sys/kernel/security/lsm", "lockdown,capability,apparmor") },
			reqs:   []policy.Requirements{{Policy: "lsm-exec", File: "lsm.yaml", LSMHooks: []string{"bprm_check_security"}}},
			want:   []string{"policy lsm-exec (lsm.yaml): uses LSM hooks, but the BPF LSM is not active (active: lockdown,capability,apparmor): add bpf to the kernel lsm= boot parameter"},
		},
		{
			name:   "google-fluentd on Debian 12",
			breakc: func(t *testing.T, vm *fakeVM) { vm.Commands = append(vm.Commands, "curl", "gpg") },
			decl:   func(d *model.Declaration) { d.Logging.Agent = "google-fluentd" },
			want:   []string{`logging.agent = "google-fluentd" cannot be installed on Debian GNU/Linux 12 (bookworm): Google publishes the legacy agent (end of support 2026-09-28) for Debian 11 only; use logging.agent = "ops-agent", or set logging.configure_only = true on an image that has google-fluentd`},
		},
		{
			name: "distro docker next to docker-ce",
			breakc: func(t *testing.T, vm *fakeVM) {
				vm.Installed = []string{"docker-ce"}
			},
			want: []string{`docker.source = "distro" but docker-ce is installed: set docker.source = "docker-ce" or "preinstalled"`},
		},
		{
			name: "preinstalled docker missing",
			decl: func(d *model.Declaration) { d.Docker.Source = "preinstalled" },
			want: []string{`docker.source = "preinstalled" but dockerd is not installed: use an image with Docker, or set docker.source = "distro" or "docker-ce"`},
		},
		{
			name:   "no curl or gpg for a repository",
			breakc: func(t *testing.T, vm *fakeVM) { vm.Installed = nil },
			decl:   func(d *model.Declaration) { d.Docker.Source = "docker-ce" },
			want:   []string{"the signing keys of the apt repositories docker are fetched with curl and checked with gpg, and this image has no curl gpg: use an image with the curl and gnupg packages"},
		},
		{
			name: "several problems at once",
			breakc: func(t *testing.T, vm *fakeVM) {
				vm.Machine = "riscv64"
				vm.Remove(t, "sys/kernel/btf")
			},
			reqs: []policy.Requirements{missing},
			want: []string{
				"unsupported architecture riscv64; tetranomad supports x86_64 (amd64) and aarch64 (arm64)",
				"/sys/kernel/btf/vmlinux is missing: kernel " + testRelease + " exposes no BTF, which Tetragon needs; use an image whose kernel has CONFIG_DEBUG_INFO_BTF",
				"policy e2e-missing-symbol (missing-symbol.yaml): kernel function tetranomad_e2e_no_such_function is not in /proc/kallsyms; this kernel cannot attach it",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := newFakeVM(t)
			vm.Installed = []string{"docker.io"}
			if tc.breakc != nil {
				tc.breakc(t, vm)
			}
			before := treeState(t, vm.Root)
			// Without --preflight-only: a failing preflight must stop the
			// whole run before any other step.
			run := runScript(t, vm, renderScript(t, e2eDeclaration(t, tc.decl), tc.reqs), nil)
			if run.exitCode != 1 {
				t.Fatalf("exit %d, want 1:\n%s", run.exitCode, run.output)
			}
			step, text := run.failure()
			wantText := fmt.Sprintf("%d problem(s), nothing was changed: %s", len(tc.want), strings.Join(tc.want, "; "))
			if step != "preflight" || text != wantText {
				t.Errorf("fail marker: step %q text %q\nwant step preflight, text %q", step, text, wantText)
			}
			for _, e := range run.events {
				if e.Kind == StepStart && e.Step != "preflight" {
					t.Errorf("step %s ran after a failed preflight", e.Step)
				}
			}
			if run.results == nil {
				t.Fatal("no results file")
			}
			if !reflect.DeepEqual(run.results.Errors, tc.want) {
				t.Errorf("results errors:\n%q\nwant:\n%q", run.results.Errors, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(run.output, "error: "+w+"\n") {
					t.Errorf("output lacks the error line for %q", w)
				}
			}
			if after := treeState(t, vm.Root); after != before {
				t.Errorf("the preflight changed the fake root:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestScriptWithoutResultsVariable(t *testing.T) {
	vm := newFakeVM(t)
	run := runScript(t, vm, renderScript(t, e2eDeclaration(t, nil), nil), []string{"TETRANOMAD_RESULTS="})
	step, text := run.failure()
	if run.exitCode != 1 || step != "setup" || text != "TETRANOMAD_RESULTS is not set: execute_command must pass {{.Vars}} to the script" {
		t.Errorf("exit %d, fail %q %q\n%s", run.exitCode, step, text, run.output)
	}
}

func TestScriptTruncatedUpload(t *testing.T) {
	vm := newFakeVM(t)
	script := renderScript(t, e2eDeclaration(t, nil), nil)
	const want = "tetranomad-test.sh do not unpack or do not match their checksums: the upload is incomplete, run the build again"
	// Cut short: gzip and tar fail.
	run := runScript(t, vm, script[:len(script)-100], nil, "--preflight-only")
	step, text := run.failure()
	if run.exitCode != 1 || step != "setup" || !strings.HasSuffix(text, want) {
		t.Errorf("exit %d, fail %q %q\n%s", run.exitCode, step, text, run.output)
	}
	// A different binary than binary_sha256 names: the archive is fine, the
	// checksum is not.
	run = runScript(t, vm, renderScriptWithBinary(t, e2eDeclaration(t, nil), nil, "fakf"), nil, "--preflight-only")
	step, text = run.failure()
	if run.exitCode != 1 || step != "setup" || !strings.HasSuffix(text, want) || !strings.Contains(run.output, "nomad/nomad: FAILED") {
		t.Errorf("corrupt binary: exit %d, fail %q %q\n%s", run.exitCode, step, text, run.output)
	}
	cut := bytes.Index(script, []byte("\n"+payloadMarker+"\n"))
	run = runScript(t, vm, script[:cut+1], nil, "--preflight-only")
	if step, text := run.failure(); run.exitCode != 1 || !strings.HasSuffix(text, "tetranomad-test.sh has no data files after it: the upload is incomplete, run the build again") {
		t.Errorf("without a payload: exit %d, fail %q %q\n%s", run.exitCode, step, text, run.output)
	}
}

// treeState lists every path under root with its size and modification
// time, to show a run changed nothing.
func treeState(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + info.Mode().String() + " " + info.ModTime().String() + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
