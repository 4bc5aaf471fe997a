package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/testbin"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

// These tests run the real nomad binary on rendered bundles: what hcl/v2
// cannot tell (Nomad's own schema, its fmt, an agent accepting the drop-in).

// nomadEnv is the environment for nomad: without AWS_CA_BUNDLE (Nomad 1.10
// agents fail to start with it) and with NOMAD_ADDR pointing at a closed
// port, so validate commands never reach someone else's agent and validate
// locally.
func nomadEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") && !strings.HasPrefix(kv, "NOMAD_") {
			env = append(env, kv)
		}
	}
	return append(env, "NOMAD_ADDR=http://127.0.0.1:1")
}

func runNomad(t *testing.T, nomad string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nomad, args...)
	cmd.Env = nomadEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// writeBundle renders a golden variant into a temporary directory.
func writeBundle(t *testing.T, variant string) (string, *bundle.Bundle) {
	t.Helper()
	b := renderFile(t, goldenVariants[variant])
	dir := filepath.Join(t.TempDir(), variant)
	if err := b.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return dir, b
}

func TestNomadFmtCheck(t *testing.T) {
	nomad := testbin.Nomad(t)
	for _, variant := range sortedVariants() {
		dir, b := writeBundle(t, variant)
		for _, f := range b.Manifest.Files {
			if !strings.HasSuffix(f.Path, ".hcl") {
				continue
			}
			if out, err := runNomad(t, nomad, "fmt", "-check", filepath.Join(dir, f.Path)); err != nil {
				t.Errorf("%s: nomad fmt -check %s: %v\n%s", variant, f.Path, err, out)
			}
		}
	}
}

func TestNomadConfigValidate(t *testing.T) {
	nomad := testbin.Nomad(t)
	existing, err := filepath.Abs("testdata/nomad/existing-client.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, variant := range sortedVariants() {
		dir, b := writeBundle(t, variant)
		// The bundle's nomad/ directory is what lands in /etc/nomad.d.
		args := []string{"config", "validate", filepath.Join(dir, bundle.NomadDir)}
		if len(b.Manifest.FilesWithRole(bundle.RoleBaseConfig)) == 0 {
			args = append(args, existing)
		}
		out, err := runNomad(t, nomad, args...)
		if err != nil || !strings.Contains(out, "Configuration is valid!") {
			t.Errorf("%s: nomad %s: %v\n%s", variant, strings.Join(args, " "), err, out)
		}
	}
}

