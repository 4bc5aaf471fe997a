package fleetharness

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Recording is Nomad API answers by request path, as the fleet package's
// unit tests replay them (fleet/testdata/recorded/*.json).
type Recording struct {
	// Nomad is the version of the agent that answered.
	Nomad string `json:"nomad"`
	// Expected is the bundle status compared with, its source made relative.
	Expected json.RawMessage `json:"expected,omitempty"`
	// Responses by URL path; queries are not part of the key.
	Responses map[string]Response `json:"responses"`
}

// Response is one recorded answer.
type Response struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// recorder is a reverse proxy in front of the server's HTTP API that keeps
// the newest answer to every path.
type recorder struct {
	mu   sync.Mutex
	rec  Recording
	srv  *httptest.Server
	dest string
}

// Record starts a recording proxy to the cluster's API when
// $TETRANOMAD_FLEET_RECORD names a directory, else returns nil. Point
// status at its Addr, then Save under a name.
func (c *Cluster) Record(t *testing.T, nomadVersion string) *recorder {
	dest := os.Getenv("TETRANOMAD_FLEET_RECORD")
	if dest == "" {
		return nil
	}
	target, err := url.Parse(c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{dest: dest, rec: Recording{Nomad: nomadVersion, Responses: map[string]Response{}}}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		// Plain JSON to record, not gzip.
		pr.Out.Header.Del("Accept-Encoding")
	}}
	proxy.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var compact bytes.Buffer
		if json.Compact(&compact, scrub(resp.Request.URL.Path, body)) != nil {
			b, _ := json.Marshal(string(body))
			compact.Reset()
			compact.Write(b)
		}
		r.mu.Lock()
		r.rec.Responses[resp.Request.URL.Path] = Response{Status: resp.StatusCode, Body: json.RawMessage(compact.Bytes())}
		r.mu.Unlock()
		return nil
	}
	r.srv = httptest.NewServer(proxy)
	t.Cleanup(r.srv.Close)
	return r
}

// Addr is where status should ask.
func (r *recorder) Addr() string { return r.srv.URL }

// Save writes what was recorded since the last Save to DEST/name.json, with
// the expected bundle (source path replaced by name) alongside.
func (r *recorder) Save(t *testing.T, name string, expected map[string]any) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if expected != nil {
		expected["source"] = "bundle/" + name
		b, err := json.Marshal(expected)
		if err != nil {
			t.Fatal(err)
		}
		r.rec.Expected = b
	}
	paths := make([]string, 0, len(r.rec.Responses))
	for p := range r.rec.Responses {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out, err := json.MarshalIndent(r.rec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dest, name+".json"), append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d API answers (%v) to %s", len(paths), paths, filepath.Join(r.dest, name+".json"))
	r.rec.Responses = map[string]Response{}
	r.rec.Expected = nil
}

// keptAttributes are the node attributes a recording keeps: what status
// reads, and a few that say what answered. The rest describe this machine
// (host name, CPU, addresses) and are of no use to a test.
var keptAttributes = map[string]bool{
	"driver.docker": true, "driver.docker.privileged.enabled": true, "driver.docker.version": true,
	"driver.mock_driver": true, "kernel.name": true, "os.name": true, "nomad.version": true,
}

// scrub drops machine-specific node attributes and resources from node
// answers; other answers are kept as they are.
func scrub(path string, body []byte) []byte {
	scrubNode := func(n map[string]any) {
		if attrs, ok := n["Attributes"].(map[string]any); ok {
			for k := range attrs {
				if !keptAttributes[k] {
					delete(attrs, k)
				}
			}
		}
		for _, k := range []string{"NodeResources", "ReservedResources", "Resources", "Reserved", "Links", "HTTPAddr", "Address"} {
			delete(n, k)
		}
		if drivers, ok := n["Drivers"].(map[string]any); ok {
			for name, d := range drivers {
				if dm, ok := d.(map[string]any); ok {
					if name != "docker" && name != "mock_driver" {
						delete(drivers, name)
						continue
					}
					if attrs, ok := dm["Attributes"].(map[string]any); ok {
						for k := range attrs {
							if !keptAttributes[k] {
								delete(attrs, k)
							}
						}
					}
				}
			}
		}
	}
	switch {
	case path == "/v1/nodes":
		var nodes []map[string]any
		if json.Unmarshal(body, &nodes) != nil {
			return body
		}
		for _, n := range nodes {
			scrubNode(n)
		}
		out, _ := json.Marshal(nodes)
		return out
	case strings.HasPrefix(path, "/v1/node/"):
		var n map[string]any
		if json.Unmarshal(body, &n) != nil {
			return body
		}
		scrubNode(n)
		out, _ := json.Marshal(n)
		return out
	}
	return body
}
