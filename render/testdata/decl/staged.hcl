# A staged rollout on Nomad 1.11: canaries awaiting promotion, policies in
# monitor mode (the enforcing library policy gets policy-mode: monitor).
nomad {
  version        = "1.11.3"
  max_parallel   = 4
  canary_percent = 25
}

policies {
  library = ["block-package-managers", "log-tcp-connect"]
  mode    = "monitor"
}
