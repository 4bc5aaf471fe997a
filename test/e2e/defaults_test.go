//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue 14: the default declaration installs docker-ce, nomad and the Ops
// Agent from their vendors' apt repositories, which this machine cannot
// reach. TestDefaultsFromSignedMirrors builds those repositories locally —
// packages under the vendors' names, an apt repository signed with a key the
// test makes — and bakes the default declaration against them, so the
// script's key check, repository, version pin, install and restart code runs
// as it does on GCE. Only the repository URLs, their fingerprint and
// nomad.version (the one Nomad this machine can build) differ from the
// defaults.
//
// What stands in for the vendors' packages:
//   - docker-ce, docker-ce-cli, containerd.io: the binaries, units and
//     configuration of Debian's docker.io, containerd and runc, split the way
//     Docker's packages split them (docker-ce Conflicts docker.io).
//   - nomad: the real nomad binary (test/tools/ensure-tool) with HashiCorp's
//     package files, read at test time from the nomad module of the same
//     version (hashicorp/nomad@vX:.release/linux: preinst creates the nomad
//     user, postinst /opt/nomad/data; package/usr/lib/systemd/system/nomad.service,
//     package/etc/nomad.d/nomad.hcl and nomad.env).
//   - google-cloud-ops-agent: its unit layout (GoogleCloudPlatform/ops-agent
//     systemd/google-cloud-ops-agent.service, whose ExecStartPre checks the
//     configuration, and google-cloud-ops-agent-fluent-bit.service) with stub
//     programs; the agent itself is not available here.
func TestDefaultsFromSignedMirrors(t *testing.T) {
	requireHarness(t)
	requireProvisioner(t)
	for _, tool := range []string{"gpg", "dpkg-deb", "apt-get"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build the signed mirrors: %v", tool, err)
		}
	}
	nomad := nomadBinary(t)
	nomadVersion := nomadVersionOf(t, nomad)
	tg := freshTarget(t, uniqueName("df"), -1)

	start := time.Now()
	work := t.TempDir()
	good, impostor := newSigningKey(t, "tetranomad e2e mirror"), newSigningKey(t, "tetranomad e2e impostor")
	debs := buildVendorPackages(t, filepath.Join(work, "debs"), nomad, nomadVersion)
	m := startMirror(t, tg.HostIP, filepath.Join(work, "www"))
	m.publish(t, "good", debs, good)
	m.publish(t, "impostor", debs, impostor)
	t.Logf("timing: packages and two signed mirrors %s", time.Since(start).Round(time.Millisecond))

	// Fixture: apt on the target goes through the harness's proxy, which only
	// reaches Debian's mirror; the local mirrors are on the host end of the
	// veth, reached directly (curl, used for the keys, uses no proxy).
	tg.sh(t, fmt.Sprintf(`printf 'Acquire::http::Proxy::%s "DIRECT";\n' >/etc/apt/apt.conf.d/01tetranomad-e2e-mirror`, tg.HostIP))

	vars := func(outDir, root, fingerprint string) map[string]string {
		base := "http://" + m.addr + "/" + root
		return map[string]string{
			"output_dir":      outDir,
			"nomad_version":   nomadVersion,
			"docker_url":      base + "/docker/{os_id}", // Docker's layout: one tree per OS
			"hashicorp_url":   base + "/hashicorp",
			"google_url":      base + "/google/apt",
			"key_fingerprint": spacedFingerprint(good.fingerprint), // as vendors print it
		}
	}
	repos := []struct{ name, setting, keyPath string }{
		{"docker", "repositories.docker", "/docker/debian/gpg"},
		{"hashicorp", "repositories.hashicorp", "/hashicorp/gpg"},
		{"google-cloud-ops-agent", "repositories.google", "/google/apt/doc/apt-key.gpg"},
	}
	packages := []string{"docker-ce", "docker-ce-cli", "containerd.io", "nomad", "google-cloud-ops-agent"}

	t.Run("mirror-signed-with-another-key-is-refused", func(t *testing.T) {
		before := snapshot(t, tg)
		res := packerBuild(t, tg, "defaults.pkr.hcl", vars(filepath.Join(t.TempDir(), "bundle"), "impostor", good.fingerprint))
		if res.Err == nil {
			t.Fatalf("packer build succeeded against mirrors signed with another key:\n%s", tail(res.Output, 40))
		}
		for _, r := range repos {
			want := fmt.Sprintf("the signing key of the %s repository from http://%s/impostor%s has fingerprint %s, but %s.key_fingerprint is %s", r.name, m.addr, r.keyPath, impostor.fingerprint, r.setting, good.fingerprint)
			if !strings.Contains(res.Output, want) {
				t.Errorf("the failure does not say %q:\n%s", want, tail(res.Output, 40))
			}
		}
		if !strings.Contains(res.Output, "nothing was changed") {
			t.Errorf("the failure does not say that nothing was changed:\n%s", tail(res.Output, 20))
		}
		logLines(t, res.Output, "error: the signing key")
		if diffs := diffSnapshots(before, snapshot(t, tg), 40); len(diffs) > 0 {
			t.Errorf("the refused build changed the target:\n%s", strings.Join(diffs, "\n"))
		}
		for _, p := range packages {
			if out, _ := tg.exec(context.Background(), "dpkg-query", "-W", "-f=${db:Status-Status}", p); strings.TrimSpace(out) == "installed" {
				t.Errorf("%s is installed after the refused build", p)
			}
		}
		if out, _ := tg.exec(context.Background(), "ls", "/etc/apt/keyrings", "/etc/apt/sources.list.d"); strings.Contains(out, "docker") || strings.Contains(out, "hashicorp") || strings.Contains(out, "google") {
			t.Errorf("the refused build left apt sources or keys:\n%s", out)
		}
		if n := m.requests("/impostor/", "/dists/"); n > 0 {
			t.Errorf("apt read %d index files of the refused mirrors; the key check must stop before apt", n)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("defaults-from-the-mirrors", func(t *testing.T) {
		outDir := filepath.Join(t.TempDir(), "bundle")
		res := packerBuild(t, tg, "defaults.pkr.hcl", vars(outDir, "good", good.fingerprint))
		if res.Err != nil {
			t.Fatalf("packer build of the default declaration failed: %v\n%s", res.Err, tail(res.Output, 80))
		}
		// The log shows each repository's key checked, then added.
		logLines(t, res.Output, "repository ")
		for _, r := range repos {
			for _, want := range []string{
				fmt.Sprintf("repository %s: signing key from http://%s/good%s has the pinned fingerprint %s (%s.key_fingerprint)", r.name, m.addr, r.keyPath, good.fingerprint, r.setting),
				fmt.Sprintf("added repository %s: http://%s/good/", r.name, m.addr),
			} {
				if !strings.Contains(res.Output, want) {
					t.Errorf("the build output lacks %q", want)
				}
			}
		}
		t.Logf("mirror requests:\n%s", strings.Join(m.log(), "\n"))

		// The vendors' packages are installed, Nomad at the pinned version.
		out := tg.must(t, "dpkg-query", "-W", "-f=${Package} ${Version} ${db:Status-Status}\n", packages[0], packages[1], packages[2], packages[3], packages[4])
		t.Logf("installed:\n%s", out)
		for _, p := range packages {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p) + ` \S+ installed$`).MatchString(out) {
				t.Errorf("%s is not installed:\n%s", p, out)
			}
		}
		if !strings.Contains(out, "nomad "+nomadVersion+"-1 installed") {
			t.Errorf("nomad is not pinned to %s-1:\n%s", nomadVersion, out)
		}
		// The docker.sources URL has {os_id} filled in; each keyring holds the pinned key only.
		if src := tg.must(t, "cat", "/etc/apt/sources.list.d/docker.sources"); !strings.Contains(src, "URIs: http://"+m.addr+"/good/docker/debian\n") {
			t.Errorf("docker.sources:\n%s", src)
		}
		for _, r := range []string{"docker", "hashicorp", "google-cloud-ops-agent"} {
			keys := tg.sh(t, "gpg --batch --no-autostart --homedir \"$(mktemp -d)\" --with-colons --show-keys /etc/apt/keyrings/"+r+".gpg | awk -F: '$1 == \"fpr\" {print $10}'")
			// The test's key has no subkeys: one fingerprint, the pinned one.
			if got := strings.Fields(keys); len(got) != 1 || got[0] != good.fingerprint {
				t.Errorf("/etc/apt/keyrings/%s.gpg holds %v, want the pinned key %s", r, got, good.fingerprint)
			}
		}
		for _, unit := range []string{"docker", "nomad", "google-cloud-ops-agent"} {
			if got := strings.TrimSpace(tg.sh(t, "systemctl is-active "+unit+" || true")); got != "active" {
				t.Errorf("%s is %s:\n%s", unit, got, tg.sh(t, "journalctl -u "+unit+" --no-pager -n 30 || true"))
			}
		}
		if cfg := tg.must(t, "cat", "/etc/google-cloud-ops-agent/config.yaml"); !strings.Contains(cfg, "fluent_forward") {
			t.Errorf("the Ops Agent's configuration has no fluent_forward receiver:\n%s", cfg)
		}
		// HashiCorp's packaged agent (server and client) picked up the drop-in.
		checkNomadNode(t, tg, readManifest(t, outDir))
	})
}

