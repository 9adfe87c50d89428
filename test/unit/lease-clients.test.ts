// The VRAM lease clients (scripts/lease/gpu_lease.py, scripts/lease/gpu-lease.sh) with real processes
// contending for one GPU's leases in a temporary lease directory: two holders whose sum exceeds the
// capacity never hold at once, the second gets its lease within a second after the first releases or
// is killed with SIGKILL, the two clients see each other's leases. Needs python3 and flock (util-linux).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { leasesByGpu, parseLeaseListing, describeLease } from "../../components/core/leases";

const root = path.resolve(__dirname, "..", "..");
const PY = path.join(root, "scripts", "lease", "gpu_lease.py");
const SH = path.join(root, "scripts", "lease", "gpu-lease.sh");
const CAPACITY = "8000";

const missing = ["python3", "flock"].filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
const skip = missing.length > 0 && process.env.CI !== "true" ? `needs ${missing.join(" and ")}` : false;

type Client = "py" | "sh";

function clientArgv(client: Client, args: string[]): [string, string[]] {
  return client === "py" ? ["python3", [PY, ...args]] : ["bash", [SH, ...args]];
}

/** Microseconds since the epoch (bash 5), as a command records them in the log: no extra process. */
const release = (log: string, holder: string): void => void spawnSync("touch", [`${log}.release-${holder}`]);
const STAMP = "${EPOCHREALTIME/./}";

interface Holder {
  readonly child: ChildProcess;
  stderr: string;
  readonly exited: Promise<number | null>;
}

/**
 * Starts a client that holds `mib` while its command records start in the log, waits for the file
 * `<log>.release-<holder>` (the test's go-ahead), records end and exits.
 */
function hold(dir: string, log: string, client: Client, holder: string, mib: number, extra: string[] = []): Holder {
  const record = `echo "start ${holder} ${STAMP}" >> ${log}; until [ -e ${log}.release-${holder} ]; do sleep 0.02; done; echo "end ${holder} ${STAMP}" >> ${log}`;
  const [cmd, argv] = clientArgv(client, ["hold", "--gpu", "0", "--mib", String(mib), "--capacity", CAPACITY, "--holder", holder, "--dir", dir, ...extra, "--", "bash", "-c", record]);
  // Its own process group, so a test can kill the holder with everything it started.
  const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  const h: Holder = { child, stderr: "", exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))) };
  child.stderr?.on("data", (d: Buffer) => (h.stderr += d.toString()));
  return h;
}

/** A Python worker that takes its lease with the library (env defaults) and keeps it until killed. */
function pythonWorker(dir: string, holder: string, mib: number): Holder {
  const code = `import sys, time; sys.path.insert(0, ${JSON.stringify(path.dirname(PY))}); import gpu_lease
lease = gpu_lease.acquire()
print("held", flush=True)
time.sleep(120)`;
  const env = { ...process.env, GPU_FLEET_GPU: "0", GPU_FLEET_VRAM_MIB: String(mib), GPU_FLEET_LEASE_CAPACITY_MIB: CAPACITY, GPU_FLEET_LEASE_DIR: dir, WORKER_NAME: holder };
  const child = spawn("python3", ["-c", code], { stdio: ["ignore", "pipe", "pipe"], env, detached: true });
  const h: Holder = { child, stderr: "", exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))) };
  child.stderr?.on("data", (d: Buffer) => (h.stderr += d.toString()));
  return h;
}

