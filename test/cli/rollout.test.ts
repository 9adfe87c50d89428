// npm run rollout on the example stacks. Expected numbers are worked out by hand from the stacks,
// the planner's lane rule (budget = max(a quarter of the workers, the hosts that run the service),
// at least one lane per host) and the default step times (pull 60 s, drain = drainSeconds 30 s,
// start 5 s, start to healthy 30 s): one worker of a lane takes 30 + 5 + 30 = 65 s.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { REPO_ROOT, STACK_TRACE } from "../support/run";

interface RolloutJson {
  services: Record<string, { workers: number; minRunning: number; maxUnavailable: number }>;
  blocked: string[];
  hosts: Record<string, { completed: boolean }>;
  durationSeconds: number;
}
// Two synths per run (each side): slower than runTool's 2-minute limit on a loaded machine.
const rollout = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "scripts/rollout.ts"), ...args], { cwd: REPO_ROOT, encoding: "utf8", timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const json = (...args: string[]): RolloutJson => {
  const r = rollout(...args, "--json");
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as RolloutJson;
};

describe("npm run rollout", () => {
  it("hetzner-gpu, every worker replaced: each service keeps all but its budget", () => {
    // kokoro: 3 + 9 + 2 = 14 workers on 3 hosts, budget max(3, 3) = 3 → at least 11.
    // kokoro-cpu: 3 on cpu-1, budget max(0, 1) = 1 → 2. yolo: 2 + 1 on 2 hosts, budget 2 → 1.
    // Longest lane: gex44-2's 9 kokoro workers one after another: 60 + 9 × 65 = 645 s.
    const r = json("hetzner-gpu", "--parallel", "1000");
    assert.deepEqual(r.services, {
      kokoro: { workers: 14, minRunning: 11, maxUnavailable: 3 },
      "kokoro-cpu": { workers: 3, minRunning: 2, maxUnavailable: 1 },
      yolo: { workers: 3, minRunning: 1, maxUnavailable: 2 },
    });
    assert.deepEqual(r.blocked, []);
    assert.deepEqual(r.hosts, { "cpu-1": { completed: true }, "gex44-1": { completed: true }, "gex44-2": { completed: true }, "gtx1080-box": { completed: true } });
    assert.equal(r.durationSeconds, 645);
  });

  it("hetzner-gpu with gex44-2 down: it fails alone, the other hosts complete", () => {
    // gex44-2's 9 kokoro workers are down throughout; gex44-1's and gtx1080-box's lanes take one each:
    // 14 − 9 − 2 = 3 running at least. Others end with cpu-1 and gex44-1 (3 workers in a lane):
    // 60 + 3 × 65 = 255 s.
    const r = json("hetzner-gpu", "--down", "gex44-2", "--parallel", "1000");
    assert.deepEqual(r.services.kokoro, { workers: 14, minRunning: 3, maxUnavailable: 11 });
    assert.deepEqual(r.blocked, []);
    assert.deepEqual(r.hosts, { "cpu-1": { completed: true }, "gex44-1": { completed: true }, "gex44-2": { completed: false }, "gtx1080-box": { completed: true } });
    assert.equal(r.durationSeconds, 255);
  });

  it("laptop, from an older kokoro image: only kokoro rolls, one worker at a time", () => {
    // kokoro: 2 workers, budget max(0, 1) = 1 → 1 running at least; yolo untouched.
    // 60 (pull) + 2 × 65 = 190 s.
    const dir = mkdtempSync(join(tmpdir(), "fleet-rollout-"));
    const old = join(dir, "old.yaml");
    writeFileSync(old, readFileSync(join(REPO_ROOT, "stacks/Pulumi.laptop.yaml"), "utf8").replace("kokoro-gpu:1.4.0", "kokoro-gpu:1.3.0"));
    const r = json("laptop", "--from", old, "--parallel", "1000");
    assert.deepEqual(r.services, { kokoro: { workers: 2, minRunning: 1, maxUnavailable: 1 }, yolo: { workers: 1, minRunning: 1, maxUnavailable: 0 } });
    assert.equal(r.durationSeconds, 190);
    const text = rollout("laptop", "--from", old, "--parallel", "1000");
    assert.match(text.stdout, /^service kokoro: 2 workers, at least 1 running, at most 1 unavailable at once$/m);
    assert.match(text.stdout, /^  running: 0s 2, 60s 1, 190s 2$/m);
  });

  it("refuses a bad command line with exit 2 and no stack trace", () => {
    for (const args of [["laptop", "--down", "nope"], ["laptop", "--parallel", "0"], [], ["laptop", "--bogus"]]) {
      const r = rollout(...args);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, STACK_TRACE);
    }
  });
});
