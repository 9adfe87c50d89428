// What `gpu-fleet status` makes of one host: the probe's sections (scripts/status-probe.sh) read and
// compared with the plan. Pure: text in, status out; the command does the SSH.

import type { HostPlan, WorkerPlan } from "../../components/core/planner";

export interface GpuProcessStatus {
  readonly pid: number;
  /** The worker's service, or null for a process of no fleet container. */
  readonly service: string | null;
  /** The container's name, or null when the process runs outside a container of this fleet. */
  readonly container: string | null;
  readonly memoryMiB: number | null;
}

export interface GpuStatus {
  readonly index: number;
  readonly name: string;
  readonly memoryUsedMiB: number | null;
  readonly memoryTotalMiB: number | null;
  readonly utilizationPercent: number | null;
  readonly processes: GpuProcessStatus[];
}

export interface ServiceStatus {
  readonly planned: number;
  running: number;
  healthy: number;
}

/** The `--json` shape of one host (issue 11). */
export interface HostStatus {
  readonly name: string;
  readonly reachable: boolean;
  readonly error: string | null;
  readonly gpus: GpuStatus[];
  readonly mps: { readonly active: boolean };
  readonly services: Record<string, ServiceStatus>;
  readonly drift: string[];
}

/** What the human table shows besides the JSON shape. */
export interface HostDetails {
  readonly driver: string | null;
  readonly cuda: string | null;
  readonly tailscale: string;
  readonly redis: string;
}

export interface ProbeInput {
  readonly host: HostPlan;
  /** Tags the host must carry on the tailnet. */
  readonly tags: readonly string[];
  readonly redis: { readonly host: string; readonly port: number };
  /** `<role>.sh` → sha256 of the repository's copy, for the roles this host runs (none for join hosts). */
  readonly roleScripts: Readonly<Record<string, string>>;
}

/** The container a planned worker runs in (components/Workers.ts, join-fleet.sh). */
export function containerName(w: Pick<WorkerPlan, "service" | "replica">): string {
  return `${w.service}-${w.replica}`;
}

/** The env var names the probe may bring back: only those the plan sets, never secrets. */
export function plannedEnvNames(host: HostPlan): string[] {
  return [...new Set(host.workers.flatMap((w) => Object.keys(w.env)))].filter((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n)).sort();
}

/** The `docker inspect --format` template: one JSON line per container, env filtered to `names`. */
export function inspectTemplate(names: readonly string[]): string {
  const env = names.length === 0 ? "" : `{{range .Config.Env}}{{if eq (index (split . "=") 0) ${names.map((n) => JSON.stringify(n)).join(" ")}}}{{json .}},{{end}}{{end}}`;
  return (
    // .State whole: a container without a health check has no .State.Health, and naming it fails the template.
    `{"id":{{json .Id}},"name":{{json .Name}},"image":{{json .Config.Image}},"imageId":{{json .Image}},"state":{{json .State}},` +
    `"labels":{{json .Config.Labels}},"env":[${env}null]}`
  );
}

interface ContainerLine {
  id: string;
  name: string;
  image: string;
  imageId: string;
  state: { Status?: string; Health?: { Status?: string } | null } | null;
  labels: Record<string, string> | null;
  env: (string | null)[];
}

/** The probe's output split into sections. */
export function sections(stdout: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("@@")) {
      current = [];
      out.set(line.slice(2).trim(), current);
    } else if (current !== undefined && line.trim() !== "") {
      current.push(line);
    }
  }
  return out;
}

const num = (text: string | undefined): number | null => {
  const value = Number((text ?? "").trim());
  return (text ?? "").trim() === "" || !Number.isFinite(value) ? null : value;
};

export function unreachable(name: string, error: string): HostStatus {
  return { name, reachable: false, error, gpus: [], mps: { active: false }, services: {}, drift: [] };
}

