//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/hostsetup"
)

// Issue 6: the whole path on one machine. See FULLPATH.md for what is real
// and what stands in.
const (
	fpBucket      = "tetranomad-e2e"
	fpPrefix      = "e2e"
	fpTag         = "tetragon.e2e"
	fpRecords     = "/var/lib/fluentrecv/records.jsonl"
	fpPolicyMount = "/etc/tetragon/tetragon.tp.d"
	fpTetragonImg = "quay.io/cilium/tetragon:v1.7.0"
	fpExportImg   = "quay.io/cilium/hubble-export-stdout:v1.2.0"
)

// fpEnv is one full-path run: the target, the bucket, the nomad address.
type fpEnv struct {
	t     *testing.T
	tg    *target
	gcs   *fakeGCS
	addr  string
	nomad string
}

func TestFullPath(t *testing.T) {
	requireHarness(t)
	requireProvisioner(t)
	start := time.Now()
	phase := func(name string, since time.Time) {
		t.Logf("timing: %s %s", name, time.Since(since).Round(time.Millisecond))
	}
	e := &fpEnv{t: t, nomad: nomadBinary(t)}
	e.tg = freshTarget(t, uniqueName("fp"), -1)
	e.gcs = startFakeGCS(t, e.tg.HostIP)
	e.addr = "http://" + net.JoinHostPort(e.tg.NodeIP, "4646")
	e.fixtures()

	// 1. Bake and publish in one packer build.
	t0 := time.Now()
	out1 := filepath.Join(t.TempDir(), "bundle")
	pol := e.writePolicy("security_bprm_check")
	res := e.packer(out1, pol)
	if res.Err != nil {
		t.Fatalf("packer build (provisioner + tetranomad-publish) failed: %v\n%s", res.Err, tail(res.Output, 80))
	}
	phase("packer build + publish", t0)
	m1 := readManifest(t, out1)

	// 2. Stub images and the forward receiver, inside the target.
	t0 = time.Now()
	e.importStubImages()
	e.startReceiver()
	e.waitNodeReady()
	phase("stub images, receiver, node ready", t0)

	// 3. The jobspec as a user gets it: latest.json, then the object it names.
	jobspec1, bundle1 := e.fetchPublishedJobspec()
	if bundle1 != m1.raw["bundle_id"] {
		t.Fatalf("latest.json names bundle %s, the build rendered %v", bundle1, m1.raw["bundle_id"])
	}
	policies1 := manifestPolicies(t, m1)

	t.Run("happy-path", func(t *testing.T) {
		t0 := time.Now()
		alloc := e.runJob(t, jobspec1)
		phase("job run to healthy", t0)
		e.checkArtifacts(t, alloc, m1)
		e.checkStubSaw(t, policies1)
		e.waitRecords(t, policies1, 1, 90*time.Second)
		e.checkMounts(t, alloc)
		// Evidence for FULLPATH.md: without the wrapper, runc itself cannot
		// start a privileged container on this machine.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := e.tg.exec(ctx, "docker", "run", "--rm", "--runtime=runc", "--privileged", "--entrypoint", "/bin/true", fpTetragonImg)
		t.Logf("docker run --privileged with plain runc: err=%v %s", err, strings.TrimSpace(tail(out, 3)))
	})
	if t.Failed() {
		return
	}

	t.Run("fault-tampered-policy", func(t *testing.T) {
		t0 := time.Now()
		e.tamperedPolicy(t, jobspec1, m1)
		phase("fault tampered policy", t0)
	})
	t.Run("fault-receiver-down-at-start", func(t *testing.T) {
		t0 := time.Now()
		e.receiverDown(t, jobspec1, policies1)
		phase("fault receiver down", t0)
	})
	t.Run("fault-nomad-agent-restart", func(t *testing.T) {
		t0 := time.Now()
		e.agentRestart(t)
		phase("fault agent restart", t0)
	})
	t.Run("second-build-old-jobspec", func(t *testing.T) {
		t0 := time.Now()
		out2 := filepath.Join(t.TempDir(), "bundle")
		res := e.packer(out2, e.writePolicy("tcp_close"))
		if res.Err != nil {
			t.Fatalf("second packer build failed: %v\n%s", res.Err, tail(res.Output, 60))
		}
		_, bundle2 := e.fetchPublishedJobspec()
		if bundle2 == bundle1 {
			t.Fatalf("a changed policy published the same bundle id %s", bundle2)
		}
		// The first bundle's objects are untouched, and the old jobspec,
		// unchanged, still runs the old policies.
		for _, f := range m1.Files {
			obj := fpPrefix + "/bundles/" + bundle1 + "/" + f.Path
			if got := sha256Hex(e.gcs.object(t, obj)); got != f.SHA256 {
				t.Errorf("after the second publish %s has sha256 %s, the first manifest says %s", obj, got, f.SHA256)
			}
		}
		e.stopJob(t)
		e.runJob(t, jobspec1)
		e.checkStubSaw(t, policies1)
		phase("second build + old jobspec", t0)
		t.Logf("bundle ids: first %s, second %s", bundle1, bundle2)
	})
	t.Logf("timing: whole TestFullPath %s", time.Since(start).Round(time.Millisecond))
}

