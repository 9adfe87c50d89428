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
usage: join-fleet.sh --plan FILE [--secrets-dir DIR] [--redis-url-file FILE] [--auth-key-file FILE]
                     [--secret KEY=FILE ...] [--settings FILE] [--set FLEET_NAME=VALUE ...]
                     [--roles-dir DIR] [--dry-run] [--help]
       join-fleet.sh --store-secret KEY [--secrets-dir DIR] < value

Joins this machine to the fleet as the join plan's host: runs the role scripts of the plan in order
(facts, base, tailscale, docker, [nvidia-driver, container-toolkit, mps,] verify), then starts, keeps
or replaces the host's worker containers with `docker run`, and stops containers of this host the
plan no longer has. Run it as root on the machine itself (directly, or with sudo). A second run with
the same plan and secrets changes nothing and ends with `ok: ...`.

  --plan FILE            the join plan: npm run join-plan -- <stack> <host> --out FILE
  --secrets-dir DIR      where secret files are looked up by config key (default /etc/gpu-fleet/secrets):
                         DIR/redisUrl, DIR/authKey, DIR/<key> for each key the plan's "secrets" lists.
                         It must be a root-owned directory of mode 0700.
  --store-secret KEY     write stdin (one line) to DIR/KEY with mode 0600, creating DIR with mode 0700;
                         then exit. KEY: redisUrl, authKey, or a key of the plan's "secrets".
  --redis-url-file FILE  file holding the Redis URL with its password (config key redisUrl); needed
                         when the plan has workers. Workers receive it as REDIS_URL. Default: DIR/redisUrl.
  --auth-key-file FILE   file holding this host's Tailscale auth key (stack output joinKeys). Needed
                         only to enroll: a node that is already logged in never reads it. The
                         tailscale role reads it on stdin. Default: DIR/authKey when it exists.
  --secret KEY=FILE      the value of the secret config key KEY (a service's env `{ secret: KEY }`),
                         read from FILE. Default: DIR/KEY.
  --settings FILE        FLEET_NAME=VALUE lines (# comments) passed to every role, e.g. an apt mirror:
                         FLEET_TAILSCALE_APT_REPO=... The plan's values win over them.
  --set FLEET_NAME=VALUE one such setting; repeatable; wins over --settings.
  --roles-dir DIR        where the role scripts are (default: roles/ next to this script, which is
                         scripts/roles in the repository)
  --dry-run              print every role and docker command it would run (secrets as [secret]);
                         change nothing, except installing jq (which reads the plan) when it is missing.
  --help                 this text

Settings come from flags and files only: FLEET_* variables in the environment are not passed on
(sudo drops them anyway). Secrets never go on a command line: the auth key goes to the tailscale
role on stdin, REDIS_URL and the secret env go to `docker run --env-file` through a 0600 file that is
removed right after.

Output: progress lines on stdout, command output on stderr; the last line of stdout is
`changed: <what>`, `ok: <what>` or `failed: join-fleet on <host>: <step>: <why>`. Exit 0 on success,
1 when a step fails, 2 on a bad command line, plan, setting or secret file, 75 when the nvidia-driver
role scheduled a reboot (run join-fleet.sh again after it).
EOF
}

# Every exit path ends stdout with one status line. `step` names what the script is doing, so an
# unexpected failure (errexit) still says where: the EXIT trap prints it.
step="reading the command line"
host=""
final_line=0
work_dir=""
say() { echo "$*"; }
log() { echo "join-fleet: $*" >&2; }
# finish_line LINE: the run's last line of stdout.
finish_line() {
  final_line=1
  say "$1"
}
fail_line() { # fail_line REASON [HINT]
  finish_line "failed: join-fleet on ${host:-this machine}: ${step}: $1${2:+. hint: $2}"
}
die() { # die CODE MESSAGE [HINT]
  fail_line "$2" "${3:-}"
  exit "$1"
}
on_exit() {
  local rc=$?
  [[ -z "$work_dir" ]] || rm -rf "$work_dir"
  if ((rc != 0 && final_line == 0)); then
    fail_line "stopped (exit ${rc})" "read the output above; fix the cause and run join-fleet.sh again"
  fi
}
trap on_exit EXIT

plan_file=""
redis_url_file=""
auth_key_file=""
roles_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/roles"
secrets_dir=/etc/gpu-fleet/secrets
store_key=""
dry_run=0
declare -A secret_files=()
settings_files=()
set_words=()

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
    --secrets-dir) secrets_dir="${2:-}"; shift 2 || die 2 "--secrets-dir needs a directory" ;;
    --secrets-dir=*) secrets_dir="${1#*=}"; shift ;;
    --store-secret) store_key="${2:-}"; shift 2 || die 2 "--store-secret needs a config key" ;;
    --store-secret=*) store_key="${1#*=}"; shift ;;
    --settings) settings_files+=("${2:-}"); shift 2 || die 2 "--settings needs a file" ;;
    --settings=*) settings_files+=("${1#*=}"); shift ;;
    --set) set_words+=("${2:-}"); shift 2 || die 2 "--set needs FLEET_NAME=VALUE" ;;
    --set=*) set_words+=("${1#*=}"); shift ;;
    --roles-dir) roles_dir="${2:-}"; shift 2 || die 2 "--roles-dir needs a directory" ;;
    --roles-dir=*) roles_dir="${1#*=}"; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die 2 "unknown argument '$1' (see --help)" ;;
  esac