/** Reads a complete probe output and compares it with the plan. */
export function evaluate(input: ProbeInput, stdout: string): { status: HostStatus; details: HostDetails } {
  const { host } = input;
  const s = sections(stdout);
  const drift: string[] = [];
  const get = (name: string): string[] => s.get(name) ?? [];

  // Containers of this fleet on the host.
  const containers: ContainerLine[] = [];
  let dockerNote: string | null = null;
  for (const line of get("containers")) {
    if (line === "@absent") dockerNote = "docker is not installed";
    else if (line.startsWith("@error")) dockerNote = `docker: ${line.slice("@error".length).trim()}`;
    else {
      try {
        containers.push(JSON.parse(line) as ContainerLine);
      } catch {
        dockerNote = `docker: ${line.trim()}`;
      }
    }
  }
  if (dockerNote !== null && host.workers.length > 0) drift.push(dockerNote);
  const repoTags = new Map<string, string[]>();
  for (const line of get("images")) {
    const space = line.indexOf(" ");
    try {
      repoTags.set(line.slice(0, space), (JSON.parse(line.slice(space + 1)) as string[] | null) ?? []);
    } catch {
      // an image that vanished between the two docker calls: no tags known
    }
  }
  const nameOf = (c: ContainerLine): string => c.name.replace(/^\//, "");

  // GPUs, their processes and the containers those run in.
  const byId = new Map(containers.map((c) => [c.id, c]));
  const containerOfPid = new Map<number, ContainerLine | undefined>();
  for (const line of get("cgroups")) {
    const [pid, ...ids] = line.trim().split(/\s+/);
    containerOfPid.set(Number(pid), ids.map((id) => byId.get(id)).find((c) => c !== undefined));
  }
  const gpuLines = get("gpus").filter((l) => !l.startsWith("@"));
  const uuidToIndex = new Map<string, number>();
  let driver: string | null = null;
  const gpus: GpuStatus[] = [];
  for (const line of gpuLines) {
    const [index, name, used, total, util, uuid, driverVersion] = line.split(",").map((f) => f.trim());
    if (num(index) === null) {
      drift.push(`nvidia-smi: ${line.trim()}`);
      continue;
    }
    uuidToIndex.set(uuid ?? "", Number(index));
    driver = driverVersion ?? driver;
    gpus.push({ index: Number(index), name: name ?? "", memoryUsedMiB: num(used), memoryTotalMiB: num(total), utilizationPercent: num(util), processes: [] });
  }
  for (const line of get("apps")) {
    const [pid, uuid, used] = line.split(",").map((f) => f.trim());
    const gpu = gpus.find((g) => g.index === uuidToIndex.get(uuid ?? ""));
    if (gpu === undefined || num(pid) === null) continue;
    const c = containerOfPid.get(Number(pid));
    gpu.processes.push({ pid: Number(pid), service: c?.labels?.["gpu-fleet.service"] ?? null, container: c === undefined ? null : nameOf(c), memoryMiB: num(used) });
  }
  if (host.gpus.length > 0) {
    if (get("gpus").includes("@absent")) drift.push(`nvidia-smi is not installed, but the plan has ${host.gpus.length} GPU${host.gpus.length === 1 ? "" : "s"}`);
    else if (gpus.length < host.gpus.length) drift.push(`${gpus.length} GPU${gpus.length === 1 ? "" : "s"} visible, the plan has ${host.gpus.length}`);
  }
  if (host.nvidia.driver === "managed" && host.nvidia.branch !== null && driver !== null && driver.split(".")[0] !== host.nvidia.branch) {
    drift.push(`driver ${driver} is not of the planned branch ${host.nvidia.branch}`);
  }

  // MPS.
  const mpsActive = get("mps")[0]?.trim() === "active";
  if (host.mps.enabled && !mpsActive) drift.push("MPS is planned but its daemon (gpu-fleet-mps.service) is not active");
  if (!host.mps.enabled && mpsActive) drift.push("MPS is active but the plan has it off");

  // Services: planned, running, healthy; containers that differ from the plan or should not be there.
  const services: Record<string, ServiceStatus> = {};
  for (const w of host.workers) {
    const service = (services[w.service] ??= { planned: 0, running: 0, healthy: 0 });
    (service as { planned: number }).planned++;
  }
  const planned = new Map(host.workers.map((w) => [containerName(w), w]));
  const seen = new Set<string>();
  for (const c of containers) {
    const name = nameOf(c);
    const labels = c.labels ?? {};
    const w = labels["gpu-fleet.host"] === host.name ? planned.get(`${labels["gpu-fleet.service"]}-${labels["gpu-fleet.replica"]}`) : undefined;
    if (w === undefined || seen.has(containerName(w))) {
      drift.push(`${name}: a container of this fleet that the plan does not have here (${c.state?.Status ?? "unknown"})`);
      continue;
    }
    seen.add(containerName(w));
    const state = c.state?.Status ?? "unknown";
    const health = c.state?.Health?.Status ?? null;
    const running = state === "running";
    const healthy = running && (health === null || health === "healthy");
    const service = services[w.service];
    if (service !== undefined) {
      if (running) service.running++;
      if (healthy) service.healthy++;
    }
    if (!running) drift.push(`${name}: ${state}, planned running`);
    else if (!healthy) drift.push(`${name}: ${health ?? "unhealthy"}`);
    if (c.image !== w.image && !(repoTags.get(c.imageId) ?? []).includes(w.image)) {
      const tags = repoTags.get(c.imageId) ?? [];
      drift.push(`${name}: runs ${tags.length > 0 ? tags.join(", ") : c.image}, planned ${w.image}`);
    }
    const env = new Map<string, string>();
    for (const entry of c.env) {
      if (entry === null) continue;
      const eq = entry.indexOf("=");
      env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    const threads = env.get("OMP_NUM_THREADS");
    if (threads !== String(w.threads)) drift.push(`${name}: ${threads === undefined ? "no thread setting" : `${threads} threads`}, planned ${w.threads}`);
    const differing = Object.entries(w.env).filter(([k, v]) => k !== "OMP_NUM_THREADS" && env.get(k) !== v).map(([k]) => k);
    if (differing.length > 0) drift.push(`${name}: env differs from the plan in ${differing.join(", ")}`);
  }
  for (const [name, w] of planned) if (!seen.has(name)) drift.push(`${name}: missing (planned ${w.service} replica ${w.replica})`);

  // Roles set up on the host: the copies of the role scripts must be the repository's.
  const onHost = new Map<string, string>();
  for (const line of get("roles")) {
    const [hash, path] = line.trim().split(/\s+/);
    if (hash !== undefined && path !== undefined) onHost.set(path.slice(path.lastIndexOf("/") + 1), hash);
  }
  for (const [script, hash] of Object.entries(input.roleScripts)) {
    const there = onHost.get(script);
    if (there === undefined) drift.push(`role ${script.replace(/\.sh$/, "")}: not set up (no ~/.gpu-fleet/roles/${script})`);
    else if (there !== hash) drift.push(`role ${script.replace(/\.sh$/, "")}: the host has another version than scripts/roles/${script}`);
  }

  // Tailnet membership and Redis.
  let tailscale: string;
  const ts = get("tailscale")[0] ?? "@absent";
  if (ts === "@absent") {
    tailscale = "not installed";
    drift.push("tailscale is not installed");
  } else {
    try {
      const st = JSON.parse(ts) as { BackendState?: string; Self?: { Tags?: string[] | null; Online?: boolean } };
      const tags = st.Self?.Tags ?? [];
      const missing = input.tags.filter((t) => !tags.includes(t));
      tailscale = st.BackendState === "Running" ? `up${tags.length > 0 ? `, ${tags.join(" ")}` : ""}` : `${st.BackendState ?? "unknown"}`;
      if (st.BackendState !== "Running") drift.push(`tailscale is ${st.BackendState ?? "in an unknown state"}, not up`);
      else if (missing.length > 0) drift.push(`tailscale is up without the planned tag${missing.length === 1 ? "" : "s"} ${missing.join(" ")}`);
    } catch {
      tailscale = "unreadable";
      drift.push(`tailscale status: ${ts.slice(0, 120)}`);
    }
  }
  const redisOk = get("redis")[0]?.trim() === "reachable";
  const redis = `${input.redis.host}:${input.redis.port} ${redisOk ? "reachable" : "unreachable"}`;
  if (!redisOk) drift.push(`redis ${input.redis.host}:${input.redis.port} is unreachable from the host`);

  const cuda = get("cuda")[0]?.trim() || null;
  return {
    status: { name: host.name, reachable: true, error: null, gpus, mps: { active: mpsActive }, services, drift },
    details: { driver, cuda, tailscale, redis },
  };
}

/** The `--json` document: exactly the issue's shape, key order included. */
export function statusJson(hosts: readonly HostStatus[]): { hosts: HostStatus[] } {
  return {
    hosts: hosts.map((h) => ({
      name: h.name,
      reachable: h.reachable,
      error: h.error,
      gpus: h.gpus.map((g) => ({
        index: g.index,
        name: g.name,
        memoryUsedMiB: g.memoryUsedMiB,
        memoryTotalMiB: g.memoryTotalMiB,
        utilizationPercent: g.utilizationPercent,
        processes: g.processes.map((p) => ({ pid: p.pid, service: p.service, container: p.container, memoryMiB: p.memoryMiB })),
      })),
      mps: { active: h.mps.active },
      services: Object.fromEntries(Object.entries(h.services).map(([k, v]) => [k, { planned: v.planned, running: v.running, healthy: v.healthy }])),
      drift: [...h.drift],
    })),
  };
}

/** The human table; `colour` adds ANSI colours (only on a terminal). */
export function statusTable(hosts: readonly { status: HostStatus; details: HostDetails | null }[], colour: boolean): string {
  const paint = (code: number, text: string): string => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
  const red = (t: string): string => paint(31, t);
  const green = (t: string): string => paint(32, t);
  const lines: string[] = [];
  for (const { status: h, details: d } of hosts) {
    if (!h.reachable) {
      lines.push(`${h.name}  ${red("unreachable")}  ${h.error ?? ""}`, "");
      continue;
    }
    const facts = [d?.driver ? `driver ${d.driver}` : "no driver", d?.cuda ? `CUDA ${d.cuda}` : null, `MPS ${h.mps.active ? "active" : "off"}`, `tailscale ${d?.tailscale ?? "?"}`, `redis ${d?.redis ?? "?"}`];
    lines.push(`${h.name}  ${h.drift.length === 0 ? green("ok") : red(`${h.drift.length} drift`)}  ${facts.filter((f) => f !== null).join("  ")}`);
    for (const g of h.gpus) {
      const mem = `${g.memoryUsedMiB ?? "?"}/${g.memoryTotalMiB ?? "?"} MiB`;
      lines.push(`  GPU ${g.index}  ${g.name}  ${mem}  ${g.utilizationPercent === null ? "?" : `${g.utilizationPercent}%`}`);
      for (const p of g.processes) {
        lines.push(`      pid ${p.pid}  ${p.memoryMiB ?? "?"} MiB  ${p.container === null ? "(not a fleet container)" : `${p.service ?? "?"}  ${p.container}`}`);
      }
    }
    for (const [name, s] of Object.entries(h.services)) {
      const text = `${name}  ${s.running}/${s.planned} running, ${s.healthy} healthy`;
      lines.push(`  service ${s.running === s.planned && s.healthy === s.planned ? text : red(text)}`);
    }
    for (const item of h.drift) lines.push(`  ${red("✗")} ${item}`);
    lines.push("");
  }
  const down = hosts.filter((h) => !h.status.reachable).length;
  const drifting = hosts.filter((h) => h.status.reachable && h.status.drift.length > 0).length;
  lines.push(`${hosts.length} host${hosts.length === 1 ? "" : "s"}: ${hosts.length - down - drifting} as planned, ${drifting} drifting, ${down} unreachable`);
  return lines.join("\n");
}
