// A mock Pulumi engine: records every resource the program registers and answers with deterministic
// ids and outputs. `npm run synth` runs the real program on it; the component tests use it too.
//
//   const mocks = installPulumiMocks({ config: { "gpu-fleet:stackName": "x" }, secretKeys: [...] });
//   const { Tailnet } = await import("../../components/Tailnet");   // import AFTER installPulumiMocks
//   const t = new Tailnet("t", args);
//   await mocks.settle();                                          // every registration has reached the mock
//   mocks.ofType("tailscale:index/tailnetKey:TailnetKey")          // what was registered, with inputs and parent
//   await resolveOutput(t.authKeys.a)                               // { value, secret }
//
// Mocks are process-wide (node --test runs each test file in its own process). A module that creates
// resources when it is imported must be imported after installPulumiMocks: use `await import()` inside a
// test or `before`, not a static import. Config must be set before the code that reads it runs.
//
// Two things the engine does and the plain mocks do not, emulated here: a resource's
// `additionalSecretOutputs` come back as secrets (so `isSecret` on e.g. TailnetKey.key is what it would be
// in a real deployment), and each record knows its parent's URN and its dependencies' URNs.
// Not emulated: transforms and resource hooks (they never run under mocks), provider-side defaults and
// validation (a mock accepts any input), and unknowns (outputs are known unless `preview` is set).

import * as pulumi from "@pulumi/pulumi";
import * as settings from "@pulumi/pulumi/runtime/settings";
import { replacingInputs } from "./resource-diff";

/** One resource as the mock saw it. */
export interface RecordedResource {
  /** Type token, e.g. `tailscale:index/tailnetKey:TailnetKey`, or the component's own token. */
  readonly type: string;
  /** Logical name. */
  readonly name: string;
  /** Inputs as the provider would receive them: Outputs resolved, secrets still marked (see isSecretValue). */
  readonly inputs: Record<string, unknown>;
  /** False for component resources. */
  readonly custom: boolean;
  /** The id the mock returned (custom resources). */
  readonly id: string | undefined;
  /** Provider reference, when one was passed explicitly. */
  readonly provider: string | undefined;
  /** The parent's URN, or undefined for a resource without parent (the stack in a real run). */
  readonly parentUrn: string | undefined;
  /** The `replacementTrigger` resource option, as JSON (undefined when not set). */
  readonly replacementTrigger: unknown;
  /** The `ignoreChanges` resource option. */
  readonly ignoreChanges: readonly string[];
  /** The `deleteBeforeReplace` resource option. */
  readonly deleteBeforeReplace: boolean;
  /** The `replaceOnChanges` resource option. */
  readonly replaceOnChanges: readonly string[];
  /** The `deletedWith` resource option, as a URN (undefined when not set). */
  readonly deletedWith: string | undefined;
  /** URNs this resource depends on: its `dependsOn` and the resources its inputs came from. */
  readonly dependencies: readonly string[];
  /** Per input, the URNs its value came from (the engine's property dependencies). */
  readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
  /** This resource's URN, set once the registration has completed. */
  urn: string | undefined;
}

/** The type token of a StackReference (a read of another stack's outputs). */
export const STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference";

