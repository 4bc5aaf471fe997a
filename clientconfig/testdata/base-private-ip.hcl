# Rendered by tetranomad: the base client configuration.

region     = "global"
datacenter = "dc1"
data_dir   = "/opt/nomad/data"
bind_addr  = "{{ GetPrivateIP }}"

client {
  enabled   = true
  node_pool = "default"
}
