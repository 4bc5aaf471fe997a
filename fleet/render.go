package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// JSON writes the report as indented JSON (the -format json output).
func JSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// Table writes the report for people: what is expected, the deployment, one
// line per client node, the problems of each unprotected one, and a
// summary line.
func Table(w io.Writer, r Report) error {
	var b strings.Builder
	e := r.Expected
	switch {
	case e.Bundle != "":
		fmt.Fprintf(&b, "Expected bundle %s (%s, contract %s) from %s\n", e.Bundle, orDash(e.PolicyMode), orDash(e.Contract), e.Source)
	default:
		fmt.Fprintf(&b, "Job %q is not registered in namespace %q and no bundle was given to compare with\n", r.JobID, r.Namespace)
	}
	if j := r.Job; j != nil {
		state := j.Status
		if j.Stopped {
			state = "stopped"
		}
		fmt.Fprintf(&b, "Job %s version %d: %s, bundle %s (%s)\n", j.ID, j.Version, state, orDash(j.Bundle), orDash(j.PolicyMode))
	}
	if d := r.Deployment; d != nil {
		fmt.Fprintf(&b, "Deployment %s (job version %d): %s", short(d.ID), d.JobVersion, d.Status)
		if d.DesiredCanaries > 0 {
			promoted := "not promoted"
			if d.Promoted {
				promoted = "promoted"
			}
			fmt.Fprintf(&b, ", canaries %d/%d placed, %s", d.PlacedCanaries, d.DesiredCanaries, promoted)
		}
		fmt.Fprintf(&b, ", %d/%d healthy", d.HealthyAllocs, d.DesiredTotal)
		if d.StatusDescription != "" {
			fmt.Fprintf(&b, " — %s", d.StatusDescription)
		}
		b.WriteString("\n")
		if d.Status == "running" && d.DesiredCanaries > 0 && !d.Promoted {
			fmt.Fprintf(&b, "  promote when the canaries look right: nomad deployment promote %s\n", d.ID)
		}
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tELIGIBLE\tCONTRACT\tDOCKER\tALLOCATION\tBUNDLE\tMODE\tCHECKS\tRESTARTS\tPROTECTED")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			n.Name, eligible(n), contract(n, e), docker(n.Docker), alloc(n.Alloc), orDash(n.Bundle), orDash(n.PolicyMode),
			checks(n.Alloc), restarts(n.Alloc), verdict(n))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Nodes {
		if n.Eligible && !n.Protected {
			fmt.Fprintf(&b, "  %s: %s\n", n.Name, strings.Join(n.Problems, "; "))
		}
	}
	if len(r.Summary.Stranded) > 0 {
		fmt.Fprintf(&b, "\nRunning bundle %s's job as %q stops Tetragon on %d client(s) that run it now, whose contract is not %s: %s.\n"+
			"Rebuild their image from the new declaration first, or run the bundle as a second job (another nomad.job_name).\n",
			e.Bundle, r.JobID, len(r.Summary.Stranded), e.Contract, strings.Join(r.Summary.Stranded, ", "))
	}
	b.WriteString("\n" + SummaryLine(r) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// SummaryLine is the one-line verdict.
func SummaryLine(r Report) string {
	s := r.Summary
	var b strings.Builder
	switch {
	case s.Eligible == 0:
		fmt.Fprintf(&b, "NOT PROTECTED: no eligible client among %d", s.Clients)
	case s.OK:
		fmt.Fprintf(&b, "OK: %d of %d eligible clients protected", s.Protected, s.Eligible)
	default:
		fmt.Fprintf(&b, "NOT PROTECTED: %d of %d eligible clients protected; unprotected: %s", s.Protected, s.Eligible, strings.Join(s.Unprotected, ", "))
	}
	if r.Expected.Bundle != "" {
		fmt.Fprintf(&b, " (bundle %s, %s)", r.Expected.Bundle, orDash(r.Expected.PolicyMode))
	}
	if len(s.NotEligible) > 0 {
		fmt.Fprintf(&b, "; not eligible: %s", strings.Join(s.NotEligible, ", "))
	}
	return b.String()
}

func eligible(n NodeStatus) string {
	if n.Eligible {
		return "yes"
	}
	return "no (" + n.NotEligible + ")"
}

func contract(n NodeStatus, e Expected) string {
	switch {
	case n.Contract == "":
		return "none"
	case e.Contract == "" || n.ContractMatches:
		return n.Contract
	}
	return n.Contract + " (differs)"
}

func docker(d Docker) string {
	switch {
	case !d.Detected:
		return "missing"
	case !d.Healthy:
		return "unhealthy"
	case !d.Privileged:
		return "unprivileged"
	}
	return "ok"
}

func alloc(a *Alloc) string {
	if a == nil {
		return "-"
	}
	s := short(a.ID) + " " + a.ClientStatus
	if a.Canary {
		s += " canary"
	}
	return s
}

func checks(a *Alloc) string {
	if a == nil || len(a.Checks) == 0 {
		return "-"
	}
	ok := 0
	for _, c := range a.Checks {
		if c.Status == "success" {
			ok++
		}
	}
	return fmt.Sprintf("%d/%d", ok, len(a.Checks))
}

func restarts(a *Alloc) string {
	if a == nil {
		return "-"
	}
	return strconv.FormatUint(a.Restarts, 10)
}

func verdict(n NodeStatus) string {
	switch {
	case !n.Eligible:
		return "-"
	case n.Protected:
		return "yes"
	}
	return "NO"
}
