//go:build e2e

package fleetharness

import "testing"

// TestFleetStandalone runs the Fleet scenario without the nspawn targets the
// test/e2e package boots for its other tests:
//
//	go test -tags e2e -v -run Fleet ./test/e2e/fleetharness
func TestFleetStandalone(t *testing.T) {
	Scenario(t, Setup{RepoRoot: "../../..", Nomad: FleetNomad(t)})
}
