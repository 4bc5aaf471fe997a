host_volumes {
  logs {
    name = "tg-logs"
    path = "/srv/tetragon"
  }
}
policies {
  library = ["block-package-managers", "block-internet-egress"]
}
publish {
  bucket = "acme-public-bundles"
  prefix = "fleet/eu"
  public = true
}
