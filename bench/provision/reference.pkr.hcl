# The reference way (as in the packer-gcp-with-githubactions repository the
# product grows out of): a chain of separate shell and file provisioners, one
# remote execution per step, each install step with its own apt-get update,
# configuration files written by hand. It produces the same end state as
# test/e2e/testdata/provision.pkr.hcl (docker from the distribution with the
# same daemon settings, the uploaded nomad with the same client config and
# host volumes, both enabled), so bench/provision/run can time the two.
variable "ssh_host" { type = string }
variable "ssh_port" { type = number }
variable "ssh_username" { type = string }
variable "ssh_private_key_file" { type = string }
variable "nomad_binary" { type = string }
variable "files_dir" { type = string }

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

  # Prerequisites.
  provisioner "shell" {
    inline = [
      "sudo apt-get update -q",
      "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q ca-certificates curl gnupg",
    ]
  }
  # Docker.
  provisioner "shell" {
    inline = [
      "sudo apt-get update -q",
      "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io",
    ]
  }
  provisioner "file" {
    source      = "${var.files_dir}/daemon.json"
    destination = "/tmp/daemon.json"
  }
  provisioner "shell" {
    inline = ["sudo mkdir -p /etc/docker", "sudo mv /tmp/daemon.json /etc/docker/daemon.json", "sudo chown root:root /etc/docker/daemon.json"]
  }
  provisioner "shell" {
    inline = ["sudo systemctl enable docker", "sudo systemctl restart docker"]
  }
  # Nomad, uploaded.
  provisioner "file" {
    source      = var.nomad_binary
    destination = "/tmp/nomad"
  }
  provisioner "shell" {
    inline = ["sudo install -m 0755 -o root -g root /tmp/nomad /usr/bin/nomad", "rm -f /tmp/nomad"]
  }
  provisioner "shell" {
    inline = [
      "sudo apt-get update -q",
      "id nomad >/dev/null 2>&1 || sudo useradd --system --home /etc/nomad.d --shell /bin/false nomad",
      "sudo mkdir -p /etc/nomad.d /opt/nomad/data",
      "sudo chmod 700 /etc/nomad.d",
    ]
  }
  provisioner "file" {
    source      = "${var.files_dir}/nomad.service"
    destination = "/tmp/nomad.service"
  }
  provisioner "shell" {
    inline = ["sudo mv /tmp/nomad.service /etc/systemd/system/nomad.service", "sudo chown root:root /etc/systemd/system/nomad.service", "sudo systemctl daemon-reload"]
  }
  provisioner "file" {
    source      = "${var.files_dir}/client.hcl"
    destination = "/tmp/client.hcl"
  }
  provisioner "shell" {
    inline = ["sudo mv /tmp/client.hcl /etc/nomad.d/client.hcl", "sudo chown root:root /etc/nomad.d/client.hcl"]
  }
  provisioner "file" {
    source      = "${var.files_dir}/tetragon.hcl"
    destination = "/tmp/tetragon.hcl"
  }
  provisioner "shell" {
    inline = ["sudo mv /tmp/tetragon.hcl /etc/nomad.d/tetragon.hcl", "sudo chown root:nomad /etc/nomad.d/tetragon.hcl", "sudo chmod 0640 /etc/nomad.d/tetragon.hcl"]
  }
  # Host volume paths must exist for the client to start.
  provisioner "shell" {
    inline = ["sudo mkdir -p /var/log/tetragon"]
  }
  provisioner "shell" {
    inline = ["sudo systemctl enable nomad", "sudo systemctl restart nomad"]
  }
}
