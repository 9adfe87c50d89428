// The fleet planner: from a validated spec to one HostPlan per host. It decides everything that can
// be decided without touching a machine: machine facts, CPU/RAM/VRAM budgets, GPU placement, MPS,
// driver branch and kernel modules, and the exact environment of every worker. Components only map
// these plans to resources. Pure: no Pulumi import, no I/O.

import {
  COMPUTE,
  DEDICATED_MACHINES,
  GPU_MODELS,
  HCLOUD_LOCATIONS,
  HCLOUD_SPREAD_GROUP_MAX_SERVERS,
  HCLOUD_SERVER_TYPES,
  hcloudLocationsOffering,
  isHcloudLocationId,
  LAST_BRANCH_FOR_PRE_TURING,
  isDedicatedMachineId,
  isGpuModelId,
  isHcloudServerTypeId,
  mpsClientCap,
} from "./catalog";
import { DiagnosticList, didYouMean, type Diagnostic, type PathSegment } from "./diagnostics";
import { DEFAULT_WORKER_UID, type HealthcheckSpec, type HostSpec, type PlannerInput, type SecretRef, type ServiceSpec } from "./schema";

/** Where the MPS daemon and its clients meet; off the default /tmp/nvidia-mps on purpose. */
export const MPS_PIPE_DIRECTORY = "/run/gpu-fleet/mps";
export const MPS_LOG_DIRECTORY = "/var/log/gpu-fleet/mps";
/** Beyond this many threads one process gets slower, not faster (memory bandwidth; seed 000). */
export const THREADS_KNEE = 6;
export const DEFAULT_DRIVER_BRANCH = "580";

export type DriverMode = "managed" | "preinstalled" | "none";

export interface GpuPlan {
  readonly index: number;
  /** Catalog id, or "custom" when the host declares the numbers itself. */
  readonly model: string;
  readonly name: string;
  readonly computeCapability: number;
  readonly vramMiB: number;
  readonly reservedMiB: number;
  readonly usedMiB: number;
  /** Worker processes placed on this GPU. */
  readonly clients: number;
  readonly mps: boolean;
  /** Whether MPS per-client limits apply (Volta and newer). */
  readonly mpsLimits: boolean;
}

export interface WorkerPlan {
  readonly service: string;
  /** 1-based replica number within the service on this host. */
  readonly replica: number;
  /** Unique in the fleet: `<host>-<service>-<replica>`. */
  readonly name: string;
  readonly image: string;
  readonly device: "cuda" | "cpu";
  readonly threads: number;
  /** Host GPU index, or null on the CPU. */
  readonly gpu: number | null;
  readonly vramMiB: number | null;
  readonly ramMiB: number;
  /** Whether the worker is an MPS client (pipe mount, host IPC). */
  readonly mps: boolean;
  /** Cores the worker is pinned to (`2-3`), or null when the host does not pin. */
  readonly cpuSet: string | null;
  /** UID (and GID) the container runs as: never root. */
  readonly user: number;
  /** Capabilities added back after all are dropped. */
  readonly capAdd: readonly string[];
  /** Read-only root filesystem, with `writablePaths` as tmpfs mounts. */
  readonly readOnlyRootFs: boolean;
  readonly writablePaths: readonly string[];
  /** Worker-contract and service env, no secrets. */
  readonly env: Readonly<Record<string, string>>;
  /** Service env taken from secret config keys. REDIS_URL is added by the Workers component. */
  readonly secretEnv: Readonly<Record<string, SecretRef>>;
  readonly command: readonly string[] | null;
  readonly healthcheck: HealthcheckSpec | null;
  readonly stopSignal: string;
  readonly drainSeconds: number;
  /**
   * The worker (fleet-unique name) whose replacement this one waits for in a rollout, or null for
   * the first of its lane. See planRollout.
   */
  readonly rolloutAfter: string | null;
}

