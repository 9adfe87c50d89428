#!/usr/bin/env bash
# Runs on the Pulumi runner after a role that may have scheduled a reboot. When the role reported a
# boot id (FLEET_PREVIOUS_BOOT_ID), waits until the host answers over ssh with a different one.
# A reboot cannot be awaited on the host itself: it would end the command's own SSH session.
#
# Once the host is back, it runs FLEET_SETTLE_COMMAND there (the await-boot role: waits until
# systemd has settled), so the next role starts on a booted system.
#
# Only "not up yet" is waited out (connection refused or timed out, no route, sshd not answering,
# the old boot still up). What waiting cannot fix fails at once, with ssh's own words: a host key
# that is not the pinned one, a refused login (wrong key, or no such user), a failing command.
#
# Inputs: FLEET_HOST, FLEET_PREVIOUS_BOOT_ID (empty: nothing to wait for), FLEET_SSH_HOST,
# FLEET_SSH_PORT, FLEET_SSH_USER, FLEET_SSH_KNOWN_HOSTS (known_hosts lines `* <type> <base64>`, one per
# pinned key; empty only for trust-on-first-use: the first key seen is then pinned for the wait),
# FLEET_SETTLE_COMMAND, FLEET_TIMEOUT_SECONDS (default 900). The private key comes on stdin (empty: the runner's
# ssh-agent), never in argv; it lives in a private temp directory removed on every exit, signals
# included.
set -euo pipefail

host=${FLEET_HOST:?FLEET_HOST is required}
previous=${FLEET_PREVIOUS_BOOT_ID:-}
timeout=${FLEET_TIMEOUT_SECONDS:-900}

if [[ -z "$previous" ]]; then
  cat >/dev/null # drain the key
  echo "ok: no reboot scheduled on $host"
  exit 0
fi
[[ "$previous" =~ ^[0-9a-f-]+$ ]] || { echo "failed: await-reboot on $host: '$previous' is not a boot id" >&2; exit 1; }
[[ "$timeout" =~ ^[0-9]+$ ]] || { echo "failed: await-reboot on $host: FLEET_TIMEOUT_SECONDS='$timeout' is not a number" >&2; exit 1; }
ssh_host=${FLEET_SSH_HOST:?FLEET_SSH_HOST is required}
ssh_port=${FLEET_SSH_PORT:-22}
ssh_user=${FLEET_SSH_USER:-root}
[[ "$ssh_port" =~ ^[0-9]+$ ]] || { echo "failed: await-reboot on $host: FLEET_SSH_PORT='$ssh_port' is not a port" >&2; exit 1; }

umask 077
work=$(mktemp -d)
ssh_pid=""
trap 'if [[ -n "$ssh_pid" ]]; then kill "$ssh_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
# A signal ends the script through exit, so the EXIT trap removes the key (ssh runs in the
# background and is awaited with `wait`, which a signal interrupts at once).
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
cat >"$work/key"
ssh_opts=(-p "$ssh_port" -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5 -o "UserKnownHostsFile=$work/known_hosts" -o GlobalKnownHostsFile=/dev/null)
[[ ! -s "$work/key" ]] || ssh_opts+=(-i "$work/key" -o IdentitiesOnly=yes)
# Every pinned key is accepted, and no other (the `*` pattern: this file serves this one host, on
# any port).
printf '%s' "${FLEET_SSH_KNOWN_HOSTS:-}" >"$work/known_hosts"
if [[ -s "$work/known_hosts" ]]; then
  ssh_opts+=(-o StrictHostKeyChecking=yes)
else
  # trust-on-first-use (plan warned): the first key seen is written here and must not change after.
  echo "await-reboot: $host has no pinned host key: trusting the first key it shows during this wait" >&2
  ssh_opts+=(-o StrictHostKeyChecking=accept-new)
fi

# remote COMMAND: runs it on the host; sets out, err and rc (never exits on a failure).
out="" err="" rc=0
remote() {
  rc=0
  # shellcheck disable=SC2029 # the command is built here on purpose and runs on the host
  ssh "${ssh_opts[@]}" "${ssh_user}@${ssh_host}" "$1" >"$work/out" 2>"$work/err" </dev/null &
  ssh_pid=$!
  wait "$ssh_pid" || rc=$?
  ssh_pid=""
  out=$(<"$work/out")
  err=$(tr -s '\r\n' '  ' <"$work/err")
  err=${err% }
}

# classify: "retry" when the failure only says the host is not up yet; otherwise the cause.
classify() {
  if ((rc != 255)); then
    echo "the command on the host exited ${rc}: ${err:-no error output}"
    return 0
  fi
  case "$err" in
    *"REMOTE HOST IDENTIFICATION HAS CHANGED"* | *"Host key verification failed"* | *"host key"*"differs"* | *"No "*"host key is known"*)
      echo "${ssh_host}:${ssh_port} answered with a host key that is not the pinned one (ssh: ${err}). hint: compare with npm run keyscan; if the machine was reinstalled, pin its new hostKey; otherwise treat it as a man in the middle" ;;
    *"Permission denied"* | *"Too many authentication failures"*)
      echo "the host refused the login of ${ssh_user} (ssh: ${err}). hint: check that the user ${ssh_user} exists on ${host} and that the runner's key is in its authorized_keys" ;;
    *"Connection refused"* | *"Connection timed out"* | *"timed out"* | *"No route to host"* | *"Network is unreachable"* | \
      *"Connection reset"* | *"Connection closed"* | *"kex_exchange_identification"* | *"Could not resolve hostname"* | \
      *"Temporary failure in name resolution"* | *"Broken pipe"* | *"closed by remote host"* | "")
      echo retry ;;
    *) echo "ssh failed: ${err}. hint: run the same ssh by hand from the runner" ;;
  esac
}

deadline=$((SECONDS + timeout))
last="no answer yet"
for (( ; ; )); do
  remote 'cat /proc/sys/kernel/random/boot_id'
  if ((rc == 0)); then
    current=${out//[[:space:]]/}
    if [[ -n "$current" && "$current" != "$previous" ]]; then break; fi
    last="still boot ${previous}"
  else
    cause=$(classify)
    if [[ "$cause" != retry ]]; then
      echo "failed: await-reboot on $host: ${cause}" >&2
      exit 1
    fi
    last="not up yet (${err:-no answer})"
  fi
  if ((SECONDS >= deadline)); then
    echo "failed: await-reboot on $host: no new boot within ${timeout}s (last: ${last}). hint: check the console of $host; the driver install may need attention (journalctl -b -1)." >&2
    exit 1
  fi
  sleep 5
done

if [[ -n "${FLEET_SETTLE_COMMAND:-}" ]]; then
  remote "${FLEET_SETTLE_COMMAND//@PREVIOUS_BOOT_ID@/$previous}"
  printf '%s\n' "$out" >&2
  if ((rc != 0)); then
    echo "failed: await-reboot on $host: the host came back but did not settle ($(classify)). hint: systemctl --failed on $host" >&2
    exit 1
  fi
fi
echo "changed: $host rebooted (boot id $previous -> $current)"
