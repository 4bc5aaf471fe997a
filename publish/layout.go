// Package publish uploads a rendered bundle to Google Cloud Storage.
//
// Layout: every bundle file and manifest.json go under
// PREFIX/bundles/<bundle-id>/ (bundle.ObjectName, the same function the
// jobspec's artifact URLs use) and are immutable: written only with a
// DoesNotExist precondition, and an object already there must hold the same
// bytes. PREFIX/latest.json names the newest bundle and is written last, with
// a generation precondition, so a reader never sees half a bundle and two
// publishers cannot overwrite each other silently.
//
// Deciding what to upload (Plan) is pure; the storage I/O sits behind Store.
package publish

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"path"
	"strings"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

// NoCache makes caches revalidate every https read (GCS caches public objects
// for an hour by default), so a reader never gets a stale latest.json.
const NoCache = "no-cache"

// PointerSchemaVersion of latest.json.
const PointerSchemaVersion = 1

// Object is one object to be present in the bucket, with its exact bytes.
type Object struct {
	Name         string
	Data         []byte
	ContentType  string
	CacheControl string
	CRC32C       uint32
	MD5          []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// NewObject computes the checksums GCS reports, so they can be compared
// with what is already in the bucket without downloading it.
func NewObject(name string, data []byte, contentType, cacheControl string) Object {
	sum := md5.Sum(data)
	return Object{
		Name:         name,
		Data:         data,
		ContentType:  contentType,
		CacheControl: cacheControl,
		CRC32C:       crc32.Checksum(data, castagnoli),
		MD5:          sum[:],
	}
}

// ContentType is chosen from the extension with a fixed table (not the
// system's mime.types), so the same bundle always gets the same metadata.
func ContentType(p string) string {
	switch path.Ext(p) {
	case ".hcl", ".nomad":
		return "text/plain; charset=utf-8"
	case ".yaml", ".yml":
		return "application/yaml"
	case ".json":
		return "application/json"
	case ".sh":
		return "text/x-shellscript; charset=utf-8"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// BundleObjects lists the objects of a bundle: every file of the manifest
// and manifest.json itself, in manifest order.
// Every name is checked to lie under PREFIX/bundles/<id>/ (the manifest's
// paths were checked when the bundle was read; this holds whatever the
// caller built).
func BundleObjects(b *bundle.Bundle, t bundle.Target) ([]Object, error) {
	if err := b.Manifest.Check(); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	id := b.Manifest.BundleID
	root := bundle.ObjectName(t.Prefix, id, "") + "/"
	cache := ""
	if t.Public {
		cache = NoCache
	}
	objs := make([]Object, 0, len(b.Manifest.Files)+1)
	for _, f := range b.Manifest.Files {
		data, ok := b.Content[f.Path]
		if !ok {
			return nil, fmt.Errorf("bundle file %s is in manifest.json but was not loaded", f.Path)
		}
		name := bundle.ObjectName(t.Prefix, id, f.Path)
		if !strings.HasPrefix(name, root) || path.Clean(name) != name || path.Base(name) == bundle.PointerFile {
			return nil, fmt.Errorf("bundle file %s would be published as %s, outside %s", f.Path, name, root)
		}
		objs = append(objs, NewObject(name, data, ContentType(f.Path), cache))
	}
	mf, err := b.Manifest.Encode()
	if err != nil {
		return nil, err
	}
	objs = append(objs, NewObject(bundle.ObjectName(t.Prefix, id, bundle.ManifestPath), mf, ContentType(bundle.ManifestPath), cache))
	return objs, nil
}

// GSURI is the gs:// form people paste into gcloud.
func GSURI(bucket, object string) string {
	return "gs://" + bucket + "/" + object
}

// Pointer is the content of PREFIX/latest.json.
type Pointer struct {
	SchemaVersion  int             `json:"schema_version"`
	BundleID       string          `json:"bundle_id"`
	Bucket         string          `json:"bucket"`
	JobspecObject  string          `json:"jobspec_object"`
	JobspecURL     string          `json:"jobspec_url"`
	ManifestObject string          `json:"manifest_object"`
	Contract       string          `json:"contract,omitempty"`
	PublishedAt    time.Time       `json:"published_at"`
	Versions       bundle.Versions `json:"versions"`
}

// NewPointer describes bundle m published to target t at time now.
func NewPointer(m *bundle.Manifest, t bundle.Target, now time.Time) Pointer {
	jobspec := bundle.ObjectName(t.Prefix, m.BundleID, bundle.JobspecPath)
	return Pointer{
		SchemaVersion:  PointerSchemaVersion,
		BundleID:       m.BundleID,
		Bucket:         t.Bucket,
		JobspecObject:  jobspec,
		JobspecURL:     t.URL(jobspec),
		ManifestObject: bundle.ObjectName(t.Prefix, m.BundleID, bundle.ManifestPath),
		Contract:       m.Contract,
		PublishedAt:    now.UTC().Truncate(time.Second),
		Versions:       m.Versions,
	}
}

// Encode renders latest.json.
func (p Pointer) Encode() ([]byte, error) {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// DecodePointer parses latest.json.
func DecodePointer(data []byte) (Pointer, error) {
	var p Pointer
	if err := json.Unmarshal(data, &p); err != nil {
		return Pointer{}, fmt.Errorf("latest.json is not valid JSON: %w", err)
	}
	return p, nil
}
