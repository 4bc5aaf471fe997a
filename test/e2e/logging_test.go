//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// provisionDeclaration is testdata/provision.pkr.hcl's provisioner block as a
// declaration file (without output_dir, a provisioner setting), for render.
func provisionDeclaration(vars map[string]string) string {
	return `docker {
  source       = "distro"
  bridge_cidr  = "` + vars["bridge_cidr"] + `"
  log_max_size = "20m"
  log_max_file = 4
  live_restore = true
}

nomad {
  install       = "binary"
  binary_source = "` + vars["nomad_binary"] + `"
  binary_sha256 = "` + vars["nomad_sha256"] + `"
  base_config {
    enabled        = true
    datacenter     = "e2e"
    bind_interface = "ens4"
  }
}

logging {
  agent = "none"
}

policies {
  library = ["log-file-access"]
}
`
}

// checkHostFiles: `render -host-files` of the same declaration gives the
// files the provisioner left on the target, byte for byte and mode for mode.
// daemon.json is merged into the fixture's {"log-level": "warn"}, so it is
// compared without that key.
func checkHostFiles(t *testing.T, tg *target, vars map[string]string) {
	dir := t.TempDir()
	decl := filepath.Join(dir, "declaration.hcl")
	if err := os.WriteFile(decl, []byte(provisionDeclaration(vars)), 0o644); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(dir, "host")
	out, err := exec.Command(h.pluginBin, "render", "-config", decl, "-out", filepath.Join(dir, "bundle"), "-host-files", host).CombinedOutput()
	if err != nil {
		t.Fatalf("render -host-files: %v\n%s", err, out)
	}
	n := 0
	err = filepath.Walk(host, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || fi.Name() == ".tetranomad-host-files" {
			return err
		}
		n++
		vmPath := strings.TrimPrefix(p, host)
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got := tg.must(t, "cat", vmPath)
		if vmPath == "/etc/docker/daemon.json" {
			got = tg.must(t, "jq", "--indent", "2", `del(."log-level")`, vmPath)
		}
		if got != string(want) {
			t.Errorf("%s on the target differs from render -host-files:\n--- target\n%s\n--- rendered\n%s", vmPath, got, want)
		}
		if mode, want := strings.TrimSpace(tg.must(t, "stat", "-c", "%a", vmPath)), fmt.Sprintf("%o", fi.Mode().Perm()); mode != want {
			t.Errorf("%s: mode %s on the target, %s rendered", vmPath, mode, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The binary install writes the unit, the drop-in, the base config,
	// the ordering drop-in and daemon.json.
	if n != 5 {
		t.Errorf("render -host-files wrote %d files, want 5", n)
	}
}

// fakeFluentdUnit stands in for google-fluentd (not installable here): a
// listener on the forward address that, like google-fluentd when in_forward
// cannot bind, stays active when the port is taken.
const fakeFluentdUnit = `[Unit]
Description=e2e stand-in for google-fluentd
[Service]
ExecStart=/bin/sh -c 'python3 -m http.server --bind 127.0.0.1 24224; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`

// checkForwardListener: with logging.agent = "google-fluentd" and
// configure_only, the provisioner restarts the (fake) agent and accepts it
// once its own process listens on the forward address; with the port taken
// by another process, the build fails naming the address.
func checkForwardListener(t *testing.T, tg *target) {
	tg.sh(t, `cat >/etc/systemd/system/google-fluentd.service <<'EOF'
`+fakeFluentdUnit+`EOF
systemctl daemon-reload`)
	t.Cleanup(func() {
		tg.sh(t, `systemctl stop google-fluentd e2e-squatter 2>/dev/null || true
systemctl reset-failed e2e-squatter 2>/dev/null || true
rm -f /etc/systemd/system/google-fluentd.service
rm -rf /etc/google-fluentd
systemctl daemon-reload`)
	})
	vars := func() map[string]string {
		return provisionVars(t, filepath.Join(t.TempDir(), "bundle"), map[string]string{
			"logging_agent": "google-fluentd", "logging_configure_only": "true",
		})
	}

	t.Run("agent-listens", func(t *testing.T) {
		res := packerBuild(t, tg, "provision.pkr.hcl", vars())
		if res.Err != nil {
			t.Fatalf("packer build with the fake google-fluentd failed: %v\n%s", res.Err, tail(res.Output, 60))
		}
		if !strings.Contains(res.Output, "google-fluentd.service (pid ") || !strings.Contains(res.Output, "accepts connections on 127.0.0.1:24224") {
			t.Errorf("the build did not check the listener:\n%s", tail(res.Output, 40))
		}
		if !strings.Contains(res.Output, "end of support on 2026-09-28") {
			t.Errorf("no end-of-support warning:\n%s", tail(res.Output, 40))
		}
	})

	t.Run("port-taken", func(t *testing.T) {
		tg.sh(t, `systemctl stop google-fluentd
systemd-run --unit=e2e-squatter python3 -m http.server --bind 127.0.0.1 24224 >/dev/null
for i in $(seq 50); do ss -Hltn 'sport = :24224' | grep -q . && exit 0; sleep 0.2; done
echo "the squatter does not listen" >&2; exit 1`)
		// The agent's configuration changed, so the provisioner restarts it.
		tg.sh(t, `echo '# changed by the e2e test' >>/etc/google-fluentd/config.d/tetragon.conf`)
		res := packerBuild(t, tg, "provision.pkr.hcl", vars())
		if res.Err == nil {
			t.Fatalf("packer build succeeded with 127.0.0.1:24224 held by another process:\n%s", tail(res.Output, 40))
		}
		for _, want := range []string{"127.0.0.1:24224 (logging.forward_address) is taken by pid", "unit e2e-squatter.service", "not by google-fluentd"} {
			if !strings.Contains(res.Output, want) {
				t.Errorf("the failure does not say %q:\n%s", want, tail(res.Output, 40))
			}
		}
	})
}
