// The stack config schema: turns a config document (from `pulumi.Config` in the program, or a stack
// file on disk for the offline tools) into a typed FleetSpec, or into diagnostics that name the host,
// the config path and the fix. Pure: no Pulumi import, no I/O.
//
// Secrets never enter this module. Pulumi reveals secrecy per top-level config key only, so every
// secret is its own key (`pulumi config set --secret <key>`), and the spec holds a SecretRef that
// names the key. Components resolve it with `config.requireSecret(key)`, which keeps it a secret.

import { z } from "zod";
import { closestName, DiagnosticList, didYouMean, type Diagnostic, type PathSegment } from "./diagnostics";

/** The project namespace of every config key: `gpu-fleet:hosts`. */
export const CONFIG_NAMESPACE = "gpu-fleet";

/** A config document: top-level keys without the namespace, and which of them are secret. */
export interface ConfigDocument {
  readonly values: Readonly<Record<string, unknown>>;
  readonly secretKeys: ReadonlySet<string>;
}

/** Names a secret top-level config key. Holds no secret material. */
export interface SecretRef {
  readonly secret: string;
}

/** Env names the fleet sets itself (the worker contract); a service may not set them. */
export const CONTRACT_ENV = [
  "REDIS_URL",
  "OMP_NUM_THREADS",
  "MKL_NUM_THREADS",
  "OPENBLAS_NUM_THREADS",
  "WORKER_DEVICE",
  "WORKER_NAME",
  "WORKER_HOST",
  "WORKER_SERVICE",
  "CUDA_VISIBLE_DEVICES",
  "CUDA_MPS_PIPE_DIRECTORY",
  "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT",
  "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE",
  "NVIDIA_VISIBLE_DEVICES",
  "LD_PRELOAD",
  "MALLOC_CONF",
] as const;

export const DEFAULT_MALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000";

// ---------------------------------------------------------------------------------------------
// Building blocks

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TAG = /^tag:[a-z0-9][a-z0-9-]*$/;

const Port = z.int().min(1).max(65535);
const Mib = z.int().min(1);

const SecretRefSchema = z.strictObject({
  secret: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, "must name a config key, e.g. { secret: hfToken }"),
});

/** YAML reads `branch: 570` as a number; accept both. */
const DriverBranch = z
  .union([z.string(), z.int()], { error: "must be a driver branch such as \"580\"" })
  .transform(String)
  .pipe(z.string().regex(/^\d{3}$/, "must be a three-digit driver branch such as \"580\""));

const Threads = z.int().min(1).max(256);

// ---------------------------------------------------------------------------------------------
// Sections

const RedisSchema = z.strictObject({
  /** Tailnet name (MagicDNS) of the Redis host. */
  host: z.string().regex(DNS_LABEL, "must be the Redis host's tailnet name, e.g. redis-vps"),
  port: Port.default(6379),
});