export interface HostPlan {
  readonly name: string;
  /** ssh: an existing machine Pulumi sets up over SSH; hcloud: a new Hetzner Cloud server; join: a machine that runs join-fleet.sh itself. */
  readonly kind: "ssh" | "hcloud" | "join";
  /** Human description of the machine, e.g. "Hetzner GEX44 (...)" or "custom". */
  readonly machine: string;
  readonly cpu: { readonly cores: number; readonly reserved: number; readonly usable: number; readonly threads: number };
  readonly ramMiB: { readonly total: number; readonly reserved: number; readonly used: number };
  readonly gpus: readonly GpuPlan[];
  readonly workers: readonly WorkerPlan[];
  readonly nvidia: { readonly driver: DriverMode; readonly branch: string | null; readonly modules: "open" | "proprietary" | null };
  readonly mps: {
    readonly enabled: boolean;
    readonly gpus: readonly number[];
    readonly pipeDirectory: string;
    readonly logDirectory: string;
    /** The uid the MPS daemon runs as: the one uid of all the host's MPS clients (null without MPS). */
    readonly uid: number | null;
    /** Default pinned-memory limit per MPS GPU (Volta+), the largest client's VRAM. */
    readonly defaultPinnedMemLimitMiB: Readonly<Record<number, number>>;
  };
}

export interface FleetPlan {
  readonly hosts: readonly HostPlan[];
  readonly diagnostics: readonly Diagnostic[];
}

export function planFleet(input: PlannerInput): FleetPlan {
  const out = new DiagnosticList();
  const hosts: HostPlan[] = [];
  for (const [name, host] of Object.entries(input.hosts)) {
    const plan = planHost(name, host, input, out);
    if (plan !== undefined) hosts.push(plan);
  }
  const hcloudHosts = hosts.filter((h) => h.kind === "hcloud");
  if (hcloudHosts.length > HCLOUD_SPREAD_GROUP_MAX_SERVERS) {
    out.error(["hosts"], `has ${hcloudHosts.length} Hetzner Cloud hosts, but their spread placement group holds at most ${HCLOUD_SPREAD_GROUP_MAX_SERVERS} servers. Use larger server types (fewer hosts), or split the fleet into two stacks.`);
  }
  return { hosts: planRollout(hosts, input, out), diagnostics: out.all };
}

/**
 * Rollout lanes. Containers are replaced delete-before-replace (old drains and stops, then new
 * starts), so two versions never share a GPU's memory. To keep capacity, each service's workers
 * across the fleet are split into `maxUnavailable` lanes; within a lane each worker waits for the
 * previous one (dependsOn), so at most that many workers of a service are down at once. Lanes
 * interleave hosts: replica 1 of every host first, then replica 2, so a lane moves host to host.
 */
function planRollout(hosts: HostPlan[], input: PlannerInput, out: DiagnosticList): HostPlan[] {
  const after = new Map<string, string>();
  // Pulumi replaces only the workers it deploys; a join host restarts its own with join-fleet.sh.
  const deployed = hosts.filter((h) => h.kind !== "join");
  const services = [...new Set(deployed.flatMap((h) => h.workers.map((w) => w.service)))];
  for (const service of services) {
    const workers = deployed
      .flatMap((h, hostIndex) => h.workers.filter((w) => w.service === service).map((w) => ({ w, hostIndex })))
      .sort((a, b) => a.w.replica - b.w.replica || a.hostIndex - b.hostIndex)
      .map(({ w }) => w);
    const spec = input.services[service];
    const lanes = Math.max(1, Math.min(spec?.maxUnavailable ?? Math.floor(workers.length / 4), workers.length));
    // A service with one worker in the fleet necessarily stops while it is replaced (docs/rollouts.md).
    if (workers.length > 1 && spec?.maxUnavailable !== undefined && spec.maxUnavailable >= workers.length) {
      out.error(["services", service, "maxUnavailable"], `is ${spec.maxUnavailable}, but ${service} has ${workers.length} workers: a rollout could stop all of them. Set it to at most ${workers.length - 1}.`);
    }
    workers.forEach((worker, i) => {
      if (i >= lanes) after.set(worker.name, workers[i - lanes].name);
    });
  }
  return hosts.map((h) => ({ ...h, workers: h.workers.map((w) => ({ ...w, rolloutAfter: after.get(w.name) ?? null })) }));
}

// ---------------------------------------------------------------------------------------------

interface MachineFacts {
  readonly description: string;
  readonly cores: number;
  readonly ramMiB: number;
  readonly gpus: readonly GpuFacts[];
}

interface GpuFacts {
  readonly model: string;
  readonly name: string;
  readonly vramMiB: number;
  readonly computeCapability: number;
}

/** One service's demand on a host, after host overrides. */
interface Demand {
  readonly service: string;
  readonly spec: ServiceSpec;
  readonly threads: number;
  /** undefined until auto replicas are resolved. */
  replicas: number | undefined;
}

