# shellcheck shell=bash
# Shared helpers for the role scripts. Sourced, never run: each role does
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; role_init <role>
#
# Contract every role keeps (docs/roles.md):
#   - inputs only as FLEET_* environment variables, secrets only on stdin;
#   - the LAST line of stdout is `changed: <what>` or `ok: <what>`; everything else a role runs
#     writes to stderr (apt, systemctl, ...), so the status line stays last;
#   - on failure: exit non-zero, stderr says `failed: <role> on <host>: <reason>. hint: <what to do>`.

FLEET_HOST="${FLEET_HOST:-$(hostname 2>/dev/null || echo unknown-host)}"
ROLE="unknown-role"
CHANGES=()
OS_ID=""
OS_VERSION_ID=""
OS_CODENAME=""
export DEBIAN_FRONTEND=noninteractive

# fail REASON HINT: print the failure line and exit 1.
fail() {
  trap - ERR
  echo "failed: ${ROLE} on ${FLEET_HOST}: $1. hint: $2" >&2
  exit 1
}

# An unexpected failing command still ends with a failure line naming the host.
_on_err() {
  local rc=$? cmd=$1 line=$2
  fail "command '${cmd}' exited ${rc} (line ${line})" "read the output above; fix the cause and run the role again"
}

role_init() {
  ROLE="$1"
  set -E
  trap '_on_err "$BASH_COMMAND" "$LINENO"' ERR
  if [[ $EUID -ne 0 ]]; then
    fail "must run as root (running as uid ${EUID})" "run it with sudo or as root"
  fi
  require_supported_os
}

# Debian 12 and Ubuntu 22.04/24.04 only.
require_supported_os() {
  [[ -r /etc/os-release ]] || fail "cannot read /etc/os-release" "this role supports Debian 12 and Ubuntu 22.04/24.04 only"
  OS_ID="$(. /etc/os-release && echo "${ID:-}")"
  OS_VERSION_ID="$(. /etc/os-release && echo "${VERSION_ID:-}")"
  # shellcheck disable=SC2034 # used by the roles that source this file (apt suites)
  OS_CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  case "${OS_ID}:${OS_VERSION_ID}" in
    debian:12 | ubuntu:22.04 | ubuntu:24.04) ;;
    *)
      local pretty
      pretty="$(. /etc/os-release && echo "${PRETTY_NAME:-${OS_ID} ${OS_VERSION_ID}}")"
      fail "unsupported operating system '${pretty}' (ID=${OS_ID}, VERSION_ID=${OS_VERSION_ID})" \
        "use Debian 12 or Ubuntu 22.04/24.04, or remove this host from the stack"
      ;;
  esac
}

# changed WHAT: record a change for the status line.
changed() { CHANGES+=("$1"); }

# finish WHAT_WAS_CHECKED: print the status line (always the last line of stdout).
finish() {
  if ((${#CHANGES[@]} > 0)); then
    local joined
    joined="$(printf '%s; ' "${CHANGES[@]}")"
    echo "changed: ${joined%; }"
  else
    echo "ok: $1"
  fi
}

log() { echo "${ROLE}: $*" >&2; }

# write_file PATH MODE < content: writes only when the content or mode differs.
# Returns 0 when it wrote, 1 when the file was already right.
write_file() {
  local path=$1 mode=$2 tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if [[ -f "$path" ]] && cmp -s "$tmp" "$path" && [[ "$(stat -c %a "$path")" == "${mode#0}" ]]; then
    rm -f "$tmp"
    return 1
  fi
  mkdir -p "$(dirname "$path")"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  return 0
}

pkg_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

APT_UPDATED=0
apt_update() {
  if ((APT_UPDATED == 0)); then
    apt-get update -q >&2 || fail "apt-get update failed" "check the host's apt sources and network (apt-get update shows the failing source)"
    APT_UPDATED=1
  fi
}

# apt_install PKG...: installs the packages not yet installed; APT_INSTALLED lists what it installed.
APT_INSTALLED=""
apt_install() {
  local missing=() p
  APT_INSTALLED=""
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  ((${#missing[@]} > 0)) || return 0
  apt_update
  if ! apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >&2; then
    fail "apt-get install ${missing[*]} failed" \
      "read the apt output above; 'dpkg --audit' and 'apt-get -f install' on the host show what is broken"
  fi
  # shellcheck disable=SC2034 # read by the roles that source this file
  APT_INSTALLED="${missing[*]}"
}

# apt_source NAME LINE: /etc/apt/sources.list.d/NAME.list holds exactly LINE.
# Returns 0 when it changed (and forces the next apt_update to run).
apt_source() {
  if printf '%s\n' "$2" | write_file "/etc/apt/sources.list.d/$1.list" 0644; then
    APT_UPDATED=0
    return 0
  fi
  return 1
}

# fetch URL DEST: download a file (curl is installed by the base role).
fetch() {
  command -v curl >/dev/null || apt_install curl ca-certificates
  curl -fsSL --retry 3 -o "$2" "$1" || fail "cannot download $1" "check the host's outbound HTTPS access, or point the *_APT_REPO override at a reachable mirror"
}

# install_keyring URL DEST: dearmored signing key (only when DEST is missing).
install_keyring() {
  local url=$1 dest=$2 tmp
  [[ -s "$dest" ]] && return 1
  command -v gpg >/dev/null || apt_install gnupg
  tmp="$(mktemp)"
  fetch "$url" "$tmp"
  mkdir -p "$(dirname "$dest")"
  if grep -q 'BEGIN PGP' "$tmp"; then
    gpg --batch --yes --dearmor -o "$dest" "$tmp"
  else
    install -m 0644 "$tmp" "$dest"
  fi
  chmod 0644 "$dest"
  rm -f "$tmp"
  return 0
}

# repo_line OVERRIDE DEFAULT_URL KEYRING SUITE_COMPONENTS: an apt line from an override that is either
# a full `deb ...` line (used as is) or a base URL (signed by KEYRING).
repo_line() {
  local override=$1 default_url=$2 keyring=$3 rest=$4
  if [[ "$override" == deb\ * ]]; then
    echo "$override"
  else
    echo "deb [signed-by=${keyring}] ${override:-$default_url} ${rest}"
  fi
}

systemd_booted() { [[ -d /run/systemd/system ]]; }

# ensure_service UNIT: enabled and running. Records changes.
ensure_service() {
  local unit=$1
  if [[ "$(systemctl is-enabled "$unit" 2>/dev/null || true)" != "enabled" ]]; then
    systemctl enable "$unit" >&2 2>&1 || fail "systemctl enable $unit failed" "run 'systemctl status $unit' on the host"
    changed "$unit enabled"
  fi
  if ! systemctl is-active --quiet "$unit"; then
    systemctl start "$unit" >&2 2>&1 || fail "$unit does not start" "run 'journalctl -u $unit -n 50' on the host"
    changed "$unit started"
  fi
}

gpu_indexes_valid() { [[ "$1" =~ ^[0-9]+(,[0-9]+)*$ ]]; }
