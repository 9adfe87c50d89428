// The VRAM rule for time-shared GPUs (docs/timeshare.md): per GPU, resident workers' VRAM plus the
// largest onDemand or manual worker must fit the usable VRAM; the sum may exceed it. Every expected
// number below is worked out by hand from that rule.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { planConfig, type PipelineResult } from "../../components/core/pipeline";
import type { HostPlan, WorkerPlan } from "../../components/core/planner";
import { EXAMPLE_KEYS, withHosts, type Values } from "../support/fixtures";
import { loadStack } from "../../scripts/lib/stack";

// A custom 8192 MiB Turing GPU; the default reserve keeps 512 MiB, so 7680 MiB are usable.
const gpuHost = (workers: Values): Values => ({
  ssh: { address: "198.51.100.7", hostKey: EXAMPLE_KEYS.host },
  cpu: { cores: 16 },
  ramMiB: 65536,
  gpus: [{ vramMiB: 8192, computeCapability: 7.5 }],
  workers,
});

const svc = (vramMiB: number, residency?: string, extra: Values = {}): Values => ({
  image: "ghcr.io/example/svc:1.0.0",
  device: "cuda",
  vramMiB,
  ramMiB: 1000,
  ...(residency === undefined ? {} : { residency }),
  ...extra,
});

function plan(workers: Values, services: Values): PipelineResult {
  return planConfig(withHosts({ a: gpuHost(workers) }, services));
}

function host(result: PipelineResult): HostPlan {
  assert.deepEqual(result.errors, []);
  const found = result.plan.hosts.find((h) => h.name === "a");
  assert.ok(found);
  return found;
}

function worker(h: HostPlan, service: string): WorkerPlan {
  const found = h.workers.find((w) => w.service === service);
  assert.ok(found, `worker of ${service}`);
  return found;
}

