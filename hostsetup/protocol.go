package hostsetup

import "strings"

// The script talks to the provisioner through marker lines on its output;
// every other line is output of the current step.
//
//	##tetranomad step <name> <title>     a step starts
//	##tetranomad fail <name> <message>   the step failed (the script then exits non-zero)
//	##tetranomad done <summary>          the script finished ("no changes" or "changed: ...")
const Marker = "##tetranomad"

// payloadMarker is the line after which the archive of data files starts.
const payloadMarker = "__TETRANOMAD_PAYLOAD__"

// EventKind says what a line of the script's output is.
type EventKind int

const (
	// Output is an ordinary line of the current step.
	Output EventKind = iota
	// StepStart announces a step; Text is its title.
	StepStart
	// StepFailed names the failed step; Text is the reason.
	StepFailed
	// Done ends a successful run; Text is the summary.
	Done
)

// Event is one parsed line.
type Event struct {
	Kind EventKind
	Step string
	Text string
}

// ParseLine classifies one line of the script's output (without its line
// ending). A carriage return from a pty is dropped.
func ParseLine(line string) Event {
	line = strings.TrimRight(line, "\r")
	rest, ok := strings.CutPrefix(line, Marker+" ")
	if !ok {
		return Event{Kind: Output, Text: line}
	}
	kind, rest, _ := strings.Cut(rest, " ")
	switch kind {
	case "step", "fail":
		step, text, _ := strings.Cut(rest, " ")
		k := StepStart
		if kind == "fail" {
			k = StepFailed
		}
		return Event{Kind: k, Step: step, Text: text}
	case "done":
		return Event{Kind: Done, Text: rest}
	}
	return Event{Kind: Output, Text: line}
}
