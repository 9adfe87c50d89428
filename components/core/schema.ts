// The stack config schema: turns a config document (from `pulumi.Config` in the program, or a stack
// file on disk for the offline tools) into a typed FleetSpec, or into diagnostics that name the host,
// the config path and the fix. Pure: no Pulumi import, no I/O.
//
// Secrets never enter this module. Pulumi reveals secrecy per top-level config key only, so every
// secret is its own key (`pulumi config set --secret <key>`), and the spec holds a SecretRef that
// names the key. Components resolve it with `config.requireSecret(key)`, which keeps it a secret.

import { z } from "zod";
import { checkFleet } from "./checks";
import { closestName, DiagnosticList, didYouMean, type Diagnostic, type PathSegment } from "./diagnostics";
import { parseHostKeySetting, parseSshPublicKey, type HostKeySetting } from "./ssh-keys";

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
  "GPU_FLEET_RESIDENCY",
  "GPU_FLEET_GPU",
  "GPU_FLEET_VRAM_MIB",
  "GPU_FLEET_LEASE_DIR",
  "GPU_FLEET_LEASE_CAPACITY_MIB",
  "GPU_FLEET_IDLE_UNLOAD_SECONDS",
] as const;

export const DEFAULT_MALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000";

// ---------------------------------------------------------------------------------------------
// Building blocks

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TAG = /^tag:[a-z0-9][a-z0-9-]*$/;

const Port = z.int().min(1).max(65535);
/** 64 TiB: the most RAM x86-64 with 4-level paging addresses; keeps MiB × 2^20 an exact number of bytes. */
const Mib = z.int().min(1).max(64 * 1024 * 1024, "is more than 64 TiB (67108864 MiB), more than a machine addresses; sizes are MiB");

const SecretRefSchema = z.strictObject({
  secret: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, "must name a config key, e.g. { secret: hfToken }"),
});

/** YAML reads `branch: 570` as a number; accept both. */
const DriverBranch = z
  .union([z.string(), z.int()], { error: "must be a driver branch such as \"580\"" })
  .transform(String)
  .pipe(z.string().regex(/^\d{3}$/, "must be a three-digit driver branch such as \"580\""));

const Threads = z.int().min(1).max(256);

/**
 * Docker durations are Go time.Durations: int64 nanoseconds. time.ParseDuration refuses more than
 * 2562047h47m16s (9,223,372,036 s), which the Docker provider parses the health check's "<n>s" with.
 */
const DURATION_MAX_SECONDS = 9_223_372_036;
const DurationSeconds = z.int().max(DURATION_MAX_SECONDS);

/** Signals dockerd knows by name on Linux (moby's pkg/signal, SignalMap for linux). */
export const LINUX_SIGNALS = [
  "SIGABRT", "SIGALRM", "SIGBUS", "SIGCHLD", "SIGCLD", "SIGCONT", "SIGFPE", "SIGHUP", "SIGILL", "SIGINT", "SIGIO",
  "SIGIOT", "SIGKILL", "SIGPIPE", "SIGPOLL", "SIGPROF", "SIGPWR", "SIGQUIT", "SIGSEGV", "SIGSTKFLT", "SIGSTOP",
  "SIGSYS", "SIGTERM", "SIGTRAP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGUSR1", "SIGUSR2", "SIGVTALRM",
  "SIGWINCH", "SIGXCPU", "SIGXFSZ",
] as const;

/**
 * The largest uid a container may run as: runc and moby's user package take ids up to 1<<31 - 1
 * ("for 32-bit systems compatibility", moby/sys user/user.go maxID).
 */
export const MAX_CONTAINER_UID = 2_147_483_647;

/** The uid (and gid) workers run as when a service does not say; MPS's daemon serves it too. */
export const DEFAULT_WORKER_UID = 10001;
export const DEFAULT_WRITABLE_PATHS = ["/tmp"] as const;

/**
 * Capability names the oldest supported Docker accepts in --cap-add: Debian 12's docker.io 20.10
 * refuses PERFMON, BPF and CHECKPOINT_RESTORE ("unknown capability"), newer Dockers take them.
 * test/host/container-settings.test.ts creates a container with each against a real dockerd.
 */
export const DOCKER_CAPABILITIES = [
  "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH",
  "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE",
  "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
  "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
  "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM",
] as const;
const CAPABILITY_SET: ReadonlySet<string> = new Set(DOCKER_CAPABILITIES);

/** `NET_BIND_SERVICE`, `net_bind_service` or `CAP_NET_BIND_SERVICE` → `NET_BIND_SERVICE`. */
const Capability = z
  .string()
  .transform((name) => name.toUpperCase().replace(/^CAP_/, ""))
  .refine((name) => CAPABILITY_SET.has(name), {
    error: (issue) => `'${String(issue.input)}' is not a capability Docker 20.10 knows; use one of ${DOCKER_CAPABILITIES.join(", ")} (ALL is never added back)`,
  });

