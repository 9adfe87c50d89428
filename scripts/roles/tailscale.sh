#!/usr/bin/env bash
# tailscale: Tailscale from Tailscale's apt repository, enrolled once with a tagged auth key read from
# stdin. A node that is already logged in never receives the key again; its settings change with
# `tailscale set`.
# Inputs:
#   FLEET_HOST
#   FLEET_TS_HOSTNAME          the node's tailnet name (default FLEET_HOST)
#   FLEET_TS_TAGS              comma list of tags, with or without the tag: prefix
#   FLEET_TAILSCALE_APT_REPO   a full `deb ...` line (used as is: its signed-by is yours to check), or the
#                              repository base URL (default https://pkgs.tailscale.com/stable)
#   FLEET_TAILSCALE_APT_KEY_FINGERPRINT  the signing key's fingerprint, for a mirror with its own key
#                              (default: Tailscale's, below)
#   FLEET_TIMEOUT_SECONDS      how long to wait for tailscaled and enrollment (default 60)
#   stdin                      the auth key (read only when the node needs login)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
role_init tailscale

# Tailscale's package signing key, "Tailscale Inc. (Package repository signing key)", as listed by
# `gpg --show-keys` on https://pkgs.tailscale.com/stable/debian/bookworm.noarmor.gpg (the key
# Tailscale's Linux install instructions, https://tailscale.com/kb/1031/install-linux and
# https://pkgs.tailscale.com/stable/#debian-bookworm, have apt trust). docs/roles.md, "Apt keys".
readonly TAILSCALE_KEY_FINGERPRINT=2596A99EAAB33821893C0A79458CA832957F5868

ts_hostname="${FLEET_TS_HOSTNAME:-$FLEET_HOST}"
timeout_s="${FLEET_TIMEOUT_SECONDS:-60}"
[[ "$ts_hostname" =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,62}$ ]] || fail "FLEET_TS_HOSTNAME='${ts_hostname}' is not a valid host name" "use letters, digits and dashes"
tags=""
if [[ -n "${FLEET_TS_TAGS:-}" ]]; then
  IFS=',' read -r -a tag_list <<<"$FLEET_TS_TAGS"
  for t in "${tag_list[@]}"; do
    t="${t// /}"
    [[ -n "$t" ]] || continue
    [[ "$t" == tag:* ]] || t="tag:${t}"
    [[ "$t" =~ ^tag:[A-Za-z0-9-]+$ ]] || fail "tag '${t}' is not a valid tailnet tag" "use tags like tag:gpu-worker"
    tags+="${tags:+,}${t}"
  done
fi
command -v jq >/dev/null || fail "jq is missing" "run the base role first"

# shellcheck disable=SC2310 # pkg_installed is a predicate
if ! pkg_installed tailscale; then
  repo="${FLEET_TAILSCALE_APT_REPO:-https://pkgs.tailscale.com/stable}"
  keyring=/usr/share/keyrings/tailscale-archive-keyring.gpg
  if [[ "$repo" == deb\ * ]]; then
    line="$repo"
  else
    repo="${repo%/}"
    install_keyring "${repo}/${OS_ID}/${OS_CODENAME}.noarmor.gpg" "$keyring" "${FLEET_TAILSCALE_APT_KEY_FINGERPRINT:-$TAILSCALE_KEY_FINGERPRINT}"
    ((WROTE == 0)) || changed "Tailscale signing key"
    line="deb [signed-by=${keyring}] ${repo}/${OS_ID} ${OS_CODENAME} main"
  fi
  apt_source gpu-fleet-tailscale "$line"
  ((WROTE == 0)) || changed "Tailscale apt source"
  apt_install tailscale
  [[ -z "$APT_INSTALLED" ]] || changed "installed ${APT_INSTALLED}"
fi
ensure_service tailscaled.service

status_json() { tailscale status --json 2>/dev/null || true; }
backend_state() {
  local s
  # shellcheck disable=SC2310 # status_json is a query: no answer means not up yet
  s="$(status_json | jq -r '.BackendState // empty' 2>/dev/null || true)"
  echo "${s:-NoState}"
}

