// The worker contract kit on a real dockerd with a real Redis (docs/worker-contract.md):
// check-image passes the reference worker and fails each broken variant on its own point; tune
// measures replicas × threads on this machine's CPU and its best row is the measured best.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { dockerHost, enabled, HOW_TO_RUN, repoRoot } from "./harness";
import { referenceStack } from "./reference-worker/stack";
import type { CheckReport } from "../../scripts/check-image";
import type { TuneReport } from "../../scripts/tune";
import type { PlanJson } from "../../components/core/report";

const env = (): NodeJS.ProcessEnv => ({ ...process.env, DOCKER_HOST: dockerHost() });

function gpuFleet(args: string[], timeoutMs = 600_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, "bin", "gpu-fleet.mjs"), ...args], { env: env(), encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every argv on this machine (containers' processes included) while `during` runs. */
async function watchArgv<T>(during: () => Promise<T>): Promise<{ result: T; argv: Set<string> }> {
  const argv = new Set<string>();
  let watching = true;
  const loop = (async () => {
    while (watching) {
      const r = spawnSync("ps", ["-eww", "-o", "args="], { encoding: "utf8" });
      for (const line of r.stdout.split("\n")) argv.add(line);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const result = await during();
  watching = false;
  await loop;
  return { result, argv };
}

function gpuFleetAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, "bin", "gpu-fleet.mjs"), ...args], { env: env() });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

describe("worker contract kit on a real dockerd", { skip: enabled ? false : HOW_TO_RUN, timeout: 1_200_000 }, () => {
  let image = "";
  let dir = "";
  let stack = "";
  const cores = cpus().length;

  before(() => {
    const built = spawnSync("bash", [path.join(repoRoot, "test", "host", "reference-worker", "build.sh")], { env: env(), encoding: "utf8", timeout: 900_000 });
    assert.equal(built.status, 0, built.stderr);
    image = built.stdout.trim();
    dir = mkdtempSync(path.join(tmpdir(), "contract-test-"));
    stack = referenceStack(dir, image, cores, 4096);
  });

  after(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
    // Nothing of a check is left behind: no container, no network.
    const left = spawnSync("docker", ["ps", "-aq", "--filter", "label=gpu-fleet.check=1"], { env: env(), encoding: "utf8" });
    const nets = spawnSync("docker", ["network", "ls", "-q", "--filter", "label=gpu-fleet.check=1"], { env: env(), encoding: "utf8" });
    assert.equal(left.stdout.trim() + nets.stdout.trim(), "", "check-image left containers or networks behind");
  });

  const check = (service: string): CheckReport => {
    const r = gpuFleet(["check-image", stack, service, "--redis-image", image, "--jobs", "8", "--json"]);
    assert.ok(r.status === 0 || r.status === 1, `exit ${r.status}: ${r.stderr}`);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.equal(r.status, report.failed > 0 ? 1 : 0);
    return report;
  };
  const failing = (report: CheckReport): string[] => report.points.filter((p) => p.pass !== true).map((p) => p.point);

  it("passes the reference worker on every point, with no secret in any argv", async () => {
    const { result, argv } = await watchArgv(() => gpuFleetAsync(["check-image", stack, "ref", "--redis-image", image, "--jobs", "8", "--json"]));
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const report = JSON.parse(result.stdout) as CheckReport;
    assert.deepEqual(report.points.map((p) => [p.point, p.pass]), [
      ["starts", true], ["health", true], ["answers", true], ["threads", true], ["memory", true], ["stops", true], ["keeps-jobs", true],
    ], JSON.stringify(report.points, null, 1));
    assert.match(report.points.find((p) => p.point === "keeps-jobs")!.detail, /put back in the queue/, "stopped in the middle of a job, it requeued it");
    // The password of the check's Redis reaches Redis, redis-cli and the worker without an argument.
    // Only the check's processes: its docker commands name its containers; inside them, Redis and the worker.
    // (The machine is shared: other tests' processes are none of this test's business.)
    const mine = [...argv].filter((a) => /gpu-fleet-check-|redis-server|redis-cli|reference\/worker\.py/.test(a));
    assert.ok(mine.some((a) => a.includes('"$REDIS_PASSWORD"')), "Redis got its password by the variable's name");
    assert.deepEqual(mine.filter((a) => /redis:\/\/:|requirepass [^"%]|REDISCLI_AUTH=|REDIS_PASSWORD=/.test(a)), []);
    assert.ok([...argv].some((a) => a.includes("redis-cli MONITOR")), "the watcher saw the check's processes");
  });

  it("fails the variant that ignores OMP_NUM_THREADS on threads only", () => {
    const report = check("ref-threads");
    assert.deepEqual(failing(report), ["threads"], JSON.stringify(report.points, null, 1));
    assert.match(report.points.find((p) => p.point === "threads")!.detail, /^at most (1[7-9]|2\d) threads while working \(given 1, limit 5\)$/);
  });

  it("fails the variant that ignores SIGTERM on stops only", () => {
    const report = check("ref-sigterm");
    assert.deepEqual(failing(report), ["stops"], JSON.stringify(report.points, null, 1));
    assert.match(report.points.find((p) => p.point === "stops")!.detail, /^did not exit on SIGTERM: killed after [5-9]\.\d s \(drainSeconds 5\)$/);
  });

  it("fails the variant that leaks memory on memory only", () => {
    const report = check("ref-leak");
    assert.deepEqual(failing(report), ["memory"], JSON.stringify(report.points, null, 1));
    assert.match(report.points.find((p) => p.point === "memory")!.detail, /OOM|exit 137/);
  });

  it("tune measures the candidates the planner allows on this machine's cores; the best row is the measured best; the snippet plans; plan shows the record", () => {
    const tuneDir = mkdtempSync(path.join(tmpdir(), "contract-tune-"));
    try {
      const tuneStack = referenceStack(tuneDir, image, cores, 4096);
      const r = gpuFleet(["tune", tuneStack, "bench", "ref", "--redis-image", image, "--jobs", "6", "--budget", "6", "--json"]);
      assert.equal(r.status, 0, r.stderr);
      const report = JSON.parse(r.stdout) as TuneReport;
      // By hand: threads 1, 2, 4, 6, 8 up to the cores (reserve 0); replicas = floor(cores / threads),
      // at most floor(4096 / 192) = 21 by RAM.
      const expected = [1, 2, 4, 6, 8].filter((t) => t <= cores).map((t) => [Math.min(Math.floor(cores / t), 21), t]);
      assert.deepEqual(report.candidates.map((c) => [c.replicas, c.threads]), expected);
      // The best row against the raw measurements: jobs over first push to last answer.
      const raw = report.candidates.map((c) => {
        const start = Math.min(...c.jobs.map((j) => j.pushedAt));
        const end = Math.max(...c.jobs.map((j) => j.answeredAt));
        return { c, rate: c.jobs.length / (end - start) };
      });
      for (const { c, rate } of raw) {
        assert.ok(c.jobs.every((j) => j.answeredAt > j.pushedAt), "every answer after its push");
        assert.ok(Math.abs(c.jobsPerSecond - rate) < 1e-9, `${c.replicas} × ${c.threads}: ${c.jobsPerSecond} vs ${rate}`);
      }
      const finished = raw.filter(({ c }) => c.status === "measured" && c.jobs.length === 6);
      assert.ok(finished.length >= 1, JSON.stringify(report.candidates.map((c) => [c.replicas, c.threads, c.status, c.note])));
      const top = finished.reduce((a, b) => (b.rate > a.rate ? b : a));
      assert.deepEqual([report.best?.replicas, report.best?.threads], [top.c.replicas, top.c.threads]);
      // The snippet plans: pasted over the auto entry, the host runs what it says.
      const pasted = parse(report.yaml ?? "") as { "gpu-fleet:hosts": { bench: { workers: { ref: { replicas: number; threads: number } } } } };
      const entry = pasted["gpu-fleet:hosts"].bench.workers.ref;
      const original = readFileSync(path.join(dir, "Pulumi.contract.yaml"), "utf8");
      const pinned = path.join(tuneDir, "Pulumi.pinned.yaml");
      writeFileSync(pinned, original.replace("workers: { ref: { replicas: auto } }", `workers: { ref: { replicas: ${entry.replicas}, threads: ${entry.threads} } }`));
      const planPinned = gpuFleet(["plan", "-s", pinned, "--json"]);
      assert.equal(planPinned.status, 0, planPinned.stdout);
      const bench = (JSON.parse(planPinned.stdout) as PlanJson).hosts.find((h) => h.name === "bench")!;
      assert.deepEqual([bench.workers.length, bench.workers[0].threads, bench.sources.ref], [top.c.replicas, top.c.threads, "fixed"]);
      // Recorded (this machine has the host's cores): plan uses it with replicas: auto and names it.
      assert.equal(report.recorded, tuneStack);
      const planTuned = gpuFleet(["plan", "-s", tuneStack, "--json"]);
      assert.equal(planTuned.status, 0, planTuned.stdout);
      const tuned = (JSON.parse(planTuned.stdout) as PlanJson).hosts.find((h) => h.name === "bench")!;
      assert.deepEqual([tuned.workers.length, tuned.workers[0].threads, tuned.sources.ref], [top.c.replicas, top.c.threads, `tuned ${new Date().toISOString().slice(0, 10)}`]);
    } finally {
      rmSync(tuneDir, { recursive: true, force: true });
    }
  });

  it("refuses an unknown service and a host that does not run it, naming them", () => {
    const unknown = gpuFleet(["check-image", stack, "nope"]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no service 'nope' in stack contract; services: ref, ref-threads, ref-sigterm, ref-leak\./);
    const elsewhere = gpuFleet(["check-image", stack, "ref", "--host", "bench-leak"]);
    assert.equal(elsewhere.status, 1);
    assert.match(elsewhere.stderr, /bench-leak runs no ref worker .*hosts that do: bench\./);
  });
});
