package policy

import (
	"fmt"
	"sort"
)

// Severity of a finding. Errors stop a build; warnings are printed.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one problem found in one file. Line and Column are 1-based.
// The JSON field order is fixed by the struct and is part of the CLI's
// stable output.
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Hint     string   `json:"hint,omitempty"`
}

// String formats the finding like a compiler diagnostic:
// "FILE:LINE:COL: severity: rule: message (hint)".
func (f Finding) String() string {
	s := fmt.Sprintf("%s:%d:%d: %s: %s: %s", f.File, f.Line, f.Column, f.Severity, f.Rule, f.Message)
	if f.Hint != "" {
		s += " (" + f.Hint + ")"
	}
	return s
}

// File is one policy file: its path (used only in findings) and its bytes.
type File struct {
	Path string
	Data []byte
}

// Report is the result of linting a set of files.
type Report struct {
	// Findings sorted by file, line, column, rule, message.
	Findings []Finding
	// Policies holds what each TracingPolicy document needs from the kernel,
	// in the order the documents were given (files in input order). A
	// document is listed when it has a usable metadata.name and kind, even
	// if it has other errors.
	Policies []Requirements
}

// HasErrors reports whether any finding is an error.
func (r Report) HasErrors() bool {
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Count returns how many findings have the given severity.
func (r Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Message < b.Message
	})
}
