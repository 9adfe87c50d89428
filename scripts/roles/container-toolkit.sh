#!/usr/bin/env bash
# container-toolkit: NVIDIA Container Toolkit from NVIDIA's apt repository and the nvidia runtime in
# Docker's daemon.json. Docker restarts only when daemon.json gained the runtime; no daemon-reload.
# Inputs:
#   FLEET_HOST, FLEET_GPU_COUNT (0 = skip)
#   FLEET_NVIDIA_CTK_APT_REPO  a full `deb ...` line, or the repository base URL
#                              (default https://nvidia.github.io/libnvidia-container/stable/deb/<arch>)
#   FLEET_NVIDIA_CTK_APT_KEY   signing key URL for a base URL (default https://nvidia.github.io/libnvidia-container/gpgkey)
#   FLEET_NVIDIA_CTK_APT_KEY_FINGERPRINT  that key's fingerprint, for a mirror with its own key (default NVIDIA's, below)
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

finish "NVIDIA Container Toolkit $(dpkg-query -W -f='${Version}' nvidia-container-toolkit) installed, docker has the nvidia runtime"
