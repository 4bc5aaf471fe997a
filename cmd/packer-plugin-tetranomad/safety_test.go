package main

// Issue 11, "nothing lost, nothing forged": one test per numbered case,
// each with the exit code, the message, and a before/after listing of the
// directory or the bucket proving nothing outside the intended path changed.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
	"github.com/tetranomad/packer-plugin-tetranomad/publish/gcstest"
	"github.com/tetranomad/packer-plugin-tetranomad/render"
)

// dirListing is every entry under root with a digest of file content.
func dirListing(t *testing.T, root string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		entry := filepath.ToSlash(rel) + " " + e.Type().String()
		if e.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			entry += " " + hex.EncodeToString(sum[:6])
		}
		out = append(out, entry)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// bucketListing is every object of bkt with a digest of its content.
func bucketListing(t *testing.T, gcs *gcstest.Server, bkt string) string {
	t.Helper()
	names, err := gcs.Names(bkt)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		o, _ := gcs.Object(bkt, n)
		sum := sha256.Sum256(o.Content)
		out = append(out, n+" "+hex.EncodeToString(sum[:6]))
	}
	return strings.Join(out, "\n")
}

func unchanged(t *testing.T, what, before, after string) {
	t.Helper()
	if before != after {
		t.Errorf("%s changed:\nbefore:\n%s\nafter:\n%s", what, before, after)
	}
}

// Item 1: render -out DIR deleted whatever DIR was.
func TestRenderRefusesToDeleteUserData(t *testing.T) {
	root := t.TempDir()
	proj := filepath.Join(root, "proj")
	decl := writeFile(t, filepath.Join(proj, "decl.hcl"), "policies {\n  library = []\n  files   = [\"policies/mine.yaml\"]\n}\n")
	policyData, err := os.ReadFile("../../policy/library/templates/log-tcp-connect.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(proj, "policies/mine.yaml"), string(policyData))
	writeFile(t, filepath.Join(proj, ".git/HEAD"), "ref: refs/heads/main\n")
	aFile := writeFile(t, filepath.Join(root, "a-file"), "data\n")
	// A sibling DIR.old that is not render's: it used to be deleted.
	writeFile(t, filepath.Join(root, "new.old/keep"), "mine\n")

	for _, c := range []struct {
		name, out, says string
	}{
		{"the project itself", proj, proj + " is not empty and holds no tetranomad bundle"},
		{"a regular file", aFile, aFile + " exists and is not a directory"},
	} {
		before := dirListing(t, root)
		code, _, stderr := runRenderCmd("-config", decl, "-out", c.out)
		if code != exitUsageOrIO || !strings.Contains(stderr, c.says) {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 2 saying %q", c.name, code, stderr, c.says)
		}
		unchanged(t, c.name, before, dirListing(t, root))
	}

	// A new path works and leaves the unrelated new.old alone.
	before := dirListing(t, filepath.Join(root, "new.old"))
	if code, _, stderr := runRenderCmd("-config", decl, "-out", filepath.Join(root, "new")); code != 0 {
		t.Fatalf("render into a new path: exit %d\n%s", code, stderr)
	}
	unchanged(t, "new.old", before, dirListing(t, filepath.Join(root, "new.old")))
	// Rendering again replaces the bundle, and only it.
	before = dirListing(t, proj)
	if code, _, stderr := runRenderCmd("-config", decl, "-out", filepath.Join(root, "new")); code != 0 {
		t.Fatalf("render over a bundle: exit %d\n%s", code, stderr)
	}
	unchanged(t, "proj", before, dirListing(t, proj))
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary directory left behind: %s", e.Name())
		}
	}
}

// Item 5: a policy that is /dev/zero or a FIFO made render and lint run out
// of memory or hang; a 50 MB policy was inlined.
func TestUnboundedInputsAreRefused(t *testing.T) {
	root := t.TempDir()
	fifo := filepath.Join(root, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := writeFile(t, filepath.Join(root, "big.yaml"), strings.Repeat("#", 2<<20))
	for _, c := range []struct{ file, says string }{
		{"/dev/zero", "/dev/zero is not a regular file (a device)"},
		{fifo, fifo + " is not a regular file (a named pipe)"},
		{big, fmt.Sprintf("%s is %d bytes, more than the %d", big, 2<<20, 1<<20)},
	} {
		decl := writeFile(t, filepath.Join(root, "decl.hcl"), fmt.Sprintf("policies {\n  files = [%q]\n}\n", c.file))
		out := filepath.Join(root, "out")
		done := make(chan struct{})
		go func() {
			defer close(done)
			code, _, stderr := runRenderCmd("-config", decl, "-out", out)
			if code != exitUsageOrIO || !strings.Contains(stderr, c.says) {
				t.Errorf("render with %s: exit %d\n%s", c.file, code, stderr)
			}
			var stdout, errOut strings.Builder
			if code := runLint([]string{c.file}, &stdout, &errOut); code != 2 || !strings.Contains(errOut.String(), c.says) {
				t.Errorf("lint %s: exit %d\n%s", c.file, code, errOut.String())
			}
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("render or lint of %s hangs", c.file)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: something was written to %s", c.file, out)
		}
	}
	// The declaration itself goes through the same reader.
	if code, _, stderr := runRenderCmd("-config", "/dev/zero", "-out", filepath.Join(root, "out")); code != exitUsageOrIO || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("-config /dev/zero: exit %d\n%s", code, stderr)
	}
}