/** State (outputs) a mocked resource returns, given what was registered. Returning undefined keeps the default. */
export type OutputsFor = (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown> | undefined;

export interface PulumiMockOptions {
  /** Defaults to "gpu-fleet". */
  project?: string;
  /** Defaults to "test". */
  stack?: string;
  /** Run as a preview (`pulumi preview`). Defaults to false. */
  preview?: boolean;
  /** Config values by full key (`project:key`, `tailscale:tailnet`, ...), as `pulumi config` would hold them. */
  config?: Record<string, string>;
  /** Keys of `config` that are secret. */
  secretKeys?: string[];
  /** Extra outputs by type token, on top of the echoed inputs and the built-in defaults. */
  outputs?: Record<string, OutputsFor>;
  /**
   * What a provider computes (ids, digests, addresses, command output) stays unknown, as in a real
   * preview of a new stack: custom resources get no id and only their inputs back. `outputs` and the
   * built-in defaults are not used, except a StackReference's (read, not computed). For `gpu-fleet synth`, so no mock value passes for a real one.
   */
  computedUnknown?: boolean;
  /** Answers for provider function calls (invokes) by token; unknown tokens answer with their inputs. */
  calls?: Record<string, (args: pulumi.runtime.MockCallArgs) => Record<string, unknown>>;
}

export interface PulumiMocks {
  /** Every resource registered so far, in registration order. */
  readonly resources: readonly RecordedResource[];
  /** Registered resources of one type token. */
  ofType(type: string): RecordedResource[];
  /** The single resource with this name; throws if there are none or several. */
  named(name: string): RecordedResource;
  /** The records of the resources this one depends on (dependsOn and input dependencies). */
  dependenciesOf(resource: RecordedResource): RecordedResource[];
  /** The record of a resource's parent, if it registered one. */
  parentOf(resource: RecordedResource): RecordedResource | undefined;
  /** Every function call (invoke) the program made. */
  readonly calls: readonly pulumi.runtime.MockCallArgs[];
  /**
   * Resolves when registrations have stopped arriving: every resource the program has constructed so far
   * has been registered and its URN assigned. Await it before asserting on `resources`.
   */
  settle(): Promise<void>;
}

/** Prefix of the private host keys the mock TLS provider returns (never a key-shaped literal). */
export const MOCK_HOST_KEY_MARKER = "mock-private-host-key-";

/** Prefix of the auth keys the mock Tailscale provider returns; built at run time, never a key-shaped literal. */
export const MOCK_AUTH_KEY_PREFIX = ["tskey", "auth", "mock-"].join("-");

/** Deterministic defaults for outputs the providers compute (beyond echoing inputs). */
export const DEFAULT_OUTPUTS: Record<string, OutputsFor> = {
  "tailscale:index/tailnetKey:TailnetKey": (args) => ({
    // A new key (a new id) is a new secret value, as from Tailscale.
    key: `${MOCK_AUTH_KEY_PREFIX}${args.id ?? args.name}`,
    invalid: false,
    createdAt: "2026-01-01T00:00:00Z",
    expiresAt: "2026-01-02T00:00:00Z",
    expiry: (args.inputs as { expiry?: number }).expiry ?? 7776000,
  }),
  "hcloud:index/server:Server": (args) => ({
    ipv4Address: `192.0.2.${(hash(args.name) % 250) + 1}`,
    ipv6Address: `2001:db8::${(hash(args.name) % 0xfff).toString(16)}`,
    status: "running",
  }),
  // A program-made host key: the public half is derived from the id, so a new key reads differently.
  "tls:index/privateKey:PrivateKey": (args) => ({
    publicKeyOpenssh: `ssh-ed25519 ${Buffer.from(`mock-host-key-${args.id ?? args.name}`).toString("base64")}\n`,
    privateKeyOpenssh: [`-----BEGIN ${"OPENSSH"} PRIVATE KEY-----`, `${MOCK_HOST_KEY_MARKER}${args.id ?? args.name}`, `-----END ${"OPENSSH"} PRIVATE KEY-----`, ""].join("\n"),
  }),
  "command:remote:Command": () => ({ stdout: "", stderr: "" }),
  "command:local:Command": () => ({ stdout: "", stderr: "" }),
  "docker:index/container:Container": () => ({ exitCode: 0 }),
  // The image id is derived from the reference, so a new tag shows as a new image id on containers.
  "docker:index/remoteImage:RemoteImage": (args) => {
    const ref = String((args.inputs as { name?: string }).name ?? args.name);
    const digest = hash(ref).toString(16).padStart(8, "0").repeat(8);
    return { repoDigest: `${ref}@sha256:${digest}`, imageId: `sha256:${digest}` };
  },
};

/**
 * The id a mocked custom resource gets: `<name>-id`, except Hetzner Cloud's, which are numeric there
 * (firewall and network ids are passed on as numbers) and so are numeric here too. A resource that
 * a real deployment would replace gets a new id, as it would from its provider: the id also hashes
 * the inputs that replace it (the providers' schemas, REPLACEMENT_RULES, and its replaceOnChanges)
 * and its replacementTrigger. So a replaced server shows as changed `triggers` on the commands that
 * name its id, as `pulumi preview` would show them.
 */
export function mockId(type: string, name: string, identity: unknown = undefined): string {
  const suffix = identity === undefined || JSON.stringify(identity) === "{}" ? "" : `-${hash(JSON.stringify(identity)).toString(16)}`;
  return type.startsWith("hcloud:") ? String((hash(name + suffix) % 9_000_000) + 1_000_000) : `${name}${suffix}-id`;
}

/** A small stable string hash (for deterministic fake addresses). */
function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}

