// The rollout simulator: replays a change (two synths) the way the Pulumi engine would execute it, on
// a clock, and counts each service's running workers at every moment. Pure: no I/O.
//
// What it models, from the engine's source (pulumi/pulumi pkg/resource/deploy, docs/rollouts.md):
// - A resource's steps start once every resource it depends on (dependsOn and the resources its
//   inputs came from) has finished its own (step_generator.go: registration waits for dependencies).
// - A replacement is delete-before-replace when the resource says so: [delete, create] in one chain,
//   and first the deletes of replaced resources whose inputs came from it, last dependent first
//   (calculateDependentReplacements). Otherwise the new resource is created and the old one deleted
//   at the end of the run, with the removed resources (deployment_executor.go, performDeletes).
// - At most `parallel` steps run at once (`pulumi up --parallel`, default 4 × CPUs: up.go defaultParallel).
// - A failed step skips every resource that depends on it. With --continue-on-error the other steps
//   go on; without it the engine starts no new step after the first failure (step_executor.go,
//   cancelDueToError).
// A worker counts as running when its container exists, and its health gate (if any) has passed.

import { diffResources, type ChangeKind } from "./resource-diff";
import type { SynthResource } from "./synth";

export interface RolloutTimes {
  readonly imagePullSeconds: number;
  readonly containerStartSeconds: number;
  readonly healthySeconds: number;
  readonly roleSeconds: number;
  readonly serverBootSeconds: number;
  readonly serverDeleteSeconds: number;
}

export const DEFAULT_ROLLOUT_TIMES: RolloutTimes = {
  imagePullSeconds: 60,
  containerStartSeconds: 5,
  healthySeconds: 30,
  roleSeconds: 20,
  serverBootSeconds: 90,
  serverDeleteSeconds: 30,
};

export interface SimulationOptions {
  /** Hosts that do not answer SSH: their steps fail after their dial timeout × attempts. */
  readonly down: readonly string[];
  readonly parallel: number;
  readonly continueOnError: boolean;
  readonly times: RolloutTimes;
}

export interface ServiceTimeline {
  /** Workers of the service after the change. */
  readonly workers: number;
  readonly minRunning: number;
  /** The most workers (of `workers`) not running at one moment. */
  readonly maxUnavailable: number;
  /** [second, running] at every change of the count, from 0. */
  readonly points: readonly (readonly [number, number])[];
}

export interface SimulationResult {
  readonly services: Record<string, ServiceTimeline>;
  /** Hosts, not down themselves, with steps that did not run because something failed. */
  readonly blocked: string[];
  readonly hosts: Record<string, { readonly completed: boolean; readonly finishedAt: number }>;
  readonly durationSeconds: number;
  /** Resources whose step failed, with why. */
  readonly failures: { readonly name: string; readonly reason: string }[];
}

type StepKind = "create" | "update" | "delete";
interface Step {
  readonly resource: SynthResource;
  readonly kind: StepKind;
  /** The old resource's delete, when the resource is replaced (its inputs are the old ones). */
  readonly old?: SynthResource;
}

const CONTAINER = "docker:index/container:Container";
const IMAGE = "docker:index/remoteImage:RemoteImage";
const SERVER = "hcloud:index/server:Server";
const REMOTE_COMMAND = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";
const LOCAL_COMMAND = "command:local:Command";

/** What happens to each resource: the diff of the two synths (`before` null: every worker container and image is new). */
export function plannedChanges(before: readonly SynthResource[] | null, after: readonly SynthResource[]): Map<string, ChangeKind> {
  const kinds = new Map<string, ChangeKind>();
  if (before !== null) {
    for (const c of diffResources(before, after)) kinds.set(c.name, c.kind);
    return kinds;
  }
  // A new image for every service: new pulls, new containers, and what takes a replaced resource's
  // id in a replacing input (the gates' triggers) is replaced too.
  for (const r of after) if (r.type === CONTAINER || r.type === IMAGE) kinds.set(r.name, "replace");
  let grew = true;
  while (grew) {
    grew = false;
    for (const r of after) {
      if (kinds.has(r.name)) continue;
      const replacing = Object.entries(r.inputDependencies).some(([key, from]) => (key === "triggers" || r.replaceOnChanges.includes(key)) && from.some((f) => kinds.get(f) === "replace"));
      if (replacing) {
        kinds.set(r.name, "replace");
        grew = true;
      }
    }
  }
  return kinds;
}