// fixtures prepares what is not under test: the target is its own Nomad
// server, the fluent receiver and the runtime wrapper are installed, and
// Docker's default runtime is the wrapper (see capwrap; daemon.json is
// merged by the provisioner, so these keys survive it).
func (e *fpEnv) fixtures() {
	t := e.t
	for _, b := range []struct{ pkg, dest string }{
		{"./test/e2e/fullpath/fluentrecv", "usr/local/bin/fluentrecv"},
		{"./test/e2e/fullpath/capwrap", "usr/local/bin/capwrap"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(e.tg.Rootfs, b.dest), b.pkg)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	e.tg.sh(t, `mkdir -p /etc/nomad.d /etc/docker /var/lib/fluentrecv
printf 'server {\n  enabled          = true\n  bootstrap_expect = 1\n}\n' >`+e2eServerConfig+`
cat >/etc/docker/daemon.json <<'JSON'
{
  "runtimes": {"capwrap": {"path": "/usr/local/bin/capwrap"}},
  "default-runtime": "capwrap"
}
JSON`)
}

func (e *fpEnv) writePolicy(hook string) string {
	p := filepath.Join(e.t.TempDir(), "e2e-marker.yaml")
	body := fmt.Sprintf(`# The test's own policy; the second build changes its hook.
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: e2e-marker
spec:
  kprobes:
    - call: %s
      syscall: false
      args:
        - index: 0
          type: int
`, hook)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *fpEnv) packer(outDir, policyFile string) packerResult {
	t := e.t
	vars := provisionVars(t, outDir, map[string]string{
		"ssh_host": e.tg.SSHHost, "ssh_port": e.tg.SSHPort, "ssh_username": e.tg.SSHUser,
		"ssh_private_key_file": e.tg.SSHKey,
		"bucket":               fpBucket, "download_base_url": "http://" + e.gcs.host,
		"log_tag": fpTag, "policy_files": `["` + policyFile + `"]`,
	})
	args := []string{"build", "-color=false"}
	for k, v := range vars {
		args = append(args, "-var", k+"="+v)
	}
	tmpl, _ := filepath.Abs(filepath.Join("testdata", "fullpath", "fullpath.pkr.hcl"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.packer, append(args, tmpl)...)
	cmd.Env = append(append([]string{}, h.packerEnv...), "STORAGE_EMULATOR_HOST="+e.gcs.host)
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	logPhase("%s: packer build fullpath.pkr.hcl: %s (err=%v)", t.Name(), time.Since(start).Round(time.Millisecond), err)
	return packerResult{Output: out.String(), Err: err, Duration: time.Since(start)}
}

// importStubImages builds both images from Debian's static busybox plus the
// stub script and imports them under the jobspec's exact names.
func (e *fpEnv) importStubImages() {
	t := e.t
	script, err := os.ReadFile(filepath.Join("testdata", "fullpath", "stub", "tetragon"))
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile(stubImage(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(base))
	have := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		have[strings.TrimPrefix(hdr.Name, "./")] = true
		tw.WriteHeader(hdr)
		io.Copy(tw, tr)
	}
	for _, applet := range []string{"awk", "cut", "date", "dirname", "grep", "hostname", "httpd", "kill", "mkdir", "mv", "printf", "sha256sum", "tail", "wc", "rm", "touch"} {
		if !have["bin/"+applet] {
			tw.WriteHeader(&tar.Header{Name: "./bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
		}
	}
	for _, d := range []string{"./usr/", "./usr/bin/", "./tmp/", "./run/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o1777})
	}
	tw.WriteHeader(&tar.Header{Name: "./usr/bin/tetragon", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(script))})
	tw.Write(script)
	tw.Close()
	if err := os.WriteFile(filepath.Join(e.tg.Rootfs, "var/tmp/fullpath-stub.tar"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	e.tg.sh(t, `export PATH=/bin:/usr/bin:/usr/sbin:/sbin
docker import --change 'ENV PATH=/bin:/usr/bin' --change 'ENTRYPOINT ["/usr/bin/tetragon"]' /var/tmp/fullpath-stub.tar `+fpTetragonImg+` >/dev/null
docker import --change 'ENV PATH=/bin:/usr/bin' --change 'ENTRYPOINT ["/bin/tail", "-F"]' /var/tmp/fullpath-stub.tar `+fpExportImg+` >/dev/null
rm -f /var/tmp/fullpath-stub.tar`)
}

func (e *fpEnv) startReceiver() {
	// The receiver stamps each record as the Ops Agent's parse_json,
	// configured by tetranomad, would (fluentrecv's agentClock).
	e.tg.sh(e.t, `systemd-run --unit=fluentrecv --property=Restart=no /usr/local/bin/fluentrecv -listen 127.0.0.1:24224 -out `+fpRecords+
		` -time-key `+hostsetup.TimeKey+` -time-format '`+hostsetup.OpsTimeFormat+`' >/dev/null
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/24224) 2>/dev/null && exit 0; sleep 0.1; done
echo "fluentrecv did not listen" >&2; journalctl -u fluentrecv --no-pager -n 20 >&2; exit 1`)
}

func (e *fpEnv) stopReceiver() {
	e.tg.sh(e.t, `systemctl stop fluentrecv; systemctl reset-failed fluentrecv 2>/dev/null || true`)
}