// Item 10: lint -h exited 2 while render -h and publish -h exit 0.
// Every subcommand parses alike (commandLine): -h exits 0 with its usage,
// an unknown flag exits 2, both on stderr only.
func TestEverySubcommandHelpAndBadFlag(t *testing.T) {
	for name, sc := range commands() {
		var out, errOut strings.Builder
		if code := sc.run([]string{"-h"}, &out, &errOut); code != exitOK || out.Len() != 0 ||
			!strings.HasPrefix(errOut.String(), "Usage: packer-plugin-tetranomad "+name+" ") ||
			!strings.Contains(errOut.String(), capitalize(sc.synopsis)+".") {
			t.Errorf("%s -h: exit %d, stdout %q\n%s", name, code, out.String(), errOut.String())
		}
		out.Reset()
		errOut.Reset()
		if code := sc.run([]string{"-no-such-flag"}, &out, &errOut); code != exitUsageOrIO || out.Len() != 0 ||
			!strings.Contains(errOut.String(), "flag provided but not defined: -no-such-flag") {
			t.Errorf("%s -no-such-flag: exit %d, stdout %q\n%s", name, code, out.String(), errOut.String())
		}
	}
}

// Item 2: the same declaration rendered by two plugin versions, and with
// two VMs' preflight results, publishes once: the second publish uploads
// nothing and exits 0.
func TestRepublishAfterUpgradeUploadsNothing(t *testing.T) {
	gcs := gcstest.New(t, publishBucket)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	root := t.TempDir()
	decl := writeFile(t, filepath.Join(root, "decl.hcl"), fmt.Sprintf("publish {\n  bucket = %q\n  prefix = \"ci\"\n}\n", publishBucket))
	d, err := model.LoadFile(decl)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	var ids []string
	for i, build := range []bundle.Build{
		{Plugin: "0.1.0", Preflight: &bundle.Preflight{KernelRelease: "6.1.0-18-cloud-amd64", BTF: true}},
		{Plugin: "0.1.1", Preflight: &bundle.Preflight{KernelRelease: "6.12.0-1-cloud-amd64", BTF: true, LSMs: []string{"bpf"}}},
	} {
		b, _, err := render.Render(d, []policy.File{}, build.Plugin)
		if err != nil {
			t.Fatal(err)
		}
		b.Build.Preflight = build.Preflight
		dir := filepath.Join(root, fmt.Sprintf("bundle-%d", i))
		if err := b.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		dirs, ids = append(dirs, dir), append(ids, b.Manifest.BundleID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("bundle ids differ: %s and %s", ids[0], ids[1])
	}
	if code, _, stderr := runPublishCmd("-bundle", dirs[0]); code != 0 {
		t.Fatalf("first publish: exit %d\n%s", code, stderr)
	}
	before := bucketListing(t, gcs, publishBucket)
	gcs.Uploads.Store(0)
	code, _, stderr := runPublishCmd("-bundle", dirs[1])
	if code != 0 || gcs.Uploads.Load() != 0 {
		t.Errorf("second publish: exit %d, %d uploads\n%s", code, gcs.Uploads.Load(), stderr)
	}
	unchanged(t, "the bucket", before, bucketListing(t, gcs, publishBucket))
	for _, n := range strings.Split(before, "\n") {
		if strings.Contains(n, bundle.BuildPath) {
			t.Errorf("build.json was published under the bundle id: %s", n)
		}
	}
}

// Item 3: publish trusted the bundle directory. Every tampered bundle exits
// 2 before anything is uploaded; the bucket stays as it was.
func TestPublishRefusesTamperedBundles(t *testing.T) {
	gcs := gcstest.New(t, publishBucket)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	gcs.Put(publishBucket, "other/latest.json", []byte(`{"schema_version": 1, "bundle_id": "0123456789abcdef0123"}`))

	editJSON := func(t *testing.T, p string, edit func(m map[string]any)) {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		out, _ := json.Marshal(m)
		if err := os.WriteFile(p, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	firstPolicy := func(m map[string]any) map[string]any {
		for _, f := range m["files"].([]any) {
			if f := f.(map[string]any); f["role"] == "policy" {
				return f
			}
		}
		panic("no policy")
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		says   string
	}{
		{"bundle_id escaping the prefix", func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "manifest.json"), func(m map[string]any) { m["bundle_id"] = "../../escaped" })
		}, `bundle_id "../../escaped" is not 20 lowercase hex characters`},
		{"an entry planting another prefix's latest.json", func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "manifest.json"), func(m map[string]any) {
				firstPolicy(m)["path"] = "../../../other/latest.json"
			})
		}, `"../../../other/latest.json" is not a bundle file path`},
		{"a policy edited with its checksum updated", func(t *testing.T, dir string) {
			var rel string
			editJSON(t, filepath.Join(dir, "manifest.json"), func(m map[string]any) {
				f := firstPolicy(m)
				rel = f["path"].(string)
				data, _ := os.ReadFile(filepath.Join(dir, rel))
				data = append(data, "# edited\n"...)
				os.WriteFile(filepath.Join(dir, rel), data, 0o644)
				f["sha256"], f["size"] = bundle.SHA256Hex(data), len(data)
			})
		}, "does not match the bundle's content"},
		{"an empty bundle_id", func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "manifest.json"), func(m map[string]any) { m["bundle_id"] = "" })
		}, "manifest.json has no bundle_id"},
		{"an extra file", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "policies", "sneaky.yaml"), "kind: TracingPolicy\n")
		}, "holds policies/sneaky.yaml, which manifest.json does not list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := renderForBucket(t, publishBucket)
			c.tamper(t, dir)
			before := bucketListing(t, gcs, publishBucket)
			requests := gcs.Requests.Load()
			code, stdout, stderr := runPublishCmd("-bundle", dir)
			if code != exitUsageOrIO || stdout != "" || !strings.Contains(stderr, c.says) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 saying %q", code, stdout, stderr, c.says)
			}
			if n := gcs.Requests.Load() - requests; n != 0 {
				t.Errorf("%d requests reached the bucket", n)
			}
			unchanged(t, "the bucket", before, bucketListing(t, gcs, publishBucket))
		})
	}
}

