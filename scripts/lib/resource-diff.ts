// Resource-level diff of two synths, grouped by host: what `pulumi preview --diff` would show as
// create, delete, replace and update, decided the way the providers decide (REPLACEMENT_RULES, read
// from each provider's schema) and the resource options say (replaceOnChanges, replacementTrigger). Pure.

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

/**
 * How a provider decides between update and replace, per resource type, read from the provider's own
 * schema: either the inputs that force a new resource (Terraform `ForceNew` / `RequiresReplace`, or
 * `replaceOnChanges` in a native provider's schema), or, where nearly every input forces a new
 * resource, the few inputs it can change in place. Each entry names the schema file it was read from
 * (repository, path, commit) and test/unit/resource-diff.test.ts checks one change per entry.
 */
export type ReplacementRule =
  | { readonly source: string; readonly replacing: readonly string[] }
  | { readonly source: string; readonly inPlace: readonly string[] };

export const REPLACEMENT_RULES: Readonly<Record<string, ReplacementRule>> = {
  // Everything ForceNew except these; `healthcheck`, `init`, `tmpfs`, `cpuPeriod` and `cpuQuota` are
  // not ForceNew, but Docker applies them only when a container is created (the provider's update
  // changes only restart, max_retry_count and the cpu/memory/blkio resources:
  // resource_docker_container_funcs.go resourceDockerContainerUpdate). Workers.ts names them in
  // `replaceOnChanges` so that a change reaches the running container.
  "docker:index/container:Container": {
    source: "kreuzwerker/terraform-provider-docker internal/provider/resource_docker_container.go @83c00e0",
    inPlace: [
      "rm", "start", "wait", "waitTimeout", "attach", "logs", "mustRun", "restart", "maxRetryCount", "removeVolumes", "tmpfs",
      "deviceReadBps", "deviceReadIops", "deviceWriteBps", "deviceWriteIops", "destroyGraceSeconds", "memory", "memoryReservation",
      "memorySwap", "cpuShares", "cpuSet", "healthcheck", "containerReadRefreshTimeoutMilliseconds", "init", "cpuPeriod", "cpuQuota",
    ],
  },
  "docker:index/remoteImage:RemoteImage": {
    source: "kreuzwerker/terraform-provider-docker internal/provider/resource_docker_image.go @83c00e0",
    replacing: ["name", "pullTriggers", "triggers", "platform"],
  },
  // `triggers` is the only replaceOnChanges input of the command provider's resources; a changed
  // `create` is an update, which runs the new create (remote/commandController.go Update).
  "command:remote:Command": { source: "pulumi/pulumi-command provider/cmd/pulumi-resource-command/schema.json @010bd8e", replacing: ["triggers"] },
  "command:local:Command": { source: "pulumi/pulumi-command provider/cmd/pulumi-resource-command/schema.json @010bd8e", replacing: ["triggers"] },
  "command:remote:CopyToRemote": { source: "pulumi/pulumi-command provider/cmd/pulumi-resource-command/schema.json @010bd8e", replacing: ["triggers"] },
  // `datacenter` is a removed attribute (an error, not a replacement); `placement_group_id` is an
  // update that fails on a running server (setPlacementGroup), so HetznerServer.ts names it in
  // `replaceOnChanges`.
  "hcloud:index/server:Server": {
    source: "hetznercloud/terraform-provider-hcloud internal/server/resource.go @f81c9af",
    replacing: ["image", "location", "userData", "sshKeys"],
  },
  "hcloud:index/sshKey:SshKey": { source: "hetznercloud/terraform-provider-hcloud internal/sshkey/resource.go @f81c9af", replacing: ["publicKey"] },
  // `type` is Required but not ForceNew, and the update applies only name and labels.
  "hcloud:index/placementGroup:PlacementGroup": { source: "hetznercloud/terraform-provider-hcloud internal/placementgroup/resource.go @f81c9af", replacing: [] },
  "hcloud:index/firewall:Firewall": { source: "hetznercloud/terraform-provider-hcloud internal/firewall/resource.go @f81c9af", replacing: [] },
  // `recreateIfInvalid` has no RequiresReplace: an update.
  "tailscale:index/tailnetKey:TailnetKey": {
    source: "tailscale/terraform-provider-tailscale tailscale/resource_tailnet_key.go @0a85227",
    replacing: ["reusable", "ephemeral", "tags", "preauthorized", "expiry", "description"],
  },
  "tls:index/privateKey:PrivateKey": { source: "hashicorp/terraform-provider-tls internal/provider/resource_private_key.go @d72d90e", replacing: ["algorithm", "rsaBits", "ecdsaCurve"] },
};