describe("VRAM rule: resident + largest on-demand ≤ usable", () => {
  it("accepts exactly the usable VRAM: 2000 resident + 5680 largest on-demand = 7680", () => {
    const result = plan(
      { res: { replicas: 1 }, big: { replicas: 1 }, small: { replicas: 1 } },
      { res: svc(2000), big: svc(5680, "onDemand"), small: svc(3000, "manual") },
    );
    const gpu = host(result).gpus[0];
    assert.equal(gpu.residentMiB, 2000);
    assert.deepEqual(gpu.largestOnDemand, { service: "big", vramMiB: 5680 });
    assert.equal(gpu.usedMiB, 7680);
    assert.equal(gpu.headroomMiB, 0);
    assert.equal(gpu.leaseCapacityMiB, 5680); // 7680 − 2000
    assert.equal(gpu.onDemandTotalMiB, 8680); // 5680 + 3000: more than the GPU, taken in turns
  });

  it("refuses one MiB over, naming host, GPU and the numbers", () => {
    const result = plan({ res: { replicas: 1 }, big: { replicas: 1 } }, { res: svc(2000), big: svc(5681, "onDemand") });
    assert.equal(result.errors.length, 1, JSON.stringify(result.errors));
    const [error] = result.errors;
    assert.equal(error.host, "a");
    assert.equal(error.path, "hosts.a.workers.big.replicas");
    assert.equal(
      error.message,
      "big (onDemand, 5681 MiB VRAM) does not fit on a even alone: GPU 0 (custom GPU) has 7680 MiB usable (8192 − 512 reserved), " +
        "2000 MiB of it held by resident workers, so at most 5680 MiB for one on-demand or manual load, 1 MiB short. " +
        "Lower services.big.vramMiB if its workers really use less, or make a resident service on a onDemand, or run big on a host with a larger GPU.",
    );
  });

  it("refuses a service bigger than the GPU alone, with no residents: 7681 > 7680", () => {
    const result = plan({ huge: { replicas: 1 } }, { huge: svc(7681, "manual") });
    assert.equal(result.errors.length, 1, JSON.stringify(result.errors));
    assert.match(result.errors[0].message, /^huge \(manual, 7681 MiB VRAM\) does not fit on a even alone: GPU 0 \(custom GPU\) has 7680 MiB usable \(8192 − 512 reserved\), so at most 7680 MiB for one on-demand or manual load, 1 MiB short\./);
    // ... while 7680 exactly fits, headroom 0.
    const gpu = host(plan({ huge: { replicas: 1 } }, { huge: svc(7680, "manual") })).gpus[0];
    assert.deepEqual([gpu.usedMiB, gpu.headroomMiB], [7680, 0]);
  });

  it("keeps room for the largest on-demand load when placing residents: 4680 + 3000 fits, 4681 + 3000 does not", () => {
    const fits = host(plan({ res: { replicas: 1 }, od: { replicas: 1 } }, { res: svc(4680), od: svc(3000, "onDemand") })).gpus[0];
    assert.deepEqual([fits.residentMiB, fits.usedMiB, fits.headroomMiB], [4680, 7680, 0]);
    const over = plan({ res: { replicas: 1 }, od: { replicas: 1 } }, { res: svc(4681), od: svc(3000, "onDemand") });
    assert.equal(over.errors.length, 1, JSON.stringify(over.errors));
    assert.match(over.errors[0].message, /od \(onDemand, 3000 MiB VRAM\) does not fit on a even alone: .* 4681 MiB of it held by resident workers, so at most 2999 MiB .*, 1 MiB short/);
  });

  it("still sums resident services: the same three as residents are refused (3584 + 1229 + 4403 = 9216 > 7680)", () => {
    const services = { whisper: svc(3584), rag: svc(1229), tts: svc(4403) };
    const result = plan({ whisper: { replicas: 1 }, rag: { replicas: 1 }, tts: { replicas: 1 } }, services);
    assert.equal(result.errors.length, 1, JSON.stringify(result.errors));
    // 7680 − 3584 − 1229 = 2867 MiB free when tts comes.
    assert.match(result.errors[0].message, /replica 1 of tts \(4403 MiB VRAM\) fits on no GPU: GPU 0 \(custom GPU\) has 2867 of 7680 MiB usable free/);
  });

  it("names the reserved on-demand load when a resident does not fit", () => {
    const result = plan({ od: { replicas: 1 }, r1: { replicas: 1 }, r2: { replicas: 1 } }, { od: svc(4000, "onDemand"), r1: svc(3000), r2: svc(700) });
    assert.equal(result.errors.length, 1, JSON.stringify(result.errors));
    // Residents first: r1 3000 (room 7680 − 0 ≥ 3000), r2 700 → 3700 resident; then od: 3700 + 4000 = 7700 > 7680.
    assert.match(result.errors[0].message, /od \(onDemand, 4000 MiB VRAM\) does not fit on a even alone: .*3700 MiB of it held by resident workers, so at most 3980 MiB .*, 20 MiB short/);
  });

  it("refuses replicas: auto for a time-shared service", () => {
    const result = plan({ od: { replicas: "auto" } }, { od: svc(1000, "onDemand") });
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0].path, "hosts.a.workers.od.replicas");
    assert.match(result.errors[0].message, /is auto, but od is onDemand: .* Give a number/);
  });
});

describe("worker contract of time-shared workers", () => {
  const result = plan(
    { res: { replicas: 1 }, od: { replicas: 1 }, man: { replicas: 1 }, fast: { replicas: 1 }, cpu: { replicas: 1 } },
    {
      res: svc(1000),
      od: svc(2000, "onDemand"),
      man: svc(1500, "manual"),
      fast: svc(500, "onDemand", { idleUnloadSeconds: 30 }),
      cpu: { image: "ghcr.io/example/cpu:1.0.0", device: "cpu", ramMiB: 500 },
    },
  );
  const h = host(result);
  const leaseEnv = (w: WorkerPlan): Record<string, string> => Object.fromEntries(Object.entries(w.env).filter(([k]) => k.startsWith("GPU_FLEET_")));

  it("onDemand: residency, GPU, VRAM, lease dir, lease capacity (7680 − 1000 resident) and idle timeout (default 120)", () => {
    const od = worker(h, "od");
    assert.deepEqual(leaseEnv(od), {
      GPU_FLEET_RESIDENCY: "onDemand",
      GPU_FLEET_GPU: "0",
      GPU_FLEET_VRAM_MIB: "2000",
      GPU_FLEET_LEASE_DIR: "/run/gpu-fleet/leases",
      GPU_FLEET_LEASE_CAPACITY_MIB: "6680",
      GPU_FLEET_IDLE_UNLOAD_SECONDS: "120",
    });
    assert.equal(od.leaseDirectory, "/run/gpu-fleet/leases");
    assert.equal(worker(h, "fast").env.GPU_FLEET_IDLE_UNLOAD_SECONDS, "30");
  });

  it("manual: a lease but no idle timeout; resident and CPU workers: no lease env", () => {
    const man = worker(h, "man");
    assert.equal(man.residency, "manual");
    assert.equal(man.env.GPU_FLEET_VRAM_MIB, "1500");
    assert.equal(man.env.GPU_FLEET_IDLE_UNLOAD_SECONDS, undefined);
    // No GPU_FLEET_* at all: absent means resident, and existing workers' env does not change.
    assert.deepEqual(leaseEnv(worker(h, "res")), {});
    assert.equal(worker(h, "res").leaseDirectory, null);
    assert.deepEqual(leaseEnv(worker(h, "cpu")), {});
  });

  it("the GPU's numbers: 1000 resident + 2000 largest (od) = 3000 used, 4680 headroom", () => {
    const gpu = h.gpus[0];
    assert.deepEqual([gpu.residentMiB, gpu.largestOnDemand, gpu.usedMiB, gpu.headroomMiB, gpu.onDemandTotalMiB], [1000, { service: "od", vramMiB: 2000 }, 3000, 4680, 4000]);
  });
});

