// HostSetup: runs a host's roles over SSH, in order, as remote commands. The role steps and their
// parameters come from the pure role planner; this component only maps them to resources.

import { createHash } from "node:crypto";
import { dirname } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { HostPlan } from "./core/planner";
import { ROLE_LIBRARY, roleFingerprint, shellEnv, shellQuote, type RoleName, type RoleStep } from "./core/roles";

/** How Pulumi reaches a host over SSH. */
export type SshConnection = command.types.input.remote.ConnectionArgs;

export interface HostSetupArgs {
  readonly plan: HostPlan;
  readonly steps: readonly RoleStep[];
  /** Contents of scripts/roles by file name, for fingerprints. */
  readonly scripts: Readonly<Record<string, string>>;
  /** Local path of scripts/roles, relative to the project directory: the folder copied to each host. */
  readonly rolesDir: string;
  /** SSH user on the host; roles run through `sudo -n` unless it is root. */
  readonly sshUser: string;
  /** By public address (SSH hosts before they join the tailnet); absent for hosts enrolled at boot. */
  readonly addressConnection?: pulumi.Input<SshConnection>;
  /** By tailnet name, once the host is on the tailnet. */
  readonly tailnetConnection: pulumi.Input<SshConnection>;
  /**
   * known_hosts lines (`* ssh-ed25519 AAAA...`) with every pinned key, for the OpenSSH client of the
   * reboot wait. Without it, the connection's one hostKey is used.
   */
  readonly tailnetKnownHosts?: pulumi.Input<string>;
  /** By tailnet name with more attempts, for the first copies after an hcloud server is created (cloud-init is still enrolling it). */
  readonly enrollConnection?: pulumi.Input<SshConnection>;
  /** The host's Tailscale auth key (secret); only the tailscale role reads it, on stdin. */
  readonly authKey: pulumi.Input<string>;
  /** Local script that waits for a rebooted host, run on the Pulumi runner. */
  readonly awaitRebootScript: string;
  /** Resources the first role waits for (the server of an hcloud host). */
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
  /**
   * The hcloud server's id. Every copy and role names it in `triggers`, so a new server re-runs them all;
   * and since a trigger is an input taken from the server, the engine deletes them (their undo commands
   * run on the old machine, last role first) before it deletes a server it replaces delete-before-replace
   * (pulumi/pulumi pkg/resource/deploy/step_generator.go, calculateDependentReplacements).
   */
  readonly serverId?: pulumi.Input<string>;
}

/** Where the roles live on the host: under the SSH user's home, never a world-writable path. */
export function remoteRolesDir(sshUser: string): string {
  return `${sshUser === "root" ? "/root" : `/home/${sshUser}`}/.gpu-fleet/roles`;
}

export class HostSetup extends pulumi.ComponentResource {
  /** The last role of each kind, for resources that must start after it (containers). */
  public readonly roles: Readonly<Partial<Record<RoleName, command.remote.Command>>>;

