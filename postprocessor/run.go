package postprocessor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/api/option"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/imagelabel"
	"github.com/tetranomad/packer-plugin-tetranomad/publish"
)

// Job is one publish of a bundle directory, optionally labelling an image.
// The post-processor and the `publish` subcommand both run one.
type Job struct {
	BundleDir   string
	Bucket      string // "" = the bundle's own target
	Prefix      string // "" = the bundle's own target
	Concurrency int
	// Timeout bounds the whole job (publish and labels); 0: DefaultTimeout.
	Timeout time.Duration
	// RequestTimeout bounds each storage request; 0: the publisher's default.
	RequestTimeout time.Duration
	Image          *Image // nil: no labels
	// Say prints a progress line (Packer's ui.Say, or stderr).
	Say func(string)
	// Client options; nil means Application Default Credentials and the
	// real endpoints (STORAGE_EMULATOR_HOST still applies to storage).
	StorageOptions []option.ClientOption
	ComputeOptions []option.ClientOption
}

// Image names the image to label.
type Image struct {
	Project string
	Name    string
}

// Prepared is a job whose bundle has been read and verified and whose
// target is decided; nothing has touched the network yet.
type Prepared struct {
	Job    Job
	Bundle *bundle.Bundle
	Target bundle.Target
}

// Outcome of a job.
type Outcome struct {
	Publish *publish.Result
	Labels  *imagelabel.Result // nil without an image
}

// Prepare reads and verifies the bundle and decides where it goes. Its
// errors are the user's to fix locally (wrong directory, wrong bucket).
func Prepare(j Job) (*Prepared, error) {
	b, err := bundle.ReadDir(j.BundleDir)
	if err != nil {
		return nil, err
	}
	t, err := publish.ResolveTarget(&b.Manifest, j.Bucket, j.Prefix)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.BundleDir, err)
	}
	return &Prepared{Job: j, Bundle: b, Target: t}, nil
}

// DefaultTimeout bounds a whole publish: a few KiB per bundle, so ten
// minutes is only ever reached by an endpoint that stopped answering.
const DefaultTimeout = 10 * time.Minute

// Run publishes, then labels. Labels come after latest.json, so an image is
// never labelled with a bundle that failed to publish.
func (p *Prepared) Run(ctx context.Context) (*Outcome, error) {
	timeout := p.Job.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := p.run(ctx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		err = fmt.Errorf("%w (the publish took longer than its timeout, %s; Cloud Storage stopped answering? Raise -timeout if the network is just slow)", err, timeout)
	}
	return out, err
}

func (p *Prepared) run(ctx context.Context) (*Outcome, error) {
	say := p.Job.Say
	if say == nil {
		say = func(string) {}
	}
	id := p.Bundle.Manifest.BundleID
	say(fmt.Sprintf("publishing bundle %s from %s to %s", id, p.Job.BundleDir,
		publish.GSURI(p.Target.Bucket, bundle.ObjectName(p.Target.Prefix, id, "")+"/")))

	client, err := publish.NewStorageClient(ctx, p.Job.StorageOptions...)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	pub := &publish.Publisher{
		Store:          publish.NewGCS(client, p.Target.Bucket),
		Concurrency:    p.Job.Concurrency,
		RequestTimeout: p.Job.RequestTimeout,
		Progress:       publish.ProgressLog(say, 2*time.Second),
	}
	res, err := pub.Publish(ctx, p.Bundle, p.Target)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Publish: res}
	pointer := publish.GSURI(p.Target.Bucket, res.PointerObject)
	switch {
	case !res.PointerUpdated:
		say(fmt.Sprintf("%s already names bundle %s", pointer, id))
	case res.Previous != "":
		say(fmt.Sprintf("%s now names bundle %s (was %s)", pointer, id, res.Previous))
	default:
		say(fmt.Sprintf("%s now names bundle %s", pointer, id))
	}
	say("jobspec: " + res.JobspecURL)

	if p.Job.Image == nil {
		return out, nil
	}
	img := *p.Job.Image
	labeler, err := imagelabel.New(ctx, p.Job.ComputeOptions...)
	if err == nil {
		defer labeler.Close()
		var lr imagelabel.Result
		lr, err = labeler.Apply(ctx, img.Project, img.Name, imagelabel.ForBundle(p.Bundle))
		out.Labels = &lr
	}
	if err != nil {
		where := "-bucket " + p.Target.Bucket
		if p.Target.Prefix != "" {
			where += " -prefix " + p.Target.Prefix
		}
		return out, fmt.Errorf("bundle %s is published, but labelling image %s/%s failed: %w. To retry only the labels (nothing is uploaded again): packer-plugin-tetranomad publish -bundle %s %s -label-image %s/%s",
			id, img.Project, img.Name, err, p.Job.BundleDir, where, img.Project, img.Name)
	}
	if out.Labels.Changed {
		say(fmt.Sprintf("labelled image %s/%s: %s", img.Project, img.Name, formatLabels(imagelabel.ForBundle(p.Bundle))))
	} else {
		say(fmt.Sprintf("image %s/%s already has the labels", img.Project, img.Name))
	}
	return out, nil
}

func formatLabels(l map[string]string) string {
	// Fixed order, so the line reads the same every time.
	s := ""
	for _, k := range []string{imagelabel.KeyBundle, imagelabel.KeyTetragon, imagelabel.KeyNomad, imagelabel.KeyPlugin, imagelabel.KeyKernel} {
		if v, ok := l[k]; ok {
			if s != "" {
				s += " "
			}
			s += k + "=" + v
		}
	}
	return s
}
