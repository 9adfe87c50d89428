// Host: one machine of the fleet and everything on it. For a Hetzner Cloud host, the server; for
// every host, its roles (HostSetup) and its worker containers (Workers). Hosts are independent of
// one another: changing one host's settings changes no other host's resources.

import * as pulumi from "@pulumi/pulumi";
import { HetznerServer, type HetznerServerArgs, type ServerIdentity } from "./HetznerServer";
import { HostSetup, type SshConnection } from "./HostSetup";
import { Workers } from "./Workers";
import type { HostPlan } from "./core/planner";
import type { RoleStep } from "./core/roles";
import type { HcloudFleetSpec, HostSpec, SecretRef } from "./core/schema";
import { knownHostsLines, providerHostKey, type HostKeySetting, type PinnedHostKey } from "./core/ssh-keys";

export interface HostArgs {
  readonly plan: HostPlan;
  readonly spec: HostSpec;
  readonly fleet: string;
  readonly roles: readonly RoleStep[];
  readonly scripts: Readonly<Record<string, string>>;
  readonly rolesDir: string;
  readonly awaitRebootScript: string;
  /** Text of scripts/health-gate.sh. */
  readonly healthGateScript: string;
  /** This host's Tailscale auth key (secret). */
  readonly authKey: pulumi.Input<string>;
  readonly tags: readonly string[];
  /** The private key for SSH, or undefined to use the runner's ssh-agent (SSH_AUTH_SOCK). */
  readonly privateKey?: pulumi.Input<string>;
  readonly redisUrl: pulumi.Input<string>;
  readonly secret: (ref: SecretRef) => pulumi.Input<string>;
  /** Fleet-wide Hetzner Cloud settings, for hcloud hosts. */
  readonly hcloud?: HcloudFleetSpec;
  readonly placementGroupId?: pulumi.Input<string | number>;
  /** The fleet's hcloud SSH key, installed on hcloud servers at creation. */
  readonly sshKeyId?: pulumi.Input<string | number>;
  /** What the hcloud server is (core/cloud-init.ts hcloudServerIdentity plus its placement group); hcloud hosts only. */
  readonly serverIdentity?: ServerIdentity;
}

/** The HetznerServer of an hcloud host, from its plan and spec (the Fleet's preflight checks the same args). */
export function hetznerServerArgs(
  args: Pick<HostArgs, "plan" | "spec" | "fleet" | "sshKeyId" | "hcloud" | "placementGroupId" | "authKey" | "tags" | "serverIdentity">,
): HetznerServerArgs {
  const hcloud = args.spec.hcloud;
  if (hcloud === undefined) throw new Error(`${args.plan.name} is not an hcloud host`);
  return {
    hostName: args.plan.name,
    serverType: hcloud.serverType,
    location: hcloud.location,
    image: hcloud.image,
    snapshotSelector: hcloud.snapshot,
    labels: hcloud.labels,
    fleet: args.fleet,
    deleteProtection: hcloud.deleteProtection,
    sshKeyId: args.sshKeyId,
    firewall: { sshSourceCidrs: args.hcloud?.sshSourceCidrs ?? [], tailscaleUdp: args.hcloud?.tailscaleUdp ?? false },
    placementGroupId: args.placementGroupId,
    identity: args.serverIdentity ?? "",
    tailscale: { authKey: args.authKey, tags: args.tags },
  };
}

export class Host extends pulumi.ComponentResource {
  public readonly setup: HostSetup;
  public readonly workers: Workers;
  public readonly server: HetznerServer | undefined;
  /** The host's name on the tailnet (MagicDNS). */
  public readonly tailnetName: string;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gpu-fleet:index:Host", name, {}, opts);
    const { plan, spec } = args;
    this.tailnetName = plan.name;

    const hcloud = spec.hcloud;
    this.server = hcloud === undefined ? undefined : new HetznerServer(`${name}-server`, hetznerServerArgs(args), { parent: this });

