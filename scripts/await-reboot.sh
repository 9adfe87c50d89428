#!/usr/bin/env bash
# Runs on the Pulumi runner after a role that may have scheduled a reboot. When the role reported a
# boot id (FLEET_PREVIOUS_BOOT_ID), waits until the host answers over ssh with a different one.
# A reboot cannot be awaited on the host itself: it would end the command's own SSH session.
#
# Once the host is back, it runs FLEET_SETTLE_COMMAND there (the await-boot role: waits until
# systemd has settled), so the next role starts on a booted system.
#
# Inputs: FLEET_HOST, FLEET_PREVIOUS_BOOT_ID (empty: nothing to wait for), FLEET_SSH_HOST,
# FLEET_SSH_PORT, FLEET_SSH_USER, FLEET_SSH_KNOWN_HOSTS (known_hosts lines `* <type> <base64>`, one per
# pinned key; empty only for trust-on-first-use: the first key seen is then pinned for the wait),
# FLEET_SETTLE_COMMAND, FLEET_TIMEOUT_SECONDS (default 900). The private key comes on stdin (empty:
# the runner's ssh-agent), never in argv.
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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
cat >"$work/key"
ssh_opts=(-p "${FLEET_SSH_PORT:-22}" -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5)
[[ ! -s "$work/key" ]] || ssh_opts+=(-i "$work/key")
# Every pinned key is accepted, and no other (the `*` pattern: this file serves this one host).
printf '%s' "${FLEET_SSH_KNOWN_HOSTS:-}" >"$work/known_hosts"
if [[ -s "$work/known_hosts" ]]; then
  ssh_opts+=(-o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$work/known_hosts" -o GlobalKnownHostsFile=/dev/null)
else
  # trust-on-first-use (plan warned): the first key seen is written here and must not change after.
  ssh_opts+=(-o StrictHostKeyChecking=accept-new -o "UserKnownHostsFile=$work/known_hosts" -o GlobalKnownHostsFile=/dev/null)
fi

deadline=$((SECONDS + timeout))
while ((SECONDS < deadline)); do
  current=$(ssh "${ssh_opts[@]}" "${FLEET_SSH_USER:-root}@${FLEET_SSH_HOST:?}" 'cat /proc/sys/kernel/random/boot_id' 2>"$work/ssh.err" || true)
  # A key that is not the pinned one is an answer, not "not up yet": stop at once and say so.
  if grep -q -e 'Host key verification failed' -e 'REMOTE HOST IDENTIFICATION HAS CHANGED' -e 'No .* host key is known' "$work/ssh.err"; then
    echo "failed: await-reboot on $host: ${FLEET_SSH_HOST} answered with a host key that is not the pinned one. hint: compare with npm run keyscan; if the machine was reinstalled, pin its new hostKey." >&2
    exit 1
  fi
  if [[ -n "$current" && "$current" != "$previous" ]]; then
    if [[ -n "${FLEET_SETTLE_COMMAND:-}" ]]; then
      settle="${FLEET_SETTLE_COMMAND//@PREVIOUS_BOOT_ID@/$previous}"
      # shellcheck disable=SC2029 # the command is built here on purpose and runs on the host
      ssh "${ssh_opts[@]}" "${FLEET_SSH_USER:-root}@${FLEET_SSH_HOST}" "$settle" >&2 ||
        { echo "failed: await-reboot on $host: the host came back but did not settle. hint: systemctl --failed on $host" >&2; exit 1; }
    fi
    echo "changed: $host rebooted (boot id $previous -> $current)"
    exit 0
  fi
  sleep 5
done
echo "failed: await-reboot on $host: no new boot within ${timeout}s (boot id still $previous or host unreachable). hint: check the console of $host; the driver install may need attention (journalctl -b -1)." >&2
exit 1
