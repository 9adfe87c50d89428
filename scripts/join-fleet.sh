#!/usr/bin/env bash
# join-fleet.sh: joins this machine to the fleet without Pulumi reaching it over SSH (a laptop behind
# NAT). It runs the host's role scripts locally, in the plan's order, then starts the host's worker
# containers with `docker run` under the same worker contract as the Pulumi deployment
# (components/Workers.ts). The plan comes from `npm run join-plan -- <stack> <host> --out FILE` on
# the admin machine and holds no secrets; secrets come from files given here. See docs/join-fleet.md.
set -euo pipefail

readonly CONTRACT_VERSION="join-fleet/1"
readonly LOG_MAX_SIZE="50m"
readonly LOG_MAX_FILE="5"

usage() {
  cat <<'EOF'
usage: join-fleet.sh --plan FILE [--redis-url-file FILE] [--auth-key-file FILE]
                     [--secret KEY=FILE ...] [--roles-dir DIR] [--dry-run] [--help]

Joins this machine to the fleet as the join plan's host: runs the role scripts of the plan in order
(facts, base, tailscale, docker, [nvidia-driver, container-toolkit, mps,] verify), then starts, keeps
or replaces the host's worker containers with `docker run`, and stops containers of this host the
plan no longer has. Run it as root on the machine itself. A second run with the same plan and
secrets changes nothing and ends with `ok: ...`.

  --plan FILE            the join plan: npm run join-plan -- <stack> <host> --out FILE
  --redis-url-file FILE  file holding the Redis URL with its password (config key redisUrl); needed
                         when the plan has workers. Workers receive it as REDIS_URL.
  --auth-key-file FILE   file holding this host's Tailscale auth key (single use, tagged with the
                         fleet's worker tag). Needed only to enroll: a node that is already logged in
                         never reads it. The tailscale role reads it on stdin.
  --secret KEY=FILE      the value of the secret config key KEY (a service's env `{ secret: KEY }`),
                         read from FILE. Repeat for every key the plan's "secrets" lists.
  --roles-dir DIR        where the role scripts are (default: roles/ next to this script, which is
                         scripts/roles in the repository)
  --dry-run              print every role and docker command it would run (secrets as [secret]);
                         change nothing. Needs jq; compares with running containers when Docker works.
  --help                 this text

Secrets never go on a command line: the auth key goes to the tailscale role on stdin, REDIS_URL and
the secret env go to `docker run --env-file` through a 0600 file that is removed right after. FLEET_*
variables set in the environment reach the roles (e.g. FLEET_TAILSCALE_APT_REPO for a mirror); the
plan's values win over them.

Output: progress lines on stdout, command output on stderr; the last line of stdout is
`changed: <what>` or `ok: <what>`. Exit 0 on success, 1 when a role or docker command fails (the
role's `failed: ...` line says why), 2 on a bad command line, plan or secret file, 75 when the
nvidia-driver role scheduled a reboot (run join-fleet.sh again after it).
EOF
}

die() { # die CODE MESSAGE
  echo "join-fleet: $2" >&2
  exit "$1"
}
say() { echo "$*"; }
log() { echo "join-fleet: $*" >&2; }

plan_file=""
redis_url_file=""
auth_key_file=""
roles_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/roles"
dry_run=0
declare -A secret_files=()

while (($# > 0)); do
  case "$1" in
    --plan) plan_file="${2:-}"; shift 2 || die 2 "--plan needs a file" ;;
    --plan=*) plan_file="${1#*=}"; shift ;;
    --redis-url-file) redis_url_file="${2:-}"; shift 2 || die 2 "--redis-url-file needs a file" ;;
    --redis-url-file=*) redis_url_file="${1#*=}"; shift ;;
    --auth-key-file) auth_key_file="${2:-}"; shift 2 || die 2 "--auth-key-file needs a file" ;;
    --auth-key-file=*) auth_key_file="${1#*=}"; shift ;;
    --secret | --secret=*)
      if [[ "$1" == --secret=* ]]; then spec="${1#*=}"; shift; else spec="${2:-}"; shift 2 || die 2 "--secret needs KEY=FILE"; fi
      [[ "$spec" =~ ^([A-Za-z][A-Za-z0-9_.-]*)=(.+)$ ]] || die 2 "--secret '${spec}' must be KEY=FILE (KEY a config key such as hfToken)"
      secret_files["${BASH_REMATCH[1]}"]="${BASH_REMATCH[2]}"
      ;;
    --roles-dir) roles_dir="${2:-}"; shift 2 || die 2 "--roles-dir needs a directory" ;;
    --roles-dir=*) roles_dir="${1#*=}"; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die 2 "unknown argument '$1' (see --help)" ;;
  esac
