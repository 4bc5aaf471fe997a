# Rendered by tetranomad: the base client configuration.

region     = "europe"
datacenter = "europe-west1"
data_dir   = "/opt/nomad/data"
bind_addr  = "{{ GetInterfaceIP \"ens4\" }}"

client {
  enabled   = true
  node_pool = "default"

  server_join {
    retry_join = ["provider=gce project_name=acme-infra-prod tag_value=nomad-server zone_pattern=europe-west1-[a-d]"]
  }
}
