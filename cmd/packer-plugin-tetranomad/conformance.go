package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/tetranomad/packer-plugin-tetranomad/conformance"
	"github.com/tetranomad/packer-plugin-tetranomad/model"
	"github.com/tetranomad/packer-plugin-tetranomad/policy/library"
)

const conformanceSynopsis = "run a bundle's policies against a real Tetragon release and check their scenarios (root, Linux with kprobes)"

// runConformance implements `conformance [flags]` and, internally,
// `conformance helper ACTION...` (the process a case runs in). Exit status:
// 0 every case passed, 1 a case failed, 2 usage or setup error.
func runConformance(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "helper" {
		return conformance.Helper(args[1:])
	}
	fs := newCommandLine("conformance", "-release TARBALL -bundle DIR [flags]", conformanceSynopsis,
		"Starts the release's tetragon with exactly the flags of the bundle's jobspec (paths mapped to the\n"+
			"host) and the bundle's policy directory, runs every scenario case (a process on the host or in\n"+
			"fresh namespaces with an address on the Docker bridge), and checks the export file. Needs root and\n"+
			"a kernel with kprobes and BTF; elsewhere use scripts/conformance-qemu.\n"+
			"Exit status: 0 all passed, 1 a case failed, 2 usage or setup error.", stderr)
	release := fs.String("release", "", "the official Tetragon release `tarball` (tetragon-vX.Y.Z-amd64.tar.gz) or the directory it unpacks to")
	bundle := fs.String("bundle", "", "a rendered bundle `DIR` (render -out): the agent runs with its jobspec's flags and its policies")
	var scenarios multiFlag
	fs.Var(&scenarios, "scenarios", "scenario `FILE|DIR` for your own policies (repeatable); keep them outside the policy directory")
	libScenarios := fs.Bool("library-scenarios", true, "also run the library's scenarios for the library policies in the bundle")
	work := fs.String("work", "", "scratch `DIR` for the unpacked release, the policy directory, the agent log and the export file (default: a new temp dir, kept)")
	bridge := fs.String("docker-bridge-cidr", model.DefaultDockerBridgeCIDR, "the `CIDR` container cases get their address from (the declaration's docker.bridge_cidr)")
	timeout := fs.Duration("agent-timeout", 10*time.Minute, "how long the agent may take to load the policies")
	if exit, ok := fs.parse(args); !ok {
		return exit
	}
	if *release == "" || *bundle == "" || fs.NArg() != 0 {
		return fs.usageError("-release and -bundle are required, and nothing else")
	}
	if *work == "" {
		d, err := os.MkdirTemp("", "tetranomad-conformance-")
		if err != nil {
			fmt.Fprintln(stderr, "conformance:", err)
			return 2
		}
		*work = d
	}
	if *libScenarios {
		dir := filepath.Join(*work, "library-scenarios")
		if err := writeLibraryScenarios(dir); err != nil {
			fmt.Fprintln(stderr, "conformance:", err)
			return 2
		}
		scenarios = append(scenarios, dir)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "conformance:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := conformance.Run(ctx, conformance.Config{
		Release: *release, Bundle: *bundle, Scenarios: scenarios, Work: *work,
		Helper: []string{self, "conformance", "helper"}, DockerBridgeCIDR: *bridge,
		AgentTimeout: *timeout, Out: stdout,
	})
	if err != nil {
		fmt.Fprintln(stderr, "conformance:", err)
		return 2
	}
	conformance.Report(stdout, res)
	fmt.Fprintf(stdout, "agent log and export file: %s\n", *work)
	if res.Failed() > 0 {
		return 1
	}
	return 0
}

func writeLibraryScenarios(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range library.Names() {
		b, err := library.Scenario(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
