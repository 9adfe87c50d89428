#!/usr/bin/env bash
# nvidia-driver: the NVIDIA driver of one pinned branch, headless (compute-only) packages from NVIDIA's
# CUDA apt repository, nouveau blacklisted, nvidia-persistenced enabled. Reboots (scheduled in the
# background) only when the running driver is not the pinned one (it was just installed) or nouveau
# is loaded; never for a missing blacklist file alone.
# Inputs:
#   FLEET_HOST
#   FLEET_NVIDIA_DRIVER        managed | preinstalled | none (default none)
#   FLEET_NVIDIA_BRANCH        e.g. 580 (managed)
#   FLEET_NVIDIA_MODULES       open | proprietary (default open; proprietary for pre-Turing GPUs)
#   FLEET_NVIDIA_APT_REPO      a full `deb ...` line (used as is), or the repository base URL
#                              (default https://developer.download.nvidia.com/compute/cuda/repos/<distro>/<arch>)
#   FLEET_NVIDIA_APT_KEY       the signing key's URL for a base URL (default <base URL>/3bf863cc.pub)
#   FLEET_NVIDIA_APT_KEY_FINGERPRINT  that key's fingerprint, for a mirror with its own key (default NVIDIA's)
#   FLEET_NVIDIA_PACKAGES      space-separated package list replacing the default one (optional)
#   FLEET_REBOOT_DELAY_SECONDS delay of the scheduled reboot (default 5)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
role_init nvidia-driver

# The CUDA repository key 3bf863cc ("cudatools <cudatools@nvidia.com>"), which NVIDIA's CUDA
# repositories for Debian 12 and Ubuntu 22.04/24.04 are signed with since April 2022 (NVIDIA
# technical blog "Updating the CUDA Linux GPG Repository Key"; the key is <repo>/3bf863cc.pub and
# inside cuda-keyring_1.1-1). Debian 13's repository uses another key. docs/roles.md, "Apt keys".
readonly CUDA_KEY_FINGERPRINT=EB693B3035CD5710E231E123A4B469963BF863CC

mode="${FLEET_NVIDIA_DRIVER:-none}"
branch="${FLEET_NVIDIA_BRANCH:-}"
modules="${FLEET_NVIDIA_MODULES:-open}"
delay="${FLEET_REBOOT_DELAY_SECONDS:-5}"

smi_version() {
  command -v nvidia-smi >/dev/null || return 1
  local v
  v="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n1)" || return 1
  v="${v//[[:space:]]/}"
  [[ -n "$v" ]] || return 1
  echo "$v"
}

# The driver version the packages say is installed, when nvidia-smi cannot tell (e.g. before reboot).
pkg_driver_version() {
  local p v
  for p in nvidia-driver-cuda nvidia-driver cuda-drivers; do
    # shellcheck disable=SC2310 # pkg_installed is a predicate
    if pkg_installed "$p"; then
      v="$(dpkg-query -W -f='${Version}' "$p")"
      echo "${v#*:}"
      return 0
    fi
  done
  v="$(dpkg-query -W -f='${db:Status-Status} ${Package} ${Version}\n' 'libnvidia-compute-*' 2>/dev/null | awk '$1 == "installed" {print $3; exit}')"
  [[ -n "$v" ]] || return 1
  echo "${v#*:}"
}

case "$mode" in
  none)
    finish "NVIDIA driver not managed on ${FLEET_HOST} (FLEET_NVIDIA_DRIVER=none)"
    exit 0
    ;;
  preinstalled)
    # shellcheck disable=SC2310 # smi_version is a query: any failure inside means no working driver
    ver="$(smi_version)" || fail "FLEET_NVIDIA_DRIVER=preinstalled but nvidia-smi does not work" \
      "install the NVIDIA driver on the host (nvidia-smi must list the GPUs), or set the host's nvidia.driver to managed"
    finish "preinstalled NVIDIA driver ${ver} works (packages left untouched)"
    exit 0
    ;;
  managed) ;;
  *) fail "FLEET_NVIDIA_DRIVER='${mode}' is not managed, preinstalled or none" "fix the host's nvidia.driver in the stack config" ;;
esac

[[ "$branch" =~ ^[0-9]{3}$ ]] || fail "FLEET_NVIDIA_BRANCH='${branch}' is not a driver branch" "set the host's nvidia.branch, e.g. 580"
[[ "$modules" == open || "$modules" == proprietary ]] || fail "FLEET_NVIDIA_MODULES='${modules}' is not open or proprietary" "use open (Turing and newer) or proprietary (older GPUs)"

