# A tetranomad declaration for a fleet of Nomad clients on Google Compute
# Engine. The same attributes go into a Packer template's
# `provisioner "tetranomad" { ... }` block; this file is what
#
#   packer-plugin-tetranomad render -config examples/declaration.hcl -out out/bundle
#
# renders into a bundle: the Nomad client config, the Tetragon jobspec, the
# TracingPolicies and a manifest. Everything not set here has a default.

tetragon {
  version = "v1.7.0"
  # Pin the exact image; a digest (repo@sha256:...) works too.
  image = "quay.io/cilium/tetragon:v1.7.0"

  export_file_max_size_mb = 20
  export_file_max_backups = 5
  export_file_compress    = true

  cpu       = 500
  memory_mb = 768
}

nomad {
  version = "2.0.5"
  region  = "europe"

  # The Tetragon job runs on every client of these datacenters, in every pool.
  datacenters = ["europe-west1"]
  node_pool   = "all"

  # A full client config next to the drop-in, so the image boots into the
  # cluster without any `sed` at startup.
  base_config {
    enabled        = true
    datacenter     = "europe-west1"
    node_pool      = "default"
    data_dir       = "/opt/nomad/data"
    bind_interface = "ens4"

    # GCE cloud auto-join: servers are the VMs tagged `nomad-server` in the
    # project's europe-west1 zones.
    server_join_tag          = "nomad-server"
    server_join_project      = "acme-infra-prod"
    server_join_zone_pattern = "europe-west1-[a-d]"
  }
}

docker {
  source      = "distro"
  bridge_cidr = "172.17.0.0/16"
}

logging {
  agent           = "ops-agent"
  forward_address = "127.0.0.1:24224"
  tag             = "tetragon"
}

policies {
  # Observe file access everywhere; stop containers from reaching the
  # internet (the VPC, the metadata server and the bridges stay reachable).
  library = ["log-file-access", "block-internet-egress"]

  # The VPC's subnet ranges: egress to them is internal traffic.
  vpc_cidrs = ["10.128.0.0/9"]
}

publish {
  # Private bucket: Nomad fetches each policy with the VM's service account
  # (gcs::) and checks its sha256 before Tetragon starts.
  bucket = "acme-tetranomad-bundles"
  prefix = "prod"
}