// The validation is not vacuous: a drop-in with a host volume Nomad cannot
// accept is refused.
func TestNomadConfigValidateRefusesABrokenDropIn(t *testing.T) {
	nomad := testbin.Nomad(t)
	dir, b := writeBundle(t, "default")
	dropIn := filepath.Join(dir, "nomad", "tetragon.hcl")
	broken := strings.Replace(string(b.Content["nomad/tetragon.hcl"]), `path      = "/sys/kernel/btf/vmlinux"`, `path      = ""`, 1)
	if err := os.WriteFile(dropIn, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	existing, _ := filepath.Abs("testdata/nomad/existing-client.hcl")
	if out, err := runNomad(t, nomad, "config", "validate", dropIn, existing); err == nil {
		t.Errorf("nomad accepted a host volume without a path:\n%s", out)
	}
}

func TestNomadJobValidate(t *testing.T) {
	nomad := testbin.Nomad(t)
	for _, variant := range sortedVariants() {
		dir, _ := writeBundle(t, variant)
		out, err := runNomad(t, nomad, "job", "validate", filepath.Join(dir, bundle.JobspecPath))
		if err != nil || !strings.Contains(out, "Job validation successful") {
			t.Errorf("%s: nomad job validate: %v\n%s", variant, err, out)
		}
	}
}

// A dev agent started with the rendered drop-in registers every host volume
// and the contract meta. Host volume paths point into a temporary directory
// so the agent can start anywhere; ports are free ones on 127.0.0.1.
func TestNomadAgentRegistersTheDropIn(t *testing.T) {
	nomad := testbin.Nomad(t)
	tmp := t.TempDir()
	btf := filepath.Join(tmp, "btf", "vmlinux")
	logs := filepath.Join(tmp, "logs")
	bpffs := filepath.Join(tmp, "bpffs")
	for _, dir := range []string{filepath.Dir(btf), logs, bpffs} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(btf, []byte("not really BTF"), 0o644); err != nil {
		t.Fatal(err)
	}
	decl := fmt.Sprintf(`host_volumes {
  btf {
    name = "kernel-btf"
    path = %q
  }
  logs {
    path = %q
  }
  bpffs {
    path = %q
  }
}
`, btf, logs, bpffs)
	d, err := model.Parse("agent.hcl", []byte(decl))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Render(d, nil, testPluginVersion)
	if err != nil {
		t.Fatal(err)
	}
	dropIn := filepath.Join(tmp, "tetragon.hcl")
	if err := os.WriteFile(dropIn, b.Content[DropInPath(d)], 0o644); err != nil {
		t.Fatal(err)
	}

	ports := freePorts(t, 3)
	portsFile := hclwrite.NewEmptyFile()
	pb := portsFile.Body().AppendNewBlock("ports", nil).Body()
	pb.SetAttributeValue("http", cty.NumberIntVal(int64(ports[0])))
	pb.SetAttributeValue("rpc", cty.NumberIntVal(int64(ports[1])))
	pb.SetAttributeValue("serf", cty.NumberIntVal(int64(ports[2])))
	portsPath := filepath.Join(tmp, "ports.hcl")
	if err := os.WriteFile(portsPath, portsFile.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	dataDir := filepath.Join(tmp, "data")
	var output bytes.Buffer
	agent := exec.Command(nomad, "agent", "-dev", "-bind", "127.0.0.1", "-data-dir", dataDir,
		"-config", portsPath, "-config", dropIn)
	agent.Env = nomadEnv()
	agent.Stdout, agent.Stderr = &output, &output
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	t.Cleanup(func() {
		_ = agent.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = agent.Process.Kill()
			<-exited
		}
	})

	api := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	node := waitForNode(t, api, exited, &output)

	type hostVolume struct {
		Path     string
		ReadOnly bool
	}
	want := map[string]hostVolume{
		"kernel-btf":     {btf, true},
		"tetragon-logs":  {logs, false},
		"tetragon-bpffs": {bpffs, false},
	}
	for name, w := range want {
		got, ok := node.HostVolumes[name]
		if !ok {
			t.Errorf("the agent did not register host volume %q (has %v)", name, node.HostVolumes)
			continue
		}
		if got.Path != w.Path || got.ReadOnly != w.ReadOnly {
			t.Errorf("host volume %q = %+v, want %+v", name, got, w)
		}
	}
	if got := node.Meta[model.ContractMetaKey]; got != d.Contract().Hash() {
		t.Errorf("node meta %s = %q, want %q", model.ContractMetaKey, got, d.Contract().Hash())
	}

	// The agent's server validates the matching jobspec too (its admission
	// validators, beyond the CLI's local checks).
	jobspec := filepath.Join(tmp, "tetragon.nomad.hcl")
	if err := os.WriteFile(jobspec, b.Content[bundle.JobspecPath], 0o644); err != nil {
		t.Fatal(err)
	}
	validate := exec.Command(nomad, "job", "validate", jobspec)
	validate.Env = append(nomadEnv(), "NOMAD_ADDR="+api)
	out, err := validate.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Job validation successful") || strings.Contains(string(out), "not validated") {
		t.Errorf("nomad job validate against the agent: %v\n%s", err, out)
	}
}

type nomadNode struct {
	ID          string
	Status      string
	Meta        map[string]string
	HostVolumes map[string]struct {
		Path     string
		ReadOnly bool
	}
}

// waitForNode polls the agent until its client registered and is ready.
func waitForNode(t *testing.T, api string, exited <-chan error, output *bytes.Buffer) nomadNode {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("nomad agent exited early (%v):\n%s", err, output.String())
		default:
		}
		var nodes []nomadNode
		if last = getJSON(api+"/v1/nodes", &nodes); last == nil {
			for _, n := range nodes {
				if n.Status != "ready" {
					continue
				}
				var node nomadNode
				if last = getJSON(api+"/v1/node/"+n.ID, &node); last == nil {
					return node
				}
			}
			if last == nil {
				last = fmt.Errorf("%d nodes, none ready", len(nodes))
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no ready node after 90s (last: %v); agent output:\n%s", last, output.String())
	return nomadNode{}
}

func getJSON(url string, into any) error {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}