done

[[ -n "$plan_file" ]] || die 2 "--plan FILE is required (see --help)"
[[ -r "$plan_file" ]] || die 2 "cannot read the plan ${plan_file}"
if ((!dry_run)) && ((EUID != 0)); then
  die 2 "must run as root (running as uid ${EUID}): sudo $0 ..."
fi

# jq reads the plan. The base role installs it too, but the plan must be read before any role runs.
if ! command -v jq >/dev/null 2>&1; then
  if ((dry_run)); then die 2 "jq is missing: install it (apt-get install jq) or run without --dry-run, which installs it"; fi
  command -v apt-get >/dev/null 2>&1 || die 2 "jq is missing and there is no apt-get: install jq"
  log "installing jq to read the plan"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; } >&2; then
    die 1 "apt-get install jq failed"
  fi
  CHANGES_EARLY="installed jq"
fi

plan_json="$(jq -c . "$plan_file" 2>/dev/null)" || die 2 "${plan_file} is not JSON"
jq -e '(.version == 1) and (.host | type == "string") and (.fleet | type == "string") and (.roles | type == "array") and (.workers | type == "array") and (.secrets | type == "array")' <<<"$plan_json" >/dev/null \
  || die 2 "${plan_file} is not a version 1 join plan (npm run join-plan -- <stack> <host> --out FILE)"
# Fail closed: a plan from before workers carried their privileges and limits would run them as the image says.
jq -e 'all(.workers[]; .container | type == "object" and (.user | test("^[1-9][0-9]*:[1-9][0-9]*$")) and .capDrop == ["ALL"] and .noNewPrivileges == true)' <<<"$plan_json" >/dev/null \
  || die 2 "${plan_file} has workers without their container settings (non-root user, dropped capabilities): make a new plan with npm run join-plan"
host="$(jq -r .host <<<"$plan_json")"
fleet="$(jq -r .fleet <<<"$plan_json")"
[[ "$host" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]] || die 2 "the plan's host '${host}' is not a host name"

CHANGES=()
[[ -z "${CHANGES_EARLY:-}" ]] || CHANGES+=("$CHANGES_EARLY")
OKS=()

# --- secrets --------------------------------------------------------------------------------------
# Values stay in shell variables (never exported, never in argv) until they go to the 0600 env file.

# read_secret FILE WHAT: prints the file's content without trailing newlines; one line only.
read_secret() {
  local file=$1 what=$2 value
  [[ -r "$file" ]] || die 2 "cannot read ${what} file ${file}"
  value="$(<"$file")"
  value="${value%$'\r'}"
  [[ -n "$value" ]] || die 2 "${what} file ${file} is empty"
  [[ "$value" != *$'\n'* ]] || die 2 "${what} file ${file} has more than one line; an env value is one line"
  printf '%s' "$value"
}