  constructor(name: string, args: HostSetupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gpu-fleet:index:HostSetup", name, {}, opts);
    const dir = remoteRolesDir(args.sshUser);
    const sudo = args.sshUser === "root" ? "" : "sudo -n ";
    const connectionFor = (via: RoleStep["via"], first = false): pulumi.Input<SshConnection> =>
      via === "address" && args.addressConnection !== undefined ? args.addressConnection : first && args.enrollConnection !== undefined ? args.enrollConnection : args.tailnetConnection;
    const serverTriggers = args.serverId === undefined ? [] : [args.serverId];

    // One copy of the whole roles folder per host (one SFTP session), before the first role, over
    // that role's connection (the enroll connection for a new hcloud server); copied again when any
    // script changes (the bundle's hash) and onto a replaced server (its id). A folder source lands
    // in `<remotePath>/<folder name>` on every copy in @pulumi/command 1.2.1
    // (provider/pkg/provider/remote/copyController.go, sftpCopy), so remotePath is the parent of
    // the roles folder. Each role checks its own script and lib.sh against the hashes this stack
    // expects before it runs, so a copy that landed elsewhere fails instead of running stale code.
    const bundle = new command.remote.CopyToRemote(
      `${name}-roles`,
      {
        connection: connectionFor(args.steps[0]?.via ?? "tailnet", true),
        source: new pulumi.asset.FileArchive(args.rolesDir),
        remotePath: dirname(dir),
        triggers: [roleBundleHash(args.scripts), ...serverTriggers],
      },
      { parent: this, dependsOn: args.dependsOn ?? [] },
    );

    const roles: Partial<Record<RoleName, command.remote.Command>> = {};
    let previous: pulumi.Resource[] = [];
    for (const step of args.steps) {
      const first = step === args.steps[0];
      const env = { FLEET_ROLE_FINGERPRINT: roleFingerprint(step, args.scripts), ...step.env };
      const role = new command.remote.Command(
        `${name}-${step.role}`,
        {
          connection: connectionFor(step.via, first),
          create: `${checkScripts(dir, [`${step.role}.sh`, ROLE_LIBRARY, ...(step.mayReboot ? ["await-boot.sh"] : [])], args.scripts)} && ${sudo}env ${shellEnv(env)} bash ${shellQuote(`${dir}/${step.role}.sh`)}`,
          delete: undoCommand(step, sudo, dir) === undefined || args.serverId === undefined ? undoCommand(step, sudo, dir) : pulumi.output(args.serverId).apply((id) => undoCommand(step, sudo, dir, id) ?? ""),
          triggers: serverTriggers.length === 0 ? undefined : serverTriggers,
          // The auth key goes on stdin only: never in the command text, the environment or a log.
          stdin: step.authKeyOnStdin ? pulumi.secret(args.authKey) : undefined,
          logging: step.authKeyOnStdin ? "none" : "stdoutAndStderr",
          addPreviousOutputInEnv: false,
        },
        // No deletedWith: the engine would skip the undo commands (pulumi/pulumi step.go, isDeletedWith).
        { parent: this, dependsOn: [...(first ? (args.dependsOn ?? []) : []), bundle, ...previous] },
      );
      roles[step.role] = role;
      previous = [role];
      if (step.mayReboot) previous = [this.awaitReboot(name, step, role, args, dir, sudo)];
    }
    this.roles = roles;
    this.registerOutputs({ roles: Object.keys(roles) });
  }

  /**
   * A role that schedules a reboot exits first (a synchronous reboot would fail its command); this
   * waits on the Pulumi runner, over ssh, until the host answers with a new boot id.
   */
  private awaitReboot(name: string, step: RoleStep, role: command.remote.Command, args: HostSetupArgs, dir: string, sudo: string): command.local.Command {
    const connection = pulumi.output(args.tailnetConnection);
    return new command.local.Command(
      `${name}-${step.role}-reboot`,
      {
        create: `bash ${shellQuote(args.awaitRebootScript)}`,
        environment: {
          FLEET_HOST: args.plan.name,
          // Empty unless the role said it scheduled a reboot: then the wait is a no-op.
          FLEET_PREVIOUS_BOOT_ID: role.stdout.apply(rebootBootId),
          FLEET_SSH_HOST: connection.host,
          FLEET_SSH_PORT: connection.apply((c) => String(c.port ?? 22)),
          FLEET_SSH_USER: connection.apply((c) => c.user ?? "root"),
          // Empty: trust-on-first-use (the wait then pins the first key it sees for its own duration).
          FLEET_SSH_KNOWN_HOSTS: args.tailnetKnownHosts ?? connection.apply((c) => (c.hostKey ? `* ${c.hostKey}\n` : "")),
          // Once back, the await-boot role waits on the host until systemd has settled.
          // await-reboot.sh fills in the previous boot id (hex and dashes only, checked there).
          FLEET_SETTLE_COMMAND: `${sudo}env ${shellEnv({ FLEET_HOST: args.plan.name, FLEET_PREVIOUS_BOOT_ID: "@PREVIOUS_BOOT_ID@" })} bash ${shellQuote(`${dir}/await-boot.sh`)}`,
        },
        stdin: connection.apply((c) => c.privateKey ?? ""),
        logging: "stdoutAndStderr",
        addPreviousOutputInEnv: false,
        triggers: args.serverId === undefined ? undefined : [args.serverId],
      },
      { parent: this, dependsOn: [role] },
    );
  }
}