// ---------------------------------------------------------------------------------------------
// Sections
//
// Every field carries its documentation (`.meta(doc(...))`): README's config reference is generated
// from it (`npm run docs`, components/core/config-reference.ts), so the description, the default
// and the limits a user reads are the ones the schema enforces.

/** A field's documentation; README's config reference is generated from it. */
export interface FieldDoc {
  /** One or two sentences: what the field is for. */
  readonly description: string;
  /** The default column when it is not a literal value (`defaults.threads`, `image's`). */
  readonly defaultText?: string;
  /** The allowed column when the schema's own limits do not say it (a format, an example). */
  readonly allowed?: string;
  /** Document this object as one row; do not list its fields. */
  readonly inline?: boolean;
  /** Name of a map's keys in the reference, e.g. `<service>`. */
  readonly keyName?: string;
}

/** `.meta(doc("..."))`: attaches a FieldDoc. */
export function doc(description: string, extra: Omit<FieldDoc, "description"> = {}): FieldDoc & Record<string, unknown> {
  return { description, ...extra };
}

const RedisSchema = z
  .strictObject({
    host: z.string().regex(DNS_LABEL, "must be the Redis host's tailnet name, e.g. redis-vps").meta(doc("The Redis host's tailnet name (MagicDNS), e.g. `redis-vps`.", { allowed: "a DNS label" })),
    port: Port.default(6379).meta(doc("The only port the tailnet policy opens to workers.")),
  })
  .meta(doc("Where the fleet's Redis server is."));

