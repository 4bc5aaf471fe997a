//go:build e2e

package e2e

// fake-gcs-server on the target's veth, for the whole-path test.

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
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