function planHost(name: string, host: HostSpec, input: PlannerInput, out: DiagnosticList): HostPlan | undefined {
  const at = (...rest: PathSegment[]): PathSegment[] => ["hosts", name, ...rest];
  const errorsBefore = out.errors.length;

  const facts = resolveMachine(name, host, out);
  if (facts === undefined) return undefined;

  const reserved = {
    cores: host.reserve?.cores ?? input.defaults.reserve.cores,
    ramMiB: host.reserve?.ramMiB ?? input.defaults.reserve.ramMiB,
    vramMiB: host.reserve?.vramMiB ?? input.defaults.reserve.vramMiB,
  };
  const usableCores = facts.cores - reserved.cores;
  const usableRam = facts.ramMiB - reserved.ramMiB;
  if (usableCores < 1) out.error(at("reserve", "cores"), `reserves ${reserved.cores} of ${facts.cores} cores, leaving none for workers. Lower reserve.cores.`);
  if (usableRam < 1) out.error(at("reserve", "ramMiB"), `reserves ${reserved.ramMiB} of ${facts.ramMiB} MiB, leaving no RAM for workers. Lower reserve.ramMiB.`);

  const reserveVramPath = host.reserve?.vramMiB !== undefined ? at("reserve", "vramMiB") : ["defaults", "reserve", "vramMiB"];
  for (const [index, gpu] of facts.gpus.entries()) {
    if (reserved.vramMiB >= gpu.vramMiB) {
      out.error(reserveVramPath, `reserves ${reserved.vramMiB} MiB of VRAM on each GPU of ${name}, but GPU ${index} (${gpu.name}) has ${gpu.vramMiB} MiB, leaving none for workers. Lower reserve.vramMiB below ${gpu.vramMiB} on ${name}.`);
    }
    if (host.mps === "on" && gpu.computeCapability < COMPUTE.mps) {
      out.error(at("mps"), `is on, but GPU ${index} of ${name} (${gpu.name}) has compute capability ${gpu.computeCapability}; NVIDIA MPS needs ${COMPUTE.mps} or newer. Set mps: off (or auto) on ${name}.`);
    }
  }

  const nvidia = resolveNvidia(name, host, facts, out);

  // Demands of the services this host runs; services that failed validation are reported elsewhere.
  const demands: Demand[] = [];
  for (const [service, worker] of Object.entries(host.workers)) {
    const spec = input.services[service];
    // replicas: 0 drains a service from a host; nothing of it runs there, so nothing to check.
    if (spec === undefined || worker.replicas === 0) continue;
    const threads = worker.threads ?? spec.threads ?? input.defaults.threads;
    if (threads > THREADS_KNEE) {
      out.warning(
        worker.threads !== undefined ? at("workers", service, "threads") : ["services", service, "threads"],
        `${service} on ${name} runs ${threads} threads per worker: beyond about ${THREADS_KNEE} threads a worker gets slower, not faster (memory bandwidth). Prefer more replicas with 2 threads each.`,
      );
    }
    if (spec.device === "cuda" && facts.gpus.length === 0) {
      out.error(
        at("workers", service),
        `${service} runs on CUDA but ${name} has no GPU. Run a CPU service here instead (device: cpu), or declare the host's gpus.`,
      );
      continue;
    }
    if (spec.device === "cuda" && nvidia.driver === "none") {
      out.error(at("nvidia", "driver"), `is none, but ${service} on ${name} needs CUDA. Set nvidia.driver to preinstalled (a driver is already there) or managed.`);
      continue;
    }
    demands.push({ service, spec, threads, replicas: worker.replicas === "auto" ? undefined : worker.replicas });
  }
  if (out.errors.length > errorsBefore) return undefined;

  const gpuState = facts.gpus.map((gpu) => ({
    ...gpu,
    capacityMiB: gpu.vramMiB - reserved.vramMiB,
    usedMiB: 0,
    clients: [] as { service: string; uid: number }[],
    cap: host.mps === "off" || gpu.computeCapability < COMPUTE.mps ? Number.POSITIVE_INFINITY : mpsClientCap(gpu.computeCapability),
  }));

  resolveAutoReplicas(name, demands, usableCores, usableRam, gpuState, out);

  // Budgets: CPU threads and RAM.
  const threadsUsed = sum(demands.map((d) => (d.replicas ?? 0) * d.threads));
  if (threadsUsed > usableCores && usableCores >= 1) {
    out.error(at("workers"), `${describeDemands(demands, (d) => `${d.replicas} × ${d.threads} threads`)} need ${threadsUsed} threads, but ${name} has ${usableCores} usable (${facts.cores} cores − ${reserved.cores} reserved). ${fixFor(name, demands, usableCores, (d) => d.threads, "threads")}`);
  }
  const ramUsed = sum(demands.map((d) => (d.replicas ?? 0) * d.spec.ramMiB));
  if (ramUsed > usableRam && usableRam >= 1) {
    out.error(at("workers"), `${describeDemands(demands, (d) => `${d.replicas} × ${d.spec.ramMiB} MiB`)} need ${ramUsed} MiB of RAM, but ${name} has ${usableRam} MiB for workers (${facts.ramMiB} − ${reserved.ramMiB} reserved). ${fixFor(name, demands, usableRam, (d) => d.spec.ramMiB, "ramMiB")}`);
  }

  // GPU placement: each replica goes to the GPU with the most free VRAM that takes it.
  const placements = new Map<string, (number | null)[]>();
  for (const demand of demands) {
    const gpus: (number | null)[] = [];
    placements.set(demand.service, gpus);
    if (demand.spec.device === "cpu") {
      for (let r = 0; r < (demand.replicas ?? 0); r++) gpus.push(null);
      continue;
    }
    const vram = demand.spec.vramMiB ?? 0;
    const uid = demand.spec.user;
    for (let r = 0; r < (demand.replicas ?? 0); r++) {
      const candidates = gpuState
        .filter((g) => g.capacityMiB - g.usedMiB >= vram && g.clients.length < g.cap)
        .sort((a, b) => b.capacityMiB - b.usedMiB - (a.capacityMiB - a.usedMiB));
      const chosen = candidates[0];
      if (chosen === undefined) {
        out.error(at("workers", demand.service, "replicas"), noGpuRoomMessage(name, demand, r, vram, gpuState, host.mps));
        break;
      }
      chosen.usedMiB += vram;
      chosen.clients.push({ service: demand.service, uid });
      gpus.push(gpuState.indexOf(chosen));
    }
  }

  // MPS per GPU: auto turns it on where two or more worker processes share a GPU.
  const gpus: GpuPlan[] = gpuState.map((g, index) => {
    // MPS runs from compute capability 3.5 on (catalog COMPUTE.mps); `auto` leaves older GPUs without it.
    const mpsCapable = g.computeCapability >= COMPUTE.mps;
    const mps = !mpsCapable ? false : host.mps === "on" ? g.clients.length >= 1 : host.mps === "auto" ? g.clients.length >= 2 : false;
    return {
      index,
      model: g.model,
      name: g.name,
      computeCapability: g.computeCapability,
      vramMiB: g.vramMiB,
      reservedMiB: reserved.vramMiB,
      usedMiB: g.usedMiB,
      clients: g.clients.length,
      mps,
      mpsLimits: mps && g.computeCapability >= COMPUTE.volta,
    };
  });
  if (host.mps === "on" && facts.gpus.length === 0) out.warning(at("mps"), `is on, but ${name} has no GPU; it is ignored.`);
  for (const gpu of gpus) {
    if (!gpu.mps) continue;
    // An explicit `mps: on` is an informed choice; `auto` chose MPS for the user, so say what it costs.
    if (!gpu.mpsLimits && host.mps === "auto") {
      out.warning(
        at("mps"),
        `GPU ${gpu.index} (${gpu.name}, compute ${gpu.computeCapability}) runs ${gpu.clients} workers under MPS without per-client memory limits, which need Volta (7.0) or newer: one worker's fault or overrun stops all ${gpu.clients}. Set mps: off on ${name} if isolation matters more than throughput, or mps: on to accept it.`,
      );
    }
  }
  // One MPS control daemon per host, started as the clients' uid, serves that uid only: every MPS
  // client of the host (on any GPU) shares one uid.
  const mpsClients = gpus.filter((g) => g.mps).flatMap((g) => gpuState[g.index]?.clients ?? []);
  const mpsUids = [...new Set(mpsClients.map((c) => c.uid))];
  if (mpsUids.length > 1) {
    const byUid = mpsUids.map((uid) => `${[...new Set(mpsClients.filter((c) => c.uid === uid).map((c) => c.service))].join(", ")} as uid ${uid}`);
    const first = mpsClients.find((c) => c.uid !== mpsUids[0]);
    out.error(
      first === undefined ? at("mps") : ["services", first.service, "user"],
      `${name} shares MPS between ${byUid.join(" and ")}; one MPS daemon per host serves one uid, so all its MPS clients must share one uid. Set the same services.<name>.user on them (unset means ${DEFAULT_WORKER_UID}), or set mps: off on ${name}.`,
    );
  }

  if (out.errors.length > errorsBefore) return undefined;

  const mpsGpus = gpus.filter((g) => g.mps).map((g) => g.index);
  const defaultPinnedMemLimitMiB: Record<number, number> = {};
  const workers: WorkerPlan[] = [];
  // With pinCpus, each worker gets its own consecutive cores after the reserved ones.
  let nextCore = reserved.cores;
  for (const demand of demands) {
    const assigned = placements.get(demand.service) ?? [];
    assigned.forEach((gpu, i) => {
      const gpuPlan = gpu === null ? undefined : gpus[gpu];
      const cpuSet = host.pinCpus ? coreRange(nextCore, demand.threads) : null;
      nextCore += demand.threads;
      workers.push(workerPlan(name, demand, i + 1, gpu, gpuPlan, cpuSet));
      if (gpuPlan?.mpsLimits && demand.spec.vramMiB !== undefined) {
        defaultPinnedMemLimitMiB[gpuPlan.index] = Math.max(defaultPinnedMemLimitMiB[gpuPlan.index] ?? 0, demand.spec.vramMiB);
      }
    });
  }

  return {
    name,
    kind: host.hcloud !== undefined ? "hcloud" : host.join !== undefined ? "join" : "ssh",
    machine: facts.description,
    cpu: { cores: facts.cores, reserved: reserved.cores, usable: usableCores, threads: threadsUsed },
    ramMiB: { total: facts.ramMiB, reserved: reserved.ramMiB, used: ramUsed },
    gpus,
    workers,
    nvidia,
    mps: {
      enabled: mpsGpus.length > 0,
      gpus: mpsGpus,
      pipeDirectory: MPS_PIPE_DIRECTORY,
      logDirectory: MPS_LOG_DIRECTORY,
      uid: mpsGpus.length > 0 ? (mpsUids[0] ?? DEFAULT_WORKER_UID) : null,
      defaultPinnedMemLimitMiB,
    },
  };
}

