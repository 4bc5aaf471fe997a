package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/gcsname"
)

// Manifest indexes a bundle. It carries no timestamps and nothing about the
// build that rendered it: it is published under the bundle id, so it must be
// a function of the id (ComputeID covers all of it).
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
	Policies []PolicyRequirements `json:"policies"`
}

// PolicyRequirements is what one TracingPolicy needs from the kernel and
// the VM; the linter computes it (policy.Requirements is this type), the
// provisioner's preflight checks it on the VM.
type PolicyRequirements struct {
	Policy  string   `json:"policy"`  // metadata.name
	File    string   `json:"file"`    // the file it came from
	Symbols []string `json:"symbols"` // kernel functions to find in /proc/kallsyms
	// LSMHooks are spec.lsmhooks[].hook names. They need CONFIG_BPF_LSM and
	// "bpf" in the active LSM list (/sys/kernel/security/lsm); Tetragon
	// attaches to the kernel's bpf_lsm_<hook> function.
	LSMHooks []string `json:"lsm_hooks,omitempty"`
	// NeedsOverride is true when the policy uses Override on a syscall
	// kprobe, which needs the bpf_override_return helper
	// (CONFIG_BPF_KPROBE_OVERRIDE). Override on security_* functions uses
	// fmod_ret instead and on LSM hooks the BPF LSM; neither sets this.
	NeedsOverride bool `json:"needs_override"`
	// UprobePaths are spec.uprobes[].path: the binaries and libraries the
	// uprobes attach to. Tetragon fails to load the policy when one is
	// missing, and they differ between distributions (/lib64/libc.so.6 is
	// not on Debian 12), so the preflight checks each exists on the VM.
	UprobePaths []string `json:"uprobe_paths,omitempty"`
}

// Bundle is a rendered bundle in memory.
type Bundle struct {
	Manifest Manifest
	// Content by bundle path; keys are exactly the manifest's Files.
	Content map[string][]byte
	// Build is written to build.json next to the manifest; zero: none.
	Build Build
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
	return encodeJSON(m)
}

func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
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

// MaxFiles bounds the files of one bundle.
const MaxFiles = 1000

// checkPath accepts a bundle file path: '/'-separated segments in the object
// name alphabet (gcsname), none "." or "..", not one of the names the
// directory or the prefix reserve. Such a path cannot leave the bundle
// directory on disk nor PREFIX/bundles/<id>/ in the bucket.
func checkPath(p string) error {
	bad := len(p) > 256 || p == ManifestPath || p == BuildPath
	for _, seg := range strings.Split(p, "/") {
		bad = bad || !gcsname.PathSegment(seg)
	}
	if bad || p[strings.LastIndexByte(p, '/')+1:] == PointerFile {
		return fmt.Errorf("bundle: %q is not a bundle file path (folders and a file name of letters, digits, '-', '_', '.', '~'; not %s, %s or %s)", p, ManifestPath, BuildPath, PointerFile)
	}
	return nil
}

var (
	idPattern  = regexp.MustCompile(`^[0-9a-f]{20}$`)
	sumPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	knownRoles = map[string]bool{RoleClientConfig: true, RoleBaseConfig: true, RoleJobspec: true, RolePolicy: true}
)

// Check reports a manifest that does not describe a bundle this plugin
// would render: wrong schema, malformed id, bad target, file paths that
// would escape the bundle, unknown roles, duplicates, no jobspec. It does
// not look at the files; ReadDir and VerifyID do.
func (m *Manifest) Check() error {
	if m.SchemaVersion != SchemaVersion {
		return fmt.Errorf("schema_version %d, this plugin reads %d; render the bundle again with this plugin", m.SchemaVersion, SchemaVersion)
	}
	if m.BundleID == "" {
		return fmt.Errorf("manifest.json has no bundle_id; render the bundle again")
	}
	if !idPattern.MatchString(m.BundleID) {
		return fmt.Errorf("bundle_id %q is not %d lowercase hex characters; render the bundle again", m.BundleID, IDLength)
	}
	if err := m.Target.Check(); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if len(m.Files) > MaxFiles {
		return fmt.Errorf("%d files, more than %d", len(m.Files), MaxFiles)
	}
	seen := map[string]bool{}
	jobspecs := 0
	for i, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return fmt.Errorf("files[%d]: %w", i, err)
		}
		if seen[f.Path] {
			return fmt.Errorf("files[%d]: %s is listed twice", i, f.Path)
		}
		seen[f.Path] = true
		if !knownRoles[f.Role] {
			return fmt.Errorf("files[%d]: %s has role %q, not one this plugin writes", i, f.Path, f.Role)
		}
		if f.Role == RoleJobspec {
			jobspecs++
			if f.Path != JobspecPath {
				return fmt.Errorf("files[%d]: the jobspec is %s, not %s", i, f.Path, JobspecPath)
			}
		}
		if !sumPattern.MatchString(f.SHA256) || f.Size < 0 {
			return fmt.Errorf("files[%d]: %s has a malformed sha256 or size", i, f.Path)
		}
	}
	if jobspecs != 1 {
		return fmt.Errorf("%d files with role %s, want exactly one", jobspecs, RoleJobspec)
	}
	return nil
}