/** The parts of the engine's RegisterResourceRequest this module reads. */
interface RegisterRequest {
  getParent(): string;
  getDependenciesList(): string[];
  getReplacementTrigger(): { toJavaScript(): unknown } | undefined;
  getAdditionalsecretoutputsList(): string[];
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
  getReplaceonchangesList(): string[];
  getDeletedwith(): string;
  getPropertydependenciesMap(): { forEach(f: (value: { getUrnsList(): string[] }, key: string) => void): void };
}
interface RegisterResponse {
  getUrn(): string;
}
type RegisterCallback = (err: Error | null, response: RegisterResponse | undefined) => void;
interface PatchableMonitor {
  registerResource(req: RegisterRequest, callback: RegisterCallback): unknown;
  readResource(req: { getParent(): string }, callback: RegisterCallback): unknown;
}

/** What registerResource knows and newResource does not; handed over synchronously (see below). */
interface PendingRegistration {
  parentUrn: string | undefined;
  dependencies: string[];
  replacementTrigger: unknown;
  secretOutputs: string[];
  ignoreChanges: string[];
  deleteBeforeReplace: boolean;
  replaceOnChanges: string[];
  deletedWith: string | undefined;
  propertyDependencies: Record<string, string[]>;
  record?: RecordedResource;
}

let installed: PulumiMocks | undefined;

function propertyDependencies(req: RegisterRequest): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  req.getPropertydependenciesMap().forEach((value, key) => {
    const urns = value.getUrnsList();
    if (urns.length > 0) out[key] = [...urns].sort();
  });
  return out;
}

/**
 * The SDK's own "all registrations answered" signal. `waitForRPCs` is exported by the runtime's
 * settings module but marked internal; `disconnect` (public) uses it and then closes the monitor,
 * which a test that keeps registering cannot afford.
 */
