// A fleet split over several stacks: the contract between the shared stack and its group stacks,
// and the checks that span them. Pure. See docs/scale.md.
//
// The shared stack exports `fleetShared` (sharedContract); each group stack reads it with a
// StackReference and refuses to create anything when it disagrees (contractProblems). The offline
// check (checkSplitFleet) plans every stack and adds what no single stack can see: a host or an
// address in two stacks, and a service whose workers across all stacks fall below its minimum.

import type { Diagnostic } from "./diagnostics";
import type { FleetPlan } from "./planner";
import type { FleetSpec } from "./schema";

/** Version of the `fleetShared` output; a group stack refuses a contract it does not know. */
export const SHARED_CONTRACT_VERSION = 1;

/** What the shared stack exports for its group stacks (no secrets). */
export interface SharedContract {
  readonly version: number;
  readonly workerTag: string;
  readonly redisTag: string;
  readonly redis: { readonly host: string; readonly port: number };
  readonly minReplicas: Readonly<Record<string, number>>;
}

export function sharedContract(spec: Pick<FleetSpec, "tailnet" | "redis" | "split">): SharedContract {
  return {
    version: SHARED_CONTRACT_VERSION,
    workerTag: spec.tailnet.workerTag,
    redisTag: spec.tailnet.redisTag,
    redis: { host: spec.redis.host, port: spec.redis.port },
    minReplicas: { ...(spec.split?.minReplicas ?? {}) },
  };
}

/** Where a group stack disagrees with its shared stack's contract, one message each (field and fix). */
export function contractProblems(shared: unknown, spec: Pick<FleetSpec, "tailnet" | "redis" | "split">): string[] {
  const from = spec.split?.sharedStack ?? "the shared stack";
  if (typeof shared !== "object" || shared === null) return [`split.sharedStack: ${from} exports no fleetShared output; run \`pulumi up\` on it first (it must have split.role: shared).`];
  const s = shared as Partial<SharedContract>;
  if (s.version !== SHARED_CONTRACT_VERSION) return [`split.sharedStack: ${from} exports fleetShared version ${String(s.version)}, this program reads version ${SHARED_CONTRACT_VERSION}; update both stacks to the same gpu-fleet revision.`];
  const problems: string[] = [];
  const mine = sharedContract(spec);
  if (s.workerTag !== mine.workerTag) problems.push(`tailnet.workerTag: is ${mine.workerTag}, but ${from} declares ${String(s.workerTag)}; use the shared stack's tag.`);
  if (s.redisTag !== mine.redisTag) problems.push(`tailnet.redisTag: is ${mine.redisTag}, but ${from} declares ${String(s.redisTag)}; use the shared stack's tag.`);
  if (s.redis?.host !== mine.redis.host || s.redis?.port !== mine.redis.port) {
    problems.push(`redis: is ${mine.redis.host}:${mine.redis.port}, but ${from} opens ${String(s.redis?.host)}:${String(s.redis?.port)} to workers; use the shared stack's redis.`);
  }
  return problems;
}

export interface SplitStack {
  /** The stack's name (stacks/Pulumi.<name>.yaml). */
  readonly name: string;
  /** Present when the stack's config is valid. */
  readonly spec: FleetSpec | undefined;
  readonly plan: FleetPlan;
  /** The stack's own errors and warnings (budgets, placement, schema). */
  readonly diagnostics: readonly Diagnostic[];
}

export interface SplitDiagnostic {
  /** The stack the problem is in, or null when it spans stacks. */
  readonly stack: string | null;
  readonly severity: "error" | "warning";
  readonly message: string;
}

/** The whole fleet across its stacks: each stack's own problems, then the ones between stacks. */
export function checkSplitFleet(stacks: readonly SplitStack[]): SplitDiagnostic[] {
  const out: SplitDiagnostic[] = [];
  for (const stack of stacks) {
    for (const d of stack.diagnostics) out.push({ stack: stack.name, severity: d.severity, message: d.path === "" ? d.message : `${d.path}: ${d.message}` });
  }
  const valid = stacks.filter((s): s is SplitStack & { spec: FleetSpec } => s.spec !== undefined);
  const shared = valid.filter((s) => s.spec.split?.role === "shared");
  if (shared.length !== 1) {
    out.push({ stack: null, severity: "error", message: `a split fleet has exactly one stack with split.role: shared; found ${shared.length === 0 ? "none" : shared.map((s) => s.name).join(", ")}.` });
  }
  const sharedStack = shared[0];
  for (const stack of valid) {
    if (stack === sharedStack) continue;
    if (stack.spec.split?.role !== "group") {
      out.push({ stack: stack.name, severity: "error", message: "split: is not set; a stack of a split fleet has split: { role: group, sharedStack: <the shared stack> }." });
      continue;
    }
    if (sharedStack === undefined) continue;
    const named = stack.spec.split.sharedStack ?? "";
    if (named.split("/").pop() !== sharedStack.name) {
      out.push({ stack: stack.name, severity: "error", message: `split.sharedStack: names ${named}, but the fleet's shared stack is ${sharedStack.name}.` });
    }
    for (const problem of contractProblems(sharedContract(sharedStack.spec), stack.spec)) out.push({ stack: stack.name, severity: "error", message: problem });
  }

  // A host name is its tailnet name, and an address is one machine: each in one stack only.
  const seen = new Map<string, string>();
  for (const stack of valid) {
    for (const [host, spec] of Object.entries(stack.spec.hosts)) {
      const claims = [`host ${host}`, ...(spec.ssh === undefined ? [] : [`address ${spec.ssh.address}${spec.ssh.port === 22 ? "" : `:${spec.ssh.port}`}`])];
      for (const claim of claims) {
        const owner = seen.get(claim);
        if (owner !== undefined && owner !== stack.name) {
          out.push({ stack: null, severity: "error", message: `${claim} is in ${owner} and in ${stack.name}: one machine belongs to one stack. Remove it from one of them (docs/scale.md, "Move hosts between stacks").` });
        } else seen.set(claim, stack.name);
      }
    }
  }

  // Capacity per service across stacks, against the shared stack's minimums.
  if (sharedStack !== undefined) {
    for (const [service, minimum] of Object.entries(sharedStack.spec.split?.minReplicas ?? {})) {
      const counts = stacks.map((s) => [s.name, s.plan.hosts.reduce((n, h) => n + h.workers.filter((w) => w.service === service).length, 0)] as const);
      const total = counts.reduce((n, [, c]) => n + c, 0);
      if (total < minimum) {
        out.push({
          stack: null,
          severity: "error",
          message: `service ${service} has ${total} workers across the fleet (${counts.map(([s, c]) => `${s}: ${c}`).join(", ")}), below its minimum of ${minimum} (split.minReplicas in ${sharedStack.name}). Add replicas or hosts, or lower the minimum.`,
        });
      }
    }
  }
  return out;
}
