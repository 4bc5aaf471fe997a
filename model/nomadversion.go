package model

import (
	"strconv"
	"strings"
)

// Nomad versions from which a rendered artifact may use a feature.
var (
	// SystemDeploymentsSince: system jobs roll out as health-gated
	// deployments with canaries (update.canary, auto_promote, auto_revert),
	// and update.stagger is no longer used (nomad@v1.11.3:
	// scheduler/scheduler_system.go).
	SystemDeploymentsSince = [3]int{1, 11, 0}
)

// NomadAtLeast reports whether Nomad version v ("X.Y.Z", optionally with a
// -pre or +meta suffix) is min or newer; an unparsable v is not.
func NomadAtLeast(v string, min [3]int) bool {
	core, _, _ := strings.Cut(v, "-")
	core, _, _ = strings.Cut(core, "+")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return false
		}
		if n != min[i] {
			return n > min[i]
		}
	}
	return true
}