worker_count="$(jq '.workers | length' <<<"$plan_json")"
redis_key="$(jq -r '.secrets[0] // "redisUrl"' <<<"$plan_json")"
declare -A secret_values=()
if ((worker_count > 0)); then
  if [[ -z "$redis_url_file" && -n "${secret_files[$redis_key]:-}" ]]; then redis_url_file="${secret_files[$redis_key]}"; fi
  [[ -n "$redis_url_file" ]] || die 2 "the plan has ${worker_count} workers: give --redis-url-file FILE (the Redis URL with its password)"
  secret_values["$redis_key"]="$(read_secret "$redis_url_file" "Redis URL")"
  [[ "${secret_values[$redis_key]}" =~ ^rediss?:// ]] || die 2 "the Redis URL in ${redis_url_file} must start with redis:// or rediss://"
  while IFS= read -r key; do
    [[ -n "$key" && "$key" != "$redis_key" ]] || continue
    [[ -n "${secret_files[$key]:-}" ]] || die 2 "the workers need the secret '${key}': give --secret ${key}=FILE"
    secret_values["$key"]="$(read_secret "${secret_files[$key]}" "secret ${key}")"
  done < <(jq -r '.secrets[1:][]' <<<"$plan_json")
fi
for key in "${!secret_files[@]}"; do
  [[ -n "${secret_values[$key]:-}" ]] || log "--secret ${key}: the plan does not use it; ignored"
done
if [[ -n "$auth_key_file" && ! -r "$auth_key_file" ]]; then die 2 "cannot read the auth key file ${auth_key_file}"; fi

# A private directory for the env files; removed on exit whatever happens.
tmp_root=/run
[[ -d "$tmp_root" && -w "$tmp_root" ]] || tmp_root="${TMPDIR:-/tmp}"
work_dir="$(mktemp -d "${tmp_root}/gpu-fleet-join.XXXXXX")"
chmod 0700 "$work_dir"
trap 'rm -rf "$work_dir"' EXIT
umask 077

# quoted WORD...: the words as a shell would need them, for printing commands.
quoted() {
  local out="" w
  for w in "$@"; do out+="$(printf '%q' "$w") "; done
  printf '%s' "${out% }"
}

# --- roles ----------------------------------------------------------------------------------------

[[ -d "$roles_dir" && -r "${roles_dir}/lib.sh" ]] || die 2 "no role scripts in ${roles_dir} (lib.sh missing): copy scripts/roles next to this script or give --roles-dir"
mapfile -t roles < <(jq -r '.roles[].role' <<<"$plan_json")
for role in "${roles[@]}"; do
  [[ -r "${roles_dir}/${role}.sh" ]] || die 2 "role script ${roles_dir}/${role}.sh is missing"
done

# The FLEET_* words of role number I: the plan's values, NUL-separated so no value is split.
role_env() {
  jq -j --argjson i "$1" '.roles[$i].env | to_entries[] | "\(.key)=\(.value)\u0000"' <<<"$plan_json"
}

for i in "${!roles[@]}"; do
  role="${roles[$i]}"
  mapfile -d '' env_words < <(role_env "$i")
  stdin_from=/dev/null
  stdin_note=""
  if [[ "$(jq -r --argjson i "$i" '.roles[$i].authKeyOnStdin' <<<"$plan_json")" == "true" && -n "$auth_key_file" ]]; then
    stdin_from="$auth_key_file"
    stdin_note=" < [secret: auth key file]"
  fi
  if ((dry_run)); then
    say "would run: env $(quoted "${env_words[@]}") bash $(quoted "${roles_dir}/${role}.sh")${stdin_note}"
    continue
  fi
  say "role ${role}: running"
  out_file="${work_dir}/role.out"
  err_file="${work_dir}/role.err"
  # stdout to a file (its last line is the status), stderr streams and is kept for the failure line.
  set +e
  env "${env_words[@]}" bash "${roles_dir}/${role}.sh" <"$stdin_from" 2>&1 >"$out_file" | tee "$err_file" >&2
  rc=${PIPESTATUS[0]}
  set -e
  status="$(grep -v '^[[:space:]]*$' "$out_file" | tail -n 1 || true)"
  if ((rc != 0)); then
    reason="$(grep '^failed: ' "$err_file" | tail -n 1 || true)"
    say "role ${role}: ${reason:-failed (exit ${rc})}"
    say "failed: join-fleet on ${host}: role ${role} failed${reason:+ (${reason})}; the roles after it and the workers did not run. hint: fix the cause and run join-fleet.sh again"
    exit 1
  fi
  say "role ${role}: ${status}"
  case "$status" in
    changed:*) CHANGES+=("${role}: ${status#changed: }") ;;
    ok:*) OKS+=("$role") ;;
    *) say "failed: join-fleet on ${host}: role ${role} printed no status line. hint: check ${roles_dir}/${role}.sh"; exit 1 ;;
  esac
  if [[ "$status" == *"reboot scheduled"* ]]; then
    say "changed: $(printf '%s; ' "${CHANGES[@]}" | sed 's/; $//'); the machine reboots now: run join-fleet.sh again after the reboot to finish (the remaining roles and the workers did not run)"
    exit 75
  fi
done

# --- workers --------------------------------------------------------------------------------------

