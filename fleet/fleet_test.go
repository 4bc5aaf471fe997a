package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/tetranomad/packer-plugin-tetranomad/fleet"
	"github.com/tetranomad/packer-plugin-tetranomad/fleet/fleettest"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/golden"
)

// recorded collects a snapshot from a recording of a real cluster (one
// server, three clients; see test/e2e/fleetharness) and judges it against
// the bundle status was given then.
func recorded(t *testing.T, name string) (fleet.Report, *fleettest.Recording) {
	t.Helper()
	rec := fleettest.Load(t, filepath.Join("testdata", "recorded", name+".json"))
	srv := fleettest.Serve(t, rec)
	conf := api.DefaultConfig()
	conf.Address = srv.URL
	client, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := fleet.Collect(context.Background(), client, "tetragon", "default")
	if err != nil {
		t.Fatal(err)
	}
	var want fleet.Expected
	if err := json.Unmarshal(rec.Expected, &want); err != nil {
		t.Fatal(err)
	}
	return fleet.Evaluate(snap, want), rec
}

// TestRecordedTableAndJSON renders the table and the JSON of every
// recorded stage and compares them with golden files.
func TestRecordedTableAndJSON(t *testing.T) {
	for _, name := range []string{"unprotected", "protected", "new-contract", "canary-nomad-1.11.3"} {
		t.Run(name, func(t *testing.T) {
			r, _ := recorded(t, name)
			var table, js bytes.Buffer
			if err := fleet.Table(&table, r); err != nil {
				t.Fatal(err)
			}
			if err := fleet.JSON(&js, r); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden", name+".txt"), table.Bytes())
			golden.Check(t, filepath.Join("testdata", "golden", name+".json"), js.Bytes())
		})
	}
}

func names(r fleet.Report, protected bool) string {
	var out []string
	for _, n := range r.Nodes {
		if n.Eligible && n.Protected == protected {
			out = append(out, n.Name)
		}
	}
	return strings.Join(out, ",")
}

// The verdicts the recordings must give, independent of formatting.
func TestRecordedVerdicts(t *testing.T) {
	r, _ := recorded(t, "unprotected")
	if got := names(r, true); got != "c1-current" {
		t.Errorf("protected = %q, want c1-current", got)
	}
	if r.Summary.OK || r.Summary.Eligible != 3 || r.Summary.Protected != 1 {
		t.Errorf("summary = %+v", r.Summary)
	}
	problems := map[string]string{}
	for _, n := range r.Nodes {
		problems[n.Name] = strings.Join(n.Problems, "; ")
	}
	if !strings.Contains(problems["c2-old-contract"], "a client built from another declaration") {
		t.Errorf("c2 problems: %s", problems["c2-old-contract"])
	}
	if !strings.Contains(problems["c3-no-docker"], "no Docker driver") {
		t.Errorf("c3 problems: %s", problems["c3-no-docker"])
	}

	r, _ = recorded(t, "protected")
	if !r.Summary.OK || r.Summary.Protected != 3 {
		t.Errorf("after the fix: summary = %+v", r.Summary)
	}

	r, _ = recorded(t, "new-contract")
	if r.Summary.OK || len(r.Summary.Stranded) != 3 {
		t.Errorf("new contract: summary = %+v, want all three stranded", r.Summary)
	}

	// Nomad 1.11.3, a monitor bundle rolling out as canaries (50% of three
	// clients: two), not yet promoted.
	r, _ = recorded(t, "canary-nomad-1.11.3")
	d := r.Deployment
	if d == nil || d.DesiredCanaries != 2 || d.PlacedCanaries != 2 || d.Promoted || d.Status != "running" {
		t.Fatalf("deployment = %+v", d)
	}
	canaries := 0
	for _, n := range r.Nodes {
		if n.Alloc != nil && n.Alloc.Canary {
			canaries++
			if n.PolicyMode != "monitor" || !n.Protected {
				t.Errorf("canary %s: mode %s, protected %v", n.Name, n.PolicyMode, n.Protected)
			}
		}
	}
	if canaries != 2 || r.Summary.OK {
		t.Errorf("%d canaries, summary %+v", canaries, r.Summary)
	}
}