// Item 10: a latest.json that is not JSON was silently replaced.
func TestPublishReportsForeignPointer(t *testing.T) {
	gcs := gcstest.New(t, publishBucket)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	gcs.Put(publishBucket, "ci/latest.json", []byte("<html>not json</html>"))
	dir, _ := renderForBucket(t, publishBucket)
	before := bucketListing(t, gcs, publishBucket)
	code, _, stderr := runPublishCmd("-bundle", dir)
	if code != exitPublishFailed || !strings.Contains(stderr, "ci/latest.json: latest.json is not valid JSON") || !strings.Contains(stderr, "nothing was uploaded") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	unchanged(t, "the bucket", before, bucketListing(t, gcs, publishBucket))
}

// Item 4: "-prefix //" published to the bucket's root.
func TestPublishRefusesBadPrefixes(t *testing.T) {
	gcs := gcstest.New(t, publishBucket)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	root := t.TempDir()
	decl := writeFile(t, filepath.Join(root, "decl.hcl"), "publish {}\n") // no bucket: publish picks the target
	out := filepath.Join(root, "bundle")
	if code, _, stderr := runRenderCmd("-config", decl, "-out", out); code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	before := bucketListing(t, gcs, publishBucket)
	for _, prefix := range []string{"//", "/", "a//b", "a?b", "a b", "../x", "."} {
		code, _, stderr := runPublishCmd("-bundle", out, "-bucket", publishBucket, "-prefix", prefix)
		if code != exitUsageOrIO || !strings.Contains(stderr, "-prefix: prefix") {
			t.Errorf("-prefix %q: exit %d\n%s", prefix, code, stderr)
		}
	}
	unchanged(t, "the bucket", before, bucketListing(t, gcs, publishBucket))
}

// Item 7: with the endpoint frozen, publish hung until it resumed. Now each
// request is bounded and so is the whole publish; latest.json is untouched.
func TestPublishTimesOutOnAFrozenEndpoint(t *testing.T) {
	gcs := gcstest.New(t, publishBucket)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	dir, _ := renderForBucket(t, publishBucket)
	before := bucketListing(t, gcs, publishBucket)
	// Frozen: accept the request, never answer (until the client gives up).
	gcs.SetRequestFault(func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	})
	start := time.Now()
	code, stdout, stderr := runPublishCmd("-bundle", dir, "-timeout", "3s", "-request-timeout", "500ms")
	took := time.Since(start)
	gcs.SetRequestFault(nil)
	if code != exitPublishFailed || stdout != "" || !strings.Contains(stderr, "took longer than its timeout, 3s") {
		t.Errorf("exit %d, stdout %q\n%s", code, stdout, stderr)
	}
	if took > 15*time.Second {
		t.Errorf("publish took %s with -timeout 3s", took)
	}
	unchanged(t, "the bucket", before, bucketListing(t, gcs, publishBucket))
	if code, _, stderr := runPublishCmd("-bundle", dir, "-timeout", "0s"); code != exitUsageOrIO || !strings.Contains(stderr, "must be positive durations") {
		t.Errorf("-timeout 0s: exit %d\n%s", code, stderr)
	}
}
