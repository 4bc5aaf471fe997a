# The Packer integrations site reads this file and the compiled docs next to
# it (README.md, components/*/*/README.md), which `make generate` produces
# from docs/ with .web-docs/scripts/compile-to-webdocs.sh.
integration {
  name        = "tetranomad"
  description = "Bake Google Compute Engine images that are Nomad clients ready for Cilium Tetragon, and publish the matching Tetragon jobspec and TracingPolicies to GCS, from one declaration."
  identifier  = "packer/tetranomad/tetranomad"
  flags       = []

  docs {
    process_docs    = true
    readme_location = "./README.md"
    external_url    = "https://github.com/tetranomad/packer-plugin-tetranomad"
  }

  # A license block (type, url) goes here once the repository has a LICENSE
  # file; the integrations site shows it on the plugin's card.

  component {
    type = "provisioner"
    name = "tetranomad"
    slug = "tetranomad"
  }

  component {
    type = "post-processor"
    name = "tetranomad-publish"
    slug = "publish"
  }
}
