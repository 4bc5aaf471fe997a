# Rendered by tetranomad. The Tetragon job relies on every value in this file
# (contract 39557e2538651bb3); change the declaration and render again.

client {
  bridge_network_subnet = "172.26.64.0/20"

  host_volume "tetragon-btf" {
    path      = "/sys/kernel/btf/vmlinux"
    read_only = true
  }

  host_volume "tetragon-logs" {
    path      = "/var/log/tetragon"
    read_only = false
  }

  host_volume "tetragon-bpffs" {
    path      = "/sys/fs/bpf"
    read_only = false
  }

  meta {
    tetranomad_contract = "39557e2538651bb3"
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
