// Package provisioner is the `provisioner "tetranomad"` Packer component.
// Prepare decodes and checks the declaration, reads the policies and renders
// the bundle, so a bad declaration or policy fails `packer validate`.
// Provision writes the bundle to output_dir, uploads one self-extracting
// script (hostsetup) and runs it once: preflight, packages, Docker, logging
// agent, Nomad. Then it stores the VM's preflight facts in build.json.
package provisioner

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
	"github.com/zclconf/go-cty/cty"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/hostsetup"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/inputfile"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
	"github.com/tetranomad/packer-plugin-tetranomad/render"
	"github.com/tetranomad/packer-plugin-tetranomad/version"
)

// Provisioner implements packersdk.Provisioner.
type Provisioner struct {
	config Config
	bundle *bundle.Bundle
	report policy.Report

	// newID names one run's files on the VM; tests make it predictable.
	newID func() string
}

var _ packersdk.Provisioner = new(Provisioner)

// ConfigSpec is the HCL2 schema of the provisioner block.
func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// remoteFolderPattern keeps the staging path usable unquoted in
// execute_command, which Packer users write as `{{.Path}}`.
var remoteFolderPattern = regexp.MustCompile(`^/[A-Za-z0-9._/-]*$`)

// Prepare decodes the block, applies defaults, validates and renders the
// bundle. Every problem is reported, each naming its attribute.
func (p *Provisioner) Prepare(raws ...interface{}) error {
	c := &p.config
	// Numbers first: the SDK's decoder rounds them through float64.
	var numErrs []error
	for _, raw := range raws {
		if v, ok := raw.(cty.Value); ok {
			for _, pr := range model.CheckNumbers(v) {
				numErrs = append(numErrs, pr)
			}
		}
	}
	if len(numErrs) > 0 {
		return &packersdk.MultiError{Errors: numErrs}
	}
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         "tetranomad",
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{"execute_command"}},
	}, raws...)
	if err != nil {
		return err
	}
	if c.OutputDir == "" {
		c.OutputDir = DefaultOutputDir
	}
	if c.ExecuteCommand == "" {
		c.ExecuteCommand = DefaultExecuteCommand
	}
	if c.RemoteFolder == "" {
		c.RemoteFolder = DefaultRemoteFolder
	}

	var errs []error
	declOK := true
	if err := c.Declaration.Prepare(); err != nil {
		declOK = false
		var problems model.Problems
		if errors.As(err, &problems) {
			for _, pr := range problems {
				errs = append(errs, pr)
			}
		} else {
			errs = append(errs, err)
		}
	}
	if !remoteFolderPattern.MatchString(c.RemoteFolder) || path.Clean(c.RemoteFolder) != c.RemoteFolder {
		errs = append(errs, fmt.Errorf("remote_folder: %q must be an absolute, clean path of letters, digits and . _ - /", c.RemoteFolder))
	}
	if err := checkExecuteCommand(c); err != nil {
		errs = append(errs, err)
	}
	if declOK && c.Nomad.Install == model.NomadInstallBinary {
		if err := checkBinary(c.Nomad.BinarySource, c.Nomad.BinarySHA256); err != nil {
			errs = append(errs, err)
			declOK = false
		}
	}
	files, ferrs := readPolicyFiles(c.Policies.Files)
	errs = append(errs, ferrs...)

	if declOK && len(ferrs) == 0 {
		b, report, err := render.Render(&c.Declaration, files, version.PluginVersion.String())
		var lintErr *render.LintError
		if errors.As(err, &lintErr) {
			// One error per finding: each names its file, line and rule.
			for _, f := range report.Findings {
				if f.Severity == policy.SeverityError {
					errs = append(errs, errors.New(f.String()))
				}
			}
		} else if err != nil {
			errs = append(errs, err)
		}
		p.bundle, p.report = b, report
	}
	if len(errs) > 0 {
		return &packersdk.MultiError{Errors: errs}
	}
	return nil
}

// checkExecuteCommand renders execute_command once with marker values, so
// a template error or a command that never runs the script fails Prepare.
func checkExecuteCommand(c *Config) error {
	ctx := c.ctx
	ctx.Data = &ExecuteCommandTemplate{Vars: "TETRANOMAD_VARS_MARKER", Path: "/TETRANOMAD_PATH_MARKER"}
	out, err := interpolate.Render(c.ExecuteCommand, &ctx)
	if err != nil {
		return fmt.Errorf("execute_command: %v", err)
	}
	if !strings.Contains(out, "/TETRANOMAD_PATH_MARKER") {
		return fmt.Errorf("execute_command: %q never runs the script: use {{.Path}}", c.ExecuteCommand)
	}
	if !strings.Contains(out, "TETRANOMAD_VARS_MARKER") {
		return fmt.Errorf("execute_command: %q does not pass {{.Vars}}, which the script needs", c.ExecuteCommand)
	}
	return nil
}