/** `changed: ... reboot scheduled (boot id <id>)` → `<id>`; anything else → "". */
export function rebootBootId(stdout: string): string {
  const match = /reboot scheduled[^(\n]*\(boot id ([0-9a-f-]{8,})\)/.exec(stdout);
  return match?.[1] ?? "";
}

/**
 * The undo command of a role. For an hcloud server (serverId), leaving the tailnet first checks that the
 * machine is that server (Hetzner's metadata service): a replaced server's successor has the same tailnet
 * name, and must never be logged out by its predecessor's delete. A machine that cannot say which server
 * it is is not logged out, and the delete fails with the reason.
 */
export function undoCommand(step: RoleStep, sudo: string, dir: string, serverId?: string): string | undefined {
  switch (step.undo?.command) {
    case "leave-tailnet":
      // Logging out also deletes the node's key on the coordination server's side.
      if (serverId !== undefined) {
        if (!/^\d+$/.test(serverId)) throw new Error(`not a Hetzner Cloud server id: '${serverId}'`);
        return `${sudo}sh -c 'id=$(curl -fsS --max-time 5 http://169.254.169.254/hetzner/v1/metadata/instance-id) || { echo "leave-tailnet: cannot read this server id from the metadata service; not logging out" >&2; exit 1; }; if [ "$id" = ${serverId} ]; then command -v tailscale >/dev/null && tailscale logout || true; else echo "leave-tailnet: this is server $id, not ${serverId}; not logging out"; fi'`;
      }
      return `${sudo}sh -c 'command -v tailscale >/dev/null && tailscale logout || true'`;
    case "stop-mps":
      // The mps role itself, told to turn MPS off: stops the daemon and removes the unit.
      return `${sudo}env ${shellEnv({ ...step.env, FLEET_MPS: "off" })} bash ${shellQuote(`${dir}/mps.sh`)}`;
    default:
      return undefined;
  }
}


/** sha256 of a script's text; every host runs the same scripts, so each is hashed once per program. */
const scriptHashes = new Map<string, string>();
function sha256(text: string): string {
  let digest = scriptHashes.get(text);
  if (digest === undefined) {
    digest = createHash("sha256").update(text).digest("hex");
    scriptHashes.set(text, digest);
  }
  return digest;
}

const bundleHashes = new WeakMap<Readonly<Record<string, string>>, string>();
/** sha256 over every script of scripts/roles (names and contents): the bundle is copied again when it changes. */
export function roleBundleHash(scripts: Readonly<Record<string, string>>): string {
  const known = bundleHashes.get(scripts);
  if (known !== undefined) return known;
  const hash = createHash("sha256");
  for (const file of Object.keys(scripts).sort()) hash.update(`${file}\0${scripts[file]}\0`);
  const digest = hash.digest("hex");
  bundleHashes.set(scripts, digest);
  return digest;
}

/**
 * `sha256sum --check` of the scripts a role runs, in the roles folder on the host: fails (naming
 * the file) unless the copy there is the one this stack expects. Runs as the SSH user, who owns it.
 */
export function checkScripts(dir: string, files: readonly string[], scripts: Readonly<Record<string, string>>): string {
  const lines = files.map((file) => {
    const content = scripts[file];
    if (content === undefined) throw new Error(`scripts/roles/${file} is missing`);
    return `${sha256(content)}  ${file}`;
  });
  return `(cd ${shellQuote(dir)} && printf '%s\\n' ${lines.map(shellQuote).join(" ")} | sha256sum --check --quiet --strict)`;
}