# tailscaled may need a moment after (re)start before it answers.
deadline=$((SECONDS + timeout_s))
# shellcheck disable=SC2310 # status_json is a query, as above
until [[ -n "$(status_json)" ]]; do
  ((SECONDS < deadline)) || fail "tailscaled does not answer 'tailscale status' within ${timeout_s}s" "run 'journalctl -u tailscaled -n 50' on the host"
  sleep 1
done
state="$(backend_state)"

# --ssh: Tailscale SSH for the policy's admins (it serves the host's own /etc/ssh host keys, so a
# pinned hostKey still matches). `up` must repeat it every time, like every non-default flag.
up_flags=(--hostname="$ts_hostname" --ssh --timeout="${timeout_s}s")
[[ -z "$tags" ]] || up_flags+=(--advertise-tags="$tags")

case "$state" in
  NeedsLogin | NoState)
    key=""
    IFS= read -r key || true
    key="${key//[[:space:]]/}"
    [[ -n "$key" ]] || fail "the node needs login and no auth key came on stdin" "pass the host's Tailscale auth key on stdin (never as an argument)"
    keyfile="$(mktemp /run/gpu-fleet-ts-key.XXXXXX)"
    trap 'rm -f "$keyfile"' EXIT
    chmod 0600 "$keyfile"
    printf '%s\n' "$key" >"$keyfile"
    key=""
    if ! tailscale up --auth-key="file:${keyfile}" "${up_flags[@]}" >&2; then
      rm -f "$keyfile"
      fail "tailscale up with the auth key failed" "the key may be expired, used or lack the tags ${tags:-<none>} (tagOwners); make a new key and run again"
    fi
    rm -f "$keyfile"
    changed "enrolled in the tailnet as ${ts_hostname}${tags:+ with ${tags}}"
    ;;
  Stopped)
    # Logged in but down (tailscale down): bring it up without a key; up repeats every setting.
    tailscale up "${up_flags[@]}" >&2 || fail "tailscale up failed" "run 'tailscale status' on the host"
    changed "tailscale brought up"
    ;;
  NeedsMachineAuth)
    fail "the node waits for approval in the tailnet admin console" "approve ${ts_hostname} in the admin console, or use a pre-authorized auth key"
    ;;
  Running | Starting) ;;
  *) fail "tailscale is in state '${state}'" "run 'tailscale status' on the host" ;;
esac

# Logged in: settings change with `tailscale set`, never with the key.
self="$(status_json | jq -c '.Self // {}')"
current_name="$(jq -r '.HostName // empty' <<<"$self")"
if [[ "$current_name" != "$ts_hostname" ]]; then
  tailscale set --hostname="$ts_hostname" >&2 || fail "tailscale set --hostname failed" "run 'tailscale set --hostname=${ts_hostname}' on the host"
  changed "tailnet hostname ${current_name:-<none>} -> ${ts_hostname}"
fi
if [[ -n "$tags" ]]; then
  current_tags="$(jq -r '(.Tags // []) | sort | join(",")' <<<"$self")"
  want_tags="$(tr ',' '\n' <<<"$tags" | sort | paste -sd, -)"
  if [[ "$current_tags" != "$want_tags" ]]; then
    fail "the node carries tags '${current_tags:-<none>}', the stack wants '${want_tags}'" \
      "tags come from the auth key at enrollment: retag the node in the admin console, or remove it there ('tailscale logout' on the host) and deploy again with a new key"
  fi
fi

ip4="$(tailscale ip -4 2>/dev/null | head -n1 || true)"
[[ -n "$ip4" ]] || fail "tailscale has no IPv4 address" "run 'tailscale status' on the host"
if ((${#CHANGES[@]} > 0)); then
  changed "tailnet IPv4 ${ip4}"
fi
finish "tailscale running as ${ts_hostname} at ${ip4}${tags:+ with ${tags}}"
