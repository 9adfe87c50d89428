// gpu-fleet tune <stack> <host> <service> [--jobs N] [--budget minutes] [--redis-image IMAGE] [--no-record] [--json]
// Measures throughput and p95 latency of the replicas × threads candidates the planner allows on a
// host, with the service's image and sample job, the fleet's docker run flags and a real Redis (the
// bench of check-image); prints the table and the YAML to paste, and records the best in the stack
// (hosts.<host>.workers.<service>.tuned), which `replicas: auto` then uses. docs/worker-contract.md.

import { readFileSync, writeFileSync } from "node:fs";
import { isMap, isScalar, parseDocument, Scalar } from "yaml";
import { planConfig } from "../components/core/pipeline";
import type { HostPlan } from "../components/core/planner";
import type { ConfigDocument, SampleJobSpec, TunedSpec } from "../components/core/schema";
import { gateTimeoutSeconds } from "../components/core/worker-container";
import { BenchError, ContractBench, DEFAULT_REDIS_IMAGE, docker, ensureImage, sleep, type JobRecord } from "./lib/contract-run";
import { findTarget, hostTarget, parseOptions, TargetError, wholeNumber } from "./lib/contract-target";
import { REMOTE_USAGE, remoteOptions, useHostDocker, type DockerOverSsh } from "./lib/docker-over-ssh";
import { UsageError } from "./lib/stack";
import { best, clearlyWorse, row, table, THREAD_CANDIDATES, yamlSnippet, type CandidateRow, type JobTiming } from "./lib/tuning";

export const USAGE = `usage: gpu-fleet tune <stack> <host> <service> [--local] [--via tailnet|address] [-i key] [--ssh-config file] [--known-hosts file] [--jobs N] [--budget minutes] [--redis-image IMAGE] [--no-record] [--json]

Measures the service on the host itself, over SSH (its own dockerd, through docker's ssh transport,
its pinned host key checked), or on the local Docker (DOCKER_HOST; default the local daemon) with
--local or for a join host, for each replicas × threads
candidate the planner allows on the host: threads 1, 2, 4, 6, 8 (up to the host's usable cores),
each with the replicas replicas: auto gives it. Each candidate runs its workers with the fleet's
docker run flags next to a real Redis on a private network, keeps one sample job
(services.<name>.sampleJob) per worker in flight, and measures throughput and p95 latency (Redis's
clock, push to answer). A candidate below half the best finished throughput after half its jobs
stops early. Prints the table and the YAML to paste, and records the best as
hosts.<host>.workers.<service>.tuned in the stack file (plan shows it as "tuned <date>"; replicas:
auto uses it) when Docker's machine has the host's cores.
  --jobs         measured jobs per candidate (default 12), after one warm-up job per worker
  --budget       minutes for all candidates (default 10); a candidate out of time stops
  --redis-image  the image Redis runs from (default ${DEFAULT_REDIS_IMAGE})
  --no-record    print only; leave the stack file as it is
  --local        measure on the local Docker, with the host's settings
${REMOTE_USAGE}
  --json         {stack, host, service, image, candidates, best, yaml, recorded}
Exit: 0 measured, 1 no candidate could be measured or the stack has errors, 2 bad command line.`;

export interface TuneReport {
  readonly stack: string;
  readonly host: string;
  readonly service: string;
  readonly image: string;
  readonly candidates: readonly CandidateRow[];
  readonly best: { readonly replicas: number; readonly threads: number; readonly jobsPerSecond: number; readonly p95Ms: number } | null;
  readonly yaml: string | null;
  /** The stack file the record was written to, or null with the reason in notRecorded. */
  readonly recorded: string | null;
  readonly notRecorded?: string;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { positional, options, set } = parseOptions(argv, ["--stack", "-s", "--jobs", "--budget", "--redis-image", "--via", "-i", "--ssh-config", "--known-hosts"], ["--json", "--no-record", "--local"], USAGE);
  const ssh = remoteOptions(options);
  if (typeof ssh === "string") throw new UsageError(`${ssh}\n${USAGE}`);
  const stackName = options.get("--stack") ?? positional.shift();
  const [hostName, service, ...rest] = positional;
  if (stackName === undefined || hostName === undefined || service === undefined || rest.length > 0) throw new UsageError(`name a stack, a host and a service\n${USAGE}`);
  const jobs = wholeNumber(options, "--jobs", 12, USAGE);
  const budgetMinutes = wholeNumber(options, "--budget", 10, USAGE);
  const json = set.has("--json");
  const say = (line: string): void => void (json ? process.stderr : process.stdout).write(`${line}\n`);

