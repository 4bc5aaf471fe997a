package provisioner

import (
	"bytes"
	"strings"
	"sync"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/tetranomad/packer-plugin-tetranomad/hostsetup"
)

// keptLines is how much of the failing step's output goes into the error;
// all of it was already shown as it came.
const keptLines = 60

// stepStream turns the script's output into UI lines prefixed with the
// running step, and remembers what an error must say: the failing step,
// its reason and its output. stdout and stderr each get their own line
// buffer, so two streams never splice half lines.
type stepStream struct {
	ui packersdk.Ui

	mu       sync.Mutex
	step     string   // the running step; "setup" before the first
	output   []string // the running step's lines, at most keptLines
	started  bool     // a step marker was seen
	failed   bool
	failStep string
	reason   string
	done     bool
	summary  string
}

func newStepStream(ui packersdk.Ui) *stepStream {
	return &stepStream{ui: ui, step: "setup"}
}

// lineWriter is one stream's io.Writer.
type lineWriter struct {
	s       *stepStream
	partial []byte
}

func (s *stepStream) writer() *lineWriter { return &lineWriter{s: s} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.s.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// flush emits a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.s.line(string(w.partial))
		w.partial = nil
	}
}

func (s *stepStream) line(raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := hostsetup.ParseLine(raw)
	switch ev.Kind {
	case hostsetup.StepStart:
		s.step, s.output, s.started = ev.Step, nil, true
		s.ui.Say("tetranomad: [" + ev.Step + "] " + ev.Text)
	case hostsetup.StepFailed:
		if !s.failed {
			s.failed, s.failStep, s.reason = true, ev.Step, ev.Text
		}
		s.ui.Error("tetranomad: [" + ev.Step + "] failed: " + ev.Text)
	case hostsetup.Done:
		s.done, s.summary = true, ev.Text
		s.ui.Say("tetranomad: " + ev.Text)
	default:
		text := strings.TrimRight(ev.Text, " \t")
		if text == "" {
			return
		}
		s.output = append(s.output, text)
		if len(s.output) > keptLines {
			s.output = s.output[len(s.output)-keptLines:]
		}
		s.ui.Say("tetranomad: [" + s.step + "] " + text)
	}
}

// stepOutput is the running (or failed) step's output, indented for an error.
func (s *stepStream) stepOutput() string {
	if len(s.output) == 0 {
		return ""
	}
	return "\n  " + strings.Join(s.output, "\n  ")
}
