#!/usr/bin/env bash
# Builds (once, cached by content hashes) the reference worker image of docs/worker-contract.md from
# Debian 12 packages, and prints its tag on stdout. The same image runs Debian's redis-server, the
# real Redis beside the worker in check-image and tune tests.
#   DOCKER_HOST            the docker daemon to build into (required by the docker client)
#   FLEET_TEST_CACHE       cache dir for the rootfs tarball (default /var/cache/gpu-fleet-test)
#   FLEET_TEST_MIRROR      Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${FLEET_TEST_CACHE:-/var/cache/gpu-fleet-test}"
mirror="${FLEET_TEST_MIRROR:-http://deb.debian.org/debian}"
# python3-numpy pulls Debian's reference BLAS (libblas3, single-threaded): the worker's only compute
# threads are the ones it starts itself, so a thread count read from /proc is the worker's own.
include="python3,python3-numpy,python3-redis,redis-server"
recipe="bookworm|minbase|${include}|${mirror}|v1"
base="gpu-fleet-reference-base:$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"

if ! docker image inspect "$base" >/dev/null 2>&1; then
  mkdir -p "$cache"
  tarball="$cache/reference-base-${base##*:}.tar"
  if [[ ! -s "$tarball" ]]; then
    command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    work="$(mktemp -d "$cache/rootfs.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    debootstrap --variant=minbase --include="$include" bookworm "$work/rootfs" "$mirror" >&2
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
  fi
  docker import "$tarball" "$base" >&2
fi

tag="gpu-fleet-reference-worker:$(cat "$here/Dockerfile" "$here/worker.py" <(printf '%s' "$base") | sha256sum | cut -c1-12)"
if ! docker image inspect "$tag" >/dev/null 2>&1; then
  docker build -q --build-arg "BASE=${base}" -t "$tag" "$here" >&2
fi
echo "$tag"