const TailnetSchema = z.strictObject({
  workerTag: z.string().regex(TAG, "must be a tag such as tag:gpu-worker").default("tag:gpu-worker"),
  redisTag: z.string().regex(TAG, "must be a tag such as tag:redis").default("tag:redis"),
  /** Who administers workers: `group:ops`, `alice@example.com`, `autogroup:admin`. */
  admins: z.array(z.string().min(1)).min(1, "name at least one admin, e.g. [group:ops]"),
  /** Users admins may log in as over Tailscale SSH. */
  sshUsers: z.array(z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name")).min(1).default(["root"]),
  /** managed: the stack owns the tailnet policy file; external: the stack writes a fragment for your policy repo. */
  policy: z.enum(["managed", "external"]).default("managed"),
  /** A concrete admin user the policy tests use as a source, e.g. alice@example.com. */
  testUser: z.string().min(1).optional(),
  /** How long a host's auth key is valid; it is only needed at enrollment. */
  keyExpirySeconds: z.int().min(300).max(90 * 24 * 3600).default(24 * 3600),
});

const ReserveSchema = z.strictObject({
  /** Cores kept for the OS, Docker and the MPS daemon. */
  cores: z.int().min(0).optional(),
  ramMiB: z.int().min(0).optional(),
  /** VRAM kept free on each GPU (driver, fragmentation, the MPS server). */
  vramMiB: z.int().min(0).optional(),
});

const DefaultsSchema = z.strictObject({
  threads: Threads.default(2),
  reserve: z
    .strictObject({
      cores: z.int().min(0).default(1),
      ramMiB: z.int().min(0).default(2048),
      vramMiB: z.int().min(0).default(512),
    })
    .default({ cores: 1, ramMiB: 2048, vramMiB: 512 }),
});

const HealthcheckSchema = z.strictObject({
  /** Docker health check: `["CMD", "python", "-m", "worker.health"]`, or a string run by the shell. */
  test: z.union([z.array(z.string().min(1)).min(1), z.string().min(1)], {
    error: "must be a command: a list such as [CMD, python, -m, worker.health] or a shell string",
  }),
  intervalSeconds: z.int().min(1).default(30),
  timeoutSeconds: z.int().min(1).default(10),
  retries: z.int().min(1).default(3),
  startPeriodSeconds: z.int().min(0).default(60),
});

const EnvValue = z.union(
  [z.string(), z.number().transform(String), z.boolean().transform(String), SecretRefSchema],
  { error: "must be a string, or { secret: <config key> } for a value set with `pulumi config set --secret`" },
);

const ServiceSchema = z.strictObject({
  /** Image reference with a tag or digest. */
  image: z.string().min(1),
  device: z.enum(["cuda", "cpu"]),
  threads: Threads.optional(),
  /** Peak VRAM of one worker process, including its CUDA context. Required for cuda services. */
  vramMiB: Mib.optional(),
  /** Peak RSS of one worker process; also its container memory limit. */
  ramMiB: Mib,
  /** Path of libjemalloc inside the image; set to preload it. */
  jemalloc: z.string().regex(/^\//, "must be the absolute path of libjemalloc.so in the image").optional(),
  /** MALLOC_CONF when jemalloc is preloaded. */
  mallocConf: z.string().min(1).default(DEFAULT_MALLOC_CONF),
  /** UID the worker runs as. All MPS clients of one GPU must share one UID. */
  user: z.int().min(0).optional(),
  healthcheck: HealthcheckSchema.optional(),
  /** Seconds a worker gets after SIGTERM to finish its job before it is killed. */
  drainSeconds: z.int().min(0).max(3600).default(30),
  stopSignal: z.string().regex(/^SIG[A-Z0-9]+$/, "must be a signal name such as SIGTERM").default("SIGTERM"),
  command: z.array(z.string()).optional(),
  env: z.record(z.string(), EnvValue).default({}),
  /** How many of the service's workers a rollout may replace at once, fleet-wide. Default: a quarter, at least 1. */
  maxUnavailable: z.int().min(1).optional(),
});

const SshEndpointShape = {
  address: z.string().min(1),
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name").default("root"),
  port: Port.default(22),
  /** Pinned host key, as in known_hosts: `ssh-ed25519 AAAA...`. */
  hostKey: z
    .string()
    .regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}$/, "must be a public host key such as `ssh-ed25519 AAAA...` (ssh-keyscan -t ed25519 <address>)")
    .optional(),
};

const SshSchema = z.strictObject({
  ...SshEndpointShape,
  jumpHost: z.strictObject(SshEndpointShape).optional(),
  /** Config key of the private key for this host; defaults to the fleet's `sshPrivateKey`. */
  privateKey: SecretRefSchema.optional(),
});

const HcloudSchema = z.strictObject({
  serverType: z.string().min(1),
  location: z.string().min(1),
  image: z.string().min(1).default("debian-12"),
  /** Boot from the newest snapshot with this label selector instead of `image`, e.g. `role=gpu-fleet-base`. */
  snapshot: z.string().min(1).optional(),
  labels: z.record(z.string(), z.string()).default({}),
  deleteProtection: z.boolean().default(false),
});

