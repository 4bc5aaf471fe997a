// Command publish benchmarks publishing bundles of 10, 100 and 1000 policies
// to fake-gcs-server on loopback: `packer-plugin-tetranomad publish` (the
// real binary) against `gcloud storage cp -r` and `gcloud storage rsync -r`
// on the same server, plus a naive sequential uploader written with the same
// client library, and the re-publish of an unchanged bundle. It prints two
// tables with ratios measured in the same run. Run it through bench/publish/run.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/publish"
	"github.com/tetranomad/packer-plugin-tetranomad/publish/gcstest"
)

const benchBucket = "tn-bench"

func main() {
	plugin := flag.String("plugin", "", "packer-plugin-tetranomad binary to measure (required)")
	work := flag.String("work", "", "scratch directory (default: a new temporary one)")
	sizesFlag := flag.String("sizes", "10,100,1000", "bundle sizes, in policies")
	reps := flag.Int("reps", 3, "repetitions per measurement; the median is shown")
	gcloudFlag := flag.String("gcloud", "", "gcloud binary (default: $PATH)")
	flag.Parse()
	if *plugin == "" {
		fail("-plugin is required")
	}
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fail("-sizes: %q is not a positive number", s)
		}
		sizes = append(sizes, n)
	}
	if *work == "" {
		d, err := os.MkdirTemp("", "tn-bench-")
		check(err)
		defer os.RemoveAll(d)
		*work = d
	}
	gcloud := *gcloudFlag
	if gcloud == "" {
		gcloud, _ = exec.LookPath("gcloud")
	}

	srv, err := gcstest.Start(benchBucket)
	check(err)
	defer srv.Close()
	b := &bench{srv: srv, plugin: *plugin, gcloud: gcloud, work: *work, reps: *reps}
	b.env = append(os.Environ(), "STORAGE_EMULATOR_HOST="+srv.Host)
	cfg := filepath.Join(*work, "gcloud-config")
	check(os.MkdirAll(cfg, 0o755))
	b.gcloudEnv = append(os.Environ(),
		"CLOUDSDK_CONFIG="+cfg,
		"CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true",
		"CLOUDSDK_CORE_PROJECT=bench",
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE="+srv.URL+"/storage/v1/")

	fmt.Printf("fake-gcs-server on %s (loopback, plain http); %d rep(s), median shown; %d CPU cores\n", srv.URL, *reps, runtime.NumCPU())
	fmt.Printf("ours:   %s publish (a fresh process each run: ADC client, list, parallel uploads, latest.json)\n", *plugin)
	if gcloud != "" {
		out, _ := exec.Command(gcloud, "--version").Output()
		fmt.Printf("peer:   %s storage cp -r / rsync -r  (%s)\n", gcloud, firstLine(string(out)))
		// The first gcloud run compiles and caches; keep that out of the numbers.
		_, _ = b.gcloudRun("storage", "ls", "gs://"+benchBucket)
	} else {
		fmt.Println("peer:   gcloud not found (set -gcloud or install google-cloud-cli); only the sequential uploader is measured")
	}
	fmt.Println("naive:  sequential uploader, same Go client library, default Writer, one object at a time, in-process")
	fmt.Println()

	var cold, warm []row
	for _, n := range sizes {
		dir := filepath.Join(*work, fmt.Sprintf("bundle-%d", n))
		bd := makeBundle(n)
		check(bd.WriteDir(dir))
		objects, bytes := len(bd.Manifest.Files)+1, dirBytes(dir)
		c, w := b.measure(n, dir, objects, bytes)
		cold, warm = append(cold, c), append(warm, w)
	}
	printCold(cold, gcloud != "")
	fmt.Println()
	printWarm(warm, gcloud != "")
}

type bench struct {
	srv       *gcstest.Server
	plugin    string
	gcloud    string
	work      string
	reps      int
	env       []string
	gcloudEnv []string
}

// sample is one measured run.
type sample struct {
	d        time.Duration
	uploads  int64
	requests int64
}

type row struct {
	policies, objects int
	bytes             int64
	ours, cp, rsync   sample
	naive, lib        sample
}