/** Seconds a step takes. */
export function stepSeconds(resource: SynthResource, kind: StepKind, times: RolloutTimes): number {
  switch (resource.type) {
    case CONTAINER:
      // A container's delete is its drain: the stop signal, then up to stopTimeout seconds.
      return kind === "delete" ? numberInput(resource, "stopTimeout", 10) : times.containerStartSeconds;
    case IMAGE:
      return kind === "delete" ? 0 : times.imagePullSeconds;
    case SERVER:
      return kind === "delete" ? times.serverDeleteSeconds : kind === "create" ? times.serverBootSeconds : 5;
    case REMOTE_COMMAND:
      if (resource.name.endsWith("-healthy")) return kind === "delete" ? 0 : times.healthySeconds;
      return kind === "delete" ? (resource.inputs.delete === undefined ? 0 : 5) : times.roleSeconds;
    case COPY:
      return kind === "delete" ? 0 : 2;
    case LOCAL_COMMAND:
      return kind === "delete" ? 0 : times.roleSeconds;
    default:
      return resource.type.startsWith("gpu-fleet:") || resource.type.startsWith("pulumi:providers:") ? 0 : 1;
  }
}

function numberInput(r: SynthResource, key: string, fallback: number): number {
  const v = r.inputs[key];
  return typeof v === "number" ? v : fallback;
}

/** Seconds a dial to a down host takes to fail: the host's perDialTimeout × dialErrorLimit. */
export function dialFailureSeconds(host: string, resources: readonly SynthResource[]): number {
  for (const r of resources) {
    if (r.host !== host || r.type !== REMOTE_COMMAND) continue;
    const connection = r.inputs.connection as { perDialTimeout?: number; dialErrorLimit?: number } | undefined;
    if (connection !== undefined) return (connection.perDialTimeout ?? 15) * (connection.dialErrorLimit ?? 10);
  }
  return 15 * 10;
}

/** Steps that need the host itself (SSH or Docker over SSH), so fail when it is down. */
function needsHost(r: SynthResource): boolean {
  return r.type === CONTAINER || r.type === IMAGE || r.type === REMOTE_COMMAND || r.type === COPY || r.type === LOCAL_COMMAND;
}

function serviceOf(r: SynthResource): string | undefined {
  if (r.type !== CONTAINER) return undefined;
  const labels = r.inputs.labels as { label: string; value: string }[] | undefined;
  return labels?.find((l) => l.label === "gpu-fleet.service")?.value;
}

function dependenciesOf(r: SynthResource): string[] {
  return [...new Set([...r.dependsOn, ...Object.values(r.inputDependencies).flat()])];
}

