// Package computetest is a fake of the three Compute Engine API calls image
// labelling uses (images.get, images.setLabels, globalOperations.get) on an
// httptest server. Label fingerprints change on every write, as the real
// API's do, and a stale fingerprint gets 412.
package computetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"

	"google.golang.org/api/option"
)

type image struct {
	labels      map[string]string
	fingerprint int
}

// Server is the fake API. Lock Mu to read or change its fields while
// requests may be in flight; hooks run with Mu held.
type Server struct {
	URL string

	Mu       sync.Mutex
	SetCalls int // setLabels requests, answered or not
	OpPolls  int // operation polls
	// BeforeSet runs first on every setLabels; it may change labels (a
	// concurrent writer) or answer the request itself (return true).
	BeforeSet func(s *Server, project, name string, w http.ResponseWriter) bool
	// OpRunning makes setLabels return a RUNNING operation (DONE on poll).
	OpRunning bool
	// OpError makes the operation finish with an error.
	OpError bool

	images map[string]*image
}

// New starts a server, stopped at the end of the test.
func New(tb testing.TB) *Server {
	s := &Server{images: map[string]*image{}}
	ts := httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// Options point a Compute client at the server without credentials.
func (s *Server) Options() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(s.URL), option.WithoutAuthentication()}
}

// Calls returns the setLabels requests and operation polls so far.
func (s *Server) Calls() (setLabels, polls int) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.SetCalls, s.OpPolls
}

// AddImage creates an image with labels.
func (s *Server) AddImage(project, name string, labels map[string]string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.images[project+"/"+name] = &image{labels: maps.Clone(labels)}
}

// Labels returns an image's labels (nil if there is no such image).
func (s *Server) Labels(project, name string) map[string]string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.LabelsLocked(project, name)
}

// LabelsLocked is Labels for hooks, which run with Mu held.
func (s *Server) LabelsLocked(project, name string) map[string]string {
	if img, ok := s.images[project+"/"+name]; ok {
		return maps.Clone(img.labels)
	}
	return nil
}

// SetLabelLocked changes one label as another writer would (new
// fingerprint). For hooks, which run with Mu held.
func (s *Server) SetLabelLocked(project, name, key, value string) {
	img := s.images[project+"/"+name]
	if img.labels == nil {
		img.labels = map[string]string{}
	}
	img.labels[key] = value
	img.fingerprint++
}

var (
	imagePath = regexp.MustCompile(`^/compute/v1/projects/([^/]+)/global/images/([^/]+)(/setLabels)?$`)
	opPath    = regexp.MustCompile(`^/compute/v1/projects/([^/]+)/global/operations/([^/]+)$`)
)

// APIError writes a Google API error body.
func APIError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if m := opPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
		s.OpPolls++
		op := map[string]any{"name": m[2], "status": "DONE"}
		if s.OpError {
			op["error"] = map[string]any{"errors": []map[string]any{{"code": "INVALID_LABEL", "message": "bad label"}}}
		}
		json.NewEncoder(w).Encode(op)
		return
	}
	m := imagePath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		return
	}
	project, name, set := m[1], m[2], m[3] != ""
	if set {
		s.SetCalls++
		if s.BeforeSet != nil && s.BeforeSet(s, project, name, w) {
			return
		}
	}
	img, ok := s.images[project+"/"+name]
	if !ok {
		APIError(w, http.StatusNotFound, fmt.Sprintf("The resource 'projects/%s/global/images/%s' was not found", project, name))
		return
	}
	if !set {
		json.NewEncoder(w).Encode(map[string]any{"name": name, "labels": img.labels, "labelFingerprint": fmt.Sprintf("fp%d", img.fingerprint)})
		return
	}
	var req struct {
		LabelFingerprint string            `json:"labelFingerprint"`
		Labels           map[string]string `json:"labels"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		APIError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.LabelFingerprint != fmt.Sprintf("fp%d", img.fingerprint) {
		APIError(w, http.StatusPreconditionFailed, "Labels fingerprint either invalid or resource labels have changed")
		return
	}
	img.labels = req.Labels
	img.fingerprint++
	status := "DONE"
	if s.OpRunning {
		status = "RUNNING"
	}
	json.NewEncoder(w).Encode(map[string]any{"name": fmt.Sprintf("op-%d", s.SetCalls), "status": status})
}
