package policydir

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadLikeTheAgent(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "b")
	write("README.md", "readme")    // loaded: any extension
	write("a.yml~", "backup")       // loaded: editor backups too
	write("sub/c.json", "c")        // one level down: loaded
	write("sub/deeper/d.yaml", "d") // two levels down: skipped
	if err := os.Symlink("b.yaml", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	files, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f.Path)
		got = append(got, rel+"="+string(f.Data))
	}
	want := []string{"README.md=readme", "a.yml~=backup", "b.yaml=b", "link.yaml=b", "sub/c.json=c"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read = %v, want %v", got, want)
	}
}

func TestReadMissingDir(t *testing.T) {
	if _, err := Read(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("want an error for a missing directory")
	}
}
