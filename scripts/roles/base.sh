#!/usr/bin/env bash
# base: what every worker host needs before the other roles: CA certificates, curl, gnupg, jq,
# time synchronisation, and a small sysctl/limits drop-in. Inputs: FLEET_HOST.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
role_init base

apt_install ca-certificates curl gnupg jq
[[ -z "$APT_INSTALLED" ]] || changed "installed ${APT_INSTALLED}"

# Time sync: keep whatever the host already uses (chrony, ntp, ntpsec, systemd-timesyncd);
# otherwise install and enable systemd-timesyncd.
timesync=""
for unit in chrony.service chronyd.service ntp.service ntpsec.service systemd-timesyncd.service; do
  if [[ "$(systemctl is-enabled "$unit" 2>/dev/null || true)" == "enabled" ]] || systemctl is-active --quiet "$unit"; then
    timesync="${unit%.service}"
    break
  fi
done
if [[ -z "$timesync" ]]; then
  apt_install systemd-timesyncd
  [[ -z "$APT_INSTALLED" ]] || changed "installed ${APT_INSTALLED}"
  # Starting is skipped by systemd itself where the unit's conditions say so (e.g. in containers).
  ensure_service systemd-timesyncd.service
  timesync=systemd-timesyncd
fi

# Many worker containers watch files and hold many connections.
write_file /etc/sysctl.d/90-gpu-fleet.conf 0644 <<'CONF'
# Managed by gpu-fleet (scripts/roles/base.sh); changes are overwritten.
fs.inotify.max_user_instances = 8192
fs.inotify.max_user_watches = 524288
net.core.somaxconn = 4096
CONF
if ((WROTE == 1)); then
  if systemd-detect-virt --quiet --container; then
    # A container cannot set its host's kernel settings; the file is for the day it is a real host.
    changed "sysctl drop-in written (not applied: running in a container)"
  else
    sysctl -q -p /etc/sysctl.d/90-gpu-fleet.conf >&2 || fail "sysctl could not apply /etc/sysctl.d/90-gpu-fleet.conf" "run 'sysctl -p /etc/sysctl.d/90-gpu-fleet.conf' on the host to see which key the kernel refuses"
    changed "sysctl drop-in written and applied"
  fi
fi

# MPS and busy workers need many file descriptors (login sessions; services set LimitNOFILE).
write_file /etc/security/limits.d/90-gpu-fleet.conf 0644 <<'CONF'
# Managed by gpu-fleet (scripts/roles/base.sh); changes are overwritten.
*    soft nofile 65536
*    hard nofile 65536
root soft nofile 65536
root hard nofile 65536
CONF
if ((WROTE == 1)); then
  changed "limits drop-in written"
fi

# The fleet's runtime directory under /run (tmpfs), made at every boot by systemd-tmpfiles-setup
# before any service starts (docs/faults.md, boot order). What lives in it comes from the roles
# that own it: the MPS pipe directory (mps.sh), the VRAM lease directory (container-toolkit.sh).
write_file /etc/tmpfiles.d/gpu-fleet.conf 0644 <<'CONF'
# Managed by gpu-fleet (scripts/roles/base.sh); changes are overwritten.
d /run/gpu-fleet 0755 root root -
CONF
if ((WROTE == 1)); then
  changed "tmpfiles entry /etc/tmpfiles.d/gpu-fleet.conf written"
fi
systemd-tmpfiles --create /etc/tmpfiles.d/gpu-fleet.conf >&2 || fail "systemd-tmpfiles could not create /run/gpu-fleet" "run 'systemd-tmpfiles --create /etc/tmpfiles.d/gpu-fleet.conf' on the host and read its error"

finish "base packages present, time sync by ${timesync}, sysctl, limits and tmpfiles drop-ins current"
