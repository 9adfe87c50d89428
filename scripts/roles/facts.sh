#!/usr/bin/env bash
# facts: report what the host has (one JSON line) and check it against what the stack declares.
# Inputs: FLEET_HOST, FLEET_EXPECT_CORES, FLEET_EXPECT_RAM_MIB, FLEET_EXPECT_GPU_VRAM_MIB (comma list by
# GPU index). Changes nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
role_init facts

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

cores="$(nproc)"
ram_kib="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
ram_mib=$((ram_kib / 1024))
kernel="$(uname -r)"

gpu_names=() gpu_vram=() gpu_cc=() gpu_driver=()
driver_ok=0
if command -v nvidia-smi >/dev/null; then
  if out="$(nvidia-smi --query-gpu=index,name,memory.total,compute_cap,driver_version --format=csv,noheader,nounits 2>&1)"; then
    driver_ok=1
    while IFS=',' read -r idx name vram cc drv; do
      [[ -n "${idx// /}" ]] || continue
      name="${name#"${name%%[![:space:]]*}"}"
      gpu_names+=("${name%"${name##*[![:space:]]}"}")
      gpu_vram+=("${vram//[[:space:]]/}")
      gpu_cc+=("${cc//[[:space:]]/}")
      gpu_driver+=("${drv//[[:space:]]/}")
    done <<<"$out"
  else
    log "nvidia-smi is installed but fails: ${out}"
  fi
fi

gpus_json=""
for i in "${!gpu_names[@]}"; do
  vram="${gpu_vram[$i]}"
  [[ "$vram" =~ ^[0-9]+$ ]] || vram=null
  gpus_json+="${gpus_json:+,}{\"index\":${i},\"name\":$(json_str "${gpu_names[$i]}"),\"vramMiB\":${vram},\"computeCapability\":$(json_str "${gpu_cc[$i]}"),\"driver\":$(json_str "${gpu_driver[$i]}")}"
done
printf '{"host":%s,"os":{"id":%s,"version":%s},"kernel":%s,"cores":%d,"ramMiB":%d,"nvidiaSmi":%s,"gpus":[%s]}\n' \
  "$(json_str "$FLEET_HOST")" "$(json_str "$OS_ID")" "$(json_str "$OS_VERSION_ID")" "$(json_str "$kernel")" \
  "$cores" "$ram_mib" "$([[ $driver_ok == 1 ]] && echo true || echo false)" "$gpus_json"

if [[ -n "${FLEET_EXPECT_CORES:-}" ]]; then
  [[ "$FLEET_EXPECT_CORES" =~ ^[0-9]+$ ]] || fail "FLEET_EXPECT_CORES='${FLEET_EXPECT_CORES}' is not a number" "pass a whole number of cores"
  if ((cores < FLEET_EXPECT_CORES)); then
    fail "declared ${FLEET_EXPECT_CORES} cores, found ${cores}" "fix hosts.${FLEET_HOST}.cpu.cores in the stack config"
  fi
fi
if [[ -n "${FLEET_EXPECT_RAM_MIB:-}" ]]; then
  [[ "$FLEET_EXPECT_RAM_MIB" =~ ^[0-9]+$ ]] || fail "FLEET_EXPECT_RAM_MIB='${FLEET_EXPECT_RAM_MIB}' is not a number" "pass MiB as a whole number"
  # The kernel reserves some memory: accept 90% of the declared size.
  if ((ram_mib * 10 < FLEET_EXPECT_RAM_MIB * 9)); then
    fail "declared ${FLEET_EXPECT_RAM_MIB} MiB RAM, found ${ram_mib} MiB" "fix hosts.${FLEET_HOST}.ramMiB in the stack config"
  fi
fi
if [[ -n "${FLEET_EXPECT_GPU_VRAM_MIB:-}" ]]; then
  [[ "$FLEET_EXPECT_GPU_VRAM_MIB" =~ ^[0-9]+(,[0-9]+)*$ ]] || fail "FLEET_EXPECT_GPU_VRAM_MIB='${FLEET_EXPECT_GPU_VRAM_MIB}' is not a comma list of MiB" "pass e.g. 20480,20480"
  IFS=',' read -r -a want <<<"$FLEET_EXPECT_GPU_VRAM_MIB"
  if ((driver_ok == 0)); then
    # The nvidia-driver role installs the driver; VRAM is checked on the next run.
    log "declared ${#want[@]} GPU(s) but nvidia-smi does not work yet; VRAM not checked"
  else
    if ((${#want[@]} != ${#gpu_names[@]})); then
      fail "declared ${#want[@]} GPU(s), found ${#gpu_names[@]}" "fix hosts.${FLEET_HOST}.gpus in the stack config (nvidia-smi -L lists the GPUs)"
    fi
    for i in "${!want[@]}"; do
      got="${gpu_vram[$i]}"
      [[ "$got" =~ ^[0-9]+$ ]] || fail "nvidia-smi reports VRAM '${got}' for GPU ${i}" "check nvidia-smi on the host"
      diff=$((got > want[i] ? got - want[i] : want[i] - got))
      if ((diff * 100 > want[i] * 5)); then
        fail "declared ${want[$i]} MiB on GPU ${i}, found ${got} MiB" "fix hosts.${FLEET_HOST}.gpus in the stack config"
      fi
    done
  fi
fi
finish "facts of ${FLEET_HOST}: ${OS_ID} ${OS_VERSION_ID}, ${cores} cores, ${ram_mib} MiB RAM, ${#gpu_names[@]} GPU(s)"
