# A Nomad client image for GCE, ready to run Cilium Tetragon, built from
# Debian 12. The tetranomad provisioner configures Docker, Nomad and the Ops
# Agent and renders the Tetragon bundle; the post-processor publishes the
# bundle to GCS and labels the image with its bundle id.

packer {
  required_version = ">= 1.10.2"
  required_plugins {
    googlecompute = {
      source  = "github.com/hashicorp/googlecompute"
      version = "~> 1.1"
    }
    tetranomad = {
      source  = "github.com/tetranomad/tetranomad"
      version = ">= 0.1.0"
    }
  }
}

locals {
  # Image names must be unique in the project; a timestamp keeps them so and
  # sorts them. The family, not the name, is what instance templates use.
  image_name = "${var.image_family}-${formatdate("YYYYMMDDhhmmss", timestamp())}"
}

source "googlecompute" "debian12" {
  project_id              = var.project_id
  zone                    = var.zone
  source_image_family     = "debian-12"
  source_image_project_id = ["debian-cloud"]
  machine_type            = "e2-standard-2"
  disk_size               = 20

  # A preemptible VM costs a fraction; a preempted build just fails and is
  # run again.
  preemptible = true

  # SSH goes through Identity-Aware Proxy, so the build VM needs no firewall
  # rule open to the internet (allow tcp:22 from 35.235.240.0/20 instead).
  # Needs gcloud on the machine running Packer.
  use_iap      = true
  ssh_username = "packer"
  network      = var.network
  subnetwork   = var.subnetwork
  tags         = ["packer-build"]

  image_name        = local.image_name
  image_family      = var.image_family
  image_description = "Nomad ${var.nomad_version} client with Docker and the Ops Agent, ready for Tetragon ${var.tetragon_version}"
  image_labels = {
    role       = "nomad-client"
    managed-by = "packer"
  }
}

build {
  sources = ["source.googlecompute.debian12"]

  provisioner "tetranomad" {
    tetragon {
      version = var.tetragon_version
    }

    nomad {
      install = "hashicorp-apt"
      version = var.nomad_version

      # A complete client config, so the VM joins the cluster at boot with no
      # startup script.
      base_config {
        enabled         = true
        datacenter      = var.nomad_datacenter
        server_join_tag = var.nomad_server_tag
      }
    }

    docker {
      source      = "docker-ce"
      bridge_cidr = "172.17.0.0/16"
    }

    logging {
      agent = "ops-agent"
    }

    policies {
      library = [
        "log-file-access",
        "log-tcp-connect",
        "block-package-managers",
      ]
      files     = ["${path.root}/policies/log-nomad-config-writes.yaml"]
      vpc_cidrs = var.vpc_cidrs
    }

    publish {
      bucket = var.bundle_bucket
      prefix = var.bundle_prefix
      public = var.public_bucket
    }

    # The rendered bundle lands here on the machine running Packer.
    output_dir = "${path.root}/out/bundle"
  }

  # Uploads the bundle (content-addressed, immutable), then labels the image
  # with the bundle id, Tetragon and Nomad versions.
  post-processor "tetranomad-publish" {
    bundle_dir  = "${path.root}/out/bundle"
    label_image = true
  }
}
