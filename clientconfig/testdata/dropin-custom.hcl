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
    allow_privileged = true
  }
}
