// Package imagelabel records on a built Compute Engine image which bundle it
// was built for: labels tetranomad-bundle, tetragon-version and
// nomad-version, merged into the labels the image already has.
package imagelabel

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

// Label keys set on the image.
const (
	KeyBundle   = "tetranomad-bundle"
	KeyTetragon = "tetragon-version"
	KeyNomad    = "nomad-version"
	// The build's own facts (bundle.Build), kept out of the bundle so that
	// its id and published bytes do not depend on them: the image is where
	// they belong.
	KeyPlugin = "tetranomad-plugin"
	KeyKernel = "tetranomad-kernel"
)

// maxValue is GCE's limit on a label value's length.
const maxValue = 63

// SanitizeValue makes s a valid label value: lowercase letters, digits, '-'
// and '_', at most 63 characters. Anything else becomes '-', so "v1.7.0"
// reads "v1-7-0".
func SanitizeValue(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() == maxValue {
			break
		}
	}
	return b.String()
}

// ForManifest is the labels that say which bundle an image was built for;
// a version the manifest does not record is left out.
func ForManifest(m *bundle.Manifest) map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{KeyBundle: m.BundleID, KeyTetragon: m.Versions.Tetragon, KeyNomad: m.Versions.Nomad} {
		if v != "" {
			out[k] = SanitizeValue(v)
		}
	}
	return out
}

// ForBundle is ForManifest plus what build.json records about the build:
// the plugin version and the kernel the preflight ran on.
func ForBundle(b *bundle.Bundle) map[string]string {
	out := ForManifest(&b.Manifest)
	if v := b.Build.Plugin; v != "" {
		out[KeyPlugin] = SanitizeValue(v)
	}
	if pf := b.Build.Preflight; pf != nil && pf.KernelRelease != "" {
		out[KeyKernel] = SanitizeValue(pf.KernelRelease)
	}
	return out
}

// Merge returns existing with add applied on top, and whether that changes
// anything. Labels the image already has are kept.
func Merge(existing, add map[string]string) (map[string]string, bool) {
	out := maps.Clone(existing)
	if out == nil {
		out = map[string]string{}
	}
	changed := false
	for k, v := range add {
		if cur, ok := out[k]; !ok || cur != v {
			out[k] = v
			changed = true
		}
	}
	return out, changed
}

// Labeler sets labels on images through the Compute Engine API.
type Labeler struct {
	Images *compute.ImagesClient
	// Attempts bounds retries of a fingerprint conflict (someone else changed
	// the labels between our read and our write) and of transient errors.
	Attempts int
	// Pause before a retry; grows exponentially with jitter.
	Pause time.Duration
}

// New connects with Application Default Credentials (options override, e.g.
// an endpoint in tests).
func New(ctx context.Context, opts ...option.ClientOption) (*Labeler, error) {
	c, err := compute.NewImagesRESTClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to the Compute Engine API: %w (credentials come from Application Default Credentials)", err)
	}
	return &Labeler{Images: c, Attempts: 5, Pause: 500 * time.Millisecond}, nil
}

// Close releases the client.
func (l *Labeler) Close() error { return l.Images.Close() }

// Result says what Apply did.
type Result struct {
	Labels  map[string]string // the image's labels afterwards
	Changed bool              // false if the image already had them
	Tries   int               // setLabels calls, conflicts included
}

// Apply merges labels into image's labels: read the labels and their
// fingerprint, write the merge under that fingerprint, wait for the
// operation. A fingerprint conflict means a concurrent change; it is read
// again and retried, so labels someone else just set are not lost.
func (l *Labeler) Apply(ctx context.Context, project, image string, labels map[string]string) (Result, error) {
	attempts := max(l.Attempts, 1)
	pause := l.Pause
	var res Result
	for try := 1; ; try++ {
		img, err := l.Images.Get(ctx, &computepb.GetImageRequest{Project: project, Image: image})
		if err != nil {
			return res, describe(err, project, image, "reading")
		}
		merged, changed := Merge(img.GetLabels(), labels)
		res.Labels = merged
		if !changed {
			return res, nil
		}
		res.Tries = try
		op, err := l.Images.SetLabels(ctx, &computepb.SetLabelsImageRequest{
			Project:  project,
			Resource: image,
			GlobalSetLabelsRequestResource: &computepb.GlobalSetLabelsRequest{
				LabelFingerprint: img.LabelFingerprint,
				Labels:           merged,
			},
		})
		if err == nil {
			err = op.Wait(ctx)
			if err == nil {
				if oe := op.Proto().GetError(); oe != nil && len(oe.GetErrors()) > 0 {
					e := oe.GetErrors()[0]
					return res, fmt.Errorf("setting labels on image %s/%s: operation %s failed: %s: %s", project, image, op.Name(), e.GetCode(), e.GetMessage())
				}
				res.Changed = true
				return res, nil
			}
		}
		if !retryable(err) || try >= attempts || ctx.Err() != nil {
			if code(err) == http.StatusPreconditionFailed {
				return res, fmt.Errorf("setting labels on image %s/%s: its labels kept changing under us (fingerprint conflict %d times); something else is labelling it, try again: %w", project, image, try, err)
			}
			return res, describe(err, project, image, "setting labels on")
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(pause) + 1))):
		}
		pause *= 2
	}
}

func code(err error) int {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code
	}
	return 0
}

// retryable: a fingerprint conflict (412) is retried after a fresh read,
// as are the API's transient answers.
func retryable(err error) bool {
	switch code(err) {
	case http.StatusPreconditionFailed, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func describe(err error, project, image, doing string) error {
	switch code(err) {
	case http.StatusNotFound:
		return fmt.Errorf("%s image %s: not found in project %s (check the image name and the project; set `project` if the image lives in another project than the build): %w", doing, image, project, err)
	case http.StatusForbidden, http.StatusUnauthorized:
		return fmt.Errorf("%s image %s/%s: permission denied; the identity needs compute.images.get and compute.images.setLabels (e.g. roles/compute.storageAdmin) in project %s: %w", doing, project, image, project, err)
	}
	return fmt.Errorf("%s image %s/%s: %w", doing, project, image, err)
}
