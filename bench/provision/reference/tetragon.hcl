client {
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
}

plugin "docker" {
  config {
    allow_privileged = true
  }
}
