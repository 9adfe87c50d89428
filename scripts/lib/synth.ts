// Runs the real Pulumi program on the mock engine, for a stack file, and returns every resource it
// registers: what `pulumi preview` would send to the providers, with secrets redacted. No
// credentials, no Pulumi CLI, no network.

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { credentialShape } from "../../components/core/checks";
import { awaitProgram, installPulumiMocks, isSecretValue, MOCK_SECRET_MARKERS, secretRedactor, type RecordedResource } from "./mock-engine";
import { engineConfig } from "./engine-config";
import { COMPUTED } from "./computed";
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
  /** Inputs whose change the program turns into a replacement (the `replaceOnChanges` option). */
  readonly replaceOnChanges: readonly string[];
  /** The `replacementTrigger` option (a new value replaces the resource), or null. */
  readonly replacementTrigger: unknown;
  /** The name of the `deletedWith` resource, or null. */
  readonly deletedWith: string | null;
  /**
   * Names of the resources this one waits for without taking an input from them: its `dependsOn`
   * (a `dependsOn` resource whose output is also an input shows under inputDependencies only).
   */
  readonly dependsOn: readonly string[];
  /** Per input, the names of the resources its value came from (the engine's property dependencies). */
  readonly inputDependencies: Readonly<Record<string, readonly string[]>>;
  /** The resource's id under the mock engine; a replaced resource gets a new one. */
  readonly id: string | null;
}

/** The resource options `synth --json` shows for each resource. */
export function resourceOptions(r: SynthResource): Record<string, unknown> {
  return {
    parent: r.parent,
    dependsOn: r.dependsOn,
    inputDependencies: r.inputDependencies,
    replaceOnChanges: r.replaceOnChanges,
    deleteBeforeReplace: r.deleteBeforeReplace,
    ignoreChanges: r.ignoreChanges,
    deletedWith: r.deletedWith,
    replacementTrigger: r.replacementTrigger,
  };
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

/** The first line of a stack: `Error: message`, as V8 prints it with no frames. */
function stackHeader(error: Error): string {
  const name = error.name === undefined ? "Error" : String(error.name);
  const message = error.message === undefined ? "" : String(error.message);
  return name === "" ? message : message === "" ? name : `${name}: ${message}`;
}

/** Synthesizes a stack once per process (the Pulumi runtime is global). */
export async function synthesize(stack: LoadedStack, programDir = REPO_ROOT): Promise<SynthResult> {
  const { config, secretKeys } = engineConfig(stack);
  // Offline: no SSH runs, so the runner's ssh-agent is not checked (components/config.ts agentProblems).
  process.env.GPU_FLEET_OFFLINE = "1";
  // The SDK captures a stack trace for every promise it makes (runtime/debuggable.js), and under
  // tsx each one is source-mapped: most of synth's time. Offline tools never show those traces.
  // Besides, the SDK takes a full stack trace of every resource it constructs, for the resource's
  // source position (Resource.callsites in @pulumi/pulumi/resource.js sets Error.stackTraceLimit to
  // Infinity around `new Error().stack` and parses the text); tsx turns Node's source maps on, so
  // each of those traces was source-mapped too. The mock engine never reads source positions: a
  // stack reads as its first line only (as with stackTraceLimit 0), which callsites() parses as no
  // frames, and nothing is source-mapped. Messages are unchanged; FLEET_DEBUG=1 keeps full traces.
  if (process.env.FLEET_DEBUG !== "1") {
    Error.stackTraceLimit = 0;
    Error.prepareStackTrace = (error: Error) => stackHeader(error);
    process.setSourceMapsEnabled(false);
  }
  const engine = installPulumiMocks({ project: "gpu-fleet", stack: stack.name, preview: true, computedUnknown: true, config, secretKeys, calls: { [GET_ACL]: () => livePolicyAssumed(stack) }, outputs: { [STACK_REFERENCE]: sharedStackOutputs } });
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
  // Plain env values that look like credentials (plan warns about them) are never printed either.
  const knownSecrets = [...secretKeys.map((key) => config[key]), ...MOCK_SECRET_MARKERS, ...credentialLookingEnv(stack)];
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
  const nameOf = (urn: string): string => byUrn.get(urn)?.name ?? urn;
  const recorded = engine.resources.filter((r) => r.type !== "pulumi:pulumi:Stack");
  const redact = secretRedactor(knownSecrets);
  const digests = new Map<string, Promise<Record<string, unknown>>>();
  const resources: SynthResource[] = [];
  for (const r of recorded) {
    const fromInputs = new Set(Object.values(r.propertyDependencies).flat());
    resources.push({
      type: r.type,
      name: r.name,
      parent: r.parentUrn === undefined ? null : (byUrn.get(r.parentUrn)?.name ?? null),
      host: hostOf(r),
      inputs: redact(await present(r.inputs, programDir, digests)) as Record<string, unknown>,
      ignoreChanges: [...r.ignoreChanges],
      deleteBeforeReplace: r.deleteBeforeReplace,
      replaceOnChanges: [...r.replaceOnChanges],
      // The engine receives an option computed from an unknown as its wire sentinel.
      replacementTrigger: r.replacementTrigger === undefined ? null : redact(await present(unknownsFromWire(r.replacementTrigger), programDir, digests)),
      deletedWith: r.deletedWith === undefined ? null : nameOf(r.deletedWith),
      dependsOn: r.dependencies.filter((u) => !fromInputs.has(u)).map(nameOf).sort(),
      inputDependencies: Object.fromEntries(Object.entries(r.propertyDependencies).map(([k, urns]) => [k, urns.map(nameOf).sort()])),
      // Ids are the engine's to make: every custom resource's id is computed until `up`.
      id: r.id ?? (r.custom ? COMPUTED : null),
    });
  }
  resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  return { ok: true, resources };
}

/**
 * Inputs as a reviewer should read them: a value the engine only learns during `up` is `<computed>`,
 * a file the program ships is its path (relative to the program) and the sha256 of its content, and
 * a folder it ships is its path, its file count and one sha256 over its files' paths and contents.
 * Secret markers stay, for redactSecrets: a secret computed value prints as [secret].
 *
 * Only assets need awaiting (their paths are promises): values without one are presented in one
 * synchronous walk. A file or folder is read and hashed once per synth (`digests`, by path), not
 * once per resource that ships it (every host copies the same roles folder).
 */
async function present(value: unknown, programDir: string, digests: Map<string, Promise<Record<string, unknown>>>): Promise<unknown> {
  if (!holdsAsset(value)) return presentPlain(value);
  if (isSecretValue(value)) return { ...value, value: await present(value.value, programDir, digests) };
  if (value instanceof pulumi.asset.FileAsset) {
    const path = resolve(programDir, await value.path);
    return digestOnce(digests, `file\0${path}`, () => ({ file: relative(programDir, path), contentSha256: createHash("sha256").update(readFileSync(path)).digest("hex") }));
  }
  if (value instanceof pulumi.asset.StringAsset) {
    return { text: true, contentSha256: createHash("sha256").update(await value.text).digest("hex") };
  }
  if (value instanceof pulumi.asset.FileArchive) {
    const path = resolve(programDir, await value.path);
    return digestOnce(digests, `folder\0${path}`, () => {
      if (!statSync(path).isDirectory()) throw new Error("synth cannot show a FileArchive of a file (.tar, .zip) yet; teach scripts/lib/synth.ts present() about it");
      return { folder: relative(programDir, path), ...folderDigest(path) };
    });
  }
  if (isAssetOrArchive(value)) throw new Error("synth cannot show this kind of asset yet; teach scripts/lib/synth.ts present() about it");
  if (Array.isArray(value)) return Promise.all(value.map((v) => present(v, programDir, digests)));
  const entries = await Promise.all(Object.entries(value as Record<string, unknown>).map(async ([k, v]) => [k, await present(v, programDir, digests)] as const));
  return Object.fromEntries(entries);
}

/** One digest per path and synth; each resource gets its own copy of the object. */
async function digestOnce(digests: Map<string, Promise<Record<string, unknown>>>, key: string, compute: () => Record<string, unknown>): Promise<Record<string, unknown>> {
  let digest = digests.get(key);
  if (digest === undefined) {
    digest = Promise.resolve().then(compute);
    digests.set(key, digest);
  }
  return { ...(await digest) };
}

/** present() of a value that holds no asset. */
function presentPlain(value: unknown): unknown {
  if (isSecretValue(value)) return { ...value, value: presentPlain(value.value) };
  if (pulumi.isUnknown(value)) return COMPUTED;
  if (Array.isArray(value)) return value.map(presentPlain);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = presentPlain(v);
    return out;
  }
  return value;
}

