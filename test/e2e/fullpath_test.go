//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

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

// fakeGCS is fake-gcs-server on the host end of the target's veth: the
// post-processor uploads to it (STORAGE_EMULATOR_HOST) and the target's
// Nomad downloads /<bucket>/<object> from it over plain http.
type fakeGCS struct {
	fake *fakestorage.Server
	host string // host:port
	mu   sync.Mutex
	gets []string // "remote-ip path" of every GET
}

func startFakeGCS(t *testing.T, hostIP string) *fakeGCS {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(hostIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGCS{host: ln.Addr().String()}
	g.fake, err = fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true, Scheme: "http", PublicHost: g.host, ExternalURL: "http://" + g.host, Writer: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	g.fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: fpBucket})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			ip, _, _ := net.SplitHostPort(r.RemoteAddr)
			g.mu.Lock()
			g.gets = append(g.gets, ip+" "+r.URL.Path)
			g.mu.Unlock()
		}
		g.fake.HTTPHandler().ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); g.fake.Stop() })
	return g
}

func (g *fakeGCS) object(t *testing.T, name string) []byte {
	t.Helper()
	o, err := g.fake.GetObject(fpBucket, name)
	if err != nil {
		t.Fatalf("fake bucket: %s: %v", name, err)
	}
	return o.Content
}

func (g *fakeGCS) put(name string, data []byte) {
	g.fake.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: fpBucket, Name: name}, Content: data})
}

func (g *fakeGCS) getsFrom(ip, pathSuffix string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, s := range g.gets {
		if strings.HasPrefix(s, ip+" ") && strings.HasSuffix(s, pathSuffix) {
			n++
		}
	}
	return n
}

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

func (e *fpEnv) nomadCmd(ctx context.Context, args ...string) (string, error) {
	return e.tg.exec(ctx, append([]string{"env", "NOMAD_ADDR=" + e.addr, "nomad"}, args...)...)
}

func (e *fpEnv) api(t *testing.T, path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := e.tg.exec(ctx, "nomad", "operator", "api", "-address="+e.addr, path)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), v)
}

func (e *fpEnv) waitNodeReady() {
	t := e.t
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var nodes []struct {
			Status  string
			Drivers map[string]struct{ Healthy bool }
		}
		err := e.api(t, "/v1/nodes?resources=false", &nodes)
		if err == nil && len(nodes) == 1 && nodes[0].Status == "ready" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nomad node not ready after 2m (err=%v, nodes=%+v)\n%s", err, nodes, e.tg.sh(t, "journalctl -u nomad --no-pager -n 40 || true"))
		}
		time.Sleep(2 * time.Second)
	}
}

// fetchPublishedJobspec reads latest.json and the jobspec it names from
// inside the target, over the same http the artifacts use.
func (e *fpEnv) fetchPublishedJobspec() (path, bundleID string) {
	t := e.t
	base := "http://" + e.gcs.host + "/" + fpBucket + "/"
	var ptr struct {
		BundleID      string `json:"bundle_id"`
		JobspecObject string `json:"jobspec_object"`
		JobspecURL    string `json:"jobspec_url"`
	}
	if err := json.Unmarshal([]byte(e.tg.must(t, "curl", "-fsS", base+fpPrefix+"/latest.json")), &ptr); err != nil {
		t.Fatalf("latest.json: %v", err)
	}
	if ptr.JobspecURL != base+ptr.JobspecObject {
		t.Errorf("latest.json jobspec_url %q is not the download base + object %q", ptr.JobspecURL, ptr.JobspecObject)
	}
	path = "/root/tetragon-" + ptr.BundleID + ".nomad.hcl"
	e.tg.must(t, "curl", "-fsS", "-o", path, ptr.JobspecURL)
	return path, ptr.BundleID
}

type allocInfo struct {
	ID               string
	ClientStatus     string
	DeploymentStatus *struct{ Healthy *bool }
	TaskStates       map[string]struct {
		State  string
		Events []struct {
			Type, DisplayMessage string
			Details              map[string]string
		}
	}
	CreateIndex uint64
}

func (e *fpEnv) allocs(t *testing.T) []allocInfo {
	var list []allocInfo
	if err := e.api(t, "/v1/job/tetragon/allocations", &list); err != nil {
		t.Logf("allocations: %v", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].CreateIndex > list[j].CreateIndex })
	return list
}