installed=""
smi_ok=0
# shellcheck disable=SC2310 # smi_version and pkg_driver_version are queries: a failure inside means not installed
if installed="$(smi_version)"; then
  smi_ok=1
elif ! installed="$(pkg_driver_version)"; then
  installed=""
fi
if [[ -n "$installed" && "${installed%%.*}" != "$branch" ]]; then
  fail "driver ${installed} (branch ${installed%%.*}) is installed, the stack pins branch ${branch}" \
    "set hosts.${FLEET_HOST}.nvidia.branch to ${installed%%.*}, or remove the installed driver by hand (apt-get purge 'nvidia-*' 'libnvidia-*'), reboot and run again; the role does not swap drivers under running workers"
fi

install_changed=0
if ((smi_ok == 0)); then
  if [[ -n "$installed" ]]; then
    fail "driver packages ${installed} are installed but nvidia-smi does not work" \
      "reboot the host if the driver was just installed; otherwise check 'dkms status' and 'dmesg | grep -i nvidia' (missing kernel headers, Secure Boot)"
  fi

  case "${OS_ID}:${OS_VERSION_ID}" in
    debian:12) distro=debian12 ;;
    ubuntu:22.04) distro=ubuntu2204 ;;
    ubuntu:24.04) distro=ubuntu2404 ;;
    *) fail "no NVIDIA CUDA repository for ${OS_ID} ${OS_VERSION_ID}" "use Debian 12 or Ubuntu 22.04/24.04" ;;
  esac
  case "$(dpkg --print-architecture)" in
    amd64) arch=x86_64 ;;
    arm64) arch=sbsa ;;
    *) fail "architecture $(dpkg --print-architecture) has no NVIDIA CUDA repository here" "use an amd64 or arm64 host" ;;
  esac
  default_url="https://developer.download.nvidia.com/compute/cuda/repos/${distro}/${arch}"
  repo="${FLEET_NVIDIA_APT_REPO:-$default_url}"
  cuda_key="${FLEET_NVIDIA_APT_KEY_FINGERPRINT:-$CUDA_KEY_FINGERPRINT}"
  # shellcheck disable=SC2310 # pkg_installed is a predicate
  if [[ "$repo" == deb\ * ]]; then
    apt_source gpu-fleet-nvidia "$repo"
    ((WROTE == 0)) || changed "NVIDIA apt source"
  elif pkg_installed cuda-keyring; then
    # NVIDIA's keyring package, installed by hand, carries its own source list for the default
    # repository: its key must be the pinned one all the same.
    repo="${repo%/}"
    have="$(key_fingerprints /usr/share/keyrings/cuda-archive-keyring.gpg)"
    [[ "$have" == "$cuda_key" ]] || fail "the installed cuda-keyring trusts key ${have:-<none>}, expected ${cuda_key}" \
      "compare /usr/share/keyrings/cuda-archive-keyring.gpg with NVIDIA's published key; purge cuda-keyring to let this role install the key itself"
    if [[ "$repo" != "$default_url" ]]; then
      apt_source gpu-fleet-nvidia "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] ${repo}/ /"
      ((WROTE == 0)) || changed "NVIDIA apt source"
    fi
  else
    repo="${repo%/}"
    keyring=/usr/share/keyrings/gpu-fleet-cuda-archive-keyring.gpg
    install_keyring "${FLEET_NVIDIA_APT_KEY:-${repo}/3bf863cc.pub}" "$keyring" "$cuda_key"
    ((WROTE == 0)) || changed "NVIDIA CUDA signing key"
    apt_source gpu-fleet-nvidia "deb [signed-by=${keyring}] ${repo}/ /"
    ((WROTE == 0)) || changed "NVIDIA apt source"
  fi

  apt_update
  if [[ -n "${FLEET_NVIDIA_PACKAGES:-}" ]]; then
    read -r -a packages <<<"$FLEET_NVIDIA_PACKAGES"
  else
    packages=()
    # NVIDIA's pinning package keeps apt on the branch (install it before the driver).
    if [[ "$OS_ID" == debian || "$branch" -ge 590 ]] && apt-cache show "nvidia-driver-pinning-${branch}" >/dev/null 2>&1; then
      apt_install "nvidia-driver-pinning-${branch}"
      [[ -z "$APT_INSTALLED" ]] || changed "installed ${APT_INSTALLED}"
    fi
    if [[ "$OS_ID" == debian ]]; then
      # Compute-only (headless) system, per NVIDIA's driver installation guide for Debian.
      packages=(nvidia-driver-cuda)
      if [[ "$modules" == open ]]; then packages+=(nvidia-kernel-open-dkms); else packages+=(nvidia-kernel-dkms); fi
    elif ((branch < 590)); then
      # Ubuntu: the branch is in the package names up to 580.
      if [[ "$modules" == open ]]; then packages=("nvidia-headless-${branch}-open"); else packages=("nvidia-headless-${branch}"); fi
      packages+=("nvidia-utils-${branch}")
    else
      # Ubuntu 590 and later: unversioned names, branch held by the pinning package.
      if [[ "$modules" == open ]]; then packages=(nvidia-headless-open); else packages=(nvidia-headless); fi
      packages+=(nvidia-utils)
    fi
  fi
  # DKMS builds the module for the running kernel: its headers must be there.
  headers="linux-headers-$(uname -r)"
  if apt-cache show "$headers" >/dev/null 2>&1; then
    packages=("$headers" "${packages[@]}")
  else
    log "no package ${headers} in the apt sources; DKMS builds only for kernels whose headers are installed"
  fi
  apt_install "${packages[@]}"
  if [[ -n "$APT_INSTALLED" ]]; then
    changed "installed ${APT_INSTALLED}"
    install_changed=1
  fi
  # shellcheck disable=SC2310 # queries, as above
  installed="$(smi_version || pkg_driver_version || echo "branch ${branch}")"
