// The cross-stack contract under the mock engine (the real program, one process per stack): a group
// stack reads its shared stack with a StackReference and creates its keys only after the check; one
// that disagrees stops before any key, with the field and the fix. And plan-fleet across stacks.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, resolveStackPath } from "../../scripts/lib/stack";
import { synthInChild } from "../../scripts/lib/synth-sides";
import { runTool, STACK_TRACE } from "../support/run";

describe("split fleet under mocks", () => {
  it("the shared stack owns the policy and no keys; a group stack's keys wait for its shared stack's contract", async () => {
    const [shared, gpu] = await Promise.all([synthInChild(REPO_ROOT, resolveStackPath("fleet-shared")), synthInChild(REPO_ROOT, resolveStackPath("fleet-gpu"))]);
    assert.ok(shared.ok && gpu.ok);
    assert.deepEqual(shared.resources.map((r) => r.type).sort(), ["gpu-fleet:index:Fleet", "gpu-fleet:index:Tailnet", "tailscale:index/acl:Acl"]);
    const reference = gpu.resources.find((r) => r.type === "pulumi:pulumi:StackReference");
    assert.deepEqual(reference?.inputs, { name: "fleet-shared" });
    assert.equal(gpu.resources.filter((r) => r.type === "tailscale:index/acl:Acl").length, 0);
    const keys = gpu.resources.filter((r) => r.type === "tailscale:index/tailnetKey:TailnetKey");
    assert.deepEqual(keys.map((k) => [k.name, k.inputs.tags]), [["fleet-tailnet-key-gex44-1", ["tag:gpu-worker"]], ["fleet-tailnet-key-gex44-2", ["tag:gpu-worker"]]]);
  });

  it("a group stack that disagrees with its shared stack creates no key and says what to change", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-split-"));
    const file = join(dir, "Pulumi.fleet-gpu.yaml");
    writeFileSync(file, readFileSync(resolveStackPath("fleet-gpu"), "utf8").replace('redisTag: "tag:redis"', 'redisTag: "tag:cache"'));
    const result = await synthInChild(REPO_ROOT, file);
    assert.ok(!result.ok);
    assert.equal(
      result.error,
      "this group stack disagrees with its shared stack fleet-shared; nothing was changed.\n  tailnet.redisTag: is tag:cache, but fleet-shared declares tag:redis; use the shared stack's tag.",
    );
  });
});

describe("npm run plan-fleet", () => {
  const planFleet = (...args: string[]) => runTool("scripts/plan-fleet.ts", args);

  it("plans the split example and exits 0", () => {
    const result = planFleet("fleet-shared", "fleet-gpu", "fleet-cpu");
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, "fleet-shared (shared): 0 hosts, 0 workers\nfleet-gpu (group): 2 hosts, 10 workers\nfleet-cpu (group): 2 hosts, 6 workers\n✓ the fleet plans across 3 stacks\n");
  });

  it("exits 1 with each problem when a stack repeats another's address", () => {
    const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-split-"));
    const file = join(dir, "Pulumi.fleet-cpu.yaml");
    writeFileSync(file, readFileSync(resolveStackPath("fleet-cpu"), "utf8").replace("  gpu-fleet:hosts:\n", "  gpu-fleet:hosts:\n    spare:\n      ssh: { address: 203.0.113.10, hostKey: trust-on-first-use }\n      cpu: { cores: 4 }\n      ramMiB: 8192\n      workers: {}\n"));
    const result = planFleet("fleet-shared", "fleet-gpu", file, "--json");
    assert.equal(result.status, 1, result.stderr);
    const json = JSON.parse(result.stdout) as { errors: { stack: string | null; message: string }[] };
    assert.deepEqual(json.errors.map((e) => e.message.split(":")[0]), ["address 203.0.113.10 is in fleet-gpu and in fleet-cpu"]);
    assert.doesNotMatch(result.stderr, STACK_TRACE);
  });

  it("needs the shared stack and a group stack (usage, exit 2)", () => {
    const result = planFleet("fleet-shared");
    assert.equal(result.status, 2);
    assert.match(result.stderr, /name the shared stack and at least one group stack/);
  });
});
