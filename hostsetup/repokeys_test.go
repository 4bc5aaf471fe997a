package hostsetup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/model"
)

// testKey is an OpenPGP key made by gpg for a test: its armored public key
// and its fingerprint.
type testKey struct {
	armored     string
	fingerprint string
}

// makeKeys makes n signing keys with the host's gpg, in a throw-away home.
func makeKeys(t *testing.T, n int) []testKey {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg not found: the key checks run the real gpg (Debian package gnupg)")
	}
	home, err := os.MkdirTemp("", "tn-gpg-") // short: gpg's socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Generating a key starts a gpg-agent for this home; stop it.
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	gpg := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("gpg", append([]string{"--batch", "--homedir", home, "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...).Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return string(out)
	}
	var keys []testKey
	for i := 0; i < n; i++ {
		uid := "tetranomad test key " + string(rune('a'+i)) + " <test@example.invalid>"
		gpg("--quick-generate-key", uid, "ed25519", "sign", "never")
		var fpr string
		for _, line := range strings.Split(gpg("--with-colons", "--list-keys", uid), "\n") {
			if f := strings.Split(line, ":"); f[0] == "fpr" && fpr == "" {
				fpr = f[9]
			}
		}
		keys = append(keys, testKey{armored: gpg("--armor", "--export", fpr), fingerprint: fpr})
	}
	return keys
}

// spaced writes a fingerprint as vendors print it, in groups of four.
func spaced(fpr string) string {
	var groups []string
	for i := 0; i < len(fpr); i += 4 {
		groups = append(groups, fpr[i:i+4])
	}
	return strings.Join(groups, " ")
}

func TestPreflightRepositoryKeys(t *testing.T) {
	keys := makeKeys(t, 2)
	a, b := keys[0], keys[1]
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	aURL, bURL := write("a.asc", a.armored), write("b.asc", b.armored)
	bothURL := write("both.asc", a.armored+b.armored)
	notAKey := write("index.html", "<html>Artifactory login</html>\n")

	for _, tc := range []struct {
		name    string
		repo    model.Repository
		wantOut string // a line of the output when the preflight passes
		wantErr string // the one error otherwise
	}{
		{
			name:    "pinned key from a mirror URL",
			repo:    model.Repository{URL: "https://artifactory.example.com/docker-{os_id}", KeyURL: aURL, KeyFingerprint: spaced(a.fingerprint)},
			wantOut: "repository docker: signing key from " + aURL + " has the pinned fingerprint " + a.fingerprint + " (repositories.docker.key_fingerprint)",
		},
		{
			name:    "pinned key among several",
			repo:    model.Repository{KeyURL: bothURL, KeyFingerprint: strings.ToLower(b.fingerprint)},
			wantOut: "repository docker: signing key from " + bothURL + " has the pinned fingerprint " + b.fingerprint,
		},
		{
			name:    "key shipped in the declaration",
			repo:    model.Repository{Key: a.armored, KeyURL: "file:///nonexistent/key.asc", KeyFingerprint: a.fingerprint},
			wantOut: "repository docker: signing key from repositories.docker.key has the pinned fingerprint " + a.fingerprint,
		},
		{
			name:    "another key",
			repo:    model.Repository{KeyURL: bURL, KeyFingerprint: a.fingerprint},
			wantErr: "the signing key of the docker repository from " + bURL + " has fingerprint " + b.fingerprint + ", but repositories.docker.key_fingerprint is " + a.fingerprint + ": apt must not trust it. If your mirror signs with its own key, set repositories.docker.key_fingerprint to that key's fingerprint",
		},
		{
			name:    "not a key",
			repo:    model.Repository{KeyURL: notAKey, KeyFingerprint: a.fingerprint},
			wantErr: "the signing key of the docker repository from " + notAKey + " is not an OpenPGP public key: check repositories.docker.key_url or repositories.docker.key",
		},
		{
			name:    "unreachable key",
			repo:    model.Repository{KeyURL: "file:///nonexistent/key.asc", KeyFingerprint: a.fingerprint},
			wantErr: "cannot download the signing key of the docker repository from file:///nonexistent/key.asc (",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := newFakeVM(t)
			vm.Real = []string{"curl", "gpg", "cp", "awk"}
			for _, tool := range vm.Real {
				if _, err := exec.LookPath(tool); err != nil {
					t.Skipf("%s not found: the key check runs the real one", tool)
				}
			}
			d := e2eDeclaration(t, func(d *model.Declaration) {
				d.Docker.Source = model.DockerSourceCE
				d.Repositories.Docker = tc.repo
			})
			before := treeState(t, vm.Root)
			run := runScript(t, vm, renderScript(t, d, nil), nil, "--preflight-only")
			if tc.wantErr == "" {
				if run.exitCode != 0 || !strings.Contains(run.output, tc.wantOut+"\n") && !strings.Contains(run.output, tc.wantOut) {
					t.Fatalf("exit %d, want 0 and the line %q:\n%s", run.exitCode, tc.wantOut, run.output)
				}
				return
			}
			step, text := run.failure()
			if run.exitCode != 1 || step != "preflight" || !strings.Contains(text, "1 problem(s), nothing was changed: "+tc.wantErr) {
				t.Fatalf("exit %d, fail %q %q\nwant the preflight to fail with %q:\n%s", run.exitCode, step, text, tc.wantErr, run.output)
			}
			if after := treeState(t, vm.Root); after != before {
				t.Errorf("the refused key changed the fake root:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