done

# --- secrets directory ----------------------------------------------------------------------------
# Root's own, mode 0700: the files in it are the fleet's secrets.
step="checking the secrets directory"
[[ "$secrets_dir" == /* ]] || die 2 "--secrets-dir ${secrets_dir} must be an absolute path"
secrets_dir_safe() {
  [[ -d "$secrets_dir" && ! -L "$secrets_dir" ]] || return 1
  [[ "$(stat -c '%u %a' "$secrets_dir")" == "0 700" ]]
}
if [[ -n "$store_key" ]]; then
  step="storing the secret ${store_key}"
  [[ "$store_key" =~ ^[A-Za-z][A-Za-z0-9_.-]*$ ]] || die 2 "'${store_key}' is not a config key (e.g. redisUrl, authKey, hfToken)"
  ((EUID == 0)) || die 2 "must run as root (running as uid ${EUID})" "run it as root, or with sudo"
  if [[ ! -e "$secrets_dir" ]]; then
    (umask 077 && mkdir -p "$secrets_dir")
    chown 0:0 "$secrets_dir"
    chmod 0700 "$secrets_dir"
  fi
  # shellcheck disable=SC2310 # secrets_dir_safe only tests; nothing in it relies on errexit
  secrets_dir_safe || die 2 "${secrets_dir} is not a root-owned directory of mode 0700" "chown root:root ${secrets_dir} && chmod 0700 ${secrets_dir}"
  value="$(cat)"
  value="${value%$'\r'}"
  [[ -n "$value" ]] || die 2 "nothing on stdin" "pipe the value in: join-fleet.sh --store-secret ${store_key} < file"
  [[ "$value" != *$'\n'* ]] || die 2 "the value has more than one line; a secret here is one line"
  (umask 077 && printf '%s\n' "$value" >"${secrets_dir}/.${store_key}.tmp")
  mv -f "${secrets_dir}/.${store_key}.tmp" "${secrets_dir}/${store_key}"
  finish_line "changed: ${secrets_dir}/${store_key} written (mode 0600)"
  exit 0
fi

step="reading the plan"
[[ -n "$plan_file" ]] || die 2 "--plan FILE is required (see --help)"
[[ -r "$plan_file" ]] || die 2 "cannot read the plan ${plan_file}"
if ((!dry_run)) && ((EUID != 0)); then
  die 2 "must run as root (running as uid ${EUID})" "run it as root, or with sudo if the machine has it"
fi

# --- settings -------------------------------------------------------------------------------------
# FLEET_* settings for the roles come from --settings files and --set flags, never from the
# environment: `sudo` resets it (env_reset), and a setting must not depend on how the script started.
step="reading the settings"
declare -A settings=()
add_setting() { # add_setting WORD WHERE
  [[ "$1" =~ ^(FLEET_[A-Z0-9_]+)=(.*)$ ]] || die 2 "${2}: '${1}' is not FLEET_NAME=VALUE"
  settings["${BASH_REMATCH[1]}"]="${BASH_REMATCH[2]}"
}
for file in "${settings_files[@]}"; do
  [[ -r "$file" ]] || die 2 "cannot read the settings file ${file}"
  n=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$((n + 1))
    line="${line%$'\r'}"
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    add_setting "$line" "${file}:${n}"
  done <"$file"
done
for word in "${set_words[@]}"; do add_setting "$word" "--set"; done

# jq reads the plan. The base role installs it too, but the plan must be read before any role runs,
# the dry run's included: installing jq is the one change a dry run makes.
step="installing jq"
if ! command -v jq >/dev/null 2>&1; then
  ((EUID == 0)) || die 2 "jq is missing and only root can install it" "run it as root (it installs jq), or apt-get install jq"
  command -v apt-get >/dev/null 2>&1 || die 2 "jq is missing and there is no apt-get" "install jq"
  log "installing jq to read the plan"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; } >&2; then
    die 1 "apt-get install jq failed" "check the machine's apt sources and network (apt-get update shows the failing source)"
  fi
  say "installed jq (it reads the plan)"
  CHANGES_EARLY="installed jq"
fi

step="reading the plan"

plan_json="$(jq -c . "$plan_file" 2>/dev/null)" || die 2 "${plan_file} is not JSON"
jq -e '(.version == 1) and (.host | type == "string") and (.fleet | type == "string") and (.roles | type == "array") and (.workers | type == "array") and (.secrets | type == "array")' <<<"$plan_json" >/dev/null \
  || die 2 "${plan_file} is not a version 1 join plan (npm run join-plan -- <stack> <host> --out FILE)"
# Fail closed: a plan from before workers carried their privileges and limits would run them as the image says.
jq -e 'all(.workers[]; . as $w | (.container | type == "object" and (.user | test("^[1-9][0-9]*:[1-9][0-9]*$")) and .capDrop == ["ALL"] and .noNewPrivileges == true)
  and (.runFlags | type == "array" and index(["--user", $w.container.user]) != null and index(["--cap-drop", "ALL"]) != null and index(["--security-opt", "no-new-privileges:true"]) != null))' <<<"$plan_json" >/dev/null \
  || die 2 "${plan_file} has workers without their container settings (non-root user, dropped capabilities): make a new plan with npm run join-plan"
host="$(jq -r .host <<<"$plan_json")"
fleet="$(jq -r .fleet <<<"$plan_json")"
[[ "$host" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]] || die 2 "the plan's host '${host}' is not a host name"

CHANGES=()
[[ -z "${CHANGES_EARLY:-}" ]] || CHANGES+=("$CHANGES_EARLY")
OKS=()

# --- secrets --------------------------------------------------------------------------------------
# Values stay in shell variables (never exported, never in argv) until they go to the 0600 env file.

# read_secret FILE WHAT KEY: secret_values[KEY] = the file's content without trailing newlines; one
# line only. Runs in this shell (not in $(...)), so a refusal ends the run with its failed: line.
read_secret() {
  local file=$1 what=$2 key=$3 value
  [[ -r "$file" ]] || die 2 "cannot read ${what} file ${file}"
  value="$(<"$file")"
  value="${value%$'\r'}"
  [[ -n "$value" ]] || die 2 "${what} file ${file} is empty"
  [[ "$value" != *$'\n'* ]] || die 2 "${what} file ${file} has more than one line; an env value is one line"
  secret_values["$key"]="$value"
}

step="reading the secrets"
worker_count="$(jq '.workers | length' <<<"$plan_json")"
redis_key="$(jq -r '.secrets[0] // "redisUrl"' <<<"$plan_json")"
# Files in the secrets directory stand in for the flags not given.
# shellcheck disable=SC2310 # secrets_dir_safe only tests; nothing in it relies on errexit
if secrets_dir_safe; then
  [[ -n "$redis_url_file" || ! -e "${secrets_dir}/${redis_key}" ]] || redis_url_file="${secrets_dir}/${redis_key}"
  [[ -n "$auth_key_file" || ! -e "${secrets_dir}/authKey" ]] || auth_key_file="${secrets_dir}/authKey"
  while IFS= read -r key; do
    [[ -n "$key" && -z "${secret_files[$key]:-}" && -e "${secrets_dir}/${key}" ]] || continue
    secret_files["$key"]="${secrets_dir}/${key}"
  done < <(jq -r '.secrets[1:][]' <<<"$plan_json")
elif [[ -e "$secrets_dir" ]]; then
  die 2 "${secrets_dir} is not a root-owned directory of mode 0700, so its files are not used" "chown root:root ${secrets_dir} && chmod 0700 ${secrets_dir}"
fi
declare -A secret_values=()
if ((worker_count > 0)); then
  if [[ -z "$redis_url_file" && -n "${secret_files[$redis_key]:-}" ]]; then redis_url_file="${secret_files[$redis_key]}"; fi
  [[ -n "$redis_url_file" ]] || die 2 "the plan has ${worker_count} workers and no Redis URL was given" "join-fleet.sh --store-secret ${redis_key} < file, or --redis-url-file FILE"
  read_secret "$redis_url_file" "Redis URL" "$redis_key"
  [[ "${secret_values[$redis_key]}" =~ ^rediss?:// ]] || die 2 "the Redis URL in ${redis_url_file} must start with redis:// or rediss://"
  while IFS= read -r key; do
    [[ -n "$key" && "$key" != "$redis_key" ]] || continue
    [[ -n "${secret_files[$key]:-}" ]] || die 2 "the workers need the secret '${key}'" "join-fleet.sh --store-secret ${key} < file, or --secret ${key}=FILE"
    read_secret "${secret_files[$key]}" "secret ${key}" "$key"
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
umask 077

# quoted WORD...: the words as a shell would need them, for printing commands.
quoted() {
  local out="" w
  for w in "$@"; do out+="$(printf '%q' "$w") "; done
  printf '%s' "${out% }"
}

# --- roles ----------------------------------------------------------------------------------------

step="checking the role scripts"
[[ -d "$roles_dir" && -r "${roles_dir}/lib.sh" ]] || die 2 "no role scripts in ${roles_dir} (lib.sh missing): copy scripts/roles next to this script or give --roles-dir"
mapfile -t roles < <(jq -r '.roles[].role' <<<"$plan_json")
for role in "${roles[@]}"; do
  [[ -r "${roles_dir}/${role}.sh" ]] || die 2 "role script ${roles_dir}/${role}.sh is missing"
done

# The FLEET_* words of role number I: the plan's values, NUL-separated so no value is split.
role_env() {
  jq -j --argjson i "$1" '.roles[$i].env | to_entries[] | "\(.key)=\(.value)\u0000"' <<<"$plan_json"
}

# The settings' words: `env` applies words left to right, so the plan's (after them) win. FLEET_*
# variables of this shell's environment are removed first (-u): only flags and files set the roles'.
setting_words=()
while IFS= read -r name; do setting_words+=(-u "$name"); done < <(compgen -e | grep '^FLEET_' || true)
for name in "${!settings[@]}"; do setting_words+=("${name}=${settings[$name]}"); done

for i in "${!roles[@]}"; do
  role="${roles[$i]}"
  step="role ${role}"
  mapfile -d '' plan_words < <(role_env "$i")
  env_words=("${setting_words[@]}" "${plan_words[@]}")
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
    fail_line "failed${reason:+ (${reason})}; the roles after it and the workers did not run" "fix the cause and run join-fleet.sh again"
    exit 1
  fi
  say "role ${role}: ${status}"
  case "$status" in
    changed:*) CHANGES+=("${role}: ${status#changed: }") ;;
    ok:*) OKS+=("$role") ;;
    *) fail_line "printed no status line" "check ${roles_dir}/${role}.sh"; exit 1 ;;
  esac
  if [[ "$status" == *"reboot scheduled"* ]]; then
    finish_line "changed: $(printf '%s; ' "${CHANGES[@]}" | sed 's/; $//'); the machine reboots now: run join-fleet.sh again after the reboot to finish (the remaining roles and the workers did not run)"
    exit 75
  fi
done

# --- workers --------------------------------------------------------------------------------------

step="workers: checking docker"
docker_ok=0
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then docker_ok=1; fi
if ((!dry_run && !docker_ok && worker_count > 0)); then
  die 1 "docker does not answer after the docker role" "run 'systemctl status docker'"
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
  local i=$1 file=$2 hash=$3 w flag
  w="$(jq -c --argjson i "$i" '.workers[$i]' <<<"$plan_json")"
  # A manual worker is created stopped and stays stopped across reboots until an operator starts it
  # (npm run service -- start); docs/timeshare.md.
  local verb=(run -d) restart=unless-stopped
  if [[ "$(jq -r '.residency // "resident"' <<<"$w")" == manual ]]; then
    verb=(create)
    restart=no
  fi
  run_args=("${verb[@]}" --name "$(jq -r .containerName <<<"$w")" --hostname "$(jq -r .name <<<"$w")"
    --restart "$restart" --env-file "$file"
    --log-driver json-file --log-opt "max-size=${LOG_MAX_SIZE}" --log-opt "max-file=${LOG_MAX_FILE}")
  # Init, stop signal and drain time, GPU, privileges and limits, health check: the plan's runFlags,
  # made by dockerRunFlags (components/core/worker-container.ts) from the same settings Workers.ts
  # gives the Pulumi path; check-image and tune run workers with the same flags.
  while IFS= read -r -d '' flag; do run_args+=("$flag"); done < <(jq -j '.runFlags | map(tostring + "\u0000") | join("")' <<<"$w")
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
  die 1 "worker ${name} is ${state} after ${budget}s" "docker logs ${name}; docker inspect -f '{{json .State.Health}}' ${name}"
}

step="workers: comparing with the running containers"
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
    die 1 "a container named ${name} exists that is not a worker of ${host} (label gpu-fleet.host='${cur_host}')" "remove or rename it (docker rm -f ${name}) and run again"
  elif [[ "$cur_hash" != "$hash" ]]; then
    actions+=("replace ${i} ${hash}")
  elif [[ "$cur_status" == "running" || "$cur_status" == "restarting" ]]; then
    actions+=("ok ${i} ${hash}")
  elif [[ "$(jq -r --argjson i "$i" '.workers[$i].residency // "resident"' <<<"$plan_json")" == manual ]]; then
    actions+=("manual ${i} ${hash}")
  else
    # Created, exited or dead: left by a failed run (docker run created it, then could not start it)
    # or stopped by hand. Starting it again would repeat what failed with no new information; a new
    # container from the plan is the state the plan asks for.
    actions+=("recreate ${i} ${hash}")
  fi
done

# Containers of this host the plan no longer has: drained and removed first, freeing their resources.
step="workers: removing the containers the plan no longer has"
if ((docker_ok)); then
  while IFS=$'\t' read -r name drain; do
    [[ -n "$name" && -z "${planned[$name]:-}" ]] || continue
    run_cmd docker stop -t "${drain:-30}" "$name"
    run_cmd docker rm "$name"
    ((dry_run)) || CHANGES+=("${name} removed")
  done < <(docker ps -a --filter "label=gpu-fleet.host=${host}" --format '{{.Names}}	{{.Label "gpu-fleet.drain-seconds"}}')
fi

# Images before any container is created or replaced (after the removals above), so a replaced worker
# is down only for its drain and restart, never for a pull.
declare -A pulled=()
for action in "${actions[@]}"; do
  read -r what i _ <<<"$action"
  [[ "$what" == create || "$what" == replace || "$what" == recreate ]] || continue
  image="$(jq -r --argjson i "$i" '.workers[$i].image' <<<"$plan_json")"
  [[ -z "${pulled[$image]:-}" ]] || continue
  pulled["$image"]=1
  step="workers: pulling ${image}"
  if ((docker_ok)) && docker image inspect "$image" >/dev/null 2>&1; then continue; fi
  # shellcheck disable=SC2310 # run_cmd ends with the command it runs: its status is that command's
  if ! run_cmd docker pull "$image"; then
    die 1 "docker pull failed; no worker was changed" "check the image name and 'docker login' for a private registry"
  fi
done

for action in "${actions[@]}"; do
  read -r what i hash <<<"$action"
  name="$(jq -r --argjson i "$i" '.workers[$i].containerName' <<<"$plan_json")"
  drain="$(jq -r --argjson i "$i" '.workers[$i].drainSeconds' <<<"$plan_json")"
  step="worker ${name}: ${what}"
  case "$what" in
    ok)
      say "worker ${name}: ok (running, spec ${hash:0:12})"
      OKS+=("$name")
      continue
      ;;
    manual)
      say "worker ${name}: ok (manual, stopped until started by hand, spec ${hash:0:12})"
      OKS+=("$name")
      continue
      ;;
    recreate)
      run_cmd docker rm -f "$name"
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
    die 1 "docker run failed (exit ${rc})" "read the docker error above; run join-fleet.sh again after fixing it: the container is recreated"
  fi
  step="worker ${name}: waiting until healthy"
  [[ "$(jq -r --argjson i "$i" '.workers[$i].residency // "resident"' <<<"$plan_json")" == manual ]] || await_healthy "$i"
  say "worker ${name}: ${what}d (spec ${hash:0:12})"
  CHANGES+=("${name} ${what}d")
done

if ((dry_run)); then
  finish_line "ok: dry run, nothing changed$([[ -z "${CHANGES_EARLY:-}" ]] || echo " but ${CHANGES_EARLY}") (${#roles[@]} roles, ${worker_count} workers planned for ${host})"
elif ((${#CHANGES[@]} > 0)); then
  joined="$(printf '%s; ' "${CHANGES[@]}")"
  finish_line "changed: ${joined%; }"
else
  finish_line "ok: ${host} joined ${fleet}: ${#roles[@]} roles unchanged, ${worker_count} workers running as planned"
fi
