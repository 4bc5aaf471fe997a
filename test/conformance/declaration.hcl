# The bundle the conformance job checks: every library policy, default
# network (Docker bridge 172.17.0.0/16, VPC 10.128.0.0/9), which the
# library's scenarios assume.
policies {
  library = [
    "block-fd-install",
    "block-internet-egress",
    "block-package-managers",
    "log-file-access",
    "log-tcp-connect",
    "protect-nginx-html",
  ]
}
