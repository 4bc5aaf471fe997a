# Inputs of the example image build. Set them in a .pkrvars.hcl file
# (see example.pkrvars.hcl) or with -var on the command line.

variable "project_id" {
  type        = string
  description = "GCP project the build VM runs in and the image is stored in."
}

variable "zone" {
  type        = string
  default     = "europe-west1-b"
  description = "Zone of the temporary build VM."
}

variable "image_family" {
  type        = string
  default     = "nomad-client-tetragon"
  description = "Image family the image joins; instance templates follow the family."
}

variable "bundle_bucket" {
  type        = string
  description = "GCS bucket the Tetragon bundle (jobspec and policies) is published to."
}

variable "bundle_prefix" {
  type        = string
  default     = "tetranomad"
  description = "Object prefix of the bundle inside bundle_bucket."
}

variable "public_bucket" {
  type        = bool
  default     = false
  description = "true if the bucket is world-readable: the jobspec then fetches policies over https instead of gcs:: with the VM's service account."
}

variable "tetragon_version" {
  type    = string
  default = "v1.7.0"
}

variable "nomad_version" {
  type    = string
  default = "2.0.5"
}

variable "nomad_datacenter" {
  type    = string
  default = "dc1"
}

variable "nomad_server_tag" {
  type        = string
  default     = "nomad-server"
  description = "Network tag of the Nomad servers; clients find them with GCE cloud auto-join."
}

variable "vpc_cidrs" {
  type        = list(string)
  default     = ["10.128.0.0/9"]
  description = "VPC ranges egress policies treat as internal (the default is GCE's auto-mode range)."
}

variable "network" {
  type        = string
  default     = "default"
  description = "VPC network of the build VM."
}

variable "subnetwork" {
  type        = string
  default     = ""
  description = "Subnetwork of the build VM; required for custom-mode networks."
}
