#!/usr/bin/env bash
# Rendered by tetranomad 0.1.0-test for bundle b-test. Do not edit: render again.
# Configures this VM as a Nomad client for Tetragon; its data files follow
# the __TETRANOMAD_PAYLOAD__ line as a gzipped tar.
set -Eeuo pipefail

TN_MARK='##tetranomad'
TN_PAYLOAD_MARKER='__TETRANOMAD_PAYLOAD__'
TN_PLUGIN_VERSION='0.1.0-test'
TN_BUNDLE_ID='b-test'
TN_DOCKER_SOURCE='docker-ce'
TN_NOMAD_INSTALL='hashicorp-apt'
TN_NOMAD_VERSION='2.0.5'
TN_NOMAD_SHA256=''
TN_NOMAD_SHIPPED='0'
TN_NOMAD_CONFIG_DIR='/etc/nomad.d'
TN_NOMAD_DROP_IN='tetragon.hcl'
TN_NOMAD_BASE_CONFIG=''
TN_NOMAD_DATA_DIR='/opt/nomad/data'
TN_BTF_PATH='/sys/kernel/btf/vmlinux'
TN_LOGS_PATH='/var/log/tetragon'
TN_BPFFS_PATH='/sys/fs/bpf'
TN_AGENT='ops-agent'
TN_AGENT_CONFIGURE_ONLY='0'
TN_FORWARD_ADDRESS='127.0.0.1:24224'
TN_FLUENTD_END_OF_SUPPORT='2026-09-28'
TN_NOMAD_BINARY_PATH='/usr/local/bin/nomad'
TN_NOMAD_APT_PATH='/usr/bin/nomad'
TN_NOMAD_UNIT='/etc/systemd/system/nomad.service'
TN_NOMAD_ORDERING='/etc/systemd/system/nomad.service.d/tetranomad.conf'
TN_DAEMON_JSON='/etc/docker/daemon.json'
TN_OPS_AGENT_CONFIG='/etc/google-cloud-ops-agent/config.yaml'
TN_FLUENTD_CONFIG='/etc/google-fluentd/config.d/tetragon.conf'
TN_PAYLOAD_SUMS='22f0403a51e9d533f3c48520052c681c6b8e09b06d7b4e52233b64fbe1f21efc  docker/daemon.json
4fe3cdd25c0be1c399b46cd36cbf790083a3a91d1bebc1b09b49bea26e7c65ad  logging/config.yaml
8c54d851c659de08cb24cb59dc1885bcb10ba18f2788287c57d4d8da96f374a5  logging/merge.py
bf9dfecb7e7d6c3ee7d948e067645dff7034e314525f221c50ef7ad232929338  nomad/config/tetragon.hcl
f1e38056131ae8ae38528fe5e39d54f6049b34f147c8582eaebb7d97760e301f  nomad/ordering.conf
7bc079e8bb15985a713ac50e38cb8dd9e180e51ba9a19dafa64f76dbc9889330  preflight/requirements.tsv
'
TN_DOCKER_REPO_URL='https://download.docker.com/linux/{os_id}'
TN_DOCKER_REPO_KEY_URL='https://download.docker.com/linux/{os_id}/gpg'
TN_DOCKER_REPO_FPR='9DC858229FC7DD38854AE2D88D81803C0EBFCD88'
TN_HASHICORP_REPO_URL='https://apt.releases.hashicorp.com'
TN_HASHICORP_REPO_KEY_URL='https://apt.releases.hashicorp.com/gpg'
TN_HASHICORP_REPO_FPR='798AEC654E5C15428C8E42EEAA16FCBCA621E701'
TN_GOOGLE_REPO_URL='https://packages.cloud.google.com/apt'
TN_GOOGLE_REPO_KEY_URL='https://packages.cloud.google.com/apt/doc/apt-key.gpg'
TN_GOOGLE_REPO_FPR='35BAA0B33E9EB396F59CA838C0BA5CE6DC6315A3'

# ---- The rest is the same for every declaration (hostsetup/setup.sh). ----

# One ordered stream: the provisioner reads stdout only.
exec 2>&1
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# Tests point this at a fake root holding the files the preflight reads
# (/etc/os-release, /proc, /boot, /sys, /run/systemd); never set on a VM.
TN_ROOT=${TETRANOMAD_TEST_ROOT:-}
TN_SELF=${BASH_SOURCE[0]}
TN_STEP=setup
TN_WORK=
TN_GNUPG=
TN_FILES=
TN_RESULTS=
TN_ERRORS=()
TN_WANT=()
TN_REPOS=()
TN_OS_ID=
TN_OS_VERSION=
TN_OS_CODENAME=
TN_ARCH=
TN_FILES_CHANGED=0
TN_UNITS_CHANGED=0
# Services whose configuration changed in this run, and services this run
# enabled, started or restarted.
declare -A TN_DIRTY=()
declare -A TN_TOUCHED=()

