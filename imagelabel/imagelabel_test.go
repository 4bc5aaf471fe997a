package imagelabel

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

func TestSanitizeValue(t *testing.T) {
	for in, want := range map[string]string{
		"v1.7.0":                "v1-7-0",
		"1.10.5":                "1-10-5",
		"V1.8.0-RC.1+build":     "v1-8-0-rc-1-build",
		"ab_cd-12":              "ab_cd-12",
		"":                      "",
		strings.Repeat("a", 80): strings.Repeat("a", 63),
		"é/ü":                   "---",
	} {
		if got := SanitizeValue(in); got != want {
			t.Errorf("SanitizeValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestForManifest(t *testing.T) {
	m := &bundle.Manifest{BundleID: "3f9A2c", Versions: bundle.Versions{Tetragon: "v1.7.0", Nomad: "1.10.5"}}
	want := map[string]string{"tetranomad-bundle": "3f9a2c", "tetragon-version": "v1-7-0", "nomad-version": "1-10-5"}
	if got := ForManifest(m); !maps.Equal(got, want) {
		t.Errorf("ForManifest = %v, want %v", got, want)
	}
	if got := ForManifest(&bundle.Manifest{BundleID: "x"}); len(got) != 1 {
		t.Errorf("versions missing from the manifest became labels: %v", got)
	}
}

func TestMerge(t *testing.T) {
	existing := map[string]string{"team": "sec", "tetragon-version": "v1-6-0"}
	got, changed := Merge(existing, map[string]string{"tetragon-version": "v1-7-0", "nomad-version": "1-10-5"})
	want := map[string]string{"team": "sec", "tetragon-version": "v1-7-0", "nomad-version": "1-10-5"}
	if !changed || !maps.Equal(got, want) {
		t.Errorf("Merge = %v, %v; want %v, true", got, changed, want)
	}
	if existing["tetragon-version"] != "v1-6-0" {
		t.Errorf("Merge modified its input")
	}
	if _, changed := Merge(want, map[string]string{"team": "sec"}); changed {
		t.Errorf("Merge reports a change for labels already present")
	}
}

// fakeCompute serves the three Compute Engine calls labelling needs, with
// fingerprints that change on every label write as the real API's do.
type fakeCompute struct {
	mu          sync.Mutex
	labels      map[string]string
	fingerprint int
	setCalls    int
	opPolls     int
	// beforeSet runs before a setLabels is judged; it can change the labels
	// to simulate a concurrent writer, or answer the request itself.
	beforeSet func(f *fakeCompute, w http.ResponseWriter) bool
	// opStatus is what operation polls return (default DONE).
	opStatus string
	opError  bool
}

func (f *fakeCompute) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	const img = "/compute/v1/projects/proj/global/images/img"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == img:
		json.NewEncoder(w).Encode(map[string]any{"name": "img", "labels": f.labels, "labelFingerprint": fmt.Sprintf("fp%d", f.fingerprint)})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/compute/v1/projects/proj/global/images/"):
		apiError(w, http.StatusNotFound, "The resource 'projects/proj/global/images/x' was not found")
	case r.Method == http.MethodPost && r.URL.Path == img+"/setLabels":
		f.setCalls++
		if f.beforeSet != nil && f.beforeSet(f, w) {
			return
		}
		var req struct {
			LabelFingerprint string            `json:"labelFingerprint"`
			Labels           map[string]string `json:"labels"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if req.LabelFingerprint != fmt.Sprintf("fp%d", f.fingerprint) {
			apiError(w, http.StatusPreconditionFailed, "Labels fingerprint either invalid or resource labels have changed")
			return
		}
		f.labels = req.Labels
		f.fingerprint++
		status := "RUNNING"
		if f.opStatus == "" {
			status = "DONE"
		}
		json.NewEncoder(w).Encode(map[string]any{"name": "op-1", "status": status})
	case r.Method == http.MethodGet && r.URL.Path == "/compute/v1/projects/proj/global/operations/op-1":
		f.opPolls++
		op := map[string]any{"name": "op-1", "status": "DONE"}
		if f.opError {
			op["error"] = map[string]any{"errors": []map[string]any{{"code": "INVALID_LABEL", "message": "bad label"}}}
		}
		json.NewEncoder(w).Encode(op)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
	}
}

func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func newLabeler(t *testing.T, f *fakeCompute) *Labeler {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(ts.Close)
	l, err := New(context.Background(), option.WithEndpoint(ts.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.Pause = time.Millisecond
	return l
}

var ours = map[string]string{"tetranomad-bundle": "abc123", "tetragon-version": "v1-7-0", "nomad-version": "1-10-5"}

func TestApplyMergesAndWaits(t *testing.T) {
	f := &fakeCompute{labels: map[string]string{"team": "sec", "tetragon-version": "v1-6-0"}, opStatus: "RUNNING"}
	l := newLabeler(t, f)
	res, err := l.Apply(context.Background(), "proj", "img", ours)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"team": "sec", "tetranomad-bundle": "abc123", "tetragon-version": "v1-7-0", "nomad-version": "1-10-5"}
	if !maps.Equal(f.labels, want) || !res.Changed || !maps.Equal(res.Labels, want) {
		t.Errorf("image labels %v (result %+v), want %v", f.labels, res, want)
	}
	if f.opPolls != 1 {
		t.Errorf("operation polled %d times, want 1 (it was RUNNING when returned)", f.opPolls)
	}

	// Applying again changes nothing and calls setLabels no more.
	res, err = l.Apply(context.Background(), "proj", "img", ours)
	if err != nil || res.Changed || f.setCalls != 1 {
		t.Errorf("second Apply: %+v, %v, %d setLabels calls; want unchanged and 1 call", res, err, f.setCalls)
	}
}

// Someone changes the labels between our read and our write: the API refuses
// our stale fingerprint, we read again and keep their label.
func TestApplyRetriesFingerprintConflict(t *testing.T) {
	f := &fakeCompute{labels: map[string]string{"team": "sec"}}
	f.beforeSet = func(f *fakeCompute, w http.ResponseWriter) bool {
		if f.setCalls <= 2 {
			f.labels = maps.Clone(f.labels)
			f.labels[fmt.Sprintf("other-%d", f.setCalls)] = "x"
			f.fingerprint++
		}
		return false
	}
	res, err := newLabeler(t, f).Apply(context.Background(), "proj", "img", ours)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"team", "other-1", "other-2", "tetranomad-bundle"} {
		if _, ok := f.labels[k]; !ok {
			t.Errorf("label %q lost; labels %v", k, f.labels)
		}
	}
	if f.setCalls != 3 || res.Tries != 3 {
		t.Errorf("%d setLabels calls (result says %d), want 3: two conflicts then success", f.setCalls, res.Tries)
	}
}

func TestApplyGivesUpOnEndlessConflicts(t *testing.T) {
	f := &fakeCompute{labels: map[string]string{}}
	f.beforeSet = func(f *fakeCompute, w http.ResponseWriter) bool { f.fingerprint++; return false }
	l := newLabeler(t, f)
	l.Attempts = 3
	_, err := l.Apply(context.Background(), "proj", "img", ours)
	if err == nil || !strings.Contains(err.Error(), "fingerprint conflict 3 times") || f.setCalls != 3 {
		t.Errorf("err = %v after %d calls, want a fingerprint-conflict error after 3", err, f.setCalls)
	}
}

func TestApplyErrorsSurfaced(t *testing.T) {
	cases := map[string]struct {
		image string
		setup func(*fakeCompute)
		says  []string
	}{
		"missing image": {image: "nope", says: []string{"not found in project proj", "set `project`"}},
		"forbidden": {image: "img", setup: func(f *fakeCompute) {
			f.beforeSet = func(f *fakeCompute, w http.ResponseWriter) bool {
				apiError(w, http.StatusForbidden, "Required 'compute.images.setLabels' permission")
				return true
			}
		}, says: []string{"permission denied", "compute.images.setLabels"}},
		"operation failed": {image: "img", setup: func(f *fakeCompute) { f.opError = true }, says: []string{"operation op-1 failed", "INVALID_LABEL", "bad label"}},
		"server keeps failing": {image: "img", setup: func(f *fakeCompute) {
			f.beforeSet = func(f *fakeCompute, w http.ResponseWriter) bool {
				apiError(w, http.StatusServiceUnavailable, "backend unavailable")
				return true
			}
		}, says: []string{"backend unavailable"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := &fakeCompute{labels: map[string]string{}}
			if c.setup != nil {
				c.setup(f)
			}
			_, err := newLabeler(t, f).Apply(context.Background(), "proj", c.image, ours)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not say %q: %v", s, err)
				}
			}
		})
	}
}
