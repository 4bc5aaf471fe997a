//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// snapshotPaths are what a provisioning run may change; a no-op run and a run
// that fails in preflight must leave every one of them as it was. Nomad's data
// directory is left out (the running agent writes it), so are /tmp and home
// directories (Packer stages its uploads there).
const snapshotScript = `
set -euo pipefail
{
  find /etc /usr /opt /var/log/tetragon /var/lib/dpkg /var/lib/apt/lists \
    -xdev -path /opt/nomad/data -prune -o -printf '%p %M %U:%G %s %T@\n' 2>/dev/null || true
  find /etc /opt /usr/local /usr/bin/nomad -xdev -path /opt/nomad/data -prune -o -type f -print0 2>/dev/null |
    xargs -0 -r sha256sum || true
  for u in docker nomad; do
    echo "unit $u: $(systemctl show -p MainPID -p ExecMainStartTimestampMonotonic -p ActiveState $u 2>/dev/null | tr '\n' ' ')"
  done
} | LC_ALL=C sort
`

// snapshot records paths, modes, owners, sizes, mtimes and hashes of files a
// provisioning run may touch, and the main PIDs of docker and nomad.
func snapshot(t *testing.T, tg *target) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(tg.sh(t, snapshotScript)), "\n")
	snap := make(map[string]string, len(lines))
	for _, l := range lines {
		// Key by path (or "unit X:"); sha256sum lines are "HASH  PATH".
		if h, p, ok := strings.Cut(l, "  "); ok && len(h) == 64 {
			snap["sha256 "+p] = h
			continue
		}
		if strings.HasPrefix(l, "unit ") {
			k, v, _ := strings.Cut(l, ": ")
			snap[k] = v
			continue
		}
		p, rest, _ := strings.Cut(l, " ")
		snap[p] = rest
	}
	return snap
}

// diffSnapshots lists what differs, sorted, at most max entries.
func diffSnapshots(before, after map[string]string, max int) []string {
	var diffs []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if w != v {
			diffs = append(diffs, fmt.Sprintf("changed %s: %s -> %s", k, v, w))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "added "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > max {
		diffs = append(diffs[:max], fmt.Sprintf("... and %d more", len(diffs)-max))
	}
	return diffs
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hash := sha256.New()
	if _, err := io.Copy(hash, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(hash.Sum(nil))
}

// stubImage returns a docker-importable tarball of a static busybox, built
// once and cached by target/stub-image.
func stubImage(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(scriptsDir, "stub-image"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("test/e2e/target/stub-image: %v\n%s", err, tail(stderr.String(), 20))
	}
	return strings.TrimSpace(string(out))
}