function coreRange(first: number, count: number): string {
  return count === 1 ? String(first) : `${first}-${first + count - 1}`;
}

function workerPlan(host: string, demand: Demand, replica: number, gpu: number | null, gpuPlan: GpuPlan | undefined, cpuSet: string | null): WorkerPlan {
  const { spec, service, threads } = demand;
  const name = `${host}-${service}-${replica}`;
  const mps = gpuPlan?.mps ?? false;
  const env: Record<string, string> = {};
  const secretEnv: Record<string, SecretRef> = {};
  for (const [key, value] of Object.entries(spec.env)) {
    if (typeof value === "string") env[key] = value;
    else secretEnv[key] = value;
  }
  Object.assign(env, {
    OMP_NUM_THREADS: String(threads),
    MKL_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
    WORKER_DEVICE: spec.device,
    WORKER_NAME: name,
    WORKER_HOST: host,
    WORKER_SERVICE: service,
  });
  if (mps) {
    env.CUDA_MPS_PIPE_DIRECTORY = MPS_PIPE_DIRECTORY;
    // The container sees its one GPU as device 0.
    if (gpuPlan?.mpsLimits && spec.vramMiB !== undefined) env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT = `0=${spec.vramMiB}M`;
  }
  if (spec.jemalloc !== undefined) {
    env.LD_PRELOAD = spec.jemalloc;
    env.MALLOC_CONF = spec.mallocConf;
  }
  return {
    service,
    replica,
    name,
    image: spec.image,
    device: spec.device,
    threads,
    gpu,
    vramMiB: spec.device === "cuda" ? (spec.vramMiB ?? null) : null,
    ramMiB: spec.ramMiB,
    mps,
    cpuSet,
    // Explicit, so the image cannot run the worker as root (and MPS clients share it).
    user: spec.user,
    capAdd: spec.capAdd,
    readOnlyRootFs: spec.readOnlyRootFs,
    writablePaths: spec.writablePaths,
    env,
    secretEnv,
    command: spec.command ?? null,
    healthcheck: spec.healthcheck ?? null,
    stopSignal: spec.stopSignal,
    drainSeconds: spec.drainSeconds,
    rolloutAfter: null,
  };
}