docker_ok=0
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then docker_ok=1; fi
if ((!dry_run && !docker_ok && worker_count > 0)); then
  say "failed: join-fleet on ${host}: docker does not answer after the docker role. hint: run 'systemctl status docker'"
  exit 1
fi

sha() { sha256sum | cut -d' ' -f1; }

# The env file of worker W (plain env, REDIS_URL, secret env). With "redacted", secrets read [secret].
write_env_file() { # write_env_file INDEX FILE [redacted]
  local i=$1 file=$2 redacted=${3:-} name key
  : >"$file"
  chmod 0600 "$file"
  # Plain env: one line each; a value with a newline cannot be expressed in an env file.
  if jq -e --argjson i "$i" '[.workers[$i].env[] | test("\n")] | any' <<<"$plan_json" >/dev/null; then
    die 2 "worker $(jq -r --argjson i "$i" '.workers[$i].name' <<<"$plan_json") has an env value with a newline; docker --env-file cannot pass it"
  fi
  jq -r --argjson i "$i" '.workers[$i].env | to_entries[] | "\(.key)=\(.value)"' <<<"$plan_json" >>"$file"
  if [[ -n "$redacted" ]]; then printf 'REDIS_URL=[secret]\n' >>"$file"; else printf 'REDIS_URL=%s\n' "${secret_values[$redis_key]}" >>"$file"; fi
  while IFS=$'\t' read -r name key; do
    [[ -n "$name" ]] || continue
    if [[ -n "$redacted" ]]; then printf '%s=[secret]\n' "$name" >>"$file"; else printf '%s=%s\n' "$name" "${secret_values[$key]}" >>"$file"; fi
  done < <(jq -r --argjson i "$i" '.workers[$i].secretEnv | to_entries[] | "\(.key)\t\(.value)"' <<<"$plan_json")
}

# The spec hash of worker I: its plan entry, fleet and host, this script's contract version, and a
# hash of each secret it receives. Any change to one of them replaces the container.
spec_hash() {
  local i=$1 name key
  {
    printf '%s\n%s\n%s\n' "$CONTRACT_VERSION" "$fleet" "$host"
    jq -cS --argjson i "$i" '.workers[$i]' <<<"$plan_json"
    printf 'REDIS_URL %s\n' "$(printf '%s' "${secret_values[$redis_key]}" | sha)"
    while IFS=$'\t' read -r name key; do
      [[ -n "$name" ]] || continue
      printf '%s %s\n' "$name" "$(printf '%s' "${secret_values[$key]}" | sha)"
    done < <(jq -r --argjson i "$i" '.workers[$i].secretEnv | to_entries | sort_by(.key)[] | "\(.key)\t\(.value)"' <<<"$plan_json")
  } | sha
}

