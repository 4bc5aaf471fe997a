//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/test/e2e/wait"
)

// The declaration's values the assertions check against (see
// testdata/provision.pkr.hcl; the rest are the model's defaults).
const (
	bridgeCIDR      = "172.18.0.0/16"
	dropInPath      = "/etc/nomad.d/tetragon.hcl"
	btfVolume       = "tetragon-btf"
	logsVolume      = "tetragon-logs"
	logDir          = "/var/log/tetragon"
	missingSymbol   = "tetranomad_e2e_no_such_function"
	missingPolicy   = "e2e-missing-symbol"
	e2eServerConfig = "/etc/nomad.d/00-e2e-server.hcl"
)

// requireProvisioner skips until the plugin registers the provisioner: the
// harness is written ahead of it.
func requireProvisioner(t *testing.T) {
	t.Helper()
	out, err := exec.Command(h.pluginBin, "describe").Output()
	if err != nil {
		t.Fatalf("%s describe: %v", h.pluginBin, err)
	}
	var desc struct {
		Provisioners []string `json:"provisioners"`
	}
	if err := json.Unmarshal(out, &desc); err != nil {
		t.Fatalf("%s describe printed no JSON: %v\n%s", h.pluginBin, err, out)
	}
	for _, p := range desc.Provisioners {
		if p == "-packer-default-plugin-name-" {
			return
		}
	}
	if e2eRequired() {
		t.Fatalf("the plugin registers no provisioner \"tetranomad\" (describe: %s)", strings.TrimSpace(string(out)))
	}
	t.Skipf("the plugin registers no provisioner \"tetranomad\" yet (describe: %s)", strings.TrimSpace(string(out)))
}

func provisionVars(t *testing.T, outDir string, extra map[string]string) map[string]string {
	nomad := nomadBinary(t)
	vars := map[string]string{
		"output_dir":    outDir,
		"nomad_binary":  nomad,
		"nomad_sha256":  fileSHA256(t, nomad),
		"nomad_version": nomadVersionOf(t, nomad),
		"bridge_cidr":   bridgeCIDR,
	}
	for k, v := range extra {
		vars[k] = v
	}
	return vars
}

