#!/usr/bin/env bash
# container-toolkit: NVIDIA Container Toolkit from NVIDIA's apt repository and the nvidia runtime in
# Docker's daemon.json. Docker restarts only when daemon.json gained the runtime; no daemon-reload.
# Then NVIDIA's fix for containers that lose their GPUs on any `systemctl daemon-reload` under the
# systemd cgroup driver ("Failed to initialize NVML: Unknown Error"; NVIDIA/nvidia-container-toolkit#48,
# the notice NVIDIA/nvidia-docker#1730, now the toolkit's troubleshooting page): /dev/char symlinks
# for every NVIDIA device node, created now with `nvidia-ctk system create-dev-char-symlinks
# --create-all` and at every driver load by NVIDIA's udev rule. And the VRAM lease directory that
# time-shared workers mount (docs/timeshare.md), from early boot on.
# Inputs:
#   FLEET_HOST, FLEET_GPU_COUNT (0 = skip)
#   FLEET_NVIDIA_CTK_APT_REPO  a full `deb ...` line, or the repository base URL
#                              (default https://nvidia.github.io/libnvidia-container/stable/deb/<arch>)
#   FLEET_NVIDIA_CTK_APT_KEY   signing key URL for a base URL (default https://nvidia.github.io/libnvidia-container/gpgkey)
#   FLEET_NVIDIA_CTK_APT_KEY_FINGERPRINT  that key's fingerprint, for a mirror with its own key (default NVIDIA's, below)
#   FLEET_LEASE_DIR            VRAM lease directory (default /run/gpu-fleet/leases)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
role_init container-toolkit

# The NVIDIA Container Toolkit repository key ("NVIDIA CORPORATION (Open Source Projects)"): the
# primary key of https://nvidia.github.io/libnvidia-container/gpgkey, which NVIDIA's install guide
# (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html) has
# apt trust. Its signing subkeys expire and are replaced; the primary key stays. docs/roles.md.
readonly NVIDIA_CTK_KEY_FINGERPRINT=C95B321B61E88C1809C4F759DDCAE044F796ECB0

gpus="${FLEET_GPU_COUNT:-0}"
[[ "$gpus" =~ ^[0-9]+$ ]] || fail "FLEET_GPU_COUNT='${gpus}' is not a number" "pass the number of GPUs the host has"
if ((gpus == 0)); then
  finish "no GPUs on ${FLEET_HOST}, NVIDIA Container Toolkit not needed"
  exit 0
fi
command -v jq >/dev/null || fail "jq is missing" "run the base role first"
command -v docker >/dev/null || fail "docker is not installed" "run the docker role first"

# shellcheck disable=SC2310 # pkg_installed is a predicate
if ! pkg_installed nvidia-container-toolkit; then
  keyring=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
  repo="${FLEET_NVIDIA_CTK_APT_REPO:-https://nvidia.github.io/libnvidia-container/stable/deb/$(dpkg --print-architecture)}"
  if [[ "$repo" != deb\ * ]]; then
    install_keyring "${FLEET_NVIDIA_CTK_APT_KEY:-https://nvidia.github.io/libnvidia-container/gpgkey}" "$keyring" \
      "${FLEET_NVIDIA_CTK_APT_KEY_FINGERPRINT:-$NVIDIA_CTK_KEY_FINGERPRINT}"
    ((WROTE == 0)) || changed "NVIDIA Container Toolkit signing key"
  fi
  line="$(repo_line "$repo" "" "$keyring" "/")"
  apt_source gpu-fleet-nvidia-container-toolkit "$line"
  ((WROTE == 0)) || changed "NVIDIA Container Toolkit apt source"
  apt_install nvidia-container-toolkit
  [[ -z "$APT_INSTALLED" ]] || changed "installed ${APT_INSTALLED}"
fi

conf=/etc/docker/daemon.json
if [[ -s "$conf" ]] && jq -e '.runtimes.nvidia' "$conf" >/dev/null 2>&1; then
  :
else
  nvidia-ctk runtime configure --runtime=docker --config="$conf" >&2 ||
    fail "nvidia-ctk could not add the nvidia runtime to ${conf}" "run 'nvidia-ctk runtime configure --runtime=docker' on the host and read its error"
  jq -e '.runtimes.nvidia' "$conf" >/dev/null 2>&1 || fail "${conf} still lacks the nvidia runtime after nvidia-ctk" "check ${conf} by hand"
  changed "nvidia runtime added to ${conf}"
  # Several config changes in a row must not trip systemd's start rate limit.
  systemctl reset-failed docker.service 2>/dev/null || true
  systemctl restart docker.service >&2 || fail "docker does not restart with the nvidia runtime" "run 'journalctl -u docker -n 50' on the host"
  changed "docker restarted"