export function simulateRollout(before: readonly SynthResource[] | null, after: readonly SynthResource[], options: SimulationOptions): SimulationResult {
  const kinds = plannedChanges(before, after);
  const oldByName = new Map((before ?? after).map((r) => [r.name, r]));
  const newByName = new Map(after.map((r) => [r.name, r]));
  const down = new Set(options.down);

  // Delete-before-replace: replaced resources whose inputs came (transitively) from a replaced DBR
  // resource are deleted first, last dependent first.
  const early = new Map<string, SynthResource[]>();
  const deletedEarly = new Set<string>();
  const oldList = before ?? after;
  for (const r of after) {
    if (kinds.get(r.name) !== "replace" || !r.deleteBeforeReplace) continue;
    const set = new Set([r.name]);
    const order: SynthResource[] = [];
    for (const d of topological(oldList)) {
      if (set.has(d.name) || kinds.get(d.name) !== "replace") continue;
      if (Object.values(d.inputDependencies).flat().some((f) => set.has(f))) {
        set.add(d.name);
        order.push(d);
      }
    }
    const chain = order.reverse().filter((d) => !deletedEarly.has(d.name));
    for (const d of chain) deletedEarly.add(d.name);
    early.set(r.name, chain);
  }

  // Each changed resource's chain of steps; unchanged resources finish as soon as their dependencies do.
  const chains = new Map<string, Step[]>();
  const endDeletes: Step[] = [];
  for (const r of after) {
    const kind = kinds.get(r.name);
    if (kind === undefined) chains.set(r.name, []);
    else if (kind === "create") chains.set(r.name, [{ resource: r, kind: "create" }]);
    else if (kind === "update") chains.set(r.name, [{ resource: r, kind: "update" }]);
    else if (kind === "replace") {
      const old = oldByName.get(r.name) ?? r;
      if (r.deleteBeforeReplace) {
        const first = (early.get(r.name) ?? []).map((d): Step => ({ resource: d, kind: "delete", old: d }));
        const own: Step[] = deletedEarly.has(r.name) ? [] : [{ resource: old, kind: "delete", old }];
        chains.set(r.name, [...first, ...own, { resource: r, kind: "create" }]);
      } else {
        chains.set(r.name, [{ resource: r, kind: "create" }]);
        // Deleted already, before the DBR resource it took an input from.
        if (!deletedEarly.has(r.name)) endDeletes.push({ resource: old, kind: "delete", old });
      }
    }
  }
  for (const r of oldList) if (kinds.get(r.name) === "delete") endDeletes.push({ resource: r, kind: "delete", old: r });

  // Worker state: running from t=0 if it existed (and its host is up).
  const running = new Map<string, boolean>();
  const containers = [...new Map([...(before ?? after), ...after].filter((r) => r.type === CONTAINER).map((r) => [r.name, r])).values()];
  for (const c of containers) running.set(c.name, !down.has(c.host ?? "") && (before === null || oldByName.has(c.name)) && kinds.get(c.name) !== "create");
  const serviceNames = [...new Set(after.map(serviceOf).filter((s): s is string => s !== undefined))].sort();
  const points = new Map<string, [number, number][]>(serviceNames.map((s) => [s, []]));
  const count = (service: string): number => containers.filter((c) => serviceOf(c) === service && running.get(c.name) === true).length;
  const record = (t: number): void => {
    for (const s of serviceNames) {
      const list = points.get(s) ?? [];
      const n = count(s);
      const last = list[list.length - 1];
      if (last === undefined || last[1] !== n) {
        if (last !== undefined && last[0] === t) list.pop();
        const prev = list[list.length - 1];
        if (prev === undefined || prev[1] !== n) list.push([t, n]);
      }
      points.set(s, list);
    }
  };
  record(0);

  // The gate that makes a container count as running (its `<container>-healthy` command), if any.
  const gateOf = new Map<string, string>();
  for (const r of after) if (r.type === REMOTE_COMMAND && r.name.endsWith("-healthy")) gateOf.set(r.name.slice(0, -"-healthy".length), r.name);

  // The clock.
  const done = new Map<string, number>(); // resource name → when its chain finished
  const failed = new Set<string>(); // resources whose chain failed or was skipped
  const failures: { name: string; reason: string }[] = [];
  const skipped = new Set<string>();
  const position = new Map<string, number>(); // next step index per resource
  const started = new Set<string>();
  let cancelled = false;
  let t = 0;
  const active: { name: string; step: Step; end: number; fails: boolean }[] = [];
  const hostFinished = new Map<string, number>();
  const touch = (host: string | null, at: number): void => {
    if (host !== null) hostFinished.set(host, Math.max(hostFinished.get(host) ?? 0, at));
  };

  const applyStart = (step: Step): void => {
    if (step.resource.type === CONTAINER && step.kind === "delete") running.set(step.resource.name, false);
  };
  const applyEnd = (step: Step, at: number): void => {
    const r = step.resource;
    if (r.type === CONTAINER && step.kind === "create" && !gateOf.has(r.name)) running.set(r.name, true);
    if (r.type === REMOTE_COMMAND && step.kind !== "delete" && r.name.endsWith("-healthy")) running.set(r.name.slice(0, -"-healthy".length), true);
    touch(r.host, at);
  };

  const dependencyState = (r: SynthResource): "ready" | "waiting" | "failed" => {
    for (const d of dependenciesOf(r)) {
      if (!newByName.has(d)) continue;
      if (failed.has(d)) return "failed";
      if (!done.has(d)) return "waiting";
    }
    return "ready";
  };

  const order = topological(after);
  const finishChain = (name: string, at: number): void => {
    done.set(name, at);
  };
  const dialSeconds = new Map<string, number>([...down].map((h) => [h, dialFailureSeconds(h, after)]));

  for (let guard = 0; guard < 1_000_000; guard++) {
    // Propagate: resources whose dependencies are done and whose chain is empty or finished.
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (const r of order) {
        if (done.has(r.name) || failed.has(r.name) || active.some((a) => a.name === r.name)) continue;
        const state = dependencyState(r);
        if (state === "failed" || (cancelled && !started.has(r.name) && (chains.get(r.name) ?? []).length > 0)) {
          failed.add(r.name);
          skipped.add(r.name);
          progressed = true;
          continue;
        }
        if (state === "waiting") continue;
        const chain = chains.get(r.name) ?? [];
        const next = position.get(r.name) ?? 0;
        if (next >= chain.length) {
          finishChain(r.name, t);
          progressed = true;
        }
      }
    }
    // Start steps while there are free slots.
    for (const r of order) {
      if (active.length >= options.parallel || cancelled) break;
      if (done.has(r.name) || failed.has(r.name) || active.some((a) => a.name === r.name)) continue;
      if (dependencyState(r) !== "ready") continue;
      const chain = chains.get(r.name) ?? [];
      const next = position.get(r.name) ?? 0;
      const step = chain[next];
      if (step === undefined) continue;
      started.add(r.name);
      const fails = down.has(step.resource.host ?? "") && needsHost(step.resource);
      const seconds = fails ? (dialSeconds.get(step.resource.host ?? "") ?? 150) : stepSeconds(step.resource, step.kind, options.times);
      applyStart(step);
      active.push({ name: r.name, step, end: t + seconds, fails });
    }
    record(t);
    if (active.length === 0) break;
    // Advance to the next step end.
    active.sort((a, b) => a.end - b.end || (a.name < b.name ? -1 : 1));
    const first = active[0];
    if (first === undefined) break;
    t = first.end;
    const ending = active.filter((a) => a.end === t);
    for (const a of ending) {
      active.splice(active.indexOf(a), 1);
      if (a.fails) {
        failed.add(a.name);
        failures.push({ name: a.name, reason: `${a.step.resource.host ?? "?"} did not answer (${a.step.kind} ${a.step.resource.name})` });
        touch(a.step.resource.host, t);
        if (!options.continueOnError) cancelled = true;
        continue;
      }
      applyEnd(a.step, t);
      position.set(a.name, (position.get(a.name) ?? 0) + 1);
    }
    record(t);
  }

  // End of the run: removed resources and create-before-delete olds, dependents first.
  if (!cancelled) {
    // The old half of a replacement goes only once the new half exists.
    const due = endDeletes.filter((s) => kinds.get(s.resource.name) === "delete" || (done.has(s.resource.name) && !failed.has(s.resource.name)));
    const pending = topological(due.map((s) => s.resource)).reverse();
    const deleting = new Map(due.map((s) => [s.resource.name, s]));
    const finishedAt = new Map<string, number>();
    for (const r of pending) {
      const step = deleting.get(r.name);
      if (step === undefined) continue;
      // A delete waits for the deletes of what depended on it.
      const after = Math.max(t, ...pending.filter((o) => dependenciesOf(o).includes(r.name)).map((o) => finishedAt.get(o.name) ?? t));
      const fails = down.has(r.host ?? "") && needsHost(r);
      const seconds = fails ? (dialSeconds.get(r.host ?? "") ?? 150) : stepSeconds(r, "delete", options.times);
      if (r.type === CONTAINER) running.set(r.name, false);
      record(after);
      finishedAt.set(r.name, after + seconds);
      touch(r.host, after + seconds);
      if (fails) failures.push({ name: r.name, reason: `${r.host ?? "?"} did not answer (delete ${r.name})` });
    }
    t = Math.max(t, ...finishedAt.values());
  }

  const hostNames = [...new Set([...(before ?? []), ...after].map((r) => r.host).filter((h): h is string => h !== null))].sort();
  const hosts: Record<string, { completed: boolean; finishedAt: number }> = {};
  for (const h of hostNames) {
    const mine = [...after, ...endDeletes.map((s) => s.resource)].filter((r) => r.host === h);
    const completed = mine.every((r) => !failed.has(r.name)) && !failures.some((f) => (newByName.get(f.name) ?? oldByName.get(f.name))?.host === h);
    hosts[h] = { completed, finishedAt: hostFinished.get(h) ?? 0 };
  }
  const blocked = hostNames.filter((h) => !down.has(h) && after.some((r) => r.host === h && skipped.has(r.name)));

  const services: Record<string, ServiceTimeline> = {};
  for (const s of serviceNames) {
    const series = points.get(s) ?? [];
    const workers = after.filter((r) => serviceOf(r) === s).length;
    const minRunning = Math.min(...series.map(([, n]) => n));
    services[s] = { workers, minRunning, maxUnavailable: Math.max(0, workers - minRunning), points: series };
  }
  return { services, blocked, hosts, durationSeconds: t, failures };
}