// ---------------------------------------------------------------------------------------------
// Machine facts

function resolveMachine(name: string, host: HostSpec, out: DiagnosticList): MachineFacts | undefined {
  const at = (...rest: PathSegment[]): PathSegment[] => ["hosts", name, ...rest];
  let base: { description: string; cores?: number; ramMiB?: number; gpus: readonly string[] } = { description: "custom", gpus: [] };

  if (host.hcloud !== undefined) {
    const type = host.hcloud.serverType;
    const location = host.hcloud.location;
    // Hetzner refuses a server type or location it does not have, or a type the location does not
    // offer, only at `pulumi up`: the catalog (with its source) decides here instead.
    const knownLocation = isHcloudLocationId(location);
    if (!knownLocation) {
      out.error(at("hcloud", "location"), `'${location}' is not a Hetzner Cloud location.${didYouMean(location, Object.keys(HCLOUD_LOCATIONS))} Locations: ${Object.keys(HCLOUD_LOCATIONS).join(", ")}.`);
    }
    if (!isHcloudServerTypeId(type)) {
      out.error(at("hcloud", "serverType"), `'${type}' is not a Hetzner Cloud server type in the catalog.${didYouMean(type, Object.keys(HCLOUD_SERVER_TYPES))} Known: ${Object.keys(HCLOUD_SERVER_TYPES).join(", ")}. A type Hetzner added since goes into components/core/catalog.ts, with its source.`);
      return undefined;
    }
    if (knownLocation && !hcloudLocationsOffering(type).includes(location)) {
      out.error(at("hcloud", "serverType"), `${type} is not offered in ${location} (${HCLOUD_LOCATIONS[location].description}). Locations with ${type}: ${hcloudLocationsOffering(type).join(", ")}; or pick a ${HCLOUD_LOCATIONS[location].families.join("/")} type for ${location}.`);
      return undefined;
    }
    if (!knownLocation) return undefined;
    base = { ...HCLOUD_SERVER_TYPES[type] };
    if (host.hardware !== undefined) out.error(at("hardware"), `does not apply to hcloud hosts: the server type says what the machine is. Remove it.`);
    if (host.gpus !== undefined && host.gpus.length > 0) {
      out.error(at("gpus"), `Hetzner Cloud server types have no GPUs. A Hetzner GPU server (GEX44, GEX130) is a dedicated server: add it with ssh: { address } and hardware: gex44.`);
      return undefined;
    }
  } else if (host.hardware !== undefined) {
    if (isDedicatedMachineId(host.hardware)) {
      base = { ...DEDICATED_MACHINES[host.hardware] };
    } else {
      out.error(at("hardware"), `'${host.hardware}' is not in the catalog.${didYouMean(host.hardware, Object.keys(DEDICATED_MACHINES))} Known: ${Object.keys(DEDICATED_MACHINES).join(", ")}; or remove it and give cpu.cores, ramMiB and gpus.`);
      return undefined;
    }
  }

  const cores = host.cpu?.cores ?? base.cores;
  const ramMiB = host.ramMiB ?? base.ramMiB;
  if (cores === undefined) out.error(at("cpu", "cores"), `missing: give cpu: { cores: N } (what nproc prints on ${name}), or hardware: <catalog machine>.`);
  if (ramMiB === undefined) out.error(at("ramMiB"), `missing: give ramMiB (free -m's total on ${name}), or hardware: <catalog machine>.`);

  const gpus: GpuFacts[] = [];
  if (host.gpus !== undefined) {
    host.gpus.forEach((gpu, index) => {
      const resolved = resolveGpu(gpu.model, gpu.vramMiB, gpu.computeCapability, at("gpus", index), out);
      if (resolved !== undefined) gpus.push(resolved);
    });
    if (gpus.length !== host.gpus.length) return undefined;
  } else {
    for (const model of base.gpus) {
      const resolved = resolveGpu(model, undefined, undefined, at("hardware"), out);
      if (resolved !== undefined) gpus.push(resolved);
    }
  }
  if (cores === undefined || ramMiB === undefined) return undefined;
  const description =
    base.description === "custom"
      ? `${cores} cores, ${Math.round(ramMiB / 1024)} GiB${gpus.length > 0 ? `, ${gpus.map((g) => g.name).join(" + ")}` : ""}`
      : base.description;
  return { description, cores, ramMiB, gpus };
}

