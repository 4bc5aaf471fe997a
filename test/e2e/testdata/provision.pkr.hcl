# The issue-4 scenario: a stock Debian 12 reached over SSH (null builder, as a
# googlecompute build would be) becomes a Nomad client ready for Tetragon.
variable "ssh_host" { type = string }
variable "ssh_port" { type = number }
variable "ssh_username" { type = string }
variable "ssh_private_key_file" { type = string }
variable "output_dir" { type = string }
variable "nomad_binary" { type = string }
variable "nomad_sha256" { type = string }
# The version nomad_binary reports (the default, 2.0.5, cannot be built here).
variable "nomad_version" { type = string }
variable "bridge_cidr" { type = string }
# "none", or "ops-agent" with logging_configure_only = true: the agent's
# configuration is written, the agent itself (unreachable here) is not installed.
variable "logging_agent" {
  type    = string
  default = "none"
}
variable "logging_configure_only" {
  type    = bool
  default = false
}
variable "policy_files" {
  type    = list(string)
  default = []
}

source "null" "target" {
  communicator         = "ssh"
  ssh_host             = var.ssh_host
  ssh_port             = var.ssh_port
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = "1m"
}

build {
  sources = ["source.null.target"]

  provisioner "tetranomad" {
    output_dir = var.output_dir

    docker {
      source       = "distro"
      bridge_cidr  = var.bridge_cidr
      log_max_size = "20m"
      log_max_file = 4
      live_restore = true
    }

    nomad {
      install       = "binary"
      version       = var.nomad_version
      binary_source = var.nomad_binary
      binary_sha256 = var.nomad_sha256
      base_config {
        enabled        = true
        datacenter     = "e2e"
        bind_interface = "ens4"
      }
    }

    logging {
      agent          = var.logging_agent
      configure_only = var.logging_configure_only
    }

    policies {
      library = ["log-file-access"]
      files   = var.policy_files
    }
  }
}