describe("schema: residency settings", () => {
  it("warns about settings that do nothing and refuses the fleet's own env names", () => {
    const result = plan(
      { "cpu-od": { replicas: 1 }, man: { replicas: 1 } },
      {
        "cpu-od": { image: "ghcr.io/example/cpu:1.0.0", device: "cpu", ramMiB: 500, residency: "onDemand" },
        man: svc(1000, "manual", { idleUnloadSeconds: 60, env: { GPU_FLEET_RESIDENCY: "resident" } }),
      },
    );
    assert.deepEqual(result.errors.map((e) => e.path), ["services.man.env.GPU_FLEET_RESIDENCY"]);
    assert.match(result.errors[0].message, /set by the fleet .* Set services\.man\.residency/);
    assert.deepEqual(result.warnings.map((w) => w.path).sort(), ["services.cpu-od.residency", "services.man.idleUnloadSeconds"]);
  });

  it("refuses an unknown residency with the allowed ones", () => {
    const result = plan({ x: { replicas: 1 } }, { x: svc(1000, "lazy") });
    assert.equal(result.errors[0].path, "services.x.residency");
    assert.match(result.errors[0].message, /'lazy' is not allowed; use one of: resident, onDemand, manual/);
  });
});

describe("the seed's machine: stacks/Pulumi.egpu-studio.yaml", () => {
  it("plans the three services on one 8 GB RTX 2070 SUPER with 0 errors", () => {
    const stack = loadStack("egpu-studio");
    const result = planConfig(stack.document, stack.diagnostics);
    assert.deepEqual([result.errors, result.warnings], [[], []]);
    const studio = result.plan.hosts.find((h) => h.name === "studio");
    assert.ok(studio);
    const gpu = studio.gpus[0];
    assert.equal(gpu.name, "GeForce RTX 2070 SUPER");
    // 8192 − 512 = 7680 usable; nothing resident; qwen3-tts 4403 is the largest; 3584 + 1229 + 4403 = 9216.
    assert.deepEqual(
      [gpu.residentMiB, gpu.largestOnDemand, gpu.usedMiB, gpu.headroomMiB, gpu.onDemandTotalMiB, gpu.leaseCapacityMiB],
      [0, { service: "qwen3-tts", vramMiB: 4403 }, 4403, 3277, 9216, 7680],
    );
    assert.deepEqual(studio.workers.map((w) => [w.service, w.residency]), [["whisper", "onDemand"], ["rag-ingest", "manual"], ["qwen3-tts", "onDemand"]]);
  });
});

describe("join plan of time-shared workers (scripts/join-fleet.sh)", () => {
  it("carries residency and the lease directory, so join-fleet.sh creates manual workers stopped and mounts the leases", async () => {
    const { joinPlan } = await import("../../scripts/join-plan");
    const stack = loadStack("egpu-studio");
    const result = planConfig(stack.document, stack.diagnostics);
    assert.ok(result.spec);
    const plan = joinPlan(result.spec, result.plan.hosts[0], "gpu-fleet-egpu-studio");
    assert.deepEqual(
      plan.workers.map((w) => [w.containerName, w.residency, w.leaseDirectory]),
      [["whisper-1", "onDemand", "/run/gpu-fleet/leases"], ["rag-ingest-1", "manual", "/run/gpu-fleet/leases"], ["qwen3-tts-1", "onDemand", "/run/gpu-fleet/leases"]],
    );
  });
});