// signingKey is a gpg key made for one test run.
type signingKey struct {
	home        string // gpg home holding the secret key
	fingerprint string
	armored     []byte
}

func newSigningKey(t *testing.T, uid string) signingKey {
	t.Helper()
	// Short: gpg-agent's socket lives in the home, and socket paths are limited.
	home, err := os.MkdirTemp("", "tn-gpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	k := signingKey{home: home}
	k.gpg(t, "--quick-generate-key", uid+" <e2e@tetranomad.invalid>", "ed25519", "sign", "never")
	for _, line := range strings.Split(string(k.gpg(t, "--with-colons", "--list-keys")), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && k.fingerprint == "" {
			k.fingerprint = f[9]
		}
	}
	k.armored = k.gpg(t, "--armor", "--export", k.fingerprint)
	return k
}

func (k signingKey) gpg(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--homedir", k.home, "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func spacedFingerprint(f string) string {
	var groups []string
	for i := 0; i < len(f); i += 4 {
		groups = append(groups, f[i:min(i+4, len(f))])
	}
	return strings.Join(groups, " ")
}

func nomadVersionOf(t *testing.T, nomad string) string {
	t.Helper()
	out, err := exec.Command(nomad, "version").Output()
	m := regexp.MustCompile(`^Nomad v(\d+\.\d+\.\d+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("%s version: %v %q", nomad, err, out)
	}
	return string(m[1])
}

// logLines copies the lines of a build's output that contain substr into
// the test log.
func logLines(t *testing.T, output, substr string) {
	t.Helper()
	var lines []string
	seen := map[string]bool{}
	for _, l := range strings.Split(output, "\n") {
		// Packer repeats a failure's message in its summary: once is enough.
		if l = strings.TrimSpace(l); strings.Contains(l, substr) && !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	t.Logf("build output, lines with %q:\n%s", substr, strings.Join(lines, "\n"))
}

// vendorDeb is one package built by the test.
type vendorDeb struct {
	name, version, repo string // repo: docker, hashicorp or google
	path                string
}

// buildVendorPackages builds the stand-ins for the vendors' packages into dir.
func buildVendorPackages(t *testing.T, dir, nomad, nomadVersion string) []vendorDeb {
	t.Helper()
	arch := strings.TrimSpace(run(t, "", "dpkg", "--print-architecture"))
	// Debian's own packages, unpacked: their binaries become Docker's packages.
	src := filepath.Join(dir, "debian")
	must(t, os.MkdirAll(src, 0o777))
	must(t, os.Chmod(src, 0o777)) // apt-get download drops to _apt
	if _, err := runErr(src, "apt-get", "download", "docker.io", "containerd", "runc"); err != nil {
		run(t, "", "apt-get", "update")
		run(t, src, "apt-get", "download", "docker.io", "containerd", "runc")
	}
	unpacked := map[string]string{}
	for _, p := range []string{"docker.io", "containerd", "runc"} {
		matches, _ := filepath.Glob(filepath.Join(src, p+"_*.deb"))
		if len(matches) != 1 {
			t.Fatalf("apt-get download %s gave %v", p, matches)
		}
		unpacked[p] = filepath.Join(src, p+".x")
		run(t, "", "dpkg-deb", "-x", matches[0], unpacked[p])
	}
	version := func(deb string) string {
		v := strings.TrimSpace(run(t, "", "dpkg-deb", "-f", deb, "Version"))
		v = strings.SplitN(v, "+", 2)[0] // 20.10.24+dfsg1-1+deb12u1 -> 20.10.24
		return strings.SplitN(strings.SplitN(v, "~", 2)[0], "-", 2)[0] + "-1"
	}
	dockerVersion := version(first(t, filepath.Join(src, "docker.io_*.deb")))
	containerdVersion := version(first(t, filepath.Join(src, "containerd_*.deb")))
	d, c, r := unpacked["docker.io"], unpacked["containerd"], unpacked["runc"]

	nomadModule := nomadModuleDir(t, nomadVersion)
	rel := filepath.Join(nomadModule, ".release", "linux")
	script := func(name string) string {
		data, err := os.ReadFile(filepath.Join(rel, name))
		if err != nil {
			t.Fatalf("HashiCorp's package script %s: %v", name, err)
		}
		return string(data)
	}

	opsUnit := `[Unit]
Description=Google Cloud Ops Agent (tetranomad e2e stand-in)
Wants=network-online.target google-cloud-ops-agent-fluent-bit.service
After=network-online.target

[Service]
Type=simple
ExecStartPre=/opt/google-cloud-ops-agent/libexec/google_cloud_ops_agent_engine -in /etc/google-cloud-ops-agent/config.yaml
ExecStart=/opt/google-cloud-ops-agent/subagents/opentelemetry-collector/otelopscol
Restart=always

[Install]
WantedBy=multi-user.target
`
	fluentBitUnit := `[Unit]
Description=Google Cloud Ops Agent - Logging Agent (tetranomad e2e stand-in)
PartOf=google-cloud-ops-agent.service
After=google-cloud-ops-agent.service

[Service]
Type=simple
ExecStart=/opt/google-cloud-ops-agent/subagents/fluent-bit/bin/fluent-bit
Restart=always
`
	// The engine validates the configuration before the agent starts.
	engine := "#!/bin/sh\n[ \"$1\" = -in ] && [ -r \"$2\" ] || { echo \"cannot read the configuration $2\" >&2; exit 1; }\n"
	idle := "#!/bin/sh\nexec sleep infinity\n"
	// The Ops Agent's fluent_forward receiver runs in its Fluent Bit
	// subagent (ops-agent confgenerator: the receiver becomes a Fluent Bit
	// forward input), which tetranomad's listener check waits for on
	// logging.forward_address; the stand-in listens there (the default
	// address; python3 comes with python3-yaml, which the merge installs).
	fluentBit := "#!/bin/sh\nexec python3 -m http.server --bind 127.0.0.1 24224\n"
	enableStart := func(units string) string {
		return "#!/bin/sh\nset -e\nif [ -d /run/systemd/system ]; then\n  systemctl daemon-reload\n  systemctl enable " + units + " >/dev/null 2>&1 || true\n  systemctl start " + units + " || true\nfi\n"
	}

	specs := []debSpec{
		{name: "containerd.io", version: containerdVersion, repo: "docker",
			fields: "Depends: libc6, libseccomp2\nConflicts: containerd, runc\nReplaces: containerd, runc\nProvides: containerd, runc\n",
			files: map[string]string{
				"/etc/containerd/config.toml":            c + "/etc/containerd/config.toml",
				"/lib/systemd/system/containerd.service": c + "/lib/systemd/system/containerd.service",
				"/usr/bin/containerd":                    c + "/usr/bin/containerd",
				"/usr/bin/containerd-shim":               c + "/usr/bin/containerd-shim",
				"/usr/bin/containerd-shim-runc-v1":       c + "/usr/bin/containerd-shim-runc-v1",
				"/usr/bin/containerd-shim-runc-v2":       c + "/usr/bin/containerd-shim-runc-v2",
				"/usr/bin/ctr":                           c + "/usr/bin/ctr",
				"/usr/bin/runc":                          r + "/usr/sbin/runc",
			},
			conffiles: []string{"/etc/containerd/config.toml"},
			scripts:   map[string]string{"postinst": enableStart("containerd.service")}},
		{name: "docker-ce-cli", version: dockerVersion, repo: "docker",
			fields: "Depends: libc6\nConflicts: docker.io\n",
			files:  map[string]string{"/usr/bin/docker": d + "/usr/bin/docker"}},
		{name: "docker-ce", version: dockerVersion, repo: "docker",
			fields: "Depends: containerd.io (>= 1.6), docker-ce-cli, iptables, libc6, libdevmapper1.02.1, libsystemd0\nConflicts: docker.io\n",
			files: map[string]string{
				"/etc/default/docker":                d + "/etc/default/docker",
				"/lib/systemd/system/docker.service": d + "/lib/systemd/system/docker.service",
				"/lib/systemd/system/docker.socket":  d + "/lib/systemd/system/docker.socket",
				"/lib/udev/rules.d/80-docker.rules":  d + "/lib/udev/rules.d/80-docker.rules",
				"/usr/sbin/dockerd":                  d + "/usr/sbin/dockerd",
				"/usr/sbin/docker-proxy":             d + "/usr/sbin/docker-proxy",
			},
			conffiles: []string{"/etc/default/docker"},
			// docker.socket is owned by group docker, as Docker's postinst makes it.
			scripts: map[string]string{"postinst": strings.Replace(enableStart("docker.socket docker.service"), "set -e\n", "set -e\ngetent group docker >/dev/null || groupadd --system docker\n", 1)}},
		{name: "nomad", version: nomadVersion + "-1", repo: "hashicorp",
			fields: "Depends: libc6\n",
			files: map[string]string{
				"/usr/bin/nomad":                        nomad,
				"/usr/lib/systemd/system/nomad.service": filepath.Join(rel, "package/usr/lib/systemd/system/nomad.service"),
				"/etc/nomad.d/nomad.hcl":                filepath.Join(rel, "package/etc/nomad.d/nomad.hcl"),
				"/etc/nomad.d/nomad.env":                filepath.Join(rel, "package/etc/nomad.d/nomad.env"),
			},
			conffiles: []string{"/etc/nomad.d/nomad.hcl", "/etc/nomad.d/nomad.env"},
			scripts:   map[string]string{"preinst": script("preinst"), "postinst": script("postinst"), "postrm": script("postrm")}},
		{name: "google-cloud-ops-agent", version: "0.0.0~e2e-stand-in-1", repo: "google",
			fields: "Depends: libc6\nConflicts: google-fluentd\n",
			contents: map[string]string{
				"/lib/systemd/system/google-cloud-ops-agent.service":                       opsUnit,
				"/lib/systemd/system/google-cloud-ops-agent-fluent-bit.service":            fluentBitUnit,
				"/etc/google-cloud-ops-agent/config.yaml":                                  "# Default configuration of the stand-in; tetranomad writes its own.\nlogging:\n  receivers: {}\n",
				"/opt/google-cloud-ops-agent/libexec/google_cloud_ops_agent_engine":        engine,
				"/opt/google-cloud-ops-agent/subagents/opentelemetry-collector/otelopscol": idle,
				"/opt/google-cloud-ops-agent/subagents/fluent-bit/bin/fluent-bit":          fluentBit,
			},
			conffiles: []string{"/etc/google-cloud-ops-agent/config.yaml"},
			scripts:   map[string]string{"postinst": enableStart("google-cloud-ops-agent.service")}},
	}
	var out []vendorDeb
	for _, s := range specs {
		out = append(out, s.build(t, dir, arch))
	}
	return out
}

type debSpec struct {
	name, version, repo string
	fields              string            // extra control fields
	files               map[string]string // path in the package -> file on this machine
	contents            map[string]string // path in the package -> content (executable under /opt)
	conffiles           []string
	scripts             map[string]string // maintainer scripts
}

func (s debSpec) build(t *testing.T, dir, arch string) vendorDeb {
	t.Helper()
	root := filepath.Join(dir, s.name)
	must(t, os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755))
	for dest, src := range s.files {
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(dest)), 0o755))
		run(t, "", "cp", "-L", "--preserve=mode", src, filepath.Join(root, dest))
	}
	for dest, content := range s.contents {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(dest, "/opt/") {
			mode = 0o755
		}
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(dest)), 0o755))
		must(t, os.WriteFile(filepath.Join(root, dest), []byte(content), mode))
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: tetranomad e2e <e2e@tetranomad.invalid>\n%sDescription: %s stand-in built by tetranomad's e2e test\n",
		s.name, s.version, arch, s.fields, s.name)
	must(t, os.WriteFile(filepath.Join(root, "DEBIAN", "control"), []byte(control), 0o644))
	if len(s.conffiles) > 0 {
		must(t, os.WriteFile(filepath.Join(root, "DEBIAN", "conffiles"), []byte(strings.Join(s.conffiles, "\n")+"\n"), 0o644))
	}
	for name, body := range s.scripts {
		must(t, os.WriteFile(filepath.Join(root, "DEBIAN", name), []byte(body), 0o755))
	}
	deb := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", s.name, s.version, arch))
	run(t, "", "dpkg-deb", "--root-owner-group", "-Znone", "--build", root, deb)
	return vendorDeb{name: s.name, version: s.version, repo: s.repo, path: deb}
}

// nomadModuleDir is the nomad module of that version in the module cache
// (test/tools/ensure-tool downloaded it to build the binary).
func nomadModuleDir(t *testing.T, version string) string {
	t.Helper()
	out := run(t, t.TempDir(), "go", "mod", "download", "-json", "github.com/hashicorp/nomad@v"+version)
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download github.com/hashicorp/nomad@v%s: %v %s", version, err, out)
	}
	return mod.Dir
}

// mirror serves the signed repositories on the host end of the target's veth.
type mirror struct {
	addr, root string
	mu         sync.Mutex
	reqs       []string
}

func startMirror(t *testing.T, hostIP, root string) *mirror {
	t.Helper()
	must(t, os.MkdirAll(root, 0o755))
	ln, err := net.Listen("tcp", net.JoinHostPort(hostIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	m := &mirror{addr: ln.Addr().String(), root: root}
	files := http.FileServer(http.Dir(root))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.reqs = append(m.reqs, r.Method+" "+r.URL.Path)
		m.mu.Unlock()
		files.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

func (m *mirror) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.reqs...)
}

// requests counts the requests whose path has both substrings.
func (m *mirror) requests(a, b string) int {
	n := 0
	for _, r := range m.log() {
		if strings.Contains(r, a) && strings.Contains(r, b) {
			n++
		}
	}
	return n
}

// publish writes the three vendors' repositories under root/NAME, in each
// vendor's layout (suites, components, key location), signed with key.
func (m *mirror) publish(t *testing.T, name string, debs []vendorDeb, key signingKey) {
	t.Helper()
	for _, v := range []struct{ repo, base, suite, component, keyPath string }{
		{"docker", "docker/debian", "bookworm", "stable", "gpg"},
		{"hashicorp", "hashicorp", "bookworm", "main", "gpg"},
		{"google", "google/apt", "google-cloud-ops-agent-bookworm-all", "main", "doc/apt-key.gpg"},
	} {
		base := filepath.Join(m.root, name, v.base)
		var pkgs []vendorDeb
		for _, d := range debs {
			if d.repo == v.repo {
				pkgs = append(pkgs, d)
			}
		}
		writeAptRepo(t, base, v.suite, v.component, pkgs, key)
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(base, v.keyPath)), 0o755))
		must(t, os.WriteFile(filepath.Join(base, v.keyPath), key.armored, 0o644))
	}
}

// writeAptRepo writes a flat pool, the Packages index and an InRelease
// signed with key: what apt-ftparchive and gpg --clearsign would make.
func writeAptRepo(t *testing.T, base, suite, component string, debs []vendorDeb, key signingKey) {
	t.Helper()
	sort.Slice(debs, func(i, j int) bool { return debs[i].name < debs[j].name })
	arch := strings.TrimSpace(run(t, "", "dpkg", "--print-architecture"))
	must(t, os.MkdirAll(filepath.Join(base, "pool"), 0o755))
	var index bytes.Buffer
	for _, d := range debs {
		rel := "pool/" + filepath.Base(d.path)
		// Linked, not copied: the packages are big and both mirrors hold them.
		must(t, os.Link(d.path, filepath.Join(base, rel)))
		data, err := os.ReadFile(d.path)
		must(t, err)
		sum := sha256.Sum256(data)
		index.WriteString(strings.TrimRight(run(t, "", "dpkg-deb", "-f", d.path), "\n") + "\n")
		fmt.Fprintf(&index, "Filename: %s\nSize: %d\nSHA256: %s\n\n", rel, len(data), hex.EncodeToString(sum[:]))
	}
	dist := filepath.Join(base, "dists", suite)
	pkgRel := component + "/binary-" + arch + "/Packages"
	must(t, os.MkdirAll(filepath.Dir(filepath.Join(dist, pkgRel)), 0o755))
	must(t, os.WriteFile(filepath.Join(dist, pkgRel), index.Bytes(), 0o644))
	sum := sha256.Sum256(index.Bytes())
	release := fmt.Sprintf("Origin: tetranomad-e2e\nLabel: tetranomad-e2e\nSuite: %s\nCodename: %s\nDate: %s\nArchitectures: %s\nComponents: %s\nSHA256:\n %s %d %s\n",
		suite, suite, time.Now().UTC().Format(time.RFC1123), arch, component, hex.EncodeToString(sum[:]), index.Len(), pkgRel)
	must(t, os.WriteFile(filepath.Join(dist, "Release"), []byte(release), 0o644))
	key.gpg(t, "--local-user", key.fingerprint, "--clearsign", "--output", filepath.Join(dist, "InRelease"), filepath.Join(dist, "Release"))
}

func first(t *testing.T, glob string) string {
	t.Helper()
	m, _ := filepath.Glob(glob)
	if len(m) == 0 {
		t.Fatalf("nothing matches %s", glob)
	}
	return m[0]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func runErr(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
