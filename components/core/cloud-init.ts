// cloud-init user data for new Hetzner Cloud servers: install Tailscale and enroll the server in the tailnet at first
// boot. Pure: renders text from its input, no Pulumi, no I/O. See docs/hetzner.md.
//
// What the rendered user data does:
// - bootcmd (every boot, before write_files): makes the key's directory under /run (tmpfs, never on disk) root-only.
// - write_files: the auth key (0600, root) and the enrollment script (0700; it holds no secret).
// - runcmd (first boot only): runs the script. The command line names the script, never the key.
// The script installs Tailscale from Tailscale's apt repository (Debian/Ubuntu; skipped when the image already has
// it) after checking the repository key's fingerprint against the pinned one (a mismatch stops it), then enrolls with `tailscale up --auth-key=file:<path> ...` only when `tailscale status` says NeedsLogin, and
// removes the key file whatever happens. It never prints the key.

import { stringify } from "yaml";

/** Where the rendered user data puts things on the server. Overridable for tests only. */
export interface CloudInitPaths {
  /** The auth key file (mode 0600). Under /run: tmpfs, gone at the next reboot at the latest. */
  readonly authKeyFile: string;
  /** The enrollment script (mode 0700), kept so an operator can re-run it (docs/hetzner.md). */
  readonly enrollScript: string;
  /** Written after a successful enrollment: the cloud-init instance id of the server that enrolled. */
  readonly enrolledMarker: string;
  /** cloud-init's record of this server's instance id. */
  readonly instanceIdFile: string;
  /** tailscaled's state file (node identity). */
  readonly tailscaleStateFile: string;
}

export const DEFAULT_CLOUD_INIT_PATHS: CloudInitPaths = {
  authKeyFile: "/run/gpu-fleet/tailscale-auth-key",
  enrollScript: "/usr/local/sbin/gpu-fleet-tailscale-enroll",
  enrolledMarker: "/var/lib/gpu-fleet/tailscale-enrolled-instance",
  instanceIdFile: "/var/lib/cloud/data/instance-id",
  tailscaleStateFile: "/var/lib/tailscale/tailscaled.state",
};

/** Hetzner Cloud's limit for user data. */
export const USER_DATA_LIMIT_BYTES = 32 * 1024;
export const DEFAULT_TAILSCALE_APT_REPO = "https://pkgs.tailscale.com/stable";
export const DEFAULT_ENROLL_TIMEOUT_SECONDS = 120;
/**
 * Tailscale's apt signing key, checked by full fingerprint before apt trusts it: the same pin as
 * scripts/roles/tailscale.sh (a unit test keeps the two equal; docs/roles.md cites the source).
 */
export const TAILSCALE_KEY_FINGERPRINT = "2596A99EAAB33821893C0A79458CA832957F5868";

/** Everything but the secret: checked before any resource exists. */
export interface TailscaleEnrollment {
  /** The node's tailnet name (and the server's name): an RFC 1123 label. */
  readonly hostName: string;
  /** Tags the node requests; the auth key must carry (at least) these. */
  readonly tags: readonly string[];
  /** Base URL of Tailscale's apt repository, or a mirror of it. */
  readonly tailscaleAptRepo?: string;
  /** How long `tailscale up` may wait for the node to come up, per attempt. */
  readonly enrollTimeoutSeconds?: number;
  readonly paths?: Partial<CloudInitPaths>;
}

export interface CloudInitInput extends TailscaleEnrollment {
  /** The host's Tailscale auth key. Ends up in the user data, which must therefore be handled as a secret. */
  readonly authKey: string;
  /**
   * The server's SSH host key, made by the program (Ed25519, OpenSSH format). cloud-init installs it
   * and deletes the image's keys, so the first connection is already pinned to it. Secret.
   */
  readonly sshHostKey?: { readonly privateKey: string; readonly publicKey: string };
}

/**
 * What a Hetzner Cloud server is: the inputs that make it a different machine. A new value replaces
 * the server, and with it its tailnet key and host key (their replacementTrigger), so the new
 * server's user data carries new ones. Readable, because diffs show it.
 */
