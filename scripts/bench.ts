// npm run bench [-- --synth 100,300,1000 --plan 100,1000,10000 --diff 1000 --json]
// Plan, synth and diff of generated fleets, each in its own process, with the node flags the user's
// `npm run` path uses: wall time, CPU time, peak RSS, and the machine's load while it ran. Then the
// remote work of a first `pulumi up` and of a no-op one, per host. Not a test: numbers depend on the
// machine. README keeps the latest table (docs/scale.md explains the columns).

import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { generatedStack } from "./lib/bench-stack";
import { remoteWork, totalRemoteWork, type RemoteWork } from "./lib/remote-work";
import { diffResources } from "./lib/resource-diff";
import { REPO_ROOT, runCli, UsageError } from "./lib/stack";
import type { SynthResult } from "./lib/synth";

interface Measure {
  readonly ms: number;
  readonly cpuMs: number;
  readonly maxRssMiB: number;
  readonly hosts: number;
  readonly resources: number;
  readonly changes: number;
  readonly load: number;
}

const sizesOf = (argv: string[], flag: string, fallback: number[]): number[] => {
  const at = argv.indexOf(flag);
  if (at < 0) return fallback;
  const sizes = (argv[at + 1] ?? "").split(",").map(Number);
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError(`${flag} takes host counts, e.g. ${flag} 100,1000`);
  return sizes;
};

runCli("bench", (argv) => {
  const synthSizes = sizesOf(argv, "--synth", [100, 300, 1000]);
  const planSizes = sizesOf(argv, "--plan", [100, 1000, 10000]);
  const [diffSize] = sizesOf(argv, "--diff", [Math.max(...synthSizes)]);
  const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-bench-"));
  const stackFile = (n: number, tag = "1.4.0"): string => {
    const file = join(dir, `Pulumi.bench-${n}-${tag}.yaml`);
    writeFileSync(file, generatedStack(n).replaceAll("kokoro-gpu:1.4.0", `kokoro-gpu:${tag}`));
    return file;
  };
  const measure = (...args: string[]): Measure => {
    const load = loadavg()[0];
    const child = spawnSync(process.execPath, ["--import", "tsx", resolve(REPO_ROOT, "scripts/lib/bench-child.ts"), ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (child.status !== 0) throw new Error(`${args.join(" ")} failed: ${child.stderr.trim()}`);
    return { ...(JSON.parse(child.stdout) as Omit<Measure, "load">), load: Math.round(Math.max(load, loadavg()[0]) * 10) / 10 };
  };
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const cpu = cpus();
  const lines: string[] = [`Machine: ${cpu[0]?.model.trim() ?? "unknown CPU"}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}.`, ""];

  lines.push("| hosts | resources | per host | synth wall | synth CPU | synth peak RSS | load (1 min) |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const synths = new Map<number, Measure>();
  for (const n of synthSizes) {
    const m = measure("synth", stackFile(n));
    synths.set(n, m);
    lines.push(`| ${n} | ${m.resources.toLocaleString("en")} | ${(m.resources / n).toFixed(1)} | ${s(m.ms)} | ${s(m.cpuMs)} | ${m.maxRssMiB.toLocaleString("en")} MiB | ${m.load} |`);
    log(lines[lines.length - 1]);
  }
  const [small, large] = [Math.min(...synthSizes), Math.max(...synthSizes)];
  const a = synths.get(small);
  const b = synths.get(large);
  if (a !== undefined && b !== undefined && small !== large) {
    const r = (x: number, y: number): string => `×${(y / x).toFixed(1)}`;
    lines.push("", `Synth from ${small} to ${large} hosts (${r(small, large)}): resources ${r(a.resources, b.resources)}, wall ${r(a.ms, b.ms)}, CPU ${r(a.cpuMs, b.cpuMs)}, peak RSS ${r(a.maxRssMiB, b.maxRssMiB)}.`);
  }

  const d = measure("diff", stackFile(diffSize), stackFile(diffSize, "1.4.1"));
  const one = synths.get(diffSize);
  lines.push("", `Diff of ${diffSize} hosts (one image tag changed, ${d.changes.toLocaleString("en")} changes; two synths in parallel): ${s(d.ms)} wall${one === undefined ? "" : `, ${(d.ms / one.ms).toFixed(2)}× one synth`} (load ${d.load}).`);
  log(lines[lines.length - 1]);

  lines.push("", "| hosts | plan wall | plan CPU | plan peak RSS |", "| ---: | ---: | ---: | ---: |");
  for (const n of planSizes) {
    const m = measure("plan", stackFile(n));
    lines.push(`| ${n.toLocaleString("en")} | ${m.ms} ms | ${m.cpuMs} ms | ${m.maxRssMiB} MiB |`);
    log(lines[lines.length - 1]);
  }

  // Remote work: a first up creates everything; a no-op up changes what a second, independent synth
  // of the same stack differs in (nothing, when every trigger is stable across runs).
  const n = small;
  const runs = [0, 1].map(() => synthJson(stackFile(n)));
  const first = remoteWork(runs[0].resources);
  const noop = totalRemoteWork(remoteWork(resourcesOf(runs[0], diffResources(runs[0].resources, runs[1].resources).map((c) => c.name))));
  lines.push("", `Remote work of \`pulumi up\` on the ${n}-host fleet, per host:`, "", "| host | SSH sessions | remote commands | Docker operations | if the driver install reboots |", "| --- | ---: | ---: | ---: | ---: |");
  const kinds = new Map<string, [string, RemoteWork]>();
  for (const [host, w] of first) {
    const key = JSON.stringify(w);
    if (!kinds.has(key)) kinds.set(key, [host, w]);
  }
  for (const [host, w] of kinds.values()) {
    lines.push(`| first up, ${host} | ${w.sshSessions} | ${w.remoteCommands} | ${w.dockerOperations} | +${w.ifRebooted.sshSessions} sessions, +${w.ifRebooted.remoteCommands} command |`);
  }
  lines.push(`| no-op up, every host | ${noop.sshSessions} | ${noop.remoteCommands} | ${noop.dockerOperations} | - |`);
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
});

function synthJson(file: string): Extract<SynthResult, { ok: true }> {
  const child = spawnSync(process.execPath, ["--import", "tsx", resolve(REPO_ROOT, "scripts/lib/synth-child.ts"), REPO_ROOT, file], { encoding: "utf8", maxBuffer: 1024 * 1024 * 1024 });
  if (child.status !== 0) throw new Error(`synth of ${file} failed: ${child.stderr.trim()}`);
  const result = JSON.parse(child.stdout) as SynthResult;
  if (!result.ok) throw new Error(result.error);
  return result;
}

function resourcesOf(result: Extract<SynthResult, { ok: true }>, names: readonly string[]): Extract<SynthResult, { ok: true }>["resources"] {
  const wanted = new Set(names);
  return result.resources.filter((r) => wanted.has(r.name));
}