/** Fleet-wide settings for Hetzner Cloud hosts. */
const HcloudFleetSchema = z.strictObject({
  /** Public half of sshPrivateKey, installed on new servers: `ssh-ed25519 AAAA...`. */
  sshPublicKey: z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}( .*)?$/, "must be an OpenSSH public key such as `ssh-ed25519 AAAA... you@host`"),
  /** Admin networks allowed to reach SSH (TCP 22) from the internet; none by default: SSH goes over the tailnet. */
  sshSourceCidrs: z.array(z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, "must be a CIDR such as 198.51.100.0/24")).default([]),
  /** Open UDP 41641 inbound so Tailscale can connect directly through hard NAT. */
  tailscaleUdp: z.boolean().default(false),
});

const GpuSchema = z.strictObject({
  model: z.string().min(1).optional(),
  vramMiB: Mib.optional(),
  computeCapability: z.number().min(3).max(20).optional(),
});

const HostWorkerSchema = z.strictObject({
  replicas: z.union([z.int().min(0), z.literal("auto")], { error: "must be a whole number or auto" }),
  /** Threads per replica on this host; overrides the service's. */
  threads: Threads.optional(),
});

const HostSchema = z
  .strictObject({
    ssh: SshSchema.optional(),
    hcloud: HcloudSchema.optional(),
    /** A machine that joins by itself (scripts/join-fleet.sh): the stack owns its tailnet key, not its roles or workers. */
    join: z.strictObject({}).optional(),
    /** Catalog machine, e.g. gex44; hcloud hosts take theirs from serverType. */
    hardware: z.string().min(1).optional(),
    cpu: z.strictObject({ cores: z.int().min(1).max(4096) }).optional(),
    ramMiB: Mib.optional(),
    gpus: z.array(GpuSchema).optional(),
    nvidia: z
      .strictObject({
        driver: z.enum(["managed", "preinstalled", "none"]).optional(),
        branch: DriverBranch.optional(),
      })
      .optional(),
    mps: z.enum(["auto", "on", "off"]).default("auto"),
    /** Bump (any new value) to mint a new tailnet auth key for this host, e.g. to re-enroll a rebuilt machine. */
    keyGeneration: z.union([z.int().min(0), z.string().min(1)], { error: "must be a number or a word; change it to mint a new key" }).optional(),
    /** Pin each worker to its own cores (after the reserved ones), so workers do not share cores. */
    pinCpus: z.boolean().default(false),
    reserve: ReserveSchema.optional(),
    workers: z.record(z.string(), HostWorkerSchema).default({}),
  })
  .superRefine((host, ctx) => {
    const kinds = [host.ssh, host.hcloud, host.join].filter((kind) => kind !== undefined).length;
    if (kinds !== 1) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message:
          "give exactly one of `ssh` (an existing machine: { address, user }), `hcloud` (a new Hetzner Cloud server: { serverType, location }) or `join: {}` (a machine that joins by itself with scripts/join-fleet.sh)",
      });
    }
  });

/**
 * A fleet split over several stacks (docs/scale.md): one `shared` stack owns the tailnet policy and
 * the fleet-wide settings; `group` stacks hold hosts and read the shared stack with a StackReference.
 */
const SplitSchema = z
  .strictObject({
    role: z.enum(["shared", "group"]),
    /** group: the shared stack, as StackReference names it: `<org>/<project>/<stack>` (or `<stack>` on a local backend). */
    sharedStack: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+){0,2}$/, "must be a stack name such as my-org/gpu-fleet/fleet-shared").optional(),
    /** shared: the fewest workers each service must have across all stacks of the fleet. */
    minReplicas: z.record(z.string(), z.int().min(0)).default({}),
  })
  .superRefine((split, ctx) => {
    if (split.role === "group" && split.sharedStack === undefined) ctx.addIssue({ code: "custom", path: ["sharedStack"], message: "a group stack names its shared stack, e.g. sharedStack: my-org/gpu-fleet/fleet-shared" });
    if (split.role === "shared" && split.sharedStack !== undefined) ctx.addIssue({ code: "custom", path: ["sharedStack"], message: "only group stacks name a shared stack; remove it here" });
    if (split.role === "group" && Object.keys(split.minReplicas).length > 0) ctx.addIssue({ code: "custom", path: ["minReplicas"], message: "fleet-wide minimums live in the shared stack; move them there" });
  });

