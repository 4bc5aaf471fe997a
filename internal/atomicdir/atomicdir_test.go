package atomicdir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out
}

func TestReplace(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	// A sibling named like the old implementation's backup must survive.
	if err := os.WriteFile(dir+".old", []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name string) func(string) error {
		return func(tmp string) error { return WriteFile(filepath.Join(tmp, name), []byte(name), 0o640) }
	}
	ctx := context.Background()
	if err := Replace(ctx, dir, false, write("a")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "a")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("a: %v %v, want mode 0640", fi, err)
	}
	if err := Replace(ctx, dir, true, write("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Error("the old contents survived a replace")
	}
	boom := errors.New("boom")
	if err := Replace(ctx, dir, true, func(string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "b")); err != nil || string(data) != "b" {
		t.Errorf("a failed fill changed the directory: %q %v", data, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := Replace(cancelled, dir, true, write("c")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled replace: err = %v", err)
	}
	if got := listing(t, parent); len(got) != 4 || got[1] != "out" || got[2] != "out.old" || got[3] != "out/b" {
		t.Errorf("after the replaces the parent holds %v, want out/b and the untouched out.old", got)
	}
	if data, _ := os.ReadFile(dir + ".old"); string(data) != "mine" {
		t.Errorf("the sibling out.old was changed: %q", data)
	}
}

// Without existing, a directory that is not empty is never replaced.
func TestReplaceRefusesANonEmptyDirectoryUnlessExisting(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "user-file"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Replace(context.Background(), dir, false, func(tmp string) error {
		return WriteFile(filepath.Join(tmp, "x"), nil, 0o644)
	})
	if err == nil {
		t.Fatal("a non-empty directory was replaced")
	}
	if data, err := os.ReadFile(filepath.Join(dir, "user-file")); err != nil || string(data) != "keep" {
		t.Errorf("user-file: %q %v", data, err)
	}
}
