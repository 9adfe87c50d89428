#!/usr/bin/env bash
# gpu-lease.sh: VRAM leases on one host, the reference client for shell (flock from util-linux).
# The same files and rules as scripts/lease/gpu_lease.py (docs/timeshare.md):
#   <dir>/gpu<N>.lock            taken (flock -x) only while deciding whether a lease fits
#   <dir>/gpu<N>.<holder>.lease  `gpu=0 holder=... mib=3584 since=<epoch s.µs> pid=...`, flock -x held by
#                                the holder for as long as it holds the VRAM
# A lease counts only while its file is locked: the kernel drops the lock when the holding process
# dies, however it dies, so a killed worker's lease is gone with it.
#
# usage:
#   gpu-lease.sh hold  [--gpu N] [--mib M] [--capacity C] [--holder H] [--dir D] [--timeout S] -- CMD...
#       waits for room, runs CMD holding the lease (CMD inherits the locked descriptor), releases it
#       when CMD exits. Exit: CMD's status; 2 bad input; 3 no room within --timeout.
#   gpu-lease.sh check [--gpu N] [--mib M] [--capacity C] [--dir D]
#       exit 0 when a lease of M MiB fits now, 3 when not; prints the live leases of the GPU.
#   gpu-lease.sh list  [--dir D]
#       every lease file: `gpu=.. holder=.. mib=.. since=.. pid=.. state=live|stale`
# Defaults come from the worker contract env: GPU_FLEET_GPU, GPU_FLEET_VRAM_MIB,
# GPU_FLEET_LEASE_CAPACITY_MIB, GPU_FLEET_LEASE_DIR (default /run/gpu-fleet/leases), WORKER_NAME.
# Source it with GPU_LEASE_LIBRARY=1 to get the functions without running main.
set -euo pipefail
# EPOCHREALTIME (lease times, the timeout) with a '.' whatever the host's locale.
LC_NUMERIC=C

lease_die() { # lease_die CODE MESSAGE
  echo "gpu-lease: $2" >&2
  exit "$1"
}

# lease_field LINE KEY: the value of KEY=... in a lease line.
# (Only tests and prints: safe as a condition, where errexit is off.)
lease_field() {
  local word
  for word in $1; do
    if [[ "$word" == "$2="* ]]; then
      printf '%s' "${word#*=}"
      return 0
    fi
  done
  return 1
}

# lease_state FILE: live (someone holds the lock), stale (no one does) or gone.
lease_state() {
  local rc=0
  (exec 7<"$1" && flock -n -s 7) 2>/dev/null || rc=$?
  case "$rc" in
    0) echo stale ;;
    1) echo live ;;
    *) echo gone ;;
  esac
}

# lease_live DIR GPU [CLEAN] [SKIP]: prints the live lease lines of GPU; with CLEAN=1 removes the
# files no one holds (call it under the GPU's lock).
lease_live() {
  local dir=$1 gpu=$2 clean=${3:-0} skip=${4:-} f line
  for f in "$dir"/gpu"$gpu".*.lease; do
    [[ -e "$f" && "$f" != "$skip" ]] || continue
    case "$(lease_state "$f")" in
      live)
        line=""
        { IFS= read -r line <"$f"; } 2>/dev/null || true
        [[ -z "$line" ]] || printf '%s\n' "$line"
        ;;
      stale) ((clean == 0)) || rm -f -- "$f" 2>/dev/null || true ;;
      *) ;; # gone: released between the glob and the check
    esac
  done
}

# lease_sum LINES: total MiB of lease lines on stdin.
lease_sum() {
  local line total=0 mib
  while IFS= read -r line; do
    # shellcheck disable=SC2310 # lease_field only tests and prints
    mib="$(lease_field "$line" mib || true)"
    [[ "$mib" =~ ^[0-9]+$ ]] && total=$((total + mib))
  done
  echo "$total"
}