export type SplitSpec = z.output<typeof SplitSchema>;
export type RedisSpec = z.output<typeof RedisSchema>;
export type TailnetSpec = z.output<typeof TailnetSchema>;
export type DefaultsSpec = z.output<typeof DefaultsSchema>;
export type ServiceSpec = z.output<typeof ServiceSchema>;
export type HealthcheckSpec = z.output<typeof HealthcheckSchema>;
export type HostSpec = z.output<typeof HostSchema>;
export type HcloudFleetSpec = z.output<typeof HcloudFleetSchema>;

export interface FleetSpec {
  readonly redis: RedisSpec;
  readonly redisUrl: SecretRef;
  /** Default private key for SSH hosts and hcloud servers. */
  readonly sshPrivateKey?: SecretRef;
  readonly tailnet: TailnetSpec;
  /** Present when the fleet has hcloud hosts. */
  readonly hcloud?: HcloudFleetSpec;
  readonly defaults: DefaultsSpec;
  readonly services: Readonly<Record<string, ServiceSpec>>;
  readonly hosts: Readonly<Record<string, HostSpec>>;
  /** Present when the fleet is split over several stacks. */
  readonly split?: SplitSpec;
}

/** What the planner needs; a partially valid config still yields this, so every error is found. */
export type PlannerInput = Pick<FleetSpec, "defaults" | "services" | "hosts">;

export interface ParseResult {
  /** Present only when the config has no errors. */
  readonly spec?: FleetSpec;
  /** The valid parts, for planning a config that has errors elsewhere. */
  readonly plannable: PlannerInput;
  readonly diagnostics: readonly Diagnostic[];
}

/** Top-level keys and the schema of each; a key not listed here must be a referenced secret. */
const SECTIONS = {
  redis: RedisSchema,
  tailnet: TailnetSchema,
  defaults: DefaultsSchema,
} as const;
/** Top-level keys whose values are maps; the others hold strings (secrets). */
export const MAP_KEYS = ["redis", "tailnet", "hcloud", "defaults", "services", "hosts", "split"] as const;
const KNOWN_KEYS = [...MAP_KEYS, "redisUrl", "sshPrivateKey"] as const;

// ---------------------------------------------------------------------------------------------

