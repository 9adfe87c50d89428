// Fleet: the whole stack. The tailnet (policy and one auth key per host), a spread placement group
// for Hetzner Cloud hosts, and one Host per planned host. It maps the plan to components and decides
// nothing the planner could.

import * as pulumi from "@pulumi/pulumi";
import type * as docker from "@pulumi/docker";
import { createFleetSshKey, createSpreadPlacementGroup } from "./HetznerServer";
import { Host } from "./Host";
import { Tailnet } from "./Tailnet";
import type { FleetPlan } from "./core/planner";
import { hostTags, planRoles, roleContext } from "./core/roles";
import type { FleetSpec, SecretRef } from "./core/schema";
import { contractProblems } from "./core/split";

/** The stack output a shared stack exports and its group stacks read (core/split.ts SharedContract). */
export const SHARED_OUTPUT = "fleetShared";

export interface FleetArgs {
  readonly spec: FleetSpec;
  readonly plan: FleetPlan;
  /** `<project>-<stack>`, for labels. */
  readonly fleet: string;
  /** HuJSON text of tailnet/policy.base.hujson (managed policy mode). */
  readonly basePolicy: string;
  readonly scripts: Readonly<Record<string, string>>;
  /** Local path of scripts/roles, relative to the project directory. */
  readonly rolesDir: string;
  readonly awaitRebootScript: string;
  /** Resolves a SecretRef to its secret value (config.requireSecret in the program). */
  readonly secret: (ref: SecretRef) => pulumi.Output<string>;
}


export class Fleet extends pulumi.ComponentResource {
  public readonly tailnet: Tailnet;
  /** The hosts registered so far; complete once `registered` has resolved. */
  public readonly hosts: ReadonlyMap<string, Host>;
  /** Resolves when every host has been registered (rejects with the first host that failed). */
  public readonly registered: Promise<void>;
  /** Auth keys of `join` hosts, for scripts/join-fleet.sh (secret). */
  public readonly joinKeys: pulumi.Output<Record<string, string>>;
  /** Per host: tailnet name and tailnet IPv4 (as the tailscale role reported it). */
  public readonly hostAddresses: pulumi.Output<Record<string, { tailnetName: string; tailnetAddress: string }>>;

