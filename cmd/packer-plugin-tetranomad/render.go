package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tetranomad/packer-plugin-tetranomad/hostsetup"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/atomicdir"
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
	fs := newCommandLine("render", "-config FILE -out DIR [-host-files HOSTDIR]", renderSynopsis,
		"Exit status: 0 written, 1 declaration or policy errors, 2 usage or I/O errors.", stderr)
	config := fs.String("config", "", "declaration `FILE` (HCL, the provisioner block's schema)")
	out := fs.String("out", "", "bundle `DIR` to write: a new path, an empty directory, or a bundle directory, which is replaced as a whole")
	hostFiles := fs.String("host-files", "", "also write every file the provisioner installs on the VM at `HOSTDIR`/<its absolute path>, for review as a diff: a new path, an empty directory, or one an earlier -host-files wrote")
	if exit, ok := fs.parse(args); !ok {
		return exit
	}
	if *config == "" || *out == "" || fs.NArg() > 0 {
		return fs.usageError("-config and -out are required, and nothing else")
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

	for _, w := range d.Warnings() {
		fmt.Fprintf(stderr, "render: warning: %s\n", w)
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
	var files []hostsetup.HostFile
	if *hostFiles != "" {
		// Refused before anything is written.
		if _, err := checkHostFilesDir(filepath.Clean(*hostFiles)); err != nil {
			fmt.Fprintf(stderr, "render: -host-files: %v\n", err)
			return exitUsageOrIO
		}
		// The same rendering the provisioner uploads (the preflight table
		// is not installed, so the policies' requirements are not needed).
		if files, err = hostsetup.HostFiles(hostsetup.Input{Declaration: d, Bundle: b, PluginVersion: version.PluginVersion.FormattedVersion()}); err != nil {
			fmt.Fprintf(stderr, "render: %v\n", err)
			return exitDeclared
		}
	}
	// SIGINT/SIGTERM while writing: the temporary directory is removed and
	// -out keeps the previous bundle.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := b.WriteDirContext(ctx, *out); err != nil {
		fmt.Fprintf(stderr, "render: %v\n", err)
		return exitUsageOrIO
	}
	if *hostFiles != "" {
		if err := writeHostFiles(ctx, *hostFiles, files); err != nil {
			fmt.Fprintf(stderr, "render: -host-files: %v\n", err)
			return exitUsageOrIO
		}
		fmt.Fprintf(stderr, "%d files the provisioner installs on the VM written under %s\n", len(files), *hostFiles)
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

// hostFilesMarker marks a directory written by -host-files, so a second
// run may replace it; any other non-empty directory is left alone.
const hostFilesMarker = ".tetranomad-host-files"

// checkHostFilesDir refuses a directory -host-files may not replace, and
// says whether there is an earlier -host-files output to replace.
func checkHostFilesDir(dir string) (existing bool, err error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(entries) == 0 {
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(dir, hostFilesMarker)); err != nil {
		return false, fmt.Errorf("%s is not empty and was not written by -host-files (no %s in it): choose a new or empty directory", dir, hostFilesMarker)
	}
	return true, nil
}

// writeHostFiles writes files under dir at their absolute paths, replacing
// a directory an earlier -host-files wrote, never another one.
func writeHostFiles(ctx context.Context, dir string, files []hostsetup.HostFile) error {
	dir = filepath.Clean(dir)
	existing, err := checkHostFilesDir(dir)
	if err != nil {
		return err
	}
	return atomicdir.Replace(ctx, dir, existing, func(tmp string) error {
		var list strings.Builder
		list.WriteString("# Files the tetranomad provisioner installs on the VM, rendered by\n# packer-plugin-tetranomad render -host-files.\n")
		for _, f := range files {
			// The VM's modes, not masked by the umask.
			if err := atomicdir.WriteFile(filepath.Join(tmp, filepath.FromSlash(f.Path)), f.Data, os.FileMode(f.Mode)); err != nil {
				return err
			}
			fmt.Fprintf(&list, "%04o %s\n", f.Mode, f.Path)
		}
		return atomicdir.WriteFile(filepath.Join(tmp, hostFilesMarker), []byte(list.String()), 0o644)
	})
}
