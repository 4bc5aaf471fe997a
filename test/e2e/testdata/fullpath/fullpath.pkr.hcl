# Issue 6: bake (provisioner) and publish (post-processor) in one packer
# build, against the nspawn target and a fake GCS on the host end of its veth.
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
variable "bucket" { type = string }
variable "download_base_url" { type = string }
variable "log_tag" { type = string }
variable "policy_files" { type = list(string) }

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
      source      = "distro"
      bridge_cidr = var.bridge_cidr
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
      agent = "none"
      tag   = var.log_tag
    }

    policies {
      library = ["log-file-access"]
      files   = var.policy_files
    }

    publish {
      bucket            = var.bucket
      prefix            = "e2e"
      public            = true
      download_base_url = var.download_base_url
    }
  }

  post-processor "tetranomad-publish" {
    bundle_dir = var.output_dir
  }
}
