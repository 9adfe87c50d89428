#!/usr/bin/env bash
# Builds (once, cached by a content hash) a Debian 12 rootfs with systemd as a Docker image for the
# real-host role tests, and prints the image tag on stdout.
#   DOCKER_HOST            the docker daemon to import into (required by the docker client)
#   FLEET_TEST_CACHE       cache dir for the rootfs tarball (default /var/cache/gpu-fleet-test)
#   FLEET_TEST_MIRROR      Debian mirror (default: the first deb.debian.org-style URI apt uses here)
set -euo pipefail

cache="${FLEET_TEST_CACHE:-/var/cache/gpu-fleet-test}"
mirror="${FLEET_TEST_MIRROR:-http://deb.debian.org/debian}"
# The test host starts with what a fresh minimal server has: systemd, dbus, iproute2, procps. The
# roles install everything else themselves. redis-server is the stand-in for the fleet's Redis host.
include="systemd,systemd-sysv,dbus,iproute2,procps,kmod,redis-server,netcat-openbsd"
recipe="bookworm|minbase|${include}|${mirror}|v1"
hash="$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
tag="gpu-fleet-test-host:${hash}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi

mkdir -p "$cache"
tarball="$cache/debian12-systemd-${hash}.tar"
if [[ ! -s "$tarball" ]]; then
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
  work="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase --include="$include" bookworm "$work/rootfs" "$mirror" >&2
  # Services a container host does not need (and that fail without hardware).
  chroot "$work/rootfs" systemctl mask systemd-udevd.service systemd-udevd-control.socket \
    systemd-udevd-kernel.socket getty@tty1.service console-getty.service \
    systemd-resolved.service sys-kernel-config.mount >&2 2>/dev/null || true
  chroot "$work/rootfs" systemctl disable redis-server.service >&2 2>/dev/null || true
  rm -f "$work/rootfs/etc/machine-id" && : > "$work/rootfs/etc/machine-id"
  echo gpu-fleet-test > "$work/rootfs/etc/hostname"
  tar -C "$work/rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
docker import --change 'CMD ["/sbin/init"]' "$tarball" "$tag" >&2
echo "$tag"
