// Resource-level diff of two synths, grouped by host: what `pulumi preview --diff` would show as
// create, delete, replace and update, decided the way the providers decide (FIELD-NOTES: which
// input changes force a replacement). Pure.

import { COMPUTED } from "./computed";
import type { SynthResource } from "./synth";

export type ChangeKind = "create" | "delete" | "replace" | "update";

export interface InputChange {
  readonly key: string;
  readonly before: unknown;
  readonly after: unknown;
  /** For a `<computed>` input that will change: the created or replaced resources it comes from. */
  readonly from?: readonly string[];
}

export interface ResourceChange {
  readonly kind: ChangeKind;
  readonly type: string;
  readonly name: string;
  /** The host it belongs to, or null for fleet-wide resources. */
  readonly host: string | null;
  readonly inputs: readonly InputChange[];
}

/** Inputs that a provider can change in place; any other input change replaces the resource. */
const UPDATABLE: Readonly<Record<string, ReadonlySet<string>>> = {
  "docker:index/container:Container": new Set([
    "restart", "memory", "memorySwap", "cpuShares", "cpuSet", "maxRetryCount", "destroyGraceSeconds", "wait", "waitTimeout",
    "mustRun", "start", "attach", "logs", "rm", "containerReadRefreshTimeoutMilliseconds",
  ]),
};

/** Inputs that force a replacement; any other input change is an update. */
const REPLACING: Readonly<Record<string, ReadonlySet<string>>> = {
  // Triggers replace a command: its delete runs, then its create (FIELD-NOTES).
  "command:remote:Command": new Set(["triggers"]),
  "command:local:Command": new Set(["triggers"]),
  "command:remote:CopyToRemote": new Set(["triggers", "remotePath"]),
  "docker:index/remoteImage:RemoteImage": new Set(["name", "platform", "pullTriggers", "build", "triggers"]),
  "hcloud:index/server:Server": new Set(["image", "location", "userData", "sshKeys", "datacenter"]),
  "hcloud:index/sshKey:SshKey": new Set(["publicKey"]),
  "hcloud:index/placementGroup:PlacementGroup": new Set(["type"]),
  "tailscale:index/tailnetKey:TailnetKey": new Set(["reusable", "ephemeral", "preauthorized", "tags", "expiry", "description", "recreateIfInvalid"]),
};

export function diffResources(before: readonly SynthResource[], after: readonly SynthResource[]): ResourceChange[] {
  return withComputedChanges(directChanges(before, after), after);
}

function directChanges(before: readonly SynthResource[], after: readonly SynthResource[]): ResourceChange[] {
  const key = (r: SynthResource): string => `${r.type}\u0000${r.name}`;
  const old = new Map(before.map((r) => [key(r), r]));
  const changes: ResourceChange[] = [];
  for (const now of after) {
    const was = old.get(key(now));
    old.delete(key(now));
    if (was === undefined) {
      changes.push({ kind: "create", type: now.type, name: now.name, host: now.host, inputs: [] });
      continue;
    }
    const ignored = new Set(now.ignoreChanges);
    const inputs: InputChange[] = [];
    for (const k of [...new Set([...Object.keys(was.inputs), ...Object.keys(now.inputs)])].sort()) {
      if (ignored.has(k) || k.startsWith("__")) continue;
      if (JSON.stringify(was.inputs[k]) !== JSON.stringify(now.inputs[k])) inputs.push({ key: k, before: was.inputs[k], after: now.inputs[k] });
    }
    if (inputs.length === 0) continue;
    changes.push({ kind: replaces(now.type, inputs) ? "replace" : "update", type: now.type, name: now.name, host: now.host, inputs });
  }
  for (const gone of old.values()) changes.push({ kind: "delete", type: gone.type, name: gone.name, host: gone.host, inputs: [] });
  return changes;
}

/**
 * A `<computed>` input reads the same on both sides, but its value comes from a resource that is
 * created or replaced now, so it will change: a container's image id when its image is new, a role's
 * input from a replaced command's output. Such inputs change too (and may replace their resource in
 * turn), as `pulumi preview` shows them: unknown, from a resource being replaced.
 */
