//go:build e2e

package e2e

import (
	"os"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/test/e2e/fleetharness"
)

// TestFleetStatusAndStagedRollout: one Nomad server and three clients on
// this machine (plain agents with the mock driver; see fleetharness), one
// built from an older declaration and one without Docker. status says
// exactly which are protected and exits 1, then 0 once they are fixed; a
// monitor-mode bundle rolls out (canaries promoted, on a Nomad with
// system-job canaries: set TETRANOMAD_FLEET_NOMAD to a non-release 1.11+);
// a bundle with a new contract names the clients it would strand.
func TestFleetStatusAndStagedRollout(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the Fleet test runs Nomad clients, which need root")
	}
	fleetharness.Scenario(t, fleetharness.Setup{RepoRoot: "../..", Nomad: fleetharness.FleetNomad(t)})
}