fi

# The udev rule and path exactly as NVIDIA documents them (nvidia-docker#1730, workaround 1).
ctk=/usr/bin/nvidia-ctk
[[ -x "$ctk" ]] || fail "${ctk} is missing although nvidia-container-toolkit is installed" "reinstall it: apt-get install --reinstall nvidia-container-toolkit"
rule_path=/lib/udev/rules.d/71-nvidia-dev-char.rules
write_file "$rule_path" 0644 <<EOF
# Managed by gpu-fleet (scripts/roles/container-toolkit.sh). NVIDIA's fix for containers that lose
# their GPUs on systemctl daemon-reload: /dev/char symlinks to all NVIDIA device nodes at driver load.
ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", RUN+="${ctk} system create-dev-char-symlinks --create-all"
EOF
if ((WROTE == 1)); then
  changed "udev rule ${rule_path} written"
fi

# NVIDIA character devices whose /dev/char/<major>:<minor> link is missing or points elsewhere.
unlinked_devices() {
  local dev major minor link
  for dev in /dev/nvidia* /dev/nvidia-caps/*; do
    [[ -c "$dev" ]] || continue
    read -r major minor < <(stat -c '%t %T' "$dev")
    link="/dev/char/$((16#${major})):$((16#${minor}))"
    [[ "$(readlink -f "$link" 2>/dev/null)" == "$(readlink -f "$dev")" ]] || echo "$dev"
  done
}
unlinked="$(unlinked_devices)"
if [[ -n "$unlinked" ]]; then
  "$ctk" system create-dev-char-symlinks --create-all >&2 ||
    fail "nvidia-ctk could not create the /dev/char symlinks" "run '${ctk} system create-dev-char-symlinks --create-all' on the host and read its error"
  still="$(unlinked_devices)"
  [[ -z "$still" ]] || fail "/dev/char links still missing for $(echo "$still" | tr '\n' ' ')after nvidia-ctk" "check /dev/char on the host; the cgroupfs driver (docker exec-opts native.cgroupdriver=cgroupfs) is NVIDIA's other fix"
  changed "/dev/char symlinks for $(echo "$unlinked" | wc -l) NVIDIA device(s)"
fi

# The VRAM lease directory: any worker uid creates its own lease file, none deletes another's (the
# sticky bit, as /tmp). systemd-tmpfiles recreates it at every boot before Docker starts containers
# that mount it.
lease_dir="${FLEET_LEASE_DIR:-/run/gpu-fleet/leases}"
[[ "$lease_dir" =~ ^/[A-Za-z0-9._/-]+$ ]] || fail "'${lease_dir}' is not an absolute path of plain characters" "use a path such as /run/gpu-fleet/leases"
tmpfiles_path=/etc/tmpfiles.d/gpu-fleet-leases.conf
write_file "$tmpfiles_path" 0644 < <(printf '# Managed by gpu-fleet (scripts/roles/container-toolkit.sh): VRAM leases, docs/timeshare.md.\nd %s 1777 root root -\n' "$lease_dir")
if ((WROTE == 1)); then
  changed "${tmpfiles_path} written"
fi
if [[ "$(stat -c %a "$lease_dir" 2>/dev/null || true)" != 1777 ]]; then
  systemd-tmpfiles --create "$tmpfiles_path" >&2 || fail "systemd-tmpfiles could not create ${lease_dir}" "run 'systemd-tmpfiles --create ${tmpfiles_path}' on the host and read its error"
  [[ "$(stat -c %a "$lease_dir" 2>/dev/null || true)" == 1777 ]] || fail "${lease_dir} is not a directory with mode 1777 after systemd-tmpfiles" "check what else owns ${lease_dir} on the host"
  changed "lease directory ${lease_dir} created"
fi

finish "NVIDIA Container Toolkit $(dpkg-query -W -f='${Version}' nvidia-container-toolkit) installed, docker has the nvidia runtime, /dev/char symlinks and udev rule in place, lease directory ${lease_dir}"
