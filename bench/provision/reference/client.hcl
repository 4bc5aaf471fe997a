datacenter = "e2e"
data_dir   = "/opt/nomad/data"
bind_addr  = "{{ GetInterfaceIP \"ens4\" }}"

client {
  enabled   = true
  node_pool = "default"
}
