// What `gpu-fleet plan` prints: a table per host for people, and a stable JSON shape for tools.
// Pure: returns text and data, the caller prints.

import type { Diagnostic } from "./diagnostics";
import type { PipelineResult } from "./pipeline";
import { describeSource, type HostPlan, type WorkerPlan } from "./planner";

export interface PlanJson {
  hosts: {
    name: string;
    kind: HostPlan["kind"];
    machine: string;
    cpu: { cores: number; threads: number; reserved: number };
    ramMiB: { total: number; used: number; reserved: number };
    gpus: {
      index: number;
      model: string;
      computeCapability: number;
      vramMiB: number;
      usedMiB: number;
      mps: boolean;
      /** VRAM of the resident workers; with the largest on-demand load, it makes usedMiB. */
      residentMiB: number;
      largestOnDemand: { service: string; vramMiB: number } | null;
      /** Usable VRAM (vramMiB − reserve) − usedMiB. */
      headroomMiB: number;
    }[];
    workers: { service: string; replica: number; threads: number; device: "cuda" | "cpu"; gpu: number | null; residency: WorkerPlan["residency"] }[];
    /** Per service: where its replicas and threads came from: `fixed`, `auto` or `tuned <date>`. */
    sources: Record<string, string>;
    nvidia: HostPlan["nvidia"];
  }[];
  errors: { host: string | null; path: string; message: string }[];
  warnings: { host: string | null; path: string; message: string }[];
}

export function planJson(result: PipelineResult): PlanJson {
  const diagnostic = (d: Diagnostic): PlanJson["errors"][number] => ({ host: d.host, path: d.path, message: d.message });
  return {
    hosts: result.plan.hosts.map((h) => ({
      name: h.name,
      kind: h.kind,
      machine: h.machine,
      cpu: { cores: h.cpu.cores, threads: h.cpu.threads, reserved: h.cpu.reserved },
      ramMiB: { total: h.ramMiB.total, used: h.ramMiB.used, reserved: h.ramMiB.reserved },
      gpus: h.gpus.map((g) => ({
        index: g.index,
        model: g.model,
        computeCapability: g.computeCapability,
        vramMiB: g.vramMiB,
        usedMiB: g.usedMiB,
        mps: g.mps,
        residentMiB: g.residentMiB,
        largestOnDemand: g.largestOnDemand === null ? null : { ...g.largestOnDemand },
        headroomMiB: g.headroomMiB,
      })),
      workers: h.workers.map((w) => ({ service: w.service, replica: w.replica, threads: w.threads, device: w.device, gpu: w.gpu, residency: w.residency })),
      sources: Object.fromEntries(Object.entries(h.sources).map(([service, source]) => [service, describeSource(source)])),
      nvidia: h.nvidia,
    })),
    errors: result.errors.map(diagnostic),
    warnings: result.warnings.map(diagnostic),
  };
}

