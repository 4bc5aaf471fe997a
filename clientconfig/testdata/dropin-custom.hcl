# Rendered by tetranomad. The Tetragon job relies on every value in this file
# (contract c4765878d880147f); change the declaration and render again.

client {
  bridge_network_subnet = "172.30.0.0/20"

  host_volume "kernel-btf" {
    path      = "/opt/btf/vmlinux"
    read_only = true
  }

  host_volume "tg_logs" {
    path      = "/srv/tetragon/logs"
    read_only = false
  }

  host_volume "tetragon-bpffs" {
    path      = "/sys/fs/bpf"
    read_only = false
  }

  meta {
    tetranomad_contract = "c4765878d880147f"
  }
}

plugin "docker" {
  config {
    # Also admits the job's pid_mode = "host": since Nomad 2.0.4 (CVE-2026-14891)
    # host namespace modes need allow_privileged or the plugin's allowed_modes.
    # This file relies on allow_privileged; allowed_modes is left out because
    # Nomad 1.10 agents refuse to start with it.
    allow_privileged = true
  }
}
