// check-image and tune on the command line, up to the point where they would need Docker: the
// candidates tune derives from the planner, and every refusal before a container starts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { planConfig } from "../../components/core/pipeline";
import { loadStack } from "../../scripts/lib/stack";
import { plannedCandidates } from "../../scripts/tune";
import { gpuFleet, STACK_TRACE } from "../support/run";

describe("tune's candidates", () => {
  it("are the replicas auto gives at 1, 2, 4, 6 threads on the seeds' CCX33 (7 usable cores, 30720 MiB, 2500 MiB workers)", () => {
    const stack = loadStack("hetzner-gpu");
    const host = planConfig(stack.document).plan.hosts.find((h) => h.name === "cpu-1")!;
    // By hand: 1 thread → min(7, floor(30720 / 2500) = 12) = 7; 2 → 3 (6 of 7); 4 → 1; 6 → 1; 8 > 7 cores: none.
    assert.deepEqual(plannedCandidates(stack.document, host, "kokoro-cpu").map((c) => [c.replicas, c.threads]), [[7, 1], [3, 2], [1, 4], [1, 6]]);
  });
});

describe("check-image and tune refuse before touching Docker", () => {
  const cases: [string[], number, RegExp][] = [
    [["check-image"], 2, /name one stack and one service/],
    [["check-image", "hetzner-gpu", "kokoro-cpu", "--jobs", "0"], 2, /--jobs '0' is not a whole number of at least 1/],
    [["check-image", "hetzner-gpu", "nope"], 1, /no service 'nope' in stack hetzner-gpu; services: kokoro, kokoro-cpu, yolo\./],
    [["check-image", "hetzner-gpu", "kokoro-cpu", "--host", "gex44-1"], 1, /gex44-1 runs no kokoro-cpu worker .*hosts that do: cpu-1\./],
    [["tune", "hetzner-gpu", "cpu-1"], 2, /name a stack, a host and a service/],
    [["tune", "hetzner-gpu", "cpu-1", "kokoro-cpu", "--budget", "x"], 2, /--budget 'x' is not a whole number/],
    [["tune", "hetzner-gpu", "nowhere", "kokoro-cpu"], 1, /no host 'nowhere' in stack hetzner-gpu; hosts: gex44-1, gex44-2, gtx1080-box, cpu-1\./],
    [["tune", "hetzner-gpu", "cpu-1", "kokoro-cpu"], 1, /services\.kokoro-cpu\.sampleJob is not declared: tune needs a job to measure/],
  ];
  for (const [args, status, message] of cases) {
    it(`${args.join(" ")} → exit ${status}`, () => {
      const r = gpuFleet(args);
      assert.equal(r.status, status, r.stdout + r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, STACK_TRACE);
    });
  }

  it("--help prints the usage and exits 0", () => {
    for (const command of ["check-image", "tune"]) {
      const r = gpuFleet([command, "--help"]);
      assert.equal(r.status, 0);
      assert.match(r.stdout, new RegExp(`^usage: gpu-fleet ${command} `));
    }
  });
});
