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
import { DEFAULT_WORKER_UID, type HealthcheckSpec, type HostSpec, type PlannerInput, type SecretRef, type ServiceSpec, type TunedSpec } from "./schema";

/** Where the MPS daemon and its clients meet; off the default /tmp/nvidia-mps on purpose. */
export const MPS_PIPE_DIRECTORY = "/run/gpu-fleet/mps";
export const MPS_LOG_DIRECTORY = "/var/log/gpu-fleet/mps";
/** Where time-shared workers keep their VRAM leases (scripts/lease/, docs/timeshare.md); mounted at the same path. */
export const LEASE_DIRECTORY = "/run/gpu-fleet/leases";
export const DEFAULT_IDLE_UNLOAD_SECONDS = 120;

/** When a worker holds its VRAM: always, from its first job until idle, or while an operator has it started. */
export type Residency = "resident" | "onDemand" | "manual";
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
  /** The most VRAM the workers can hold at one moment: residentMiB + the largest on-demand load. */
  readonly usedMiB: number;
  /** VRAM of the resident workers, held all the time. */
  readonly residentMiB: number;
  /** The largest onDemand or manual worker placed here, or null when none is. */
  readonly largestOnDemand: { readonly service: string; readonly vramMiB: number } | null;
  /** Sum of the onDemand and manual workers' VRAM; may exceed what they can hold at once. */
  readonly onDemandTotalMiB: number;
  /** What onDemand and manual workers may hold at once under leases: usable VRAM − residentMiB. */
  readonly leaseCapacityMiB: number;
  /** Usable VRAM − usedMiB: what stays free at the fullest moment. */
  readonly headroomMiB: number;
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
  /** resident for CPU workers. */
  readonly residency: Residency;
  /** The host's lease directory to mount, for onDemand and manual workers; null otherwise. */
  readonly leaseDirectory: string | null;
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

/** Where a service's replicas and threads on a host came from: the stack (`fixed`), the planner (`auto`), or a recorded measurement (`tuned`, with its date). */
export type ReplicaSource = { readonly kind: "fixed" } | { readonly kind: "auto" } | { readonly kind: "tuned"; readonly at: string };

export function describeSource(source: ReplicaSource): string {
  return source.kind === "tuned" ? `tuned ${source.at}` : source.kind;
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
  /** Per service on this host: where its replicas and threads came from. */
  readonly sources: Readonly<Record<string, ReplicaSource>>;
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
 * starts), so two versions never share a GPU's memory. A lane is a chain on ONE host: each worker
 * waits (dependsOn) for the previous worker's health gate. Lanes never cross hosts, because the
 * engine skips every dependent of a failed resource: a chain through a down host would stop the
 * other hosts' rollouts (docs/rollouts.md). The fleet-wide budget, `maxUnavailable`, is therefore
 * split among the hosts running the service: each gets at least one lane, the rest go one by one
 * to the host with the most workers per lane. At most the sum, maxUnavailable, is down at once.
 */
function planRollout(hosts: HostPlan[], input: PlannerInput, out: DiagnosticList): HostPlan[] {
  const after = new Map<string, string>();
  // Pulumi replaces only the workers it deploys; a join host restarts its own with join-fleet.sh.
  const deployed = hosts.filter((h) => h.kind !== "join");
  const services = [...new Set(deployed.flatMap((h) => h.workers.map((w) => w.service)))];
  for (const service of services) {
    const perHost = deployed
      .map((h) => ({ host: h.name, workers: h.workers.filter((w) => w.service === service).sort((a, b) => a.replica - b.replica) }))
      .filter((h) => h.workers.length > 0);
    const lanes = rolloutLanes(service, perHost.map((h) => h.workers.length), input.services[service]?.maxUnavailable, out);
    perHost.forEach((h, index) => {
      const count = lanes[index] ?? 1;
      h.workers.forEach((worker, i) => {
        if (i >= count) after.set(worker.name, h.workers[i - count].name);
      });
    });
  }
  return hosts.map((h) => ({ ...h, workers: h.workers.map((w) => ({ ...w, rolloutAfter: after.get(w.name) ?? null })) }));
}

/**
 * Lanes per host for one service, given its worker count on each host (in host order) and its
 * `maxUnavailable`. Default budget: a quarter of the workers, but at least one per host.
 */