# lease_describe LINES: "a holds 3584 MiB (for 12 s), b holds ..." from lease lines on stdin.
lease_describe() {
  local line now since out=()
  now="$(date +%s)"
  while IFS= read -r line; do
    [[ -n "$line" ]] || continue
    # shellcheck disable=SC2310 # lease_field only tests and prints
    since="$(lease_field "$line" since || echo "$now")"
    since="${since%%.*}"
    # shellcheck disable=SC2310 # lease_field only tests and prints
    out+=("$(lease_field "$line" holder || echo '?') holds $(lease_field "$line" mib || echo '?') MiB (for $((now - since)) s)")
  done
  if ((${#out[@]} == 0)); then
    echo "no one"
  else
    local joined
    joined="$(printf '%s, ' "${out[@]}")"
    echo "${joined%, }"
  fi
}

# lease_mutex DIR GPU: opens (creating) the GPU's lock file on fd LEASE_MUTEX_FD, read-only.
lease_mutex() {
  local path="$1/gpu$2.lock"
  if [[ ! -e "$path" ]]; then
    (umask 0 && : >>"$path") 2>/dev/null || lease_die 2 "cannot create ${path}: the lease directory must exist and be writable (the container-toolkit role creates it, containers mount it)"
  fi
  exec {LEASE_MUTEX_FD}<"$path" || lease_die 2 "cannot open ${path}"
}

lease_check_inputs() {
  [[ "$L_GPU" =~ ^[0-9]+$ ]] || lease_die 2 "GPU '${L_GPU}' is not a GPU index (--gpu or GPU_FLEET_GPU)"
  [[ "$L_MIB" =~ ^[1-9][0-9]*$ ]] || lease_die 2 "'${L_MIB}' is not a VRAM size in MiB (--mib or GPU_FLEET_VRAM_MIB)"
  [[ "$L_CAPACITY" =~ ^[0-9]+$ ]] || lease_die 2 "'${L_CAPACITY}' is not a capacity in MiB (--capacity or GPU_FLEET_LEASE_CAPACITY_MIB)"
  ((L_MIB <= L_CAPACITY)) || lease_die 2 "${L_HOLDER:-this holder} wants ${L_MIB} MiB but GPU ${L_GPU} has ${L_CAPACITY} MiB for leases: it can never fit"
  [[ -d "$L_DIR" ]] || lease_die 2 "lease directory ${L_DIR} does not exist: run the container-toolkit role on the host, and mount it into the container"
}

# lease_acquire: takes the lease described by L_* (waiting up to L_TIMEOUT seconds, empty: forever);
# leaves it locked on fd LEASE_FD, its file in LEASE_FILE.
lease_acquire() {
  [[ "$L_HOLDER" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$ ]] || lease_die 2 "holder '${L_HOLDER}' must be letters, digits, '-' or '_' (--holder or WORKER_NAME)"
  lease_check_inputs
  LEASE_FILE="${L_DIR}/gpu${L_GPU}.${L_HOLDER}.lease"
  # Microseconds (bash 5's EPOCHREALTIME): SECONDS would count a partial first second as a whole one.
  local start=${EPOCHREALTIME/./} holders used waited=0
  for (( ; ; )); do
    lease_mutex "$L_DIR" "$L_GPU"
    flock -x "$LEASE_MUTEX_FD"
    holders="$(lease_live "$L_DIR" "$L_GPU" 1 "$LEASE_FILE")"
    used="$(lease_sum <<<"$holders")"
    if ((used + L_MIB <= L_CAPACITY)); then
      exec {LEASE_FD}<>"$LEASE_FILE"
      if ! flock -n -x "$LEASE_FD"; then
        exec {LEASE_MUTEX_FD}<&-
        lease_die 2 "holder ${L_HOLDER} already holds a lease on GPU ${L_GPU}: each worker needs its own name"
      fi
      printf 'gpu=%s holder=%s mib=%s since=%s pid=%s\n' "$L_GPU" "$L_HOLDER" "$L_MIB" "$EPOCHREALTIME" "$$" >"$LEASE_FILE"
      exec {LEASE_MUTEX_FD}<&-
      return 0
    fi
    exec {LEASE_MUTEX_FD}<&-
    if [[ -n "$L_TIMEOUT" ]] && ((${EPOCHREALTIME/./} - start >= L_TIMEOUT * 1000000)); then
      lease_die 3 "${L_HOLDER} wants ${L_MIB} MiB of GPU ${L_GPU} (${L_CAPACITY} MiB for leases), but $(lease_describe <<<"$holders")"
    fi
    ((waited)) || echo "gpu-lease: waiting for room: $(lease_describe <<<"$holders")" >&2
    waited=1
    sleep 0.1
  done
}

# lease_release: unlink first, so no one reads an unlocked file as a live lease; then unlock.
lease_release() {
  rm -f -- "$LEASE_FILE"
  exec {LEASE_FD}<&-
}

# lease_list DIR: every lease file with its state.
lease_list() {
  local f line state
  for f in "$1"/gpu*.*.lease; do
    [[ -e "$f" ]] || continue
    state="$(lease_state "$f")"
    [[ "$state" != gone ]] || continue
    line=""
    { IFS= read -r line <"$f"; } 2>/dev/null || true
    [[ -z "$line" ]] || printf '%s state=%s\n' "$line" "$state"
  done
}

lease_main() {
  local command=${1:-} child rc
  [[ -n "$command" ]] || lease_die 2 "usage: gpu-lease.sh hold|check|list [options] (see the header of this script)"
  shift
  L_GPU="${GPU_FLEET_GPU:-}" L_MIB="${GPU_FLEET_VRAM_MIB:-}" L_CAPACITY="${GPU_FLEET_LEASE_CAPACITY_MIB:-}"
  L_HOLDER="${WORKER_NAME:-}" L_DIR="${GPU_FLEET_LEASE_DIR:-/run/gpu-fleet/leases}" L_TIMEOUT=""
  while (($# > 0)); do
    case "$1" in
      --gpu) L_GPU="${2:-}" ;;
      --mib) L_MIB="${2:-}" ;;
      --capacity) L_CAPACITY="${2:-}" ;;
      --holder) L_HOLDER="${2:-}" ;;
      --dir) L_DIR="${2:-}" ;;
      --timeout) L_TIMEOUT="${2:-}" ;;
      --) shift; break ;;
      *) lease_die 2 "unknown argument '$1'" ;;
    esac
    (($# >= 2)) || lease_die 2 "$1 needs a value"
    shift 2
  done
  [[ -z "$L_TIMEOUT" || "$L_TIMEOUT" =~ ^[0-9]+$ ]] || lease_die 2 "--timeout '${L_TIMEOUT}' is not whole seconds"
  case "$command" in
    list) lease_list "$L_DIR" ;;
    check)
      lease_check_inputs
      local holders used
      lease_mutex "$L_DIR" "$L_GPU"
      flock -s "$LEASE_MUTEX_FD"
      holders="$(lease_live "$L_DIR" "$L_GPU")"
      exec {LEASE_MUTEX_FD}<&-
      used="$(lease_sum <<<"$holders")"
      [[ -z "$holders" ]] || printf '%s\n' "$holders"
      ((used + L_MIB <= L_CAPACITY)) || return 3
      ;;
    hold)
      (($# > 0)) || lease_die 2 "hold needs a command after --"
      lease_acquire
      # CMD inherits the locked descriptor: the lease lives as long as the process holding the VRAM.
      "$@" &
      child=$!
      trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT
      rc=0
      wait "$child" || rc=$?
      # A signal interrupts wait: wait again for the command itself.
      while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
      lease_release
      return "$rc"
      ;;
    *) lease_die 2 "unknown command '${command}': use hold, check or list" ;;
  esac
}

if [[ "${GPU_LEASE_LIBRARY:-0}" != 1 ]]; then
  lease_main "$@"
fi
