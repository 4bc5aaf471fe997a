# Shared settings for the e2e target scripts. Sourced, never run.
# shellcheck shell=bash

TETRANOMAD_CACHE=${TETRANOMAD_CACHE:-/var/cache/tetranomad}
# Every running target keeps its state (pids, paths, ssh settings) here, so
# `down` can tear down by recorded PID and name even after a half-finished `up`.
E2E_STATE_ROOT=${E2E_STATE_ROOT:-/run/tetranomad-e2e}
E2E_SUITE=bookworm
# The packages a "stock cloud image" needs for Packer's SSH communicator, sudo and
# apt over https; the cache key is derived from this list.
E2E_PACKAGES=openssh-server,sudo,ca-certificates,systemd,systemd-sysv,dbus,iproute2,curl,gnupg,procps

log() { printf '[e2e-target %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

require_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, netns and systemd-nspawn need it)"
}

# ensure_cmds CMD:PACKAGE... installs the Debian packages of missing commands.
ensure_cmds() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  exec 8>"$TETRANOMAD_CACHE/apt.lock"
  flock 8
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
  exec 8>&-
}

# debian_mirror prints the first URIs: entry of the host's deb822 sources.
debian_mirror() {
  local f=/etc/apt/sources.list.d/debian.sources
  [[ -r $f ]] || die "$f not found: cannot tell which Debian mirror to use"
  awk '/^URIs:/ {print $2; exit}' "$f"
}

rootfs_tarball() {
  local key
  key=$(printf '%s %s' "$E2E_SUITE" "$E2E_PACKAGES" | sha256sum | cut -c1-12)
  echo "$TETRANOMAD_CACHE/rootfs-$E2E_SUITE-$key.tar.zst"
}

# Each target gets a slot; slot N uses the link-local /30 169.254.77.(4N)/30, the
# host end .4N+1 and the target .4N+2 (169.254.169.254 is never near).
slot_host_ip() { echo "169.254.77.$((4 * $1 + 1))"; }
slot_target_ip() { echo "169.254.77.$((4 * $1 + 2))"; }
# The target's forwardable address, reachable only from inside its netns.
slot_node_ip() { echo "100.64.77.$((4 * $1 + 2))"; }

state_dir() { echo "$E2E_STATE_ROOT/$1"; }

valid_name() {
  [[ $1 =~ ^[a-z][a-z0-9]{0,10}$ ]] || die "target name '$1' must be 1-11 lowercase letters/digits, starting with a letter (it names a netns and a veth)"
}
