// The pure parts of check-image and tune: MONITOR and docker top parsing, throughput, percentiles,
// the early-stop rule, the best row and the YAML snippet. Expected values worked out by hand.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseMonitorLine, parseTop } from "../../scripts/lib/contract-run";
import { best, clearlyWorse, percentileMs, row, table, throughput, yamlSnippet } from "../../scripts/lib/tuning";

describe("parsing what Redis and Docker print", () => {
  it("reads a MONITOR line with escaped JSON", () => {
    const e = parseMonitorLine(String.raw`1764650000.250000 [0 172.18.0.3:41234] "LPUSH" "results" "{\"id\": \"j-1\", \"sum\": 1.5}\x41"`);
    assert.deepEqual(e, { at: 1764650000.25, command: "LPUSH", args: ["results", '{"id": "j-1", "sum": 1.5}A'] });
    assert.equal(parseMonitorLine("OK"), undefined);
  });

  it("sums the threads and RSS of the worker's process tree under Docker's init; a health check beside it is not the worker's", () => {
    // init 100 → worker 101 → its helper 102 (17 + 2 threads, 50 + 10 MiB); a health check 130 run by
    // `docker exec`, whose parent (the shim, 90) is outside the container.
    const top = "PID PPID UID NLWP RSS COMMAND\n100 90 10001 1 700 /sbin/docker-init -- python3 w.py\n101 100 10001 17 51200 python3 w.py\n102 101 10001 2 10240 python3 -c helper\n130 90 10001 9 30720 python3 w.py --health\n";
    assert.deepEqual(parseTop(top), { threads: 19, rssMiB: 60, uids: [10001] });
    assert.equal(parseTop("PID PPID UID NLWP RSS COMMAND\n100 90 0 1 700 /sbin/docker-init -- x\n"), undefined);
    // Without an init: the oldest process's tree.
    assert.deepEqual(parseTop("PID PPID UID NLWP RSS COMMAND\n200 90 10001 4 2048 worker\n230 90 10001 3 1024 health\n"), { threads: 4, rssMiB: 2, uids: [10001] });
  });
});

describe("tune's arithmetic", () => {
  // Four jobs pushed at 0, answered at 1, 2, 3, 4 s: 4 jobs in 4 s.
  const jobs = [1, 2, 3, 4].map((t) => ({ pushedAt: 100, answeredAt: 100 + t }));

  it("throughput is jobs over first push to last answer; p95 is the nearest rank", () => {
    assert.equal(throughput(jobs), 1);
    assert.equal(percentileMs(jobs, 50), 2000);
    assert.equal(percentileMs(jobs, 95), 4000); // ceil(0.95 × 4) = 4th
    assert.equal(throughput([]), 0);
  });

  it("stops a candidate early only after half its jobs and below half the best", () => {
    assert.equal(clearlyWorse(jobs, 8, 2.01), true); // 4 of 8 done, 1 < 0.5 × 2.01
    assert.equal(clearlyWorse(jobs, 8, 2), false); // 1 is not below 1
    assert.equal(clearlyWorse(jobs, 10, 5), false); // 4 of 10: not half yet
    assert.equal(clearlyWorse(jobs, 8, undefined), false); // nothing to compare with
  });

  it("the best row is the highest finished throughput; a tie goes to the lower p95", () => {
    const fast = row(2, 1, "measured", "", [1, 2].map((t) => ({ pushedAt: 0, answeredAt: t }))); // 1 job/s, p95 2000
    const tie = row(1, 2, "measured", "", [1, 1, 2].map((t, i) => ({ pushedAt: 0, answeredAt: i === 2 ? 3 : t }))); // 3 jobs in 3 s, p95 3000
    const faster = row(4, 1, "stopped early", "x", [0.5, 1].map((t) => ({ pushedAt: 0, answeredAt: t }))); // 2 jobs/s, not finished
    assert.equal(best([tie, fast, faster]), fast);
    assert.equal(best([faster]), undefined);
    assert.match(table([tie, fast, faster]), /^ +2 +1 +2 +1\.00 +1000 +2000  best$/m);
    assert.match(table([tie, fast, faster]), /^ +4 +1 +2 +2\.00 .*stopped early: x$/m);
  });

  it("the snippet is YAML of the host's worker entry", () => {
    assert.deepEqual(parse(yamlSnippet("cpu-1", "kokoro-cpu", { replicas: 6, threads: 2 })), { "gpu-fleet:hosts": { "cpu-1": { workers: { "kokoro-cpu": { replicas: 6, threads: 2 } } } } });
  });
});