func (e *fpEnv) runJob(t *testing.T, jobspec string) allocInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := e.nomadCmd(ctx, "job", "run", "-detach", jobspec); err != nil {
		t.Fatalf("nomad job run %s: %v\n%s", jobspec, err, out)
	}
	return e.waitHealthy(t, 3*time.Minute)
}

// waitHealthy waits for the newest allocation to run with both tasks up and
// every Nomad service check passing.
func (e *fpEnv) waitHealthy(t *testing.T, limit time.Duration) allocInfo {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last allocInfo
	var checks map[string]struct{ Status, Output string }
	for time.Now().Before(deadline) {
		if list := e.allocs(t); len(list) > 0 {
			last = list[0]
			if last.ClientStatus == "running" && last.TaskStates["tetragon"].State == "running" && last.TaskStates["export"].State == "running" {
				checks = nil
				if err := e.api(t, "/v1/client/allocation/"+last.ID+"/checks", &checks); err == nil && len(checks) == 2 && allPass(checks) {
					return last
				}
			}
		}
		time.Sleep(3 * time.Second)
	}
	t.Fatalf("allocation not running and healthy after %s: status %q checks %+v tasks %s\n%s", limit, last.ClientStatus, checks, taskEvents(last),
		e.tg.sh(t, "journalctl -u nomad --no-pager -n 30 || true; docker ps -a || true"))
	return last
}

func allPass(checks map[string]struct{ Status, Output string }) bool {
	for _, c := range checks {
		if c.Status != "success" {
			return false
		}
	}
	return true
}

func taskEvents(a allocInfo) string {
	var b strings.Builder
	for name, ts := range a.TaskStates {
		fmt.Fprintf(&b, "\n  %s (%s):", name, ts.State)
		for _, ev := range ts.Events {
			fmt.Fprintf(&b, "\n    %s: %s", ev.Type, ev.DisplayMessage)
		}
	}
	return b.String()
}

