// Package conformance_test boots scripts/conformance-qemu: the conformance
// runner inside a qemu VM on Debian 12's cloud kernel, for hosts without
// kprobes. Its agent is a stand-in (no Tetragon release is served here), so
// this checks the VM plumbing: the kernel package, the initramfs, the
// container cases' bridge and veths inside the VM, the report on the console,
// the work directory copied back and the exit status. The real agent's run is
// in the closing note of issue 12 and the conformance workflow.
package conformance_test

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// required: .ci/run sets it, so a missing tool fails there instead of skipping.
func required() bool { return os.Getenv("TETRANOMAD_QEMU_REQUIRED") == "1" }

func need(t *testing.T, ok bool, msg string) {
	t.Helper()
	if ok {
		return
	}
	if required() {
		t.Fatal(msg)
	}
	t.Skip(msg + " (TETRANOMAD_QEMU_REQUIRED=1 makes this an error)")
}

func TestRunnerInQemu(t *testing.T) {
	_, err := exec.LookPath("qemu-system-x86_64")
	need(t, err == nil, "qemu-system-x86_64 not found: apt-get install qemu-system-x86")
	bb, err := exec.LookPath("busybox")
	need(t, err == nil && exec.Command("ldd", bb).Run() != nil, "no static busybox: apt-get install busybox-static")
	out, _ := exec.Command("apt-cache", "depends", "linux-image-cloud-amd64").Output()
	need(t, strings.Contains(string(out), "Depends: linux-image-"), "apt-cache cannot resolve linux-image-cloud-amd64: not Debian 12 with its sources")

	dir := t.TempDir()
	plugin := filepath.Join(dir, "packer-plugin-tetranomad")
	build := exec.Command("go", "build", "-o", plugin, "./cmd/packer-plugin-tetranomad")
	// Default build flags, so the build cache of the other tests serves it;
	// the script copies the libraries a dynamic binary loads into the VM.
	build.Dir = "../.."
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	scenarios := filepath.Join(dir, "scenarios.yaml")
	os.WriteFile(scenarios, []byte(`policy: log-tcp-connect
cases:
- name: a container connect to its gateway is allowed
  in: container
  do: connect tcp4 172.17.0.1:9
  expect: allowed
  event: none
- name: a host connect is allowed
  in: host
  do: connect tcp4 127.0.0.1:9
  expect: allowed
  event: none
- name: a host connect is killed
  in: host
  do: connect tcp4 127.0.0.1:10
  expect: killed
`), 0o644)

	outDir := filepath.Join(dir, "out")
	cmd := exec.Command("../../scripts/conformance-qemu",
		"-release", fakeRelease(t, dir),
		"-bundle", "../../render/testdata/golden/default",
		"-scenarios", scenarios,
		"-plugin", plugin,
		"-out", outDir,
		"-timeout", "15m",
		"-library-scenarios=false", "-agent-timeout", "2m")
	report, err := cmd.CombinedOutput()
	t.Logf("scripts/conformance-qemu:\n%s", report)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("want exit status 1 (one case fails), got %v:\n%s", err, report)
	}
	for _, want := range []string{
		"=== vm: kernel ",
		"PASS  log-tcp-connect: a container connect to its gateway is allowed",
		"PASS  log-tcp-connect: a host connect is allowed",
		"FAIL  log-tcp-connect: a host connect is killed (expect killed, got allowed",
		"3 cases, 1 failed",
		"agent log and export file: " + filepath.Join(outDir, "work"),
	} {
		if !strings.Contains(string(report), want) {
			t.Errorf("output lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(string(report), "=== work begin") {
		t.Error("the base64 work directory was printed to the terminal")
	}
	// The work directory came back: the agent's log, with the flags the
	// runner gave it from the jobspec.
	agentLog, err := os.ReadFile(filepath.Join(outDir, "work", "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Listening for events...", "--tracing-policy-dir="} {
		if !strings.Contains(string(agentLog), want) {
			t.Errorf("agent.log lacks %q:\n%s", want, agentLog)
		}
	}
	if _, err := os.Stat(filepath.Join(outDir, "console.log")); err != nil {
		t.Error(err)
	}
}

// fakeRelease is a tarball in the official layout whose agent is a shell
// script: it logs its flags and the line the runner waits for (Tetragon
// v1.7.0 logs `Listening for events...` once its sensors are loaded,
// cilium/tetragon@v1.7.0 pkg/observer/observer_linux.go) and runs until the runner stops it.
func fakeRelease(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "tetragon-v1.7.0-amd64.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, file := range []struct {
		name string
		mode int64
		body string
	}{
		{"tetragon-v1.7.0-amd64/usr/local/bin/tetragon", 0o755, "#!/bin/sh\necho \"fake agent: $*\"\necho 'level=INFO msg=\"Listening for events...\"'\nexec sleep 3600\n"},
		{"tetragon-v1.7.0-amd64/usr/local/lib/tetragon/bpf/bpf_generic_kprobe_v61.o", 0o644, "not BPF"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: file.name, Mode: file.mode, Size: int64(len(file.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(file.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
