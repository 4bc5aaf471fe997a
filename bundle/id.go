package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// IDLength is the number of hex characters of a bundle id.
const IDLength = 20

// IDPlaceholder stands for the bundle id inside the jobspec while the id is
// computed: the jobspec names its own id (meta, artifact URLs), so the id
// covers the jobspec with this in its place. Same length as an id, so
// formatting is unchanged; never hex, so it cannot be an id.
const IDPlaceholder = "TETRANOMAD-BUNDLE-ID"

// Seal gives a bundle whose jobspec was rendered with IDPlaceholder its id:
// the id is the sha256 of the whole manifest (every file's path, role,
// sha256 and size, the target, the versions, the kernel requirements) with
// bundle_id empty. Then the placeholder is replaced in the jobspec. So
// everything published under bundles/<id>/ is a function of the id, and
// anyone can check it from the files (VerifyID).
func (b *Bundle) Seal() error {
	js, ok := b.Content[JobspecPath]
	if !ok {
		return fmt.Errorf("bundle: no %s to seal", JobspecPath)
	}
	b.Manifest.BundleID = ""
	id, err := hashManifest(&b.Manifest)
	if err != nil {
		return err
	}
	sealed := bytes.ReplaceAll(js, []byte(IDPlaceholder), []byte(id))
	if !bytes.Contains(js, []byte(IDPlaceholder)) {
		return fmt.Errorf("bundle: the jobspec was not rendered with the id placeholder")
	}
	// The swap must be reversible, or the id could not be checked. (A 20-hex
	// string equal to the id, in an inlined policy: sha256 makes it moot.)
	if bytes.Contains(js, []byte(id)) {
		return fmt.Errorf("bundle: the jobspec already contains its id %s; change the policy text that holds it", id)
	}
	b.Content[JobspecPath] = sealed
	for i, f := range b.Manifest.Files {
		if f.Path == JobspecPath {
			b.Manifest.Files[i].SHA256 = SHA256Hex(sealed)
		}
	}
	b.Manifest.BundleID = id
	return nil
}

// VerifyID recomputes the id of a bundle read from disk and refuses one
// whose manifest or files do not produce the id it claims: an edited policy
// with its sha256 updated in the manifest, an edited target, an id made up.
// Every file's content must already match the manifest.
func (b *Bundle) VerifyID() error {
	m := b.Manifest
	js := b.Content[JobspecPath]
	if bytes.Contains(js, []byte(IDPlaceholder)) {
		return fmt.Errorf("%s contains %q; this plugin never writes that, render the bundle again", JobspecPath, IDPlaceholder)
	}
	unsealed := bytes.ReplaceAll(js, []byte(m.BundleID), []byte(IDPlaceholder))
	m.Files = append([]File(nil), m.Files...)
	for i, f := range m.Files {
		if f.Path == JobspecPath {
			m.Files[i].SHA256 = SHA256Hex(unsealed)
		}
	}
	claimed := m.BundleID
	m.BundleID = ""
	got, err := hashManifest(&m)
	if err != nil {
		return err
	}
	if got != claimed {
		return fmt.Errorf("bundle_id %s does not match the bundle's content (which gives %s): manifest.json or a file was changed after rendering; render the bundle again", claimed, got)
	}
	return nil
}

func hashManifest(m *Manifest) (string, error) {
	data, err := m.Encode()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:IDLength], nil
}
