package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// commandLine is the flag set every subcommand parses with, so they all
// behave alike: flag errors and usage go to stderr, -h is a question (exit
// 0), a usage error names the subcommand, prints the usage and exits 2.
type commandLine struct {
	*flag.FlagSet
	stderr io.Writer
}

// newCommandLine: args is the usage line after the subcommand's name,
// synopsis the one-liner of the commands table, about what else a user needs
// to know (exit statuses, credentials).
func newCommandLine(name, args, synopsis, about string, stderr io.Writer) *commandLine {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: packer-plugin-tetranomad %s %s\n\n%s.\n%s\n\n", name, args, capitalize(synopsis), about)
		fs.PrintDefaults()
	}
	return &commandLine{FlagSet: fs, stderr: stderr}
}

// parse reports whether the subcommand goes on; when it does not, exit is
// its status (the flag package has already said what was wrong).
func (c *commandLine) parse(args []string) (exit int, ok bool) {
	if err := c.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsageOrIO, false
	}
	return exitOK, true
}

// usageError says what is wrong with the command line, then how to use it.
func (c *commandLine) usageError(format string, a ...any) int {
	fmt.Fprintf(c.stderr, c.Name()+": "+format+"\n", a...)
	c.Usage()
	return exitUsageOrIO
}
