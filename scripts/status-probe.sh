#!/bin/bash
# What `gpu-fleet status` reads on a host, read-only, printed as sections (`@@name` then its lines).
# Sent over SSH on stdin: bash -s -- <fleet> <redis host> <redis port> <docker inspect template>
# The template prints one JSON line per container with only the environment variables the plan
# names, so secret values (REDIS_URL, service secrets) never leave the host.
set -uo pipefail
fleet="$1" redis_host="$2" redis_port="$3" template="$4"
export LC_ALL=C

section() { printf '@@%s\n' "$1"; }

section gpus
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,memory.used,memory.total,utilization.gpu,uuid,driver_version --format=csv,noheader,nounits 2>&1
  section cuda
  nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -n 1
  section apps
  nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader,nounits 2>&1
  section cgroups
  # The container of each GPU process: a 64-hex docker id in its cgroup paths. All of them: on a host
  # that is itself a container, its own id shows up too; the runner picks the fleet container's.
  nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null | while read -r pid; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    ids="$(grep -oE '[0-9a-f]{64}' "/proc/$pid/cgroup" 2>/dev/null | sort -u | tr '\n' ' ')"
    printf '%s %s\n' "$pid" "${ids:--}"
  done
else
  echo "@absent"
fi

section mps
if systemctl is-active --quiet gpu-fleet-mps.service 2>/dev/null || pgrep -x nvidia-cuda-mps-control >/dev/null 2>&1; then
  echo active
else
  echo inactive
fi

section containers
if command -v docker >/dev/null 2>&1; then
  ids="$(docker ps -aq --no-trunc --filter "label=gpu-fleet.fleet=${fleet}" 2>&1)" || { echo "@error ${ids}"; ids=""; }
  if [[ -n "$ids" ]]; then
    # shellcheck disable=SC2086 # one argument per container id
    docker inspect --format "$template" $ids 2>&1
    section images
    # shellcheck disable=SC2086
    mapfile -t images < <(docker inspect --format '{{.Image}}' $ids | sort -u)
    docker image inspect --format '{{.Id}} {{json .RepoTags}}' "${images[@]}" 2>&1
  fi
else
  echo "@absent"
fi

section roles
for f in "$HOME"/.gpu-fleet/roles/*.sh; do
  [[ -e "$f" ]] && sha256sum "$f"
done

section tailscale
if command -v tailscale >/dev/null 2>&1; then
  tailscale status --json --self=true --peers=false 2>&1 | tr -d '\n'
  echo
else
  echo "@absent"
fi

section redis
# shellcheck disable=SC2016 # $1 and $2 expand in the inner bash
if timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$redis_host" "$redis_port" 2>/dev/null; then
  echo reachable
else
  echo unreachable
fi
section end