function resolveGpu(model: string | undefined, vramMiB: number | undefined, computeCapability: number | undefined, path: PathSegment[], out: DiagnosticList): GpuFacts | undefined {
  if (model !== undefined) {
    if (!isGpuModelId(model)) {
      const known = Object.keys(GPU_MODELS);
      if (vramMiB !== undefined && computeCapability !== undefined) {
        return { model, name: model, vramMiB, computeCapability };
      }
      out.error([...path, "model"], `'${model}' is not in the catalog.${didYouMean(model, known)} Known: ${known.join(", ")}; or give vramMiB and computeCapability for it.`);
      return undefined;
    }
    const entry = GPU_MODELS[model];
    return { model, name: entry.name, vramMiB: vramMiB ?? entry.vramMiB, computeCapability: computeCapability ?? entry.computeCapability };
  }
  if (vramMiB === undefined || computeCapability === undefined) {
    out.error(path, `give a catalog model (e.g. model: rtx-4090), or both vramMiB and computeCapability (nvidia-smi --query-gpu=memory.total,compute_cap --format=csv).`);
    return undefined;
  }
  return { model: "custom", name: "custom GPU", vramMiB, computeCapability };
}

function resolveNvidia(name: string, host: HostSpec, facts: MachineFacts, out: DiagnosticList): HostPlan["nvidia"] {
  const at = (...rest: PathSegment[]): PathSegment[] => ["hosts", name, "nvidia", ...rest];
  const hasGpus = facts.gpus.length > 0;
  // Never touch a driver unless told to: desktops and laptops keep theirs.
  const driver: DriverMode = host.nvidia?.driver ?? (hasGpus ? "preinstalled" : "none");
  if (!hasGpus && driver !== "none") {
    out.error(at("driver"), `is ${driver}, but ${name} has no GPU. Declare its gpus, or remove nvidia.`);
    return { driver: "none", branch: null, modules: null };
  }
  if (driver !== "managed") {
    if (host.nvidia?.branch !== undefined) out.warning(at("branch"), `is ignored: the driver is ${driver}, so gpu-fleet installs none.`);
    return { driver, branch: null, modules: null };
  }
  const branch = host.nvidia?.branch ?? DEFAULT_DRIVER_BRANCH;
  const preTuring = facts.gpus.filter((g) => g.computeCapability < COMPUTE.turing);
  const oldest = preTuring[0];
  if (oldest !== undefined && Number(branch) > LAST_BRANCH_FOR_PRE_TURING) {
    out.error(at("branch"), `is ${branch}, but ${oldest.name} (compute ${oldest.computeCapability}) is supported only up to branch ${LAST_BRANCH_FOR_PRE_TURING}. Set nvidia.branch to "${LAST_BRANCH_FOR_PRE_TURING}".`);
  }
  // NVIDIA's open kernel modules support Turing and newer only.
  return { driver, branch, modules: preTuring.length > 0 ? "proprietary" : "open" };
}

