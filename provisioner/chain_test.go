package provisioner

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/hostsetup/hostsetuptest"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

// The chain tests run the real thing end to end except for the VM: Prepare
// renders, Provision uploads the self-extracting script, and the recording
// communicator runs the command with bash on this machine against
// hostsetuptest's fake VM. execute_command asks for --preflight-only, since
// the later steps need root and systemd (the e2e test covers those).

const preflightOnly = "{{.Vars}} bash {{.Path}} --preflight-only"

// chain prepares a provisioner whose remote folder is a local directory and
// a fake VM whose kallsyms has every symbol the bundle's policies need.
func chain(t *testing.T, userPolicies ...string) (*Provisioner, *hostsetuptest.VM, string) {
	t.Helper()
	remote := t.TempDir()
	raw := e2eRaw(t)
	raw["remote_folder"] = remote
	raw["execute_command"] = preflightOnly
	raw["policies"] = map[string]interface{}{"library": []string{"log-file-access", "log-tcp-connect"}, "files": userPolicies}
	p := prepared(t, raw)

	vm := hostsetuptest.New(t)
	vm.Installed = []string{"docker.io"}
	var symbols []string
	for _, r := range p.bundle.Manifest.Policies {
		for _, s := range r.Symbols {
			if s == "tetranomad_e2e_no_such_function" {
				continue
			}
			symbols = append(symbols, policy.KallsymsCandidates(s, "amd64")[0])
		}
	}
	if len(symbols) == 0 {
		t.Fatal("the library policies hook no kernel function; the test would check nothing")
	}
	vm.Write(t, "proc/kallsyms", hostsetuptest.Kallsyms(symbols...))
	return p, vm, remote
}

func TestChainPreflightIntoManifest(t *testing.T) {
	p, vm, remote := chain(t)
	comm := &recordingComm{local: true, localEnv: vm.Env(t)}
	ui := &recordingUI{}
	if err := p.Provision(context.Background(), ui, comm, nil); err != nil {
		t.Fatalf("Provision: %v\nUI:\n%s", err, ui.Text())
	}
	b, err := bundle.ReadDir(p.config.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	pf := b.Build.Preflight
	if pf == nil || pf.KernelRelease != hostsetuptest.Release || pf.OS.VersionID != "12" || !pf.BTF || pf.KernelConfig.BPFKprobeOverride != "n" {
		t.Fatalf("manifest preflight: %+v", pf)
	}
	if len(pf.Policies) != len(b.Manifest.Policies) {
		t.Errorf("preflight checked %d policies, the bundle has %d", len(pf.Policies), len(b.Manifest.Policies))
	}
	for _, pol := range pf.Policies {
		if !pol.OK || !strings.HasPrefix(pol.File, "policies/") {
			t.Errorf("policy %+v", pol)
		}
	}
	if !strings.Contains(ui.Text(), "say: tetranomad: preflight passed") {
		t.Errorf("UI:\n%s", ui.Text())
	}
	assertEmpty(t, remote)
}

func TestChainMissingSymbolFailsInPreflight(t *testing.T) {
	missing := writePolicy(t, "missing-symbol.yaml", `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: e2e-missing-symbol
spec:
  kprobes:
    - call: tetranomad_e2e_no_such_function
      syscall: false
      args:
        - index: 0
          type: int
`)
	p, vm, remote := chain(t, missing)
	comm := &recordingComm{local: true, localEnv: vm.Env(t)}
	ui := &recordingUI{}
	err := p.Provision(context.Background(), ui, comm, nil)
	want := `tetranomad: step "preflight" failed on the VM (exit status 1): 1 problem(s), nothing was changed: ` +
		`policy e2e-missing-symbol (policies/missing-symbol.yaml): kernel function tetranomad_e2e_no_such_function is not in /proc/kallsyms; this kernel cannot attach it`
	if err == nil || !strings.HasPrefix(err.Error(), want+"\n") {
		t.Fatalf("error:\n%v\nwant it to start with:\n%s", err, want)
	}
	if !strings.Contains(err.Error(), "\n  error: policy e2e-missing-symbol") {
		t.Errorf("the error does not show the step's output:\n%v", err)
	}
	assertEmpty(t, remote)
}

// assertEmpty: the script removed its work directory and the provisioner
// the script and its results.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in the remote folder: %s", e.Name())
	}
}
