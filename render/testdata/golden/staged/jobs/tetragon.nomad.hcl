# Rendered by tetranomad (contract 39557e2538651bb3). It runs only on Nomad clients
# configured from the same declaration; change that and render again rather
# than editing this file.

job "tetragon" {
  type        = "system"
  namespace   = "default"
  region      = "global"
  datacenters = ["*"]
  node_pool   = "all"

  meta {
    tetranomad_bundle      = "021e61c1673ad73f0450"
    tetranomad_contract    = "39557e2538651bb3"
    tetranomad_policy_mode = "monitor"
  }

  # The client drop-in provides the host volumes and privileged Docker;
  # its node meta carries the contract hash of exactly those facts.
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
  constraint {
    attribute = "${attr.driver.docker.privileged.enabled}"
    value     = "true"
  }
  constraint {
    attribute = "${meta.tetranomad_contract}"
    value     = "39557e2538651bb3"
  }

  # A deployment: a few nodes at a time, each healthy (checks passing) before
  # the next; a failed deployment reverts to the last stable version.
  # Canaries first: the rest waits for `nomad deployment promote`.
  update {
    max_parallel      = 4
    canary            = 25
    auto_promote      = false
    auto_revert       = true
    health_check      = "checks"
    healthy_deadline  = "10m"
    progress_deadline = "15m"
  }

  group "tetragon" {
    # A system job is never rescheduled, so a failed allocation would leave the
    # node unwatched until the next job change. mode = "delay" keeps retrying
    # after the attempts are used up instead of failing the allocation.
    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "delay"
    }

    network {
      port "metrics" {
        to = 2112
      }
      port "health" {
        to = 6789
      }
    }

    volume "btf" {
      type      = "host"
      source    = "tetragon-btf"
      read_only = true
    }

    volume "logs" {
      type      = "host"
      source    = "tetragon-logs"
      read_only = false
    }

    volume "bpffs" {
      type      = "host"
      source    = "tetragon-bpffs"
      read_only = false
    }

    task "tetragon" {
      driver = "docker"

      # Time for Tetragon to detach its BPF programs on stop.
      kill_timeout = "30s"
      # Deregister the service before the agent stops (Nomad 2.0 warns on a task
      # with services and no shutdown_delay; 1.10 accepts it too).
      shutdown_delay = "5s"

      config {
        image      = "quay.io/cilium/tetragon:v1.7.0"
        privileged = true
        pid_mode   = "host"
        cgroupns   = "host"
        ports      = ["metrics", "health"]
        args = [
          "--btf=/var/lib/tetragon/btf",
          "--export-filename=/var/log/tetragon/tetragon.log",
          "--export-file-max-size-mb=10",
          "--export-file-max-backups=5",
          "--tracing-policy-dir=/etc/tetragon/tetragon.tp.d",
          "--metrics-server=:2112",
          "--health-server-address=:6789",
        ]

        mount {
          type     = "bind"
          source   = "local/policies"
          target   = "/etc/tetragon/tetragon.tp.d"
          readonly = true
        }
      }

      volume_mount {
        volume      = "btf"
        destination = "/var/lib/tetragon/btf"
        read_only   = true
      }

      volume_mount {
        volume      = "logs"
        destination = "/var/log/tetragon"
        read_only   = false
      }

      volume_mount {
        volume      = "bpffs"
        destination = "/sys/fs/bpf"
        read_only   = false
      }

      template {
        data            = <<EOT
# tetranomad policy library: block-package-managers (rendered, do not edit).
# Kills package managers started inside containers. Scoped to processes
# outside the host PID namespace, so the host's own apt (the image build,
# unattended-upgrades), dockerd, nomad and the logging agent are never hit.
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: block-package-managers
spec:
  kprobes:
  # Called during execve once the new binary is opened, before it runs.
  - call: security_bprm_creds_from_file
    syscall: false
    args:
    - index: 1
      type: file
    selectors:
    - matchArgs:
      # Postfix, not Equal: a copy under another directory keeps its name.
      - index: 1
        operator: Postfix
        values:
        - /apt
        - /apt-get
        - /aptitude
        - /dpkg
        - /yum
        - /dnf
        - /microdnf
        - /rpm
        - /apk
        - /zypper
        - /pacman
      matchNamespaces:
      - namespace: Pid
        operator: NotIn
        values:
        - host_ns
      matchActions:
      - action: Sigkill
  options:
  - name: policy-mode
    value: monitor
EOT
        destination     = "local/policies/block-package-managers.yaml"
        left_delimiter  = "[[tetranomad"
        right_delimiter = "tetranomad]]"
      }

      template {
        data            = <<EOT
# tetranomad policy library: log-tcp-connect (rendered, do not edit).
# Observes TCP connects and closes, on the host and in containers, except
# loopback (also IPv4 loopback on dual-stack sockets, ::ffff:127.0.0.0/104)
# and sockets that never had a peer. No enforcement.
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: log-tcp-connect
spec:
  kprobes:
  - call: tcp_connect
    syscall: false
    args:
    - index: 0
      type: sock
    selectors:
    - matchArgs:
      - index: 0
        operator: NotDAddr
        values:
        - 127.0.0.0/8
        - ::ffff:127.0.0.0/104
        - ::1
  - call: tcp_close
    syscall: false
    args:
    - index: 0
      type: sock
    selectors:
    - matchArgs:
      - index: 0
        operator: NotDAddr
        values:
        - 127.0.0.0/8
        - ::ffff:127.0.0.0/104
        - ::1
        - 0.0.0.0
        - "::"
EOT
        destination     = "local/policies/log-tcp-connect.yaml"
        left_delimiter  = "[[tetranomad"
        right_delimiter = "tetranomad]]"
      }

      resources {
        cpu    = 500
        memory = 512
      }

      service {
        name     = "tetragon"
        provider = "nomad"
        port     = "metrics"
        tags     = ["metrics"]

        check {
          name     = "metrics"
          type     = "http"
          path     = "/metrics"
          interval = "30s"
          timeout  = "5s"
        }

        check {
          name     = "health"
          type     = "tcp"
          port     = "health"
          interval = "15s"
          timeout  = "3s"

          # Restart a wedged agent; the grace covers loading BTF and policies.
          check_restart {
            limit = 3
            grace = "2m"
          }
        }
      }
    }

    task "export" {
      driver = "docker"

      lifecycle {
        hook    = "poststart"
        sidecar = true
      }

      # The exporter only tails a file. It keeps restarting on its own schedule and
      # never fails the allocation, which would stop Tetragon with it.
      restart {
        attempts = 5
        interval = "5m"
        delay    = "10s"
        mode     = "delay"
      }

      config {
        image = "quay.io/cilium/hubble-export-stdout:v1.2.0"
        args  = ["/var/log/tetragon/tetragon.log"]

        # Async and non-blocking: a logging agent that is down or slow costs
        # buffered lines, never a stuck or refused container. While the agent is
        # unreachable dockerd queues at most fluentd-buffer-limit events, then drops.
        # The agents stamp each event with Tetragon's own time field; the forward
        # timestamp (when Docker read the line) keeps its nanoseconds as a fallback.
        logging {
          type = "fluentd"
          config {
            fluentd-address              = "127.0.0.1:24224"
            tag                          = "tetragon"
            fluentd-async                = "true"
            fluentd-buffer-limit         = "16384"
            fluentd-sub-second-precision = "true"
            mode                         = "non-blocking"
            max-buffer-size              = "8m"
          }
        }
      }

      volume_mount {
        volume      = "logs"
        destination = "/var/log/tetragon"
        read_only   = true
      }

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
