tetragon {
  image = "quay.io/cilium/tetragon:v1.7.0@sha256:0000000000000000000000000000000000000000000000000000000000000001"
}
policies {
  files = ["policies/watch-fd.yaml"]
}
publish {
  bucket = "acme-tetranomad"
}