export function planTable(result: PipelineResult): string {
  const lines: string[] = [];
  for (const host of result.plan.hosts) {
    const kind = { ssh: "ssh", hcloud: "Hetzner Cloud", join: "joins itself" }[host.kind];
    lines.push(`${host.name}  (${kind})  ${host.machine}`);
    lines.push(row("CPU", `${host.cpu.threads}/${host.cpu.usable} threads  (${host.cpu.cores} cores, ${host.cpu.reserved} reserved)`));
    lines.push(row("RAM", `${mib(host.ramMiB.used)}/${mib(host.ramMiB.total - host.ramMiB.reserved)}  (${mib(host.ramMiB.total)}, ${mib(host.ramMiB.reserved)} reserved)`));
    for (const gpu of host.gpus) {
      const mps = gpu.mps ? (gpu.mpsLimits ? "MPS on, per-client limits" : "MPS on, no limits (pre-Volta)") : "MPS off";
      lines.push(row(`GPU ${gpu.index}`, `${gpu.name}  cc ${gpu.computeCapability.toFixed(1)}  VRAM ${mib(gpu.usedMiB)}/${mib(gpu.vramMiB - gpu.reservedMiB)}  ${gpu.clients} workers  ${mps}`));
      const largest = gpu.largestOnDemand === null ? "none" : `${mib(gpu.largestOnDemand.vramMiB)} (${gpu.largestOnDemand.service})`;
      const turns = gpu.largestOnDemand === null ? "" : `; on-demand total ${mib(gpu.onDemandTotalMiB)}, leased in turns`;
      lines.push(row("", `resident ${mib(gpu.residentMiB)} + largest on-demand ${largest}, headroom ${mib(gpu.headroomMiB)}${turns}`));
    }
    if (host.nvidia.driver !== "none") {
      lines.push(row("driver", host.nvidia.driver === "managed" ? `managed, branch ${host.nvidia.branch}, ${host.nvidia.modules} modules` : host.nvidia.driver));
    }
    const groups = new Map<string, { count: number; threads: number; device: string; gpus: Set<string>; residency: string }>();
    for (const w of host.workers) {
      const key = `${w.service}/${w.threads}`;
      const residency = w.residency === "onDemand" ? `  onDemand, unloads after ${w.env.GPU_FLEET_IDLE_UNLOAD_SECONDS} s idle` : w.residency === "manual" ? "  manual, created stopped" : "";
      const group = groups.get(key) ?? { count: 0, threads: w.threads, device: w.device, gpus: new Set<string>(), residency };
      group.count++;
      group.gpus.add(w.gpu === null ? "CPU" : `GPU ${w.gpu}`);
      groups.set(key, group);
    }
    let label = "workers";
    if (groups.size === 0) lines.push(row(label, "none"));
    for (const [key, g] of groups) {
      const service = key.split("/")[0];
      const source = host.sources[service];
      lines.push(row(label, `${service} × ${g.count}  × ${g.threads} threads  ${g.device} → ${[...g.gpus].join(", ")}${g.residency}  (${source === undefined ? "fixed" : describeSource(source)})`));
      label = "";
    }
    lines.push("");
  }
  lines.push(...diagnosticLines(result.errors, result.warnings));
  const summary = `${result.plan.hosts.length} host${result.plan.hosts.length === 1 ? "" : "s"} planned, ${result.plan.hosts.reduce((n, h) => n + h.workers.length, 0)} workers; ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}, ${result.warnings.length} warning${result.warnings.length === 1 ? "" : "s"}`;
  lines.push(summary);
  return lines.join("\n");
}

/** Diagnostics shown before the rest are counted: a screen's worth, with the headings. */
export const SCREENFUL = 20;

/**
 * Errors (✗) and warnings (!) grouped by where they are: fleet-wide first, then each host under a
 * `host <name>` heading, hosts in the order their first problem was found, errors before warnings.
 * At most `limit` diagnostics; then a line counting the rest (`--json` has them all).
 */
export function diagnosticLines(errors: readonly Diagnostic[], warnings: readonly Diagnostic[], limit = SCREENFUL): string[] {
  const groups = new Map<string | null, Diagnostic[]>([[null, []]]);
  for (const d of [...errors, ...warnings]) groups.set(d.host, [...(groups.get(d.host) ?? []), d]);
  const lines: string[] = [];
  let shown = 0;
  for (const [host, items] of groups) {
    if (items.length === 0 || shown >= limit) continue;
    const count = (severity: Diagnostic["severity"]): string => {
      const n = items.filter((d) => d.severity === severity).length;
      return n === 0 ? "" : `${n} ${severity}${n === 1 ? "" : "s"}`;
    };
    if (host !== null) lines.push(`host ${host}: ${[count("error"), count("warning")].filter((c) => c !== "").join(", ")}`);
    for (const d of items.slice(0, limit - shown)) lines.push(`${d.severity === "error" ? "✗" : "!"} ${where(d)}${d.message}`);
    shown += Math.min(items.length, limit - shown);
  }
  const total = errors.length + warnings.length;
  if (total > shown) {
    const hiddenErrors = Math.max(0, errors.length - lines.filter((l) => l.startsWith("✗ ")).length);
    const hiddenWarnings = total - shown - hiddenErrors;
    const parts = [hiddenErrors > 0 ? `${hiddenErrors} more error${hiddenErrors === 1 ? "" : "s"}` : "", hiddenWarnings > 0 ? `${hiddenWarnings} more warning${hiddenWarnings === 1 ? "" : "s"}` : ""];
    lines.push(`… and ${parts.filter((p) => p !== "").join(" and ")} not shown; --json lists them all.`);
  }
  return lines;
}

function where(d: Diagnostic): string {
  return d.path === "" ? "" : `${d.path}: `;
}

function row(label: string, text: string): string {
  return `  ${label.padEnd(8)} ${text}`;
}

function mib(value: number): string {
  return value >= 10240 ? `${(value / 1024).toFixed(1)} GiB` : `${value} MiB`;
}
