// Command packer-plugin-tetranomad is the Packer plugin binary. Packer talks to
// it through `describe` and `start`; people and CI jobs use the extra
// subcommands (render, lint, publish) that run the same code without Packer.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/tetranomad/packer-plugin-tetranomad/version"
)

type subcommand struct {
	synopsis string
	run      func(args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand for people and CI, one explicit table as in
// Nomad's command.Commands; each lives in its own file.
func commands() map[string]subcommand {
	return map[string]subcommand{
		"conformance": {synopsis: conformanceSynopsis, run: runConformance},
		"lint":        {synopsis: lintSynopsis, run: runLint},
		"publish":     {synopsis: publishSynopsis, run: runPublish},
		"render":      {synopsis: renderSynopsis, run: runRender},
		"status":      {synopsis: statusSynopsis, run: runStatus},
	}
}

func main() {
	if len(os.Args) > 1 {
		if sc, ok := commands()[os.Args[1]]; ok {
			os.Exit(sc.run(os.Args[2:], os.Stdout, os.Stderr))
		}
		switch os.Args[1] {
		case "-h", "-help", "--help", "help":
			usage(os.Stdout)
			return
		}
	}

	pps := plugin.NewSet()
	registerComponents(pps)
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "packer-plugin-tetranomad %s\n\n", version.PluginVersion.FormattedVersion())
	fmt.Fprintln(w, "Packer loads this binary as a plugin (describe, start). Commands for people and CI:")
	table := commands()
	names := make([]string, 0, len(table))
	for name := range table {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, table[name].synopsis)
	}
	fmt.Fprintln(w, "\nRun 'packer-plugin-tetranomad COMMAND -h' for a command's flags.")
}
