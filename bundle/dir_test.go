package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// testBundle is a small sealed bundle, as render builds one: the jobspec
// names its id through the placeholder.
func testBundle(t testing.TB, policy string) *Bundle {
	t.Helper()
	return testBundleWith(t, policy, func(*Manifest) {})
}

func testBundleWith(t testing.TB, policy string, edit func(*Manifest)) *Bundle {
	t.Helper()
	b := &Bundle{Manifest: Manifest{
		SchemaVersion: SchemaVersion,
		Contract:      "c0ffee",
		Versions:      Versions{Tetragon: "v1.7.0", Nomad: "1.10.5"},
		Target:        Target{Bucket: "bkt", Prefix: "tn"},
		Policies:      []PolicyRequirements{{Policy: "p", File: "policies/p.yaml", Symbols: []string{"sys_openat"}}},
	}, Build: Build{Plugin: "0.1.0"}}
	for _, f := range []struct{ p, role, data string }{
		{"policies/p.yaml", RolePolicy, policy},
		{"nomad/tetragon.hcl", RoleClientConfig, "client {}\n"},
		{JobspecPath, RoleJobspec, `job "tetragon" { meta { tetranomad_bundle = "` + IDPlaceholder + `" } }` + "\n" +
			`# source = "gcs::https://www.googleapis.com/storage/v1/bkt/tn/bundles/` + IDPlaceholder + `/policies/p.yaml"` + "\n"},
	} {
		if err := b.Add(f.p, f.role, []byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	edit(&b.Manifest)
	if err := b.Seal(); err != nil {
		t.Fatal(err)
	}
	return b
}

// listing is every entry under root with its type and a digest of its
// content: two equal listings mean nothing there changed.
func listing(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		entry := filepath.ToSlash(rel) + " " + e.Type().String()
		if e.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			entry += " " + hex.EncodeToString(sum[:8])
		}
		out = append(out, entry)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func sameListing(t *testing.T, what string, before, after []string) {
	t.Helper()
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("%s changed:\nbefore:\n%s\nafter:\n%s", what, strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

func TestSealAndVerify(t *testing.T) {
	b := testBundle(t, "kind: TracingPolicy\n")
	if !idPattern.MatchString(b.Manifest.BundleID) {
		t.Fatalf("id %q", b.Manifest.BundleID)
	}
	if strings.Contains(string(b.Content[JobspecPath]), IDPlaceholder) || !strings.Contains(string(b.Content[JobspecPath]), b.Manifest.BundleID) {
		t.Fatalf("jobspec not sealed:\n%s", b.Content[JobspecPath])
	}
	if err := b.VerifyID(); err != nil {
		t.Fatal(err)
	}
	// The id is a function of every manifest field, not only the files.
	other := testBundleWith(t, "kind: TracingPolicy\n", func(m *Manifest) { m.Versions.Tetragon = "v1.7.1" })
	if other.Manifest.BundleID == b.Manifest.BundleID {
		t.Errorf("changing versions kept id %s", b.Manifest.BundleID)
	}
	// The build record is not: another plugin, the same id.
	again := testBundle(t, "kind: TracingPolicy\n")
	again.Build = Build{Plugin: "9.9.9", Preflight: &Preflight{KernelRelease: "6.1.0"}}
	if again.Manifest.BundleID != b.Manifest.BundleID {
		t.Errorf("id depends on the build record")
	}
}

func TestWriteDirDestinations(t *testing.T) {
	b := testBundle(t, "kind: TracingPolicy\n")
	newer := testBundle(t, "kind: TracingPolicy # v2\n")

	t.Run("new path, sibling DIR.old untouched", func(t *testing.T) {
		root := t.TempDir()
		old := filepath.Join(root, "out.old")
		if err := os.MkdirAll(old, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(old, "keep"), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := listing(t, old)
		if err := b.WriteDir(filepath.Join(root, "out")); err != nil {
			t.Fatal(err)
		}
		sameListing(t, "out.old", before, listing(t, old))
		got, err := ReadDir(filepath.Join(root, "out"))
		if err != nil || got.Manifest.BundleID != b.Manifest.BundleID || got.Build.Plugin != "0.1.0" {
			t.Fatalf("ReadDir: %v", err)
		}
		assertNoTemp(t, root)
	})

	t.Run("empty directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := b.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadDir(dir); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a bundle is replaced atomically", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "out")
		if err := b.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		// Just before the swap, DIR is still the old bundle, complete.
		testHookBeforeSwap = func(string) {
			got, err := ReadDir(dir)
			if err != nil || got.Manifest.BundleID != b.Manifest.BundleID {
				t.Errorf("before the swap: %v", err)
			}
		}
		defer func() { testHookBeforeSwap = nil }()
		if err := newer.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		got, err := ReadDir(dir)
		if err != nil || got.Manifest.BundleID != newer.Manifest.BundleID {
			t.Fatalf("after: %v", err)
		}
		assertNoTemp(t, root)
	})

	// issue 11 item 1: render -out deleted whatever DIR was.
	refused := []struct {
		name  string
		setup func(t *testing.T, dir string)
		says  string
	}{
		{"a project directory", func(t *testing.T, dir string) {
			write(t, dir, ".git/HEAD", "ref: refs/heads/main\n")
			write(t, dir, "decl.hcl", "publish {}\n")
			write(t, dir, "policies/mine.yaml", "kind: TracingPolicy\n")
		}, "holds no tetranomad bundle"},
		{"a bundle with a file of the user's", func(t *testing.T, dir string) {
			if err := b.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			write(t, dir, "notes.txt", "mine\n")
		}, "holds notes.txt, which the bundle's manifest.json does not list"},
		{"a foreign manifest.json", func(t *testing.T, dir string) {
			write(t, dir, "manifest.json", `{"name": "my web app"}`)
		}, "not a tetranomad manifest"},
	}
	for _, c := range refused {
		t.Run("refuses "+c.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "proj")
			c.setup(t, dir)
			before := listing(t, root)
			err := newer.WriteDir(dir)
			if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "choose a new or empty directory") {
				t.Fatalf("err = %v; want it to name %s and say %q", err, dir, c.says)
			}
			sameListing(t, root, before, listing(t, root))
		})
	}
	t.Run("refuses a regular file", func(t *testing.T) {
		root := t.TempDir()
		write(t, root, "f", "data")
		before := listing(t, root)
		err := b.WriteDir(filepath.Join(root, "f"))
		if err == nil || !strings.Contains(err.Error(), "is not a directory") {
			t.Fatalf("err = %v", err)
		}
		sameListing(t, root, before, listing(t, root))
	})
}

