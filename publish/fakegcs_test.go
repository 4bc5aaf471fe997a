package publish

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/publish/gcstest"
)

const testBucket = "tn-test-bucket"

// fakeGCS wraps gcstest.Server with the publisher's view of it.
type fakeGCS struct {
	*gcstest.Server
	t      *testing.T
	client *storage.Client
}

func newFakeGCS(t *testing.T) *fakeGCS {
	t.Helper()
	s := gcstest.New(t, testBucket)
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeGCS{Server: s, t: t, client: c}
}

func (f *fakeGCS) store() *GCS { return NewGCS(f.client, testBucket) }

func (f *fakeGCS) object(t *testing.T, name string) (fakestorage.Object, bool) {
	return f.Object(testBucket, name)
}

func (f *fakeGCS) names(t *testing.T) []string {
	t.Helper()
	n, err := f.Names(testBucket)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fakeGCS) pointer(t *testing.T, prefix string) (Pointer, int64) {
	t.Helper()
	o, ok := f.object(t, bundle.PointerName(prefix))
	if !ok {
		return Pointer{}, 0
	}
	p, err := DecodePointer(o.Content)
	if err != nil {
		t.Fatal(err)
	}
	return p, o.Generation
}

// testBundle builds a bundle of n policies; salt changes every policy's
// bytes (and so the bundle id) without changing the file names.
func testBundle(t testing.TB, n int, target bundle.Target, salt string) *bundle.Bundle {
	t.Helper()
	b := &bundle.Bundle{Manifest: bundle.Manifest{
		SchemaVersion: bundle.SchemaVersion,
		Contract:      "contract-" + salt,
		Versions:      bundle.Versions{Tetragon: "v1.7.0", TetragonImage: "quay.io/cilium/tetragon:v1.7.0", ExportImage: "quay.io/cilium/hubble-export-stdout:v1.2.0", Nomad: "1.10.5"},
		Target:        target,
	}}
	var idSeed strings.Builder
	for i := range n {
		p := fmt.Sprintf("%s/policy-%04d.yaml", bundle.PolicyDir, i)
		data := []byte(fmt.Sprintf("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: policy-%04d\n  annotations:\n    salt: %q\nspec:\n  kprobes:\n  - call: security_file_open\n    syscall: false\n", i, salt))
		if err := b.Add(p, bundle.RolePolicy, data); err != nil {
			t.Fatal(err)
		}
		idSeed.WriteString(bundle.SHA256Hex(data))
	}
	b.Manifest.BundleID = bundle.SHA256Hex([]byte(idSeed.String() + salt))[:20]
	job := fmt.Sprintf("job \"tetragon\" {\n  type = \"system\"\n  # bundle %s\n}\n", b.Manifest.BundleID)
	if err := b.Add(bundle.JobspecPath, bundle.RoleJobspec, []byte(job)); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(bundle.NomadDir+"/tetragon.hcl", bundle.RoleClientConfig, []byte("client {\n  enabled = true\n}\n")); err != nil {
		t.Fatal(err)
	}
	return b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fastRetry keeps fault-injection tests quick.
var fastRetry = Retry{Attempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond}
