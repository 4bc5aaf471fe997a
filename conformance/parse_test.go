package conformance

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/policy/library"
)

// TestLibraryScenarios: every library policy has scenarios that parse, name
// it, and include both a case it must act on and one it must allow.
func TestLibraryScenarios(t *testing.T) {
	for _, name := range library.Names() {
		b, err := library.Scenario(name)
		if err != nil {
			t.Fatalf("%s has no scenarios: %v", name, err)
		}
		s, err := ParseScenario(name+".yaml", b)
		if err != nil {
			t.Fatal(err)
		}
		if s.Policy != name {
			t.Errorf("%s: scenarios are for %q", name, s.Policy)
		}
		acts, allows := 0, 0
		for _, c := range s.Cases {
			if c.Expect == ExpectKilled || (c.Event != "" && c.Event != EventNone) {
				acts++
			}
			if c.Expect == ExpectAllowed {
				allows++
			}
		}
		if acts == 0 || allows == 0 {
			t.Errorf("%s: %d cases it acts on, %d it allows; want both", name, acts, allows)
		}
	}
	// The case: IPv4 over an AF_INET6 socket from a container.
	b, _ := library.Scenario("block-internet-egress")
	if !strings.Contains(string(b), "do: connect tcp6 [::ffff:8.8.8.8]:53\n  expect: killed") {
		t.Error("block-internet-egress lost its AF_INET6 v4-mapped kill case")
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"cases: []", "policy is missing"},
		{"policy: p", "no cases"},
		{"policy: p\ncases:\n- {name: a, in: pod, do: open /x, expect: killed}", `in "pod": want container or host`},
		{"policy: p\ncases:\n- {name: a, in: host, do: open /x, expect: blocked}", `expect "blocked"`},
		{"policy: p\ncases:\n- {name: a, in: host, do: open /x, expect: killed, event: none}", "a killed case always has an event"},
		{"policy: p\ncases:\n- {name: a, in: host, do: open /x, expect: killed}\n- {name: a, in: host, do: open /x, expect: killed}", `name "a" is used twice`},
		{"policy: p\ncases:\n- {name: a, in: host, do: ping 1.1.1.1, expect: killed}", `do "ping 1.1.1.1"`},
		{"policy: p\ncases:\n- {name: a, in: host, do: \"connect tcp4 [::1]:80\", expect: killed}", "tcp4 needs an IPv4 address"},
		{"policy: p\ncases:\n- {name: a, in: host, do: connect tcp6 8.8.8.8:53, expect: killed}", "tcp6 needs an IPv6 address"},
		{"policy: p\ncases:\n- {name: a, in: host, do: open /x, expect: killed, extra: 1}", "field extra not found"},
	} {
		_, err := ParseScenario("s.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "s.yaml") {
			t.Errorf("%q: err = %v, want it to name the file and contain %q", tc.src, err, tc.want)
		}
	}
}

func TestActionRoundTrip(t *testing.T) {
	for _, s := range []string{"connect tcp4 8.8.8.8:53", "connect tcp6 [::ffff:8.8.8.8]:53", "open /etc/shadow", "write /tmp/x", "exec apt-get"} {
		a, err := ParseAction(s)
		if err != nil || a.String() != s {
			t.Errorf("ParseAction(%q) = %+v, %v; String() = %q", s, a, err, a.String())
		}
	}
}

func TestAgentArgs(t *testing.T) {
	h := HostPaths{PolicyDir: "/w/p", ExportFile: "/w/e/t.log", BTF: "/sys/kernel/btf/vmlinux", BPFLib: "/r/bpf/"}
	got, err := AgentArgs([]string{"--btf=/var/lib/tetragon/btf", "--export-filename", "/var/log/tetragon/t.log", "--tracing-policy-dir=/etc/tetragon/tetragon.tp.d", "--metrics-server=:2112"}, h)
	want := "--btf=/sys/kernel/btf/vmlinux --export-filename=/w/e/t.log --tracing-policy-dir=/w/p --metrics-server=:2112 --bpf-lib=/r/bpf/"
	if err != nil || strings.Join(got, " ") != want {
		t.Fatalf("AgentArgs = %q, %v\nwant %q", got, err, want)
	}
	if _, err := AgentArgs([]string{"--export-filename=/x"}, h); err == nil || !strings.Contains(err.Error(), "--tracing-policy-dir") {
		t.Errorf("missing policy dir: %v", err)
	}
	if _, err := AgentArgs([]string{"--bpf-lib=/x", "--tracing-policy-dir=/p", "--export-filename=/e"}, h); err == nil {
		t.Error("a jobspec --bpf-lib must be refused")
	}
}

func TestJobspecArgsErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`job "x" {`, "job.hcl"},
		{"job \"x\" {\ngroup \"g\" {\ntask \"other\" {\n}\n}\n}\n", `no task "tetragon"`},
		{"job \"x\" {\ngroup \"g\" {\ntask \"tetragon\" {\nconfig {\nimage = \"i\"\n}\n}\n}\n}\n", "no config.args"},
		{"job \"x\" {\ngroup \"g\" {\ntask \"tetragon\" {\nconfig {\nargs = [\"${NOMAD_TASK_DIR}\"]\n}\n}\n}\n}\n", "cannot be evaluated"},
	} {
		if _, err := JobspecArgs("job.hcl", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestReadEvents(t *testing.T) {
	// Shapes from Tetragon's JSON export (protojson of GetEventsResponse;
	// cilium/tetragon@v1.7.0 api/v1/tetragon/tetragon.proto ProcessKprobe).
	src := `{"process_exec":{"process":{"pid":41,"binary":"/usr/bin/curl"}},"node_name":"n","time":"2026-11-30T18:00:00Z"}
{"process_kprobe":{"process":{"pid":42,"binary":"/usr/bin/curl"},"parent":{"pid":1},"function_name":"tcp_connect","args":[{"sock_arg":{"family":"AF_INET6","saddr":"::ffff:172.17.0.2","daddr":"::ffff:8.8.8.8"}}],"action":"KPROBE_ACTION_SIGKILL","policy_name":"block-internet-egress"},"node_name":"n","time":"2026-11-30T18:00:01Z"}

`
	ev, err := ReadEvents(strings.NewReader(src))
	if err != nil || len(ev) != 1 {
		t.Fatalf("ReadEvents = %+v, %v", ev, err)
	}
	if e := ev[0]; e.PID != 42 || e.Policy != "block-internet-egress" || e.Function != "tcp_connect" || e.Action != "KPROBE_ACTION_SIGKILL" {
		t.Fatalf("event %+v", e)
	}
	if len(Matching(ev, "block-internet-egress", 42, "tcp_connect")) != 1 || len(Matching(ev, "block-internet-egress", 41, "")) != 0 {
		t.Fatal("Matching")
	}
	if _, err := ReadEvents(strings.NewReader("not json\n")); err == nil {
		t.Fatal("a non-JSON line must be an error")
	}
}

func TestOpenReleaseErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenRelease(dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), "usr/local/bin/tetragon") {
		t.Errorf("empty dir: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "usr/local/bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "usr/local/bin/tetragon"), []byte("x"), 0o755)
	if _, err := OpenRelease(dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no BPF objects") {
		t.Errorf("no BPF objects: %v", err)
	}
}

// A "connect tcp6 [::ffff:a.b.c.d]:P" case must really connect, from an
// AF_INET6 socket, to the IPv4 address: Go's "tcp6" dial refuses v4-mapped
// addresses, so the case would never reach tcp_connect.
func TestDialDualStackReachesIPv4(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	err = dialDualStack(netip.MustParseAddrPort(fmt.Sprintf("[::ffff:127.0.0.1]:%d", port)), 2*time.Second)
	if errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Skip("no IPv6 on this host:", err)
	}
	if err != nil {
		t.Fatalf("dual-stack connect to a v4 listener: %v", err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := net.DialTimeout("tcp6", fmt.Sprintf("[::ffff:127.0.0.1]:%d", port), time.Second); err == nil {
		t.Log("Go's tcp6 dial now accepts v4-mapped addresses; dialDualStack may be simplified")
	}
}