    // Before it joins the tailnet an SSH host is reached at its address (with its jump host);
    // afterwards, and from the start for hcloud hosts enrolled at boot, by its tailnet name.
    const user = spec.ssh?.user ?? "root";
    const port = spec.ssh?.port ?? 22;
    // The pinned keys (plan refuses an SSH host without them unless it says trust-on-first-use).
    // The command provider takes one key; OpenSSH (Docker, the reboot wait) takes them all.
    // An hcloud server's host key is made by the program and installed by cloud-init: pinned from the first dial.
    const pinned = pinnedKeys(spec.ssh?.hostKey);
    const serverKey = this.server?.hostPublicKey;
    const hostKey: pulumi.Input<string> | undefined = serverKey ?? (pinned === undefined ? undefined : providerHostKey(pinned));
    const jumpPinned = pinnedKeys(spec.ssh?.jumpHost?.hostKey);
    // Fail fast: a down host costs timeoutSeconds × attempts, not pulumi-command's default 10 × 15 s
    // (pulumi/pulumi-command provider/pkg/provider/remote/connection.go: dialErrorLimit, perDialTimeout).
    const dial = { perDialTimeout: spec.connect.timeoutSeconds, dialErrorLimit: spec.connect.attempts };
    const tailnetConnection: SshConnection = { host: plan.name, port, user, hostKey, privateKey: args.privateKey, ...dial };
    // Right after the server is created, it is reachable on the tailnet only once cloud-init has enrolled it.
    const enrollConnection: SshConnection | undefined = hcloud === undefined ? undefined : { ...tailnetConnection, dialErrorLimit: spec.connect.enrollAttempts };
    const jump = spec.ssh?.jumpHost;
    const addressConnection: SshConnection | undefined =
      spec.ssh === undefined
        ? undefined
        : {
            host: spec.ssh.address,
            port,
            user,
            hostKey,
            privateKey: args.privateKey,
            ...dial,
            proxy: jump === undefined ? undefined : { host: jump.address, port: jump.port, user: jump.user, hostKey: jumpPinned === undefined ? undefined : providerHostKey(jumpPinned), privateKey: args.privateKey, ...dial },
          };

    this.setup = new HostSetup(
      `${name}-setup`,
      {
        plan,
        steps: args.roles,
        scripts: args.scripts,
        rolesDir: args.rolesDir,
        sshUser: user,
        addressConnection,
        tailnetConnection,
        tailnetKnownHosts: serverKey !== undefined ? serverKey.apply((k) => `* ${k}\n`) : pinned === undefined ? undefined : knownHostsLines(pinned),
        enrollConnection,
        authKey: args.authKey,
        awaitRebootScript: args.awaitRebootScript,
        dependsOn: this.server === undefined ? [] : [this.server.server],
        serverId: this.server?.server.id,
      },
      { parent: this },
    );

    const roles = this.setup.roles;
    this.workers = new Workers(
      `${name}-workers`,
      {
        plan,
        fleet: args.fleet,
        dockerHost: `ssh://${user}@${plan.name}:${port}`,
        hostKeys: serverKey !== undefined ? serverKey.apply((k) => [k]) : pinned?.map((k) => `${k.type} ${k.base64}`),
        connect: spec.connect,
        redisUrl: args.redisUrl,
        secret: args.secret,
        // Containers start once Docker, the GPU runtime and MPS are in place and Redis answers.
        dependsOn: [roles.docker, roles["container-toolkit"], roles.mps, roles.verify].filter((r): r is NonNullable<typeof r> => r !== undefined),
        gate: { connection: tailnetConnection, script: args.healthGateScript, sudo: user !== "root" },
        serverId: this.server?.server.id,
      },
      // No deletedWith: a deleted-with resource's own delete is skipped (pulumi/pulumi step.go,
      // isDeletedWith), and the containers' deletes are their drain.
      { parent: this },
    );

    this.registerOutputs({ tailnetName: this.tailnetName });
  }
}

/** The pinned keys of an endpoint, or undefined for trust-on-first-use (or none given). */
function pinnedKeys(setting: HostKeySetting | undefined): readonly PinnedHostKey[] | undefined {
  return setting?.mode === "pinned" && setting.keys.length > 0 ? setting.keys : undefined;
}