async function waitForRpcs(): Promise<void> {
  const wait = (settings as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (typeof wait === "function") await wait();
}

/**
 * Installs the mocks (once per process; a second call throws, since Pulumi's runtime state is global) and
 * sets the config. Call before importing modules that create resources.
 */
export function installPulumiMocks(options: PulumiMockOptions = {}): PulumiMocks {
  if (installed !== undefined) throw new Error("installPulumiMocks: already installed in this process; share the returned object");
  const project = options.project ?? "gpu-fleet";
  const stack = options.stack ?? "test";
  const resources: RecordedResource[] = [];
  const calls: pulumi.runtime.MockCallArgs[] = [];
  const outputs = { ...DEFAULT_OUTPUTS, ...options.outputs };
  let pending: PendingRegistration | undefined;
  let lastActivity = 0;

  const mocks: pulumi.runtime.Mocks = {
    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
      const context = pending;
      pending = undefined;
      lastActivity++;
      const inputs = (args.inputs ?? {}) as Record<string, unknown>;
      const custom = args.custom ?? true;
      // args.id is the import id, "" (not undefined) unless importing: "" would leave every id unknown.
      const identity = (): Record<string, unknown> => ({ ...replacingInputs(args.type, inputs, context?.replaceOnChanges ?? []), ...(context?.replacementTrigger === undefined ? {} : { "(replacementTrigger)": context.replacementTrigger }) });
      const id = !custom ? undefined : options.computedUnknown === true ? args.id || undefined : args.id || mockId(args.type, args.name, identity());
      const record: RecordedResource = {
        type: args.type,
        name: args.name,
        inputs,
        custom,
        id,
        provider: args.provider,
        parentUrn: context?.parentUrn,
        dependencies: context?.dependencies ?? [],
        replacementTrigger: context?.replacementTrigger,
        ignoreChanges: context?.ignoreChanges ?? [],
        deleteBeforeReplace: context?.deleteBeforeReplace ?? false,
        replaceOnChanges: context?.replaceOnChanges ?? [],
        deletedWith: context?.deletedWith,
        propertyDependencies: context?.propertyDependencies ?? {},
        urn: undefined,
      };
      resources.push(record);
      if (context !== undefined) context.record = record;

      // A StackReference's outputs are known in a preview too: the engine reads the referenced stack's
      // state then (pulumi/pulumi pkg/resource/deploy/builtins.go, readStackReference).
      const known = options.computedUnknown !== true || args.type === STACK_REFERENCE_TYPE;
      const computed = known ? (outputs[args.type]?.({ ...args, id: id ?? args.id }) ?? {}) : {};
      const state: Record<string, unknown> = { ...inputs, ...computed };
      for (const key of context?.secretOutputs ?? []) {
        if (key in state) state[key] = pulumi.secret(state[key]);
      }
      return { id, state };
    },
    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
      calls.push(args);
      const answer = options.calls?.[args.token];
      return answer ? answer(args) : { ...(args.inputs as Record<string, unknown>) };
    },
  };

  void pulumi.runtime.setMocks(mocks, project, stack, options.preview ?? false);
  if (options.config !== undefined) pulumi.runtime.setAllConfig(options.config, options.secretKeys);

  // The mock monitor calls mocks.newResource synchronously at the start of its registerResource, before
  // its first await, so what we note here is what that very newResource call reads.
  const monitor = pulumi.runtime.getMonitor() as unknown as PatchableMonitor | undefined;
  if (monitor === undefined) throw new Error("installPulumiMocks: setMocks installed no monitor");
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const context: PendingRegistration = {
      parentUrn: req.getParent() || undefined,
      dependencies: [...req.getDependenciesList()].sort(),
      replacementTrigger: req.getReplacementTrigger()?.toJavaScript(),
      secretOutputs: req.getAdditionalsecretoutputsList(),
      ignoreChanges: req.getIgnorechangesList(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      replaceOnChanges: req.getReplaceonchangesList(),
      deletedWith: req.getDeletedwith() || undefined,
      propertyDependencies: propertyDependencies(req),
    };
    pending = context;
    return original(req, (err, response) => {
      if (context.record !== undefined && response !== undefined) context.record.urn = response.getUrn();
      lastActivity++;
      callback(err, response);
    });
  };

  // Reads (a StackReference, `get` functions of resources) go through readResource: record their
  // parent and URN the same way.
  const originalRead = monitor.readResource.bind(monitor);
  monitor.readResource = (req, callback) => {
    const context: PendingRegistration = { parentUrn: req.getParent() || undefined, dependencies: [], replacementTrigger: undefined, secretOutputs: [], ignoreChanges: [], deleteBeforeReplace: false, replaceOnChanges: [], deletedWith: undefined, propertyDependencies: {} };
    pending = context;
    return originalRead(req, (err, response) => {
      if (context.record !== undefined && response !== undefined) context.record.urn = response.getUrn();
      lastActivity++;
      callback(err, response);
    });
  };

  const api: PulumiMocks = {
    resources,
    calls,
    ofType: (type) => resources.filter((r) => r.type === type),
    named(name) {
      const found = resources.filter((r) => r.name === name);
      if (found.length !== 1) {
        throw new Error(`expected one resource named '${name}', found ${found.length}: ${resources.map((r) => r.name).join(", ")}`);
      }
      return found[0] as RecordedResource;
    },
    dependenciesOf: (resource) => resources.filter((r) => r.urn !== undefined && resource.dependencies.includes(r.urn)),
    parentOf: (resource) => (resource.parentUrn === undefined ? undefined : resources.find((r) => r.urn === resource.parentUrn)),
    async settle() {
      // The SDK counts every registration from the moment its resource is constructed until the
      // monitor answers (rpcKeepAlive); waitForRPCs resolves when none is outstanding. Then also
      // wait until every record has its URN and nothing moved for a few turns of the event loop.
      await waitForRpcs();
      let quiet = 0;
      let seen = -1;
      for (let turn = 0; turn < 10_000 && quiet < 5; turn++) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        const done = resources.every((r) => r.urn !== undefined);
        if (lastActivity === seen && done) quiet++;
        else quiet = 0;
        seen = lastActivity;
      }
      if (quiet < 5) throw new Error("settle: registrations did not stop arriving");
    },
  };
  installed = api;
  return api;
}