/** Whether a change of this input alone replaces a resource of this type (before resource options). */
export function inputReplaces(type: string, key: string): boolean {
  const rule = REPLACEMENT_RULES[type];
  if (rule === undefined) return false;
  return "inPlace" in rule ? !rule.inPlace.includes(key) : rule.replacing.includes(key);
}

/** `triggers[*]`, `healthcheck.tests` → the input they are in (`triggers`, `healthcheck`). */
export function topLevelKey(path: string): string {
  return path.split(/[.[]/)[0] ?? path;
}

/** The inputs whose values decide a resource's identity: a new value means a new resource (and id). */
export function replacingInputs(type: string, inputs: Record<string, unknown>, replaceOnChanges: readonly string[] = []): Record<string, unknown> {
  const replaceOn = replaceOnChanges.map(topLevelKey);
  return Object.fromEntries(Object.entries(inputs).filter(([key]) => !key.startsWith("__") && (inputReplaces(type, key) || replaceOn.includes(key))));
}

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
    const triggered = JSON.stringify(was.replacementTrigger) !== JSON.stringify(now.replacementTrigger);
    if (triggered) inputs.push({ key: "(replacementTrigger)", before: was.replacementTrigger, after: now.replacementTrigger });
    if (inputs.length === 0) continue;
    const replaceOn = now.replaceOnChanges.map(topLevelKey);
    const replace = triggered || inputs.some((i) => inputReplaces(now.type, i.key) || replaceOn.includes(i.key));
    changes.push({ kind: replace ? "replace" : "update", type: now.type, name: now.name, host: now.host, inputs });
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
      // A container waits for the one before it in its rollout lane (dependsOn) but takes no value
      // from it; a value it does take (a health gate's trigger is its container's id) is an input dependency.
      // Roles wait for their host's roles copy, whose outputs are only its own inputs
      // (@pulumi/command 1.2.1 remote/copyToRemote.d.ts: connection, remotePath, source, triggers):
      // a new copy gives them no new value.
      const sources = new Set([...r.dependsOn.filter((d) => !WAITED_FOR_ONLY.has(typeOf.get(d) ?? "")), ...Object.values(r.inputDependencies).flat()]);
      const from = [...sources].filter((d) => renewed.has(d)).sort();
      if (from.length === 0) continue;
      const ignored = new Set(r.ignoreChanges);
      const known = new Set((was?.inputs ?? []).map((i) => i.key));
      const computed = Object.keys(r.inputs)
        .filter((k) => !ignored.has(k) && !known.has(k) && !k.startsWith("__") && holdsComputed(r.inputs[k]))
        .map((k): InputChange => ({ key: k, before: r.inputs[k], after: r.inputs[k], from }));
      // A replacementTrigger computed from a renewed resource changes too.
      if (!known.has("(replacementTrigger)") && holdsComputed(r.replacementTrigger)) computed.push({ key: "(replacementTrigger)", before: r.replacementTrigger, after: r.replacementTrigger, from });
      if (computed.length === 0) continue;
      const inputs = [...(was?.inputs ?? []), ...computed].sort((a, b) => (a.key < b.key ? -1 : 1));
      changes.set(key, { kind: replaces(r, inputs) ? "replace" : "update", type: r.type, name: r.name, host: r.host, inputs });
      grew = true;
    }
  }
  return [...changes.values()];
}

const CONTAINER = "docker:index/container:Container";
/** Types whose dependsOn dependents take no value from them (see withComputedChanges). */
const WAITED_FOR_ONLY = new Set([CONTAINER, "command:remote:CopyToRemote"]);

function holdsComputed(value: unknown): boolean {
  if (value === COMPUTED) return true;
  if (Array.isArray(value)) return value.some(holdsComputed);
  if (typeof value === "object" && value !== null) return Object.values(value).some(holdsComputed);
  return false;
}

function replaces(r: SynthResource, inputs: readonly InputChange[]): boolean {
  const replaceOn = r.replaceOnChanges.map(topLevelKey);
  return inputs.some((i) => i.key === "(replacementTrigger)" || inputReplaces(r.type, topLevelKey(i.key)) || replaceOn.includes(topLevelKey(i.key)));
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
