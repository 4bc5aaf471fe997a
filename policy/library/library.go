// Package library is the curated TracingPolicy library: the reference
// deployment's policies, rewritten to be correct on Nomad, embedded as
// templates with a short doc each.
//
// Rendering is pure: the same name and policy.Network give the same bytes. Every
// rendered policy passes the policy package's linter with no findings when
// linted with the same network (see the package tests); callers still lint
// the selected library policies together with the user's own files, since
// duplicate names are a set-level rule.
package library

import (
	"bytes"
	"embed"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"text/template"

	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

//go:embed templates/*.yaml
var templateFS embed.FS

//go:embed scenarios/*.yaml
var scenarioFS embed.FS

// Scenario returns the conformance scenarios of a library policy (see
// package conformance): what it must kill or log and what it must allow.
func Scenario(name string) ([]byte, error) {
	if _, ok := templates[name]; !ok {
		return nil, unknown(name)
	}
	return scenarioFS.ReadFile("scenarios/" + name + ".yaml")
}

// templates holds the parsed library, keyed by name (file name without .yaml).
var templates = func() map[string]*template.Template {
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".yaml")
		src, err := templateFS.ReadFile("templates/" + e.Name())
		if err != nil {
			panic(err)
		}
		// Parse errors are caught by the tests; templates are embedded.
		out[name] = template.Must(template.New(name).Option("missingkey=error").Parse(string(src)))
	}
	return out
}()

// Names returns the library's policy names, sorted.
func Names() []string {
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Render returns the policy's YAML for the network it will run in (the
// same policy.Network the linter checks it against). The file name to
// use is name + ".yaml"; metadata.name equals name.
func Render(name string, v policy.Network) ([]byte, error) {
	t, ok := templates[name]
	if !ok {
		return nil, unknown(name)
	}
	data, err := templateData(name, v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	return b.Bytes(), nil
}

func unknown(name string) error {
	return fmt.Errorf("unknown library policy %q; valid names: %s", name, strings.Join(Names(), ", "))
}

// usesNetwork lists the policies whose text depends on the network.
var usesNetwork = map[string]bool{"block-internet-egress": true}

// egressData is what the egress template needs: canonical CIDRs, deduplicated.
type egressData struct {
	Sources []string // container bridges
	Allowed []string // loopback, metadata server, bridges, VPC
}

func templateData(name string, v policy.Network) (any, error) {
	if !usesNetwork[name] {
		return struct{}{}, nil
	}
	var sources, vpc []string
	for _, f := range []struct{ field, val string }{
		{"DockerBridgeCIDR", v.DockerBridgeCIDR},
		{"NomadBridgeCIDR", v.NomadBridgeCIDR},
	} {
		if f.val == "" {
			continue
		}
		p, err := canonicalCIDR(f.val)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %s %q: %w", name, f.field, f.val, err)
		}
		sources = appendNew(sources, p)
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("policy %s: needs DockerBridgeCIDR or NomadBridgeCIDR (the container bridges are its only sources; without one it would match nothing or the host)", name)
	}
	for i, c := range v.VPCCIDRs {
		p, err := canonicalCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("policy %s: VPCCIDRs[%d] %q: %w", name, i, c, err)
		}
		vpc = appendNew(vpc, p)
	}
	allowed := []string{"127.0.0.0/8", "169.254.169.254/32"}
	for _, s := range append(append([]string{}, sources...), vpc...) {
		allowed = appendNew(allowed, s)
	}
	// Every IPv4 range also in its v4-mapped form: IPv4 connects from
	// AF_INET6 sockets are reported as ::ffff:a.b.c.d (issue 12).
	return egressData{Sources: withV4Mapped(sources), Allowed: withV4Mapped(allowed)}, nil
}

// canonicalCIDR accepts a CIDR, including Docker's bip form with the
// gateway address ("172.17.0.1/16"), and returns its network form. Its
// output contains only address characters, so it is safe in YAML.
func canonicalCIDR(s string) (string, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("not a CIDR (want e.g. 172.17.0.0/16): %w", err)
	}
	return p.Masked().String(), nil
}

// withV4Mapped returns list followed by the v4-mapped form of each IPv4
// CIDR in it.
func withV4Mapped(list []string) []string {
	out := append([]string(nil), list...)
	for _, s := range list {
		if m, ok := policy.V4Mapped(netip.MustParsePrefix(s)); ok {
			out = appendNew(out, m.String())
		}
	}
	return out
}

func appendNew(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

// RenderFiles renders the selected library policies as policy files named
// name + ".yaml", in the order given, ready to be linted together with the
// user's own files:
//
//	files, err := library.RenderFiles(selected, values)
//	rep, err := policy.LintWith(append(files, userFiles...), policy.Options{Network: ...})
//	// rep.HasErrors(): stop; otherwise print the warnings.
//
// A name selected twice is an error, as is an unknown name.
func RenderFiles(names []string, v policy.Network) ([]policy.File, error) {
	seen := map[string]bool{}
	files := make([]policy.File, 0, len(names))
	for _, name := range names {
		if seen[name] {
			return nil, fmt.Errorf("library policy %q selected twice", name)
		}
		seen[name] = true
		b, err := Render(name, v)
		if err != nil {
			return nil, err
		}
		files = append(files, policy.File{Path: name + ".yaml", Data: b})
	}
	return files, nil
}
