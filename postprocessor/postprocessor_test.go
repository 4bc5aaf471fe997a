package postprocessor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/imagelabel"
	"github.com/tetranomad/packer-plugin-tetranomad/imagelabel/computetest"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/publish"
	"github.com/tetranomad/packer-plugin-tetranomad/publish/gcstest"
	"github.com/tetranomad/packer-plugin-tetranomad/render"
)

const bucket = "tn-pp-bucket"

// renderBundle writes a real bundle for bucket/prefix into dir.
func renderBundle(t *testing.T, dir, bkt, prefix string) *bundle.Bundle {
	t.Helper()
	d, err := model.Parse("decl.hcl", fmt.Appendf(nil, "publish {\n  bucket = %q\n  prefix = %q\n}\n", bkt, prefix))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := render.Render(d, nil, "0.0.0-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return b
}

type env struct {
	gcs     *gcstest.Server
	compute *computetest.Server
	dir     string
	b       *bundle.Bundle
}

func newEnv(t *testing.T) *env {
	e := &env{gcs: gcstest.New(t, bucket), compute: computetest.New(t), dir: filepath.Join(t.TempDir(), "tetranomad-bundle")}
	e.b = renderBundle(t, e.dir, bucket, "fleet")
	e.compute.AddImage("proj", "tetra-img-1", map[string]string{"built-by": "packer"})
	return e
}

func (e *env) postProcessor(t *testing.T, raw map[string]interface{}) *PostProcessor {
	t.Helper()
	p := &PostProcessor{computeOptions: e.compute.Options()}
	p.storageOptions = e.gcs.Options()
	if raw == nil {
		raw = map[string]interface{}{}
	}
	if _, ok := raw["bundle_dir"]; !ok {
		raw["bundle_dir"] = e.dir
	}
	if err := p.Configure(raw); err != nil {
		t.Fatal(err)
	}
	return p
}

func gceArtifact() *packersdk.MockArtifact {
	return &packersdk.MockArtifact{BuilderIdValue: GoogleComputeBuilderID, IdValue: "tetra-img-1", StateValues: map[string]interface{}{"ProjectId": "proj"}}
}

func (e *env) pointer(t *testing.T) publish.Pointer {
	t.Helper()
	o, ok := e.gcs.Object(bucket, bundle.PointerName("fleet"))
	if !ok {
		return publish.Pointer{}
	}
	var p publish.Pointer
	if err := json.Unmarshal(o.Content, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPostProcessPublishesAndLabels(t *testing.T) {
	e := newEnv(t)
	p := e.postProcessor(t, nil)
	ui := &packersdk.MockUi{}
	in := gceArtifact()
	out, keep, force, err := p.PostProcess(context.Background(), ui, in)
	if err != nil {
		t.Fatal(err)
	}
	if out != in || !keep || !force {
		t.Errorf("artifact not passed through: out=%v keep=%v force=%v", out, keep, force)
	}
	id := e.b.Manifest.BundleID
	if ptr := e.pointer(t); ptr.BundleID != id {
		t.Errorf("latest.json names %q, want %s", ptr.BundleID, id)
	}
	// The plugin version lives in build.json, outside the bundle id; the
	// image, which one build made, carries it.
	want := map[string]string{"built-by": "packer", "tetranomad-bundle": imageLabel(id), "tetragon-version": "v1-7-0", "nomad-version": imagelabel.SanitizeValue(model.DefaultNomadVersion), "tetranomad-plugin": "0-0-0-test"}
	if got := e.compute.Labels("proj", "tetra-img-1"); !maps.Equal(got, want) {
		t.Errorf("image labels %v, want %v", got, want)
	}
	said := sayLog(ui)
	for _, s := range []string{"publishing bundle " + id, "to upload", "now names bundle " + id, "jobspec: gcs::https://www.googleapis.com/storage/v1/" + bucket + "/fleet/bundles/" + id + "/jobs/tetragon.nomad.hcl", "labelled image proj/tetra-img-1"} {
		if !strings.Contains(said, s) {
			t.Errorf("UI did not say %q:\n%s", s, said)
		}
	}

	// A second build with the same bundle uploads nothing.
	e.gcs.Uploads.Store(0)
	if _, _, _, err := e.postProcessor(t, nil).PostProcess(context.Background(), &packersdk.MockUi{}, gceArtifact()); err != nil {
		t.Fatal(err)
	}
	if n := e.gcs.Uploads.Load(); n != 0 {
		t.Errorf("re-publish uploaded %d objects", n)
	}
}

func imageLabel(id string) string {
	if len(id) > 63 {
		return id[:63]
	}
	return id
}

func sayLog(ui *packersdk.MockUi) string {
	var b strings.Builder
	for _, m := range ui.SayMessages {
		b.WriteString(m.Message + "\n")
	}
	return b.String()
}

// STORAGE_EMULATOR_HOST alone (no client options) reaches the emulator:
// what a CI job against fake-gcs-server does.
func TestPostProcessHonoursStorageEmulatorHost(t *testing.T) {
	e := newEnv(t)
	t.Setenv("STORAGE_EMULATOR_HOST", e.gcs.Host)
	p := e.postProcessor(t, map[string]interface{}{"label_image": false})
	p.storageOptions = nil
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, gceArtifact()); err != nil {
		t.Fatal(err)
	}
	if ptr := e.pointer(t); ptr.BundleID != e.b.Manifest.BundleID {
		t.Errorf("latest.json names %q", ptr.BundleID)
	}
	if sets, _ := e.compute.Calls(); sets != 0 {
		t.Errorf("label_image = false, but setLabels was called %d times", sets)
	}
}

func TestPostProcessOtherBuilder(t *testing.T) {
	e := newEnv(t)
	other := &packersdk.MockArtifact{BuilderIdValue: "packer.null"}
	// Default: publish, nothing to label.
	if _, _, _, err := e.postProcessor(t, nil).PostProcess(context.Background(), &packersdk.MockUi{}, other); err != nil {
		t.Fatal(err)
	}
	if sets, _ := e.compute.Calls(); sets != 0 || e.pointer(t).BundleID == "" {
		t.Errorf("null artifact: %d setLabels calls, latest.json %+v", sets, e.pointer(t))
	}
	// label_image = true cannot be honoured: refused before any upload.
	e2 := newEnv(t)
	_, _, _, err := e2.postProcessor(t, map[string]interface{}{"label_image": true}).PostProcess(context.Background(), &packersdk.MockUi{}, other)
	if err == nil || !strings.Contains(err.Error(), `builder "packer.null"`) || !strings.Contains(err.Error(), "label_image = false") {
		t.Errorf("err = %v", err)
	}
	if n := e2.gcs.Uploads.Load(); n != 0 {
		t.Errorf("%d uploads before refusing", n)
	}
}

func TestPostProcessProjectOverride(t *testing.T) {
	e := newEnv(t)
	e.compute.AddImage("images-proj", "tetra-img-1", nil)
	if _, _, _, err := e.postProcessor(t, map[string]interface{}{"project": "images-proj"}).PostProcess(context.Background(), &packersdk.MockUi{}, gceArtifact()); err != nil {
		t.Fatal(err)
	}
	if e.compute.Labels("images-proj", "tetra-img-1")["tetranomad-bundle"] == "" || e.compute.Labels("proj", "tetra-img-1")["tetranomad-bundle"] != "" {
		t.Errorf("labels went to the wrong project: images-proj %v, proj %v", e.compute.Labels("images-proj", "tetra-img-1"), e.compute.Labels("proj", "tetra-img-1"))
	}
}

func TestPostProcessBucketMismatchRefused(t *testing.T) {
	e := newEnv(t)
	_, _, _, err := e.postProcessor(t, map[string]interface{}{"bucket": "someone-elses"}).PostProcess(context.Background(), &packersdk.MockUi{}, gceArtifact())
	if err == nil || !strings.Contains(err.Error(), `rendered for bucket "`+bucket+`"`) || !strings.Contains(err.Error(), "render again") {
		t.Fatalf("err = %v", err)
	}
	if n := e.gcs.Uploads.Load(); n != 0 {
		t.Errorf("%d uploads after refusing", n)
	}
	if sets, _ := e.compute.Calls(); sets != 0 {
		t.Errorf("image labelled although nothing was published")
	}
}

func TestPostProcessMissingBundle(t *testing.T) {
	e := newEnv(t)
	_, _, _, err := e.postProcessor(t, map[string]interface{}{"bundle_dir": filepath.Join(t.TempDir(), "nothing")}).PostProcess(context.Background(), &packersdk.MockUi{}, gceArtifact())
	if err == nil || !strings.Contains(err.Error(), "no manifest.json here") {
		t.Fatalf("err = %v", err)
	}
}

// A label failure after a successful publish says what is done and how to
// finish; latest.json stays valid (it names the complete new bundle).
func TestPostProcessLabelFailure(t *testing.T) {
	e := newEnv(t)
	e.compute.BeforeSet = func(_ *computetest.Server, _, _ string, w http.ResponseWriter) bool {
		computetest.APIError(w, http.StatusForbidden, "Required 'compute.images.setLabels' permission")
		return true
	}
	_, _, _, err := e.postProcessor(t, nil).PostProcess(context.Background(), &packersdk.MockUi{}, gceArtifact())
	id := e.b.Manifest.BundleID
	for _, s := range []string{"bundle " + id + " is published", "permission denied", "packer-plugin-tetranomad publish -bundle " + e.dir + " -bucket " + bucket + " -prefix fleet -label-image proj/tetra-img-1"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error does not say %q: %v", s, err)
		}
	}
	if e.pointer(t).BundleID != id {
		t.Errorf("latest.json does not name the published bundle")
	}
}

func TestConfigure(t *testing.T) {
	var p PostProcessor
	if err := p.Configure(map[string]interface{}{}); err != nil {
		t.Fatal(err)
	}
	if p.config.BundleDir != "tetranomad-bundle" || p.config.LabelImage != nil {
		t.Errorf("defaults: %+v", p.config)
	}

	err := new(PostProcessor).Configure(map[string]interface{}{
		"bucket": "Not_A_Bucket!", "prefix": "a//b", "concurrency": 100000, "project": "p", "label_image": false,
	})
	var buf bytes.Buffer
	if err != nil {
		buf.WriteString(err.Error())
	}
	for _, s := range []string{"bucket:", "not a valid GCS bucket name", "prefix:", "concurrency: 100000 is out of range", "project: only used to label the image"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("Configure error does not say %q:\n%s", s, buf.String())
		}
	}
	if err := new(PostProcessor).Configure(map[string]interface{}{"no_such_option": 1}); err == nil || !strings.Contains(err.Error(), "no_such_option") {
		t.Errorf("unknown option: %v", err)
	}
}

// The HCL2 spec Packer decodes the block with has every option.
func TestConfigSpec(t *testing.T) {
	spec := new(PostProcessor).ConfigSpec()
	for _, k := range []string{"bundle_dir", "bucket", "prefix", "label_image", "project", "concurrency"} {
		if _, ok := spec[k]; !ok {
			t.Errorf("ConfigSpec lacks %q", k)
		}
	}
}
