#!/usr/bin/env bash
# mps: NVIDIA Multi-Process Service as the systemd unit gpu-fleet-mps.service.
# Inputs:
#   FLEET_HOST
#   FLEET_MPS                          on | off (default off)
#   FLEET_MPS_GPUS                     comma list of GPU indexes that run MPS (on)
#   FLEET_MPS_PIPE_DIR                 default /run/gpu-fleet/mps (clients mount the same directory)
#   FLEET_MPS_LOG_DIR                  default /var/log/gpu-fleet/mps
#   FLEET_MPS_UID                      the uid of every MPS client on the host (on): the daemon runs as
#                                      it, and the pipe directory belongs to it
#   FLEET_MPS_PINNED_MEM_LIMIT         default per-client pinned device memory by host GPU index, e.g.
#                                      0=2400M,1=2400M (empty on pre-Volta GPUs)
#   FLEET_MPS_ACTIVE_THREAD_PERCENTAGE default per-client active thread percentage (optional, Volta+)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
role_init mps

unit_name=gpu-fleet-mps.service
unit_path=/etc/systemd/system/${unit_name}
tmpfiles_path=/etc/tmpfiles.d/gpu-fleet-mps.conf
mps="${FLEET_MPS:-off}"

if [[ "$mps" == off ]]; then
  if [[ -e "$tmpfiles_path" ]]; then
    rm -f "$tmpfiles_path"
    changed "${tmpfiles_path} removed"
  fi
  if [[ ! -e "$unit_path" ]]; then
    finish "MPS is off and ${unit_name} is absent"
    exit 0
  fi
  old_gpus="$(sed -n 's/^Environment=CUDA_VISIBLE_DEVICES=//p' "$unit_path")"
  systemctl disable --now "$unit_name" >&2 2>&1 || fail "cannot stop ${unit_name}" "run 'systemctl status ${unit_name}' on the host"
  rm -f "$unit_path"
  systemctl daemon-reload >&2
  changed "${unit_name} stopped, disabled and removed"
  if [[ -n "$old_gpus" ]] && command -v nvidia-smi >/dev/null; then
    nvidia-smi -i "$old_gpus" -c DEFAULT >&2 || fail "cannot reset the compute mode of GPUs ${old_gpus} to DEFAULT" "run 'nvidia-smi -i ${old_gpus} -c DEFAULT' on the host"
    changed "compute mode DEFAULT on GPUs ${old_gpus}"
  fi
  finish "MPS is off"
  exit 0
fi
[[ "$mps" == on ]] || fail "FLEET_MPS='${mps}' is not on or off" "fix the host's mps setting in the stack config"

gpus="${FLEET_MPS_GPUS:-}"
# shellcheck disable=SC2310 # gpu_indexes_valid is a predicate
gpu_indexes_valid "$gpus" || fail "FLEET_MPS_GPUS='${gpus}' is not a comma list of GPU indexes" "pass e.g. 0 or 0,1"
pipe_dir="${FLEET_MPS_PIPE_DIR:-/run/gpu-fleet/mps}"
log_dir="${FLEET_MPS_LOG_DIR:-/var/log/gpu-fleet/mps}"
for d in "$pipe_dir" "$log_dir"; do
  [[ "$d" =~ ^/[A-Za-z0-9._/-]+$ ]] || fail "'${d}' is not an absolute path of plain characters" "use a path such as /run/gpu-fleet/mps"
done
uid="${FLEET_MPS_UID:-}"
[[ "$uid" =~ ^[1-9][0-9]{0,9}$ ]] || fail "FLEET_MPS_UID='${uid}' is not a non-root uid" "pass the uid the host's MPS clients run as (services.<name>.user, default 10001)"
limits="${FLEET_MPS_PINNED_MEM_LIMIT:-}"
threads="${FLEET_MPS_ACTIVE_THREAD_PERCENTAGE:-}"
[[ -z "$threads" || "$threads" =~ ^[1-9][0-9]?$|^100$ ]] || fail "FLEET_MPS_ACTIVE_THREAD_PERCENTAGE='${threads}' is not 1-100" "pass a percentage"

smi="$(command -v nvidia-smi || true)"
control="$(command -v nvidia-cuda-mps-control || true)"
[[ -n "$smi" ]] || fail "nvidia-smi is missing" "run the nvidia-driver role first (FLEET_NVIDIA_DRIVER=managed) or install the driver"
[[ -n "$control" ]] || fail "nvidia-cuda-mps-control is missing" "install the driver's compute utilities (the nvidia-driver role does; on Ubuntu nvidia-compute-utils-<branch>)"

IFS=',' read -r -a gpu_list <<<"$gpus"
# The control daemon sees only CUDA_VISIBLE_DEVICES: its device ordinals are positions in that list.
post=()
if [[ -n "$limits" ]]; then
  IFS=',' read -r -a pairs <<<"$limits"
  for pair in "${pairs[@]}"; do
    [[ "$pair" =~ ^([0-9]+)=([0-9]+[KMGkmg]?)$ ]] || fail "FLEET_MPS_PINNED_MEM_LIMIT entry '${pair}' is not <gpu>=<size>" "pass e.g. 0=2400M,1=2400M"
    idx="${BASH_REMATCH[1]}" size="${BASH_REMATCH[2]}" ordinal=""
    for i in "${!gpu_list[@]}"; do [[ "${gpu_list[$i]}" == "$idx" ]] && ordinal=$i; done
    [[ -n "$ordinal" ]] || fail "FLEET_MPS_PINNED_MEM_LIMIT names GPU ${idx}, which is not in FLEET_MPS_GPUS=${gpus}" "limit only GPUs that run MPS"
    post+=("ExecStartPost=/bin/sh -c 'echo set_default_device_pinned_mem_limit ${ordinal} ${size} | ${control}'")
  done
