package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/imagelabel/computetest"
	"github.com/tetranomad/packer-plugin-tetranomad/publish/gcstest"
)

const publishBucket = "tn-cli-bucket"

func runPublishCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runPublish(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// renderForBucket renders a bundle for bkt with the render subcommand.
func renderForBucket(t *testing.T, bkt string) (string, *bundle.Bundle) {
	t.Helper()
	dir := t.TempDir()
	decl := writeFile(t, filepath.Join(dir, "decl.hcl"), fmt.Sprintf("publish {\n  bucket = %q\n  prefix = \"ci\"\n}\n", bkt))
	out := filepath.Join(dir, "bundle")
	if code, _, stderr := runRenderCmd("-config", decl, "-out", out); code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	b, err := bundle.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, b
}

// A pipeline step: render, then publish through STORAGE_EMULATOR_HOST and
// label the image; stdout carries what the next step needs.
func TestPublishCommand(t *testing.T) {
	gcs := gcstest.New(t, publishBucket)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	compute := computetest.New(t)
	compute.AddImage("proj", "img-1", map[string]string{"team": "sec"})
	publishComputeOptions = compute.Options()
	t.Cleanup(func() { publishComputeOptions = nil })

	dir, b := renderForBucket(t, publishBucket)
	id := b.Manifest.BundleID
	code, stdout, stderr := runPublishCmd("-bundle", dir, "-bucket", publishBucket, "-label-image", "proj/img-1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	job := "ci/bundles/" + id + "/jobs/tetragon.nomad.hcl"
	want := "bundle_id=" + id + "\n" +
		"jobspec_url=gcs::https://www.googleapis.com/storage/v1/" + publishBucket + "/" + job + "\n" +
		"jobspec_object=gs://" + publishBucket + "/" + job + "\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	for _, s := range []string{"publishing bundle " + id, "already in the bucket", "gs://" + publishBucket + "/ci/latest.json now names bundle " + id, "labelled image proj/img-1"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr does not say %q:\n%s", s, stderr)
		}
	}
	if o, ok := gcs.Object(publishBucket, job); !ok || bundle.SHA256Hex(o.Content) != bundle.SHA256Hex(b.Content[bundle.JobspecPath]) {
		t.Errorf("jobspec not published intact")
	}
	if got := compute.Labels("proj", "img-1"); got["team"] != "sec" || got["tetranomad-bundle"] == "" || got["tetragon-version"] != "v1-7-0" {
		t.Errorf("image labels %v", got)
	}

	// Again, without -bucket (the bundle's own): same output, nothing uploaded.
	gcs.Uploads.Store(0)
	code, stdout2, stderr := runPublishCmd("-bundle", dir)
	if code != 0 || stdout2 != want || gcs.Uploads.Load() != 0 {
		t.Errorf("re-publish: exit %d, %d uploads, stdout %q\n%s", code, gcs.Uploads.Load(), stdout2, stderr)
	}
	if !strings.Contains(stderr, "already names bundle "+id) {
		t.Errorf("re-publish stderr:\n%s", stderr)
	}
}

func TestPublishCommandUsage(t *testing.T) {
	dir, _ := renderForBucket(t, publishBucket)
	cases := []struct {
		args []string
		says string
	}{
		{nil, "-bundle is required"},
		{[]string{"-bundle", dir, "extra"}, "no positional arguments"},
		{[]string{"-bundle", dir, "-label-image", "just-an-image"}, "want PROJECT/IMAGE"},
		{[]string{"-bundle", dir, "-concurrency", "0"}, "-concurrency 0"},
		{[]string{"-bundle", dir, "-bucket", "UPPER"}, "not a valid GCS bucket name"},
		{[]string{"-bundle", dir, "-bucket", "another-bucket"}, `rendered for bucket "` + publishBucket + `"`},
		{[]string{"-bundle", dir, "-prefix", "elsewhere"}, `rendered for prefix "ci"`},
		{[]string{"-bundle", filepath.Join(t.TempDir(), "none")}, "no manifest.json here"},
		{[]string{"-no-such-flag"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		code, stdout, stderr := runPublishCmd(c.args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.says) {
			t.Errorf("publish %q: exit %d, stdout %q, stderr does not say %q:\n%s", c.args, code, stdout, c.says, stderr)
		}
	}
	if code, _, stderr := runPublishCmd("-h"); code != 0 || !strings.Contains(stderr, "Usage: packer-plugin-tetranomad publish") {
		t.Errorf("-h: exit %d\n%s", code, stderr)
	}
}

// A publish that fails remotely exits 1 and says why.
func TestPublishCommandFailure(t *testing.T) {
	gcs := gcstest.New(t) // no buckets
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	dir, _ := renderForBucket(t, "missing-bucket")
	code, stdout, stderr := runPublishCmd("-bundle", dir)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "missing-bucket") {
		t.Errorf("exit %d, stdout %q\n%s", code, stdout, stderr)
	}
}
