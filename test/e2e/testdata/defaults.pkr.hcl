# Issue 14: the DEFAULT declaration (docker-ce from Docker's repository, nomad
# from HashiCorp's, the Ops Agent from Google's), with only the repositories
# pointed at local signed mirrors and Nomad's version set to the binary the
# test can build.
variable "ssh_host" { type = string }
variable "ssh_port" { type = number }
variable "ssh_username" { type = string }
variable "ssh_private_key_file" { type = string }
variable "output_dir" { type = string }
variable "nomad_version" { type = string }
variable "docker_url" { type = string }
variable "hashicorp_url" { type = string }
variable "google_url" { type = string }
variable "key_fingerprint" { type = string }

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

    nomad {
      version = var.nomad_version
    }

    repositories {
      docker {
        url             = var.docker_url
        key_fingerprint = var.key_fingerprint
      }
      hashicorp {
        url             = var.hashicorp_url
        key_fingerprint = var.key_fingerprint
      }
      google {
        url             = var.google_url
        key_fingerprint = var.key_fingerprint
      }
    }
  }
}
