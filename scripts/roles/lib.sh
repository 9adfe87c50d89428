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

# write_file PATH MODE < content: writes only when the content or mode differs; sets WROTE=1 when
# it wrote, WROTE=0 when the file was already right. Call it as a plain command, never in a
# condition or a pipeline (a pipeline runs it in a subshell, where WROTE and a failure get lost).
# Every step is checked here, so a failed write fails the role even where errexit does not apply,
# and the write is atomic: a temp file in the same directory, renamed over PATH only when complete.
WROTE=0
write_file() {
  local path=$1 mode=$2 dir tmp current_mode
  WROTE=0
  dir="${path%/*}"
  local hint="check that ${dir:-/} is writable and has free space (df -h ${dir:-/}), then run the role again"
  mkdir -p "${dir:-/}" || fail "cannot create the directory ${dir}" "$hint"
  tmp="$(mktemp "${dir}/.gpu-fleet-write.XXXXXX" 2>/dev/null)" || fail "cannot write ${path}: cannot create a file in ${dir}" "$hint"
  if ! cat >"$tmp"; then
    rm -f "$tmp"
    fail "cannot write ${path} (nothing changed)" "$hint"
  fi
  if [[ -f "$path" ]] && cmp -s "$tmp" "$path"; then
    current_mode="$(stat -c %a "$path")" || current_mode=""
    if [[ "$current_mode" == "${mode#0}" ]]; then
      rm -f "$tmp"
      return 0
    fi
  fi
  if ! chmod "$mode" "$tmp" || ! mv -f "$tmp" "$path"; then
    rm -f "$tmp"
    fail "cannot write ${path} (nothing changed)" "$hint"
  fi
  WROTE=1
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

# apt_source NAME LINE: /etc/apt/sources.list.d/NAME.list holds exactly LINE. WROTE=1 when it
# changed (and the next apt_update runs again).
apt_source() {
  write_file "/etc/apt/sources.list.d/$1.list" 0644 <<<"$2"
  if ((WROTE == 1)); then APT_UPDATED=0; fi
}

# fetch URL DEST: download a file (curl is installed by the base role).
fetch() {
  command -v curl >/dev/null || apt_install curl ca-certificates
  curl -fsSL --retry 3 -o "$2" "$1" || fail "cannot download $1" "check the host's outbound HTTPS access, or point the *_APT_REPO override at a reachable mirror"
}

# key_fingerprints FILE: the full fingerprints of the primary keys in FILE (armored or binary),
# sorted and comma-separated; empty when FILE holds no OpenPGP key.
key_fingerprints() {
  local home listing=""
  home="$(mktemp -d)"
  listing="$(gpg --homedir "$home" --batch --with-colons --show-keys "$1" 2>/dev/null)" || listing=""
  rm -rf "$home"
  # The fpr record right after a pub record is the primary key's; later ones are subkeys'.
  awk -F: '$1 == "pub" { primary = 1; next } $1 == "fpr" && primary { print $10 } { primary = 0 }' <<<"$listing" | sort | paste -sd, -
}

# install_keyring URL DEST FINGERPRINT: DEST holds exactly the vendor key whose primary key has the
# full FINGERPRINT (40 hex digits, written in the role with the place it was read). It is fetched
# from URL when DEST is missing or holds anything else, and checked before it is written: a key
# with another fingerprint, or a download that is no key, fails the role with nothing written.
# WROTE=1 when DEST was (re)written.
install_keyring() {
  local url=$1 dest=$2 want=$3 have work
  WROTE=0
  [[ "$want" =~ ^[0-9A-F]{40}$ ]] || fail "'${want}' is not a full key fingerprint (40 hex digits, upper case)" "fix the fingerprint in the role or the *_APT_KEY_FINGERPRINT override"
  command -v gpg >/dev/null || apt_install gnupg
  if [[ -s "$dest" ]]; then
    have="$(key_fingerprints "$dest")"
    [[ "$have" != "$want" ]] || return 0
    log "${dest} holds key ${have:-<none>}, not ${want}: fetching it again"
  fi
  work="$(mktemp -d)"
  fetch "$url" "${work}/key"
  have="$(key_fingerprints "${work}/key")"
  if [[ "$have" != "$want" ]]; then
    rm -rf "$work"
    fail "the signing key from ${url} has fingerprint ${have:-<none: not an OpenPGP key>}, expected ${want}; nothing was installed from it" \
      "do not trust this repository until the fingerprint is explained: compare it with the vendor's published one; a mirror with its own key needs its *_APT_KEY_FINGERPRINT"
  fi
  # apt's signed-by takes a binary keyring: dearmor an armored key, keep a binary one.
  if grep -q 'BEGIN PGP' "${work}/key"; then
    gpg --batch --yes --dearmor -o "${work}/keyring" "${work}/key" 2>/dev/null || rm -f "${work}/keyring"
  else
    cp "${work}/key" "${work}/keyring"
  fi
  if [[ ! -s "${work}/keyring" ]]; then
    rm -rf "$work"
    fail "cannot convert the signing key from ${url} to a keyring" "run 'gpg --show-keys' on the downloaded key on the host"
  fi
  write_file "$dest" 0644 <"${work}/keyring"
  rm -rf "$work"
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