export function parseFleet(doc: ConfigDocument): ParseResult {
  const out = new DiagnosticList();
  const { values } = doc;

  const redis = parseSection(SECTIONS.redis, values.redis, ["redis"], out, "add `redis: { host: <tailnet name>, port: 6379 }`");
  const tailnet = parseSection(SECTIONS.tailnet, values.tailnet, ["tailnet"], out, "add `tailnet: { admins: [group:ops] }`");
  const defaults = parseSection(SECTIONS.defaults, values.defaults ?? {}, ["defaults"], out, "");
  const redisUrl = requireSecretKey(doc, "redisUrl", "the Redis URL with its password, e.g. redis://:PASSWORD@redis-vps:6379/0", out);
  const sshPrivateKey = values.sshPrivateKey === undefined ? undefined : requireSecretKey(doc, "sshPrivateKey", "the fleet's SSH private key (pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519)", out);

  const split = values.split === undefined ? undefined : parseSection(SplitSchema, values.split, ["split"], out, "");
  const services = parseNamedEntries(ServiceSchema, values.services, "services", out, "service");
  // A shared stack may hold no hosts: it owns the policy and the fleet-wide settings.
  const hosts = split?.role === "shared" && values.hosts === undefined ? {} : parseNamedEntries(HostSchema, values.hosts, "hosts", out, "host");
  if (split?.role === "group" && tailnet !== undefined && tailnet.policy !== "external") {
    out.error(["tailnet", "policy"], "is managed, but a group stack does not own the tailnet policy (its shared stack does). Set tailnet.policy: external.");
  }
  for (const service of Object.keys(split?.minReplicas ?? {})) {
    if (!(service in (values.services as Record<string, unknown> | undefined ?? {}))) out.error(["split", "minReplicas", service], `names no service of this stack; services: ${Object.keys(services).join(", ")}.`);
  }
  // Without sshPrivateKey, SSH authenticates with the runner's ssh-agent (SSH_AUTH_SOCK).
  const hcloudHosts = Object.keys(hosts).filter((name) => hosts[name].hcloud !== undefined);
  const hcloud = values.hcloud === undefined ? undefined : parseSection(HcloudFleetSchema, values.hcloud, ["hcloud"], out, "");
  if (values.hcloud === undefined && hcloudHosts.length > 0) {
    out.warning(["hcloud", "sshPublicKey"], `is not set: ${hcloudHosts.join(", ")} will get no SSH key from Hetzner, so roles can only reach them over Tailscale SSH. Add \`hcloud: { sshPublicKey: "ssh-ed25519 AAAA..." }\`, the public half of the key the runner uses.`);
  }

  const referencedSecrets = new Set<string>();
  for (const [name, service] of Object.entries(services)) checkService(doc, name, service, referencedSecrets, out);
  for (const [name, host] of Object.entries(hosts)) checkHostReferences(doc, name, host, values.services, referencedSecrets, out);

  for (const key of Object.keys(values)) {
    if ((KNOWN_KEYS as readonly string[]).includes(key) || referencedSecrets.has(key)) continue;
    out.error([key], `unknown config key '${CONFIG_NAMESPACE}:${key}'.${didYouMean(key, KNOWN_KEYS)} Remove it, or reference it from a service's env as { secret: ${key} }.`);
  }

  const effectiveDefaults = defaults ?? DefaultsSchema.parse({});
  const plannable: PlannerInput = { defaults: effectiveDefaults, services, hosts };
  const hasErrors = out.errors.length > 0;
  const spec: FleetSpec | undefined =
    hasErrors || redis === undefined || tailnet === undefined || defaults === undefined || redisUrl === undefined
      ? undefined
      : { redis, redisUrl, sshPrivateKey, tailnet, hcloud, defaults, services, hosts, split };
  return { spec, plannable, diagnostics: out.all };
}

function parseSection<S extends z.ZodType>(
  schema: S,
  value: unknown,
  path: PathSegment[],
  out: DiagnosticList,
  missingHint: string,
): z.output<S> | undefined {
  if (value === undefined) {
    out.error(path, `missing: ${missingHint}.`);
    return undefined;
  }
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = result.error.issues;
  // `replica:` for `replicas:` is one mistake: report the unknown key with its suggestion, not
  // also the key it should have been as missing.
  const explained = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== "unrecognized_keys") continue;
    const known = objectKeysAt(schema, issue.path.map(pathSegment));
    for (const key of issue.keys) {
      const suggestion = closestName(key, known);
      if (suggestion !== undefined) explained.add(JSON.stringify([...issue.path.map(pathSegment), suggestion]));
    }
  }
  for (const issue of issues) {
    const isMissing = issue.input === undefined && (issue.code === "invalid_type" || issue.code === "invalid_union");
    if (isMissing && explained.has(JSON.stringify(issue.path.map(pathSegment)))) continue;
    reportIssue(schema, issue, path, out);
  }
  return undefined;
}

/** Parses a map of named entries one by one, so one broken entry does not hide the others. */
function parseNamedEntries<S extends z.ZodType>(
  schema: S,
  value: unknown,
  section: "services" | "hosts",
  out: DiagnosticList,
  what: string,
): Record<string, z.output<S>> {
  const parsed: Record<string, z.output<S>> = {};
  if (value === undefined) {
    out.error([section], `missing: add at least one ${what} under ${section}.`);
    return parsed;
  }
  if (!isPlainObject(value)) {
    out.error([section], `must be a map of ${what} name to settings.`);
    return parsed;
  }
  for (const [name, entry] of Object.entries(value)) {
    if (!DNS_LABEL.test(name)) {
      out.error([section, name], `'${name}' is not a valid ${what} name: use lowercase letters, digits and '-', at most 63 characters (it becomes a hostname and container name).`);
      continue;
    }
    const result = parseSection(schema, entry ?? {}, [section, name], out, "");
    if (result !== undefined) parsed[name] = result;
  }
  if (Object.keys(value).length === 0) out.error([section], `add at least one ${what}.`);
  return parsed;
}

