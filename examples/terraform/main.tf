# Nomad clients from the image family the Packer example builds, in a
# regional managed instance group, with the service account and scopes the
# Tetragon job needs to fetch its policies from a private bucket.

# The bucket bundles are published to. Bundles are immutable, so versioning
# is unnecessary; uniform access keeps IAM the only way in.
resource "google_storage_bucket" "bundles" {
  name                        = var.bundle_bucket
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = var.public_bucket ? "inherited" : "enforced"
}

resource "google_storage_bucket_iam_member" "bundles_public" {
  count  = var.public_bucket ? 1 : 0
  bucket = google_storage_bucket.bundles.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

# The clients' identity. Not the default compute service account, which has
# Editor on the project.
resource "google_service_account" "nomad_client" {
  account_id   = "nomad-client"
  display_name = "Nomad client (Tetragon)"
}

# Private bucket: the jobspec's artifact blocks use gcs:: URLs, which Nomad
# fetches with the VM's service account. Read access to this bucket only.
resource "google_storage_bucket_iam_member" "client_reads_bundles" {
  count  = var.public_bucket ? 0 : 1
  bucket = google_storage_bucket.bundles.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.nomad_client.email}"
}

# The Ops Agent ships Tetragon's events and the VM's metrics.
resource "google_project_iam_member" "client_logging" {
  for_each = toset(["roles/logging.logWriter", "roles/monitoring.metricWriter"])
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.nomad_client.email}"
}

# GCE cloud auto-join (server_join "provider=gce tag_value=...") lists
# instances to find the servers.
resource "google_project_iam_member" "client_discovers_servers" {
  project = var.project_id
  role    = "roles/compute.viewer"
  member  = "serviceAccount:${google_service_account.nomad_client.email}"
}

data "google_compute_image" "nomad_client" {
  family  = var.image_family
  project = var.project_id
}

resource "google_compute_instance_template" "nomad_client" {
  name_prefix  = "nomad-client-"
  machine_type = var.machine_type
  tags         = ["nomad-client"]

  disk {
    # The image itself, not the family: a new image is rolled out by
    # `terraform apply`, on purpose, not by the next autoscaling event.
    source_image = data.google_compute_image.nomad_client.self_link
    disk_size_gb = 20
    boot         = true
    auto_delete  = true
  }

  network_interface {
    network    = var.network
    subnetwork = var.subnetwork
  }

  service_account {
    email = google_service_account.nomad_client.email
    # Access scopes cap what the service account's roles may do from this VM.
    scopes = [
      "https://www.googleapis.com/auth/devstorage.read_only", # gcs:: artifacts
      "https://www.googleapis.com/auth/logging.write",        # Ops Agent logs
      "https://www.googleapis.com/auth/monitoring.write",     # Ops Agent metrics
      "https://www.googleapis.com/auth/compute.readonly",     # cloud auto-join
    ]
  }

  metadata = {
    enable-oslogin = "TRUE"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_region_instance_group_manager" "nomad_clients" {
  name               = "nomad-clients"
  region             = var.region
  base_instance_name = "nomad-client"
  target_size        = var.client_count

  version {
    instance_template = google_compute_instance_template.nomad_client.id
  }

  # Replace clients a few at a time when the template (the image) changes.
  # Tetragon is a system job: Nomad starts it on each new client by itself.
  update_policy {
    type                  = "PROACTIVE"
    minimal_action        = "REPLACE"
    max_surge_fixed       = 3
    max_unavailable_fixed = 0
  }
}

output "client_service_account" {
  value = google_service_account.nomad_client.email
}

output "image" {
  value = data.google_compute_image.nomad_client.self_link
}
