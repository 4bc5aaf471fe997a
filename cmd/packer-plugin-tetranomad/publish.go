package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/api/option"

	"github.com/tetranomad/packer-plugin-tetranomad/gcsname"
	"github.com/tetranomad/packer-plugin-tetranomad/postprocessor"
	"github.com/tetranomad/packer-plugin-tetranomad/publish"
)

const publishSynopsis = "publish a rendered bundle to GCS and optionally label the image built for it"

// Exit status of publish beyond exitOK and exitUsageOrIO: the bundle was
// fine but publishing or labelling failed.
const exitPublishFailed = 1

// Client options for tests; nil means Application Default Credentials
// (STORAGE_EMULATOR_HOST still redirects storage).
var (
	publishStorageOptions []option.ClientOption
	publishComputeOptions []option.ClientOption
	statusStorageOptions  []option.ClientOption
)

func runPublish(args []string, stdout, stderr io.Writer) int {
	fs := newCommandLine("publish", "-bundle DIR [-bucket BUCKET] [-prefix PREFIX] [-label-image PROJECT/IMAGE]", publishSynopsis,
		"Objects go to gs://BUCKET/PREFIX/bundles/<bundle-id>/ (immutable; unchanged ones are not uploaded again), then\n"+
			"gs://BUCKET/PREFIX/latest.json names the bundle. Credentials: Application Default Credentials;\n"+
			"STORAGE_EMULATOR_HOST selects an emulator. Prints bundle_id=, jobspec_url= and jobspec_object= lines on stdout.\n"+
			"Exit status: 0 published, 1 publishing or labelling failed, 2 usage errors or an unreadable bundle.", stderr)
	dir := fs.String("bundle", "", "bundle `DIR` written by render or the provisioner (required)")
	bucket := fs.String("bucket", "", "GCS `BUCKET`; defaults to the bundle's publish.bucket, and must equal it if the bundle has one")
	prefix := fs.String("prefix", "", "object `PREFIX`; defaults to the bundle's publish.prefix, and must equal it if the bundle has a bucket")
	labelImage := fs.String("label-image", "", "label this Compute Engine image, `PROJECT/IMAGE`, with the bundle id and versions")
	concurrency := fs.Int("concurrency", publish.DefaultConcurrency, "parallel uploads")
	timeout := fs.Duration("timeout", postprocessor.DefaultTimeout, "give up after `DURATION` in all (latest.json is then left as it was)")
	requestTimeout := fs.Duration("request-timeout", publish.DefaultRequestTimeout, "retry a request that gets no answer within `DURATION`")
	if exit, ok := fs.parse(args); !ok {
		return exit
	}
	if *dir == "" || fs.NArg() > 0 {
		return fs.usageError("-bundle is required, and there are no positional arguments")
	}
	if *concurrency < 1 || *concurrency > 256 {
		return fs.usageError("-concurrency %d: use 1 to 256", *concurrency)
	}
	if *timeout <= 0 || *requestTimeout <= 0 {
		return fs.usageError("-timeout and -request-timeout must be positive durations such as 10m or 30s")
	}
	if *bucket != "" {
		if err := gcsname.Bucket(*bucket); err != nil {
			return fs.usageError("-bucket: %v", err)
		}
	}
	if *prefix != "" {
		if err := gcsname.Prefix(*prefix); err != nil {
			return fs.usageError("-prefix: %v", err)
		}
	}
	var image *postprocessor.Image
	if *labelImage != "" {
		project, name, ok := strings.Cut(*labelImage, "/")
		if !ok || project == "" || name == "" || strings.Contains(name, "/") {
			return fs.usageError("-label-image %q: want PROJECT/IMAGE, e.g. my-project/tetra-nomad-1715000000", *labelImage)
		}
		image = &postprocessor.Image{Project: project, Name: name}
	}

	prep, err := postprocessor.Prepare(postprocessor.Job{
		BundleDir:      *dir,
		Bucket:         *bucket,
		Prefix:         *prefix,
		Concurrency:    *concurrency,
		Timeout:        *timeout,
		RequestTimeout: *requestTimeout,
		Image:          image,
		Say:            func(s string) { fmt.Fprintln(stderr, s) },
		StorageOptions: publishStorageOptions,
		ComputeOptions: publishComputeOptions,
	})
	if err != nil {
		fmt.Fprintf(stderr, "publish: %v\n", err)
		return exitUsageOrIO
	}

	// Ctrl-C stops uploads; latest.json is only written after all of them.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := prep.Run(ctx)
	if out != nil && out.Publish != nil {
		printResult(stdout, out.Publish)
	}
	if err != nil {
		fmt.Fprintf(stderr, "publish: %v\n", err)
		return exitPublishFailed
	}
	return exitOK
}

// printResult writes key=value lines a pipeline can append to
// $GITHUB_OUTPUT or eval.
func printResult(w io.Writer, r *publish.Result) {
	fmt.Fprintf(w, "bundle_id=%s\n", r.BundleID)
	fmt.Fprintf(w, "jobspec_url=%s\n", r.JobspecURL)
	fmt.Fprintf(w, "jobspec_object=%s\n", publish.GSURI(r.Target.Bucket, r.JobspecObject))
}
