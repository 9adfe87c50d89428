// Fleet: the whole stack. The tailnet (policy and one auth key per host), a spread placement group
// for Hetzner Cloud hosts, and one Host per planned host. It maps the plan to components and decides
// nothing the planner could.

import * as pulumi from "@pulumi/pulumi";
import { createFleetSshKey, createSpreadPlacementGroup, prepareHetznerServer, type ServerIdentity } from "./HetznerServer";
import { hetznerServerArgs, Host } from "./Host";
import { prepareTailnet, Tailnet, type TailnetArgs } from "./Tailnet";
import { hcloudServerIdentity } from "./core/cloud-init";
import type { FleetPlan } from "./core/planner";
import { hostTags, planRoles, roleContext, roleFingerprint, ROLE_LIBRARY } from "./core/roles";
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
  /** Text of scripts/health-gate.sh, the rollout's health gate. */
  readonly healthGateScript: string;
  /** Resolves a SecretRef to its secret value (config.requireSecret in the program). */
  readonly secret: (ref: SecretRef) => pulumi.Output<string>;
}


/** What the components refuse, found before any of them (or the Fleet itself) registers. */
export class FleetPreflightError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the fleet cannot be deployed; nothing was changed:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "FleetPreflightError";
  }
}

function tailnetArgs(args: FleetArgs, serverIdentity: ReadonlyMap<string, ServerIdentity> = new Map()): TailnetArgs {
  const { spec, plan } = args;
  const tags = hostTags(spec);
  return {
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
    hosts: plan.hosts.map((h) => ({ name: h.name, tags: [...tags], keyGeneration: spec.hosts[h.name].keyGeneration, replacementTrigger: serverIdentity.get(h.name) })),
    keyExpirySeconds: spec.tailnet.keyExpirySeconds,
  };
}

/**
 * Everything a component of this fleet would refuse, checked with the components' own pure halves
 * (prepareTailnet, prepareHetznerServer, the role scripts) before the first resource registers: a
 * refusal half way through construction would leave `pulumi up` with some resources created.
 */
export function fleetProblems(args: FleetArgs): string[] {
  const problems: string[] = [];
  const collect = (what: string, check: () => unknown): void => {
    try {
      check();
    } catch (error) {
      const list = (error as { problems?: unknown }).problems;
      const messages = Array.isArray(list) ? list.map(String) : [error instanceof Error ? error.message : String(error)];
      problems.push(...messages.map((m) => `${what}: ${m}`));
    }
  };
  collect("tailnet", () => prepareTailnet(tailnetArgs(args)));
  const tags = hostTags(args.spec);
  for (const hostPlan of args.plan.hosts) {
    if (hostPlan.kind === "join") continue;
    const spec = args.spec.hosts[hostPlan.name];
    if (spec === undefined) {
      problems.push(`hosts.${hostPlan.name}: planned but not in the config`);
      continue;
    }
    if (hostPlan.kind === "hcloud") {
      collect(`hosts.${hostPlan.name}.hcloud`, () =>
        prepareHetznerServer(hetznerServerArgs({ plan: hostPlan, spec, fleet: args.fleet, hcloud: args.spec.hcloud, authKey: "", tags })),
      );
    }
    const steps = planRoles(hostPlan, roleContext(args.spec, hostPlan));
    for (const step of steps) collect(`hosts.${hostPlan.name}: role ${step.role}`, () => roleFingerprint(step, args.scripts));
    for (const file of [ROLE_LIBRARY, ...(steps.some((s) => s.mayReboot) ? ["await-boot.sh"] : [])]) {
      if (args.scripts[file] === undefined) problems.push(`hosts.${hostPlan.name}: scripts/roles/${file} is missing`);
    }
  }
  return problems;
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
    // Every refusal first: nothing, not even this component, registers for a fleet that cannot deploy.
    const problems = fleetProblems(args);
    if (problems.length > 0) throw new FleetPreflightError(problems);
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

    // Hetzner Cloud hosts share one spread placement group (each server on different hardware, so
    // one hardware failure takes one box) and one SSH key (Hetzner refuses duplicate keys).
    const hasHcloud = plan.hosts.some((h) => h.kind === "hcloud");
    const placementGroup = hasHcloud ? createSpreadPlacementGroup(`${name}-spread`, { fleet: args.fleet }, { parent: this }) : undefined;
    const publicKey = spec.hcloud?.sshPublicKey;
    const sshKey = hasHcloud && publicKey !== undefined ? createFleetSshKey(`${name}-ssh-key`, { fleet: args.fleet, publicKey }, { parent: this }) : undefined;

    // What each Hetzner Cloud server is; a new value replaces the server, its tailnet key and its host key
    // together, so the new server boots with keys of its own (docs/rollouts.md, "Replacing a server").
    const serverIdentity = new Map<string, ServerIdentity>();
    for (const h of plan.hosts) {
      const hc = spec.hosts[h.name].hcloud;
      if (hc === undefined) continue;
      const identity = hcloudServerIdentity({ location: hc.location, image: hc.image, snapshot: hc.snapshot, keyGeneration: spec.hosts[h.name].keyGeneration });
      // The placement group's id is known only once it exists: an object keeps the rest of the identity
      // readable (and comparable offline, by synth and diff) while the id is still unknown.
      serverIdentity.set(h.name, placementGroup === undefined ? identity : { identity, placementGroup: placementGroup.id });
    }

    this.tailnet = new Tailnet(`${name}-tailnet`, { ...tailnetArgs(args, serverIdentity), keysAfter: sharedChecked }, { parent: this });

    const redisUrl = args.secret(spec.redisUrl);
    const fleetKey = spec.sshPrivateKey === undefined ? undefined : args.secret(spec.sshPrivateKey);
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
          healthGateScript: args.healthGateScript,
          authKey: this.tailnet.authKeys[hostPlan.name],
          tags,
          privateKey: ownKey === undefined ? fleetKey : args.secret(ownKey),
          redisUrl,
          secret: args.secret,
          hcloud: spec.hcloud,
          placementGroupId: placementGroup?.id,
          sshKeyId: sshKey?.id,
          serverIdentity: serverIdentity.get(hostPlan.name),
        },
        { parent: this },
      );
      hosts.set(hostPlan.name, host);
    };

    // Hosts are registered one at a time, yielding to the event loop in between, so the SDK
    // serializes and sends one host's registrations before the next host's are built: memory stays
    // bounded by a few hosts in flight instead of the whole fleet (see docs/scale.md).
    this.registered = registerInTurns(hostPlans, registerHost);

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
