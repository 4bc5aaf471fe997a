package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tetranomad/packer-plugin-tetranomad/internal/inputfile"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
	"github.com/tetranomad/packer-plugin-tetranomad/render"
	"github.com/tetranomad/packer-plugin-tetranomad/version"
)

// Exit codes of the render subcommand.
const (
	exitOK         = 0
	exitDeclared   = 1 // the declaration or a policy is wrong
	exitUsageOrIO  = 2
	renderSynopsis = "render a bundle (client config, jobspec, policies, manifest) from a declaration file"
)

func runRender(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "declaration `FILE` (HCL, the provisioner block's schema)")
	out := fs.String("out", "", "bundle `DIR` to write: a new path, an empty directory, or a bundle directory, which is replaced as a whole")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: packer-plugin-tetranomad render -config FILE -out DIR\n\n%s.\n"+
			"Exit status: 0 written, 1 declaration or policy errors, 2 usage or I/O errors.\n\n", capitalize(renderSynopsis))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsageOrIO
	}
	if *config == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "render: -config and -out are required, and nothing else")
		fs.Usage()
		return exitUsageOrIO
	}

	d, err := model.LoadFile(*config)
	if err != nil {
		var problems model.FileErrors
		if errors.As(err, &problems) {
			for _, p := range problems {
				fmt.Fprintln(stderr, p)
			}
			return exitDeclared
		}
		fmt.Fprintf(stderr, "render: %v\n", err)
		return exitUsageOrIO
	}

	var user []policy.File
	for i, p := range d.Policies.Files {
		data, err := inputfile.Read(p, inputfile.MaxPolicy)
		if err != nil {
			fmt.Fprintf(stderr, "render: policies.files[%d]: %v\n", i, err)
			return exitUsageOrIO
		}
		user = append(user, policy.File{Path: p, Data: data})
	}

	b, report, err := render.Render(d, user, version.PluginVersion.FormattedVersion())
	for _, f := range report.Findings {
		fmt.Fprintln(stderr, f)
	}
	if err != nil {
		var lint *render.LintError
		if errors.As(err, &lint) {
			fmt.Fprintf(stderr, "render: %d policy error(s); nothing written\n", report.Count(policy.SeverityError))
		} else {
			fmt.Fprintf(stderr, "render: %v\n", err)
		}
		return exitDeclared
	}
	// SIGINT/SIGTERM while writing: the temporary directory is removed and
	// -out keeps the previous bundle.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := b.WriteDirContext(ctx, *out); err != nil {
		fmt.Fprintf(stderr, "render: %v\n", err)
		return exitUsageOrIO
	}
	fmt.Fprintf(stderr, "bundle %s written to %s (%d warning(s))\n", b.Manifest.BundleID, *out, report.Count(policy.SeverityWarning))
	for _, f := range b.Manifest.Files {
		fmt.Fprintf(stderr, "  %-40s %s\n", f.Path, f.SHA256)
	}
	return exitOK
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