// TestWriteDirInterrupted: a cancelled context (SIGINT, SIGTERM in the
// commands) leaves DIR as it was and no temporary directory behind.
func TestWriteDirInterrupted(t *testing.T) {
	b := testBundle(t, "kind: TracingPolicy\n")
	newer := testBundle(t, "kind: TracingPolicy # v2\n")
	root := t.TempDir()
	dir := filepath.Join(root, "out")
	if err := b.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	before := listing(t, root)
	for _, when := range []string{"before writing", "before the swap"} {
		ctx, cancel := context.WithCancel(context.Background())
		if when == "before writing" {
			cancel()
		} else {
			testHookBeforeSwap = func(string) { cancel() }
		}
		err := newer.WriteDirContext(ctx, dir)
		testHookBeforeSwap = nil
		cancel()
		if err == nil || !strings.Contains(err.Error(), "interrupted; "+dir+" was not changed") {
			t.Errorf("%s: err = %v", when, err)
		}
		sameListing(t, when, before, listing(t, root))
	}
}

func assertNoTemp(t *testing.T, root string) {
	t.Helper()
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary directory left behind: %s", e.Name())
		}
	}
}

func write(t *testing.T, dir, rel, data string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editManifest rewrites dir's manifest.json through a generic map, as a
// hand (or a hostile tool) would.
func editManifest(t *testing.T, dir string, edit func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, ManifestPath)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func files(m map[string]any) []any { return m["files"].([]any) }

// TestReadDirRefusesTampering: issue 11 item 3, publish trusted the bundle
// directory. ReadDir is what publish and the post-processor read it with.
func TestReadDirRefusesTampering(t *testing.T) {
	cases := []struct {
		name string
		edit func(t *testing.T, dir string)
		says string
	}{
		{"bundle_id escaping the prefix", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { m["bundle_id"] = "../../escaped" })
		}, `bundle_id "../../escaped" is not 20 lowercase hex characters`},
		{"empty bundle_id", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { m["bundle_id"] = "" })
		}, "manifest.json has no bundle_id"},
		{"a file named latest.json", func(t *testing.T, dir string) {
			write(t, dir, "policies/latest.json", "{}")
			editManifest(t, dir, func(m map[string]any) {
				f := files(m)[0].(map[string]any)
				f["path"] = "policies/latest.json"
				f["sha256"], f["size"] = SHA256Hex([]byte("{}")), 2
				os.Remove(filepath.Join(dir, "nomad/tetragon.hcl"))
			})
		}, `"policies/latest.json" is not a bundle file path`},
		{"a path with ..", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { files(m)[0].(map[string]any)["path"] = "../../latest.json" })
		}, "is not a bundle file path"},
		{"an absolute path", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { files(m)[0].(map[string]any)["path"] = "/etc/passwd" })
		}, "is not a bundle file path"},
		{"a policy edited with its checksum updated", func(t *testing.T, dir string) {
			data := []byte("kind: TracingPolicy # evil\n")
			write(t, dir, "policies/p.yaml", string(data))
			editManifest(t, dir, func(m map[string]any) {
				for _, f := range files(m) {
					if f := f.(map[string]any); f["path"] == "policies/p.yaml" {
						f["sha256"], f["size"] = SHA256Hex(data), len(data)
					}
				}
			})
		}, "does not match the bundle's content"},
		{"a target edited", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { m["target"].(map[string]any)["prefix"] = "other" })
		}, "does not match the bundle's content"},
		{"a policy edited", func(t *testing.T, dir string) {
			write(t, dir, "policies/p.yaml", "kind: TracingPolicy # evil\n")
		}, "differs from the manifest's"},
		{"an extra file", func(t *testing.T, dir string) {
			write(t, dir, "policies/extra.yaml", "kind: TracingPolicy\n")
		}, "holds policies/extra.yaml, which manifest.json does not list"},
		{"a missing file", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "policies/p.yaml"))
		}, "listed in manifest.json but missing"},
		{"a symlink instead of a file", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "policies/p.yaml"))
			if err := os.Symlink("/etc/hostname", filepath.Join(dir, "policies/p.yaml")); err != nil {
				t.Fatal(err)
			}
		}, "holds policies/p.yaml, which manifest.json does not list"},
		{"data after the manifest", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, ManifestPath), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"bundle_id": "x"}`)
			f.Close()
		}, "unexpected data after the JSON object"},
		{"a build.json of another bundle", func(t *testing.T, dir string) {
			write(t, dir, BuildPath, `{"schema_version": 1, "bundle_id": "0123456789abcdef0123", "plugin": "x"}`)
		}, "records bundle \"0123456789abcdef0123\""},
		{"an unknown role", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { files(m)[0].(map[string]any)["role"] = "script" })
		}, `has role "script"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			if err := testBundle(t, "kind: TracingPolicy\n").WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			c.edit(t, dir)
			_, err := ReadDir(dir)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("ReadDir = %v; want an error saying %q", err, c.says)
			}
		})
	}
}

// FuzzReadManifest: whatever manifest.json holds next to a real bundle's
// files, ReadDir either refuses it or yields exactly the bundle that was
// written (the id binds the manifest), and never panics.
func FuzzReadManifest(f *testing.F) {
	b := testBundle(f, "kind: TracingPolicy\n")
	good, _ := b.Manifest.Encode()
	f.Add(good)
	f.Add([]byte(strings.Replace(string(good), b.Manifest.BundleID, "../../escaped", 1)))
	f.Add([]byte(strings.Replace(string(good), `"policies/p.yaml"`, `"../latest.json"`, 1)))
	f.Add([]byte(`{"schema_version": 2, "bundle_id": ""}`))
	f.Add([]byte(`[]`))
	dir := filepath.Join(f.TempDir(), "b")
	if err := b.WriteDir(dir); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, manifest []byte) {
		if err := os.WriteFile(filepath.Join(dir, ManifestPath), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadDir(dir)
		if err != nil {
			return
		}
		enc, _ := got.Manifest.Encode()
		if string(enc) != string(good) {
			t.Fatalf("accepted a manifest other than the one written:\n%s", enc)
		}
	})
}