func (b *bench) measure(n int, dir string, objects int, size int64) (cold, warm row) {
	cold = row{policies: n, objects: objects, bytes: size}
	warm = cold
	fresh := func() { check(b.srv.DeleteAll(benchBucket)) }

	cold.ours = b.median(fresh, func() error { return b.run(b.plugin, b.env, "publish", "-bundle", dir) })
	// The bucket now holds this bundle: publishing it again is the unchanged case.
	warm.ours = b.median(nil, func() error { return b.run(b.plugin, b.env, "publish", "-bundle", dir) })
	cold.lib = b.median(fresh, func() error { return libPublish(b.srv, dir) })
	warm.lib = b.median(nil, func() error { return libPublish(b.srv, dir) })
	cold.naive = b.median(fresh, func() error { return naiveUpload(b.srv, dir, "naive") })
	if b.gcloud != "" {
		cold.cp = b.median(fresh, func() error {
			_, err := b.gcloudRun("storage", "cp", "-r", dir, "gs://"+benchBucket+"/cp/")
			return err
		})
		cold.rsync = b.median(fresh, func() error {
			_, err := b.gcloudRun("storage", "rsync", "-r", dir, "gs://"+benchBucket+"/rsync/")
			return err
		})
		warm.rsync = b.median(nil, func() error {
			_, err := b.gcloudRun("storage", "rsync", "-r", dir, "gs://"+benchBucket+"/rsync/")
			return err
		})
	}
	fmt.Fprintf(os.Stderr, "measured %d policies\n", n)
	return cold, warm
}

// median runs f reps times (each after prepare) and keeps the median time
// with that run's upload and request counts.
func (b *bench) median(prepare func(), f func() error) sample {
	var runs []sample
	for range b.reps {
		if prepare != nil {
			prepare()
		}
		u0, r0 := b.srv.Uploads.Load(), b.srv.Requests.Load()
		start := time.Now()
		check(f())
		runs = append(runs, sample{d: time.Since(start), uploads: b.srv.Uploads.Load() - u0, requests: b.srv.Requests.Load() - r0})
	}
	slices.SortFunc(runs, func(a, b sample) int { return int(a.d - b.d) })
	return runs[len(runs)/2]
}

func (b *bench) run(bin string, env []string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out.String())
	}
	return nil
}

func (b *bench) gcloudRun(args ...string) (string, error) {
	cmd := exec.Command(b.gcloud, args...)
	cmd.Env = b.gcloudEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("gcloud %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// libPublish is the publisher in-process: what the post-processor runs
// inside Packer, without a process start.
func libPublish(srv *gcstest.Server, dir string) error {
	ctx := context.Background()
	b, err := bundle.ReadDir(dir)
	if err != nil {
		return err
	}
	c, err := storage.NewClient(ctx, srv.Options()...)
	if err != nil {
		return err
	}
	defer c.Close()
	t, err := publish.ResolveTarget(&b.Manifest, "", "")
	if err != nil {
		return err
	}
	_, err = (&publish.Publisher{Store: publish.NewGCS(c, t.Bucket)}).Publish(ctx, b, t)
	return err
}

// naiveUpload is what a first version of a publisher would be: walk the
// directory and upload each file with the library's defaults, in sequence.
func naiveUpload(srv *gcstest.Server, dir, prefix string) error {
	ctx := context.Background()
	c, err := storage.NewClient(ctx, srv.Options()...)
	if err != nil {
		return err
	}
	defer c.Close()
	bkt := c.Bucket(benchBucket)
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		w := bkt.Object(prefix + "/" + filepath.ToSlash(rel)).NewWriter(ctx)
		if _, err := io.Copy(w, f); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})
}

// makeBundle is a bundle of n policies about the size of the library's
// (a kprobe policy with selectors, ~1.3 KiB) and a jobspec with one
// artifact block per policy, as the renderer writes it.
func makeBundle(n int) *bundle.Bundle {
	target := bundle.Target{Bucket: benchBucket, Prefix: "tn"}
	b := &bundle.Bundle{Manifest: bundle.Manifest{
		SchemaVersion: bundle.SchemaVersion,
		Contract:      "bench",
		Versions:      bundle.Versions{Tetragon: "v1.7.0", TetragonImage: "quay.io/cilium/tetragon:v1.7.0", ExportImage: "quay.io/cilium/hubble-export-stdout:v1.2.0", Nomad: "1.10.5"},
		Target:        target,
	}}
	var job strings.Builder
	job.WriteString("job \"tetragon\" {\n  type = \"system\"\n  group \"tetragon\" {\n    task \"tetragon\" {\n")
	for i := range n {
		p := fmt.Sprintf("%s/policy-%04d.yaml", bundle.PolicyDir, i)
		data := []byte(fmt.Sprintf(policyTemplate, i, i))
		check(b.Add(p, bundle.RolePolicy, data))
		sum := bundle.SHA256Hex(data)
		fmt.Fprintf(&job, "      artifact {\n        source      = \"gcs::https://www.googleapis.com/storage/v1/%s/tn/bundles/ID/%s\"\n        destination = \"local/policies/policy-%04d.yaml\"\n        mode        = \"file\"\n\n        options {\n          checksum = \"sha256:%s\"\n        }\n      }\n", benchBucket, p, i, sum)
	}
	job.WriteString("    }\n  }\n}\n")
	check(b.Add(bundle.JobspecPath, bundle.RoleJobspec, []byte(strings.ReplaceAll(job.String(), "/ID/", "/"+bundle.IDPlaceholder+"/"))))
	check(b.Add(bundle.NomadDir+"/tetragon.hcl", bundle.RoleClientConfig, []byte("client {\n  host_volume \"tetragon-btf\" {\n    path      = \"/sys/kernel/btf/vmlinux\"\n    read_only = true\n  }\n}\n")))
	// The id covers the whole bundle, as render's does (bundle.Seal).
	check(b.Seal())
	return b
}