/** Whether an asset or archive is anywhere in the value (present() must await it). */
function holdsAsset(value: unknown): boolean {
  if (typeof value !== "object" || value === null || pulumi.isUnknown(value)) return false;
  if (isAssetOrArchive(value)) return true;
  if (Array.isArray(value)) return value.some(holdsAsset);
  for (const v of Object.values(value as Record<string, unknown>)) if (holdsAsset(v)) return true;
  return false;
}

/** The wire form of an unknown value (the engine's sentinel string), as `<computed>`. */
function unknownsFromWire(value: unknown): unknown {
  if (value === pulumi.runtime.unknownValue) return COMPUTED;
  if (Array.isArray(value)) return value.map(unknownsFromWire);
  if (typeof value === "object" && value !== null && !isSecretValue(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unknownsFromWire(v)]));
  return value;
}

/** A folder the program ships: how many files it holds and one sha256 over their paths and contents. */
function folderDigest(root: string): { files: number; contentSha256: string } {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.push(relative(root, path));
    }
  };
  walk(root);
  files.sort();
  const hash = createHash("sha256");
  for (const file of files) hash.update(`${file}\0`).update(readFileSync(join(root, file))).update("\0");
  return { files: files.length, contentSha256: hash.digest("hex") };
}

function isAssetOrArchive(value: unknown): boolean {
  return pulumi.asset.Asset.isInstance(value) || pulumi.asset.Archive.isInstance(value);
}

/** One block per resource: `type name (parent)` then its inputs, one per line. */
export function renderSynth(resources: readonly SynthResource[]): string {
  const lines: string[] = [];
  for (const r of resources) {
    lines.push(`${r.type}  ${r.name}${r.parent === null ? "" : `  (parent ${r.parent})`}`);
    for (const [key, value] of Object.entries(r.inputs).sort(([a], [b]) => (a < b ? -1 : 1))) {
      lines.push(`    ${key}: ${JSON.stringify(value).split(JSON.stringify(COMPUTED)).join(COMPUTED)}`);
    }
  }
  lines.push(`${resources.length} resources`);
  return lines.join("\n");
}

/** Plain env values of the stack's services that look like credentials. */
function credentialLookingEnv(stack: LoadedStack): string[] {
  const services = stack.document.values.services;
  if (typeof services !== "object" || services === null) return [];
  const found: string[] = [];
  for (const service of Object.values(services as Record<string, { env?: Record<string, unknown> }>)) {
    for (const [name, value] of Object.entries(service?.env ?? {})) {
      if (typeof value === "string" && value !== "" && credentialShape(name, value) !== undefined) found.push(value);
    }
  }
  return found;
}
