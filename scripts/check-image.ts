// gpu-fleet check-image <stack> <service> [--host <host>] [--jobs N] [--redis-image IMAGE] [--json]
// Runs a service's image with exactly the settings the fleet gives it on a host (the planner's env,
// dockerRunFlags), next to a real Redis on a private network it creates and removes, and reports
// pass/fail per point of the worker contract (docs/worker-contract.md).

import type { HostPlan, WorkerPlan } from "../components/core/planner";
import type { SampleJobSpec, ServiceSpec } from "../components/core/schema";
import { gateTimeoutSeconds, workerContainer } from "../components/core/worker-container";
import { REMOTE_USAGE, remoteOptions, useHostDocker, type DockerOverSsh } from "./lib/docker-over-ssh";
import { BenchError, ContractBench, DEFAULT_REDIS_IMAGE, docker, ensureImage, sleep, type ProcessSample } from "./lib/contract-run";
import { findTarget, hostTarget, parseOptions, TargetError, wholeNumber } from "./lib/contract-target";
import { UsageError } from "./lib/stack";

export const USAGE = `usage: gpu-fleet check-image <stack> <service> [--host <host> [--local] [--via tailnet|address] [-i key] [--ssh-config file] [--known-hosts file]] [--jobs N] [--redis-image IMAGE] [--json]

Runs the service's image as the fleet would run it on the host (its env, user, capabilities, read-only
root, writable paths, memory and CPU limits, stop signal and health check: the same docker run flags
join-fleet.sh uses), next to a real Redis on a private Docker network that it creates and removes,
and reports pass/fail per point of docs/worker-contract.md:
  starts      runs as the fleet's non-root user with all capabilities dropped
  health      turns healthy within its health check's grace
  answers     a sample job (services.<name>.sampleJob) is answered
  threads     its process tree uses at most threads + 4 threads while working (from /proc; health checks left out)
  memory      its RSS stays under ramMiB through N sample jobs, no OOM kill
  stops       on its stop signal it exits within drainSeconds, not killed
  keeps-jobs  the job in hand when it is stopped is answered or back in the queue
  -s, --stack    a name under stacks/ or a stack file
  --host         run on that fleet host over SSH, with its settings (threads, env, GPU, MPS pipe and
                 lease directories); without it: on the local Docker, with the settings of the first
                 host that runs the service
  --local        with --host: that host's settings, but on the local Docker
${REMOTE_USAGE}
  --jobs         sample jobs for the memory point (default 10)
  --redis-image  the image Redis runs from (default ${DEFAULT_REDIS_IMAGE}; it needs sh and redis-server)
  --json         {stack, service, host, image, points: [{point, pass, detail}], passed, failed}
Docker: locally, the daemon DOCKER_HOST names (default the local one); with --host, the host's own
dockerd through docker's ssh transport, the host key checked against the stack's pin.`;

/** Threads a worker may have beyond its `threads`: I/O, heartbeat and allocator threads. */
export const THREAD_SLACK = 4;

export type PointName = "starts" | "health" | "answers" | "threads" | "memory" | "stops" | "keeps-jobs";

export interface PointResult {
  readonly point: PointName;
  /** null: not checked (the service declares no sample job), with the reason in detail. */
  readonly pass: boolean | null;
  readonly detail: string;
}

