variable "project_id" {
  type        = string
  description = "GCP project of the clients, the image family and the bundle bucket."
}

variable "region" {
  type    = string
  default = "europe-west1"
}

variable "image_family" {
  type        = string
  default     = "nomad-client-tetragon"
  description = "Image family the Packer example builds into (examples/googlecompute)."
}

variable "bundle_bucket" {
  type        = string
  description = "Bucket the tetranomad-publish post-processor writes bundles to."
}

variable "public_bucket" {
  type        = bool
  default     = false
  description = "Make bundles world-readable (publish.public = true in the declaration). Private buckets are read with the VM's service account through gcs::."
}

variable "client_count" {
  type    = number
  default = 3
}

variable "machine_type" {
  type    = string
  default = "e2-standard-2"
}

variable "network" {
  type    = string
  default = "default"
}

variable "subnetwork" {
  type    = string
  default = null
}

variable "nomad_server_tag" {
  type        = string
  default     = "nomad-server"
  description = "Network tag of the Nomad servers (nomad.base_config.server_join_tag in the declaration)."
}