# docker run arguments of worker I with env file FILE and spec hash HASH, into the array run_args.
build_run_args() {
  local i=$1 file=$2 hash=$3 w gpu health flag
  w="$(jq -c --argjson i "$i" '.workers[$i]' <<<"$plan_json")"
  run_args=(run -d --name "$(jq -r .containerName <<<"$w")" --hostname "$(jq -r .name <<<"$w")"
    --restart unless-stopped --init --env-file "$file"
    --stop-signal "$(jq -r .stopSignal <<<"$w")" --stop-timeout "$(jq -r .drainSeconds <<<"$w")"
    --log-driver json-file --log-opt "max-size=${LOG_MAX_SIZE}" --log-opt "max-file=${LOG_MAX_FILE}")
  gpu="$(jq -r '.gpu // empty' <<<"$w")"
  [[ -z "$gpu" ]] || run_args+=(--gpus "device=${gpu}")
  # Privileges and limits: the plan's container settings, the same Workers.ts gives the Pulumi path
  # (components/core/worker-container.ts). A bind mount (not -v) fails when its source is missing
  # instead of creating it as root.
  while IFS= read -r -d '' flag; do run_args+=("$flag"); done < <(jq -j '.container |
    ["--user", .user, "--cap-drop", (.capDrop | join(",")), "--memory", "\(.memoryMiB)m", "--memory-swap", "\(.memorySwapMiB)m", "--cpus", "\(.cpus)"]
    + (if .noNewPrivileges then ["--security-opt", "no-new-privileges:true"] else [] end)
    + ([.capAdd[] | ["--cap-add", .]] | add // [])
    + (if .readOnlyRootFs then ["--read-only"] else [] end)
    + ([.tmpfs | to_entries[] | ["--tmpfs", "\(.key):\(.value)"]] | add // [])
    + ([.binds[] | ["--mount", "type=bind,source=\(.source),target=\(.target)"]] | add // [])
    + (if .ipcHost then ["--ipc", "host"] else [] end)
    + (if .cpuSet != null then ["--cpuset-cpus", .cpuSet] else [] end)
    | map(tostring + "\u0000") | join("")' <<<"$w")
  if [[ "$(jq -r '.healthcheck != null' <<<"$w")" == "true" ]]; then
    # docker run takes the shell form: a CMD list is quoted for /bin/sh.
    health="$(jq -r '.healthcheck.test | if type == "string" then . elif .[0] == "CMD-SHELL" then .[1] elif .[0] == "CMD" then .[1:] | @sh elif .[0] == "NONE" then "" else @sh end' <<<"$w")"
    if [[ -z "$health" ]]; then
      run_args+=(--no-healthcheck)
    else
      run_args+=(--health-cmd "$health"
        --health-interval "$(jq -r .healthcheck.intervalSeconds <<<"$w")s"
        --health-timeout "$(jq -r .healthcheck.timeoutSeconds <<<"$w")s"
        --health-retries "$(jq -r .healthcheck.retries <<<"$w")"
        --health-start-period "$(jq -r .healthcheck.startPeriodSeconds <<<"$w")s")
    fi
  fi
  while IFS= read -r label; do run_args+=(--label "$label"); done < <(jq -r '.labels | to_entries[] | "\(.key)=\(.value)"' <<<"$w")
  run_args+=(--label "gpu-fleet.spec-hash=${hash}" --label "gpu-fleet.drain-seconds=$(jq -r .drainSeconds <<<"$w")")
  run_args+=("$(jq -r .image <<<"$w")")
  mapfile -t cmd < <(jq -r '.command // [] | .[]' <<<"$w")
  ((${#cmd[@]} == 0)) || run_args+=("${cmd[@]}")
}

# Current state of container NAME: "<spec-hash>|<host label>|<status>", or empty when absent.
container_state() {
  ((docker_ok)) || return 0
  docker inspect "$1" 2>/dev/null | jq -r '.[0] | [(.Config.Labels["gpu-fleet.spec-hash"] // ""), (.Config.Labels["gpu-fleet.host"] // ""), .State.Status] | join("|")' 2>/dev/null || true
}

# run_cmd WORD...: runs a docker command, or prints it in a dry run.
run_cmd() {
  if ((dry_run)); then say "would run: $(quoted "$@")"; return 0; fi
  "$@" >&2
}

# Waits for a worker with a health check to be healthy, as the Pulumi deployment does (wait: true).
await_healthy() { # await_healthy INDEX
  local i=$1 name budget deadline state
  [[ "$(jq -r --argjson i "$i" '.workers[$i].healthcheck != null' <<<"$plan_json")" == "true" ]] || return 0
  name="$(jq -r --argjson i "$i" '.workers[$i].containerName' <<<"$plan_json")"
  budget="$(jq -r --argjson i "$i" '.workers[$i].healthcheck | .startPeriodSeconds + .intervalSeconds * (.retries + 1)' <<<"$plan_json")"
  deadline=$((SECONDS + budget))
  for (( ; ; )); do
    state="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$name" 2>/dev/null || echo gone)"
    case "$state" in
      healthy | none) return 0 ;;
      unhealthy | gone) break ;;
      *) ;; # starting: wait on
    esac
    ((SECONDS < deadline)) || break
    sleep 1
  done
  say "failed: join-fleet on ${host}: worker ${name} is ${state} after ${budget}s. hint: docker logs ${name}; docker inspect -f '{{json .State.Health}}' ${name}"
  exit 1
}

declare -A planned=()
actions=()
for ((i = 0; i < worker_count; i++)); do
  name="$(jq -r --argjson i "$i" '.workers[$i].containerName' <<<"$plan_json")"
  planned["$name"]=1
  hash="$(spec_hash "$i")"
  # shellcheck disable=SC2310 # container_state reads only; an empty answer means no container
  IFS='|' read -r cur_hash cur_host cur_status <<<"$(container_state "$name")" || true
  if [[ -z "${cur_status:-}" ]]; then
    actions+=("create ${i} ${hash}")
  elif [[ "$cur_host" != "$host" ]]; then
    say "failed: join-fleet on ${host}: a container named ${name} exists that is not a worker of ${host} (label gpu-fleet.host='${cur_host}'). hint: remove or rename it (docker rm -f ${name}) and run again"
    exit 1
  elif [[ "$cur_hash" != "$hash" ]]; then
    actions+=("replace ${i} ${hash}")
  elif [[ "$cur_status" == "running" || "$cur_status" == "restarting" ]]; then
    actions+=("ok ${i} ${hash}")
  else
    actions+=("start ${i} ${hash}")
  fi
done

# Containers of this host the plan no longer has: drained and removed first, freeing their resources.
if ((docker_ok)); then
  while IFS=$'\t' read -r name drain; do
    [[ -n "$name" && -z "${planned[$name]:-}" ]] || continue
    run_cmd docker stop -t "${drain:-30}" "$name"
    run_cmd docker rm "$name"
    ((dry_run)) || CHANGES+=("${name} removed")
  done < <(docker ps -a --filter "label=gpu-fleet.host=${host}" --format '{{.Names}}	{{.Label "gpu-fleet.drain-seconds"}}')
fi

# Images first, so a replaced worker is down only for its drain and restart, never for a pull.
declare -A pulled=()
for action in "${actions[@]}"; do
  read -r what i _ <<<"$action"
  [[ "$what" == create || "$what" == replace ]] || continue
  image="$(jq -r --argjson i "$i" '.workers[$i].image' <<<"$plan_json")"
  [[ -z "${pulled[$image]:-}" ]] || continue
  pulled["$image"]=1
  if ((docker_ok)) && docker image inspect "$image" >/dev/null 2>&1; then continue; fi
  # shellcheck disable=SC2310 # run_cmd ends with the command it runs: its status is that command's
  if ! run_cmd docker pull "$image"; then
    say "failed: join-fleet on ${host}: docker pull ${image} failed; no worker was changed. hint: check the image name and 'docker login' for a private registry"
    exit 1
  fi
done

for action in "${actions[@]}"; do
  read -r what i hash <<<"$action"
  name="$(jq -r --argjson i "$i" '.workers[$i].containerName' <<<"$plan_json")"
  drain="$(jq -r --argjson i "$i" '.workers[$i].drainSeconds' <<<"$plan_json")"
  case "$what" in
    ok)
      say "worker ${name}: ok (running, spec ${hash:0:12})"
      OKS+=("$name")
      continue
      ;;
    start)
      run_cmd docker start "$name"
      ((dry_run)) || { say "worker ${name}: started"; CHANGES+=("${name} started"); }
      continue
      ;;
    replace)
      run_cmd docker stop -t "$drain" "$name"
      run_cmd docker rm "$name"
      ;;
    *) ;; # create: docker run below
  esac
  env_file="${work_dir}/${name}.env"
  if ((dry_run)); then
    write_env_file "$i" "$env_file" redacted
    build_run_args "$i" "$env_file" "$hash"
    say "would run: $(quoted docker "${run_args[@]}")"
    while IFS= read -r line; do say "  env-file: ${line}"; done <"$env_file"
    rm -f "$env_file"
    continue
  fi
  write_env_file "$i" "$env_file"
  build_run_args "$i" "$env_file" "$hash"
  set +e
  docker "${run_args[@]}" >&2
  rc=$?
  set -e
  rm -f "$env_file"
  if ((rc != 0)); then
    say "failed: join-fleet on ${host}: docker run of ${name} failed (exit ${rc}). hint: read the docker error above; run join-fleet.sh again after fixing it"
    exit 1
  fi
  await_healthy "$i"
  say "worker ${name}: ${what}d (spec ${hash:0:12})"
  CHANGES+=("${name} ${what}d")
done

if ((dry_run)); then
  say "ok: dry run, nothing changed (${#roles[@]} roles, ${worker_count} workers planned for ${host})"
elif ((${#CHANGES[@]} > 0)); then
  joined="$(printf '%s; ' "${CHANGES[@]}")"
  say "changed: ${joined%; }"
else
  say "ok: ${host} joined ${fleet}: ${#roles[@]} roles unchanged, ${worker_count} workers running as planned"
fi