export interface CheckReport {
  readonly stack: string;
  readonly service: string;
  readonly host: string;
  readonly image: string;
  readonly points: readonly PointResult[];
  readonly passed: number;
  readonly failed: number;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { positional, options, set } = parseOptions(argv, ["--host", "--stack", "-s", "--jobs", "--redis-image", "--via", "-i", "--ssh-config", "--known-hosts"], ["--json", "--local"], USAGE);
  const stackName = options.get("--stack") ?? positional.shift();
  const [service, ...rest] = positional;
  if (stackName === undefined || service === undefined || rest.length > 0) throw new UsageError(`name one stack and one service\n${USAGE}`);
  const jobs = wholeNumber(options, "--jobs", 10, USAGE);
  const json = set.has("--json");
  let target;
  try {
    target = findTarget("check-image", stackName, service, options.get("--host"));
  } catch (error) {
    if (error instanceof TargetError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const say = (line: string): void => void (json ? process.stderr : process.stdout).write(`${line}\n`);
  const { worker, host } = target;
  const remote = options.has("--host") && !set.has("--local");
  let transport: DockerOverSsh | undefined;
  if (remote) {
    const ssh = remoteOptions(options);
    if (typeof ssh === "string") throw new UsageError(`${ssh}\n${USAGE}`);
    const used = useHostDocker(hostTarget(target, ssh, "check-image"), ssh);
    if (typeof used === "string") {
      process.stderr.write(`check-image: ${host.name}: ${used}\n`);
      return 1;
    }
    transport = used;
  }
  say(`check-image ${target.stack.name} ${service} with ${host.name}'s settings${remote ? `, on ${host.name} over SSH` : ", on the local Docker"}: ${worker.image}, ${worker.threads} threads, ${worker.ramMiB} MiB, ${worker.stopSignal} then ${worker.drainSeconds} s`);
  let points: PointResult[];
  try {
    points = await checkImage(worker, host, target.service, { jobs, redisImage: options.get("--redis-image") ?? DEFAULT_REDIS_IMAGE, say: json ? () => undefined : say });
  } catch (error) {
    if (error instanceof BenchError) {
      process.stderr.write(`check-image: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    transport?.cleanup();
  }
  const report: CheckReport = {
    stack: target.stack.name,
    service,
    host: host.name,
    image: worker.image,
    points,
    passed: points.filter((p) => p.pass === true).length,
    failed: points.filter((p) => p.pass === false).length,
  };
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else say(`${report.passed} passed, ${report.failed} failed${points.some((p) => p.pass === null) ? `, ${points.filter((p) => p.pass === null).length} not checked` : ""}`);
  return report.failed > 0 ? 1 : 0;
}

export interface CheckOptions {
  readonly jobs: number;
  readonly redisImage: string;
  /** Prints each point as it is decided. */
  readonly say: (line: string) => void;
}

/** Runs every point; each worker container is new, so one broken point does not hide the next. */
export async function checkImage(worker: WorkerPlan, host: HostPlan, service: ServiceSpec, options: CheckOptions): Promise<PointResult[]> {
  const sampleJob: SampleJobSpec | undefined = service.sampleJob;
  const points: PointResult[] = [];
  const record = (point: PointName, pass: boolean | null, detail: string): void => {
    points.push({ point, pass, detail });
    options.say(`${pass === null ? "-" : pass ? "✓" : "✗"} ${point.padEnd(10)}  ${detail}`);
  };
  const bench = new ContractBench(sampleJob ?? { queue: "gpu-fleet-check:none", payload: "{id}", results: "gpu-fleet-check:none", answer: "{id}", timeoutSeconds: 60 });
  try {
    await bench.start(options.redisImage, options.say);
    await ensureImage(worker.image, options.say);
    const settings = workerContainer(worker, host);
    const uid = Number(settings.user.split(":")[0]);

    // 1. starts, health.
    const first = `${bench.prefix}-worker-1`;
    const startedAt = Date.now();
    const started = await bench.startWorker(worker, host, first);
    if (started.code !== 0) {
      record("starts", false, `docker run failed: ${started.stderr.trim().split("\n").pop() ?? ""}`);
      for (const p of ["health", "answers", "threads", "memory", "stops", "keeps-jobs"] as const) record(p, false, "not run: the worker did not start");
      return points;
    }
    await sleep(2000);
    const state = await bench.inspect(first);
    const top = await bench.sample(first);
    if (state === undefined || !state.State.Running || top === undefined) {
      const logs = await docker(["logs", "--tail", "5", first]);
      record("starts", false, `not running 2 s after start (exit ${state?.State.ExitCode ?? "?"}${state?.State.OOMKilled ? ", OOM-killed" : ""}); its last lines: ${(logs.stdout + logs.stderr).trim().split("\n").slice(-3).join(" | ")}`);
    } else {
      const capsDropped = (state.HostConfig.CapDrop ?? []).includes("ALL");
      const asUser = state.Config.User === settings.user && top.uids.every((u) => u === uid) && uid !== 0;
      record(
        "starts",
        capsDropped && asUser,
        `${asUser ? `runs as ${settings.user}` : `runs as uid ${top.uids.join(", ")}, not ${settings.user}`}, ${capsDropped ? "all capabilities dropped" : "capabilities NOT dropped"}${settings.readOnlyRootFs ? ", read-only root" : ""}`,
      );
    }
    if (worker.healthcheck === null) {
      record("health", false, `no health check: the fleet cannot tell a stuck worker from a working one. Declare services.${worker.service}.healthcheck (docs/worker-contract.md, point 6).`);
    } else {
      const limit = gateTimeoutSeconds(worker);
      const t0 = startedAt;
      let status = "";
      for (;;) {
        const s = await bench.inspect(first);
        status = s === undefined || !s.State.Running ? "gone" : (s.State.Health?.Status ?? "none");
        if (status !== "starting" || Date.now() - t0 > limit * 1000) break;
        await sleep(500);
      }
      record("health", status === "healthy", status === "healthy" ? `healthy ${((Date.now() - t0) / 1000).toFixed(1)} s after start (grace ${limit} s)` : `${status === "gone" ? "exited" : status} instead of healthy within ${limit} s`);
    }

    if (sampleJob === undefined) {
      const idle = await sampleFor(bench, first, 3000);
      const limit = worker.threads + THREAD_SLACK;
      record("threads", idle.threads <= limit, `${idle.threads} threads while idle (given ${worker.threads}, limit ${limit}); no sample job, so not measured while working`);
      for (const p of ["answers", "memory", "keeps-jobs"] as const) record(p, null, `not checked: services.${worker.service}.sampleJob is not declared (docs/worker-contract.md, "Sample job")`);
      await stopPoint(bench, worker, first, record);
      return points;
    }

    // 2. answers: one job.
    const timeoutMs = sampleJob.timeoutSeconds * 1000;
    const one = bench.push();
    const answered = await bench.until(() => one.answeredAt !== undefined, timeoutMs);
    record("answers", answered, answered && one.pushedAt !== undefined && one.answeredAt !== undefined ? `answered in ${(one.answeredAt - one.pushedAt).toFixed(2)} s` : `no answer in ${sampleJob.results} within ${sampleJob.timeoutSeconds} s`);

    // 3. threads and 4. memory: N jobs one after another, sampling /proc all along.
    const peak = { threads: 0, rssMiB: 0 };
    let sampling = true;
    // No process left (killed, exited): no answer will come, so stop waiting for one.
    let gone = false;
    const sampler = (async () => {
      while (sampling) {
        const s = await bench.sample(first);
        if (s !== undefined) {
          peak.threads = Math.max(peak.threads, s.threads);
          peak.rssMiB = Math.max(peak.rssMiB, s.rssMiB);
        } else if (!(await bench.inspect(first))?.State.Running) {
          gone = true;
        }
        await sleep(250);
      }
    })();
    let done = 0;
    for (let i = 0; i < options.jobs; i++) {
      const job = bench.push();
      if (!(await bench.until(() => job.answeredAt !== undefined || gone, timeoutMs)) || job.answeredAt === undefined) break;
      done++;
    }
    sampling = false;
    await sampler;
    const after = await bench.inspect(first);
    const limit = worker.threads + THREAD_SLACK;
    record("threads", peak.threads > 0 && peak.threads <= limit, peak.threads === 0 ? "no process to count" : `at most ${peak.threads} threads while working (given ${worker.threads}, limit ${limit})`);
    const oom = after?.State.OOMKilled === true;
    const running = after?.State.Running === true;
    const memoryOk = !oom && running && done === options.jobs && peak.rssMiB < worker.ramMiB;
    record(
      "memory",
      memoryOk,
      oom
        ? `OOM-killed at its ${worker.ramMiB} MiB limit after ${done} of ${options.jobs} jobs (RSS seen up to ${peak.rssMiB} MiB)`
        : !running
          ? after?.State.ExitCode === 137
            ? `killed (exit 137: SIGKILL; nothing but the kernel's OOM killer at the ${worker.ramMiB} MiB limit sends it here) after ${done} of ${options.jobs} jobs; RSS seen up to ${peak.rssMiB} MiB`
            : `exited (code ${after?.State.ExitCode ?? "?"}) after ${done} of ${options.jobs} jobs; RSS seen up to ${peak.rssMiB} MiB`
          : done < options.jobs
            ? `answered ${done} of ${options.jobs} jobs (RSS up to ${peak.rssMiB} MiB)`
            : `RSS peaked at ${peak.rssMiB} MiB of ${worker.ramMiB} MiB through ${done} jobs`,
    );

    // 5. stops and keeps-jobs: a new worker, stopped with a job in hand.
    const second = `${bench.prefix}-worker-2`;
    await docker(["rm", "-f", first]);
    const again = await bench.startWorker(worker, host, second);
    if (again.code !== 0) {
      record("stops", false, "not run: the worker did not start again");
      record("keeps-jobs", false, "not run: the worker did not start again");
      return points;
    }
    await sleep(2000);
    // A warm-up job, so the worker is past its start-up; then the job to stop it in.
    const warm = bench.push();
    await bench.until(() => warm.answeredAt !== undefined, timeoutMs);
    const inHand = bench.push();
    await bench.until(() => inHand.pushedAt !== undefined, 5000);
    // Taken: the queue is empty again.
    for (let i = 0; i < 100 && (await bench.cli(["LLEN", sampleJob.queue])).trim() !== "0"; i++) await sleep(50);
    const finishedBeforeStop = inHand.answeredAt !== undefined;
    await stopPoint(bench, worker, second, record);
    await sleep(300); // MONITOR's last lines
    const queue = (await bench.cli(["LRANGE", sampleJob.queue, "0", "-1"])).split("\n");
    const results = await bench.cli(["LRANGE", sampleJob.results, "0", "-1"]);
    const answeredNow = results.includes(sampleJob.answer.split("{id}").join(inHand.id));
    const back = queue.includes(inHand.payload);
    record(
      "keeps-jobs",
      answeredNow || back,
      answeredNow ? `the job in hand was answered${finishedBeforeStop ? " (before the stop signal: the job was too short to be stopped in)" : ""}` : back ? "the job in hand was put back in the queue" : "the job in hand was lost: neither answered nor back in the queue",
    );
  } finally {
    await bench.close();
  }
  return points;
}

/** Sends the stop signal as the fleet does (docker stop: signal, then the stop timeout) and records `stops`. */
async function stopPoint(bench: ContractBench, worker: WorkerPlan, container: string, record: (p: PointName, pass: boolean | null, detail: string) => void): Promise<void> {
  const t0 = Date.now();
  await docker(["stop", container], { timeoutMs: (worker.drainSeconds + 60) * 1000 });
  const seconds = (Date.now() - t0) / 1000;
  const state = await bench.inspect(container);
  const code = state?.State.ExitCode;
  // 137: SIGKILL, which Docker sends when the stop timeout runs out.
  const killed = code === 137;
  record(
    "stops",
    state !== undefined && !killed,
    killed ? `did not exit on ${worker.stopSignal}: killed after ${seconds.toFixed(1)} s (drainSeconds ${worker.drainSeconds})` : `exited ${code ?? "?"} ${seconds.toFixed(1)} s after ${worker.stopSignal} (drainSeconds ${worker.drainSeconds})`,
  );
}

async function sampleFor(bench: ContractBench, container: string, ms: number): Promise<ProcessSample> {
  const end = Date.now() + ms;
  let peak: ProcessSample = { threads: 0, rssMiB: 0, uids: [] };
  while (Date.now() < end) {
    const s = await bench.sample(container);
    if (s !== undefined && s.threads > peak.threads) peak = s;
    await sleep(250);
  }
  return peak;
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("check-image"));
