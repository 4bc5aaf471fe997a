# Stands in for the client config an image already has when the declaration
# does not render a base config: the drop-in is merged into it.
data_dir = "/opt/nomad/data"

client {
  enabled = true
}