const policyTemplate = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bench-policy-%04d
  annotations:
    description: "Observe reads and writes of sensitive files (benchmark copy %d)"
spec:
  kprobes:
  - call: "security_file_permission"
    syscall: false
    return: true
    args:
    - index: 0
      type: "file"
    - index: 1
      type: "int"
    returnArg:
      index: 0
      type: "int"
    selectors:
    - matchArgs:
      - index: 0
        operator: "Prefix"
        values:
        - "/etc/shadow"
        - "/etc/sudoers"
        - "/etc/ssh/sshd_config"
        - "/etc/nomad.d/"
        - "/root/.ssh/"
      - index: 1
        operator: "Equal"
        values:
        - "2"
  - call: "security_mmap_file"
    syscall: false
    return: true
    args:
    - index: 0
      type: "file"
    - index: 1
      type: "uint32"
    returnArg:
      index: 0
      type: "int"
    selectors:
    - matchArgs:
      - index: 0
        operator: "Prefix"
        values:
        - "/etc/shadow"
        - "/root/.ssh/"
`

func printCold(rows []row, withGcloud bool) {
	fmt.Println("Publishing a new bundle (empty bucket)")
	fmt.Printf("%-8s %7s %10s | %8s %7s %8s | %10s %12s %10s | %7s %7s %7s\n",
		"policies", "objects", "size", "ours", "uploads", "ours lib", "gcloud cp", "gcloud rsync", "naive seq", "cp/ours", "rsync/o", "naive/l")
	for _, r := range rows {
		fmt.Printf("%-8d %7d %10s | %8s %7d %8s | %10s %12s %10s | %7s %7s %7s\n",
			r.policies, r.objects, human(r.bytes), secs(r.ours.d), r.ours.uploads, secs(r.lib.d),
			optSecs(withGcloud, r.cp.d), optSecs(withGcloud, r.rsync.d), secs(r.naive.d),
			ratio(withGcloud, r.cp.d, r.ours.d), ratio(withGcloud, r.rsync.d, r.ours.d), ratio(true, r.naive.d, r.lib.d))
	}
	fmt.Println("ours = the CLI process (what a pipeline step runs); ours lib = the same publisher in-process (what the post-processor runs);")
	fmt.Println("naive/l compares the in-process naive uploader with ours lib; uploads include latest.json.")
}

func printWarm(rows []row, withGcloud bool) {
	fmt.Println("Re-publishing the unchanged bundle (everything already in the bucket)")
	fmt.Printf("%-8s %7s | %8s %7s %8s %8s | %12s %7s %8s | %7s\n",
		"policies", "objects", "ours", "uploads", "requests", "ours lib", "gcloud rsync", "uploads", "requests", "rsync/o")
	for _, r := range rows {
		rs, ru, rr := "n/a", "n/a", "n/a"
		if withGcloud {
			rs, ru, rr = secs(r.rsync.d), strconv.FormatInt(r.rsync.uploads, 10), strconv.FormatInt(r.rsync.requests, 10)
		}
		fmt.Printf("%-8d %7d | %8s %7d %8d %8s | %12s %7s %8s | %7s\n",
			r.policies, r.objects, secs(r.ours.d), r.ours.uploads, r.ours.requests, secs(r.lib.d), rs, ru, rr, ratio(withGcloud, r.rsync.d, r.ours.d))
	}
	fmt.Println("requests = every HTTP request the server saw during the run (reads, listings, uploads).")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

func optSecs(ok bool, d time.Duration) string {
	if !ok {
		return "n/a"
	}
	return secs(d)
}

func ratio(ok bool, peer, ours time.Duration) string {
	if !ok || ours <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1fx", peer.Seconds()/ours.Seconds())
}

func human(n int64) string {
	if n < 1024*1024 {
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.2f MiB", float64(n)/1024/1024)
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
	os.Exit(1)
}