// TestProvisioner is issue 4's scenario on one target, in order: provision,
// check everything from outside, provision again (nothing may change), then
// switch the logging agent to its configure-only mode.
func TestProvisioner(t *testing.T) {
	requireHarness(t)
	requireProvisioner(t)
	tg := h.target
	outDir := filepath.Join(t.TempDir(), "bundle")

	// Test fixtures, not part of what is checked: the target is its own Nomad
	// server (there is no other), and a daemon.json key the provisioner must
	// keep (merge, not clobber).
	tg.sh(t, `mkdir -p /etc/nomad.d /etc/docker
printf 'server {\n  enabled          = true\n  bootstrap_expect = 1\n}\n' >`+e2eServerConfig+`
printf '{\n  "log-level": "warn"\n}\n' >/etc/docker/daemon.json`)

	first := packerBuild(t, tg, "provision.pkr.hcl", provisionVars(t, outDir, nil))
	if first.Err != nil {
		t.Fatalf("first packer build failed: %v\n%s", first.Err, tail(first.Output, 60))
	}
	manifest := readManifest(t, outDir)

	t.Run("files", func(t *testing.T) { checkFiles(t, tg, outDir, manifest) })
	t.Run("services", func(t *testing.T) { checkServices(t, tg) })
	t.Run("docker", func(t *testing.T) { checkDocker(t, tg) })
	t.Run("nomad-node", func(t *testing.T) { checkNomadNode(t, tg, manifest) })
	t.Run("preflight-facts", func(t *testing.T) { checkPreflightFacts(t, tg, readBuildRecord(t, outDir)) })
	t.Run("host-files", func(t *testing.T) { checkHostFiles(t, tg, provisionVars(t, outDir, nil)) })

	t.Run("second-run-changes-nothing", func(t *testing.T) {
		before := snapshot(t, tg)
		// The snapshot must cover what the first run wrote, or "no diff" proves nothing.
		for _, k := range []string{dropInPath, "sha256 " + dropInPath, "/etc/docker/daemon.json", "sha256 /etc/docker/daemon.json", "unit docker", "unit nomad"} {
			if _, ok := before[k]; !ok {
				t.Fatalf("snapshot (%d entries) lacks %q", len(before), k)
			}
		}
		again := packerBuild(t, tg, "provision.pkr.hcl", provisionVars(t, outDir, nil))
		if again.Err != nil {
			t.Fatalf("second packer build failed: %v\n%s", again.Err, tail(again.Output, 60))
		}
		if diffs := diffSnapshots(before, snapshot(t, tg), 40); len(diffs) > 0 {
			t.Errorf("the second run changed the target:\n%s", strings.Join(diffs, "\n"))
		}
		if !regexp.MustCompile(`(?i)(nothing (to )?change|no changes|unchanged|already up to date)`).MatchString(again.Output) {
			t.Errorf("the second run did not say that nothing changed:\n%s", tail(again.Output, 30))
		}
		t.Logf("first run %s, no-op re-run %s", first.Duration.Round(time.Millisecond), again.Duration.Round(time.Millisecond))
	})

	t.Run("logging-configure-only", func(t *testing.T) {
		res := packerBuild(t, tg, "provision.pkr.hcl", provisionVars(t, filepath.Join(t.TempDir(), "bundle"), map[string]string{
			"logging_agent": "ops-agent", "logging_configure_only": "true",
		}))
		if res.Err != nil {
			t.Fatalf("packer build with ops-agent configure_only failed: %v\n%s", res.Err, tail(res.Output, 60))
		}
		cfg := tg.must(t, "cat", "/etc/google-cloud-ops-agent/config.yaml")
		for _, want := range []string{"fluent_forward", "127.0.0.1", "24224", "parse_json"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("ops agent config lacks %q:\n%s", want, cfg)
			}
		}
		if out, err := tg.exec(context.Background(), "dpkg-query", "-W", "-f=${Status}", "google-cloud-ops-agent"); err == nil && strings.Contains(out, "installed") {
			t.Errorf("configure_only installed the ops agent package (%s)", out)
		}
	})

	t.Run("logging-forward-listener", func(t *testing.T) { checkForwardListener(t, tg) })
}

type manifestDoc struct {
	Contract string `json:"contract"`
	Files    []struct {
		Path   string `json:"path"`
		Role   string `json:"role"`
		SHA256 string `json:"sha256"`
	} `json:"files"`
	raw map[string]any
}

func readManifest(t *testing.T, outDir string) manifestDoc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(outDir, "manifest.json"))
	if err != nil {
		t.Fatalf("the provisioner wrote no bundle manifest to output_dir: %v", err)
	}
	var m manifestDoc
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if err := json.Unmarshal(data, &m.raw); err != nil {
		t.Fatal(err)
	}
	return m
}

// readBuildRecord reads build.json, where the provisioner keeps the VM's
// preflight facts outside the bundle id (issue 11).
func readBuildRecord(t *testing.T, outDir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(outDir, "build.json"))
	if err != nil {
		t.Fatalf("the provisioner wrote no build.json to output_dir: %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("build.json: %v", err)
	}
	return raw
}

func checkFiles(t *testing.T, tg *target, outDir string, m manifestDoc) {
	// Mode and ownership: the drop-in is readable by nomad only (0640).
	if got := strings.TrimSpace(tg.must(t, "stat", "-c", "%a", dropInPath)); got != "640" {
		t.Errorf("%s mode %s, want 640", dropInPath, got)
	}
	if got := strings.TrimSpace(tg.must(t, "stat", "-c", "%F", logDir)); got != "directory" {
		t.Errorf("%s is %q, want a directory", logDir, got)
	}
	// What is on the VM is what the bundle says was rendered.
	onVM := strings.Fields(tg.must(t, "sha256sum", dropInPath))[0]
	found := false
	for _, f := range m.Files {
		if f.SHA256 == onVM {
			found = true
			local := fileSHA256(t, filepath.Join(outDir, filepath.FromSlash(f.Path)))
			if local != onVM {
				t.Errorf("bundle file %s (%s) differs from its manifest entry", f.Path, local)
			}
		}
	}
	if !found {
		t.Errorf("%s on the VM (sha256 %s) matches no file of the bundle manifest", dropInPath, onVM)
	}
	// The uploaded nomad is the binary we built, byte for byte.
	nomadPath := strings.TrimSpace(tg.must(t, "bash", "-c", "command -v nomad"))
	if got, want := strings.Fields(tg.must(t, "sha256sum", nomadPath))[0], fileSHA256(t, h.nomad); got != want {
		t.Errorf("%s on the VM has sha256 %s, want %s (the uploaded binary)", nomadPath, got, want)
	}
	// daemon.json is merged: our pre-existing key survives next to the provisioner's.
	var daemon map[string]any
	if err := json.Unmarshal([]byte(tg.must(t, "cat", "/etc/docker/daemon.json")), &daemon); err != nil {
		t.Fatalf("/etc/docker/daemon.json: %v", err)
	}
	if daemon["log-level"] != "warn" {
		t.Errorf("daemon.json lost the pre-existing \"log-level\": %v", daemon)
	}
	if daemon["bip"] == nil {
		t.Errorf("daemon.json has no bip: %v", daemon)
	}
}

