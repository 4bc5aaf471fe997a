// Package render assembles a bundle from a prepared declaration: the library
// and user policies (linted together), the Nomad client configuration, the
// Tetragon jobspec and the manifest. Pure orchestration of pure renderers: no
// I/O, and the same input gives the same bytes.
package render

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"github.com/tetranomad/packer-plugin-tetranomad/clientconfig"
	"github.com/tetranomad/packer-plugin-tetranomad/jobs"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/library"
)

// LintError is returned when the policies have lint errors. Report holds
// every finding, warnings included.
type LintError struct {
	Report policy.Report
}

func (e *LintError) Error() string {
	lines := []string{fmt.Sprintf("%d policy lint error(s):", e.Report.Count(policy.SeverityError))}
	for _, f := range e.Report.Findings {
		if f.Severity == policy.SeverityError {
			lines = append(lines, f.String())
		}
	}
	return strings.Join(lines, "\n")
}

// DropInPath is the client drop-in's path in a bundle.
func DropInPath(d *model.Declaration) string {
	return bundle.NomadDir + "/" + d.Nomad.DropInName + ".hcl"
}

// BasePath is the base client config's path in a bundle.
const BasePath = bundle.NomadDir + "/" + clientconfig.BaseFileName

// Render renders the bundle of a prepared declaration. userPolicies are the
// files named by policies.files, with the paths the user wrote (findings
// name them). The report is returned whenever linting ran; lint errors make
// the error a *LintError.
func Render(d *model.Declaration, userPolicies []policy.File, pluginVersion string) (*bundle.Bundle, policy.Report, error) {
	sources, err := collectPolicies(d, userPolicies)
	if err != nil {
		return nil, policy.Report{}, err
	}

	lintInput := make([]policy.File, len(sources))
	for i, s := range sources {
		lintInput[i] = policy.File{Path: s.lintPath, Data: s.data}
	}
	report, err := policy.LintWith(lintInput, policy.Options{Network: d.Network()})
	if err != nil {
		return nil, report, err
	}
	if report.HasErrors() {
		return nil, report, &LintError{Report: report}
	}

	if d.Policies.Mode == model.PolicyModeMonitor {
		// After linting, so findings name the lines the user wrote.
		for i := range sources {
			out, _, err := policy.SetMonitorMode(sources[i].data)
			if err != nil {
				return nil, report, fmt.Errorf("policies.mode = \"monitor\": %s: %w", sources[i].lintPath, err)
			}
			sources[i].data = out
		}
	}
	files := make([]jobs.PolicyFile, len(sources))
	for i, s := range sources {
		files[i] = jobs.PolicyFile{Path: s.bundlePath, Data: s.data, SHA256: bundle.SHA256Hex(s.data)}
	}
	dropIn := clientconfig.DropIn(d)
	base := clientconfig.Base(d)

	// The jobspec names its own bundle id; Seal computes the id over the
	// whole bundle with a placeholder there, then puts the id in.
	jobspec, err := jobs.Render(jobs.Input{Declaration: d, Policies: files, BundleID: bundle.IDPlaceholder})
	if err != nil {
		return nil, report, err
	}

	b := &bundle.Bundle{
		Manifest: bundle.Manifest{
			SchemaVersion: bundle.SchemaVersion,
			Contract:      d.Contract().Hash(),
			PolicyMode:    d.Policies.Mode,
			Versions: bundle.Versions{
				Tetragon:      d.Tetragon.Version,
				TetragonImage: d.Tetragon.Image,
				ExportImage:   d.Tetragon.ExportImage,
				Nomad:         d.Nomad.Version,
			},
			Policies: requirements(report, sources),
		},
		// The plugin's version describes this build, not the bundle.
		Build: bundle.Build{Plugin: pluginVersion},
	}
	if p := d.Publish; p.Bucket != "" {
		b.Manifest.Target = p.Target()
	}
	add := func(p, role string, data []byte) {
		if err == nil {
			err = b.Add(p, role, data)
		}
	}
	for _, f := range files {
		add(f.Path, bundle.RolePolicy, f.Data)
	}
	add(DropInPath(d), bundle.RoleClientConfig, dropIn)
	if base != nil {
		add(BasePath, bundle.RoleBaseConfig, base)
	}
	add(bundle.JobspecPath, bundle.RoleJobspec, jobspec)
	if err == nil {
		err = b.Seal()
	}
	if err != nil {
		return nil, report, err
	}
	return b, report, nil
}

// source is one policy on its way into the bundle.
type source struct {
	bundlePath string // policies/<name>.yaml
	lintPath   string // what findings name: the user's path, or the bundle path for the library
	origin     string // for clash messages
	data       []byte
}

var policyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// collectPolicies renders the selected library policies and names every
// policy's bundle file, refusing two that would share one. The result is in
// bundle order.
func collectPolicies(d *model.Declaration, user []policy.File) ([]source, error) {
	lib, err := library.RenderFiles(d.Policies.Library, d.Network())
	if err != nil {
		return nil, fmt.Errorf("policies.library: %w", err)
	}
	var out []source
	byPath := map[string]source{}
	var problems []string
	claim := func(s source) {
		if other, dup := byPath[s.bundlePath]; dup {
			problems = append(problems, fmt.Sprintf("policies: %s and %s would both be %s; rename one", other.origin, s.origin, s.bundlePath))
			return
		}
		byPath[s.bundlePath] = s
		out = append(out, s)
	}
	for i, f := range lib {
		name := d.Policies.Library[i]
		p := bundle.PolicyDir + "/" + path.Base(f.Path)
		claim(source{bundlePath: p, lintPath: p, origin: "library policy " + name, data: f.Data})
	}
	for _, f := range user {
		base := filepath.Base(f.Path)
		name := strings.TrimSuffix(base, filepath.Ext(base))
		if !policyName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("policies.files: %s: %q cannot name a bundle file (letters, digits, '_', '-', '.'); rename the file", f.Path, name))
			continue
		}
		claim(source{bundlePath: bundle.PolicyDir + "/" + name + ".yaml", lintPath: f.Path, origin: "policy file " + f.Path, data: f.Data})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].bundlePath < out[j].bundlePath })
	return out, nil
}

// requirements lists each document's kernel requirements with its bundle
// path, in bundle order (the lint input order).
func requirements(report policy.Report, sources []source) []bundle.PolicyRequirements {
	bundlePath := map[string]string{}
	for _, s := range sources {
		bundlePath[s.lintPath] = s.bundlePath
	}
	out := make([]bundle.PolicyRequirements, 0, len(report.Policies))
	for _, r := range report.Policies {
		if p, ok := bundlePath[r.File]; ok {
			r.File = p
		}
		out = append(out, r)
	}
	return out
}
