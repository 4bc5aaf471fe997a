// Package gcstest runs fake-gcs-server in-process behind a real loopback
// listener, for tests and benchmarks of code that talks to Cloud Storage.
// A middleware counts upload requests and can inject faults, so a test sees
// what went over the wire rather than what the code under test says it did.
package gcstest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// Fault sees every upload request first (name is the object being written);
// it returns true when it has answered the request itself. next forwards to
// the fake server (and counts as an upload).
type Fault func(name string, w http.ResponseWriter, r *http.Request, next http.Handler) bool

// Server is a fake GCS on 127.0.0.1.
type Server struct {
	Fake *fakestorage.Server
	// URL is the base URL (http://127.0.0.1:PORT); public objects are served
	// at URL/<bucket>/<object>, like https://storage.googleapis.com.
	URL string
	// Host is URL without the scheme, the value for STORAGE_EMULATOR_HOST.
	Host string
	// Uploads counts upload requests that reached the fake server.
	Uploads atomic.Int64
	// Requests counts every request, of any kind.
	Requests atomic.Int64

	ts        *httptest.Server
	mu        sync.Mutex
	fault     Fault
	onRequest func(w http.ResponseWriter, r *http.Request) bool
}

// Start creates the buckets and listens on a free loopback port.
func Start(buckets ...string) (*Server, error) {
	return StartOn("127.0.0.1:0", buckets...)
}

// StartOn listens on addr instead (e.g. the host end of a test network
// namespace's veth, so a VM under test can download public objects).
func StartOn(addr string, buckets ...string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ts: &httptest.Server{Listener: ln, Config: &http.Server{}}}
	s.Host = ln.Addr().String()
	// PublicHost = our own address: path-style downloads and the storage
	// client's XML reads are served here.
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true,
		Scheme:     "http",
		PublicHost: s.Host,
		Writer:     io.Discard,
	})
	if err != nil {
		s.ts.Listener.Close()
		return nil, err
	}
	s.Fake = fake
	for _, b := range buckets {
		fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	s.ts.Config.Handler = http.HandlerFunc(s.serve)
	s.ts.Start()
	s.URL = s.ts.URL
	return s, nil
}

// New is Start for a test, stopped at its end.
func New(tb testing.TB, buckets ...string) *Server {
	tb.Helper()
	s, err := Start(buckets...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Close stops the listener and the fake.
func (s *Server) Close() {
	s.ts.Close()
	s.Fake.Stop()
}

// Options point a storage client at this server without credentials.
func (s *Server) Options() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(s.URL + "/storage/v1/"), option.WithoutAuthentication()}
}

// Client is a storage client for this server.
func (s *Server) Client(ctx context.Context) (*storage.Client, error) {
	return storage.NewClient(ctx, s.Options()...)
}

// SetFault installs (or, with nil, removes) a fault.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// SetRequestFault installs (or, with nil, removes) a hook that sees every
// request before anything else; it returns true when it has answered.
func (s *Server) SetRequestFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	s.onRequest = f
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Requests.Add(1)
	s.mu.Lock()
	onRequest := s.onRequest
	s.mu.Unlock()
	if onRequest != nil && onRequest(w, r) {
		return
	}
	next := s.Fake.HTTPHandler()
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/upload/storage/v1/") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		fault := s.fault
		s.mu.Unlock()
		if fault != nil && fault(uploadName(r, body), w, r, counting{s, next}) {
			return
		}
		s.Uploads.Add(1)
	}
	next.ServeHTTP(w, r)
}

type counting struct {
	s    *Server
	next http.Handler
}

func (c counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.s.Uploads.Add(1)
	c.next.ServeHTTP(w, r)
}

// uploadName finds the object name of an upload: the `name` query parameter
// (simple and resumable uploads) or the metadata part of a multipart upload.
func uploadName(r *http.Request, body []byte) string {
	if n := r.URL.Query().Get("name"); n != "" {
		return n
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	part, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).NextPart()
	if err != nil {
		return ""
	}
	var meta struct {
		Name string `json:"name"`
	}
	_ = json.NewDecoder(part).Decode(&meta)
	return meta.Name
}

// Object reads an object straight from the fake's backend.
func (s *Server) Object(bucket, name string) (fakestorage.Object, bool) {
	o, err := s.Fake.GetObject(bucket, name)
	return o, err == nil
}

// Names lists every object name in bucket.
func (s *Server) Names(bucket string) ([]string, error) {
	// MaxResults 0 lists everything in one page (fakestorage/object.go,
	// ListObjectsWithOptionsPaginated, fake-gcs-server v1.56.1).
	resp, err := s.Fake.ListObjectsWithOptionsPaginated(bucket, fakestorage.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(resp.Objects))
	for _, o := range resp.Objects {
		out = append(out, o.Name)
	}
	return out, nil
}

// Put stores an object directly, bypassing the API (for tampering tests).
func (s *Server) Put(bucket, name string, data []byte) {
	s.Fake.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name}, Content: data})
}

// DeleteAll removes every object of bucket.
func (s *Server) DeleteAll(bucket string) error {
	names, err := s.Names(bucket)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := s.Fake.Backend().DeleteObject(bucket, n); err != nil {
			return err
		}
	}
	return nil
}