tn_mark() { printf '%s %s\n' "$TN_MARK" "$*"; }
tn_step() {
  TN_STEP=$1
  shift
  tn_mark "step $TN_STEP $*"
}
# tn_fail MESSAGE: fails the current step; the message stays on one line.
tn_fail() {
  local msg="$*"
  tn_mark "fail $TN_STEP ${msg//$'\n'/; }"
  exit 1
}
# shellcheck disable=SC2317 # called by the ERR trap
tn_on_error() {
  local cmd=${3//$'\n'/ }
  tn_mark "fail $TN_STEP command failed with exit status $1 (script line $2): $cmd"
  exit "$1"
}
trap 'tn_on_error $? $LINENO "$BASH_COMMAND"' ERR
# shellcheck disable=SC2317 # called by the EXIT trap
tn_cleanup() {
  if [[ -n $TN_WORK ]]; then rm -rf -- "$TN_WORK"; fi
  if [[ -n $TN_GNUPG ]]; then rm -rf -- "$TN_GNUPG"; fi
}
trap tn_cleanup EXIT

# tn_run WHAT COMMAND...: runs a noisy command quietly; on failure shows the
# end of its output and fails the step.
tn_run() {
  local what=$1 status=0
  shift
  "$@" >"$TN_WORK/run.log" 2>&1 || status=$?
  if ((status != 0)); then
    tail -n 60 "$TN_WORK/run.log"
    tn_fail "$what failed with exit status $status"
  fi
}

tn_json() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  s=${s//$'\n'/\\n}
  printf '"%s"' "$s"
}
tn_json_list() {
  local sep='' v
  printf '['
  for v in "$@"; do
    printf '%s' "$sep"
    tn_json "$v"
    sep=,
  done
  printf ']'
}

# tn_osrel KEY prints a value from /etc/os-release without its quotes.
tn_osrel() {
  local f=$TN_ROOT/etc/os-release line
  [[ -r $f ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line == "$1="* ]]; then
      line=${line#*=}
      line=${line#[\"\']}
      line=${line%[\"\']}
      printf '%s\n' "$line"
      return 0
    fi
  done <"$f"
}

tn_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

tn_add_repo() {
  local r
  for r in "${TN_REPOS[@]}"; do
    if [[ $r == "$1" ]]; then return 0; fi
  done
  TN_REPOS+=("$1")
}

# tn_want REPO PACKAGE...: plans to install the packages that are missing,
# from REPO ("" for the distribution's own).
tn_want() {
  local repo=$1 pkg
  shift
  for pkg in "$@"; do
    if ! tn_installed "$pkg"; then
      TN_WANT+=("$pkg")
      if [[ -n $repo ]]; then tn_add_repo "$repo"; fi
    fi
  done
}

tn_extract() {
  local line
  line=$(sed -n "/^${TN_PAYLOAD_MARKER}\$/{=;q;}" "$TN_SELF")
  if [[ -z $line ]]; then tn_fail "$TN_SELF has no data files after it: the upload is incomplete, run the build again"; fi
  TN_WORK=$(mktemp -d "$(dirname -- "$TN_SELF")/tetranomad-work.XXXXXX")
  TN_FILES=$TN_WORK/files
  mkdir "$TN_FILES"
  if ! tail -n +"$((line + 1))" -- "$TN_SELF" | tar -xzf - -m --no-same-owner -C "$TN_FILES" ||
    ! (cd "$TN_FILES" && sha256sum --quiet --strict -c - <<<"$TN_PAYLOAD_SUMS"); then
    tn_fail "the data files appended to $TN_SELF do not unpack or do not match their checksums: the upload is incomplete, run the build again"
  fi
}

# ---- preflight: reads only ----

tn_kconfig() { # NAME: y, m or n from the kernel config lines; "" without a config
  local v
  if [[ -z $TN_KCONFIG_SOURCE ]]; then return 0; fi
  v=$(sed -n "s/^$1=//p" <<<"$TN_KCONFIG")
  case $v in
    y | m) printf '%s' "$v" ;;
    *) printf n ;;
  esac
}

tn_plan_packages() {
  case $TN_DOCKER_SOURCE in
    docker-ce)
      if tn_installed docker.io; then
        TN_ERRORS+=("docker.source = \"docker-ce\" but the distribution's docker.io is installed: set docker.source = \"distro\" or \"preinstalled\", or use an image without docker.io")
      fi
      tn_want docker docker-ce docker-ce-cli containerd.io
      ;;
    distro)
      if tn_installed docker-ce; then
        TN_ERRORS+=("docker.source = \"distro\" but docker-ce is installed: set docker.source = \"docker-ce\" or \"preinstalled\"")
      fi
      tn_want "" docker.io
      ;;
    preinstalled)
      if ! command -v dockerd >/dev/null 2>&1; then
        TN_ERRORS+=("docker.source = \"preinstalled\" but dockerd is not installed: use an image with Docker, or set docker.source = \"distro\" or \"docker-ce\"")
      fi
      ;;
  esac
  # jq merges tetranomad's settings into /etc/docker/daemon.json.
  if ! command -v jq >/dev/null 2>&1; then TN_WANT+=(jq); fi
  # PyYAML merges tetranomad's receiver into the Ops Agent's config.yaml;
  # python3-yaml has this name on every supported release.
  if [[ $TN_AGENT == ops-agent ]] && ! python3 -c 'import yaml' >/dev/null 2>&1; then TN_WANT+=(python3-yaml); fi

  case $TN_NOMAD_INSTALL in
    hashicorp-apt)
      local have
      have=$(dpkg-query -W -f='${Version}' nomad 2>/dev/null || true)
      if ! tn_installed nomad || [[ ${have%-*} != "$TN_NOMAD_VERSION" ]]; then
        TN_WANT+=("nomad=$TN_NOMAD_VERSION-1")
        tn_add_repo hashicorp
      fi
      ;;
    none)
      if ! command -v nomad >/dev/null 2>&1; then
        TN_ERRORS+=("nomad.install = \"none\" but there is no nomad on PATH: set nomad.install = \"hashicorp-apt\" or \"binary\"")
      elif [[ -z $TN_ROOT ]] && ! systemctl cat nomad.service >/dev/null 2>&1; then
        TN_ERRORS+=("nomad.install = \"none\" but there is no nomad.service unit: set nomad.install = \"hashicorp-apt\" or \"binary\"")
      fi
      ;;
  esac

  if [[ $TN_AGENT != none && $TN_AGENT_CONFIGURE_ONLY == 0 ]]; then
    case $TN_AGENT in
      ops-agent)
        if tn_installed google-fluentd; then
          TN_ERRORS+=("logging.agent = \"ops-agent\" but google-fluentd is installed, and the two conflict: remove google-fluentd from the image or set logging.agent = \"google-fluentd\"")
        fi
        tn_want google-cloud-ops-agent google-cloud-ops-agent
        ;;
      google-fluentd)
        if tn_installed google-cloud-ops-agent; then
          TN_ERRORS+=("logging.agent = \"google-fluentd\" but google-cloud-ops-agent is installed, and the two conflict: set logging.agent = \"ops-agent\"")
        fi
        tn_want google-cloud-logging google-fluentd
        ;;
    esac
  fi
  if ((${#TN_REPOS[@]})); then
    local tool lacking=()
    for tool in curl gpg; do
      if ! command -v "$tool" >/dev/null 2>&1; then lacking+=("$tool"); fi
    done
    if ((${#lacking[@]})); then
      TN_ERRORS+=("the signing keys of the apt repositories ${TN_REPOS[*]} are fetched with curl and checked with gpg, and this image has no ${lacking[*]}: use an image with the curl and gnupg packages")
    fi
  fi
}

# tn_repo_settings REPO sets R_* to the repository's settings: the setting
# path, URL, key URL, pinned fingerprint, shipped key file, suite, components.
tn_repo_settings() {
  case $1 in
    docker)
      R_SETTING=repositories.docker R_URL=$TN_DOCKER_REPO_URL R_KEY_URL=$TN_DOCKER_REPO_KEY_URL
      R_FPR=$TN_DOCKER_REPO_FPR R_SUITE=$TN_OS_CODENAME R_COMPONENTS=stable
      ;;
    hashicorp)
      R_SETTING=repositories.hashicorp R_URL=$TN_HASHICORP_REPO_URL R_KEY_URL=$TN_HASHICORP_REPO_KEY_URL
      R_FPR=$TN_HASHICORP_REPO_FPR R_SUITE=$TN_OS_CODENAME R_COMPONENTS=main
      ;;
    google-cloud-ops-agent | google-cloud-logging)
      R_SETTING=repositories.google R_URL=$TN_GOOGLE_REPO_URL R_KEY_URL=$TN_GOOGLE_REPO_KEY_URL
      R_FPR=$TN_GOOGLE_REPO_FPR R_SUITE=$1-$TN_OS_CODENAME-all R_COMPONENTS=main
      ;;
  esac
  R_KEY=$TN_FILES/keys/${R_SETTING#repositories.}.asc
  R_URL=${R_URL//"{os_id}"/$TN_OS_ID}
  R_KEY_URL=${R_KEY_URL//"{os_id}"/$TN_OS_ID}
}

# tn_check_keys gets the signing key of every repository this run adds (from
# the declaration or its key URL) and keeps only the key with the pinned
# fingerprint, in $TN_WORK/keys/REPO.gpg, before apt ever sees it. A key
# without that fingerprint is an error of the preflight: nothing is written.
tn_check_keys() {
  local repo src got out list=$TN_WORK/keys/list
  # A short home: gpg's socket paths are limited to about 100 characters.
  # --no-autostart: no gpg-agent may be left running on the image.
  TN_GNUPG=$(mktemp -d /tmp/tetranomad-gpg.XXXXXX)
  mkdir -m 0700 "$TN_WORK/keys"
  for repo in "${TN_REPOS[@]}"; do
    tn_repo_settings "$repo"
    got=$TN_WORK/keys/$repo.download
    if [[ -f $R_KEY ]]; then
      src="$R_SETTING.key"
      cp -- "$R_KEY" "$got"
    else
      src=$R_KEY_URL
      if ! curl -fsSL --retry 3 -o "$got" -- "$R_KEY_URL" >"$list" 2>&1; then
        out=$(<"$list")
        TN_ERRORS+=("cannot download the signing key of the $repo repository from $R_KEY_URL (${out//$'\n'/ }): check $R_SETTING.key_url, or put the key in $R_SETTING.key")
        continue
      fi
    fi
    # The primary keys' fingerprints: the fpr line after each pub line.
    if ! gpg --batch --no-options --no-autostart --homedir "$TN_GNUPG" --with-colons --show-keys -- "$got" >"$list" 2>/dev/null; then
      TN_ERRORS+=("the signing key of the $repo repository from $src is not an OpenPGP public key: check $R_SETTING.key_url or $R_SETTING.key")
      continue
    fi
    got=$(awk -F: '$1 == "pub" {p = 1; next} $1 == "fpr" && p {printf "%s%s", sep, $10; sep = " "; p = 0}' "$list")
    if [[ " $got " != *" $R_FPR "* ]]; then
      TN_ERRORS+=("the signing key of the $repo repository from $src has fingerprint ${got:-none}, but $R_SETTING.key_fingerprint is $R_FPR: apt must not trust it. If your mirror signs with its own key, set $R_SETTING.key_fingerprint to that key's fingerprint")
      continue
    fi
    # Only the pinned key goes into apt's keyring, even when the file holds more.
    gpg --batch --no-options --no-autostart --homedir "$TN_GNUPG" --quiet --import -- "$TN_WORK/keys/$repo.download" 2>/dev/null
    gpg --batch --no-options --no-autostart --homedir "$TN_GNUPG" --export "$R_FPR" >"$TN_WORK/keys/$repo.gpg"
    echo "repository $repo: signing key from $src has the pinned fingerprint $R_FPR ($R_SETTING.key_fingerprint)"
  done
}

# tn_check_policies runs the requirements table against /proc/kallsyms and
# the kernel config. Records out: P name file override ok / S symbol found_as
# / E message.
tn_check_policies() {
  awk -v arch="$TN_ARCH" -v override="$TN_K_OVERRIDE" -v bpflsm="$TN_K_LSM" -v lsms="$TN_LSMS" \
    -v cfgsrc="$TN_KCONFIG_SOURCE" -v release="$TN_RELEASE" '
    BEGIN { FS = "\t" }
    FILENAME == ARGV[1] {
      if ($1 == "policy") { np++; name[np] = $2; file[np] = $3; over[np] = $4; lsm[np] = $5; idx[$2] = np; ns[np] = 0 }
      else if ($1 == "symbol") {
        p = idx[$2]; k = ++ns[p]; sym[p, k] = $3; cand[p, k] = (arch == "arm64") ? $5 : $4
        m = split(cand[p, k], cs, ","); for (i = 1; i <= m; i++) want[cs[i]] = 1
      }
      next
    }
    { split($0, f, /[ \t]+/); if (f[3] in want) have[f[3]] = 1 }
    END {
      for (p = 1; p <= np; p++) {
        ok = 1; out = ""; who = "policy " name[p] " (" file[p] ")"
        for (k = 1; k <= ns[p]; k++) {
          found = ""; m = split(cand[p, k], cs, ",")
          for (i = 1; i <= m; i++) if (cs[i] in have) { found = cs[i]; break }
          if (found == "") {
            ok = 0; looked = (m > 1) ? " (looked for " cand[p, k] ")" : ""
            errs = errs "E\t" who ": kernel function " sym[p, k] " is not in /proc/kallsyms" looked "; this kernel cannot attach it\n"
          }
          out = out "S\t" sym[p, k] "\t" found "\n"
        }
        if (over[p] == "1" && override != "y") {
          ok = 0
          if (cfgsrc == "") errs = errs "E\t" who ": uses the Override action, which needs CONFIG_BPF_KPROBE_OVERRIDE, and no kernel config (/boot/config-" release " or /proc/config.gz) confirms kernel " release " has it: use Sigkill instead of Override, or an image that ships its kernel config\n"
          else errs = errs "E\t" who ": uses the Override action, which needs CONFIG_BPF_KPROBE_OVERRIDE; kernel " release " does not have it (" cfgsrc "): use Sigkill instead of Override, or an image whose kernel has it\n"
        }
        if (lsm[p] == "1") {
          if (cfgsrc != "" && bpflsm != "y") { ok = 0; errs = errs "E\t" who ": uses LSM hooks, which need CONFIG_BPF_LSM; kernel " release " does not have it (" cfgsrc ")\n" }
          else if (lsms != "" && index("," lsms ",", ",bpf,") == 0) { ok = 0; errs = errs "E\t" who ": uses LSM hooks, but the BPF LSM is not active (active: " lsms "): add bpf to the kernel lsm= boot parameter\n" }
        }
        printf "P\t%s\t%s\t%s\t%s\n%s", name[p], (file[p] == "" ? "-" : file[p]), over[p], ok, out
      }
      printf "%s", errs
    }' "$TN_FILES/preflight/requirements.tsv" "$TN_ROOT/proc/kallsyms"
}

tn_preflight() {
  local pretty machine btf=false re k_btf checks kind a b c d policies='' sep='' syms='' ssep='' n_policies=0
  TN_OS_ID=$(tn_osrel ID)
  TN_OS_VERSION=$(tn_osrel VERSION_ID)
  TN_OS_CODENAME=$(tn_osrel VERSION_CODENAME)
  pretty=$(tn_osrel PRETTY_NAME)
  TN_RELEASE=$(uname -r)
  machine=$(uname -m)

  if [[ -z $TN_ROOT ]] && ((EUID != 0)); then
    TN_ERRORS+=("the script runs as uid $EUID, not root: execute_command must run it with sudo")
  fi
  if [[ ! -d $TN_ROOT/run/systemd/system ]]; then
    TN_ERRORS+=("systemd is not the init system (no /run/systemd/system); tetranomad manages services with systemctl")
  fi
  case "$TN_OS_ID $TN_OS_VERSION" in
    "debian 11" | "debian 12" | "debian 13" | "ubuntu 22.04" | "ubuntu 24.04") ;;
    *) TN_ERRORS+=("unsupported OS: found ${pretty:-no /etc/os-release} (ID=${TN_OS_ID:-?} VERSION_ID=${TN_OS_VERSION:-?}); tetranomad supports Debian 11, 12, 13 and Ubuntu 22.04, 24.04") ;;
  esac
  case $machine in
    x86_64 | amd64) TN_ARCH=amd64 ;;
    aarch64 | arm64) TN_ARCH=arm64 ;;
    *)
      TN_ARCH=$machine
      TN_ERRORS+=("unsupported architecture $machine; tetranomad supports x86_64 (amd64) and aarch64 (arm64)")
      ;;
  esac

  if [[ -e $TN_ROOT/sys/kernel/btf/vmlinux ]]; then
    btf=true
  else
    TN_ERRORS+=("/sys/kernel/btf/vmlinux is missing: kernel $TN_RELEASE exposes no BTF, which Tetragon needs; use an image whose kernel has CONFIG_DEBUG_INFO_BTF")
  fi
  if [[ $TN_BTF_PATH != /sys/kernel/btf/vmlinux && ! -e $TN_ROOT$TN_BTF_PATH ]]; then
    TN_ERRORS+=("host_volumes.btf.path $TN_BTF_PATH does not exist, and Nomad refuses to start with a missing host volume")
  fi
  if [[ $TN_BPFFS_PATH == /sys/* && ! -d $TN_ROOT$TN_BPFFS_PATH ]]; then
    TN_ERRORS+=("host_volumes.bpffs.path $TN_BPFFS_PATH does not exist: is the BPF filesystem mounted?")
  fi

  re='^(# )?CONFIG_(BPF_LSM|BPF_KPROBE_OVERRIDE|DEBUG_INFO_BTF)[= ]'
  TN_KCONFIG_SOURCE=
  TN_KCONFIG=
  if [[ -r $TN_ROOT/boot/config-$TN_RELEASE ]]; then
    TN_KCONFIG_SOURCE=/boot/config-$TN_RELEASE
    TN_KCONFIG=$(grep -E "$re" "$TN_ROOT$TN_KCONFIG_SOURCE" || true)
  elif [[ -r $TN_ROOT/proc/config.gz ]]; then
    TN_KCONFIG_SOURCE=/proc/config.gz
    TN_KCONFIG=$(gzip -dc "$TN_ROOT$TN_KCONFIG_SOURCE" | grep -E "$re" || true)
  fi
  TN_K_LSM=$(tn_kconfig CONFIG_BPF_LSM)
  TN_K_OVERRIDE=$(tn_kconfig CONFIG_BPF_KPROBE_OVERRIDE)
  k_btf=$(tn_kconfig CONFIG_DEBUG_INFO_BTF)
  TN_LSMS=
  if [[ -r $TN_ROOT/sys/kernel/security/lsm ]]; then TN_LSMS=$(<"$TN_ROOT/sys/kernel/security/lsm"); fi

  echo "OS: ${pretty:-unknown}, $TN_ARCH, kernel $TN_RELEASE"
  if [[ -n $TN_KCONFIG_SOURCE ]]; then
    echo "kernel config ($TN_KCONFIG_SOURCE): CONFIG_BPF_LSM=$TN_K_LSM CONFIG_BPF_KPROBE_OVERRIDE=$TN_K_OVERRIDE CONFIG_DEBUG_INFO_BTF=$k_btf"
  else
    echo "kernel config: not found (/boot/config-$TN_RELEASE, /proc/config.gz)"
  fi

  # Google publishes the legacy agent for Debian 11 only of the supported
  # releases; an image that already has it can still be configured.
  if [[ $TN_AGENT == google-fluentd && $TN_AGENT_CONFIGURE_ONLY == 0 && "$TN_OS_ID $TN_OS_VERSION" != "debian 11" ]] && ! tn_installed google-fluentd; then
    TN_ERRORS+=("logging.agent = \"google-fluentd\" cannot be installed on ${pretty:-this OS}: Google publishes the legacy agent (end of support $TN_FLUENTD_END_OF_SUPPORT) for Debian 11 only; use logging.agent = \"ops-agent\", or set logging.configure_only = true on an image that has google-fluentd")
  fi
  if [[ $TN_AGENT == google-fluentd ]]; then
    local f
    for f in "$TN_ROOT"/etc/google-fluentd/google-fluentd.conf "$TN_ROOT"/etc/google-fluentd/config.d/*.conf; do
      if [[ -f $f && $f != "$TN_ROOT$TN_FLUENTD_CONFIG" ]] && grep -Eq '@type[[:space:]]+forward' "$f"; then
        TN_ERRORS+=("${f#"$TN_ROOT"} already has a forward source, which would clash with tetranomad's on $TN_FORWARD_ADDRESS: remove it (e.g. the catch-all config package)")
      fi
    done
  fi

  # Uprobes attach to a file that must exist on the VM; Tetragon refuses the
  # policy (and stops) when it does not, and paths differ between distributions.
  local upath
  while IFS=$'\t' read -r kind a upath; do
    if [[ $kind == path && ! -e $TN_ROOT$upath ]]; then
      TN_ERRORS+=("policy $a: uprobe path $upath does not exist on this VM; Tetragon would refuse the policy and stop: point spec.uprobes[].path at the file this image ships")
    fi
  done <"$TN_FILES/preflight/requirements.tsv"

  if [[ ! -r $TN_ROOT/proc/kallsyms ]]; then
    TN_ERRORS+=("/proc/kallsyms is not readable, so the kernel functions the policies hook cannot be checked")
  else
    checks=$(tn_check_policies)
    while IFS=$'\t' read -r kind a b c d; do
      case $kind in
        P)
          if [[ -n $policies || $n_policies -gt 0 ]]; then policies+="$syms]}"; fi
          if [[ $b == - ]]; then b=; fi
          policies+="$sep{\"policy\":$(tn_json "$a"),\"file\":$(tn_json "$b"),\"needs_override\":$([[ $c == 1 ]] && echo true || echo false),\"ok\":$([[ $d == 1 ]] && echo true || echo false),\"symbols\":["
          sep=,
          syms=
          ssep=
          n_policies=$((n_policies + 1))
          echo "policy $a: $([[ $d == 1 ]] && echo ready || echo NOT SUPPORTED by this kernel)"
          ;;
        S)
          syms+="$ssep{\"symbol\":$(tn_json "$a"),\"found_as\":$(tn_json "$b")}"
          ssep=,
          ;;
        E) TN_ERRORS+=("$a") ;;
      esac
    done <<<"$checks"
    if ((n_policies > 0)); then policies+="$syms]}"; fi
  fi

  tn_plan_packages
  # Keys are fetched only for a VM that passed every other check.
  if ((${#TN_REPOS[@]} && ${#TN_ERRORS[@]} == 0)); then tn_check_keys; fi
  if ((${#TN_WANT[@]})); then
    echo "to install: ${TN_WANT[*]}"
  else
    echo "nothing to install"
  fi

  local lsm_list=()
  if [[ -n $TN_LSMS ]]; then IFS=, read -r -a lsm_list <<<"$TN_LSMS"; fi
  {
    printf '{"os":{"id":%s,"version_id":%s,"pretty_name":%s},' "$(tn_json "$TN_OS_ID")" "$(tn_json "$TN_OS_VERSION")" "$(tn_json "$pretty")"
    printf '"arch":%s,"kernel_release":%s,"btf":%s,' "$(tn_json "$TN_ARCH")" "$(tn_json "$TN_RELEASE")" "$btf"
    printf '"kernel_config_source":%s,' "$(tn_json "$TN_KCONFIG_SOURCE")"
    printf '"kernel_config":{"CONFIG_BPF_LSM":%s,"CONFIG_BPF_KPROBE_OVERRIDE":%s,"CONFIG_DEBUG_INFO_BTF":%s},' \
      "$(tn_json "$TN_K_LSM")" "$(tn_json "$TN_K_OVERRIDE")" "$(tn_json "$k_btf")"
    printf '"lsms":%s,"policies":[%s],"errors":%s}\n' "$(tn_json_list "${lsm_list[@]}")" "$policies" "$(tn_json_list "${TN_ERRORS[@]}")"
  } >"$TN_RESULTS"
  # The SSH user removes the results after downloading them, also from a
  # sticky /tmp, so they belong to the owner of this script.
  chown --reference="$TN_SELF" -- "$TN_RESULTS"
  chmod 0644 -- "$TN_RESULTS"

  if ((${#TN_ERRORS[@]})); then
    local e msg=''
    for e in "${TN_ERRORS[@]}"; do
      echo "error: $e"
      msg+="${msg:+; }$e"
    done
    tn_fail "${#TN_ERRORS[@]} problem(s), nothing was changed: $msg"
  fi
}

# ---- changes: each is made only when the VM differs ----

# tn_put SOURCE DEST MODE OWNER [SERVICE [unit]]: installs SOURCE at DEST when
# its content, mode or owner differ, and marks SERVICE for a restart ("unit":
# DEST is a systemd unit file, so systemd must reload).
tn_put() {
  local src=$1 dest=$2 mode=$3 owner=$4 service=${5:-} kind=${6:-}
  if [[ -f $dest ]] && cmp -s -- "$src" "$dest"; then
    if [[ $(stat -c '%a %U:%G' -- "$dest") == "${mode#0} $owner" ]]; then return 0; fi
    chmod "$mode" -- "$dest"
    chown "$owner" -- "$dest"
    echo "fixed mode and owner of $dest"
  else
    install -m "$mode" -o "${owner%:*}" -g "${owner#*:}" -T -- "$src" "$dest.tetranomad-new"
    mv -f -- "$dest.tetranomad-new" "$dest"
    echo "wrote $dest"
  fi
  TN_FILES_CHANGED=$((TN_FILES_CHANGED + 1))
  if [[ -n $service ]]; then TN_DIRTY[$service]=1; fi
  if [[ $kind == unit ]]; then TN_UNITS_CHANGED=1; fi
}

# tn_mkdir DIR MODE OWNER creates DIR when it is missing; an existing
# directory is left as its owner set it up.
tn_mkdir() {
  if [[ -d $1 ]]; then return 0; fi
  install -d -m "$2" -o "${3%:*}" -g "${3#*:}" -- "$1"
  echo "created $1"
  TN_FILES_CHANGED=$((TN_FILES_CHANGED + 1))
}

tn_daemon_reload() {
  if ((TN_UNITS_CHANGED)); then
    systemctl daemon-reload
    TN_UNITS_CHANGED=0
  fi
}

tn_unit_failed() { # UNIT WHAT
  systemctl status --no-pager --lines=0 "$1" || true
  journalctl -u "$1" -n 40 --no-pager -o cat || true
  tn_fail "$1 failed to $2; its status and journal are above"
}

tn_wait_active() {
  local unit=$1 i state=unknown stable=0
  for ((i = 0; i < 30; i++)); do
    state=$(systemctl is-active "$unit" 2>/dev/null || true)
    if [[ $state == active ]]; then
      stable=$((stable + 1))
      # Active twice, a second apart: a daemon that dies on its
      # configuration right after starting is caught here.
      if ((stable >= 2)); then return 0; fi
    else
      stable=0
      if [[ $state == failed ]]; then break; fi
    fi
    sleep 1
  done
  tn_unit_failed "$unit" "stay active (state: $state)"
}

# tn_service UNIT [SERVICE]: enables UNIT, restarts it when SERVICE's
# configuration changed in this run, starts it when it is not running.
tn_service() {
  local unit=$1 service=${2:-$1}
  tn_daemon_reload
  if [[ $(systemctl is-enabled "$unit" 2>/dev/null || true) != enabled ]]; then
    tn_run "systemctl enable $unit" systemctl enable "$unit"
    echo "enabled $unit"
    TN_TOUCHED[$unit]=1
  fi
  if [[ -n ${TN_DIRTY[$service]:-} ]]; then
    echo "restarting $unit: its configuration changed"
    systemctl restart "$unit" || tn_unit_failed "$unit" restart
    TN_TOUCHED[$unit]=1
    tn_wait_active "$unit"
  elif ! systemctl is-active --quiet "$unit"; then
    echo "starting $unit"
    systemctl start "$unit" || tn_unit_failed "$unit" start
    TN_TOUCHED[$unit]=1
    tn_wait_active "$unit"
  fi
}

# ---- packages: one apt-get update and one install, only when needed ----

# tn_repo REPO: the repository in deb822 format, signed by the key the
# preflight checked (only that key, in /etc/apt/keyrings/REPO.gpg).
tn_repo() {
  local name=$1 key=/etc/apt/keyrings/$1.gpg
  tn_repo_settings "$name"
  tn_mkdir /etc/apt/keyrings 0755 root:root
  tn_put "$TN_WORK/keys/$name.gpg" "$key" 0644 root:root
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\nSigned-By: %s\n' "$R_URL" "$R_SUITE" "$R_COMPONENTS" "$key" >"$TN_WORK/$name.sources"
  tn_put "$TN_WORK/$name.sources" "/etc/apt/sources.list.d/$name.sources" 0644 root:root
  echo "added repository $name: $R_URL $R_SUITE $R_COMPONENTS, signed by $R_FPR"
}

tn_packages() {
  local repo apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  if ((${#TN_WANT[@]} == 0)); then
    echo "every package is already installed"
    return 0
  fi
  # Docker's, HashiCorp's and Google's repositories (or their mirrors), set
  # up as the vendors' install scripts do, without their repeated apt-get update.
  for repo in "${TN_REPOS[@]}"; do tn_repo "$repo"; done
  echo "apt-get update"
  tn_run "apt-get update" "${apt[@]}" update
  echo "apt-get install ${TN_WANT[*]}"
  tn_run "apt-get install ${TN_WANT[*]}" "${apt[@]}" -y --no-install-recommends --allow-downgrades \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install "${TN_WANT[@]}"
  TN_INSTALLED="${TN_WANT[*]}"
}

# ---- docker ----

tn_docker() {
  local current=$TN_DAEMON_JSON merged=$TN_WORK/daemon.json
  tn_mkdir "${current%/*}" 0755 root:root
  if [[ -s $current ]]; then
    if ! jq -e 'type == "object"' "$current" >/dev/null 2>&1; then
      tn_fail "$current is not a JSON object; tetranomad merges its settings into it: fix or remove it"
    fi
    # Deep merge: tetranomad's keys win, every other key stays.
    jq --indent 2 -s '.[0] * .[1]' "$current" "$TN_FILES/docker/daemon.json" >"$merged"
  else
    jq --indent 2 . "$TN_FILES/docker/daemon.json" >"$merged"
  fi
  tn_put "$merged" "$current" 0644 root:root docker
  tn_service docker.service docker
}

# ---- logging agent ----

# tn_ops_agent_config merges tetranomad's receiver, processor and pipeline
# into the Ops Agent's config.yaml; the user's other keys stay. The file as
# it was before the first merge is kept next to it.
tn_ops_agent_config() {
  local current=$TN_OPS_AGENT_CONFIG merged=$TN_WORK/ops-agent.yaml out status=0
  local backup=$current.before-tetranomad
  out=$(python3 "$TN_FILES/logging/merge.py" "$current" "$TN_FILES/logging/config.yaml" "$merged" \
    "${TN_FORWARD_ADDRESS%:*}" "${TN_FORWARD_ADDRESS##*:}" 2>&1) || status=$?
  if ((status != 0)); then
    tn_fail "cannot merge tetranomad's receiver into $current: ${out:-python3 exited with status $status}"
  fi
  if [[ -s $current && ! -e $backup ]] && ! cmp -s -- "$merged" "$current"; then
    cp -p -- "$current" "$backup"
    echo "kept the original $current as $backup"
  fi
  tn_put "$merged" "$current" 0644 root:root agent
}

# tn_forward_owner prints "PID UNIT" of the process listening on
# logging.forward_address ("" when none): a port held by another process
# accepts connections too, so accepting alone proves nothing.
tn_forward_owner() {
  local host=${TN_FORWARD_ADDRESS%:*} port=${TN_FORWARD_ADDRESS##*:} line pid unit
  line=$(ss -Hltnp "( sport = :$port )" 2>/dev/null |
    awk -v a="$host:$port" -v p="$port" '$4 == a || $4 == "0.0.0.0:"p || $4 == "*:"p || $4 == "[::]:"p { print; exit }') || true
  [[ -n $line ]] || return 0
  pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$line")
  # cgroup v2 ("0::/system.slice/U.service") or v1's name=systemd line.
  unit=$(sed -n 's|^[0-9]*:[^:]*:.*/\([^/]*\.service\)$|\1|p' "/proc/$pid/cgroup" 2>/dev/null | head -n 1) || true
  printf '%s %s\n' "${pid:-?}" "${unit:-?}"
}

# tn_check_forward waits until the agent's own process accepts TCP
# connections on logging.forward_address. A unit being active proves
# nothing: google-fluentd stays active when in_forward cannot bind, and the
# Ops Agent's main unit is a oneshot.
tn_check_forward() {
  local host=${TN_FORWARD_ADDRESS%:*} port=${TN_FORWARD_ADDRESS##*:} i owner='' pid unit
  for ((i = 0; i < 60; i++)); do
    owner=$(tn_forward_owner)
    # shellcheck disable=SC2016 # $1 and $2 are the inner bash's arguments
    if [[ -n $owner ]] && timeout 2 bash -c ': >"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; then
      read -r pid unit <<<"$owner"
      if [[ " $* " == *" $unit "* ]]; then
        echo "$unit (pid $pid) accepts connections on $TN_FORWARD_ADDRESS"
        return 0
      fi
      ss -ltnp "( sport = :$port )" || true
      tn_fail "$TN_FORWARD_ADDRESS (logging.forward_address) is taken by pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo ?), unit $unit), not by $TN_AGENT: stop that process, or set logging.forward_address to a free port"
    fi
    sleep 1
  done
  ss -ltnp || true
  for unit in "$@"; do journalctl -u "$unit" -n 30 --no-pager -o cat || true; done
  tn_fail "nothing accepts connections on $TN_FORWARD_ADDRESS (logging.forward_address) 60 s after $TN_AGENT started: its journal is above"
}

tn_logging() {
  local unit listeners
  case $TN_AGENT in
    none)
      echo "no logging agent (logging.agent = \"none\")"
      return 0
      ;;
    ops-agent)
      unit=google-cloud-ops-agent.service
      # The fluent_forward listener is the Fluent Bit sub-agent.
      listeners="google-cloud-ops-agent-fluent-bit.service"
      tn_mkdir /etc/google-cloud-ops-agent 0755 root:root
      tn_ops_agent_config
      ;;
    google-fluentd)
      unit=google-fluentd.service
      listeners=$unit
      tn_mkdir /etc/google-fluentd/config.d 0755 root:root
      tn_put "$TN_FILES/logging/tetragon.conf" "$TN_FLUENTD_CONFIG" 0644 root:root agent
      ;;
  esac
  if systemctl cat "$unit" >/dev/null 2>&1; then
    tn_service "$unit" agent
    # shellcheck disable=SC2086 # one word per unit
    tn_check_forward $listeners
  elif [[ $TN_AGENT_CONFIGURE_ONLY == 1 ]]; then
    echo "$unit is not installed (logging.configure_only): its configuration is in place for when it is"
  else
    tn_fail "$unit does not exist after installing $TN_AGENT"
  fi
}

