package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/internal/atomicdir"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/inputfile"
)

// MaxBundleSize bounds the sum of a bundle directory's files.
const MaxBundleSize = 64 << 20

// WriteDir is WriteDirContext without cancellation.
func (b *Bundle) WriteDir(dir string) error {
	return b.WriteDirContext(context.Background(), dir)
}

// WriteDirContext writes the bundle to dir, which must not exist, be an
// empty directory, or hold a tetranomad bundle (its manifest.json says so
// and it holds nothing else): anything else is refused, never deleted.
// The files are written and fsynced in a hidden sibling directory which
// then takes dir's place in one rename (on Linux an atomic exchange with
// the old bundle), so dir is always the old bundle or the new one. When ctx
// ends first (SIGINT, SIGTERM), the temporary directory is removed and dir
// is untouched.
func (b *Bundle) WriteDirContext(ctx context.Context, dir string) (err error) {
	mf, err := b.Manifest.Encode()
	if err != nil {
		return err
	}
	var build []byte
	if b.Build != (Build{}) {
		rec := b.Build
		rec.SchemaVersion, rec.BundleID = BuildSchemaVersion, b.Manifest.BundleID
		if build, err = encodeJSON(rec); err != nil {
			return err
		}
	}
	dir = filepath.Clean(dir)
	replace, err := checkDestination(dir)
	if err != nil {
		return err
	}
	content := func(p string) []byte {
		switch p {
		case ManifestPath:
			return mf
		case BuildPath:
			return build
		}
		return b.Content[p]
	}
	files := append([]File(nil), b.Manifest.Files...)
	files = append(files, File{Path: ManifestPath})
	if build != nil {
		files = append(files, File{Path: BuildPath})
	}
	return atomicdir.Replace(ctx, dir, replace, func(tmp string) error {
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("interrupted; %s was not changed: %w", dir, err)
			}
			if err := atomicdir.WriteFile(filepath.Join(tmp, filepath.FromSlash(f.Path)), content(f.Path), 0o644); err != nil {
				return err
			}
		}
		if testHookBeforeSwap != nil {
			testHookBeforeSwap(tmp)
		}
		return nil
	})
}

// testHookBeforeSwap runs just before the swap, for tests.
var testHookBeforeSwap func(tmp string)

// checkDestination decides whether dir may receive a bundle: it does not
// exist or is an empty directory (replace false), or it holds a tetranomad
// bundle and nothing else (replace true).
func checkDestination(dir string) (replace bool, err error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s exists and is not a directory; the bundle goes into a new or empty directory, or one holding a bundle: choose another path or remove it yourself", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	if len(entries) == 0 {
		return false, nil
	}
	refuse := func(why string) (bool, error) {
		return false, fmt.Errorf("%s is not empty and %s, so it is not replaced (everything in it would be deleted); choose a new or empty directory, such as %s", dir, why, filepath.Join(dir, DefaultDir))
	}
	raw, err := inputfile.Read(filepath.Join(dir, ManifestPath), inputfile.MaxBundleFile)
	if err != nil {
		return refuse("holds no tetranomad bundle (no readable " + ManifestPath + ")")
	}
	// Any schema version: an older plugin's bundle is replaced too.
	var m struct {
		SchemaVersion int    `json:"schema_version"`
		BundleID      string `json:"bundle_id"`
		Files         []File `json:"files"`
	}
	if json.Unmarshal(raw, &m) != nil || m.SchemaVersion < 1 || m.BundleID == "" {
		return refuse("its " + ManifestPath + " is not a tetranomad manifest")
	}
	listed := map[string]bool{ManifestPath: true, BuildPath: true}
	for _, f := range m.Files {
		listed[f.Path] = true
	}
	if extra := unlisted(dir, listed); len(extra) > 0 {
		return refuse(fmt.Sprintf("holds %s, which the bundle's %s does not list", quoteList(extra), ManifestPath))
	}
	return true, nil
}

// unlisted returns what dir holds beyond the listed files and their
// folders: other files, links, devices.
func unlisted(dir string, listed map[string]bool) []string {
	folders := map[string]bool{}
	for p := range listed {
		for d := filepath.ToSlash(filepath.Dir(p)); d != "."; d = filepath.ToSlash(filepath.Dir(d)) {
			folders[d] = true
		}
	}
	var extra []string
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case err != nil:
			extra = append(extra, rel)
		case e.IsDir() && folders[rel]:
		case e.Type().IsRegular() && listed[rel]:
		default:
			extra = append(extra, rel)
			if e.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	sort.Strings(extra)
	return extra
}

func quoteList(names []string) string {
	if len(names) > 5 {
		names = append(names[:5:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return strings.Join(names, ", ")
}

// ReadDir loads a bundle written by WriteDir and verifies it completely
// before anything trusts it: the manifest's form (Manifest.Check), no file
// missing and none extra, every file's sha256 and size, and the bundle id
// recomputed from the content (VerifyID). A bundle edited by hand is
// refused rather than published.
func ReadDir(dir string) (*Bundle, error) {
	mfPath := filepath.Join(dir, ManifestPath)
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%s: no %s here; render a bundle first (packer-plugin-tetranomad render, or the provisioner's output_dir)", dir, ManifestPath)
	} else if err != nil {
		return nil, err
	}
	raw, err := inputfile.Read(mfPath, inputfile.MaxBundleFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no %s here; render a bundle first (packer-plugin-tetranomad render, or the provisioner's output_dir)", dir, ManifestPath)
		}
		return nil, err
	}
	b := &Bundle{Content: map[string][]byte{}}
	if err := decodeStrict(raw, &b.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", mfPath, err)
	}
	if err := b.Manifest.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", mfPath, err)
	}
	listed := map[string]bool{ManifestPath: true, BuildPath: true}
	for _, f := range b.Manifest.Files {
		listed[f.Path] = true
	}
	if extra := unlisted(dir, listed); len(extra) > 0 {
		return nil, fmt.Errorf("%s holds %s, which %s does not list; a bundle directory holds only its bundle: render it again into an empty directory", dir, quoteList(extra), ManifestPath)
	}
	var total int64
	for _, f := range b.Manifest.Files {
		full := filepath.Join(dir, filepath.FromSlash(f.Path))
		data, err := inputfile.Read(full, inputfile.MaxBundleFile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: listed in %s but missing; render the bundle again", full, ManifestPath)
		}
		if err != nil {
			return nil, err
		}
		if total += int64(len(data)); total > MaxBundleSize {
			return nil, fmt.Errorf("%s: the bundle's files exceed %d bytes", dir, MaxBundleSize)
		}
		if got := SHA256Hex(data); got != f.SHA256 || int64(len(data)) != f.Size {
			return nil, fmt.Errorf("%s: sha256 %s (%d bytes) differs from the manifest's %s (%d bytes); the bundle was changed after rendering, render it again", full, got, len(data), f.SHA256, f.Size)
		}
		b.Content[f.Path] = data
	}
	if err := b.VerifyID(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if raw, err := inputfile.Read(filepath.Join(dir, BuildPath), inputfile.MaxBundleFile); err == nil {
		if err := decodeStrict(raw, &b.Build); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, BuildPath), err)
		}
		if b.Build.BundleID != b.Manifest.BundleID || b.Build.SchemaVersion != BuildSchemaVersion {
			return nil, fmt.Errorf("%s: records bundle %q (schema %d), not %s; render the bundle again", filepath.Join(dir, BuildPath), b.Build.BundleID, b.Build.SchemaVersion, b.Manifest.BundleID)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return b, nil
}

// decodeStrict decodes one JSON value with no unknown fields and nothing
// after it.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}
