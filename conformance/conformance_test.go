package conformance

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the fake agent and as the case helper.
func TestMain(m *testing.M) {
	switch os.Getenv("TN_TEST_ROLE") {
	case "agent":
		os.Exit(fakeAgent(os.Args[1:]))
	case "":
	default:
		if len(os.Args) > 1 && os.Args[1] == "helper" {
			os.Exit(Helper(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}

// fakeAgent stands in for tetragon: it records its flags, then either
// refuses (as v1.7.0 does on a bad policy: the error, exit 255) or logs the
// ready line and waits for SIGTERM.
func fakeAgent(args []string) int {
	if err := os.WriteFile(os.Getenv("TN_ARGS_OUT"), []byte(strings.Join(args, "\n")), 0o644); err != nil {
		return 3
	}
	if os.Getenv("TN_AGENT_MODE") == "refuse" {
		fmt.Fprintln(os.Stderr, `time=2026-11-30T18:00:00Z level=FATAL msg="Failed to start tetragon" error="ReturnArgAction type 'Post' unsupported; omit returnArgAction or use 'TrackSock'/'UntrackSock'"`)
		return 255
	}
	fmt.Fprintln(os.Stderr, `time=2026-11-30T18:00:00Z level=INFO msg="Listening for events..."`)
	time.Sleep(time.Minute)
	return 0
}

// fakeRelease builds a tarball in the official layout whose agent is this
// test binary.
func fakeRelease(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tetragon-v1.7.0-amd64.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	add := func(name string, mode int64, body string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	root := "tetragon-v1.7.0-amd64/"
	add(root+"usr/local/bin/tetragon", 0o755, "#!/bin/sh\nTN_TEST_ROLE=agent exec "+self+" \"$@\"\n")
	add(root+"usr/local/lib/tetragon/bpf/bpf_generic_kprobe_v61.o", 0o644, "not really BPF")
	tw.Close()
	zw.Close()
	f.Close()
	return p
}

// goldenBundle is a bundle the renderer wrote (render's golden test output).
const goldenBundle = "../render/testdata/golden/default"

func hostScenario(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	os.WriteFile(p, []byte(`policy: log-tcp-connect
cases:
- name: loopback connect is not logged
  in: host
  do: connect tcp4 127.0.0.1:9
  expect: allowed
  event: none
- name: internet connect is logged
  in: host
  do: connect tcp4 127.0.0.1:10
  expect: allowed
  event: tcp_connect
- name: a connect is killed
  in: host
  do: connect tcp4 127.0.0.1:11
  expect: killed
`), 0o644)
	return p
}

func TestRunWithFakeAgent(t *testing.T) {
	work := t.TempDir()
	argsOut := filepath.Join(work, "agent-args")
	t.Setenv("TN_ARGS_OUT", argsOut)
	self, _ := os.Executable()
	res, err := Run(context.Background(), Config{
		Release: fakeRelease(t), Bundle: goldenBundle, Scenarios: []string{hostScenario(t)},
		Work: work, Helper: []string{"env", "TN_TEST_ROLE=helper", self, "helper"},
		AgentTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The agent got the jobspec's flags, in order, with paths mapped.
	b, _ := os.ReadFile(argsOut)
	src, _ := os.ReadFile(filepath.Join(goldenBundle, "jobs", "tetragon.nomad.hcl"))
	jobArgs, err := JobspecArgs("job", src)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(string(b), "\n")
	if len(got) != len(jobArgs)+1 {
		t.Fatalf("agent args %q, jobspec args %q", got, jobArgs)
	}
	for i, a := range jobArgs {
		name, _, _ := strings.Cut(a, "=")
		if _, mapped := pathFlags[name]; !mapped && got[i] != a {
			t.Errorf("arg %d = %q, jobspec has %q", i, got[i], a)
		}
	}
	if got[len(got)-1] != "--bpf-lib="+filepath.Join(work, "release", "tetragon-v1.7.0-amd64", bpfLibRel)+"/" {
		t.Errorf("last arg %q, want the release's --bpf-lib", got[len(got)-1])
	}
	staged, _ := os.ReadDir(filepath.Join(work, "policies"))
	if len(staged) == 0 {
		t.Error("the policy directory was not staged")
	}
	// The fake agent kills nothing and exports nothing: only the first case passes.
	var pass []bool
	for _, c := range res.Cases {
		pass = append(pass, c.Pass())
	}
	if !reflect.DeepEqual(pass, []bool{true, false, false}) {
		t.Fatalf("pass = %v: %+v", pass, res.Cases)
	}
	if res.Failed() != 2 || len(res.Untested) == 0 {
		t.Fatalf("failed %d, untested %v", res.Failed(), res.Untested)
	}
	var out strings.Builder
	Report(&out, res)
	for _, want := range []string{"PASS  log-tcp-connect: loopback connect", "event tcp_connect: MISSING", "expect killed, got allowed", "NOTE  log-file-access: no scenarios", "3 cases, 2 failed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunAgentRefusesPolicy(t *testing.T) {
	work := t.TempDir()
	t.Setenv("TN_ARGS_OUT", filepath.Join(work, "agent-args"))
	t.Setenv("TN_AGENT_MODE", "refuse")
	_, err := Run(context.Background(), Config{
		Release: fakeRelease(t), Bundle: goldenBundle, Scenarios: []string{hostScenario(t)},
		Work: work, Helper: []string{"true"}, AgentTimeout: 30 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "ReturnArgAction type 'Post' unsupported") {
		t.Fatalf("err = %v; want the agent's reason", err)
	}
}

// A case whose file does not exist ran no hook: it is an error, not "allowed"
// (found under qemu, where an initramfs without /etc/shadow made the
// block-fd-install case look allowed).
func TestHelperMissingFileIsAnError(t *testing.T) {
	self, _ := os.Executable()
	for _, tc := range []struct {
		path     string
		wantExit int
	}{
		{filepath.Join(t.TempDir(), "missing"), 2},
		{self, 0},
	} {
		cmd := exec.Command(self, "helper", "open", tc.path)
		cmd.Env = append(os.Environ(), "TN_TEST_ROLE=helper")
		cmd.Stdin = strings.NewReader("go\n")
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.wantExit {
			t.Errorf("helper open %s: exit %d, want %d: %s", tc.path, code, tc.wantExit, out)
		}
		if tc.wantExit == 2 && !strings.Contains(string(out), "the case needs the file to exist") {
			t.Errorf("helper open %s: %s", tc.path, out)
		}
	}
}
