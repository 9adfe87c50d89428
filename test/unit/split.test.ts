// A fleet split over several stacks: the shared contract and the checks across stacks. Expected
// messages and counts are written by hand from the example stacks (stacks/Pulumi.fleet-*.yaml).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { planConfig } from "../../components/core/pipeline";
import { checkSplitFleet, contractProblems, sharedContract, type SplitStack } from "../../components/core/split";
import { parseStackFile } from "../../components/core/stack-file";
import { loadStack } from "../../scripts/lib/stack";
import { readFileSync } from "node:fs";

/** A stack of the example, optionally edited as text first. */
const stackOf = (name: string, edit: (text: string) => string = (t) => t): SplitStack => {
  const path = loadStack(name).path;
  const file = parseStackFile(edit(readFileSync(path, "utf8")), `Pulumi.${name}.yaml`);
  const result = planConfig(file.document, file.diagnostics);
  return { name, spec: result.spec, plan: result.plan, diagnostics: [...result.errors, ...result.warnings] };
};
const errors = (stacks: SplitStack[]): string[] => checkSplitFleet(stacks).filter((d) => d.severity === "error").map((d) => `${d.stack ?? "fleet"}: ${d.message}`);

describe("split fleet", () => {
  it("the example plans across its three stacks, kokoro-cpu exactly at its minimum of 6", () => {
    assert.deepEqual(errors([stackOf("fleet-shared"), stackOf("fleet-gpu"), stackOf("fleet-cpu")]), []);
  });

  it("refuses a service whose workers across stacks fall one below its minimum", () => {
    const cpu = stackOf("fleet-cpu", (t) => t.replace("nbg1 }\n      workers: { kokoro-cpu: { replicas: 3 } }", "nbg1 }\n      workers: { kokoro-cpu: { replicas: 2 } }"));
    assert.deepEqual(errors([stackOf("fleet-shared"), stackOf("fleet-gpu"), cpu]), [
      "fleet: service kokoro-cpu has 5 workers across the fleet (fleet-shared: 0, fleet-gpu: 0, fleet-cpu: 5), below its minimum of 6 (split.minReplicas in fleet-shared). Add replicas or hosts, or lower the minimum.",
    ]);
  });

  it("refuses an address, or a host name, in two stacks", () => {
    const cpu = stackOf("fleet-cpu", (t) => t.replace("  gpu-fleet:hosts:\n", "  gpu-fleet:hosts:\n    old-box:\n      ssh: { address: 203.0.113.11, hostKey: trust-on-first-use }\n      cpu: { cores: 8 }\n      ramMiB: 16384\n      workers: {}\n    gex44-1:\n      ssh: { address: 198.51.100.9, hostKey: trust-on-first-use }\n      cpu: { cores: 8 }\n      ramMiB: 16384\n      workers: {}\n"));
    assert.deepEqual(errors([stackOf("fleet-shared"), stackOf("fleet-gpu"), cpu]), [
      'fleet: address 203.0.113.11 is in fleet-gpu and in fleet-cpu: one machine belongs to one stack. Remove it from one of them (docs/scale.md, "Move hosts between stacks").',
      'fleet: host gex44-1 is in fleet-gpu and in fleet-cpu: one machine belongs to one stack. Remove it from one of them (docs/scale.md, "Move hosts between stacks").',
    ]);
  });

  it("reports each stack's own budget errors under its name", () => {
    const gpu = stackOf("fleet-gpu", (t) => t.replace("workers: { kokoro: { replicas: 5 } }", "workers: { kokoro: { replicas: 50 } }"));
    const found = errors([stackOf("fleet-shared"), gpu, stackOf("fleet-cpu")]);
    assert.ok(found.some((e) => e.startsWith("fleet-gpu: hosts.gex44-1.workers")), found.join("\n"));
  });

  it("a group stack must name the shared stack, agree on tags and Redis, and leave the policy to it", () => {
    const gpu = stackOf("fleet-gpu", (t) => t.replace("sharedStack: fleet-shared", "sharedStack: other-shared").replace("port: 6379", "port: 6380"));
    assert.deepEqual(errors([stackOf("fleet-shared"), gpu, stackOf("fleet-cpu")]), [
      "fleet-gpu: split.sharedStack: names other-shared, but the fleet's shared stack is fleet-shared.",
      "fleet-gpu: redis: is redis-vps:6380, but other-shared opens redis-vps:6379 to workers; use the shared stack's redis.",
    ]);
    const managed = stackOf("fleet-cpu", (t) => t.replace(', policy: external }', " }"));
    assert.deepEqual(managed.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.path}: ${d.message}`), [
      "tailnet.policy: is managed, but a group stack does not own the tailnet policy (its shared stack does). Set tailnet.policy: external.",
    ]);
  });

  it("the contract: what the shared stack exports, and a group's disagreement, field by field", () => {
    const shared = stackOf("fleet-shared").spec;
    const gpu = stackOf("fleet-gpu").spec;
    assert.ok(shared !== undefined && gpu !== undefined);
    assert.deepEqual(sharedContract(shared), { version: 1, workerTag: "tag:gpu-worker", redisTag: "tag:redis", redis: { host: "redis-vps", port: 6379 }, minReplicas: { kokoro: 8, "kokoro-cpu": 6 } });
    assert.deepEqual(contractProblems(sharedContract(shared), gpu), []);
    assert.deepEqual(contractProblems(undefined, gpu), ["split.sharedStack: fleet-shared exports no fleetShared output; run `pulumi up` on it first (it must have split.role: shared)."]);
    assert.deepEqual(contractProblems({ ...sharedContract(shared), version: 2 }, gpu), ["split.sharedStack: fleet-shared exports fleetShared version 2, this program reads version 1; update both stacks to the same gpu-fleet revision."]);
    assert.deepEqual(contractProblems({ ...sharedContract(shared), workerTag: "tag:x" }, gpu), ["tailnet.workerTag: is tag:gpu-worker, but fleet-shared declares tag:x; use the shared stack's tag."]);
  });
});
