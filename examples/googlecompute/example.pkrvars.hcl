# Copy to my.pkrvars.hcl, edit, then:
#   packer init .
#   packer build -var-file=my.pkrvars.hcl .
project_id    = "my-project"
zone          = "europe-west1-b"
bundle_bucket = "my-project-tetragon-bundles"
image_family  = "nomad-client-tetragon"