# ---- nomad ----

tn_nomad() {
  local bin owner=root:root version check out sum
  case $TN_NOMAD_INSTALL in
    binary)
      # HashiCorp's package creates this user (and runs the agent as root,
      # which the Docker driver needs); mirror it.
      if ! id -u nomad >/dev/null 2>&1; then
        useradd --system --user-group --shell /bin/false nomad
        echo "created system user nomad"
        TN_FILES_CHANGED=$((TN_FILES_CHANGED + 1))
      fi
      bin=$TN_NOMAD_BINARY_PATH
      if ((TN_NOMAD_SHIPPED)); then
        # Its sha256 (nomad.binary_sha256) was checked with the payload.
        tn_put "$TN_FILES/nomad/nomad" "$bin" 0755 root:root nomad
      else
        # Not shipped: the provisioner found it in place; make sure it still is.
        sum=$(sha256sum <"$bin")
        if [[ ${sum%% *} != "$TN_NOMAD_SHA256" ]]; then
          tn_fail "$bin no longer has sha256 $TN_NOMAD_SHA256 (nomad.binary_sha256), which it had when the build looked: run the build again"
        fi
        echo "$bin is already the uploaded binary (sha256 $TN_NOMAD_SHA256)"
      fi
      tn_put "$TN_FILES/nomad/nomad.service" "$TN_NOMAD_UNIT" 0644 root:root nomad unit
      ;;
    hashicorp-apt) bin=$TN_NOMAD_APT_PATH ;;
    none) bin=$(command -v nomad) ;;
  esac
  if ! version=$("$bin" version 2>&1); then
    echo "$version"
    tn_fail "$bin does not run on this VM ($(uname -m))"
  fi
  version=${version%%$'\n'*}
  case $version in
    "Nomad v$TN_NOMAD_VERSION" | "Nomad v$TN_NOMAD_VERSION"[-+\ ]*) ;;
    *) tn_fail "$bin reports \"$version\", but nomad.version is $TN_NOMAD_VERSION: set nomad.version to the installed version" ;;
  esac

  if id -u nomad >/dev/null 2>&1; then owner=nomad:nomad; fi
  tn_mkdir "$TN_NOMAD_CONFIG_DIR" 0755 "$owner"
  if [[ $TN_NOMAD_INSTALL == binary || -n $TN_NOMAD_BASE_CONFIG ]]; then
    tn_mkdir "$TN_NOMAD_DATA_DIR" 0755 "$owner"
  fi
  # Every host volume path must exist or the client refuses to start.
  tn_mkdir "$TN_LOGS_PATH" 0755 root:root
  if [[ $TN_BPFFS_PATH != /sys/* ]]; then tn_mkdir "$TN_BPFFS_PATH" 0700 root:root; fi

  # HashiCorp's package ships nomad.hcl with a single-node server enabled;
  # next to a base client config that would make every client a server.
  local packaged=$TN_NOMAD_CONFIG_DIR/nomad.hcl
  if [[ $TN_NOMAD_INSTALL == hashicorp-apt && -n $TN_NOMAD_BASE_CONFIG && -f $packaged ]] &&
    grep -Eq '^[[:space:]]*bootstrap_expect[[:space:]]*=' "$packaged"; then
    mv -- "$packaged" "$packaged.disabled-by-tetranomad"
    echo "disabled the packaged $packaged (it enables a server); kept as $packaged.disabled-by-tetranomad"
    TN_FILES_CHANGED=$((TN_FILES_CHANGED + 1))
    TN_DIRTY[nomad]=1
  fi

  # Validate the configuration as it will be, before changing it.
  check=$TN_WORK/nomad-config
  mkdir "$check"
  cp -a -- "$TN_NOMAD_CONFIG_DIR/." "$check/"
  cp -- "$TN_FILES/nomad/config/"*.hcl "$check/"
  if ! out=$("$bin" config validate "$check" 2>&1); then
    echo "$out"
    tn_fail "nomad config validate rejects $TN_NOMAD_CONFIG_DIR with tetranomad's files in it; nothing there was changed"
  fi

  tn_put "$TN_FILES/nomad/config/$TN_NOMAD_DROP_IN" "$TN_NOMAD_CONFIG_DIR/$TN_NOMAD_DROP_IN" 0640 "$owner" nomad
  if [[ -n $TN_NOMAD_BASE_CONFIG ]]; then
    tn_put "$TN_FILES/nomad/config/$TN_NOMAD_BASE_CONFIG" "$TN_NOMAD_CONFIG_DIR/$TN_NOMAD_BASE_CONFIG" 0640 "$owner" nomad
  fi
  tn_mkdir "${TN_NOMAD_ORDERING%/*}" 0755 root:root
  tn_put "$TN_FILES/nomad/ordering.conf" "$TN_NOMAD_ORDERING" 0644 root:root nomad unit
  tn_daemon_reload

  if [[ $TN_NOMAD_INSTALL != binary ]]; then
    local exec_start
    exec_start=$(systemctl show -p ExecStart nomad.service)
    case "$exec_start " in
      *" -config $TN_NOMAD_CONFIG_DIR "* | *" -config $TN_NOMAD_CONFIG_DIR/ "* | *" -config=$TN_NOMAD_CONFIG_DIR "* | *" -config=$TN_NOMAD_CONFIG_DIR/ "*) ;;
      *) tn_fail "nomad.service does not read $TN_NOMAD_CONFIG_DIR ($exec_start): set nomad.config_dir to the directory its -config names" ;;
    esac
  fi
  tn_service nomad.service nomad
}

tn_summary() {
  local services=${#TN_TOUCHED[@]} installed=''
  if [[ -n ${TN_INSTALLED:-} ]]; then installed=" (installed: $TN_INSTALLED)"; fi
  if ((TN_FILES_CHANGED == 0 && services == 0)) && [[ -z $installed ]]; then
    tn_mark "done no changes"
  else
    tn_mark "done changed: $TN_FILES_CHANGED files, $services services$installed"
  fi
}

tn_main() {
  local preflight_only=0
  if [[ ${1:-} == --preflight-only ]]; then preflight_only=1; fi
  TN_RESULTS=${TETRANOMAD_RESULTS:-}
  if [[ -z $TN_RESULTS ]]; then
    tn_fail "TETRANOMAD_RESULTS is not set: execute_command must pass {{.Vars}} to the script"
  fi
  echo "tetranomad $TN_PLUGIN_VERSION, bundle $TN_BUNDLE_ID"
  tn_extract

  tn_step preflight "checking the VM before changing anything"
  tn_preflight
  if ((preflight_only)); then
    tn_mark "done preflight passed"
    return 0
  fi
  tn_step packages "installing what is missing"
  tn_packages
  tn_step docker "Docker engine (docker.source = $TN_DOCKER_SOURCE)"
  tn_docker
  tn_step logging "logging agent (logging.agent = $TN_AGENT)"
  tn_logging
  tn_step nomad "Nomad client (nomad.install = $TN_NOMAD_INSTALL)"
  tn_nomad
  tn_summary
}

tn_main "$@"
exit
