package postprocessor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/testbin"
	"github.com/tetranomad/packer-plugin-tetranomad/publish/gcstest"
)

// A real `packer build` (null builder) runs the post-processor through the
// plugin protocol: HCL decoding, Configure checks, the RPC'd artifact and UI,
// STORAGE_EMULATOR_HOST passed through to the plugin process.
func TestRealPackerRunsPostProcessor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin and runs packer")
	}
	packer := testbin.Packer(t)
	work := t.TempDir()

	plugin := filepath.Join(work, "packer-plugin-tetranomad")
	build := exec.Command("go", "build", "-o", plugin, "./cmd/packer-plugin-tetranomad")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	gcs := gcstest.New(t, bucket)
	env := append(os.Environ(), "CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1", "STORAGE_EMULATOR_HOST="+gcs.Host)
	for _, d := range []string{"plugins", "config", "cache"} {
		p := filepath.Join(work, "packer-"+d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		env = append(env, "PACKER_"+map[string]string{"plugins": "PLUGIN_PATH", "config": "CONFIG_DIR", "cache": "CACHE_DIR"}[d]+"="+p)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(packer, args...)
		cmd.Env = env
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("plugins", "install", "--path", plugin, "github.com/tetranomad/tetranomad"); err != nil {
		t.Fatalf("packer plugins install: %v\n%s", err, out)
	}

	b := renderBundle(t, filepath.Join(work, "tetranomad-bundle"), bucket, "fleet")
	template := func(ppBody string) string {
		p := filepath.Join(work, "build.pkr.hcl")
		src := "source \"null\" \"x\" {\n  communicator = \"none\"\n}\n\nbuild {\n  sources = [\"source.null.x\"]\n\n  post-processor \"tetranomad-publish\" {\n" + ppBody + "  }\n}\n"
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// bundle_dir left at its default: ./tetranomad-bundle, like the provisioner's.
	out, err := run("build", template("    prefix = \"fleet\"\n"))
	if err != nil {
		t.Fatalf("packer build: %v\n%s", err, out)
	}
	id := b.Manifest.BundleID
	for _, s := range []string{"publishing bundle " + id, "now names bundle " + id, "jobspec: gcs::https://www.googleapis.com/storage/v1/" + bucket + "/fleet/bundles/" + id} {
		if !strings.Contains(out, s) {
			t.Errorf("packer output does not say %q:\n%s", s, out)
		}
	}
	if _, ok := gcs.Object(bucket, bundle.ObjectName("fleet", id, bundle.JobspecPath)); !ok {
		t.Errorf("jobspec not in the bucket after packer build")
	}

	// Configure errors reach `packer validate`, naming the option.
	out, err = run("validate", template("    concurrency = 100000\n    bucket = \"Bad Bucket\"\n"))
	if err == nil || !strings.Contains(out, "concurrency: 100000 is out of range") || !strings.Contains(out, "not a valid GCS bucket name") {
		t.Errorf("packer validate accepted a bad block or said something else: %v\n%s", err, out)
	}

	// label_image = true on a null artifact fails the build with a reason.
	out, err = run("build", template("    label_image = true\n"))
	if err == nil || !strings.Contains(out, "not googlecompute") || !strings.Contains(out, "Set label_image = false") {
		t.Errorf("label_image = true on a null artifact: %v\n%s", err, out)
	}
}
