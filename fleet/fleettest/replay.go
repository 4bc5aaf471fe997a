// Package fleettest replays Nomad API answers recorded from real agents
// (fleet/testdata/recorded, written by the Fleet e2e test with
// TETRANOMAD_FLEET_RECORD set) so the status command and the fleet package
// are tested against what Nomad really says.
package fleettest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
)

// Recording is the file format of test/e2e/fleetharness.Recording.
type Recording struct {
	Nomad     string              `json:"nomad"`
	Expected  json.RawMessage     `json:"expected"`
	Responses map[string]Response `json:"responses"`
}

// Response is one recorded answer.
type Response struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// Load reads a recording.
func Load(t testing.TB, file string) *Recording {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r Recording
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return &r
}

// Server answers every recorded path with its recorded answer, and 404
// (as Nomad does for an unknown job) otherwise. Requests names the paths
// asked for.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	Requests []string
}

// Serve starts a replay server for r, closed with the test.
func Serve(t testing.TB, r *Recording) *Server {
	t.Helper()
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.Requests = append(s.Requests, req.URL.Path)
		s.mu.Unlock()
		resp, ok := r.Responses[req.URL.Path]
		if !ok {
			http.Error(w, "not recorded: "+req.URL.Path, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Nomad-Index", "1")
		w.WriteHeader(resp.Status)
		_, _ = w.Write(resp.Body)
	}))
	t.Cleanup(s.Close)
	return s
}