const TailnetSchema = z
  .strictObject({
    workerTag: z.string().regex(TAG, "must be a tag such as tag:gpu-worker").default("tag:gpu-worker").meta(doc("Tag of every fleet host.", { allowed: "`tag:<name>`" })),
    redisTag: z.string().regex(TAG, "must be a tag such as tag:redis").default("tag:redis").meta(doc("Tag of the Redis host.", { allowed: "`tag:<name>`" })),
    admins: z
      .array(z.string().min(1, "is empty: name an admin, e.g. group:ops"))
      .min(1, "name at least one admin, e.g. [group:ops]")
      .meta(doc("Who administers workers: `group:ops`, `alice@example.com`, `autogroup:admin`.", { allowed: "groups, emails, `autogroup:admin|owner|member|it-admin|network-admin`" })),
    sshUsers: z
      .array(z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name"))
      .min(1)
      .default(["root"])
      .meta(doc("Users admins may log in as over Tailscale SSH.", { allowed: "Unix user names, at least 1" })),
    policy: z.enum(["managed", "external"]).default("managed").meta(doc("`managed`: the stack owns the tailnet policy file; `external`: it writes a fragment for your policy repository (docs/tailnet.md).")),
    testUser: z.string().min(1).optional().meta(doc("A concrete admin user (e.g. `alice@example.com`) the policy's tests use as a source.")),
    keyExpirySeconds: z
      .int()
      .min(300)
      .max(90 * 24 * 3600)
      .default(24 * 3600)
      .meta(doc("Validity of each host's auth key; it is only used to enroll. At least 5 minutes, so a host can enroll; at most 90 days, Tailscale's limit.")),
  })
  .meta(doc("The fleet's tailnet: tags, admins and the policy (docs/tailnet.md)."));

const ReserveSchema = z.strictObject({
  cores: z.int().min(0).optional().meta(doc("Cores kept for the OS, Docker and the MPS daemon.", { defaultText: "`defaults.reserve.cores`" })),
  ramMiB: z.int().min(0).optional().meta(doc("RAM kept for the OS.", { defaultText: "`defaults.reserve.ramMiB`" })),
  vramMiB: z.int().min(0).optional().meta(doc("VRAM kept free on each GPU (driver, fragmentation, the MPS server).", { defaultText: "`defaults.reserve.vramMiB`" })),
});

const DefaultsSchema = z
  .strictObject({
    threads: Threads.default(2).meta(doc("Threads per worker when neither the service nor the host says (2 threads per worker wins in the seeds' measurements).")),
    reserve: z
      .strictObject({
        cores: z.int().min(0).default(1).meta(doc("Cores kept for the OS, Docker and MPS on every host.")),
        ramMiB: z.int().min(0).default(2048).meta(doc("RAM kept for the OS on every host.")),
        vramMiB: z.int().min(0).default(512).meta(doc("VRAM kept free on every GPU.")),
      })
      .default({ cores: 1, ramMiB: 2048, vramMiB: 512 }),
    rolloutTimes: z
      .strictObject({
        imagePullSeconds: z.int().min(0).default(60).meta(doc("Seconds to pull a new image.")),
        containerStartSeconds: z.int().min(0).default(5).meta(doc("Seconds to create and start a container.")),
        healthySeconds: z.int().min(0).default(30).meta(doc("Seconds from a container's start until its health gate passes.")),
        roleSeconds: z.int().min(0).default(20).meta(doc("Seconds one host role takes.")),
        serverBootSeconds: z.int().min(0).default(90).meta(doc("Seconds a new Hetzner Cloud server takes to boot and enroll.")),
        serverDeleteSeconds: z.int().min(0).default(30).meta(doc("Seconds to delete a Hetzner Cloud server.")),
      })
      .prefault({})
      .meta(doc("How long each kind of step takes, for the rollout simulator (`gpu-fleet rollout`) only; the program ignores them. Measure yours and set them here (docs/rollouts.md, \"Simulate a rollout\").")),
  })
  .meta(doc("Fleet-wide defaults a service or host may override."));

const HealthcheckSchema = z.strictObject({
  test: z
    .union([z.array(z.string().min(1)).min(1), z.string().min(1)], {
      error: "must be a command: a list such as [CMD, python, -m, worker.health] or a shell string",
    })
    .meta(doc("Docker health check: a list (`[CMD, python, -m, worker.health]`) or a string run by the shell.")),
  intervalSeconds: DurationSeconds.min(1).default(30).meta(doc("Seconds between checks.")),
  timeoutSeconds: DurationSeconds.min(1).default(10).meta(doc("Seconds one check may take.")),
  retries: z.int().min(1).max(2_147_483_647).default(3).meta(doc("Failed checks in a row that make the worker unhealthy.")),
  startPeriodSeconds: DurationSeconds.min(0).default(60).meta(doc("Seconds after start in which failures do not count.")),
});

const EnvValue = z.union(
  [z.string(), z.number().transform(String), z.boolean().transform(String), SecretRefSchema],
  { error: "must be a string, or { secret: <config key> } for a value set with `pulumi config set --secret`" },
);

/** How check-image and tune give a worker work and recognise its answer (docs/worker-contract.md, "Sample job"). */
const SampleJobSchema = z
  .strictObject({
    queue: z.string().min(1).meta(doc("Redis list the worker takes jobs from; the check pushes with LPUSH, so a worker pops the oldest with RPOP/BRPOP/BLMOVE RIGHT.")),
    payload: z.string().min(1).refine((p) => p.includes("{id}"), "must contain {id}, replaced by a unique id per job, so each job can be told apart").meta(doc("The job, as pushed; `{id}` is replaced by a unique id per job.", { allowed: "a string containing `{id}`" })),
    results: z.string().min(1).meta(doc("Redis list the worker pushes its answers to.")),
    answer: z.string().min(1).refine((p) => p.includes("{id}"), "must contain {id}: an answer is recognised by the job's id").meta(doc("An entry of `results` that contains this (with `{id}` replaced) answers that job.", { allowed: "a string containing `{id}`" })),
    timeoutSeconds: z.int().min(1).max(3600).default(60).meta(doc("How long one job may take before the check calls it unanswered.")),
  })
  .meta(doc("A sample job for `gpu-fleet check-image` and `gpu-fleet tune` (docs/worker-contract.md)."));

const ServiceSchema = z
  .strictObject({
    image: z.string().min(1).meta(doc("Image with a tag or digest (`ghcr.io/example/kokoro-gpu:1.4.0`); no tag is an error, `latest` warns.")),
    device: z.enum(["cuda", "cpu"]).meta(doc("Where the worker computes; workers receive it as `WORKER_DEVICE`.")),
    threads: Threads.optional().meta(doc("OMP/MKL/OpenBLAS threads per worker, and its container's CPU quota (`cpus`). Above 6 warns: one process gets slower.", { defaultText: "`defaults.threads`" })),
    vramMiB: Mib.optional().meta(doc("Peak VRAM of one worker process, including its CUDA context.", { defaultText: "required for `cuda`" })),
    ramMiB: Mib.meta(doc("Peak RSS of one worker process; also its container's hard memory limit, with no swap: a worker past it is OOM-killed (and restarted), it never swaps the host. tmpfs writes count against it.")),
    jemalloc: z.string().regex(/^\//, "must be the absolute path of libjemalloc.so in the image").optional().meta(doc("Path of `libjemalloc.so` in the image; preloads it (`LD_PRELOAD`) with `mallocConf`.", { allowed: "an absolute path" })),
    mallocConf: z.string().min(1).default(DEFAULT_MALLOC_CONF).meta(doc("`MALLOC_CONF` with jemalloc.")),
    user: z
      .int()
      .min(1, "must be a non-root uid (1 or more): workers never run as root")
      .max(MAX_CONTAINER_UID)
      .default(DEFAULT_WORKER_UID)
      .meta(doc("UID (and GID) the worker runs as; never root. All MPS clients of one host share one UID (the MPS daemon runs as it).")),
    capAdd: z
      .array(Capability)
      .default([])
      .refine((caps) => new Set(caps).size === caps.length, "lists a capability twice")
      .meta(doc("Capabilities added back after all are dropped, e.g. `[NET_BIND_SERVICE]`. A non-root worker gets them in its bounding set only (docs/worker-image.md).", { allowed: "Docker 20.10 capability names; never ALL" })),
    readOnlyRootFs: z.boolean().default(true).meta(doc("Read-only root filesystem; set false for an image that writes outside `writablePaths`.")),
    writablePaths: z
      .array(z.string().regex(/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/, "must be an absolute path inside the container, e.g. /tmp"))
      .default([...DEFAULT_WRITABLE_PATHS])
      .refine((paths) => new Set(paths).size === paths.length, "lists a path twice")
      .meta(doc("Writable tmpfs mounts of a read-only worker (cleared on restart, counted in `ramMiB`).", { allowed: "absolute paths" })),
    healthcheck: HealthcheckSchema.optional().meta(doc("Docker health check; a rollout waits until a new worker is healthy.")),
    drainSeconds: z.int().min(0).max(3600).default(30).meta(doc("Time a worker gets after `stopSignal` to finish its job before it is killed.")),
    stopSignal: z.enum(LINUX_SIGNALS).default("SIGTERM").meta(doc("Signal that asks a worker to drain.", { allowed: "a Linux signal name, e.g. `SIGTERM`" })),
    command: z.array(z.string()).optional().meta(doc("Command override, as a list.", { defaultText: "image's" })),
    sampleJob: SampleJobSchema.optional(),
    env: z.record(z.string(), EnvValue).default({}).meta(doc("Extra env: strings, or `{ secret: <config key> }`. Names the fleet sets itself (the worker contract) are refused.")),
    maxUnavailable: z.int().min(1).optional().meta(doc("How many of the service's workers a rollout replaces at once, fleet-wide; split among its hosts, each at least 1 (so at least the number of hosts that run it), and below the service's worker count.", { defaultText: "a quarter of its workers, at least one per host that runs it" })),
    residency: z.enum(["resident", "onDemand", "manual"]).default("resident").meta(doc("When a cuda worker holds its VRAM (docs/timeshare.md): `resident`, always; `onDemand`, from its first job until `idleUnloadSeconds` without one, under a VRAM lease; `manual`, while an operator has it started (`gpu-fleet service start`), under a VRAM lease.")),
    idleUnloadSeconds: z.int().min(1).max(86400).optional().meta(doc("`onDemand`: seconds without a job after which the worker unloads its model and frees its lease.", { defaultText: "120 for `onDemand`" })),
  })
  .meta(doc("A service is one worker image. Names are lowercase DNS labels."));

const UNIX_USER = /^[a-z_][a-z0-9_-]*$/;

const SshEndpointShape = {
  address: z.string().min(1).meta(doc("IP address or DNS name the runner reaches it at.")),
  user: z.string().regex(UNIX_USER, "must be a Unix user name").default("root").meta(doc("SSH user. Not root: it needs passwordless sudo; the docker role adds it to the `docker` group.", { allowed: "a Unix user name" })),
  port: Port.default(22).meta(doc("SSH port.")),
  hostKey: z
    .union([z.string(), z.array(z.string()).min(1, "give at least one key")], { error: "must be a host key (`ssh-ed25519 AAAA...`), a list of them, or trust-on-first-use" })
    .transform((raw, ctx): HostKeySetting => {
      const { setting, problems } = parseHostKeySetting(raw);
      for (const problem of problems) {
        ctx.issues.push({ code: "custom", input: raw, path: problem.index === undefined ? [] : [problem.index], message: `${problem.message} (npm run keyscan -- <stack> <host> prints the host's keys)` });
      }
      // No setting means problems, now issues: the parse fails and the value is never read.
      return setting ?? z.NEVER;
    })
    .optional()
    .meta(doc("The pinned host key (required): `ssh-ed25519 AAAA...`, an ssh-keyscan / known_hosts line, several lines, a list of them, or `trust-on-first-use` (a lab's loud opt-out; warns on every plan). `npm run keyscan -- <stack> <host>` prints it.", { allowed: "key, keyscan line, list, or `trust-on-first-use`" })),
};

const SshSchema = z
  .strictObject({
    ...SshEndpointShape,
    jumpHost: z
      .strictObject({
        address: SshEndpointShape.address,
        user: z.string().regex(UNIX_USER, "must be a Unix user name").default("root").meta(doc("SSH user on the jump host.", { allowed: "a Unix user name" })),
        port: SshEndpointShape.port,
        hostKey: SshEndpointShape.hostKey,
      })
      .optional()
      .meta(doc("A bastion the runner goes through to reach `address`.")),
    privateKey: SecretRefSchema.optional().meta(doc("`{ secret: <config key> }`: this host's private key instead of the fleet's `sshPrivateKey`.", { inline: true })),
  })
  .meta(doc("An existing machine Pulumi sets up over SSH.", { defaultText: "one of `ssh`, `hcloud`, `join`" }));

const HcloudSchema = z
  .strictObject({
    serverType: z.string().min(1).meta(doc("Hetzner Cloud server type, e.g. `ccx33`; it must be in the catalog and offered in `location`.")),
    location: z.string().min(1).meta(doc("e.g. `fsn1`, `nbg1`, `hel1`, `ash`, `hil`, `sin`. Changing it replaces the server.")),
    image: z.string().min(1).default("debian-12").meta(doc("OS image; read at creation only.")),
    snapshot: z.string().trim().min(1, "is empty; leave it out to boot from image").optional().meta(doc("Boot from the newest snapshot with this label selector instead of `image`, e.g. `role=gpu-fleet-base`.")),
    labels: z.record(z.string(), z.string()).default({}).meta(doc("Your Hetzner labels on the server and its firewall; keys under `gpu-fleet/` are the fleet's.")),
    deleteProtection: z.boolean().default(false).meta(doc("Hetzner delete and rebuild protection.")),
  })
  .meta(doc("A new Hetzner Cloud server (docs/hetzner.md). Server types have no GPUs.", { defaultText: "one of `ssh`, `hcloud`, `join`" }));

/** Fleet-wide settings for Hetzner Cloud hosts. */
const HcloudFleetSchema = z
  .strictObject({
    sshPublicKey: z
      .string()
      .superRefine((text, ctx) => {
        const key = parseSshPublicKey(text);
        if (typeof key === "string") ctx.addIssue({ code: "custom", input: text, message: `${key}; give the .pub file's line (\`cat ~/.ssh/gpu-fleet_ed25519.pub\`)` });
      })
      .meta(doc("The public half of the key the runner uses; installed for root on new servers.", { defaultText: "required in `hcloud:`", allowed: "`ssh-ed25519 AAAA... you@host`" })),
    sshSourceCidrs: z
      .array(z.string())
      .default([])
      .meta(doc("Networks allowed to reach TCP 22 from the internet. Empty: no inbound TCP at all.", { allowed: "network addresses; not a set that covers the internet" })),
    tailscaleUdp: z.boolean().default(false).meta(doc("Open UDP 41641 inbound, for direct Tailscale connections through hard NAT.")),
  })
  .meta(doc("Fleet-wide settings for Hetzner Cloud hosts (docs/hetzner.md)."));

const GpuSchema = z.strictObject({
  model: z.string().min(1).optional().meta(doc("A catalog GPU (see Catalog), e.g. `rtx-4090`.")),
  vramMiB: Mib.optional().meta(doc("VRAM of a GPU that is not in the catalog, or overrides the catalog's.")),
  computeCapability: z.number().min(3).max(20).optional().meta(doc("Compute capability (`nvidia-smi --query-gpu=compute_cap --format=csv`) of a GPU not in the catalog.")),
});

/** A measured best split of one service on one host, as `gpu-fleet tune` records it (docs/worker-contract.md, "Tuning"). */
const TunedSchema = z
  .strictObject({
    replicas: z.int().min(1).meta(doc("The measured best replicas.")),
    threads: Threads.meta(doc("The measured best threads per replica.")),
    at: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be the date of the measurement, YYYY-MM-DD").meta(doc("Date of the measurement.", { allowed: "`YYYY-MM-DD`" })),
    cores: z.int().min(1).meta(doc("The host's cores when measured; another count now makes plan ignore the record (a warning).")),
    ramMiB: Mib.meta(doc("The host's RAM when measured; another size now makes plan ignore the record (a warning).")),
    jobsPerSecond: z.number().min(0).meta(doc("Measured throughput of the best candidate.")),
    p95Ms: z.number().min(0).meta(doc("Measured 95th-percentile job latency of the best candidate, ms.")),
    image: z.string().min(1).meta(doc("The image measured.")),
  })
  .meta(doc("Written by `gpu-fleet tune`: with `replicas: auto`, plan uses these replicas and threads (source `tuned <at>`)."));

const HostWorkerSchema = z.strictObject({
  replicas: z
    .union([z.int().min(0), z.literal("auto")], { error: "must be a whole number or auto" })
    .meta(doc("`auto` takes what cores, RAM, VRAM and MPS clients allow: an equal share for each auto service, then the remainder one worker at a time in the host's order while a whole worker fits (README, \"What the planner checks\"); with a `tuned` record, the measured best; `0` drains the service from the host.", { allowed: "whole number ≥ 0, or `auto`" })),
  threads: Threads.optional().meta(doc("Threads per replica on this host; overrides the service's.", { defaultText: "the service's" })),
  tuned: TunedSchema.optional(),
});

const HostSchema = z
  .strictObject({
    ssh: SshSchema.optional(),
    hcloud: HcloudSchema.optional(),
    join: z
      .strictObject({})
      .optional()
      .meta(doc("`{}`: a machine that joins by itself with `scripts/join-fleet.sh` (behind NAT). The stack creates its tailnet key (output `joinKeys`), not its roles or workers.", { defaultText: "one of `ssh`, `hcloud`, `join`", inline: true })),
    hardware: z.string().min(1).optional().meta(doc("A catalog machine for SSH and join hosts: `gex44`, `gex130`; hcloud hosts take theirs from `serverType`.")),
    cpu: z.strictObject({ cores: z.int().min(1).max(4096).meta(doc("Logical CPUs, as `nproc` prints them.", { defaultText: "from `hardware` or `serverType`" })) }).optional(),
    ramMiB: Mib.optional().meta(doc("Total RAM (`free -m`).", { defaultText: "from `hardware` or `serverType`" })),
    gpus: z.array(GpuSchema).optional().meta(doc("The host's GPUs, in `nvidia-smi` order: a catalog `model`, or `vramMiB` and `computeCapability`; either overrides the catalog.", { defaultText: "from `hardware`" })),
    nvidia: z
      .strictObject({
        driver: z.enum(["managed", "preinstalled", "none"]).optional().meta(doc("`managed` installs one pinned branch; `preinstalled` only checks `nvidia-smi` and never touches a desktop's driver; `none`.", { defaultText: "`preinstalled` with GPUs, else `none`" })),
        branch: DriverBranch.optional().meta(doc("Driver branch when managed. Pascal and Volta GPUs (GTX 1080) need 580 or older; GPUs before Turing get the proprietary kernel modules, newer ones the open modules.", { defaultText: "`\"580\"`", allowed: "three digits" })),
      })
      .optional(),
    mps: z.enum(["auto", "on", "off"]).default("auto").meta(doc("`auto`: MPS on each GPU that runs two or more workers; `on`; `off`.")),
    keyGeneration: z
      .union([z.int().min(0), z.string().min(1)], { error: "must be a number or a word; change it to mint a new key" })
      .optional()
      .meta(doc("Change it (any new number or word) to mint a new tailnet auth key for the host, e.g. to re-enroll a rebuilt machine. On an SSH host nothing else is replaced; an `hcloud` server is replaced with it (a new server that enrolls with the new key, with a new host key).", { allowed: "a number or a word" })),
    pinCpus: z.boolean().default(false).meta(doc("Pin each worker to its own cores, after the reserved ones (`cpuSet`).")),
    connect: z
      .strictObject({
        timeoutSeconds: z.int().min(1).max(120).default(10).meta(doc("Seconds per SSH connection attempt.")),
        attempts: z.int().min(1).max(30).default(3).meta(doc("SSH connection attempts; a down host fails in about `timeoutSeconds` × `attempts`.")),
        enrollAttempts: z.int().min(1).max(120).default(40).meta(doc("Attempts right after a new Hetzner Cloud server is created: it is reachable only once cloud-init has enrolled it.")),
      })
      .prefault({})
      .meta(doc("How Pulumi's SSH dials this host (roles, gates, Docker) (docs/rollouts.md, \"A host that is down\").")),
    reserve: ReserveSchema.optional().meta(doc("This host's reserve, e.g. to keep a laptop usable.")),
    workers: z.record(z.string(), HostWorkerSchema).default({}).meta(doc("The services this host runs.", { keyName: "<service>" })),
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
  })
  .meta(doc("A host is one machine. Names are lowercase DNS labels; the name is the host's tailnet hostname."));

/** The documented sections, in README order: each a config key (or a map of named entries) and its schema. */
/**
 * A fleet split over several stacks (docs/scale.md): one `shared` stack owns the tailnet policy and
 * the fleet-wide settings; `group` stacks hold hosts and read the shared stack with a StackReference.
 */
const SplitSchema = z
  .strictObject({
    role: z
      .enum(["shared", "group"])
      .meta(doc("`shared`: this stack owns the tailnet policy and the fleet-wide settings, exports them as `fleetShared`, and may hold no hosts. `group`: this stack holds hosts and checks its shared stack's `fleetShared` before it creates any auth key (see docs/scale.md). Leave `split` out when one stack holds the whole fleet.")),
    sharedStack: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+){0,2}$/, "must be a stack name such as my-org/gpu-fleet/fleet-shared")
      .optional()
      .meta(doc("Group stacks only, required there: the shared stack as a StackReference names it, `<org>/<project>/<stack>` (or `<stack>` on a local backend).", { allowed: "a stack name, e.g. `my-org/gpu-fleet/fleet-shared`" })),
    minReplicas: z
      .record(z.string(), z.int().min(0))
      .default({})
      .meta(doc("Shared stack only: the fewest workers each service must have across all stacks of the fleet; `plan-fleet` refuses a fleet below it.")),
  })
  .superRefine((split, ctx) => {
    if (split.role === "group" && split.sharedStack === undefined) ctx.addIssue({ code: "custom", path: ["sharedStack"], message: "a group stack names its shared stack, e.g. sharedStack: my-org/gpu-fleet/fleet-shared" });
    if (split.role === "shared" && split.sharedStack !== undefined) ctx.addIssue({ code: "custom", path: ["sharedStack"], message: "only group stacks name a shared stack; remove it here" });
    if (split.role === "group" && Object.keys(split.minReplicas).length > 0) ctx.addIssue({ code: "custom", path: ["minReplicas"], message: "fleet-wide minimums live in the shared stack; move them there" });
  });

