package hostsetup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/clientconfig"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/golden"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

// declaration prepares a declaration after mod changed the zero value.
func declaration(t testing.TB, mod func(d *model.Declaration)) *model.Declaration {
	t.Helper()
	d := &model.Declaration{}
	if mod != nil {
		mod(d)
	}
	if err := d.Prepare(); err != nil {
		t.Fatalf("test declaration does not prepare: %v", err)
	}
	return d
}

// testBundle is the part of a rendered bundle hostsetup reads: the client
// config files, rendered by clientconfig as the real renderer does.
func testBundle(t testing.TB, d *model.Declaration) *bundle.Bundle {
	t.Helper()
	b := &bundle.Bundle{}
	b.Manifest.BundleID = "b-test"
	if err := b.Add(bundle.NomadDir+"/"+d.Nomad.DropInName+".hcl", bundle.RoleClientConfig, clientconfig.DropIn(d)); err != nil {
		t.Fatal(err)
	}
	if base := clientconfig.Base(d); base != nil {
		if err := b.Add(bundle.NomadDir+"/"+clientconfig.BaseFileName, bundle.RoleBaseConfig, base); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

var samplePolicies = []policy.Requirements{
	{Policy: "log-file-access", File: "policies/log-file-access.yaml", Symbols: []string{"security_file_permission", "sys_openat"}},
	{Policy: "block-writes", File: "policies/block-writes.yaml", Symbols: []string{"sys_write"}, NeedsOverride: true},
	{Policy: "lsm-exec", File: "policies/lsm-exec.yaml", LSMHooks: []string{"bprm_check_security"}},
}

// goldenCases are three declarations that exercise every branch of the
// rendered header and data files.
func goldenCases(t testing.TB) map[string]Input {
	b := func(v bool) *bool { return &v }
	defaults := declaration(t, nil)
	e2e := declaration(t, func(d *model.Declaration) {
		d.Docker = model.Docker{Source: "distro", BridgeCIDR: "172.18.0.0/16", LogMaxSize: "20m", LogMaxFile: 4, LiveRestore: b(true)}
		d.Nomad.Install = "binary"
		d.Nomad.BinarySource = "/cache/nomad"
		d.Nomad.BinarySHA256 = strings.Repeat("ab", 32)
		d.Nomad.Base = model.BaseClient{Enabled: true, Datacenter: "e2e", BindInterface: "ens4"}
		d.Logging.Agent = "none"
		d.Policies.Library = []string{"log-file-access"}
	})
	fluentd := declaration(t, func(d *model.Declaration) {
		d.Docker.Source = "preinstalled"
		d.Docker.LiveRestore = b(false)
		d.Nomad.Install = "none"
		d.Nomad.ConfigDir = "/etc/nomad"
		d.Nomad.DropInName = "tetra-gon"
		d.HostVolumes.Logs.Path = "/srv/tetragon logs"
		d.Logging = model.Logging{Agent: "google-fluentd", ConfigureOnly: true, ForwardAddress: "127.0.0.2:24225", Tag: "tg"}
	})
	return map[string]Input{
		"defaults": {Declaration: defaults, Bundle: testBundle(t, defaults), Policies: samplePolicies, PluginVersion: "0.1.0-test"},
		"e2e":      {Declaration: e2e, Bundle: testBundle(t, e2e), Policies: samplePolicies[:1], PluginVersion: "0.1.0-test"},
		"fluentd":  {Declaration: fluentd, Bundle: testBundle(t, fluentd), PluginVersion: "0.1.0-test"},
	}
}

// filesListing shows every data file with its mode, for the golden files.
func filesListing(p *Payload) string {
	var b strings.Builder
	fmt.Fprintf(&b, "streams: %q\n", p.Streams)
	for _, f := range p.Files {
		fmt.Fprintf(&b, "\n==== %s (%04o) ====\n%s", f.Name, f.Mode, f.Data)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for name, in := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			p, err := Render(in)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", name+".sh"), p.Script)
			golden.Check(t, filepath.Join("testdata", name+".files"), []byte(filesListing(p)))
		})
	}
}

func TestShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not found: apt-get install shellcheck")
	}
	for name, in := range goldenCases(t) {
		p, err := Render(in)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".sh")
		if err := os.WriteFile(path, p.Script, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sc, "--shell=bash", "--severity=style", path).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", name, err, out)
		}
	}
}

func TestRenderRefusesBundleWithoutDropIn(t *testing.T) {
	d := declaration(t, nil)
	_, err := Render(Input{Declaration: d, Bundle: &bundle.Bundle{}})
	if err == nil || err.Error() != `hostsetup: the bundle has 0 files with role "client-config", want exactly one` {
		t.Fatalf("err = %v", err)
	}
}

func TestBridgeIP(t *testing.T) {
	for cidr, want := range map[string]string{
		"172.17.0.0/16":  "172.17.0.1/16",
		"172.18.0.0/16":  "172.18.0.1/16",
		"10.200.8.0/21":  "10.200.8.1/21",
		"192.168.5.4/30": "192.168.5.5/30",
	} {
		got, err := BridgeIP(cidr)
		if err != nil || got != want {
			t.Errorf("BridgeIP(%q) = %q, %v; want %q", cidr, got, err, want)
		}
	}
	for _, bad := range []string{"fd00::/64", "10.0.0.0/31", "nonsense"} {
		if _, err := BridgeIP(bad); err == nil {
			t.Errorf("BridgeIP(%q) accepted", bad)
		}
	}
}