func (e *fpEnv) stopJob(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := e.nomadCmd(ctx, "job", "stop", "-purge", "tetragon"); err != nil && !strings.Contains(err.Error(), "No job(s)") {
		t.Fatalf("nomad job stop: %v\n%s", err, out)
	}
	// The containers are gone before the next run starts, or the stub's
	// files would be written by two of them.
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if strings.TrimSpace(e.tg.must(t, "docker", "ps", "-q")) == "" {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("containers still running 90s after nomad job stop:\n%s", e.tg.must(t, "docker", "ps"))
}

func manifestPolicies(t *testing.T, m manifestDoc) map[string]string {
	out := map[string]string{} // name -> sha256 of its file
	pols, _ := m.raw["policies"].([]any)
	for _, p := range pols {
		pm := p.(map[string]any)
		name, file := pm["policy"].(string), pm["file"].(string)
		for _, f := range m.Files {
			if f.Path == file {
				out[name] = f.SHA256
			}
		}
	}
	if len(out) < 2 {
		t.Fatalf("manifest names %d policies with files (%v), want the library one and the test's", len(out), pols)
	}
	return out
}

// checkArtifacts: Nomad downloaded every policy object from the fake bucket
// (the target's own GETs, in the server's log) and the task events say so.
func (e *fpEnv) checkArtifacts(t *testing.T, a allocInfo, m manifestDoc) {
	bundleID := m.raw["bundle_id"].(string)
	for _, f := range m.Files {
		if f.Role != "policy" {
			continue
		}
		obj := fpPrefix + "/bundles/" + bundleID + "/" + f.Path
		if n := e.gcs.getsFrom(e.tg.SSHHost, "/"+fpBucket+"/"+obj); n == 0 {
			t.Errorf("the target never fetched %s from the fake bucket", obj)
		}
	}
	found := false
	for _, ev := range a.TaskStates["tetragon"].Events {
		if ev.Type == "Downloading Artifacts" {
			found = true
		}
	}
	if !found {
		t.Errorf("tetragon task has no \"Downloading Artifacts\" event:%s", taskEvents(a))
	}
}

// checkStubSaw: the stub's record of the files at the mounted policy path
// is exactly the manifest's policies, byte for byte.
func (e *fpEnv) checkStubSaw(t *testing.T, want map[string]string) {
	data, err := os.ReadFile(filepath.Join(e.tg.Rootfs, logDir, "stub-seen.txt"))
	if err != nil {
		t.Fatalf("the tetragon stub left no record of its policies: %v", err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || filepath.Dir(f[1]) != fpPolicyMount {
			t.Errorf("stub saw %q, not a file in %s", line, fpPolicyMount)
			continue
		}
		got[f[2]] = f[0]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stub saw policies %v, manifest has %v", got, want)
	}
}

type fpRecord struct {
	Tag       string
	Record    map[string]any
	AgentTime time.Time `json:"agent_time"`
}

func (e *fpEnv) records(t *testing.T) []fpRecord {
	data, _ := os.ReadFile(filepath.Join(e.tg.Rootfs, fpRecords))
	var out []fpRecord
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var r fpRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("receiver record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// waitRecords waits until the receiver holds, for each policy, at least
// atLeast records tagged fpTag whose log is Tetragon's JSON for it, and
// checks every record is such a line.
func (e *fpEnv) waitRecords(t *testing.T, policies map[string]string, atLeast int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		counts := map[string]int{}
		var bad []string
		for _, r := range e.records(t) {
			line, _ := r.Record["log"].(string)
			var ev struct {
				ProcessKprobe struct {
					PolicyName string `json:"policy_name"`
				} `json:"process_kprobe"`
				NodeName string `json:"node_name"`
				Time     string `json:"time"`
			}
			if r.Tag != fpTag || json.Unmarshal([]byte(line), &ev) != nil || ev.NodeName == "" || ev.Time == "" {
				bad = append(bad, fmt.Sprintf("%s %q", r.Tag, line))
				continue
			}
			// The entry's timestamp is Tetragon's own time, to the nanosecond.
			if tt, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil || !r.AgentTime.Equal(tt) {
				bad = append(bad, fmt.Sprintf("agent time %s for Tetragon time %q (%v)", r.AgentTime.Format(time.RFC3339Nano), ev.Time, err))
				continue
			}
			counts[ev.ProcessKprobe.PolicyName]++
		}
		if len(bad) > 0 {
			t.Fatalf("receiver got records that are not tag %s with Tetragon JSON: %v", fpTag, bad)
		}
		ok := len(counts) == len(policies)
		for name := range policies {
			if counts[name] < atLeast {
				ok = false
			}
		}
		if ok && (atLeast > 1 || allEqual(counts, 1)) {
			return
		}
		if time.Now().After(deadline) || (atLeast == 1 && !allAtMost(counts, 1)) {
			t.Fatalf("receiver counts per policy %v, want %d per policy of %v", counts, atLeast, keys(policies))
		}
		time.Sleep(2 * time.Second)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func allEqual(m map[string]int, n int) bool {
	for _, v := range m {
		if v != n {
			return false
		}
	}
	return true
}

func allAtMost(m map[string]int, n int) bool {
	for _, v := range m {
		if v > n {
			return false
		}
	}
	return true
}

// checkMounts: docker inspect shows the host volumes and the policy mount
// with the read-only flags the jobspec declares.
func (e *fpEnv) checkMounts(t *testing.T, a allocInfo) {
	want := map[string]map[string]bool{ // container -> destination -> RW
		"tetragon-" + a.ID: {"/var/lib/tetragon/btf": false, "/var/log/tetragon": true, "/sys/fs/bpf": true, fpPolicyMount: false},
		"export-" + a.ID:   {"/var/log/tetragon": false},
	}
	for name, dests := range want {
		var mounts []struct {
			Source, Destination string
			RW                  bool
		}
		if err := json.Unmarshal([]byte(e.tg.must(t, "docker", "inspect", "-f", "{{json .Mounts}}", name)), &mounts); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, m := range mounts {
			got[m.Destination] = m.RW
		}
		for d, rw := range dests {
			if g, ok := got[d]; !ok || g != rw {
				t.Errorf("container %s: mount %s present=%v RW=%v, want RW=%v (mounts %+v)", name, d, ok, g, rw, mounts)
			}
		}
	}
	if out := strings.TrimSpace(e.tg.must(t, "docker", "inspect", "-f", "{{.HostConfig.Privileged}} {{.HostConfig.PidMode}}", "tetragon-"+a.ID)); out != "true host" {
		t.Errorf("tetragon container privileged/pid mode %q, want \"true host\"", out)
	}
	logCfg := e.tg.must(t, "docker", "inspect", "-f", "{{json .HostConfig.LogConfig}}", "export-"+a.ID)
	for _, want := range []string{`"Type":"fluentd"`, `"fluentd-async":"true"`, `"tag":"` + fpTag + `"`, `"mode":"non-blocking"`} {
		if !strings.Contains(logCfg, want) {
			t.Errorf("export container log config %s lacks %s", strings.TrimSpace(logCfg), want)
		}
	}
	// The one capability the runtime wrapper removed is the one this
	// machine cannot grant (see capwrap and FULLPATH.md).
	if log := e.tg.must(t, "cat", "/var/log/capwrap.log"); !strings.Contains(log, "dropped CAP_SYS_RESOURCE (") {
		t.Errorf("capwrap log does not show exactly CAP_SYS_RESOURCE dropped:\n%s", log)
	} else {
		t.Logf("capwrap: %s", strings.TrimSpace(tail(log, 1)))
	}
}

// tamperedPolicy: one policy object in the bucket is replaced; a new
// allocation must fail its artifact checksum and no container may start.
func (e *fpEnv) tamperedPolicy(t *testing.T, jobspec string, m manifestDoc) {
	e.stopJob(t)
	var obj string
	for _, f := range m.Files {
		if f.Role == "policy" {
			obj = fpPrefix + "/bundles/" + m.raw["bundle_id"].(string) + "/" + f.Path
			break
		}
	}
	orig := e.gcs.object(t, obj)
	e.gcs.put(obj, append(append([]byte{}, orig...), []byte("\n# tampered\n")...))
	defer e.gcs.put(obj, orig)
	e.tg.must(t, "rm", "-f", filepath.Join(logDir, "stub-seen.txt"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := e.nomadCmd(ctx, "job", "run", "-detach", jobspec); err != nil {
		t.Fatalf("nomad job run: %v\n%s", err, out)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if list := e.allocs(t); len(list) > 0 {
			for _, ev := range list[0].TaskStates["tetragon"].Events {
				msg := strings.ToLower(ev.DisplayMessage + " " + fmt.Sprint(ev.Details))
				if ev.Type == "Failed Artifact Download" && strings.Contains(msg, "checksum") {
					t.Logf("nomad reports: %s: %s", ev.Type, ev.DisplayMessage)
					if ps := strings.TrimSpace(e.tg.must(t, "docker", "ps", "-aq")); ps != "" {
						t.Errorf("containers exist although the artifact failed: %s", e.tg.must(t, "docker", "ps", "-a"))
					}
					if _, err := os.Stat(filepath.Join(e.tg.Rootfs, logDir, "stub-seen.txt")); err == nil {
						t.Error("the stub ran (stub-seen.txt exists) with a tampered policy")
					}
					e.stopJob(t)
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checksum failure reported within 2m:%s", taskEvents(list[0]))
			}
		}
		time.Sleep(2 * time.Second)
	}
}

// receiverDown: with nothing on 127.0.0.1:24224 the job still starts
// (fluentd-async), and the buffered lines arrive once the receiver is back.
func (e *fpEnv) receiverDown(t *testing.T, jobspec string, policies map[string]string) {
	e.stopJob(t)
	e.stopReceiver()
	// The export file lives in the host volume and survives the job; the
	// sidecar (tail -F, like the real image) would resend its last lines.
	// Start from empty files so "one record per policy" is exact.
	e.tg.must(t, "truncate", "-s", "0", fpRecords, filepath.Join(logDir, "tetragon.log"))
	e.runJob(t, jobspec)
	time.Sleep(5 * time.Second)
	if n := len(e.records(t)); n != 0 {
		t.Fatalf("receiver is down but %d records exist", n)
	}
	back := time.Now()
	e.startReceiver()
	e.waitRecords(t, policies, 1, 3*time.Minute)
	t.Logf("buffered records arrived %s after the receiver came back", time.Since(back).Round(time.Second))
}

// agentRestart: the Nomad agent stops, the job's containers are removed
// while it is down, the agent starts again: the job must come back.
func (e *fpEnv) agentRestart(t *testing.T) {
	before := e.allocs(t)
	if len(before) == 0 {
		t.Fatal("no allocation before the restart")
	}
	oldID := strings.TrimSpace(e.tg.must(t, "docker", "inspect", "-f", "{{.Id}}", "tetragon-"+before[0].ID))
	e.tg.sh(t, `systemctl stop nomad; docker rm -f $(docker ps -aq) >/dev/null; systemctl start nomad`)
	e.waitNodeReady()
	a := e.waitHealthy(t, 3*time.Minute)
	newID := strings.TrimSpace(e.tg.must(t, "docker", "inspect", "-f", "{{.Id}}", "tetragon-"+a.ID))
	if newID == oldID {
		t.Errorf("tetragon container %s is the one removed before the restart", newID)
	}
	t.Logf("after the agent restart: allocation %s (before %s), new container %.12s", a.ID, before[0].ID, newID)
}