/** The log's events in milliseconds since the epoch. */
function events(log: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(log)) return out;
  for (const line of readFileSync(log, "utf8").split("\n")) {
    const [what, who, ms] = line.split(" ");
    if (what && who && ms) out.set(`${what} ${who}`, Number(ms) / 1000);
  }
  return out;
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function listing(dir: string, client: Client = "sh"): string {
  const [cmd, argv] = clientArgv(client, ["list", "--dir", dir]);
  const r = spawnSync(cmd, argv, { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** One `gpu_lease.py list` without blocking the event loop. */
function listingAsync(dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [PY, "list", "--dir", dir], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", () => resolve(out));
  });
}

/** Samples the live leases while `running`: the largest sum seen, and who was seen. */
function sampler(dir: string): { seen: (holder: string) => Promise<void>; stop: () => Promise<{ maxMiB: number; seen: Set<string> }> } {
  let running = true;
  let maxMiB = 0;
  const seen = new Set<string>();
  const loop = (async () => {
    while (running) {
      for (const gpu of leasesByGpu(parseLeaseListing(await listingAsync(dir)))) {
        maxMiB = Math.max(maxMiB, gpu.leasedMiB);
        for (const h of gpu.holders) seen.add(h.holder);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    seen: (holder: string) => until(`the sampler to see ${holder}`, () => seen.has(holder), 30_000),
    stop: async () => {
      running = false;
      await loop;
      return { maxMiB, seen };
    },
  };
}

describe("VRAM lease clients with real processes", { skip, timeout: 120_000 }, () => {
  let dir = "";
  let work = "";
  const started: Holder[] = [];
  before(() => {
    work = mkdtempSync(path.join(tmpdir(), "gpu-fleet-timeshare-lease-"));
  });
  after(() => {
    for (const h of started) if (h.child.exitCode === null && h.child.pid !== undefined) try { process.kill(-h.child.pid, "SIGKILL"); } catch { /* gone */ }
    rmSync(work, { recursive: true, force: true });
  });
  let n = 0;
  const fresh = (): { dir: string; log: string } => {
    n++;
    dir = path.join(work, `leases-${n}`);
    spawnSync("mkdir", ["-p", dir]);
    return { dir, log: path.join(work, `events-${n}.log`) };
  };
  const track = (h: Holder): Holder => {
    started.push(h);
    return h;
  };

  for (const [first, second] of [["py", "py"], ["sh", "sh"], ["sh", "py"], ["py", "sh"]] as [Client, Client][]) {
    it(`${first} then ${second}: 5000 + 4000 > 8000 never held at once; the second starts within 1 s of the release`, async () => {
      const { dir, log } = fresh();
      const watch = sampler(dir);
      const a = track(hold(dir, log, first, "a", 5000));
      await until("a's lease", () => events(log).has("start a"), 30_000);
      const b = track(hold(dir, log, second, "b", 4000));
      await until("b waiting", () => b.stderr.includes("waiting for room"), 30_000);
      assert.match(b.stderr, /waiting for room: a holds 5000 MiB/);
      await watch.seen("a");
      release(log, "a");
      assert.equal(await a.exited, 0, a.stderr);
      await until("b's lease", () => events(log).has("start b"), 30_000);
      const bLease = parseLeaseListing(listing(dir)).leases.find((l) => l.holder === "b");
      assert.ok(bLease, "b holds its lease while its command runs");
      await watch.seen("b");
      release(log, "b");
      assert.equal(await b.exited, 0, b.stderr);
      const { maxMiB } = await watch.stop();
      const e = events(log);
      const [aEnd, bStart] = [e.get("end a"), e.get("start b")];
      assert.ok(aEnd !== undefined && bStart !== undefined, JSON.stringify([...e]));
      assert.ok(bStart >= aEnd, `b started at ${bStart}, before a ended at ${aEnd}`);
      // When b took its lease (the lease line's since), not when its command got to run.
      const handover = bLease.since * 1000 - aEnd;
      assert.ok(handover >= 0 && handover < 1000, `b took its lease ${handover} ms after a's command ended`);
      assert.ok(maxMiB <= 8000, `live leases summed to ${maxMiB} MiB at once`);
      assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".lease")), [], "released leases leave no file");
    });
  }

  it("two leases that fit together are held at once (3000 + 4000 ≤ 8000)", async () => {
    const { dir, log } = fresh();
    const a = track(hold(dir, log, "py", "a", 3000));
    const b = track(hold(dir, log, "sh", "b", 4000));
    await until("both leases", () => events(log).has("start a") && events(log).has("start b"), 30_000);
    assert.deepEqual(leasesByGpu(parseLeaseListing(listing(dir))).map((g) => [g.leasedMiB, g.holders.map((h) => h.holder).sort()]), [[7000, ["a", "b"]]]);
    release(log, "a");
    release(log, "b");
    assert.equal(await a.exited, 0, a.stderr);
    assert.equal(await b.exited, 0, b.stderr);
    assert.ok(!a.stderr.includes("waiting") && !b.stderr.includes("waiting"), a.stderr + b.stderr);
  });

  for (const [victim, waiter] of [["py", "sh"], ["sh", "py"]] as [Client, Client][]) {
    it(`a ${victim} holder killed with SIGKILL frees its lease: the ${waiter} waiter gets it within 1 s`, async () => {
      const { dir, log } = fresh();
      const a = track(victim === "py" ? pythonWorker(dir, "a", 6000) : hold(dir, log, "sh", "a", 6000));
      await until("a's lease", () => parseLeaseListing(listing(dir)).leases.some((l) => l.holder === "a" && l.state === "live"), 30_000);
      const b = track(hold(dir, log, waiter, "b", 4000));
      await until("b waiting", () => b.stderr.includes("waiting for room"), 30_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(events(log).has("start b"), false, "b started while a held 6000 of 8000 MiB");
      const killedAt = Date.now();
      process.kill(-a.child.pid!, "SIGKILL"); // the holder and everything it started
      await until("b's lease", () => events(log).has("start b"), 30_000);
      const bLease = parseLeaseListing(listing(dir)).leases.find((l) => l.holder === "b" && l.state === "live");
      assert.ok(bLease);
      const handover = bLease.since * 1000 - killedAt;
      assert.ok(handover < 1000, `b took its lease ${handover} ms after the kill`);
      release(log, "b");
      assert.equal(await b.exited, 0, b.stderr);
      // a's file stayed behind unlocked: it counts nothing and the next acquire removed it.
      assert.equal(existsSync(path.join(dir, "gpu0.a.lease")), false);
    });
  }

  it("a stale file counts nothing; list marks it stale; the parser groups live leases per GPU", async () => {
    const { dir } = fresh();
    spawnSync("sh", ["-c", `echo 'gpu=0 holder=ghost mib=7000 since=1700000000 pid=1' > ${dir}/gpu0.ghost.lease`]);
    const w = track(pythonWorker(dir, "w", 3000));
    await until("w's lease", () => parseLeaseListing(listing(dir)).leases.some((l) => l.holder === "w"), 30_000);
    const text = listing(dir);
    const parsed = parseLeaseListing(text);
    assert.deepEqual(parsed.problems, []);
    // ghost's file was cleaned when w acquired (under the GPU's lock); only w is left, live.
    assert.deepEqual(parsed.leases.map((l) => [l.gpu, l.holder, l.mib, l.state]), [[0, "w", 3000, "live"]]);
    assert.equal(parseLeaseListing(listing(dir, "py")).leases[0]?.holder, "w", "python list reads the shell format");
    process.kill(-w.child.pid!, "SIGKILL");
    await w.exited;
    assert.deepEqual(parseLeaseListing(listing(dir)).leases.map((l) => [l.holder, l.state]), [["w", "stale"]]);
    assert.deepEqual(leasesByGpu(parseLeaseListing(listing(dir))), []);
  });

  it("check: exit 0 when it fits, 3 with the holders when not; bad input exits 2 with the reason", async () => {
    const { dir } = fresh();
    const w = track(pythonWorker(dir, "studio-whisper-1", 3584));
    await until("the lease", () => listing(dir).includes("studio-whisper-1"), 30_000);
    const check = (mib: string, capacity = "7680"): ReturnType<typeof spawnSync> =>
      spawnSync("bash", [SH, "check", "--gpu", "0", "--mib", mib, "--capacity", capacity, "--dir", dir], { encoding: "utf8" });
    assert.equal(check("4096").status, 0); // 3584 + 4096 = 7680
    const no = check("4097"); // 7681
    assert.equal(no.status, 3);
    assert.match(String(no.stdout), /^gpu=0 holder=studio-whisper-1 mib=3584 since=\d+\.\d{6} pid=\d+$/m);
    const never = check("9000");
    assert.equal(never.status, 2);
    assert.match(String(never.stderr), /wants 9000 MiB but GPU 0 has 7680 MiB for leases: it can never fit/);
    const py = spawnSync("python3", [PY, "hold", "--gpu", "0", "--mib", "9000", "--capacity", "7680", "--holder", "x", "--dir", dir, "--", "true"], { encoding: "utf8" });
    assert.equal(py.status, 2);
    assert.match(py.stderr, /x wants 9000 MiB but GPU 0 has 7680 MiB for leases: it can never fit/);
    const missingDir = spawnSync("bash", [SH, "check", "--gpu", "0", "--mib", "1", "--capacity", "10", "--dir", path.join(dir, "nope")], { encoding: "utf8" });
    assert.equal(missingDir.status, 2);
    assert.match(missingDir.stderr, /lease directory .*nope does not exist/);
    process.kill(-w.child.pid!, "SIGKILL");
  });

  it("a timeout gives up with exit 3, naming who holds the VRAM; a holder name in use is refused", async () => {
    const { dir, log } = fresh();
    const w = track(pythonWorker(dir, "big", 7000));
    await until("the lease", () => listing(dir).includes("holder=big"), 30_000);
    for (const client of ["py", "sh"] as Client[]) {
      const t0 = Date.now();
      const [cmd, argv] = clientArgv(client, ["hold", "--gpu", "0", "--mib", "2000", "--capacity", CAPACITY, "--holder", "late", "--dir", dir, "--timeout", "1", "--", "true"]);
      const r = spawnSync(cmd, argv, { encoding: "utf8" });
      assert.equal(r.status, 3, `${client}: ${r.stderr}`);
      assert.match(r.stderr, /late wants 2000 MiB of GPU 0 \(8000 MiB for leases\), but big holds 7000 MiB \(for \d+ s\)/);
      assert.ok(Date.now() - t0 >= 1000);
    }
    const twin = spawnSync("bash", [SH, "hold", "--gpu", "0", "--mib", "100", "--capacity", CAPACITY, "--holder", "big", "--dir", dir, "--", "true"], { encoding: "utf8" });
    assert.equal(twin.status, 2);
    assert.match(twin.stderr, /holder big already holds a lease on GPU 0/);
    assert.equal(events(log).size, 0);
    process.kill(-w.child.pid!, "SIGKILL");
  });
});

describe("lease listing parser", () => {
  it("reads live and stale lines, reports lines it cannot read, describes a lease", () => {
    const listing = parseLeaseListing(
      [
        "gpu=0 holder=studio-qwen3-tts-1 mib=4403 since=1764640267 pid=7 state=live",
        "gpu=0 holder=studio-whisper-1 mib=3584 since=1764640000 pid=9 state=stale",
        "gpu=1 holder=x mib=100 since=1764640000",
        "gpu=0 holder=broken mib=lots since=1",
        "",
      ].join("\n"),
    );
    assert.deepEqual(listing.problems, ["'gpu=0 holder=broken mib=lots since=1': no valid mib"]);
    assert.deepEqual(listing.leases.map((l) => [l.gpu, l.holder, l.mib, l.state]), [
      [0, "studio-qwen3-tts-1", 4403, "live"],
      [0, "studio-whisper-1", 3584, "stale"],
      [1, "x", 100, "live"],
    ]);
    const byGpu = leasesByGpu(listing);
    assert.deepEqual(byGpu.map((g) => [g.gpu, g.leasedMiB, g.holders.map((h) => h.holder)]), [[0, 4403, ["studio-qwen3-tts-1"]], [1, 100, ["x"]]]);
    // 1764640267 = 2025-12-02T01:51:07Z; 200 s later.
    assert.equal(describeLease(byGpu[0].holders[0], 1764640467), "studio-qwen3-tts-1 holds 4403 MiB since 01:51:07 UTC (3 min)");
  });
});
