package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/fleet"
	"github.com/tetranomad/packer-plugin-tetranomad/fleet/fleettest"
	"github.com/tetranomad/packer-plugin-tetranomad/publish"
	"github.com/tetranomad/packer-plugin-tetranomad/publish/gcstest"
)

func runStatusCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runStatus(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// replay serves a recording of a real three-client cluster (fleet/testdata).
func replay(t *testing.T, name string) *fleettest.Server {
	t.Helper()
	for _, k := range []string{"NOMAD_ADDR", "NOMAD_NAMESPACE", "NOMAD_REGION", "NOMAD_TOKEN"} {
		t.Setenv(k, "")
	}
	return fleettest.Serve(t, fleettest.Load(t, filepath.Join("..", "..", "fleet", "testdata", "recorded", name+".json")))
}

func TestStatusExitsOneWhileAClientIsUnprotected(t *testing.T) {
	srv := replay(t, "unprotected")
	code, stdout, stderr := runStatusCmd("-address", srv.URL)
	if code != exitNotProtected {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitNotProtected, stdout, stderr)
	}
	if !strings.Contains(stdout, "NOT PROTECTED: 1 of 3 eligible clients protected; unprotected: c2-old-contract, c3-no-docker") {
		t.Errorf("summary line missing:\n%s", stdout)
	}
}

func TestStatusExitsZeroWhenEveryClientIsProtected(t *testing.T) {
	srv := replay(t, "protected")
	// NOMAD_ADDR, as the Nomad CLI reads it.
	t.Setenv("NOMAD_ADDR", srv.URL)
	code, stdout, stderr := runStatusCmd("-format", "json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var r fleet.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if !r.Summary.OK || r.Summary.Protected != 3 {
		t.Errorf("summary %+v", r.Summary)
	}
}

func TestStatusUsageAndConnectionErrorsExitTwo(t *testing.T) {
	srv := replay(t, "protected")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-address", srv.URL, "-format", "yaml"}, `-format "yaml": use table or json`},
		{[]string{"-address", srv.URL, "bundle-dir"}, `unexpected argument "bundle-dir"`},
		{[]string{"-address", closed.URL}, "status: asking Nomad at " + closed.URL},
		{[]string{"-address", srv.URL, "-bundle", filepath.Join(t.TempDir(), "missing")}, "no manifest.json here"},
		{[]string{"-address", srv.URL, "-bundle", "gs://only-a-bucket"}, "want gs://BUCKET/PREFIX/latest.json"},
	} {
		code, _, stderr := runStatusCmd(c.args...)
		if code != exitUsageOrIO || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// A bundle published to GCS (through the publish command and a fake GCS)
// and read back from its latest.json, then from https: the fleet runs
// another bundle, so no client is protected by it.
func TestStatusComparesWithAPublishedBundle(t *testing.T) {
	gcs := gcstest.New(t, publishBucket)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	dir, b := renderForBucket(t, publishBucket)
	if code, _, stderr := runPublishCmd("-bundle", dir); code != 0 {
		t.Fatalf("publish: exit %d\n%s", code, stderr)
	}
	srv := replay(t, "protected")

	src := "gs://" + publishBucket + "/ci/latest.json"
	code, stdout, stderr := runStatusCmd("-address", srv.URL, "-bundle", src)
	if code != exitNotProtected {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "Expected bundle "+b.Manifest.BundleID+" (enforce, contract "+b.Manifest.Contract+") from "+src) ||
		!strings.Contains(stdout, "expected "+b.Manifest.BundleID) {
		t.Errorf("the table does not compare with the published bundle:\n%s", stdout)
	}

	// The same objects over https, as a public bucket serves them.
	root := t.TempDir()
	ptr, err := publish.NewPointer(&b.Manifest, bundle.Target{Bucket: publishBucket, Prefix: "ci"}, time.Now()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		p := filepath.Join(root, publishBucket, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ci/latest.json", ptr)
	mf, _ := b.Manifest.Encode()
	write(bundle.ObjectName("ci", b.Manifest.BundleID, bundle.ManifestPath), mf)
	write(bundle.ObjectName("ci", b.Manifest.BundleID, bundle.JobspecPath), b.Content[bundle.JobspecPath])
	web := httptest.NewServer(http.FileServer(http.Dir(root)))
	t.Cleanup(web.Close)
	code, stdout, stderr = runStatusCmd("-address", srv.URL, "-format", "json", "-bundle", web.URL+"/"+publishBucket+"/ci/latest.json")
	if code != exitNotProtected {
		t.Fatalf("https: exit %d\n%s%s", code, stdout, stderr)
	}
	var r fleet.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Expected.Bundle != b.Manifest.BundleID || r.Expected.JobID != "tetragon" {
		t.Errorf("expected = %+v", r.Expected)
	}
}
