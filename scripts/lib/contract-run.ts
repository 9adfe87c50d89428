// The bench that check-image and tune run a worker on: a private Docker network the run creates and
// removes, a real Redis on it (with a throwaway password), the worker containers started with the
// fleet's own `docker run` flags (dockerRunFlags), and a view of every Redis command with the
// server's timestamp (MONITOR), from which jobs' push and answer times are read.
//
// Secrets: the Redis password is made here, per run, and reaches Redis (its config on stdin, from a
// shell builtin), redis-cli (REDISCLI_AUTH, passed by name to docker exec) and the workers (REDIS_URL
// in a 0600 env file) without ever being a command-line argument. The stack's Redis URL is never read.
// The network is --internal: nothing on it reaches any other address.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { HostPlan, WorkerPlan } from "../../components/core/planner";
import type { SampleJobSpec } from "../../components/core/schema";
import { dockerRunFlags } from "../../components/core/worker-container";

/** The Redis image when none is given: Docker's official image, Debian-based, with redis-server and sh. */
export const DEFAULT_REDIS_IMAGE = "redis:7.0";

export interface DockerResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the docker CLI (DOCKER_HOST as the environment says); never throws on a non-zero exit. */
export function docker(args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<DockerResult> {
  return new Promise((resolve) => {
    const child = spawn("docker", args, { env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${stderr}${error.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    // A command that exits without reading its stdin (most) closes the pipe: not an error.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/**
 * Pulls an image the daemon does not have, with time for a large one (inference images are GBs),
 * so that no later `docker run` runs into its timeout while pulling.
 */
export async function ensureImage(image: string, say: (line: string) => void): Promise<void> {
  if ((await docker(["image", "inspect", image], { timeoutMs: 60_000 })).code === 0) return;
  say(`pulling ${image} ...`);
  const pulled = await docker(["pull", image], { timeoutMs: 3_600_000 });
  if (pulled.code !== 0) throw new BenchError(`could not pull ${image}: ${pulled.stderr.trim().split("\n").pop() ?? ""}`);
}

/** One Redis command as MONITOR shows it. */
export interface RedisEvent {
  /** Server time, seconds. */
  readonly at: number;
  readonly command: string;
  readonly args: readonly string[];
}

/** Parses a MONITOR line: `1700000000.123456 [0 172.18.0.3:5000] "LPUSH" "jobs" "{\"id\":1}"`. */
export function parseMonitorLine(line: string): RedisEvent | undefined {
  const head = /^(\d+\.\d+) \[[^\]]*\] /.exec(line);
  if (head === null) return undefined;
  const words: string[] = [];
  let i = head[0].length;
  while (i < line.length) {
    if (line[i] === " ") {
      i++;
      continue;
    }
    if (line[i] !== '"') return undefined;
    i++;
    let word = "";
    while (i < line.length && line[i] !== '"') {
      if (line[i] === "\\" && i + 1 < line.length) {
        const next = line[i + 1];
        if (next === "x" && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
          word += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
          continue;
        }
        word += next === "n" ? "\n" : next === "r" ? "\r" : next === "t" ? "\t" : next === "a" ? "\x07" : next === "b" ? "\b" : next;
        i += 2;
        continue;
      }
      word += line[i];
      i++;
    }
    i++; // closing quote
    words.push(word);
  }
  if (words.length === 0) return undefined;
  return { at: Number(head[1]), command: words[0].toUpperCase(), args: words.slice(1) };
}

/** A job of the sample-job protocol: its id and payload, and when Redis saw it pushed and answered. */
export interface JobRecord {
  readonly id: string;
  readonly payload: string;
  pushedAt?: number;
  answeredAt?: number;
}

const PUSH_COMMANDS = new Set(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]);

export interface ProcessSample {
  /** Threads of the worker's processes, the init process left out. */
  readonly threads: number;
  /** RSS of the worker's processes in MiB, the init process left out. */
  readonly rssMiB: number;
  /** The uids the worker's processes run as. */
  readonly uids: readonly number[];
}

/**
 * Parses `docker top <c> -eo pid,ppid,uid,nlwp,rss,args` (ps on the Docker host, read from /proc):
 * the worker's process tree only, under Docker's init (--init: /sbin/docker-init, /dev/init or tini),
 * init itself left out. Health checks run beside it (`docker exec`, parent outside the container) and
 * are Docker's, not the worker's: counting them made a sample depend on whether a check was running.
 * Without an init, the tree of the oldest process (the lowest pid).
 */
export function parseTop(text: string): ProcessSample | undefined {
  interface Row { pid: number; ppid: number; uid: number; threads: number; rssKiB: number; args: string }
  const rows: Row[] = [];
  for (const line of text.split("\n").slice(1)) {
    const m = /^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(line.trim());
    if (m !== null) rows.push({ pid: Number(m[1]), ppid: Number(m[2]), uid: Number(m[3]), threads: Number(m[4]), rssKiB: Number(m[5]), args: m[6] });
  }
  const isInit = (r: Row): boolean => /^(\/sbin\/docker-init|\/dev\/init|\/usr\/bin\/docker-init|\S*tini)(\s|$)/.test(r.args);
  const inits = rows.filter(isInit);
  const oldest = [...rows].sort((a, b) => a.pid - b.pid)[0];
  const tree = new Set<number>(inits.length > 0 ? inits.map((r) => r.pid) : oldest === undefined ? [] : [oldest.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of rows) {
      if (!tree.has(r.pid) && tree.has(r.ppid)) {
        tree.add(r.pid);
        grew = true;
      }
    }
  }
  const worker = rows.filter((r) => tree.has(r.pid) && !isInit(r));
  if (worker.length === 0) return undefined;
  const rssKiB = worker.reduce((sum, r) => sum + r.rssKiB, 0);
  return { threads: worker.reduce((sum, r) => sum + r.threads, 0), rssMiB: Math.round((rssKiB / 1024) * 10) / 10, uids: [...new Set(worker.map((r) => r.uid))] };
}

/**
 * The bench: network, Redis, MONITOR, and the workers started on it. Always call close(): it removes
 * every container and the network it made, and the temporary directory with the env files.
 */
export class ContractBench {
  readonly prefix = `gpu-fleet-check-${randomBytes(4).toString("hex")}`;
  readonly network = this.prefix;
  readonly redis = `${this.prefix}-redis`;
  private readonly password = randomBytes(18).toString("base64url");
  private readonly dir = mkdtempSync(join(tmpdir(), "gpu-fleet-check-"));
  private readonly containers: string[] = [];
  private networkMade = false;
  private monitor?: ChildProcess;
  private pusher?: ChildProcess;
  readonly jobs = new Map<string, JobRecord>();
  /** Every answer-like push seen, for jobs the bench did not push. */
  private readonly listeners: ((event: RedisEvent) => void)[] = [];
  private counter = 0;

  constructor(private readonly job: SampleJobSpec) {}

  /** The env of a docker exec that authenticates redis-cli: the password by name, never as an argument. */
  private get authEnv(): NodeJS.ProcessEnv {
    return { ...process.env, REDISCLI_AUTH: this.password };
  }

  /** Creates the network and Redis, waits until it answers, and starts watching it. */
  async start(redisImage: string, say: (line: string) => void = () => undefined): Promise<void> {
    await ensureImage(redisImage, say);
    const net = await docker(["network", "create", "--internal", "--label", "gpu-fleet.check=1", this.network]);
    if (net.code !== 0) throw new BenchError(`could not create the private network: ${net.stderr.trim()}`);
    this.networkMade = true;
    const envFile = join(this.dir, "redis.env");
    writeFileSync(envFile, `REDIS_PASSWORD=${this.password}\n`, { mode: 0o600 });
    this.containers.push(this.redis);
    // Config on stdin (`redis-server -`), from printf, a builtin of sh: the password is in no argv.
    const config = 'printf "requirepass %s\\nsave \\"\\"\\nappendonly no\\nprotected-mode no\\n" "$REDIS_PASSWORD" | redis-server -';
    const run = await docker(["run", "-d", "--name", this.redis, "--network", this.network, "--label", "gpu-fleet.check=1", "--env-file", envFile, "--entrypoint", "sh", redisImage, "-c", config]);
    if (run.code !== 0) throw new BenchError(`could not start Redis (${redisImage}): ${run.stderr.trim()}`);
    for (let i = 0; ; i++) {
      const ping = await this.cli(["PING"]);
      if (ping.trim() === "PONG") break;
      if (i >= 100) throw new BenchError(`Redis (${redisImage}) did not answer PING within 20 s`);
      await sleep(200);
    }
    this.monitor = spawn("docker", ["exec", "-e", "REDISCLI_AUTH", this.redis, "redis-cli", "MONITOR"], { env: this.authEnv, stdio: ["ignore", "pipe", "ignore"] });
    const lines = createInterface({ input: this.monitor.stdout! });
    lines.on("line", (line) => {
      const event = parseMonitorLine(line);
      if (event !== undefined) this.observe(event);
    });
    // The pusher: one sh in the Redis container that LPUSHes each line of its stdin onto the queue.
    this.pusher = spawn("docker", ["exec", "-i", "-e", "REDISCLI_AUTH", "-e", `QUEUE=${this.job.queue}`, this.redis, "sh", "-c", 'while IFS= read -r line; do redis-cli LPUSH "$QUEUE" "$line" >/dev/null; done'], {
      env: this.authEnv,
      stdio: ["pipe", "ignore", "ignore"],
    });
    this.pusher.stdin?.on("error", () => undefined);
    // MONITOR must be listening before the first job: wait until it sees a command.
    const seen = new Promise<void>((resolve) => this.listeners.push((e) => (e.command === "ECHO" ? resolve() : undefined)));
    for (let i = 0; i < 50; i++) {
      await this.cli(["ECHO", "monitor-check"]);
      if (await Promise.race([seen.then(() => true), sleep(200).then(() => false)])) return;
    }
    throw new BenchError("Redis MONITOR did not start");
  }

  private observe(event: RedisEvent): void {
    for (const listen of this.listeners) listen(event);
    if (!PUSH_COMMANDS.has(event.command)) return;
    const [key, ...values] = event.args;
    if (key === this.job.queue) {
      for (const value of values) {
        for (const job of this.jobs.values()) if (job.pushedAt === undefined && value === job.payload) job.pushedAt = event.at;
      }
    } else if (key === this.job.results) {
      for (const value of values) {
        for (const job of this.jobs.values()) {
          if (job.answeredAt === undefined && value.includes(this.job.answer.split("{id}").join(job.id))) job.answeredAt = event.at;
        }
      }
    }
  }

  /** redis-cli in the Redis container; returns its stdout. */
  async cli(args: readonly string[]): Promise<string> {
    const r = await docker(["exec", "-e", "REDISCLI_AUTH", this.redis, "redis-cli", "--raw", ...args], { env: this.authEnv, timeoutMs: 20_000 });
    return r.stdout;
  }

  /** Pushes a new job (through the pusher) and returns its record. */
  push(): JobRecord {
    const id = `${this.prefix.slice(-8)}-${++this.counter}`;
    const job: JobRecord = { id, payload: this.job.payload.split("{id}").join(id) };
    this.jobs.set(id, job);
    if (job.payload.includes("\n")) throw new BenchError("sampleJob.payload holds a newline; give it on one line");
    this.pusher?.stdin?.write(`${job.payload}\n`);
    return job;
  }

  /** Waits until `done` holds, checking every 50 ms, or the timeout; returns whether it held. */
  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > end) return false;
      await sleep(50);
    }
    return true;
  }

  /**
   * Starts one worker with the fleet's docker run flags for `worker` on `host`, on the private
   * network, with REDIS_URL pointing at the bench's Redis. Secret env of the service gets an empty
   * value (its secrets are not available offline).
   */
  async startWorker(worker: WorkerPlan, host: HostPlan, name: string): Promise<DockerResult> {
    const env = { ...worker.env, ...Object.fromEntries(Object.keys(worker.secretEnv).map((k) => [k, ""])), REDIS_URL: `redis://:${this.password}@${this.redis}:6379/0` };
    const envFile = join(this.dir, `${name}.env`);
    writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(""), { mode: 0o600 });
    this.containers.push(name);
    return docker([
      "run", "-d", "--name", name, "--hostname", worker.name, "--network", this.network, "--env-file", envFile, "--label", "gpu-fleet.check=1",
      ...dockerRunFlags(worker, host),
      worker.image,
      ...(worker.command ?? []),
    ]);
  }

  /** Threads, RSS and uids of a container's processes now, or undefined when it runs none. */
  async sample(container: string): Promise<ProcessSample | undefined> {
    const r = await docker(["top", container, "-eo", "pid,ppid,uid,nlwp,rss,args"], { timeoutMs: 20_000 });
    return r.code === 0 ? parseTop(r.stdout) : undefined;
  }

  async inspect(container: string): Promise<ContainerInspect | undefined> {
    const r = await docker(["inspect", container]);
    if (r.code !== 0) return undefined;
    const parsed = JSON.parse(r.stdout) as ContainerInspect[];
    return parsed[0];
  }

  async close(): Promise<void> {
    this.pusher?.stdin?.end();
    this.pusher?.kill();
    this.monitor?.kill();
    if (this.containers.length > 0) await docker(["rm", "-f", "-v", ...this.containers]);
    if (this.networkMade) await docker(["network", "rm", this.network]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ContainerInspect {
  readonly State: { readonly Status: string; readonly Running: boolean; readonly ExitCode: number; readonly OOMKilled: boolean; readonly Health?: { readonly Status: string } };
  readonly Config: { readonly User: string };
  readonly HostConfig: { readonly CapDrop: readonly string[] | null; readonly ReadonlyRootfs: boolean; readonly Memory: number; readonly NanoCpus: number };
}

/** The bench could not be built (Docker, the network, Redis): not a verdict on the image. */
export class BenchError extends Error {}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
