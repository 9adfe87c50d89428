// Runs the real Pulumi program on the mock engine, for a stack file, and returns every resource it
// registers: what `pulumi preview` would send to the providers, with secrets redacted. No
// credentials, no Pulumi CLI, no network.

import { resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { awaitProgram, installPulumiMocks, MOCK_SECRET_MARKERS, redactSecrets, type RecordedResource } from "./mock-engine";
import { engineConfig } from "./engine-config";
import type { LoadedStack } from "./stack";
import { loadStack, REPO_ROOT } from "./stack";
import { planConfig } from "../../components/core/pipeline";
import { sharedContract } from "../../components/core/split";
const SHARED_OUTPUT = "fleetShared"; // components/Fleet.ts SHARED_OUTPUT (not imported: it loads the program's modules before the mocks)

export interface SynthResource {
  readonly type: string;
  readonly name: string;
  /** The parent's name, or null for a top-level resource. */
  readonly parent: string | null;
  /** The host the resource belongs to, or null for fleet-wide resources. */
  readonly host: string | null;
  readonly inputs: Record<string, unknown>;
  /** Inputs the program tells Pulumi to ignore changes of. */
  readonly ignoreChanges: readonly string[];
  readonly deleteBeforeReplace: boolean;
}

export type SynthResult = { ok: true; resources: SynthResource[] } | { ok: false; error: string };

const HOST_COMPONENT = "gpu-fleet:index:Host";

const GET_ACL = "tailscale:index/getAcl:getAcl";

/**
 * External policy mode reads the tailnet's live policy. Offline there is none: synth assumes the
 * team's policy already declares the stack's tags (pulumi up checks it for real).
 */
function livePolicyAssumed(stack: LoadedStack): Record<string, unknown> {
  const tailnet = (stack.document.values.tailnet ?? {}) as { workerTag?: string; redisTag?: string };
  const tags = [tailnet.workerTag ?? "tag:gpu-worker", tailnet.redisTag ?? "tag:redis"];
  return { id: "offline", hujson: "", json: JSON.stringify({ tagOwners: Object.fromEntries(tags.map((t) => [t, []])) }) };
}

const STACK_REFERENCE = "pulumi:pulumi:StackReference";

/**
 * A group stack of a split fleet reads its shared stack's outputs. Offline, the shared stack is the
 * stack file of the same name under stacks/ (the last part of `org/project/stack`); its contract is
 * computed from that file, as the shared stack's program would export it.
 */
function sharedStackOutputs(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
  const name = String((args.inputs as { name?: unknown }).name ?? "").split("/").pop() ?? "";
  let outputs: Record<string, unknown> = {};
  try {
    const shared = loadStack(name);
    const spec = planConfig(shared.document, shared.diagnostics).spec;
    if (spec?.split?.role === "shared") outputs = { [SHARED_OUTPUT]: sharedContract(spec) };
  } catch {
    // No such stack file: the reference has no outputs, and the group stack says so.
  }
  return { outputs, secretOutputNames: [] };
}

/** Synthesizes a stack once per process (the Pulumi runtime is global). */
export async function synthesize(stack: LoadedStack, programDir = REPO_ROOT): Promise<SynthResult> {
  const { config, secretKeys } = engineConfig(stack);
  // The SDK captures a stack trace for every promise it makes (runtime/debuggable.js), and under
  // tsx each one is source-mapped: most of synth's time. Offline tools never show those traces.
  if (process.env.FLEET_DEBUG !== "1") Error.stackTraceLimit = 0;
  const engine = installPulumiMocks({ project: "gpu-fleet", stack: stack.name, preview: true, config, secretKeys, calls: { [GET_ACL]: () => livePolicyAssumed(stack) }, outputs: { [STACK_REFERENCE]: sharedStackOutputs } });
  // A check inside an Output (a group stack's contract with its shared stack) fails a resource's
  // registration, not the program's exports: the real runtime then ends the program with its
  // message. Do the same: the first rejection nobody handled ends the synth.
  let unhandled: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (unhandled = reject));
  process.on("unhandledRejection", unhandled);
  try {
    await Promise.race([awaitProgram((await import(resolve(programDir, "index.ts"))) as Record<string, unknown>), failed]);
  } catch (error) {
    if (error instanceof pulumi.RunError) return { ok: false, error: error.message.replace(/^(error serializing property "[^"]*": )+/, "") };
    throw error;
  } finally {
    process.off("unhandledRejection", unhandled);
  }
  await engine.settle();
  // Every value a secret can have offline: the stand-ins for secret config and the mock's own secrets.
  const knownSecrets = [...secretKeys.map((key) => config[key]), ...MOCK_SECRET_MARKERS];
  const byUrn = new Map(engine.resources.filter((r) => r.urn !== undefined).map((r) => [r.urn as string, r]));
  const hostOf = (record: RecordedResource): string | null => {
    for (let r: RecordedResource | undefined = record; r !== undefined; r = r.parentUrn === undefined ? undefined : byUrn.get(r.parentUrn)) {
      if (r.type === HOST_COMPONENT) {
        // A Host is named `<fleet>-<host>` under its Fleet.
        const fleet = r.parentUrn === undefined ? undefined : byUrn.get(r.parentUrn);
        return fleet !== undefined && r.name.startsWith(`${fleet.name}-`) ? r.name.slice(fleet.name.length + 1) : r.name;
      }
    }
    return null;
  };
  const resources = engine.resources
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({
      type: r.type,
      name: r.name,
      parent: r.parentUrn === undefined ? null : (byUrn.get(r.parentUrn)?.name ?? null),
      host: hostOf(r),
      inputs: redactSecrets(r.inputs, knownSecrets) as Record<string, unknown>,
      ignoreChanges: [...r.ignoreChanges],
      deleteBeforeReplace: r.deleteBeforeReplace,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  return { ok: true, resources };
}

/** One block per resource: `type name (parent)` then its inputs, one per line. */
export function renderSynth(resources: readonly SynthResource[]): string {
  const lines: string[] = [];
  for (const r of resources) {
    lines.push(`${r.type}  ${r.name}${r.parent === null ? "" : `  (parent ${r.parent})`}`);
    for (const [key, value] of Object.entries(r.inputs).sort(([a], [b]) => (a < b ? -1 : 1))) {
      lines.push(`    ${key}: ${JSON.stringify(value)}`);
    }
  }
  lines.push(`${resources.length} resources`);
  return lines.join("\n");
}
