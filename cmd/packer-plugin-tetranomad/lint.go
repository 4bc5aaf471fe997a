package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/internal/inputfile"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/policydir"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/schema"
)

const lintSynopsis = "check TracingPolicy files against Tetragon's schema and the rules that matter on Nomad"

// lintJSON is the -format json document. Field order is fixed by the struct
// and findings are sorted, so CI can diff it.
type lintJSON struct {
	Tetragon string                `json:"tetragon"`
	Files    int                   `json:"files"`
	Errors   int                   `json:"errors"`
	Warnings int                   `json:"warnings"`
	Findings []policy.Finding      `json:"findings"`
	Policies []policy.Requirements `json:"policies"`
}

// runLint implements `lint [flags] FILE|DIR...`. Exit status: 0 no errors
// (warnings allowed), 1 errors found, 2 usage or I/O error.
func runLint(args []string, stdout, stderr io.Writer) int {
	fs := newCommandLine("lint", "[flags] FILE|DIR...", lintSynopsis, fmt.Sprintf(
		"Files are read as Tetragon %s loads its policy directory: a DIR contributes every regular\n"+
			"file in it and in one level of subdirectories, whatever the extension, sorted.\n"+
			"Exit status: 0 no errors (warnings allowed), 1 errors, 2 usage or I/O error.", schema.TetragonVersion), stderr)
	def := model.DefaultNetwork()
	format := fs.String("format", "text", "output `format`: text or json")
	docker := fs.String("docker-bridge-cidr", def.DockerBridgeCIDR, "Docker bridge `CIDR` egress sources must be in (empty: none)")
	nomad := fs.String("nomad-bridge-cidr", def.NomadBridgeCIDR, "Nomad bridge_network_subnet `CIDR` (empty: none)")
	vpc := fs.String("vpc-cidrs", strings.Join(def.VPCCIDRs, ","), "comma-separated VPC `CIDRs`; egress rules must not use them as sources")
	listRules := fs.Bool("rules", false, "list the rules and exit")
	if exit, ok := fs.parse(args); !ok {
		return exit
	}
	if *listRules {
		for _, r := range policy.Rules {
			fmt.Fprintf(stdout, "%-22s %-7s %s\n", r.ID, r.Severity, r.Summary)
		}
		return 0
	}
	if *format != "text" && *format != "json" {
		return fs.usageError("-format %q: want text or json", *format)
	}
	if fs.NArg() == 0 {
		return fs.usageError("give the policy files or directories to lint")
	}
	nw := policy.Network{DockerBridgeCIDR: *docker, NomadBridgeCIDR: *nomad}
	for _, c := range strings.Split(*vpc, ",") {
		if c = strings.TrimSpace(c); c != "" {
			nw.VPCCIDRs = append(nw.VPCCIDRs, c)
		}
	}

	files, err := readPolicyFiles(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "lint:", err)
		return 2
	}
	rep, err := policy.LintWith(files, policy.Options{Network: nw})
	if err != nil {
		fmt.Fprintln(stderr, "lint:", err)
		return 2
	}

	errs, warns := rep.Count(policy.SeverityError), rep.Count(policy.SeverityWarning)
	switch *format {
	case "json":
		out := lintJSON{
			Tetragon: schema.TetragonVersion, Files: len(files), Errors: errs, Warnings: warns,
			Findings: rep.Findings, Policies: rep.Policies,
		}
		if out.Findings == nil {
			out.Findings = []policy.Finding{}
		}
		if out.Policies == nil {
			out.Policies = []policy.Requirements{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(stderr, "lint:", err)
			return 2
		}
	default:
		for _, f := range rep.Findings {
			fmt.Fprintln(stdout, f.String())
		}
		fmt.Fprintf(stdout, "%d %s, %d errors, %d warnings (Tetragon %s)\n",
			len(files), plural(len(files), "file", "files"), errs, warns, schema.TetragonVersion)
	}
	if errs > 0 {
		return 1
	}
	return 0
}

// readPolicyFiles reads each FILE, and from each DIR what Tetragon loads
// from its policy directory (policy/policydir).
func readPolicyFiles(args []string) ([]policy.File, error) {
	var files []policy.File
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			// Exactly what the agent loads from a --tracing-policy-dir.
			dirFiles, err := policydir.Read(arg)
			if err != nil {
				return nil, err
			}
			if len(dirFiles) == 0 {
				return nil, fmt.Errorf("%s: no files; Tetragon would load no policy from it", arg)
			}
			files = append(files, dirFiles...)
			continue
		}
		data, err := inputfile.Read(arg, inputfile.MaxPolicy)
		if err != nil {
			return nil, err
		}
		files = append(files, policy.File{Path: arg, Data: data})
	}
	return files, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
