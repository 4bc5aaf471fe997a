//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmokeSSHSudoApt proves the harness before anything of the plugin is
// involved: a real `packer build` (null builder) logs in over SSH as the image
// user, gets root through passwordless sudo, and installs a package with apt
// through the mirror proxy; the result is then checked from outside.
func TestSmokeSSHSudoApt(t *testing.T) {
	requireHarness(t)
	tg := h.target
	t.Cleanup(func() { tg.sh(t, "apt-get purge -y -q hello >/dev/null") })

	res := packerBuild(t, tg, "smoke.pkr.hcl", nil)
	if res.Err != nil {
		t.Fatalf("packer build failed: %v\n%s", res.Err, tail(res.Output, 40))
	}
	for _, want := range []string{"smoke-user=packer", "smoke-root=root", "smoke-hello=Hello, world!"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("packer output lacks %q:\n%s", want, tail(res.Output, 40))
		}
	}
	// Checked from outside the SSH session: the package is really installed...
	if status := tg.must(t, "dpkg-query", "-W", "-f=${Status}", "hello"); status != "install ok installed" {
		t.Errorf("dpkg says hello is %q, want installed", status)
	}
	// ...and it came through the proxy (the target has no other way out).
	proxyLog, err := os.ReadFile(filepath.Join(tg.State, "proxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(proxyLog), "/pool/main/h/hello/hello_") {
		t.Errorf("proxy log shows no download of the hello package:\n%s", tail(string(proxyLog), 20))
	}
}