function requireSecretKey(doc: ConfigDocument, key: string, what: string, out: DiagnosticList): SecretRef | undefined {
  if (doc.values[key] === undefined) {
    out.error([key], `missing: set ${what} with \`pulumi config set --secret ${key} ...\`.`);
    return undefined;
  }
  if (!doc.secretKeys.has(key)) {
    out.error([key], `is stored in plain text; it is a secret. Remove it and set it again with \`pulumi config set --secret ${key} ...\`.`);
    return undefined;
  }
  return { secret: key };
}

function checkService(doc: ConfigDocument, name: string, service: ServiceSpec, referencedSecrets: Set<string>, out: DiagnosticList): void {
  const at = (...rest: PathSegment[]): PathSegment[] => ["services", name, ...rest];
  if (service.device === "cuda" && service.vramMiB === undefined) {
    out.error(at("vramMiB"), `missing: a cuda service needs vramMiB, the peak VRAM of one worker process (nvidia-smi's per-process figure).`);
  }
  if (service.device === "cpu" && service.vramMiB !== undefined) {
    out.warning(at("vramMiB"), `is ignored: ${name} runs on the CPU (device: cpu). Remove it, or set device: cuda.`);
  }
  checkImage(service.image, at("image"), out);
  for (const [envName, value] of Object.entries(service.env)) {
    if (!ENV_NAME.test(envName)) {
      out.error(at("env", envName), `'${envName}' is not a valid environment variable name.`);
    } else if ((CONTRACT_ENV as readonly string[]).includes(envName)) {
      out.error(at("env", envName), `is set by the fleet (the worker contract); remove it here.${contractHint(envName, name)}`);
    }
    if (typeof value === "object") {
      referencedSecrets.add(value.secret);
      const key = value.secret;
      if (doc.values[key] === undefined) {
        out.error(at("env", envName), `references the secret config key '${key}', which is not set. Run \`pulumi config set --secret ${key} ...\`.`);
      } else if (!doc.secretKeys.has(key)) {
        out.error(at("env", envName), `references '${key}', which is stored in plain text. Set it again with \`pulumi config set --secret ${key} ...\`.`);
      }
    }
  }
}

function contractHint(envName: string, service: string): string {
  if (envName.endsWith("_NUM_THREADS")) return ` Set services.${service}.threads (or a host's workers.${service}.threads) instead.`;
  if (envName === "LD_PRELOAD" || envName === "MALLOC_CONF") return ` Set services.${service}.jemalloc (and mallocConf) instead.`;
  if (envName === "REDIS_URL") return " The fleet passes the secret redisUrl.";
  return "";
}

function checkImage(image: string, path: PathSegment[], out: DiagnosticList): void {
  if (/\s/.test(image)) {
    out.error(path, `'${image}' is not an image reference.`);
    return;
  }
  if (image.includes("@sha256:")) return;
  const lastSegment = image.slice(image.lastIndexOf("/") + 1);
  const colon = lastSegment.indexOf(":");
  if (colon < 0) {
    out.error(path, `'${image}' has no tag: pin a version (e.g. ${image}:1.4.0) or a digest, so every host runs the same build and a new version is a visible change.`);
  } else if (lastSegment.slice(colon + 1) === "latest") {
    out.warning(path, `'${image}' uses the tag 'latest': hosts may run different builds and an upgrade shows no diff. Pin a version or digest.`);
  }
}