export const CONFIG_SECTIONS: readonly { readonly key: string; readonly schema: z.ZodType }[] = [
  { key: "redis", schema: RedisSchema },
  { key: "tailnet", schema: TailnetSchema },
  { key: "hcloud", schema: HcloudFleetSchema },
  { key: "defaults", schema: DefaultsSchema },
  { key: "services.<name>", schema: ServiceSchema },
  { key: "hosts.<name>", schema: HostSchema },
  { key: "split", schema: SplitSchema },
];

/** The secret top-level keys the fleet itself reads (services may reference more). */
export const SECRET_KEY_DOCS: readonly { readonly key: string; readonly description: string }[] = [
  { key: "redisUrl", description: "required. The Redis URL with its password; workers receive it as `REDIS_URL`." },
  { key: "sshPrivateKey", description: "The private key for SSH, all hosts (a host may name another key in `ssh.privateKey`). Without it, SSH uses the runner's ssh-agent." },
];

export type SplitSpec = z.output<typeof SplitSchema>;
export type RedisSpec = z.output<typeof RedisSchema>;
export type TailnetSpec = z.output<typeof TailnetSchema>;
export type DefaultsSpec = z.output<typeof DefaultsSchema>;
export type ServiceSpec = z.output<typeof ServiceSchema>;
export type HealthcheckSpec = z.output<typeof HealthcheckSchema>;
export type HostSpec = z.output<typeof HostSchema>;
export type TunedSpec = z.output<typeof TunedSchema>;
export type SampleJobSpec = z.output<typeof SampleJobSchema>;
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

  const redis = parseRequiredSection(SECTIONS.redis, values.redis, ["redis"], out, "add `redis: { host: <tailnet name>, port: 6379 }`");
  const tailnet = parseRequiredSection(SECTIONS.tailnet, values.tailnet, ["tailnet"], out, "add `tailnet: { admins: [group:ops] }`");
  const defaults = parseSection(SECTIONS.defaults, values.defaults ?? {}, ["defaults"], out);
  const redisUrl = requireSecretKey(doc, "redisUrl", "the Redis URL with its password, e.g. redis://:PASSWORD@redis-vps:6379/0", out);
  const sshPrivateKey = values.sshPrivateKey === undefined ? undefined : secretKeyRef(doc, "sshPrivateKey", out);

  const split = values.split === undefined ? undefined : parseSection(SplitSchema, values.split, ["split"], out);
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
  const hcloud = values.hcloud === undefined ? undefined : parseSection(HcloudFleetSchema, values.hcloud, ["hcloud"], out);
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

  checkFleet({ tailnet, redis, hcloud, services, hosts }, out);

  const effectiveDefaults = defaults ?? DefaultsSchema.parse({});
  const plannable: PlannerInput = { defaults: effectiveDefaults, services, hosts };
  const hasErrors = out.errors.length > 0;
  const spec: FleetSpec | undefined =
    hasErrors || redis === undefined || tailnet === undefined || defaults === undefined || redisUrl === undefined
      ? undefined
      : { redis, redisUrl, sshPrivateKey, tailnet, hcloud, defaults, services, hosts, split };
  return { spec, plannable, diagnostics: out.all };
}

