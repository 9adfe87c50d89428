// The time-shared example stack (stacks/Pulumi.egpu-studio.yaml) under the mock engine: onDemand
// workers run always with the lease directory mounted; the manual worker is created stopped, never
// restarted by Docker or by the provider; every time-shared worker gets the lease contract env.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { installPulumiMocks, type PulumiMocks, type RecordedResource } from "../support/pulumi-mocks";
import { engineConfig } from "../../scripts/lib/engine-config";
import { loadStack } from "../../scripts/lib/stack";

const stack = loadStack("egpu-studio");
const { config, secretKeys } = engineConfig(stack);

let mocks: PulumiMocks;
before(async () => {
  mocks = installPulumiMocks({ project: "gpu-fleet", stack: "egpu-studio", config, secretKeys });
  await import("../../index");
  await mocks.settle();
});

const container = (service: string): RecordedResource => mocks.named(`fleet-studio-workers-${service}-1`);
const envs = (c: RecordedResource): string[] => (c.inputs.envs as { value: string[] }).value;
const LEASES = { type: "bind", source: "/run/gpu-fleet/leases", target: "/run/gpu-fleet/leases" };
const MPS = { type: "bind", source: "/run/gpu-fleet/mps", target: "/run/gpu-fleet/mps" };

describe("time-shared workers on the eGPU studio", () => {
  it("onDemand workers run always, restart unless stopped, mount the lease directory", () => {
    for (const service of ["whisper", "qwen3-tts"]) {
      const c = container(service);
      assert.equal(c.inputs.restart, "unless-stopped");
      assert.notEqual(c.inputs.start, false);
      assert.notEqual(c.inputs.mustRun, false);
      assert.deepEqual(c.inputs.mounts, [MPS, LEASES]);
    }
    const whisper = envs(container("whisper"));
    for (const e of ["GPU_FLEET_RESIDENCY=onDemand", "GPU_FLEET_GPU=0", "GPU_FLEET_VRAM_MIB=3584", "GPU_FLEET_LEASE_DIR=/run/gpu-fleet/leases", "GPU_FLEET_LEASE_CAPACITY_MIB=7680", "GPU_FLEET_IDLE_UNLOAD_SECONDS=120", "WORKER_NAME=studio-whisper-1"]) {
      assert.ok(whisper.includes(e), `whisper lacks ${e}`);
    }
    assert.ok(envs(container("qwen3-tts")).includes("GPU_FLEET_VRAM_MIB=4403"));
  });

  it("the manual worker is created stopped and left alone: start false, mustRun false, restart no", () => {
    const rag = container("rag-ingest");
    assert.equal(rag.inputs.start, false);
    assert.equal(rag.inputs.mustRun, false);
    assert.equal(rag.inputs.restart, "no");
    assert.deepEqual(rag.inputs.mounts, [MPS, LEASES]);
    const env = envs(rag);
    assert.ok(env.includes("GPU_FLEET_RESIDENCY=manual"));
    assert.ok(env.includes("GPU_FLEET_VRAM_MIB=1229"));
    assert.ok(!env.some((e) => e.startsWith("GPU_FLEET_IDLE_UNLOAD_SECONDS=")), "manual workers do not unload by themselves");
  });
});