export function hcloudServerIdentity(server: { readonly location: string; readonly image: string; readonly snapshot?: string; readonly keyGeneration?: string | number }): string {
  const parts = [`location=${server.location}`, server.snapshot !== undefined ? `snapshot=${server.snapshot}` : `image=${server.image}`];
  if (server.keyGeneration !== undefined) parts.push(`keyGeneration=${String(server.keyGeneration)}`);
  return parts.join(" ");
}

const ED25519_PUBLIC = /^ssh-ed25519 [A-Za-z0-9+/]+={0,2}$/;

function validateHostKey(key: CloudInitInput["sshHostKey"]): string[] {
  if (key === undefined) return [];
  const problems: string[] = [];
  if (!ED25519_PUBLIC.test(key.publicKey.trim())) problems.push("sshHostKey.publicKey: must be one `ssh-ed25519 AAAA...` key");
  if (!/^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+\n-----END OPENSSH PRIVATE KEY-----\n?$/.test(key.privateKey)) problems.push("sshHostKey.privateKey: must be an OpenSSH private key");
  return problems;
}

export class CloudInitError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`cloud-init: ${problems.join("; ")}`);
    this.name = "CloudInitError";
  }
}

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TAG = /^tag:[A-Za-z0-9][A-Za-z0-9-]*$/;
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
const SAFE_URL = /^https?:\/\/[A-Za-z0-9.:/_~-]+$/;

/** Problems with the non-secret part of the input, each naming its field. Empty when valid. */
export function validateEnrollment(input: TailscaleEnrollment): string[] {
  const problems: string[] = [];
  if (!HOSTNAME.test(input.hostName)) {
    problems.push(`hostName: '${input.hostName}' must be 1-63 letters, digits and dashes, not starting or ending with a dash`);
  }
  if (input.tags.length === 0) problems.push("tags: at least one tag, e.g. tag:gpu-worker (an untagged node would belong to the key's creator)");
  for (const tag of input.tags) {
    if (!TAG.test(tag)) problems.push(`tags: '${tag}' must look like tag:name (letters, digits, dashes)`);
  }
  if (new Set(input.tags).size !== input.tags.length) problems.push("tags: a tag is listed twice");
  const repo = input.tailscaleAptRepo;
  if (repo !== undefined && !SAFE_URL.test(repo)) problems.push(`tailscaleAptRepo: '${repo}' must be an http(s) URL without spaces or quotes`);
  const timeout = input.enrollTimeoutSeconds;
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 10 || timeout > 3600)) {
    problems.push(`enrollTimeoutSeconds: ${String(timeout)} must be a whole number from 10 to 3600`);
  }
  for (const [field, path] of Object.entries(input.paths ?? {})) {
    if (path !== undefined && !SAFE_PATH.test(path)) problems.push(`paths.${field}: '${path}' must be an absolute path of letters, digits and . _ / -`);
  }
  return problems;
}