/**
 * Waits for a program module the way the Pulumi runtime does: every exported value (the stack
 * outputs) is awaited, and the program registers its hosts in turns until its outputs resolve.
 * Rejects with the program's own error when a stack output fails.
 */
export async function awaitProgram(program: Record<string, unknown>): Promise<void> {
  for (const value of Object.values(program)) {
    // `isKnown` (internal to the SDK, present on every Output) settles once the value has, known or not.
    if (pulumi.Output.isInstance(value)) await (value as unknown as { isKnown: Promise<boolean> }).isKnown;
    else if (value instanceof Promise) await value;
  }
}

/** An Output's value and whether it is secret. */
export interface Resolved<T> {
  value: T;
  secret: boolean;
}

/**
 * Resolves an Output (or plain value) under mocks. Rejects after `timeoutMs` if the value never becomes
 * known, which under mocks means a preview with an output the mock left unknown.
 */
export async function resolveOutput<T>(input: pulumi.Input<T>, timeoutMs = 5000): Promise<Resolved<T>> {
  const output = pulumi.output(input) as pulumi.Output<T>;
  const secret = await pulumi.isSecret(output);
  const value = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`resolveOutput: no value after ${timeoutMs} ms (unknown during preview?)`)), timeoutMs);
    output.apply((v) => {
      clearTimeout(timer);
      resolve(v);
      return v;
    });
  });
  return { value, secret };
}

/** Pulumi's marker for a secret value in serialized properties, as the mocks receive inputs. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Whether a recorded input value is a secret (Pulumi's serialized secret marker). */
export function isSecretValue(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/**
 * The input value with secrets replaced by "[secret]". A secret-marked string is redacted whole.
 * Inside a secret-marked list or map (Pulumi marks a whole `envs` list secret when one entry is),
 * only the known secret values are redacted, so the other entries (threads, device, names) and the
 * names of secret entries (`REDIS_URL=[secret]`) stay reviewable.
 */
export function redactSecrets(value: unknown, knownSecrets: readonly string[]): unknown {
  return secretRedactor(knownSecrets)(value);
}

/** redactSecrets for many values with the same secrets (its patterns are built once). */
export function secretRedactor(knownSecrets: readonly string[]): (value: unknown) => unknown {
  const secrets = knownSecrets.filter((secret) => secret !== "");
  const markers = MOCK_SECRET_MARKERS.map((marker) => [marker, new RegExp(`${marker}[^\\s"']*`, "g")] as const);
  const redactText = (text: string): string => {
    let out = text;
    for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(SECRET_PLACEHOLDER);
    for (const [marker, pattern] of markers) if (out.includes(marker)) out = out.replace(pattern, SECRET_PLACEHOLDER);
    return out;
  };
  const walk = (v: unknown): unknown => {
    if (isSecretValue(v)) {
      const inner = v.value;
      return typeof inner === "object" && inner !== null ? walk(inner) : SECRET_PLACEHOLDER;
    }
    // Secrets also end up inside plain strings derived from them (`REDIS_URL=...`): redact that part.
    if (typeof v === "string") return redactText(v);
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === "object" && v !== null) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, item]) => [k, walk(item)]));
    }
    return v;
  };
  return walk;
}

export const SECRET_PLACEHOLDER = "[secret]";

/** Values the mock engine itself returns as secrets (provider-generated secret outputs). */
export const MOCK_SECRET_MARKERS = [MOCK_AUTH_KEY_PREFIX, MOCK_HOST_KEY_MARKER] as const;