  let target;
  try {
    target = findTarget("tune", stackName, service, hostName);
  } catch (error) {
    if (error instanceof TargetError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const sampleJob = target.service.sampleJob;
  if (sampleJob === undefined) {
    process.stderr.write(`tune: services.${service}.sampleJob is not declared: tune needs a job to measure (docs/worker-contract.md, "Sample job").\n`);
    return 1;
  }
  const candidates = plannedCandidates(target.stack.document, target.host, service);
  if (candidates.length === 0) {
    process.stderr.write(`tune: the planner allows no ${service} worker on ${hostName} at any of ${THREAD_CANDIDATES.join("/")} threads.\n`);
    return 1;
  }
  // On the host itself unless asked not to; a join host has no SSH from here.
  let transport: DockerOverSsh | undefined;
  if (!set.has("--local") && target.host.kind !== "join") {
    const used = useHostDocker(hostTarget(target, ssh, "tune"), ssh);
    if (typeof used === "string") {
      process.stderr.write(`tune: ${hostName}: ${used} (or add --local to measure here)\n`);
      return 1;
    }
    transport = used;
  }
  say(`tune ${service} on ${transport === undefined ? "the local Docker" : `${hostName} over SSH`}, ${hostName}'s settings (${target.host.machine}, ${target.host.cpu.usable} usable cores): ${candidates.map((c) => `${c.replicas} × ${c.threads}`).join(", ")}; ${jobs} jobs each, ${budgetMinutes} min in all`);

  const rows: CandidateRow[] = [];
  const bench = new ContractBench(sampleJob);
  const deadline = Date.now() + budgetMinutes * 60_000;
  try {
    await bench.start(options.get("--redis-image") ?? DEFAULT_REDIS_IMAGE, say);
    await ensureImage(target.worker.image, say);
    for (const [index, candidate] of candidates.entries()) {
      const share = (deadline - Date.now()) / (candidates.length - index);
      const measured = await measure(bench, candidate, sampleJob, jobs, Date.now() + share, best(rows)?.jobsPerSecond, index);
      rows.push(measured);
      say(`  ${measured.replicas} × ${measured.threads} threads: ${measured.jobs.length} jobs, ${measured.jobsPerSecond.toFixed(2)} jobs/s, p95 ${measured.p95Ms.toFixed(0)} ms${measured.status === "measured" ? "" : ` (${measured.status}${measured.note === "" ? "" : `: ${measured.note}`})`}`);
    }
  } catch (error) {
    if (error instanceof BenchError) {
      process.stderr.write(`tune: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await bench.close();
    transport?.cleanup();
  }

  const winner = best(rows);
  const yaml = winner === undefined ? null : yamlSnippet(hostName, service, winner);
  let recorded: string | null = null;
  let notRecorded: string | undefined;
  if (winner === undefined) {
    notRecorded = "no candidate finished its jobs";
  } else if (set.has("--no-record")) {
    notRecorded = "--no-record";
  } else {
    const info = await docker(["info", "--format", "{{.NCPU}}"]);
    const dockerCores = Number(info.stdout.trim());
    if (dockerCores !== target.host.cpu.cores) {
      notRecorded = `Docker's machine has ${Number.isFinite(dockerCores) ? dockerCores : "an unknown number of"} cores, ${hostName} ${target.host.cpu.cores}: these numbers are not ${hostName}'s. Run tune with DOCKER_HOST on ${hostName} to record`;
    } else {
      const record: TunedSpec = {
        replicas: winner.replicas,
        threads: winner.threads,
        at: new Date().toISOString().slice(0, 10),
        cores: target.host.cpu.cores,
        ramMiB: target.host.ramMiB.total,
        jobsPerSecond: Math.round(winner.jobsPerSecond * 1000) / 1000,
        p95Ms: Math.round(winner.p95Ms),
        image: target.worker.image,
      };
      recordTune(target.stack.path, hostName, service, record);
      recorded = target.stack.path;
    }
  }
  const report: TuneReport = {
    stack: target.stack.name,
    host: hostName,
    service,
    image: target.worker.image,
    candidates: rows,
    best: winner === undefined ? null : { replicas: winner.replicas, threads: winner.threads, jobsPerSecond: winner.jobsPerSecond, p95Ms: winner.p95Ms },
    yaml,
    recorded,
    ...(notRecorded === undefined ? {} : { notRecorded }),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    say("");
    say(table(rows));
    if (yaml !== null) say(`\nTo pin it, in the stack:\n${yaml}`);
    say(recorded !== null ? `Recorded as hosts.${hostName}.workers.${service}.tuned in ${recorded}: with replicas: auto, plan uses it.` : `Not recorded: ${notRecorded}.`);
  }
  return winner === undefined ? 1 : 0;
}

interface Candidate {
  readonly service: string;
  readonly replicas: number;
  readonly threads: number;
  readonly host: HostPlan;
}

/** For each thread count, the replicas the planner gives the service with replicas: auto on the host. */
export function plannedCandidates(document: ConfigDocument, host: HostPlan, service: string): Candidate[] {
  const out: Candidate[] = [];
  for (const threads of THREAD_CANDIDATES) {
    if (threads > host.cpu.usable) continue;
    const values = structuredClone(document.values) as Record<string, unknown>;
    const hosts = values.hosts as Record<string, { workers?: Record<string, unknown> }>;
    const workers = hosts[host.name]?.workers;
    if (workers === undefined) continue;
    workers[service] = { replicas: "auto", threads };
    const result = planConfig({ values, secretKeys: document.secretKeys });
    const planned = result.plan.hosts.find((h) => h.name === host.name);
    const replicas = planned?.workers.filter((w) => w.service === service).length ?? 0;
    if (result.errors.length === 0 && planned !== undefined && replicas >= 1) out.push({ service, replicas, threads, host: planned });
  }
  return out;
}

/** Runs one candidate's workers and measures them; removes them afterwards. */
async function measure(bench: ContractBench, candidate: Candidate, sampleJob: SampleJobSpec, jobs: number, until: number, bestSoFar: number | undefined, index: number): Promise<CandidateRow> {
  const workers = candidate.host.workers.filter((w) => w.service === candidate.service);
  const names = workers.map((w) => `${bench.prefix}-c${index}-${w.replica}`);
  const fail = (note: string): CandidateRow => row(candidate.replicas, candidate.threads, "failed", note, []);
  await bench.cli(["DEL", sampleJob.queue, sampleJob.results]);
  try {
    for (const [i, worker] of workers.entries()) {
      const started = await bench.startWorker(worker, candidate.host, names[i]);
      if (started.code !== 0) return fail(`docker run: ${started.stderr.trim().split("\n").pop() ?? ""}`);
    }
    // Ready: running, and healthy when the service has a health check.
    const grace = gateTimeoutSeconds(workers[0]) * 1000;
    const readyBy = Date.now() + grace;
    for (const name of names) {
      for (;;) {
        const s = await bench.inspect(name);
        if (s === undefined || !s.State.Running) return fail(`${name} exited (code ${s?.State.ExitCode ?? "?"}) before it was ready`);
        if (workers[0].healthcheck === null || s.State.Health?.Status === "healthy") break;
        if (Date.now() > readyBy) return fail(`not healthy within ${grace / 1000} s`);
        await sleep(250);
      }
    }
    const timeoutMs = sampleJob.timeoutSeconds * 1000;
    // Warm-up: one job per worker, not measured.
    const warm = workers.map(() => bench.push());
    if (!(await bench.until(() => warm.every((j) => j.answeredAt !== undefined), timeoutMs + grace))) return fail("warm-up jobs not answered");
    // Measured: one job per worker in flight until `jobs` are pushed.
    const mine: JobRecord[] = [];
    const answered = (): JobTiming[] => mine.filter((j) => j.answeredAt !== undefined && j.pushedAt !== undefined).map((j) => ({ pushedAt: j.pushedAt!, answeredAt: j.answeredAt! }));
    for (let i = 0; i < Math.min(candidate.replicas, jobs); i++) mine.push(bench.push());
    let lastProgress = Date.now();
    let seen = 0;
    for (;;) {
      const done = answered();
      if (done.length >= jobs) return row(candidate.replicas, candidate.threads, "measured", "", done);
      if (done.length > seen) {
        seen = done.length;
        lastProgress = Date.now();
        if (clearlyWorse(done, jobs, bestSoFar)) return row(candidate.replicas, candidate.threads, "stopped early", `below half the best so far after ${done.length} of ${jobs} jobs`, done);
      }
      const inFlight = mine.length - done.length;
      for (let k = inFlight; k < candidate.replicas && mine.length < jobs; k++) mine.push(bench.push());
      if (Date.now() > until) return row(candidate.replicas, candidate.threads, "out of budget", `${done.length} of ${jobs} jobs in its share of --budget`, done);
      if (Date.now() - lastProgress > timeoutMs) return row(candidate.replicas, candidate.threads, "failed", `no answer for ${sampleJob.timeoutSeconds} s`, done);
      await sleep(20);
    }
  } finally {
    await docker(["rm", "-f", ...names]);
  }
}

/** Writes the record into the stack file, keeping its comments and layout. */
export function recordTune(path: string, host: string, service: string, record: TunedSpec): void {
  const doc = parseDocument(readFileSync(path, "utf8"));
  const node = doc.createNode(record, { flow: true });
  // A date stays a string for every YAML reader (YAML 1.1 readers take a bare 2026-12-02 as a timestamp).
  const at = isMap(node) ? node.get("at", true) : undefined;
  if (isScalar(at)) at.type = Scalar.QUOTE_DOUBLE;
  doc.setIn(["config", "gpu-fleet:hosts", host, "workers", service, "tuned"], node);
  // No folding: flow maps stay on their lines. Values and comments are kept; the spaces that align
  // comments are not.
  writeFileSync(path, doc.toString({ lineWidth: 0 }));
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("tune"));
