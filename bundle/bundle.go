// Package bundle is the on-disk and in-bucket form of a rendered bundle: the
// files, their manifest, and the object names they are published under.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"

	"github.com/tetranomad/packer-plugin-tetranomad/gcsname"
)

// Paths inside a bundle directory.
const (
	ManifestPath = "manifest.json"
	JobspecPath  = "jobs/tetragon.nomad.hcl"
	PolicyDir    = "policies"
	NomadDir     = "nomad"
	// BuildPath records the build that wrote the directory (plugin version,
	// the VM's preflight). It is not part of the bundle id and is never
	// published under bundles/<id>/.
	BuildPath = "build.json"
	// PointerFile is PREFIX/latest.json's name; no bundle file may use it.
	PointerFile = "latest.json"
)

// SchemaVersion of manifest.json; bumped on incompatible changes. 2: the
// plugin version and the preflight moved out to build.json, and the id
// covers the whole manifest.
const SchemaVersion = 2

// File roles in the manifest.
const (
	RoleClientConfig = "client-config"
	RoleBaseConfig   = "base-config"
	RoleJobspec      = "jobspec"
	RolePolicy       = "policy"
)

// File is one file of the bundle.
type File struct {
	Path   string `json:"path"` // slash-separated, relative to the bundle root
	Role   string `json:"role"`
	SHA256 string `json:"sha256"` // hex
	Size   int64  `json:"size"`
}

// Versions pins what the bundle was rendered for. The plugin's own version
// is not here: it belongs to a build (Build), not to the bundle's content.
type Versions struct {
	Tetragon      string `json:"tetragon"`
	TetragonImage string `json:"tetragon_image"`
	ExportImage   string `json:"export_image"`
	Nomad         string `json:"nomad"`
}

// Target is where the bundle is meant to be published (empty Bucket: nowhere,
// policies are inlined in the jobspec).
type Target struct {
	Bucket          string `json:"bucket,omitempty"`
	Prefix          string `json:"prefix,omitempty"`
	Public          bool   `json:"public,omitempty"`
	DownloadBaseURL string `json:"download_base_url,omitempty"`
}

// DefaultDownloadBaseURL is where public objects are read over https.
const DefaultDownloadBaseURL = "https://storage.googleapis.com"

// DefaultPrefix is the object prefix when the declaration names none.
const DefaultPrefix = "tetranomad"

// DefaultDir is where the provisioner writes the bundle and the
// post-processor reads it, relative to the directory Packer runs in.
const DefaultDir = "tetranomad-bundle"

// privateURL is the only GCS form Nomad's go-getter `gcs::` accepts (the
// storage.googleapis.com/BUCKET form does not parse).
var privateURL = url.URL{Scheme: "https", Host: "www.googleapis.com", Path: "/storage/v1"}

// URL is how a Nomad artifact block fetches an object of the target: https
// from the download base for a public bucket, `gcs::` with the VM's service
// account otherwise. The jobspec and the publisher's printed URLs both use it.
// Names are joined with net/url, never concatenated.
func (t Target) URL(object string) string {
	if t.Public {
		base := t.DownloadBaseURL
		if base == "" {
			base = DefaultDownloadBaseURL
		}
		return gcsname.ObjectURL(base, t.Bucket, object)
	}
	return "gcs::" + gcsname.ObjectURL(privateURL.String(), t.Bucket, object)
}

// Check reports a target whose bucket, prefix or download base URL the
// publisher would refuse; a target without a bucket is fine.
func (t Target) Check() error {
	if t.Bucket == "" {
		if t.Public || t.Prefix != "" || t.DownloadBaseURL != "" {
			return fmt.Errorf("target has no bucket but names a prefix, public or download_base_url")
		}
		return nil
	}
	if err := gcsname.Bucket(t.Bucket); err != nil {
		return err
	}
	if err := gcsname.Prefix(t.Prefix); err != nil {
		return err
	}
	if t.DownloadBaseURL != "" {
		return gcsname.BaseURL(t.DownloadBaseURL)
	}
	return nil
}

// SHA256Hex is the hex sha256 of data, the form used throughout the manifest.
func SHA256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ObjectName is where a bundle file lives in the bucket. The jobspec's
// artifact URLs and the publisher both use it, so they cannot disagree.
func ObjectName(prefix, bundleID, file string) string {
	return path.Join(prefix, "bundles", bundleID, file)
}

// PointerName is the object that names the newest published bundle.
func PointerName(prefix string) string {
	return path.Join(prefix, PointerFile)
}
