package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/render"
)

// artifactRE finds each artifact block's source and checksum in the
// rendered jobspec (hclwrite output: one attribute per line).
var artifactRE = regexp.MustCompile(`(?s)artifact \{\s*source\s*=\s*"([^"]+)".*?checksum\s*=\s*"sha256:([0-9a-f]{64})"`)

func renderFor(t *testing.T, publishBlock string) *bundle.Bundle {
	t.Helper()
	d, err := model.Parse("test.hcl", []byte("policies {\n  library = [\"log-file-access\", \"block-internet-egress\"]\n}\n"+publishBlock))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := render.Render(d, nil, "0.0.0-test")
	if err != nil {
		t.Fatal(err)
	}
	// Through the disk, as the post-processor reads it.
	dir := t.TempDir() + "/bundle"
	if err := b.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	b, err = bundle.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The jobspec the renderer wrote fetches exactly the objects the publisher
// uploaded: every artifact URL resolves, and the bytes there have the
// sha256 the jobspec checks.
func TestRenderedJobspecMatchesPublishedObjects(t *testing.T) {
	for _, public := range []bool{true, false} {
		t.Run(fmt.Sprintf("public=%v", public), func(t *testing.T) {
			f := newFakeGCS(t)
			b := renderFor(t, fmt.Sprintf("publish {\n  bucket = %q\n  prefix = \"fleet/prod\"\n  public = %v\n  download_base_url = %q\n}\n", testBucket, public, f.URL))
			target, err := ResolveTarget(&b.Manifest, testBucket, "")
			if err != nil {
				t.Fatal(err)
			}
			res, err := (&Publisher{Store: f.store()}).Publish(testCtx(t), b, target)
			if err != nil {
				t.Fatal(err)
			}
			jobspec, ok := f.object(t, res.JobspecObject)
			if !ok {
				t.Fatalf("jobspec %s not uploaded", res.JobspecObject)
			}
			arts := artifactRE.FindAllStringSubmatch(string(jobspec.Content), -1)
			if want := len(b.Manifest.FilesWithRole(bundle.RolePolicy)); len(arts) != want || want == 0 {
				t.Fatalf("%d artifact blocks in the jobspec, want one per policy (%d)", len(arts), want)
			}
			sources := map[string]bool{}
			for _, a := range arts {
				sources[a[1]] = true
			}
			// The publisher's URL function (used for latest.json and the
			// printed jobspec URL) agrees with the renderer's.
			for _, p := range b.Manifest.FilesWithRole(bundle.RolePolicy) {
				if u := target.URL(bundle.ObjectName(target.Prefix, b.Manifest.BundleID, p.Path)); !sources[u] {
					t.Errorf("URL() gives %q for %s; the jobspec has no such source", u, p.Path)
				}
			}
			for _, a := range arts {
				source, checksum := a[1], a[2]
				data := fetch(t, f, source, public)
				sum := sha256.Sum256(data)
				if hex.EncodeToString(sum[:]) != checksum {
					t.Errorf("%s: sha256 of the published bytes %x, jobspec checks %s", source, sum, checksum)
				}
			}
		})
	}
}

// fetch gets an artifact source the way Nomad would: over http for a public
// bucket; for gcs:: the URL must name an object of our bucket.
func fetch(t *testing.T, f *fakeGCS, source string, public bool) []byte {
	t.Helper()
	if public {
		resp, err := http.Get(source)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", source, resp.StatusCode)
		}
		return data
	}
	prefix := "gcs::https://www.googleapis.com/storage/v1/" + testBucket + "/"
	if !strings.HasPrefix(source, prefix) {
		t.Fatalf("source %q is not a gcs:: URL into %s", source, testBucket)
	}
	o, ok := f.object(t, strings.TrimPrefix(source, prefix))
	if !ok {
		t.Fatalf("%s: no such object", source)
	}
	return o.Content
}
