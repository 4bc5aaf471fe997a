package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/internal/atomicdir"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

// Manifest indexes a bundle. It carries no timestamps: the same declaration
// renders the same bytes.
type Manifest struct {
	SchemaVersion int    `json:"schema_version"`
	BundleID      string `json:"bundle_id"`
	Contract      string `json:"contract"`
	// PolicyMode is the declaration's policies.mode: "enforce", or "monitor"
	// when every enforcing policy was shipped with policy-mode: monitor.
	PolicyMode string   `json:"policy_mode,omitempty"`
	Versions   Versions `json:"versions"`
	Target     Target   `json:"target"`
	Files      []File   `json:"files"`
	// Policies is what each TracingPolicy needs from the kernel, in bundle
	// order, with File the policy's bundle path.
	Policies  []policy.Requirements `json:"policies"`
	Preflight *Preflight            `json:"preflight,omitempty"`
	// Extensions owned by other packages are added here as typed fields
	// (policy requirements, preflight results).
}

// Bundle is a rendered bundle in memory.
type Bundle struct {
	Manifest Manifest
	// Content by bundle path; keys are exactly the manifest's Files.
	Content map[string][]byte
}

// File returns a bundle file's manifest entry.
func (m *Manifest) File(p string) (File, bool) {
	for _, f := range m.Files {
		if f.Path == p {
			return f, true
		}
	}
	return File{}, false
}

// FilesWithRole lists the files of a role in manifest order.
func (m *Manifest) FilesWithRole(role string) []File {
	var out []File
	for _, f := range m.Files {
		if f.Role == role {
			out = append(out, f)
		}
	}
	return out
}

// Encode renders manifest.json: indented, trailing newline, stable.
func (m *Manifest) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Add puts a file into the bundle and the manifest, keeping Files sorted.
func (b *Bundle) Add(p, role string, data []byte) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if b.Content == nil {
		b.Content = map[string][]byte{}
	}
	if _, dup := b.Content[p]; dup {
		return fmt.Errorf("bundle: %s added twice", p)
	}
	b.Content[p] = data
	b.Manifest.Files = append(b.Manifest.Files, File{Path: p, Role: role, SHA256: SHA256Hex(data), Size: int64(len(data))})
	sort.Slice(b.Manifest.Files, func(i, j int) bool { return b.Manifest.Files[i].Path < b.Manifest.Files[j].Path })
	return nil
}

func checkPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." || p == ManifestPath {
		return fmt.Errorf("bundle: %q is not a clean relative file path", p)
	}
	return nil
}

// WriteDir writes the bundle to dir. Files are written into a sibling
// temporary directory which then replaces dir, so a failure never leaves a
// half-written bundle where a reader (the post-processor) looks.
func (b *Bundle) WriteDir(dir string) error {
	mf, err := b.Manifest.Encode()
	if err != nil {
		return err
	}
	return atomicdir.Replace(dir, func(tmp string) error {
		write := func(p string, data []byte) error {
			full := filepath.Join(tmp, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			return os.WriteFile(full, data, 0o644)
		}
		for _, f := range b.Manifest.Files {
			if err := write(f.Path, b.Content[f.Path]); err != nil {
				return err
			}
		}
		return write(ManifestPath, mf)
	})
}

// ReadDir loads a bundle written by WriteDir and verifies every file against
// the manifest, so a bundle edited by hand is refused rather than published.
func ReadDir(dir string) (*Bundle, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestPath))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no %s here; render a bundle first (packer-plugin-tetranomad render, or the provisioner's output_dir)", dir, ManifestPath)
		}
		return nil, err
	}
	b := &Bundle{Content: map[string][]byte{}}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestPath), err)
	}
	if b.Manifest.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s: schema_version %d, this plugin reads %d; render the bundle again with this plugin", filepath.Join(dir, ManifestPath), b.Manifest.SchemaVersion, SchemaVersion)
	}
	for _, f := range b.Manifest.Files {
		if err := checkPath(f.Path); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestPath), err)
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return nil, err
		}
		if got := SHA256Hex(data); got != f.SHA256 || int64(len(data)) != f.Size {
			return nil, fmt.Errorf("%s: sha256 %s differs from the manifest's %s; the bundle was changed after rendering, render it again", filepath.Join(dir, filepath.FromSlash(f.Path)), got, f.SHA256)
		}
		b.Content[f.Path] = data
	}
	return b, nil
}
