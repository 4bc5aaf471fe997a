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

// subcommands is filled by init functions in this package, one file per subcommand.
var subcommands = map[string]subcommand{}

func main() {
	if len(os.Args) > 1 {
		if sc, ok := subcommands[os.Args[1]]; ok {
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
	names := make([]string, 0, len(subcommands))
	for name := range subcommands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, subcommands[name].synopsis)
	}
	fmt.Fprintln(w, "\nRun 'packer-plugin-tetranomad COMMAND -h' for a command's flags.")
}