export function rolloutLanes(service: string, workersPerHost: readonly number[], maxUnavailable: number | undefined, out: DiagnosticList): number[] {
  const total = workersPerHost.reduce((a, b) => a + b, 0);
  const hostCount = workersPerHost.length;
  const path = ["services", service, "maxUnavailable"];
  if (total > 1 && hostCount >= total) {
    out.warning(path, `${service} has one worker on each of its ${hostCount} hosts, and hosts roll independently (a down host must not block the others): an image change restarts all ${total} at once. Add a replica on one host, or roll host by host with \`pulumi up --target\` (docs/rollouts.md).`);
    return workersPerHost.map(() => 1);
  }
  if (maxUnavailable !== undefined && total > 1 && maxUnavailable >= total) {
    out.error(path, `is ${maxUnavailable}, but ${service} has ${total} workers: a rollout could stop all of them. Set it to at most ${total - 1}.`);
  } else if (maxUnavailable !== undefined && maxUnavailable < hostCount) {
    out.error(path, `is ${maxUnavailable}, but ${service} runs on ${hostCount} hosts, and each host rolls its own workers (a down host must not block the others), so ${hostCount} may be down at once. Set it to at least ${hostCount}, or run ${service} on fewer hosts.`);
  }
  const budget = Math.min(total, Math.max(maxUnavailable ?? Math.floor(total / 4), hostCount, 1));
  const lanes = workersPerHost.map(() => 1);
  for (let spare = budget - hostCount; spare > 0; spare--) {
    let best = -1;
    workersPerHost.forEach((n, i) => {
      if (lanes[i] >= n) return;
      if (best < 0 || n / lanes[i] > workersPerHost[best] / lanes[best]) best = i;
    });
    if (best < 0) break;
    lanes[best]++;
  }
  return lanes;
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
  /** `replicas: auto` without a usable tune record: sized from what the fixed replicas leave. */
  readonly auto: boolean;
  readonly source: ReplicaSource;
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
    const tuned = usableTuneRecord(name, service, worker, facts, out);
    const threads = tuned?.threads ?? worker.threads ?? spec.threads ?? input.defaults.threads;
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
    if (spec.device === "cuda" && spec.residency !== "resident" && worker.replicas === "auto") {
      out.error(at("workers", service, "replicas"), `is auto, but ${service} is ${spec.residency}: its workers share the GPU's VRAM by leases, so more replicas add no capacity. Give a number, e.g. replicas: 1.`);
      continue;
    }
    if (tuned !== undefined) {
      // A measured best is placed like fixed replicas: the other auto services share what it leaves.
      demands.push({ service, spec, threads, auto: false, source: { kind: "tuned", at: tuned.at }, replicas: tuned.replicas });
    } else {
      const auto = worker.replicas === "auto";
      demands.push({ service, spec, threads, auto, source: { kind: auto ? "auto" : "fixed" }, replicas: worker.replicas === "auto" ? undefined : worker.replicas });
    }
  }
  if (out.errors.length > errorsBefore) return undefined;

  const gpuState = facts.gpus.map((gpu) => ({
    ...gpu,
    capacityMiB: gpu.vramMiB - reserved.vramMiB,
    usedMiB: 0,
    residentMiB: 0,
    timeShared: [] as { service: string; vramMiB: number }[],
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

  // GPU placement: each replica goes to the GPU with the most free VRAM that takes it. The VRAM rule
  // per GPU: resident workers hold theirs all the time; onDemand and manual workers take turns under
  // leases, so only the largest of them adds to the peak: resident + largest on-demand ≤ usable.
  // Fixed replicas go first, residents before time-shared ones, so an on-demand service never pushes
  // a resident off a GPU; auto replicas (always resident) go last: they were sized from what the
  // fixed replicas leave on each GPU.
  const placements = new Map<string, (number | null)[]>();
  for (const demand of placementOrder(demands)) {
    const gpus: (number | null)[] = [];
    placements.set(demand.service, gpus);
    if (demand.spec.device === "cpu") {
      for (let r = 0; r < (demand.replicas ?? 0); r++) gpus.push(null);
      continue;
    }
    const vram = demand.spec.vramMiB ?? 0;
    const uid = demand.spec.user;
    const timeShared = isTimeShared(demand.spec);
    for (let r = 0; r < (demand.replicas ?? 0); r++) {
      const peakWith = (g: GpuState): number => (timeShared ? g.residentMiB + Math.max(largestLoad(g), vram) : g.residentMiB + vram + largestLoad(g));
      const candidates = gpuState
        .filter((g) => peakWith(g) <= g.capacityMiB && g.clients.length < g.cap)
        .sort((a, b) => b.capacityMiB - b.usedMiB - (a.capacityMiB - a.usedMiB));
      const chosen = candidates[0];
      if (chosen === undefined) {
        const message = timeShared && gpuState.every((g) => g.clients.length < g.cap)
          ? tooLargeAloneMessage(name, demand, vram, gpuState, reserved.vramMiB)
          : noGpuRoomMessage(name, demand, r, vram, gpuState, host.mps);
        out.error(at("workers", demand.service, "replicas"), message);
        break;
      }
      if (timeShared) chosen.timeShared.push({ service: demand.service, vramMiB: vram });
      else chosen.residentMiB += vram;
      chosen.usedMiB = chosen.residentMiB + largestLoad(chosen);
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
      residentMiB: g.residentMiB,
      largestOnDemand: largestTimeShared(g),
      onDemandTotalMiB: sum(g.timeShared.map((t) => t.vramMiB)),
      leaseCapacityMiB: g.capacityMiB - g.residentMiB,
      headroomMiB: g.capacityMiB - g.usedMiB,
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
    sources: Object.fromEntries(demands.map((d) => [d.service, d.source])),
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

/** The order placement places replicas in: fixed residents, fixed time-shared, then auto. */
function placementOrder(demands: readonly Demand[]): Demand[] {
  const rank = (d: Demand): number => (d.auto ? 2 : isTimeShared(d.spec) ? 1 : 0);
  return [...demands].sort((a, b) => rank(a) - rank(b));
}

function isTimeShared(spec: ServiceSpec): boolean {
  return spec.device === "cuda" && spec.residency !== "resident";
}

function largestTimeShared(g: { readonly timeShared: readonly { service: string; vramMiB: number }[] }): { service: string; vramMiB: number } | null {
  return g.timeShared.reduce<{ service: string; vramMiB: number } | null>((best, t) => (best === null || t.vramMiB > best.vramMiB ? t : best), null);
}

function largestLoad(g: GpuState): number {
  return largestTimeShared(g)?.vramMiB ?? 0;
}

function workerPlan(host: string, demand: Demand, replica: number, gpu: number | null, gpuPlan: GpuPlan | undefined, cpuSet: string | null): WorkerPlan {
  const { spec, service, threads } = demand;
  const name = `${host}-${service}-${replica}`;
  const residency: Residency = spec.device === "cuda" ? spec.residency : "resident";
  const leased = residency !== "resident" && gpuPlan !== undefined;
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
  // The lease contract (docs/timeshare.md): which GPU, how much to lease, out of how much, where.
  // Resident workers get none of it: no GPU_FLEET_RESIDENCY means resident, and existing workers'
  // env (which replaces containers when it changes) stays as it was.
  if (leased) {
    env.GPU_FLEET_RESIDENCY = residency;
    env.GPU_FLEET_GPU = String(gpuPlan.index);
    env.GPU_FLEET_VRAM_MIB = String(spec.vramMiB ?? 0);
    env.GPU_FLEET_LEASE_DIR = LEASE_DIRECTORY;
    env.GPU_FLEET_LEASE_CAPACITY_MIB = String(gpuPlan.leaseCapacityMiB);
    if (residency === "onDemand") env.GPU_FLEET_IDLE_UNLOAD_SECONDS = String(spec.idleUnloadSeconds ?? DEFAULT_IDLE_UNLOAD_SECONDS);
  }
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
    residency,
    leaseDirectory: leased ? LEASE_DIRECTORY : null,
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
  residentMiB: number;
  readonly timeShared: readonly { service: string; vramMiB: number }[];
  readonly clients: readonly unknown[];
  readonly cap: number;
}

/**
 * `replicas: auto` takes what the fixed (and tuned) replicas leave, in two steps:
 *  1. Equal share: the free CPU threads, RAM and (for CUDA) each GPU's VRAM and MPS clients are split
 *     equally among the host's auto services; each gets as many whole workers as its share holds.
 *     Shares that placement cannot place together shrink, the largest first, one worker at a time.
 *  2. Remainder: then, round after round, each auto service in the host's order of `workers` gets
 *     one more worker if a whole one still fits (threads, RAM, and a GPU placed the way placement
 *     places it), until a round adds none. No whole worker that fits stays idle.
 * README, "What the planner checks", states the same rule.
 */
function resolveAutoReplicas(host: string, demands: Demand[], usableCores: number, usableRam: number, gpus: GpuState[], out: DiagnosticList): void {
  const autos = demands.filter((d) => d.replicas === undefined);
  if (autos.length === 0) return;
  const fixed = demands.filter((d) => d.replicas !== undefined);
  const freeCores = usableCores - sum(fixed.map((d) => (d.replicas ?? 0) * d.threads));
  const freeRam = usableRam - sum(fixed.map((d) => (d.replicas ?? 0) * d.spec.ramMiB));
  // What each GPU has left once the fixed replicas are placed the way placement places them
  // (residents first, then time-shared; most free VRAM first; resident + largest on-demand). An even
  // spread over the GPUs would overcount a GPU the fixed replicas fill.
  const afterFixed = simulateGpus(gpus, placementOrder(fixed), (d) => d.replicas ?? 0).sim;
  const freeVramPerGpu = afterFixed.map((g) => g.capacityMiB - g.residentMiB - g.largestMiB);
  const freeClientsPerGpu = afterFixed.map((g) => g.cap - g.clients);
  const cudaAutos = autos.filter((d) => d.spec.device === "cuda").length;

  // 1. Equal share.
  const counts = new Map<Demand, number>();
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
    counts.set(demand, replicas);
  }
  const count = (d: Demand): number => counts.get(d) ?? d.replicas ?? 0;
  const fits = (): boolean => {
    if (sum(demands.map((d) => count(d) * d.threads)) > usableCores) return false;
    if (sum(demands.map((d) => count(d) * d.spec.ramMiB)) > usableRam) return false;
    // Every auto replica must place after the fixed ones (a fixed replica that does not fit is placement's error).
    const { placed } = simulateGpus(gpus, placementOrder(demands), count);
    return autos.every((d) => d.spec.device !== "cuda" || placed.get(d) === count(d));
  };
  // Each GPU's share is counted apart, but placement puts every replica on the freest GPU, so the
  // shares may not place together (a small service's workers fill the large GPU a large one needed).
  // Then the largest share gives back one worker at a time (the later service on a tie) until they do.
  while (!fits()) {
    const largest = [...autos].reverse().reduce<Demand | undefined>((best, d) => (d.spec.device === "cuda" && count(d) > (best === undefined ? 0 : count(best)) ? d : best), undefined);
    if (largest === undefined) break;
    counts.set(largest, count(largest) - 1);
  }

  // 2. Remainder, one whole worker at a time.
  for (let added = true; added; ) {
    added = false;
    for (const demand of autos) {
      counts.set(demand, count(demand) + 1);
      if (fits()) added = true;
      else counts.set(demand, count(demand) - 1);
    }
  }

  for (const demand of autos) {
    const replicas = count(demand);
    if (replicas < 1) {
      out.error(["hosts", host, "workers", demand.service, "replicas"], `is auto, but ${host} has no room left for one ${demand.service} worker (${demand.threads} threads, ${demand.spec.ramMiB} MiB RAM${demand.spec.device === "cuda" ? `, ${demand.spec.vramMiB} MiB VRAM` : ""}). Lower the other workers on ${host}, or remove ${demand.service} from it.`);
      demand.replicas = 0;
    } else {
      demand.replicas = replicas;
    }
  }
}

/**
 * Places the CUDA replicas of `demands` (in the given order, `count` each) on copies of the GPUs the
 * way placement does: the GPU with the most free VRAM that takes the replica (resident + largest
 * on-demand within capacity, MPS clients under the cap). Returns the GPUs' state and how many
 * replicas of each demand were placed; a demand stops at its first replica that fits nowhere.
 */
function simulateGpus(gpus: readonly GpuState[], demands: readonly Demand[], count: (d: Demand) => number) {
  const sim = gpus.map((g) => ({ capacityMiB: g.capacityMiB, residentMiB: 0, largestMiB: 0, clients: 0, cap: g.cap }));
  const placed = new Map<Demand, number>();
  for (const demand of demands) {
    if (demand.spec.device !== "cuda") continue;
    const vram = demand.spec.vramMiB ?? 0;
    const timeShared = isTimeShared(demand.spec);
    let n = 0;
    for (let r = 0; r < count(demand); r++) {
      const peakWith = (g: (typeof sim)[number]): number => (timeShared ? g.residentMiB + Math.max(g.largestMiB, vram) : g.residentMiB + vram + g.largestMiB);
      const free = (g: (typeof sim)[number]): number => g.capacityMiB - g.residentMiB - g.largestMiB;
      const chosen = sim.filter((g) => peakWith(g) <= g.capacityMiB && g.clients < g.cap).sort((a, b) => free(b) - free(a))[0];
      if (chosen === undefined) break;
      if (timeShared) chosen.largestMiB = Math.max(chosen.largestMiB, vram);
      else chosen.residentMiB += vram;
      chosen.clients += 1;
      n++;
    }
    placed.set(demand, n);
  }
  return { sim, placed };
}

/**
 * The tune record of `service` on `host`, when plan should use it: replicas are auto, and the host's
 * cores and RAM are what they were when it was measured. Otherwise a warning and undefined.
 */
function usableTuneRecord(host: string, service: string, worker: HostSpec["workers"][string], facts: MachineFacts, out: DiagnosticList): TunedSpec | undefined {
  const tuned = worker.tuned;
  if (tuned === undefined) return undefined;
  const path = ["hosts", host, "workers", service, "tuned"];
  if (worker.replicas !== "auto") {
    out.warning(path, `is ignored: replicas is ${worker.replicas}, fixed. Set replicas: auto to use the measured ${tuned.replicas} × ${tuned.threads} threads, or remove tuned.`);
    return undefined;
  }
  if (tuned.cores !== facts.cores || tuned.ramMiB !== facts.ramMiB) {
    out.warning(path, `is ignored: it was measured on ${tuned.cores} cores and ${tuned.ramMiB} MiB, but ${host} now has ${facts.cores} cores and ${facts.ramMiB} MiB; auto applies. Run gpu-fleet tune again for ${service} on ${host}.`);
    return undefined;
  }
  return tuned;
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
      const largest = largestTimeShared(g);
      const kept = largest === null ? "" : ` (${g.residentMiB} MiB resident + ${largest.vramMiB} MiB kept for the largest on-demand load, ${largest.service})`;
      return `GPU ${i} (${g.name}) has ${free} of ${g.capacityMiB} MiB usable free${kept}${full}`;
    })
    .join("; ");
  const options = [`lower ${demand.service} replicas on ${host} to ${placed}`];
  if (gpus.some((g) => g.clients.length >= g.cap) && mps !== "off") options.push(`set mps: off on ${host}`);
  else options.push(`lower services.${demand.service}.vramMiB if its workers really use less`);
  return `replica ${placed + 1} of ${demand.service} (${vram} MiB VRAM) fits on no GPU: ${state}. ${sentence(options.join(", or "))}`;
}

/** An onDemand or manual worker that no GPU of the host can hold even when no other time-shared worker holds a lease. */
function tooLargeAloneMessage(host: string, demand: Demand, vram: number, gpus: readonly GpuState[], reservedMiB: number): string {
  const state = gpus
    .map((g, i) => {
      const room = g.capacityMiB - g.residentMiB;
      return `GPU ${i} (${g.name}) has ${g.capacityMiB} MiB usable (${g.capacityMiB + reservedMiB} − ${reservedMiB} reserved)${g.residentMiB > 0 ? `, ${g.residentMiB} MiB of it held by resident workers` : ""}, so at most ${room} MiB for one on-demand or manual load, ${vram - room} MiB short`;
    })
    .join("; ");
  const service = demand.service;
  const options = [`lower services.${service}.vramMiB if its workers really use less`];
  if (gpus.some((g) => g.residentMiB > 0)) options.push(`make a resident service on ${host} onDemand`);
  options.push(`run ${service} on a host with a larger GPU`);
  return `${service} (${demand.spec.residency}, ${vram} MiB VRAM) does not fit on ${host} even alone: ${state}. ${sentence(options.join(", or "))}`;
}

function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