function validateAuthKey(key: string): string[] {
  if (key.length === 0) return ["authKey: is empty"];
  // Never quote the key in a message.
  if (/[\s'"\\]/.test(key)) return ["authKey: contains whitespace, quotes or backslashes; it does not look like a Tailscale auth key"];
  return [];
}

/** Single-quotes a value for bash. Values are validated first; this is a second line of defence. */
function q(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The enrollment script. Contains no secret: it reads the key file by path. */
export function renderEnrollScript(input: TailscaleEnrollment): string {
  const paths = { ...DEFAULT_CLOUD_INIT_PATHS, ...input.paths };
  const repo = (input.tailscaleAptRepo ?? DEFAULT_TAILSCALE_APT_REPO).replace(/\/+$/, "");
  const timeout = input.enrollTimeoutSeconds ?? DEFAULT_ENROLL_TIMEOUT_SECONDS;
  return `#!/bin/bash
# gpu-fleet: install Tailscale and enroll this server in the tailnet. Rendered by components/core/cloud-init.ts.
# cloud-init runs it once, at first boot. To enroll by hand later: write a fresh auth key to
# ${paths.authKeyFile} (mode 0600) and run this script again. The key is read by tailscale itself
# (--auth-key=file:...); it is never printed and never on a command line. The key file is removed on exit.
set -euo pipefail
umask 077

KEY_FILE=${q(paths.authKeyFile)}
MARKER=${q(paths.enrolledMarker)}
INSTANCE_ID_FILE=${q(paths.instanceIdFile)}
STATE_FILE=${q(paths.tailscaleStateFile)}
TS_HOSTNAME=${q(input.hostName)}
TS_TAGS=${q(input.tags.join(","))}
TS_TIMEOUT=${timeout}
REPO=${q(repo)}
TS_KEY_FINGERPRINT=${q(TAILSCALE_KEY_FINGERPRINT)}

log() { echo "gpu-fleet-tailscale-enroll: $*" >&2; }
trap 'rm -f "$KEY_FILE"' EXIT

install_tailscale() {
  if command -v tailscale >/dev/null 2>&1; then return 0; fi
  local id codename fingerprint keydir keyring=/usr/share/keyrings/tailscale-archive-keyring.gpg
  # shellcheck source=/dev/null
  id="$(. /etc/os-release && echo "\${ID:-}")"
  # shellcheck source=/dev/null
  codename="$(. /etc/os-release && echo "\${VERSION_CODENAME:-}")"
  case "$id" in
    debian | ubuntu) ;;
    *) log "no tailscale in the image and '\${id:-unknown}' is not Debian or Ubuntu: use an image with tailscale installed"; return 1 ;;
  esac
  [[ -n "$codename" ]] || { log "/etc/os-release has no VERSION_CODENAME"; return 1; }
  export DEBIAN_FRONTEND=noninteractive
  if ! command -v curl >/dev/null 2>&1 || ! command -v gpg >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q curl ca-certificates gnupg
  fi
  # The key is checked before apt trusts it: its primary key's full fingerprint must be the pinned one.
  keydir="$(mktemp -d)"
  curl -fsSL --retry 5 --retry-connrefused -o "$keydir/key" "\${REPO}/\${id}/\${codename}.noarmor.gpg"
  fingerprint="$(gpg --homedir "$keydir" --batch --with-colons --show-keys "$keydir/key" 2>/dev/null |
    awk -F: '$1 == "pub" { primary = 1; next } $1 == "fpr" && primary { print $10 } { primary = 0 }' | sort | paste -sd, -)" || fingerprint=""
  if [[ "$fingerprint" != "$TS_KEY_FINGERPRINT" ]]; then
    log "the signing key from \${REPO} has fingerprint \${fingerprint:-<none: not an OpenPGP key>}, expected \${TS_KEY_FINGERPRINT}: not installing tailscale from it"
    rm -rf "$keydir"
    return 1
  fi
  install -d -m 0755 /usr/share/keyrings
  install -m 0644 "$keydir/key" "$keyring"
  rm -rf "$keydir"
  printf 'deb [signed-by=%s] %s/%s %s main\\n' "$keyring" "$REPO" "$id" "$codename" >/etc/apt/sources.list.d/gpu-fleet-tailscale.list
  chmod 0644 /etc/apt/sources.list.d/gpu-fleet-tailscale.list
  local attempt
  for attempt in 1 2 3; do
    if apt-get update -q && apt-get install -y -q tailscale; then return 0; fi
    log "installing tailscale failed (attempt \${attempt}); retrying"
    sleep $((attempt * 10))
  done
  return 1
}

# The node's BackendState (NeedsLogin, Running, ...) from tailscale status, empty while tailscaled does not answer.
backend_state() {
  tailscale status --json 2>/dev/null | sed -n 's/^[[:space:]]*"BackendState":[[:space:]]*"\\([A-Za-z]*\\)".*/\\1/p' | head -n 1 || true
}

wait_for_state() {
  local deadline=$((SECONDS + TS_TIMEOUT)) s
  while :; do
    s="$(backend_state)"
    if [[ -n "$s" && "$s" != NoState ]]; then
      echo "$s"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      log "tailscaled does not answer 'tailscale status' within \${TS_TIMEOUT}s (journalctl -u tailscaled)"
      return 1
    fi
    sleep 1
  done
}

install_tailscale
systemctl enable --now tailscaled.service >/dev/null
state="$(wait_for_state)"

instance_id="$(cat "$INSTANCE_ID_FILE" 2>/dev/null || true)"
enrolled_by="$(cat "$MARKER" 2>/dev/null || true)"
# Logged in, but not by this server: the image (a snapshot of another machine) carried that machine's node
# identity. Drop the copy locally; the other machine keeps its identity (no logout, which would end its session).
if [[ "$state" != NeedsLogin && -n "$instance_id" && "$enrolled_by" != "$instance_id" ]]; then
  log "tailscale state came with the image (state $state); starting from a clean state"
  systemctl stop tailscaled.service
  rm -f "$STATE_FILE"
  systemctl start tailscaled.service
  state="$(wait_for_state)"
fi

case "$state" in
  NeedsLogin)
    if [[ ! -s "$KEY_FILE" ]]; then
      log "the node needs login and $KEY_FILE is missing or empty: write the host's auth key there (mode 0600) and run $0 again"
      exit 1
    fi
    enrolled=""
    for attempt in 1 2 3; do
      if tailscale up --auth-key="file:\${KEY_FILE}" --hostname="$TS_HOSTNAME" --advertise-tags="$TS_TAGS" --ssh --timeout="\${TS_TIMEOUT}s"; then
        enrolled=1
        break
      fi
      log "tailscale up failed (attempt \${attempt}): the key may be used, expired, or lack the tags $TS_TAGS"
      sleep $((attempt * 10))
    done
    rm -f "$KEY_FILE"
    [[ -n "$enrolled" ]] || exit 1
    mkdir -p "$(dirname "$MARKER")"
    printf '%s\\n' "$instance_id" >"$MARKER"
    log "enrolled as $TS_HOSTNAME with $TS_TAGS"
    ;;
  Running | Starting)
    log "already logged in (state $state): the auth key is not used; change settings with 'tailscale set'"
    ;;
  *)
    log "tailscale is in state '$state'; not enrolling (tailscale status)"
    exit 1
    ;;
esac
`;
}

/**
 * The `#cloud-config` user data. Throws CloudInitError (naming fields, never quoting the key) on bad input.
 * The result contains the auth key: treat it as a secret.
 */
export function renderCloudInit(input: CloudInitInput): string {
  const problems = [...validateEnrollment(input), ...validateAuthKey(input.authKey), ...validateHostKey(input.sshHostKey)];
  if (problems.length > 0) throw new CloudInitError(problems);
  const paths = { ...DEFAULT_CLOUD_INIT_PATHS, ...input.paths };
  const keyDir = paths.authKeyFile.slice(0, paths.authKeyFile.lastIndexOf("/")) || "/";
  const doc = {
    // Runs before write_files: the key's directory exists, root-only, before the key is written into it.
    bootcmd: [["install", "-d", "-m", "0700", "-o", "root", "-g", "root", keyDir]],
    write_files: [
      { path: paths.authKeyFile, owner: "root:root", permissions: "0600", content: `${input.authKey}\n` },
      { path: paths.enrollScript, owner: "root:root", permissions: "0700", content: renderEnrollScript(input) },
    ],
    // Exec form: no shell, and the only argument is the script's path.
    runcmd: [[paths.enrollScript]],
    // The program's host key replaces the image's: no key is generated, the image's are deleted.
    ...(input.sshHostKey === undefined
      ? {}
      : {
          ssh_deletekeys: true,
          ssh_genkeytypes: [],
          ssh_keys: { ed25519_private: input.sshHostKey.privateKey.endsWith("\n") ? input.sshHostKey.privateKey : `${input.sshHostKey.privateKey}\n`, ed25519_public: input.sshHostKey.publicKey.trim() },
        }),
  };
  const text = `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > USER_DATA_LIMIT_BYTES) throw new CloudInitError([`user data is ${bytes} bytes; Hetzner accepts at most ${USER_DATA_LIMIT_BYTES}`]);
  return text;
}
