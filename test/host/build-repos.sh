#!/usr/bin/env bash
# Builds the stand-in apt repositories for the host tests into OUT_DIR (argument 1):
#   nvidia/         driver packages under NVIDIA's Debian names (branch 580), fake nvidia-smi and MPS
#   nvidia-broken/  the same names, but the driver package fails in its postinst
#   ctk/            nvidia-container-toolkit with a fake nvidia-ctk
#   tailscale/      tailscale with a fake tailscale CLI and tailscaled
# Each is a flat repository (`deb [trusted=yes] file:/DIR ./`). Every fake records its calls in
# /var/log/fleet-fake-calls.log on the test host.
set -euo pipefail
out="$1"
fakes="$(cd "$(dirname "${BASH_SOURCE[0]}")/fakes" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"/{nvidia,nvidia-broken,ctk,tailscale}

# mkpkg REPO NAME VERSION DEPENDS POSTINST_BODY [SRC:DEST ...]
mkpkg() {
  local repo=$1 name=$2 version=$3 depends=$4 postinst=$5
  shift 5
  local root="$work/$repo-$name"
  mkdir -p "$root/DEBIAN"
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: all"
    echo "Maintainer: gpu-fleet tests <tests@example.invalid>"
    [[ -z "$depends" ]] || echo "Depends: $depends"
    echo "Description: gpu-fleet test stand-in for $name"
  } >"$root/DEBIAN/control"
  # shellcheck disable=SC2016 # $1 belongs to the generated postinst, not to this script
  printf '#!/bin/sh\nset -e\necho "dpkg postinst %s $1" >>/var/log/fleet-fake-calls.log\n%s\n' "$name" "$postinst" >"$root/DEBIAN/postinst"
  chmod 0755 "$root/DEBIAN/postinst"
  local spec src dest
  for spec in "$@"; do
    src="${spec%%:*}" dest="${spec#*:}"
    mkdir -p "$root/$(dirname "$dest")"
    cp "$src" "$root/$dest"
  done
  dpkg-deb --root-owner-group -Zgzip -b "$root" "$out/$repo/${name}_${version}_all.deb" >/dev/null
}

persistenced="$work/nvidia-persistenced"
printf '#!/bin/bash\necho "nvidia-persistenced start" >>/var/log/fleet-fake-calls.log\nexec sleep infinity\n' >"$persistenced"
chmod 0755 "$persistenced"
printf '[Unit]\nDescription=NVIDIA Persistence Daemon (test stand-in)\n[Service]\nExecStart=/usr/bin/nvidia-persistenced\n[Install]\nWantedBy=multi-user.target\n' >"$work/nvidia-persistenced.service"
tsunit="$work/tailscaled.service"
printf '[Unit]\nDescription=Tailscale node agent (test stand-in)\n[Service]\nExecStart=/usr/sbin/tailscaled\nRestart=on-failure\n[Install]\nWantedBy=multi-user.target\n' >"$tsunit"

v=580.95.05-1
for repo in nvidia nvidia-broken; do
  mkpkg "$repo" nvidia-driver-pinning-580 "$v" "" ""
  mkpkg "$repo" nvidia-kernel-open-dkms "$v" "" ""
  mkpkg "$repo" nvidia-kernel-dkms "$v" "" ""
done
mkpkg nvidia nvidia-driver-cuda "$v" "" "" \
  "$fakes/nvidia-smi:usr/bin/nvidia-smi" \
  "$fakes/nvidia-cuda-mps-control:usr/bin/nvidia-cuda-mps-control" \
  "$persistenced:usr/bin/nvidia-persistenced" \
  "$work/nvidia-persistenced.service:lib/systemd/system/nvidia-persistenced.service"
mkpkg nvidia-broken nvidia-driver-cuda "$v" "" 'echo "Error! Bad return status for module build on kernel (fake DKMS)" >&2; exit 10'
mkpkg ctk nvidia-container-toolkit 1.17.8-1 "jq" "" \
  "$fakes/nvidia-ctk:usr/bin/nvidia-ctk"
mkpkg tailscale tailscale 1.90.6 "jq" "" \
  "$fakes/tailscale:usr/bin/tailscale" \
  "$fakes/tailscaled:usr/sbin/tailscaled" \
  "$tsunit:lib/systemd/system/tailscaled.service"

for repo in nvidia nvidia-broken ctk tailscale; do
  (cd "$out/$repo" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages)
done