  constructor(name: string, args: FleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gpu-fleet:index:Fleet", name, {}, opts);
    const { spec, plan } = args;
    const tags = hostTags(spec);

    // A group stack of a split fleet reads its shared stack's contract, and creates no auth key (so
    // no host) unless the two agree on tags and Redis (docs/scale.md).
    const split = spec.split;
    const sharedChecked =
      split?.role === "group" && split.sharedStack !== undefined
        ? new pulumi.StackReference(`${name}-shared`, { name: split.sharedStack }, { parent: this }).getOutput(SHARED_OUTPUT).apply((shared) => {
            const problems = contractProblems(shared, spec);
            if (problems.length > 0) throw new pulumi.RunError(`this group stack disagrees with its shared stack ${split.sharedStack}; nothing was changed.\n${problems.map((p) => `  ${p}`).join("\n")}`);
            return true;
          })
        : undefined;

    this.tailnet = new Tailnet(
      `${name}-tailnet`,
      {
        policy: {
          workerTag: spec.tailnet.workerTag,
          redisTag: spec.tailnet.redisTag,
          redisPort: spec.redis.port,
          admins: [...spec.tailnet.admins],
          sshUsers: [...spec.tailnet.sshUsers],
          testUser: spec.tailnet.testUser,
        },
        mode: spec.tailnet.policy,
        // The base policy is merged only when the stack owns the policy file.
        basePolicy: spec.tailnet.policy === "managed" ? args.basePolicy : undefined,
        hosts: plan.hosts.map((h) => ({ name: h.name, tags: [...tags], keyGeneration: spec.hosts[h.name].keyGeneration })),
        keyExpirySeconds: spec.tailnet.keyExpirySeconds,
        keysAfter: sharedChecked,
      },
      { parent: this },
    );

    // Hetzner Cloud hosts share one spread placement group (each server on different hardware, so
    // one hardware failure takes one box) and one SSH key (Hetzner refuses duplicate keys).
    const hasHcloud = plan.hosts.some((h) => h.kind === "hcloud");
    const placementGroup = hasHcloud ? createSpreadPlacementGroup(`${name}-spread`, { fleet: args.fleet }, { parent: this }) : undefined;
    const publicKey = spec.hcloud?.sshPublicKey;
    const sshKey = hasHcloud && publicKey !== undefined ? createFleetSshKey(`${name}-ssh-key`, { fleet: args.fleet, publicKey }, { parent: this }) : undefined;

    const redisUrl = args.secret(spec.redisUrl);
    const fleetKey = spec.sshPrivateKey === undefined ? undefined : args.secret(spec.sshPrivateKey);
    const lanes = new RolloutLanes();
    const hosts = new Map<string, Host>();
    this.hosts = hosts;
    // A join host gets its auth key (joinKeys) and nothing else: it runs its own roles and workers.
    const hostPlans = plan.hosts.filter((h) => h.kind !== "join");
    const registerHost = (hostPlan: (typeof hostPlans)[number]): void => {
      const hostSpec = spec.hosts[hostPlan.name];
      const ownKey = hostSpec.ssh?.privateKey;
      const host = new Host(
        `${name}-${hostPlan.name}`,
        {
          plan: hostPlan,
          spec: hostSpec,
          fleet: args.fleet,
          roles: planRoles(hostPlan, roleContext(spec, hostPlan)),
          scripts: args.scripts,
          rolesDir: args.rolesDir,
          awaitRebootScript: args.awaitRebootScript,
          authKey: this.tailnet.authKeys[hostPlan.name],
          tags,
          privateKey: ownKey === undefined ? fleetKey : args.secret(ownKey),
          redisUrl,
          secret: args.secret,
          hcloud: spec.hcloud,
          placementGroupId: placementGroup?.id,
          sshKeyId: sshKey?.id,
          rolloutPredecessor: (worker) => (worker.rolloutAfter === null ? undefined : lanes.container(worker.rolloutAfter)),
        },
        { parent: this },
      );
      for (const [worker, container] of host.workers.containers) lanes.add(worker, container);
      hosts.set(hostPlan.name, host);
    };

    // Hosts are registered one at a time, yielding to the event loop in between, so the SDK
    // serializes and sends one host's registrations before the next host's are built: memory stays
    // bounded by a few hosts in flight instead of the whole fleet (see docs/scale.md).
    this.registered = registerInTurns(hostPlans, registerHost).then(() => lanes.assertComplete());

    const addresses = this.registered.then(() =>
      pulumi.all(
        [...hosts.entries()].map(([hostName, host]) =>
          (host.setup.roles.tailscale?.stdout ?? pulumi.output("")).apply((stdout) => [hostName, { tailnetName: host.tailnetName, tailnetAddress: tailnetAddress(stdout) }] as const),
        ),
      ),
    );
    this.hostAddresses = pulumi.output(addresses).apply((entries) => Object.fromEntries(entries));
    const joinHosts = plan.hosts.filter((h) => h.kind === "join").map((h) => h.name);
    this.joinKeys = pulumi.secret(pulumi.all(Object.fromEntries(joinHosts.map((h) => [h, this.tailnet.authKeys[h]]))));
    this.registerOutputs({ hostAddresses: this.hostAddresses, policyTests: this.tailnet.testNames, joinKeys: this.joinKeys });
  }
}

/**
 * Calls `register` for each item, yielding to the event loop after each one. Construction is
 * synchronous in the SDK, so without the yield every resource of every host would be built (and
 * every registration queued) before the first one is sent.
 */
export async function registerInTurns<T>(items: readonly T[], register: (item: T) => void): Promise<void> {
  for (const item of items) {
    register(item);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The tailnet IPv4 the tailscale role prints in its status line (`... 100.64.0.7`). */
export function tailnetAddress(stdout: string): string {
  return /\b(100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d{1,3}\.\d{1,3})\b/.exec(stdout)?.[1] ?? "";
}

/**
 * Rollout lanes cross hosts: a worker may wait for a container of a host constructed later. The
 * dependency is a promise the SDK awaits before registering; every promise is settled by the end of
 * the Fleet's constructor, or the constructor fails (a plan naming a worker that does not exist).
 */
class RolloutLanes {
  private readonly pending = new Map<string, { promise: Promise<docker.Container>; resolve: (c: docker.Container) => void }>();
  private readonly done = new Set<string>();

  container(worker: string): Promise<docker.Container> {
    return this.slot(worker).promise;
  }

  add(worker: string, container: docker.Container): void {
    this.slot(worker).resolve(container);
    this.done.add(worker);
  }

  assertComplete(): void {
    const missing = [...this.pending.keys()].filter((w) => !this.done.has(w));
    if (missing.length > 0) throw new Error(`rollout lanes name workers that were not created: ${missing.join(", ")}`);
  }

  private slot(worker: string): { promise: Promise<docker.Container>; resolve: (c: docker.Container) => void } {
    let slot = this.pending.get(worker);
    if (slot === undefined) {
      let resolve: (c: docker.Container) => void = () => undefined;
      const promise = new Promise<docker.Container>((r) => (resolve = r));
      slot = { promise, resolve };
      this.pending.set(worker, slot);
    }
    return slot;
  }
}