// ---------------------------------------------------------------------------------------------
// Auto replicas and messages

interface GpuState {
  readonly name: string;
  readonly computeCapability: number;
  readonly capacityMiB: number;
  usedMiB: number;
  readonly clients: readonly unknown[];
  readonly cap: number;
}

/**
 * `replicas: auto` takes what the fixed replicas leave, shared equally among the host's auto
 * services: as many replicas as CPU threads, RAM and (for CUDA) VRAM and MPS clients allow.
 */
function resolveAutoReplicas(host: string, demands: Demand[], usableCores: number, usableRam: number, gpus: GpuState[], out: DiagnosticList): void {
  const autos = demands.filter((d) => d.replicas === undefined);
  if (autos.length === 0) return;
  const fixed = demands.filter((d) => d.replicas !== undefined);
  const freeCores = usableCores - sum(fixed.map((d) => (d.replicas ?? 0) * d.threads));
  const freeRam = usableRam - sum(fixed.map((d) => (d.replicas ?? 0) * d.spec.ramMiB));
  // VRAM fixed replicas will take, spread the way placement spreads them.
  const fixedVram = sum(fixed.filter((d) => d.spec.device === "cuda").map((d) => (d.replicas ?? 0) * (d.spec.vramMiB ?? 0)));
  const fixedGpuClients = sum(fixed.filter((d) => d.spec.device === "cuda").map((d) => d.replicas ?? 0));
  const freeVramPerGpu = gpus.map((g) => g.capacityMiB - fixedVram / Math.max(1, gpus.length));
  const freeClientsPerGpu = gpus.map((g) => g.cap - fixedGpuClients / Math.max(1, gpus.length));
  const cudaAutos = autos.filter((d) => d.spec.device === "cuda").length;

  for (const demand of autos) {
    const byCpu = Math.floor(Math.max(0, freeCores) / autos.length / demand.threads);
    const byRam = Math.floor(Math.max(0, freeRam) / autos.length / demand.spec.ramMiB);
    let replicas = Math.min(byCpu, byRam);
    if (demand.spec.device === "cuda") {
      const vram = demand.spec.vramMiB ?? 1;
      const byGpu = sum(
        freeVramPerGpu.map((free, i) => Math.min(Math.floor(Math.max(0, free) / cudaAutos / vram), Math.floor(Math.max(0, freeClientsPerGpu[i]) / cudaAutos))),
      );
      replicas = Math.min(replicas, byGpu);
    }
    if (replicas < 1) {
      out.error(["hosts", host, "workers", demand.service, "replicas"], `is auto, but ${host} has no room left for one ${demand.service} worker (${demand.threads} threads, ${demand.spec.ramMiB} MiB RAM${demand.spec.device === "cuda" ? `, ${demand.spec.vramMiB} MiB VRAM` : ""}). Lower the other workers on ${host}, or remove ${demand.service} from it.`);
      demand.replicas = 0;
    } else {
      demand.replicas = replicas;
    }
  }
}

