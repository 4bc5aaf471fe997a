package imagelabel

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/imagelabel/computetest"
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

func TestForBundle(t *testing.T) {
	b := &bundle.Bundle{Manifest: bundle.Manifest{BundleID: "abc"}, Build: bundle.Build{Plugin: "0.1.1-dev", Preflight: &bundle.Preflight{KernelRelease: "6.1.0-18-cloud-amd64"}}}
	want := map[string]string{KeyBundle: "abc", KeyPlugin: "0-1-1-dev", KeyKernel: "6-1-0-18-cloud-amd64"}
	if got := ForBundle(b); !maps.Equal(got, want) {
		t.Errorf("ForBundle = %v, want %v", got, want)
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

func newLabeler(t *testing.T, s *computetest.Server) *Labeler {
	t.Helper()
	l, err := New(context.Background(), s.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.Pause = time.Millisecond
	return l
}

var ours = map[string]string{"tetranomad-bundle": "abc123", "tetragon-version": "v1-7-0", "nomad-version": "1-10-5"}

func TestApplyMergesAndWaits(t *testing.T) {
	s := computetest.New(t)
	s.AddImage("proj", "img", map[string]string{"team": "sec", "tetragon-version": "v1-6-0"})
	s.OpRunning = true
	l := newLabeler(t, s)
	res, err := l.Apply(context.Background(), "proj", "img", ours)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"team": "sec", "tetranomad-bundle": "abc123", "tetragon-version": "v1-7-0", "nomad-version": "1-10-5"}
	if got := s.Labels("proj", "img"); !maps.Equal(got, want) || !res.Changed || !maps.Equal(res.Labels, want) {
		t.Errorf("image labels %v (result %+v), want %v", got, res, want)
	}
	if _, polls := s.Calls(); polls != 1 {
		t.Errorf("operation polled %d times, want 1 (it was RUNNING when returned)", polls)
	}

	// Applying again changes nothing and calls setLabels no more.
	res, err = l.Apply(context.Background(), "proj", "img", ours)
	if sets, _ := s.Calls(); err != nil || res.Changed || sets != 1 {
		t.Errorf("second Apply: %+v, %v, %d setLabels calls; want unchanged and 1 call", res, err, sets)
	}
}

// Someone changes the labels between our read and our write: the API refuses
// our stale fingerprint, we read again and keep their label.
func TestApplyRetriesFingerprintConflict(t *testing.T) {
	s := computetest.New(t)
	s.AddImage("proj", "img", map[string]string{"team": "sec"})
	s.BeforeSet = func(s *computetest.Server, project, name string, w http.ResponseWriter) bool {
		if s.SetCalls <= 2 {
			s.SetLabelLocked(project, name, fmt.Sprintf("other-%d", s.SetCalls), "x")
		}
		return false
	}
	res, err := newLabeler(t, s).Apply(context.Background(), "proj", "img", ours)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Labels("proj", "img")
	for _, k := range []string{"team", "other-1", "other-2", "tetranomad-bundle"} {
		if _, ok := got[k]; !ok {
			t.Errorf("label %q lost; labels %v", k, got)
		}
	}
	if sets, _ := s.Calls(); sets != 3 || res.Tries != 3 {
		t.Errorf("%d setLabels calls (result says %d), want 3: two conflicts then success", sets, res.Tries)
	}
}

func TestApplyGivesUpOnEndlessConflicts(t *testing.T) {
	s := computetest.New(t)
	s.AddImage("proj", "img", nil)
	s.BeforeSet = func(s *computetest.Server, project, name string, w http.ResponseWriter) bool {
		s.SetLabelLocked(project, name, "churn", fmt.Sprint(s.SetCalls))
		return false
	}
	l := newLabeler(t, s)
	l.Attempts = 3
	_, err := l.Apply(context.Background(), "proj", "img", ours)
	if sets, _ := s.Calls(); err == nil || !strings.Contains(err.Error(), "fingerprint conflict 3 times") || sets != 3 {
		t.Errorf("err = %v after %d calls, want a fingerprint-conflict error after 3", err, sets)
	}
}

func TestApplyErrorsSurfaced(t *testing.T) {
	answer := func(code int, msg string) func(*computetest.Server, string, string, http.ResponseWriter) bool {
		return func(_ *computetest.Server, _, _ string, w http.ResponseWriter) bool {
			computetest.APIError(w, code, msg)
			return true
		}
	}
	cases := map[string]struct {
		image string
		setup func(*computetest.Server)
		says  []string
		sets  int
	}{
		"missing image": {image: "nope", says: []string{"not found in project proj", "set `project`"}},
		"forbidden": {image: "img", setup: func(s *computetest.Server) {
			s.BeforeSet = answer(http.StatusForbidden, "Required 'compute.images.setLabels' permission")
		}, says: []string{"permission denied", "compute.images.setLabels"}, sets: 1},
		"operation failed": {image: "img", setup: func(s *computetest.Server) { s.OpError = true }, says: []string{"operation op-1 failed", "INVALID_LABEL", "bad label"}, sets: 1},
		"server keeps failing": {image: "img", setup: func(s *computetest.Server) {
			s.BeforeSet = answer(http.StatusServiceUnavailable, "backend unavailable")
		}, says: []string{"backend unavailable"}, sets: 5},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := computetest.New(t)
			s.AddImage("proj", "img", nil)
			if c.setup != nil {
				c.setup(s)
			}
			_, err := newLabeler(t, s).Apply(context.Background(), "proj", c.image, ours)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range c.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q: %v", want, err)
				}
			}
			if sets, _ := s.Calls(); sets != c.sets {
				t.Errorf("%d setLabels calls, want %d", sets, c.sets)
			}
		})
	}
}