func checkServices(t *testing.T, tg *target) {
	for _, unit := range []string{"docker", "nomad"} {
		if out, _ := tg.exec(context.Background(), "systemctl", "is-enabled", unit); strings.TrimSpace(out) != "enabled" {
			t.Errorf("systemctl is-enabled %s: %q", unit, strings.TrimSpace(out))
		}
		if out, _ := tg.exec(context.Background(), "systemctl", "is-active", unit); strings.TrimSpace(out) != "active" {
			t.Errorf("systemctl is-active %s: %q\n%s", unit, strings.TrimSpace(out), tg.sh(t, "journalctl -u "+unit+" --no-pager -n 30 || true"))
		}
	}
}

func checkDocker(t *testing.T, tg *target) {
	var info struct {
		LiveRestoreEnabled bool
		LoggingDriver      string
	}
	if err := json.Unmarshal([]byte(tg.must(t, "docker", "info", "--format", "{{json .}}")), &info); err != nil {
		t.Fatal(err)
	}
	if !info.LiveRestoreEnabled {
		t.Error("docker info: live restore is not enabled")
	}
	if info.LoggingDriver != "json-file" {
		t.Errorf("docker info: logging driver %q, want json-file", info.LoggingDriver)
	}
	subnet := strings.TrimSpace(tg.must(t, "docker", "network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}"))
	if subnet != bridgeCIDR {
		t.Errorf("docker bridge subnet %q, want %q (bip from the model)", subnet, bridgeCIDR)
	}
	// A real container gets an address on that bridge and the daemon's log options.
	// The rootfs on the host is the target's /; its /tmp is a tmpfs, /var/tmp is not.
	data, err := os.ReadFile(stubImage(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tg.Rootfs, "var/tmp/e2e-stub.tar"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tg.sh(t, "docker image inspect e2e-stub >/dev/null 2>&1 || docker import - e2e-stub </var/tmp/e2e-stub.tar >/dev/null; rm -f /var/tmp/e2e-stub.tar")
	addr := containerAddr(tg.must(t, "docker", "run", "--rm", "e2e-stub", "ip", "-4", "-o", "addr", "show", "eth0"))
	_, cidr, _ := net.ParseCIDR(bridgeCIDR)
	if ip, _, err := net.ParseCIDR(addr); err != nil || !cidr.Contains(ip) {
		t.Errorf("a container got address %q, not in %s", addr, bridgeCIDR)
	}
	logCfg := tg.sh(t, `docker create --name e2e-logcfg e2e-stub true >/dev/null
docker inspect -f '{{json .HostConfig.LogConfig}}' e2e-logcfg; docker rm e2e-logcfg >/dev/null`)
	for _, want := range []string{`"max-size":"20m"`, `"max-file":"4"`} {
		if !strings.Contains(logCfg, want) {
			t.Errorf("a new container's log config %s lacks %s", strings.TrimSpace(logCfg), want)
		}
	}
}

// containerAddr picks the CIDR after "inet" in `ip -4 -o addr` output.
func containerAddr(out string) string {
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "inet" {
			return f[i+1]
		}
	}
	return out
}

// checkNomadNode asks the agent inside the target what the client
// registered, with the real nomad CLI run inside the target (the agent binds
// to the target's node address, which exists only in its netns).
func checkNomadNode(t *testing.T, tg *target, m manifestDoc) {
	var node struct {
		Status      string
		HostVolumes map[string]struct {
			Path     string
			ReadOnly bool
		}
		Drivers map[string]struct {
			Detected, Healthy bool
			Attributes        map[string]string
		}
		Meta map[string]string
	}
	addr := "http://" + net.JoinHostPort(tg.NodeIP, "4646")
	var out string
	err := wait.For(90*time.Second, 2*time.Second, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var err error
		if out, err = tg.exec(ctx, "nomad", "node", "status", "-address="+addr, "-self", "-json"); err != nil {
			return false, err
		}
		if err := json.Unmarshal([]byte(out), &node); err != nil {
			return false, err
		}
		return node.Status == "ready" && node.Drivers["docker"].Healthy, fmt.Errorf("status %q, docker healthy %v", node.Status, node.Drivers["docker"].Healthy)
	})
	if err != nil {
		t.Fatalf("nomad node at %s not ready with a healthy docker driver: %v\n%s\nagent log:\n%s",
			addr, err, tail(out, 20), tg.sh(t, "journalctl -u nomad --no-pager -n 40 || true"))
	}
	for name, want := range map[string]struct {
		path     string
		readOnly bool
	}{btfVolume: {"/sys/kernel/btf/vmlinux", true}, logsVolume: {logDir, false}} {
		got, ok := node.HostVolumes[name]
		if !ok {
			t.Errorf("node has no host volume %q (has %v)", name, keys(node.HostVolumes))
			continue
		}
		if got.Path != want.path || got.ReadOnly != want.readOnly {
			t.Errorf("host volume %q = %+v, want path %s read-only %v", name, got, want.path, want.readOnly)
		}
	}
	t.Logf("node %s: host volumes %+v, meta %v", node.Status, node.HostVolumes, node.Meta)
	if got := node.Drivers["docker"].Attributes["driver.docker.privileged.enabled"]; got != "true" {
		t.Errorf("docker driver privileged.enabled = %q, want true (allow_privileged)", got)
	}
	if m.Contract == "" {
		t.Error("the bundle manifest has no contract")
	} else {
		found := false
		for _, v := range node.Meta {
			if strings.Contains(v, m.Contract) {
				found = true
			}
		}
		if !found {
			t.Errorf("node meta %v does not carry the bundle contract %s", node.Meta, m.Contract)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// preflightFacts is the manifest's record of what preflight found on the VM
// (hostsetup writes it; the provisioner copies it into the manifest).
type preflightFacts struct {
	OS struct {
		ID        string `json:"id"`
		VersionID string `json:"version_id"`
	} `json:"os"`
	Arch               string            `json:"arch"`
	KernelRelease      string            `json:"kernel_release"`
	BTF                bool              `json:"btf"`
	KernelConfigSource string            `json:"kernel_config_source"`
	KernelConfig       map[string]string `json:"kernel_config"`
	Policies           []struct {
		Policy  string `json:"policy"`
		OK      bool   `json:"ok"`
		Symbols []struct {
			Symbol  string `json:"symbol"`
			FoundAs string `json:"found_as"`
		} `json:"symbols"`
	} `json:"policies"`
	Errors []string `json:"errors"`
}

// checkPreflightFacts compares build.json's preflight section with the
// kernel the target really runs, read independently from inside it.
func checkPreflightFacts(t *testing.T, tg *target, build map[string]any) {
	raw, ok := build["preflight"]
	if !ok {
		t.Fatalf("build.json has no \"preflight\" section (keys: %v)", keys(build))
	}
	doc, _ := json.Marshal(raw)
	var pf preflightFacts
	if err := json.Unmarshal(doc, &pf); err != nil {
		t.Fatalf("preflight section: %v\n%s", err, doc)
	}
	t.Logf("preflight facts: %s", doc)

	if want := strings.TrimSpace(tg.must(t, "uname", "-r")); pf.KernelRelease != want {
		t.Errorf("kernel_release %q, the target runs %q", pf.KernelRelease, want)
	}
	if pf.OS.ID != "debian" || pf.OS.VersionID != "12" {
		t.Errorf("os %+v, want debian 12", pf.OS)
	}
	if want := map[string]string{"x86_64": "amd64", "aarch64": "arm64"}[strings.TrimSpace(tg.must(t, "uname", "-m"))]; pf.Arch != want {
		t.Errorf("arch %q, want %q", pf.Arch, want)
	}
	_, statErr := tg.exec(context.Background(), "test", "-e", "/sys/kernel/btf/vmlinux")
	if pf.BTF != (statErr == nil) {
		t.Errorf("btf = %v, but /sys/kernel/btf/vmlinux exists: %v", pf.BTF, statErr == nil)
	}
	// The kernel config, read the same way the kernel exposes it.
	cfgSrc := "/proc/config.gz"
	if _, err := tg.exec(context.Background(), "test", "-r", "/boot/config-"+pf.KernelRelease); err == nil {
		cfgSrc = "/boot/config-" + pf.KernelRelease
	}
	if pf.KernelConfigSource != cfgSrc {
		t.Errorf("kernel_config_source %q, want %q", pf.KernelConfigSource, cfgSrc)
	}
	cfg := tg.sh(t, "if [[ "+cfgSrc+" == *.gz ]]; then gzip -dc "+cfgSrc+"; else cat "+cfgSrc+"; fi")
	for _, opt := range []string{"CONFIG_BPF_LSM", "CONFIG_BPF_KPROBE_OVERRIDE", "CONFIG_DEBUG_INFO_BTF"} {
		want := "n"
		if v := regexp.MustCompile(`(?m)^` + opt + `=([ym])$`).FindStringSubmatch(cfg); v != nil {
			want = v[1]
		}
		if got := pf.KernelConfig[opt]; got != want {
			t.Errorf("kernel_config %s = %q, the kernel says %q", opt, got, want)
		}
	}
	// Every symbol preflight says it found is really in /proc/kallsyms.
	kallsyms := map[string]bool{}
	for _, line := range strings.Split(tg.must(t, "cat", "/proc/kallsyms"), "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			kallsyms[f[2]] = true
		}
	}
	if len(pf.Policies) == 0 {
		t.Errorf("preflight checked no policy, but the declaration selects log-file-access")
	}
	for _, p := range pf.Policies {
		if !p.OK {
			t.Errorf("policy %s marked not ok on this kernel", p.Policy)
		}
		for _, s := range p.Symbols {
			if !kallsyms[s.FoundAs] {
				t.Errorf("policy %s: symbol %s reported found as %q, which is not in /proc/kallsyms", p.Policy, s.Symbol, s.FoundAs)
			}
		}
	}
	if len(pf.Errors) > 0 {
		t.Errorf("preflight recorded errors on a passing build: %v", pf.Errors)
	}
}

// TestPreflightMissingSymbol: a policy that hooks a kernel function the
// kernel does not have fails the build in preflight, naming the policy and
// the symbol, and nothing on the (fresh) target changes.
func TestPreflightMissingSymbol(t *testing.T) {
	requireHarness(t)
	requireProvisioner(t)
	tg := h.pristine
	if out, _ := tg.exec(context.Background(), "grep", "-c", " "+missingSymbol+"$", "/proc/kallsyms"); strings.TrimSpace(out) != "0" {
		t.Fatalf("%s unexpectedly exists in /proc/kallsyms (%s)", missingSymbol, out)
	}
	policy, err := filepath.Abs(filepath.Join("testdata", "policies", "missing-symbol.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, tg)
	res := packerBuild(t, tg, "provision.pkr.hcl", provisionVars(t, filepath.Join(t.TempDir(), "bundle"), map[string]string{
		"policy_files": `["` + policy + `"]`,
	}))
	if res.Err == nil {
		t.Fatalf("packer build succeeded with a policy hooking %s:\n%s", missingSymbol, tail(res.Output, 40))
	}
	for _, want := range []string{missingSymbol, missingPolicy, "preflight"} {
		if !strings.Contains(strings.ToLower(res.Output), strings.ToLower(want)) {
			t.Errorf("the failure does not mention %q:\n%s", want, tail(res.Output, 40))
		}
	}
	if diffs := diffSnapshots(before, snapshot(t, tg), 40); len(diffs) > 0 {
		t.Errorf("the failed preflight changed the target:\n%s", strings.Join(diffs, "\n"))
	}
}
