// Package testbin finds the real packer and nomad binaries that tests drive.
// Locally a missing binary skips the test with what to do; under CI it fails,
// so CI can never pass by skipping the checks against the real thing.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Nomad returns nomad: $TETRANOMAD_NOMAD, the ensure-tool cache, then $PATH.
func Nomad(t testing.TB) string {
	t.Helper()
	return find(t, "nomad", "TETRANOMAD_NOMAD", "nomad-1.10.5")
}

// Packer returns packer: $TETRANOMAD_PACKER, the ensure-tool cache, then $PATH.
func Packer(t testing.TB) string {
	t.Helper()
	return find(t, "packer", "TETRANOMAD_PACKER", "packer-1.11.2")
}

func find(t testing.TB, name, envVar, cacheDir string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if !isExecutableFile(p) {
			t.Fatalf("%s=%s is not an executable file", envVar, p)
		}
		return p
	}
	cache := os.Getenv("TETRANOMAD_CACHE")
	if cache == "" {
		cache = "/var/cache/tetranomad"
	}
	if p := filepath.Join(cache, cacheDir, name); isExecutableFile(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := name + " not found: run test/tools/ensure-tool " + name + " or set " + envVar
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExecutableFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
