# Smoke test of the harness itself: Packer's null builder reaches the target
# over SSH as the image user, sudo works without a password, and apt installs
# a package through the mirror proxy.
variable "ssh_host" { type = string }
variable "ssh_port" { type = number }
variable "ssh_username" { type = string }
variable "ssh_private_key_file" { type = string }

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

  provisioner "shell" {
    inline = [
      "echo smoke-user=$(id -un)",
      "echo smoke-root=$(sudo -n id -un)",
      "sudo -n apt-get update -q",
      "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends hello",
      "echo smoke-hello=\"$(hello)\"",
    ]
  }
}
