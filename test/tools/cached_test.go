// Package tools tests the harness's one cache helper, test/tools/cached, and
// the cached builds that go through it, started side by side on an empty
// cache as two e2e targets (or CI's parallel phases) start them.
package tools

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type result struct {
	path, stderr string
	err          error
}

// together starts n copies of the command at once with TETRANOMAD_CACHE=cache
// and returns what each printed.
func together(t *testing.T, n int, cache string, name string, args ...string) []result {
	t.Helper()
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(name, args...)
			cmd.Env = append(os.Environ(), "TETRANOMAD_CACHE="+cache)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			results[i] = result{strings.TrimSpace(stdout.String()), stderr.String(), err}
		}()
	}
	wg.Wait()
	return results
}

// onePath checks every run succeeded and printed the same existing path.
func onePath(t *testing.T, results []result) string {
	t.Helper()
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("run %d: %v\n%s", i, r.err, r.stderr)
		}
		if r.path != results[0].path {
			t.Fatalf("run %d printed %q, run 0 printed %q", i, r.path, results[0].path)
		}
	}
	if _, err := os.Stat(results[0].path); err != nil {
		t.Fatal(err)
	}
	return results[0].path
}

// noLeftovers checks that no temporary build output is left in the cache.
func noLeftovers(t *testing.T, cache string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(cache, ".*.building.*"))
	if len(left) > 0 {
		t.Errorf("temporary build output left in the cache: %v", left)
	}
}

func TestCachedBuildsOnceWhenStartedTogether(t *testing.T) {
	cache := t.TempDir()
	counter := filepath.Join(t.TempDir(), "builds")
	// The builder is slow enough that all three are waiting while it runs.
	builder := `echo build >>"$1"; sleep 1; mkdir "$OUT"; printf built >"$OUT/tool"`
	results := together(t, 3, cache, "./cached", "tool-1.0", "bash", "-c", builder, "builder", counter)
	path := onePath(t, results)
	if want := filepath.Join(cache, "tool-1.0"); path != want {
		t.Errorf("path %q, want %q", path, want)
	}
	if got, _ := os.ReadFile(filepath.Join(path, "tool")); string(got) != "built" {
		t.Errorf("artifact holds %q, want %q", got, "built")
	}
	if runs, _ := os.ReadFile(counter); strings.Count(string(runs), "build") != 1 {
		t.Errorf("the builder ran %d times, want once", strings.Count(string(runs), "build"))
	}
	noLeftovers(t, cache)
}

func TestCachedFailedBuildLeavesNothing(t *testing.T) {
	cache := t.TempDir()
	results := together(t, 3, cache, "./cached", "broken", "bash", "-c", `printf half >"$OUT"; exit 3`)
	for i, r := range results {
		if r.err == nil {
			t.Errorf("run %d succeeded with a failing builder, printed %q", i, r.path)
		}
		if !strings.Contains(r.stderr, "cached: building broken failed") {
			t.Errorf("run %d: stderr does not name the failed build:\n%s", i, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "broken")); !os.IsNotExist(err) {
		t.Errorf("a failed build left its artifact: %v", err)
	}
	noLeftovers(t, cache)
}

func TestCachedRefusesPathNames(t *testing.T) {
	for _, name := range []string{"../escape", "a/b", ".hidden"} {
		out, err := exec.Command("./cached", name, "true").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "must be a plain file name") {
			t.Errorf("cached %q: err=%v out=%s", name, err, out)
		}
	}
}

// The harness's real cached builds, three at a time on an empty cache: the
// mirror proxy (two e2e targets booting together raced on it) and the stub
// image tarball.
func TestHarnessBuildsStartedTogether(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	cache := t.TempDir()
	proxy := onePath(t, together(t, 3, cache, "../e2e/target/mirrorproxy-bin"))
	if fi, err := os.Stat(proxy); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		t.Errorf("mirrorproxy build %s is not an executable file (%v)", proxy, err)
	}
	if _, err := exec.LookPath("apt-get"); err == nil {
		image := onePath(t, together(t, 3, cache, "../e2e/target/stub-image"))
		if out, err := exec.Command("tar", "-tf", image).CombinedOutput(); err != nil || !strings.Contains(string(out), "./bin/busybox") {
			t.Errorf("stub image %s: %v\n%s", image, err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Error("apt-get not found: the stub image cannot be built")
	}
	noLeftovers(t, cache)
}