/** Resources ordered so that each comes after everything it depends on (ties: given order). */
function topological(resources: readonly SynthResource[]): SynthResource[] {
  const byName = new Map(resources.map((r) => [r.name, r]));
  const out: SynthResource[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (r: SynthResource): void => {
    const s = state.get(r.name);
    if (s === "done" || s === "visiting") return;
    state.set(r.name, "visiting");
    for (const d of dependenciesOf(r)) {
      const dep = byName.get(d);
      if (dep !== undefined) visit(dep);
    }
    state.set(r.name, "done");
    out.push(r);
  };
  for (const r of resources) visit(r);
  return out;
}

/** Text report: one block per service, then hosts and the total. */
export function renderRollout(result: SimulationResult, options: SimulationOptions): string {
  const lines: string[] = [];
  lines.push(`modelled: pulumi up${options.continueOnError ? " --continue-on-error" : ""} --parallel ${options.parallel}${options.down.length > 0 ? `, down: ${options.down.join(", ")}` : ""}`);
  for (const [name, s] of Object.entries(result.services)) {
    lines.push(`service ${name}: ${s.workers} workers, at least ${s.minRunning} running, at most ${s.maxUnavailable} unavailable at once`);
    lines.push(`  running: ${s.points.map(([t, n]) => `${t}s ${n}`).join(", ")}`);
  }
  for (const [name, h] of Object.entries(result.hosts)) lines.push(`host ${name}: ${h.completed ? `completed at ${h.finishedAt}s` : "NOT completed"}`);
  if (result.blocked.length > 0) lines.push(`blocked by a failure elsewhere: ${result.blocked.join(", ")}`);
  for (const f of result.failures) lines.push(`failed: ${f.reason}`);
  lines.push(`total: ${result.durationSeconds}s`);
  return lines.join("\n");
}