function checkHostReferences(
  doc: ConfigDocument,
  hostName: string,
  host: HostSpec,
  rawServices: unknown,
  referencedSecrets: Set<string>,
  out: DiagnosticList,
): void {
  const declared = isPlainObject(rawServices) ? Object.keys(rawServices) : [];
  for (const serviceName of Object.keys(host.workers)) {
    if (declared.includes(serviceName)) continue; // a broken service is reported under services
    out.error(
      ["hosts", hostName, "workers", serviceName],
      `no service named '${serviceName}'.${didYouMean(serviceName, declared)} Services: ${declared.join(", ") || "(none)"}.`,
    );
  }
  const keyRef = host.ssh?.privateKey;
  if (keyRef !== undefined) {
    referencedSecrets.add(keyRef.secret);
    if (doc.values[keyRef.secret] === undefined || !doc.secretKeys.has(keyRef.secret)) {
      out.error(["hosts", hostName, "ssh", "privateKey"], `references '${keyRef.secret}', which is not set as a secret. Run \`pulumi config set --secret ${keyRef.secret} < path/to/private_key\`.`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Zod issues → diagnostics

interface ZodIssueLike {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly input?: unknown;
  readonly keys?: readonly string[];
  readonly values?: readonly unknown[];
  readonly expected?: string;
  readonly minimum?: number | bigint;
  readonly maximum?: number | bigint;
  readonly origin?: string;
}

function reportIssue(schema: z.ZodType, issue: ZodIssueLike, prefix: PathSegment[], out: DiagnosticList): void {
  const relative = issue.path.map(pathSegment);
  const path = [...prefix, ...relative];
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = objectKeysAt(schema, relative);
      for (const key of issue.keys ?? []) {
        out.error([...path, key], `unknown key '${key}'.${didYouMean(key, known)}${known.length > 0 ? ` Known keys here: ${known.join(", ")}.` : ""}`);
      }
      return;
    }
    case "invalid_union":
      out.error(path, issue.input === undefined ? `missing: add it (${issue.message}).` : `${issue.message}, got ${describeInput(issue.input)}.`);
      return;
    case "invalid_type":
      if (issue.input === undefined) {
        out.error(path, `missing: add it (${describeExpected(issue.expected)}).`);
      } else {
        out.error(path, `expected ${describeExpected(issue.expected)}, got ${describeInput(issue.input)}.`);
      }
      return;
    case "invalid_value": {
      const options = (issue.values ?? []).map(String);
      const given = String(issue.input);
      out.error(path, `'${given}' is not allowed; use one of: ${options.join(", ")}.${didYouMean(given, options)}`);
      return;
    }
    case "too_small":
      out.error(path, issue.origin === "array" ? `needs at least ${issue.minimum} entries.` : issue.message.startsWith("Too small") ? `must be at least ${issue.minimum}, got ${describeInput(issue.input)}.` : issue.message);
      return;
    case "too_big":
      out.error(path, issue.origin === "array" ? `takes at most ${issue.maximum} entries.` : `must be at most ${issue.maximum}, got ${describeInput(issue.input)}.`);
      return;
    default:
      out.error(path, issue.message.endsWith(".") ? issue.message : `${issue.message}.`);
  }
}

function pathSegment(p: PropertyKey): PathSegment {
  return typeof p === "number" ? p : String(p);
}

function describeExpected(expected: string | undefined): string {
  switch (expected) {
    case "number":
    case "int":
      return "a whole number";
    case "object":
      return "a map of settings";
    case "array":
      return "a list";
    default:
      return expected ?? "a value";
  }
}

function describeInput(input: unknown): string {
  if (input === null) return "null";
  if (Array.isArray(input)) return "a list";
  if (typeof input === "object") return "a map";
  return JSON.stringify(input);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Known keys of the object schema at `path`, for "did you mean" on unknown keys. */
function objectKeysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let current: z.ZodType | undefined = unwrap(schema);
  for (const segment of path) {
    if (current instanceof z.ZodObject) current = unwrap(current.shape[String(segment)] as z.ZodType | undefined);
    else if (current instanceof z.ZodRecord) current = unwrap(current.valueType as z.ZodType);
    else if (current instanceof z.ZodArray) current = unwrap(current.element as z.ZodType);
    else return [];
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let current = schema;
  for (let depth = 0; depth < 10 && current !== undefined; depth++) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodDefault || current instanceof z.ZodNullable) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
    } else {
      return current;
    }
  }
  return current;
}