function parseRequiredSection<S extends z.ZodType>(schema: S, value: unknown, path: PathSegment[], out: DiagnosticList, missingHint: string): z.output<S> | undefined {
  if (value !== undefined) return parseSection(schema, value, path, out);
  out.error(path, `missing: ${missingHint}.`);
  return undefined;
}

function parseSection<S extends z.ZodType>(schema: S, value: unknown, path: PathSegment[], out: DiagnosticList): z.output<S> | undefined {
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
    const result = parseSection(schema, entry ?? {}, [section, name], out);
    if (result !== undefined) parsed[name] = result;
  }
  if (Object.keys(value).length === 0) out.error([section], `add at least one ${what}.`);
  return parsed;
}

function requireSecretKey(doc: ConfigDocument, key: string, what: string, out: DiagnosticList): SecretRef | undefined {
  if (doc.values[key] !== undefined) return secretKeyRef(doc, key, out);
  out.error([key], `missing: set ${what} with \`pulumi config set --secret ${key} ...\`.`);
  return undefined;
}

/** A set top-level key as a SecretRef, or an error when it is stored in plain text. */
function secretKeyRef(doc: ConfigDocument, key: string, out: DiagnosticList): SecretRef | undefined {
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
  if (service.device === "cpu" && service.residency !== "resident") {
    out.warning(at("residency"), `is ignored: ${name} runs on the CPU (device: cpu) and holds no VRAM. Remove it, or set device: cuda.`);
  }
  if (service.idleUnloadSeconds !== undefined && service.residency !== "onDemand") {
    out.warning(at("idleUnloadSeconds"), `is ignored: only onDemand workers unload when idle, and ${name} is ${service.residency}. Remove it, or set residency: onDemand.`);
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
  if (envName === "GPU_FLEET_RESIDENCY" || envName === "GPU_FLEET_IDLE_UNLOAD_SECONDS") return ` Set services.${service}.residency (and idleUnloadSeconds) instead.`;
  if (envName === "GPU_FLEET_VRAM_MIB") return ` Set services.${service}.vramMiB instead.`;
  return "";
}

function checkImage(image: string, path: PathSegment[], out: DiagnosticList): void {
  if (/\s/.test(image)) {
    out.error(path, `'${image}' is not an image reference.`);
    return;
  }
  const reference = imageReferenceProblem(image);
  if (reference !== undefined) {
    out.error(path, `'${image}' ${reference}`);
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

/**
 * Docker's reference grammar (distribution/reference, regexp.go): `[domain[:port]/]path[:tag][@digest]`,
 * path components lowercase `[a-z0-9]+` joined by `.`, `_`, `__` or dashes; a tag of up to 128 of
 * `[A-Za-z0-9_.-]`, not starting with `.` or `-`. Docker refuses anything else at pull time.
 */
function imageReferenceProblem(image: string): string | undefined {
  const at = image.indexOf("@");
  const named = at >= 0 ? image.slice(0, at) : image;
  if (at >= 0 && !/^sha256:[a-f0-9]{64}$/.test(image.slice(at + 1))) return "has a digest that is not sha256:<64 hex digits>.";
  const slash = named.lastIndexOf("/");
  const colon = named.lastIndexOf(":");
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  const name = colon > slash ? named.slice(0, colon) : named;
  if (tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(tag)) return `has tag '${tag}': a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'.`;
  const parts = name.split("/");
  const first = parts[0];
  const hasDomain = parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost");
  if (hasDomain && !/^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?$/.test(first)) return `has registry '${first}', which is not a host name.`;
  const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
  for (const part of hasDomain ? parts.slice(1) : parts) {
    if (!component.test(part)) {
      return /[A-Z]/.test(part) ? `has '${part}' in its repository name, which Docker refuses: repository names are lowercase.` : `has '${part}' in its repository name: use lowercase letters, digits and single '.', '_', '__' or '-' between them.`;
    }
  }
  return undefined;
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
    // A limit with its own message (admins' "name at least one admin") says it; zod's own
    // ("Too small: ...") is replaced with the limit and the value.
    case "too_small":
      if (!issue.message.startsWith("Too small")) out.error(path, sentence(issue.message));
      else out.error(path, issue.origin === "array" ? `needs at least ${issue.minimum} ${issue.minimum === 1 ? "entry" : "entries"}.` : `must be at least ${issue.minimum}, got ${describeInput(issue.input)}.`);
      return;
    case "too_big":
      // No list or text in the schema has a maximum: every too_big is a number.
      out.error(path, issue.message.startsWith("Too big") ? `must be at most ${issue.maximum}, got ${describeInput(issue.input)}.` : `${issue.message}, got ${describeInput(issue.input)}.`);
      return;
    default:
      out.error(path, sentence(issue.message));
  }
}

function sentence(text: string): string {
  return text.endsWith(".") ? text : `${text}.`;
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

/** The schema under `.optional()`, `.default()` and `.prefault()`: the wrappers around the fleet's objects. */
function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let current = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodDefault || current instanceof z.ZodPrefault) current = current.unwrap() as z.ZodType;
  return current;
}