// checkBinary makes sure the local nomad binary exists and is the one the
// declaration pins, before anything is uploaded.
func checkBinary(source, want string) error {
	f, err := os.Open(source)
	if err != nil {
		return fmt.Errorf("nomad.binary_source: %v", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("nomad.binary_source: %v", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("nomad.binary_sha256: %s has sha256 %s, not %s; if it is the binary you mean, set binary_sha256 = %q", source, got, want, got)
	}
	return nil
}

func readPolicyFiles(paths []string) ([]policy.File, []error) {
	var files []policy.File
	var errs []error
	for i, p := range paths {
		data, err := inputfile.Read(p, inputfile.MaxPolicy)
		if err != nil {
			errs = append(errs, fmt.Errorf("policies.files[%d]: %v", i, err))
			continue
		}
		files = append(files, policy.File{Path: p, Data: data})
	}
	return files, errs
}

// Provision writes the bundle locally, then configures the VM with one
// upload and one remote command.
func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, _ map[string]interface{}) error {
	c := &p.config
	b := p.bundle
	if b == nil {
		return errors.New("tetranomad: Provision called without a successful Prepare")
	}
	for _, w := range c.Declaration.Warnings() {
		ui.Say("tetranomad: warning: " + w.Error())
	}
	for _, f := range p.report.Findings {
		if f.Severity == policy.SeverityWarning {
			ui.Say("tetranomad: policy warning: " + f.String())
		}
	}
	b.Build.Preflight = nil
	if err := b.WriteDirContext(ctx, c.OutputDir); err != nil {
		return fmt.Errorf("tetranomad: writing the bundle to output_dir %s: %w", c.OutputDir, err)
	}
	ui.Say(fmt.Sprintf("tetranomad: wrote bundle %s to %s", b.Manifest.BundleID, c.OutputDir))

	installed := false
	if c.Nomad.Install == model.NomadInstallBinary {
		if installed = nomadInstalled(ctx, comm, c.Nomad.BinarySHA256); installed {
			ui.Say(fmt.Sprintf("tetranomad: %s on the VM already has sha256 %s; not uploading it again", hostsetup.BinaryInstallPath, c.Nomad.BinarySHA256))
		}
	}
	payload, err := hostsetup.Render(hostsetup.Input{
		Declaration:          &c.Declaration,
		Bundle:               b,
		Policies:             policyRequirements(b.Manifest.Policies),
		PluginVersion:        version.PluginVersion.String(),
		NomadBinaryInstalled: installed,
	})
	if err != nil {
		return fmt.Errorf("tetranomad: %w", err)
	}
	local, err := writeScript(payload, &c.Declaration)
	if err != nil {
		return fmt.Errorf("tetranomad: writing the setup script: %w", err)
	}
	defer os.Remove(local)

	id := p.runID()
	remoteScript := path.Join(c.RemoteFolder, "tetranomad-"+id+".sh")
	remoteResults := path.Join(c.RemoteFolder, "tetranomad-"+id+".preflight.json")
	defer p.cleanup(ctx, ui, comm, remoteScript, remoteResults)

	if err := upload(ui, comm, local, remoteScript); err != nil {
		return err
	}
	ctx2 := c.ctx
	ctx2.Data = &ExecuteCommandTemplate{
		Vars: "TETRANOMAD_RESULTS=" + hostsetup.ShellQuote(remoteResults),
		Path: remoteScript,
	}
	command, err := interpolate.Render(c.ExecuteCommand, &ctx2)
	if err != nil {
		return fmt.Errorf("tetranomad: execute_command: %w", err)
	}
	if err := run(ctx, ui, comm, command); err != nil {
		return err
	}

	var raw bytes.Buffer
	if err := comm.Download(remoteResults, &raw); err != nil {
		return fmt.Errorf("tetranomad: downloading the preflight results %s: %w", remoteResults, err)
	}
	var pf bundle.Preflight
	dec := json.NewDecoder(&raw)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pf); err != nil {
		return fmt.Errorf("tetranomad: the preflight results %s are not valid: %w", remoteResults, err)
	}
	// The VM's facts go to build.json: they describe this build, and the
	// bundle (its id, its published bytes) stays the same on any kernel.
	b.Build.Preflight = &pf
	if err := b.WriteDirContext(ctx, c.OutputDir); err != nil {
		return fmt.Errorf("tetranomad: writing the preflight results into %s: %w", c.OutputDir, err)
	}
	return nil
}

func policyRequirements(in []bundle.PolicyRequirements) []policy.Requirements {
	out := make([]policy.Requirements, len(in))
	for i, r := range in {
		out[i] = policy.Requirements(r)
	}
	return out
}