function withComputedChanges(direct: readonly ResourceChange[], after: readonly SynthResource[]): ResourceChange[] {
  const changes = new Map(direct.map((c) => [`${c.type}\u0000${c.name}`, c]));
  const typeOf = new Map(after.map((r) => [r.name, r.type]));
  const renewedNames = (): Set<string> => new Set([...changes.values()].filter((c) => c.kind === "create" || c.kind === "replace").map((c) => c.name));
  for (let grew = true; grew; ) {
    grew = false;
    const renewed = renewedNames();
    for (const r of after) {
      const key = `${r.type}\u0000${r.name}`;
      const was = changes.get(key);
      if (was?.kind === "create" || was?.kind === "replace") continue;
      // A container waits for the one before it in its rollout lane (dependsOn) but takes no value from it.
      const from = r.dependsOn.filter((d) => renewed.has(d) && typeOf.get(d) !== CONTAINER);
      if (from.length === 0) continue;
      const ignored = new Set(r.ignoreChanges);
      const known = new Set((was?.inputs ?? []).map((i) => i.key));
      const computed = Object.keys(r.inputs)
        .filter((k) => !ignored.has(k) && !known.has(k) && !k.startsWith("__") && holdsComputed(r.inputs[k]))
        .map((k) => ({ key: k, before: r.inputs[k], after: r.inputs[k], from }));
      if (computed.length === 0) continue;
      const inputs = [...(was?.inputs ?? []), ...computed].sort((a, b) => (a.key < b.key ? -1 : 1));
      changes.set(key, { kind: replaces(r.type, inputs) ? "replace" : "update", type: r.type, name: r.name, host: r.host, inputs });
      grew = true;
    }
  }
  return [...changes.values()];
}

const CONTAINER = "docker:index/container:Container";

function holdsComputed(value: unknown): boolean {
  if (value === COMPUTED) return true;
  if (Array.isArray(value)) return value.some(holdsComputed);
  if (typeof value === "object" && value !== null) return Object.values(value).some(holdsComputed);
  return false;
}

function replaces(type: string, inputs: readonly InputChange[]): boolean {
  const updatable = UPDATABLE[type];
  if (updatable !== undefined) return inputs.some((i) => !updatable.has(i.key));
  const replacing = REPLACING[type];
  return replacing !== undefined && inputs.some((i) => replacing.has(i.key));
}

const SYMBOL: Record<ChangeKind, string> = { create: "+", delete: "-", replace: "±", update: "~" };

/** Grouped by host, fleet-wide resources first; one line per resource, one per changed input. */
export function renderDiff(changes: readonly ResourceChange[]): string {
  if (changes.length === 0) return "no changes";
  const groups = new Map<string, ResourceChange[]>();
  for (const change of changes) {
    const group = change.host === null ? "fleet" : `host ${change.host}`;
    groups.set(group, [...(groups.get(group) ?? []), change]);
  }
  const lines: string[] = [];
  const ordered = [...groups.keys()].sort((a, b) => (a === "fleet" ? -1 : b === "fleet" ? 1 : a < b ? -1 : 1));
  for (const group of ordered) {
    lines.push(group);
    for (const c of (groups.get(group) ?? []).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      lines.push(`  ${SYMBOL[c.kind]} ${c.kind.padEnd(7)} ${c.type}  ${c.name}`);
      for (const i of c.inputs) {
        lines.push(`        ${i.key}: ${i.from === undefined ? describeChange(i.before, i.after) : `${COMPUTED}, from new ${i.from.join(", ")}`}`);
      }
    }
  }
  const count = (k: ChangeKind): number => changes.filter((c) => c.kind === k).length;
  lines.push(`${count("create")} to create, ${count("delete")} to delete, ${count("replace")} to replace, ${count("update")} to update`);
  return lines.join("\n");
}

/** Lists show what left and what came (`- "OMP_NUM_THREADS=2" + "OMP_NUM_THREADS=1"`); others before → after. */
function describeChange(before: unknown, after: unknown): string {
  if (Array.isArray(before) && Array.isArray(after)) {
    const text = (v: unknown): string => JSON.stringify(v);
    const was = new Set(before.map(text));
    const now = new Set(after.map(text));
    const removed = [...was].filter((v) => !now.has(v)).map((v) => `- ${v}`);
    const added = [...now].filter((v) => !was.has(v)).map((v) => `+ ${v}`);
    if (removed.length + added.length > 0) return [...removed, ...added].join(" ");
    return "reordered";
  }
  return `${show(before)} → ${show(after)}`;
}

function show(value: unknown): string {
  if (value === undefined) return "(none)";
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}
