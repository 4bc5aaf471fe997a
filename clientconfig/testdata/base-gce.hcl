# Rendered by tetranomad: the base client configuration.

region     = "europe"
datacenter = "europe-west1"
data_dir   = "/var/lib/nomad"
bind_addr  = "{{ GetInterfaceIP \"ens4\" }}"

client {
  enabled   = true
  node_pool = "observability"

  server_join {
    retry_join = ["provider=gce project_name=infra-prod tag_value=nomad-server zone_pattern=europe-west1-.*", "10.10.0.2", "10.10.0.3:4647"]
  }
}
