//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

package postprocessor

import (
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
)

// DefaultBundleDir is the tetranomad provisioner's default output_dir.
const DefaultBundleDir = bundle.DefaultDir

// Config is the `post-processor "tetranomad-publish"` block.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// Directory of the bundle the tetranomad provisioner rendered. Defaults
	// to `tetranomad-bundle`, the provisioner's `output_dir` default.
	BundleDir string `mapstructure:"bundle_dir"`
	// GCS bucket to publish to. Defaults to the bucket the bundle was
	// rendered for (the declaration's `publish.bucket`); a different bucket
	// is refused, because the jobspec fetches its policies from that one.
	Bucket string `mapstructure:"bucket"`
	// Object prefix in the bucket. Defaults to the bundle's
	// (`publish.prefix`); a different prefix is refused for the same reason.
	Prefix string `mapstructure:"prefix"`
	// Label the built image with `tetranomad-bundle`, `tetragon-version` and
	// `nomad-version`. Defaults to `true` when the artifact is a
	// googlecompute image and `false` otherwise; `true` with another
	// builder's artifact is an error.
	LabelImage *bool `mapstructure:"label_image"`
	// Project of the image to label. Defaults to the googlecompute builder's
	// `project_id`; set it when `image_project_id` differs.
	Project string `mapstructure:"project"`
	// Parallel uploads. Defaults to `16`.
	Concurrency int `mapstructure:"concurrency"`

	ctx interpolate.Context
}