fi

# nouveau must not claim the GPUs.
if ! grep -Eqs '^[[:space:]]*blacklist[[:space:]]+nouveau' /etc/modprobe.d/*.conf /lib/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf; then
  write_file /etc/modprobe.d/gpu-fleet-blacklist-nouveau.conf 0644 <<<$'# Managed by gpu-fleet (scripts/roles/nvidia-driver.sh)\nblacklist nouveau\noptions nouveau modeset=0'
  if command -v update-initramfs >/dev/null; then
    update-initramfs -u >&2 || fail "update-initramfs failed after blacklisting nouveau" "run 'update-initramfs -u' on the host and read its error"
  fi
  changed "nouveau blacklisted"
  # A reboot is due only if nouveau holds a GPU now; a missing file alone (the pinned driver already
  # running) does not stop a host's workers.
  if [[ -d /sys/module/nouveau ]]; then
    changed "nouveau is loaded"
    install_changed=1
  fi
fi

# Persistence daemon keeps the GPUs initialised between jobs.
if systemctl cat nvidia-persistenced.service >/dev/null 2>&1; then
  if [[ "$(systemctl is-enabled nvidia-persistenced.service 2>/dev/null || true)" != enabled ]]; then
    systemctl enable nvidia-persistenced.service >&2 2>&1 || fail "cannot enable nvidia-persistenced" "run 'systemctl status nvidia-persistenced' on the host"
    changed "nvidia-persistenced enabled"
  fi
  # Right after an install the kernel module is often not loaded yet: the reboot starts it then.
  # shellcheck disable=SC2310 # smi_version is a query, as above
  if smi_version >/dev/null && ! systemctl is-active --quiet nvidia-persistenced.service; then
    systemctl start nvidia-persistenced.service >&2 2>&1 || fail "nvidia-persistenced does not start" "run 'journalctl -u nvidia-persistenced -n 50' on the host"
    changed "nvidia-persistenced started"
  fi
else
  log "no nvidia-persistenced.service on this host; persistence mode not managed"
fi

if ((install_changed == 1)); then
  boot_id="$(cat /proc/sys/kernel/random/boot_id)"
  if ! systemctl is-active --quiet gpu-fleet-reboot.timer; then
    systemd-run --unit=gpu-fleet-reboot --description="gpu-fleet: reboot after NVIDIA driver install" \
      --on-active="${delay}" /bin/systemctl reboot >&2 2>&1 ||
      fail "cannot schedule the reboot" "reboot the host by hand, then run the role again"
  fi
  echo "previous boot id: ${boot_id}"
  changed "reboot scheduled in ${delay}s (boot id ${boot_id})"
fi

finish "NVIDIA driver ${installed} (branch ${branch}, ${modules} modules) works, nouveau blacklisted"