func (p *Provisioner) runID() string {
	if p.newID != nil {
		return p.newID()
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// writeScript writes the self-extracting script, with the nomad binary
// streamed into it, to a local temporary file.
func writeScript(payload *hostsetup.Payload, d *model.Declaration) (string, error) {
	f, err := os.CreateTemp("", "tetranomad-setup-*.sh")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	var streams []hostsetup.Stream
	for _, name := range payload.Streams {
		if name != hostsetup.NomadBinaryFile {
			return fail(fmt.Errorf("no source for payload stream %s", name))
		}
		bin, err := os.Open(d.Nomad.BinarySource)
		if err != nil {
			return fail(fmt.Errorf("nomad.binary_source: %w", err))
		}
		defer bin.Close()
		fi, err := bin.Stat()
		if err != nil {
			return fail(err)
		}
		streams = append(streams, hostsetup.Stream{Name: name, Mode: 0o755, Size: fi.Size(), R: bin})
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := payload.Write(w, streams...); err != nil {
		return fail(err)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	// The upload keeps this mode: only the SSH user may read the script.
	if err := f.Chmod(0o700); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return f.Name(), nil
}

func upload(ui packersdk.Ui, comm packersdk.Communicator, local, remote string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	ui.Say(fmt.Sprintf("tetranomad: uploading the setup script (%s) to %s", humanBytes(fi.Size()), remote))
	body := ui.TrackProgress(path.Base(remote), 0, fi.Size(), f)
	defer body.Close()
	if err := comm.Upload(remote, body, &fi); err != nil {
		return fmt.Errorf("tetranomad: uploading the setup script to %s: %w (is remote_folder an existing, writable directory?)", remote, err)
	}
	return nil
}

// run starts the one remote command and turns its outcome into an error
// that names the failing step.
func run(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, command string) error {
	s := newStepStream(ui)
	stdout, stderr := s.writer(), s.writer()
	cmd := &packersdk.RemoteCmd{Command: command, Stdout: stdout, Stderr: stderr}
	if err := comm.Start(ctx, cmd); err != nil {
		return fmt.Errorf("tetranomad: could not start the setup script on the VM: %w", err)
	}
	exited := make(chan int, 1)
	go func() { exited <- cmd.Wait() }()
	var status int
	select {
	case <-ctx.Done():
		return fmt.Errorf("tetranomad: cancelled while step %q ran on the VM: %w", s.currentStep(), ctx.Err())
	case status = <-exited:
	}
	stdout.flush()
	stderr.flush()

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case status == packersdk.CmdDisconnect:
		return fmt.Errorf("tetranomad: the connection to the VM dropped during step %q (the command ended without an exit status); the VM may be partly configured: run the build again, the script is idempotent%s", s.step, s.stepOutput())
	case status != 0 && s.failed:
		return fmt.Errorf("tetranomad: step %q failed on the VM (exit status %d): %s%s", s.failStep, status, s.reason, s.stepOutput())
	case status != 0 && !s.started:
		return fmt.Errorf("tetranomad: the setup script did not start (exit status %d); check execute_command %q and that the SSH user may sudo%s", status, command, s.stepOutput())
	case status != 0:
		return fmt.Errorf("tetranomad: step %q failed on the VM (exit status %d)%s", s.step, status, s.stepOutput())
	case !s.done:
		// The SSH communicator reports 0 when a session ends abnormally.
		return fmt.Errorf("tetranomad: the setup script stopped during step %q without finishing (lost connection?); run the build again, the script is idempotent%s", s.step, s.stepOutput())
	}
	return nil
}

// nomadInstalled asks the VM, as the SSH user (no sudo: the binary is
// world-readable), whether the uploaded nomad is already installed, so a
// re-run does not send the binary again. Any failure means "no".
func nomadInstalled(ctx context.Context, comm packersdk.Communicator, sha string) bool {
	var out bytes.Buffer
	cmd := &packersdk.RemoteCmd{Command: "sha256sum -- " + hostsetup.ShellQuote(hostsetup.BinaryInstallPath), Stdout: &out, Stderr: io.Discard}
	if err := comm.Start(ctx, cmd); err != nil {
		return false
	}
	exited := make(chan int, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-ctx.Done():
		return false
	case status := <-exited:
		sum, _, _ := strings.Cut(out.String(), " ")
		return status == 0 && sum == sha
	}
}

func (s *stepStream) currentStep() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.step
}

// cleanup removes the uploaded script and its results from the VM, whatever
// happened; the script removes its own work directory.
func (p *Provisioner) cleanup(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, files ...string) {
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = hostsetup.ShellQuote(f)
	}
	var out bytes.Buffer
	cmd := &packersdk.RemoteCmd{Command: "rm -f -- " + strings.Join(quoted, " "), Stdout: &out, Stderr: &out}
	// A cancelled build still cleans up.
	if err := comm.Start(context.WithoutCancel(ctx), cmd); err != nil {
		ui.Error(fmt.Sprintf("tetranomad: could not remove %s from the VM: %v", strings.Join(files, " "), err))
		return
	}
	if status := cmd.Wait(); status != 0 {
		ui.Error(fmt.Sprintf("tetranomad: removing %s from the VM exited %d: %s", strings.Join(files, " "), status, strings.TrimSpace(out.String())))
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