func TestRequirementsTable(t *testing.T) {
	got := string(Requirements([]policy.Requirements{
		{Policy: "p1", File: "dir/with\ttab.yaml", Symbols: []string{"sys_openat", "__x64_sys_write", "tcp_connect"}, NeedsOverride: true},
		{Policy: "p2", File: "p2.yaml", LSMHooks: []string{"file_open"}},
	}))
	want := "policy\tp1\tdir/with tab.yaml\t1\t0\n" +
		"symbol\tp1\tsys_openat\t__x64_sys_openat,sys_openat\t__arm64_sys_openat,sys_openat\n" +
		"symbol\tp1\t__x64_sys_write\t__x64_sys_write\t__x64_sys_write\n" +
		"symbol\tp1\ttcp_connect\ttcp_connect\ttcp_connect\n" +
		"policy\tp2\tp2.yaml\t0\t1\n" +
		"symbol\tp2\tbpf_lsm_file_open\tbpf_lsm_file_open\tbpf_lsm_file_open\n"
	if got != want {
		t.Errorf("Requirements:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseLine(t *testing.T) {
	for line, want := range map[string]Event{
		"##tetranomad step preflight checking the VM":    {Kind: StepStart, Step: "preflight", Text: "checking the VM"},
		"##tetranomad fail docker jq failed\r":           {Kind: StepFailed, Step: "docker", Text: "jq failed"},
		"##tetranomad done no changes":                   {Kind: Done, Text: "no changes"},
		"wrote /etc/docker/daemon.json":                  {Kind: Output, Text: "wrote /etc/docker/daemon.json"},
		"  ##tetranomad step x y":                        {Kind: Output, Text: "  ##tetranomad step x y"},
		"##tetranomad bogus line":                        {Kind: Output, Text: "##tetranomad bogus line"},
		"##tetranomadstep preflight no space":            {Kind: Output, Text: "##tetranomadstep preflight no space"},
		"##tetranomad step nomad":                        {Kind: StepStart, Step: "nomad"},
		"##tetranomad done changed: 3 files, 1 services": {Kind: Done, Text: "changed: 3 files, 1 services"},
	} {
		if got := ParseLine(line); got != want {
			t.Errorf("ParseLine(%q) = %+v, want %+v", line, got, want)
		}
	}
}

// TestWriteArchive unpacks what Write produced the way the script does
// (everything after the marker line is a gzipped tar) and checks the files.
func TestWriteArchive(t *testing.T) {
	in := goldenCases(t)["e2e"]
	p, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(io.Discard); err == nil || !strings.Contains(err.Error(), `needs streams ["nomad/nomad"]`) {
		t.Fatalf("Write without the nomad stream: %v", err)
	}
	binary := []byte("\x7fELF fake nomad")
	var out bytes.Buffer
	if err := p.Write(&out, Stream{Name: NomadBinaryFile, Mode: 0o755, Size: int64(len(binary)), R: bytes.NewReader(binary)}); err != nil {
		t.Fatal(err)
	}
	script, archive, ok := bytes.Cut(out.Bytes(), []byte("\n"+payloadMarker+"\n"))
	if !ok || !bytes.Equal(append(script, '\n'), p.Script) {
		t.Fatal("the output does not start with the script followed by the marker line")
	}
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]string{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = fmt.Sprintf("%o %s", h.Mode, data)
		order = append(order, h.Name)
	}
	for _, f := range p.Files {
		if want := fmt.Sprintf("%o %s", f.Mode, f.Data); got[f.Name] != want {
			t.Errorf("%s in the archive = %.60q, want %.60q", f.Name, got[f.Name], want)
		}
	}
	if got[NomadBinaryFile] != "755 "+string(binary) {
		t.Errorf("the nomad binary in the archive = %q", got[NomadBinaryFile])
	}
	seen := map[string]bool{}
	for _, name := range order {
		if parent := parentDir(strings.TrimSuffix(name, "/")); parent != "" && !seen[parent+"/"] {
			t.Errorf("%s comes before its directory %s/ (order %v)", name, parent, order)
		}
		seen[name] = true
	}
	// Same input, same bytes.
	var again bytes.Buffer
	if err := p.Write(&again, Stream{Name: NomadBinaryFile, Mode: 0o755, Size: int64(len(binary)), R: bytes.NewReader(binary)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), again.Bytes()) {
		t.Error("two writes of the same payload differ")
	}
}

// TestShellQuote round-trips awkward values through a real shell.
func TestShellQuote(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found")
	}
	for _, v := range []string{"", "plain", "it's", "'", "a b\tc", `$HOME "x" \n ;rm`, "line\nbreak"} {
		out, err := exec.Command(bash, "-c", "printf %s "+ShellQuote(v)).Output()
		if err != nil || string(out) != v {
			t.Errorf("ShellQuote(%q) = %s came back as %q (%v)", v, ShellQuote(v), out, err)
		}
	}
}
