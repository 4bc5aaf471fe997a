package publish

import (
	"fmt"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/gcsname"
)

// ResolveTarget decides where bundle m goes. The jobspec inside the bundle
// already names its bucket and prefix (its artifact URLs), so a bucket or
// prefix that differs from the manifest's target is refused: publishing there
// would leave the jobspec fetching from somewhere else. A bundle rendered
// without a bucket (policies inlined) can go anywhere.
// bucket and prefix are the caller's choice; empty means "the manifest's".
func ResolveTarget(m *bundle.Manifest, bucket, prefix string) (bundle.Target, error) {
	if bucket != "" {
		if err := gcsname.Bucket(bucket); err != nil {
			return bundle.Target{}, err
		}
	}
	if prefix != "" {
		if err := gcsname.Prefix(prefix); err != nil {
			return bundle.Target{}, err
		}
	}
	want := m.Target
	if err := want.Check(); err != nil {
		return bundle.Target{}, fmt.Errorf("manifest.json target: %w", err)
	}
	if want.Bucket != "" {
		if bucket != "" && bucket != want.Bucket {
			return bundle.Target{}, fmt.Errorf("bundle %s was rendered for bucket %q (manifest.json target.bucket) and its jobspec fetches policies from there; refusing to publish it to %q. Set publish.bucket = %q in the declaration and render again, or publish to %q",
				m.BundleID, want.Bucket, bucket, bucket, want.Bucket)
		}
		if prefix != "" && prefix != want.Prefix {
			return bundle.Target{}, fmt.Errorf("bundle %s was rendered for prefix %q (manifest.json target.prefix) and its jobspec fetches policies from there; refusing to publish it under %q. Set publish.prefix = %q in the declaration and render again, or leave the prefix unset",
				m.BundleID, want.Prefix, prefix, prefix)
		}
		return want, nil
	}
	if bucket == "" {
		return bundle.Target{}, fmt.Errorf("no bucket: bundle %s was rendered without publish.bucket; give a bucket to publish to", m.BundleID)
	}
	if prefix == "" {
		prefix = bundle.DefaultPrefix
	}
	// Without a bucket at render time the policies are inlined in the
	// jobspec; nothing in the bundle depends on where it is stored.
	return bundle.Target{Bucket: bucket, Prefix: prefix}, nil
}
