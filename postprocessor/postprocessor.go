// Package postprocessor is `post-processor "tetranomad-publish"`: after a
// successful build it publishes the bundle the tetranomad provisioner
// rendered to GCS and labels the googlecompute image with the bundle it was
// built for. The artifact is passed through unchanged.
package postprocessor

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"google.golang.org/api/option"

	"github.com/tetranomad/packer-plugin-tetranomad/gcsname"
	"github.com/tetranomad/packer-plugin-tetranomad/publish"
)

// GoogleComputeBuilderID is the BuilderId of googlecompute artifacts; their
// Id() is the image name.
const GoogleComputeBuilderID = "packer.googlecompute"

// maxConcurrency keeps a typo from opening thousands of connections.
const maxConcurrency = 256

// PostProcessor publishes the bundle and labels the image.
type PostProcessor struct {
	config Config

	// Client options for tests; nil in Packer.
	storageOptions []option.ClientOption
	computeOptions []option.ClientOption
}

// ConfigSpec implements packersdk.PostProcessor.
func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Configure decodes and checks the block; every problem is reported at once.
func (p *PostProcessor) Configure(raws ...interface{}) error {
	err := config.Decode(&p.config, &config.DecodeOpts{
		PluginType:         "tetranomad-publish",
		Interpolate:        true,
		InterpolateContext: &p.config.ctx,
	}, raws...)
	if err != nil {
		return err
	}
	c := &p.config
	if c.BundleDir == "" {
		c.BundleDir = DefaultBundleDir
	}
	var errs *packersdk.MultiError
	if c.Bucket != "" {
		if err := gcsname.Bucket(c.Bucket); err != nil {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("bucket: %w", err))
		}
	}
	if c.Prefix != "" {
		if err := gcsname.Prefix(c.Prefix); err != nil {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("prefix: %w", err))
		}
	}
	if c.Concurrency < 0 || c.Concurrency > maxConcurrency {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("concurrency: %d is out of range; use 1 to %d, or leave it unset for %d", c.Concurrency, maxConcurrency, publish.DefaultConcurrency))
	}
	if c.Project != "" && c.LabelImage != nil && !*c.LabelImage {
		errs = packersdk.MultiErrorAppend(errs, errors.New("project: only used to label the image, but label_image = false; remove one of them"))
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// imageOf decides which image to label, if any.
func (p *PostProcessor) imageOf(a packersdk.Artifact) (*Image, error) {
	isGCE := a.BuilderId() == GoogleComputeBuilderID
	label := isGCE
	if p.config.LabelImage != nil {
		label = *p.config.LabelImage
	}
	if !label {
		return nil, nil
	}
	if !isGCE {
		return nil, fmt.Errorf("label_image = true, but the artifact comes from builder %q, not googlecompute (%s); there is no Compute Engine image to label. Set label_image = false", a.BuilderId(), GoogleComputeBuilderID)
	}
	img := &Image{Project: p.config.Project, Name: a.Id()}
	if img.Project == "" {
		// The googlecompute artifact answers "ProjectId" with the builder's
		// project_id (not image_project_id; `project` covers that case).
		img.Project, _ = a.State("ProjectId").(string)
	}
	if img.Name == "" || img.Project == "" {
		return nil, fmt.Errorf("the googlecompute artifact does not say which image (%q) or project (%q) it built; set project, or label_image = false", img.Name, img.Project)
	}
	return img, nil
}

// PostProcess implements packersdk.PostProcessor. The input artifact is the
// output (keep and force, so keep_input_artifact = false cannot delete the
// image this just labelled).
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, a packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	img, err := p.imageOf(a)
	if err != nil {
		return a, true, true, err
	}
	job := Job{
		BundleDir:      p.config.BundleDir,
		Bucket:         p.config.Bucket,
		Prefix:         p.config.Prefix,
		Concurrency:    p.config.Concurrency,
		Image:          img,
		Say:            ui.Say,
		StorageOptions: p.storageOptions,
		ComputeOptions: p.computeOptions,
	}
	prep, err := Prepare(job)
	if err != nil {
		return a, true, true, fmt.Errorf("tetranomad-publish: %w", err)
	}
	if _, err := prep.Run(ctx); err != nil {
		return a, true, true, fmt.Errorf("tetranomad-publish: %w", err)
	}
	return a, true, true, nil
}
