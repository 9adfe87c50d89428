#!/usr/bin/env bash
# await-boot: after a role scheduled a reboot, wait until the host has booted again and settled.
# Inputs: FLEET_HOST, FLEET_PREVIOUS_BOOT_ID (the boot id the role printed; empty = no reboot was
# scheduled), FLEET_TIMEOUT_SECONDS (default 600).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
role_init await-boot

prev="${FLEET_PREVIOUS_BOOT_ID:-}"
timeout_s="${FLEET_TIMEOUT_SECONDS:-600}"
[[ "$timeout_s" =~ ^[0-9]+$ ]] || fail "FLEET_TIMEOUT_SECONDS='${timeout_s}' is not a number" "pass seconds"
if [[ -z "$prev" ]]; then
  finish "no reboot was scheduled, nothing to wait for"
  exit 0
fi

deadline=$((SECONDS + timeout_s))
while [[ "$(cat /proc/sys/kernel/random/boot_id)" == "$prev" ]]; do
  # Still the old boot: a reboot must be pending (the timer, or shutdown under way).
  state="$(systemctl is-system-running 2>/dev/null || true)"
  if ! systemctl is-active --quiet gpu-fleet-reboot.timer && [[ "$state" != stopping ]]; then
    fail "the host still runs boot ${prev} and no reboot is pending (gpu-fleet-reboot.timer is gone)" \
      "reboot the host by hand ('systemctl reboot'), then run the deployment again"
  fi
  ((SECONDS < deadline)) || fail "the host did not reboot within ${timeout_s}s (still boot ${prev})" "check the host's console; reboot it by hand if it hangs"
  sleep 2
done

left=$((deadline - SECONDS))
((left > 0)) || left=1
state="$(timeout "$left" systemctl is-system-running --wait 2>/dev/null || true)"
case "$state" in
  running) ;;
  degraded) log "system is degraded: $(systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')" ;;
  *) fail "the host rebooted but did not finish booting within ${timeout_s}s (state '${state:-unknown}')" "run 'systemctl list-jobs' and 'systemctl --failed' on the host" ;;
esac
finish "host rebooted (boot id $(cat /proc/sys/kernel/random/boot_id)), system ${state}"