fi
if [[ -n "$threads" ]]; then
  post+=("ExecStartPost=/bin/sh -c 'echo set_default_active_thread_percentage ${threads} | ${control}'")
fi

# systemd resolves User=/Group= through the account database, numeric ids included: the uid needs an
# entry. A uid the host already has (a desktop user) is used as it is; otherwise a system account.
if ! getent group "$uid" >/dev/null; then
  groupadd --system --gid "$uid" gpu-fleet-mps >&2 || fail "cannot create the group gpu-fleet-mps with gid ${uid}" "create a group with gid ${uid} on the host, or set services.<name>.user to a uid the host has"
  changed "group gpu-fleet-mps (gid ${uid}) created"
fi
if ! getent passwd "$uid" >/dev/null; then
  useradd --system --uid "$uid" --gid "$uid" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin gpu-fleet-mps >&2 ||
    fail "cannot create the user gpu-fleet-mps with uid ${uid}" "create a user with uid ${uid} on the host, or set services.<name>.user to a uid the host has"
  changed "user gpu-fleet-mps (uid ${uid}) created"
fi

tmpfiles="$(command -v systemd-tmpfiles)" || fail "systemd-tmpfiles is missing" "the MPS role needs systemd"

# The pipe and log directories exist from early boot on (systemd-tmpfiles-setup runs before any
# service), so Docker can bind-mount the pipe directory into MPS clients whatever starts first.
# Only the clients' uid may use the pipe directory.
tmpfiles_conf="# Managed by gpu-fleet (scripts/roles/mps.sh); changes are overwritten.
d ${pipe_dir} 0700 ${uid} ${uid} -
d ${log_dir} 0750 ${uid} ${uid} -"
write_file "$tmpfiles_path" 0644 <<<"$tmpfiles_conf"
if ((WROTE == 1)); then
  changed "${tmpfiles_path} written"
fi
"$tmpfiles" --create "$tmpfiles_path" >&2 || fail "systemd-tmpfiles could not create ${pipe_dir} and ${log_dir}" "run 'systemd-tmpfiles --create ${tmpfiles_path}' on the host and read its error"

post_text=""
for line in "${post[@]+"${post[@]}"}"; do post_text+="${line}"$'\n'; done

unit="# Managed by gpu-fleet (scripts/roles/mps.sh); changes are overwritten.
[Unit]
Description=gpu-fleet NVIDIA MPS control daemon (GPUs ${gpus})
Wants=nvidia-persistenced.service
After=nvidia-persistenced.service systemd-tmpfiles-setup.service
# Running before Docker starts containers after a boot: MPS clients find their daemon.
Before=docker.service

[Service]
Type=forking
# One MPS server per uid: the daemon runs as the clients' uid (NVIDIA MPS docs, single-user system).
User=${uid}
Group=${uid}
Environment=CUDA_VISIBLE_DEVICES=${gpus}
Environment=CUDA_MPS_PIPE_DIRECTORY=${pipe_dir}
Environment=CUDA_MPS_LOG_DIRECTORY=${log_dir}
LimitNOFILE=65536
# '+': as root (the directories' owner and the compute mode need it).
ExecStartPre=+${tmpfiles} --create ${tmpfiles_path}
# NVIDIA recommends EXCLUSIVE_PROCESS under MPS; it does not survive a reboot, so set it on every start.
# '-': a GPU that refuses the mode still runs MPS.
ExecStartPre=-+${smi} -i ${gpus} -c EXCLUSIVE_PROCESS
ExecStart=${control} -d
${post_text}ExecStop=/bin/sh -c 'echo quit | ${control}'
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target"

unit_changed=0
write_file "$unit_path" 0644 <<<"$unit"
if ((WROTE == 1)); then
  unit_changed=1
  systemctl daemon-reload >&2
  changed "${unit_name} written"
fi
if [[ "$(systemctl is-enabled "$unit_name" 2>/dev/null || true)" != enabled ]]; then
  systemctl enable "$unit_name" >&2 2>&1
  changed "${unit_name} enabled"
fi
if ! systemctl is-active --quiet "$unit_name"; then
  systemctl start "$unit_name" >&2 || fail "${unit_name} does not start" "run 'journalctl -u ${unit_name} -n 50' and look in ${log_dir}/control.log on the host"
  changed "${unit_name} started"
elif ((unit_changed == 1)); then
  systemctl restart "$unit_name" >&2 || fail "${unit_name} does not restart" "run 'journalctl -u ${unit_name} -n 50' on the host"
  changed "${unit_name} restarted with the new settings"
fi

finish "MPS running on GPUs ${gpus} as uid ${uid} (pipe ${pipe_dir}${limits:+, pinned memory ${limits}}${threads:+, threads ${threads}%})"
