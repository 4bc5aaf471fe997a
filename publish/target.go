package publish

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

// DefaultPrefix matches the declaration's default publish.prefix.
const DefaultPrefix = "tetranomad"

// bucketName is GCS's naming rule for buckets without dots in domain form;
// dotted names are accepted as long as each part follows it.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{1,220}[a-z0-9]$`)

// CheckBucket reports a bucket name GCS would refuse.
func CheckBucket(b string) error {
	if !bucketName.MatchString(b) || strings.Contains(b, "..") {
		return fmt.Errorf("%q is not a valid GCS bucket name (lowercase letters, digits, '-', '_', '.'; 3-63 characters, or up to 222 with dots; starts and ends with a letter or digit)", b)
	}
	for _, part := range strings.Split(b, ".") {
		if len(part) > 63 {
			return fmt.Errorf("%q is not a valid GCS bucket name: %q is longer than 63 characters", b, part)
		}
	}
	return nil
}

// CleanPrefix trims surrounding slashes and refuses segments that would
// escape or confuse the object layout.
func CleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("prefix %q: empty, '.' or '..' path segments are not allowed", p)
		}
	}
	return p, nil
}

// ResolveTarget decides where bundle m goes. The jobspec inside the bundle
// already names its bucket and prefix (its artifact URLs), so a bucket or
// prefix that differs from the manifest's target is refused: publishing there
// would leave the jobspec fetching from somewhere else. A bundle rendered
// without a bucket (policies inlined) can go anywhere.
// bucket and prefix are the caller's choice; empty means "the manifest's".
func ResolveTarget(m *bundle.Manifest, bucket, prefix string) (bundle.Target, error) {
	want := m.Target
	cleanWant, err := CleanPrefix(want.Prefix)
	if err != nil {
		return bundle.Target{}, fmt.Errorf("manifest.json target: %w", err)
	}
	want.Prefix = cleanWant
	prefixSet := prefix != ""
	if prefix, err = CleanPrefix(prefix); err != nil {
		return bundle.Target{}, err
	}
	if want.Bucket != "" {
		if bucket != "" && bucket != want.Bucket {
			return bundle.Target{}, fmt.Errorf("bundle %s was rendered for bucket %q (manifest.json target.bucket) and its jobspec fetches policies from there; refusing to publish it to %q. Set publish.bucket = %q in the declaration and render again, or publish to %q",
				m.BundleID, want.Bucket, bucket, bucket, want.Bucket)
		}
		if prefixSet && prefix != want.Prefix {
			return bundle.Target{}, fmt.Errorf("bundle %s was rendered for prefix %q (manifest.json target.prefix) and its jobspec fetches policies from there; refusing to publish it under %q. Set publish.prefix = %q in the declaration and render again, or leave the prefix unset",
				m.BundleID, want.Prefix, prefix, prefix)
		}
		return want, CheckBucket(want.Bucket)
	}
	if bucket == "" {
		return bundle.Target{}, fmt.Errorf("no bucket: bundle %s was rendered without publish.bucket; give a bucket to publish to", m.BundleID)
	}
	if !prefixSet {
		prefix = DefaultPrefix
	}
	// Without a bucket at render time the policies are inlined in the
	// jobspec; nothing in the bundle depends on where it is stored.
	return bundle.Target{Bucket: bucket, Prefix: prefix}, CheckBucket(bucket)
}
