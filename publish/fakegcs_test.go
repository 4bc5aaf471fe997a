package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

const testBucket = "tn-test-bucket"

// fakeGCS is fake-gcs-server behind a real loopback listener with a
// middleware that counts upload requests and can inject faults, so tests
// see what went over the wire rather than what the publisher says it did.
type fakeGCS struct {
	srv     *fakestorage.Server
	ts      *httptest.Server
	client  *storage.Client
	uploads atomic.Int64 // upload requests that reached the fake server

	mu sync.Mutex
	// fault, if set, sees every upload first; it returns true when it has
	// answered the request itself.
	fault func(name string, w http.ResponseWriter, r *http.Request, next http.Handler) bool
}

func newFakeGCS(t *testing.T) *fakeGCS {
	t.Helper()
	f := &fakeGCS{}
	f.ts = httptest.NewUnstartedServer(nil)
	// Public downloads (<base>/<bucket>/<object>) are served for the
	// listener's own host, so the https-mode URLs can be fetched for real.
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true,
		Scheme:     "http",
		PublicHost: f.ts.Listener.Addr().String(),
		Writer:     io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: testBucket, VersioningEnabled: false})
	f.ts.Config.Handler = http.HandlerFunc(f.serve)
	f.ts.Start()
	t.Cleanup(f.ts.Close)
	t.Cleanup(srv.Stop)
	f.client, err = storage.NewClient(context.Background(),
		option.WithEndpoint(f.ts.URL+"/storage/v1/"),
		option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.client.Close() })
	return f
}

func (f *fakeGCS) setFault(fn func(name string, w http.ResponseWriter, r *http.Request, next http.Handler) bool) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

func (f *fakeGCS) serve(w http.ResponseWriter, r *http.Request) {
	next := f.srv.HTTPHandler()
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/upload/storage/v1/") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		name := uploadName(r.Header.Get("Content-Type"), body)
		f.mu.Lock()
		fault := f.fault
		f.mu.Unlock()
		if fault != nil && fault(name, w, r, countingHandler{f, next}) {
			return
		}
		f.uploads.Add(1)
	}
	next.ServeHTTP(w, r)
}

type countingHandler struct {
	f    *fakeGCS
	next http.Handler
}

func (c countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.f.uploads.Add(1)
	c.next.ServeHTTP(w, r)
}

// uploadName finds the object name in a multipart upload's metadata part.
func uploadName(contentType string, body []byte) string {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	part, err := mr.NextPart()
	if err != nil {
		return ""
	}
	var meta struct {
		Name string `json:"name"`
	}
	_ = json.NewDecoder(part).Decode(&meta)
	return meta.Name
}

func (f *fakeGCS) store() *GCS { return NewGCS(f.client, testBucket) }

// object reads an object straight from the fake's backend.
func (f *fakeGCS) object(t *testing.T, name string) (fakestorage.Object, bool) {
	t.Helper()
	o, err := f.srv.GetObject(testBucket, name)
	if err != nil {
		return fakestorage.Object{}, false
	}
	return o, true
}

func (f *fakeGCS) names(t *testing.T) []string {
	t.Helper()
	objs, _, err := f.srv.ListObjectsWithOptions(testBucket, fakestorage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Name)
	}
	return out
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
		Versions:      bundle.Versions{Tetragon: "v1.7.0", TetragonImage: "quay.io/cilium/tetragon:v1.7.0", ExportImage: "quay.io/cilium/hubble-export-stdout:v1.2.0", Nomad: "1.10.5", Plugin: "0.1.0-dev"},
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
