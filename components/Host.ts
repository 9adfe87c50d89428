// Host: one machine of the fleet and everything on it. For a Hetzner Cloud host, the server; for
// every host, its roles (HostSetup) and its worker containers (Workers). Hosts are independent of
// one another: changing one host's settings changes no other host's resources.

import * as pulumi from "@pulumi/pulumi";
import { HetznerServer, type HetznerServerArgs } from "./HetznerServer";
import { HostSetup, type SshConnection } from "./HostSetup";
import { Workers } from "./Workers";
import type { HostPlan, WorkerPlan } from "./core/planner";
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
  /** The container a worker waits for in a rollout (rollout lanes span hosts). */
  readonly rolloutPredecessor: (worker: WorkerPlan) => pulumi.Input<pulumi.Resource> | undefined;
}

/** The HetznerServer of an hcloud host, from its plan and spec (the Fleet's preflight checks the same args). */
export function hetznerServerArgs(
  args: Pick<HostArgs, "plan" | "spec" | "fleet" | "sshKeyId" | "hcloud" | "placementGroupId" | "authKey" | "tags">,
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
    const pinned = pinnedKeys(spec.ssh?.hostKey);
    const hostKey = pinned === undefined ? undefined : providerHostKey(pinned);
    const jumpPinned = pinnedKeys(spec.ssh?.jumpHost?.hostKey);
    // A new hcloud server is reachable on the tailnet only once cloud-init has enrolled it: keep dialing.
    const tailnetConnection: SshConnection = { host: plan.name, port, user, hostKey, privateKey: args.privateKey, dialErrorLimit: hcloud === undefined ? 10 : 60 };
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
            proxy: jump === undefined ? undefined : { host: jump.address, port: jump.port, user: jump.user, hostKey: jumpPinned === undefined ? undefined : providerHostKey(jumpPinned), privateKey: args.privateKey },
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
        tailnetKnownHosts: pinned === undefined ? undefined : knownHostsLines(pinned),
        authKey: args.authKey,
        awaitRebootScript: args.awaitRebootScript,
        dependsOn: this.server === undefined ? [] : [this.server.server],
        deletedWith: this.server?.server,
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
        hostKeys: pinned?.map((k) => `${k.type} ${k.base64}`),
        redisUrl: args.redisUrl,
        secret: args.secret,
        // Containers start once Docker, the GPU runtime and MPS are in place and Redis answers.
        dependsOn: [roles.docker, roles["container-toolkit"], roles.mps, roles.verify].filter((r): r is NonNullable<typeof r> => r !== undefined),
        rolloutPredecessor: args.rolloutPredecessor,
      },
      { parent: this, deletedWith: this.server?.server },
    );

    this.registerOutputs({ tailnetName: this.tailnetName });
  }
}

/** The pinned keys of an endpoint, or undefined for trust-on-first-use (or none given). */
function pinnedKeys(setting: HostKeySetting | undefined): readonly PinnedHostKey[] | undefined {
  return setting?.mode === "pinned" && setting.keys.length > 0 ? setting.keys : undefined;
}
