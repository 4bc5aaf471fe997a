policies {
  library = ["log-tcp-connect"]
  files   = ["policies/watch-fd.yaml"]
}