function describeDemands(demands: readonly Demand[], each: (d: Demand) => string): string {
  return demands.filter((d) => (d.replicas ?? 0) > 0).map((d) => `${d.service} ${each(d)}`).join(" + ");
}

/** "Lower kokoro replicas on gex44-1 to 6, or its threads to 1." for the largest consumer. */
function fixFor(host: string, demands: readonly Demand[], budget: number, unit: (d: Demand) => number, field: "threads" | "ramMiB"): string {
  const total = (d: Demand): number => (d.replicas ?? 0) * unit(d);
  const largest = [...demands].sort((a, b) => total(b) - total(a))[0];
  if (largest === undefined) return "";
  const others = sum(demands.map(total)) - total(largest);
  const room = budget - others;
  const maxReplicas = Math.max(0, Math.floor(room / unit(largest)));
  const options = [`lower ${largest.service} replicas on ${host} to ${maxReplicas}`];
  const maxPerReplica = largest.replicas ? Math.floor(room / largest.replicas) : 0;
  if (maxPerReplica >= 1 && maxPerReplica < unit(largest)) {
    options.push(field === "threads" ? `its threads to ${maxPerReplica}` : `services.${largest.service}.ramMiB to ${maxPerReplica} if its workers really use less`);
  }
  return sentence(options.join(", or "));
}

function noGpuRoomMessage(host: string, demand: Demand, placed: number, vram: number, gpus: readonly GpuState[], mps: HostSpec["mps"]): string {
  const state = gpus
    .map((g, i) => {
      const free = g.capacityMiB - g.usedMiB;
      const full = g.clients.length >= g.cap ? `, already ${g.clients.length} MPS clients (the most ${g.name} takes)` : "";
      return `GPU ${i} (${g.name}) has ${free} of ${g.capacityMiB} MiB usable free${full}`;
    })
    .join("; ");
  const options = [`lower ${demand.service} replicas on ${host} to ${placed}`];
  if (gpus.some((g) => g.clients.length >= g.cap) && mps !== "off") options.push(`set mps: off on ${host}`);
  else options.push(`lower services.${demand.service}.vramMiB if its workers really use less`);
  return `replica ${placed + 1} of ${demand.service} (${vram} MiB VRAM) fits on no GPU: ${state}. ${sentence(options.join(", or "))}`;
}

function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
