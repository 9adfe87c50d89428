// The rules that change with the GPU generation, at the first and last catalog model of each
// generation, and at the compute capabilities where they change. Expected values come from NVIDIA's
// documents, not from the planner:
// - MPS: per-client limits (CUDA_MPS_PINNED_DEVICE_MEM_LIMIT) from Volta (7.0) on; at most 16 clients
//   per GPU before Volta, 48 from Volta on (NVIDIA's MPS documentation, "Volta MPS").
// - Driver: open kernel modules support Turing (7.5) and newer only; branch 580 is the last for
//   Pascal and Volta (NVIDIA driver release notes), so a branch above it is refused for them.
// - Compute capability per model: developer.nvidia.com/cuda-gpus and /cuda-legacy-gpus.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Values } from "../support/fixtures";
import { accepted, box, cudaService, onlyError, plan } from "../support/plan";

interface Generation {
  readonly model: string;
  readonly name: string;
  readonly architecture: string;
  readonly computeCapability: number;
  readonly clients: 16 | 48;
  readonly limits: boolean;
  readonly modules: "proprietary" | "open";
  /** Whether branch 590 (newer than 580) is allowed. */
  readonly after580: boolean;
}

const GENERATIONS: readonly Generation[] = [
  { model: "tesla-p100", name: "Tesla P100-PCIE-16GB", architecture: "Pascal", computeCapability: 6.0, clients: 16, limits: false, modules: "proprietary", after580: false },
  { model: "gtx-1080-ti", name: "GeForce GTX 1080 Ti", architecture: "Pascal", computeCapability: 6.1, clients: 16, limits: false, modules: "proprietary", after580: false },
  { model: "v100-16gb", name: "Tesla V100 16GB", architecture: "Volta", computeCapability: 7.0, clients: 48, limits: true, modules: "proprietary", after580: false },
  { model: "titan-v", name: "NVIDIA TITAN V", architecture: "Volta", computeCapability: 7.0, clients: 48, limits: true, modules: "proprietary", after580: false },
  { model: "t4", name: "Tesla T4", architecture: "Turing", computeCapability: 7.5, clients: 48, limits: true, modules: "open", after580: true },
  { model: "rtx-2080-ti", name: "GeForce RTX 2080 Ti", architecture: "Turing", computeCapability: 7.5, clients: 48, limits: true, modules: "open", after580: true },
  { model: "a100-40gb", name: "NVIDIA A100-PCIE-40GB", architecture: "Ampere", computeCapability: 8.0, clients: 48, limits: true, modules: "open", after580: true },
  { model: "rtx-3090", name: "GeForce RTX 3090", architecture: "Ampere", computeCapability: 8.6, clients: 48, limits: true, modules: "open", after580: true },
  { model: "l4", name: "NVIDIA L4", architecture: "Ada", computeCapability: 8.9, clients: 48, limits: true, modules: "open", after580: true },
  { model: "rtx-6000-ada", name: "RTX 6000 Ada Generation", architecture: "Ada", computeCapability: 8.9, clients: 48, limits: true, modules: "open", after580: true },
  { model: "h100", name: "NVIDIA H100 80GB HBM3", architecture: "Hopper", computeCapability: 9.0, clients: 48, limits: true, modules: "open", after580: true },
];

const host = (gpu: Values, extra: Values): Values => box({ cpu: { cores: 128 }, ramMiB: 65536, gpus: [gpu], ...extra });
const tiny = { s: cudaService(10) };

for (const g of GENERATIONS) {
  describe(`${g.architecture}: ${g.model} (compute ${g.computeCapability})`, () => {
    it(`runs ${g.clients} MPS clients and refuses client ${g.clients + 1}`, () => {
      const a = accepted(plan({ a: host({ model: g.model }, { mps: "on", workers: { s: { replicas: g.clients } } }) }, tiny));
      assert.deepEqual([a.gpus[0].name, a.gpus[0].computeCapability, a.gpus[0].clients, a.gpus[0].mps], [g.name, g.computeCapability, g.clients, true]);
      const error = onlyError(plan({ a: host({ model: g.model }, { mps: "on", workers: { s: { replicas: g.clients + 1 } } }) }, tiny));
      assert.match(error.message, new RegExp(`^replica ${g.clients + 1} of s .*already ${g.clients} MPS clients`));
    });

    it(g.limits ? "gives each MPS client its memory limit" : "runs MPS without per-client limits", () => {
      const a = accepted(plan({ a: host({ model: g.model }, { mps: "on", workers: { s: { replicas: 2 } } }) }, tiny));
      assert.equal(a.gpus[0].mpsLimits, g.limits);
      assert.deepEqual(a.workers.map((w) => w.env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT), g.limits ? ["0=10M", "0=10M"] : [undefined, undefined]);
      assert.deepEqual(a.mps.defaultPinnedMemLimitMiB, g.limits ? { 0: 10 } : {});
    });

    it(`installs the ${g.modules} kernel modules and ${g.after580 ? "takes" : "refuses"} a branch after 580`, () => {
      const at580 = accepted(plan({ a: host({ model: g.model }, { nvidia: { driver: "managed", branch: "580" } }) }));
      assert.deepEqual(at580.nvidia, { driver: "managed", branch: "580", modules: g.modules });
      const at581 = plan({ a: host({ model: g.model }, { nvidia: { driver: "managed", branch: "581" } }) });
      if (g.after580) {
        assert.deepEqual(accepted(at581).nvidia, { driver: "managed", branch: "581", modules: g.modules });
      } else {
        const error = onlyError(at581);
        assert.equal(error.path, "hosts.a.nvidia.branch");
        assert.equal(error.message, `is 581, but ${g.name} (compute ${g.computeCapability}) is supported only up to branch 580. Set nvidia.branch to "580".`);
      }
    });
  });
}

describe("the compute capabilities where the rules change", () => {
  const custom = (computeCapability: number, extra: Values): Values => host({ vramMiB: 16384, computeCapability }, extra);

  it("6.9 is still pre-Volta: 16 clients, no limits, proprietary modules, 580 at most", () => {
    const a = accepted(plan({ a: custom(6.9, { mps: "on", nvidia: { driver: "managed" }, workers: { s: { replicas: 16 } } }) }, tiny));
    assert.deepEqual([a.gpus[0].mpsLimits, a.nvidia.modules, a.nvidia.branch], [false, "proprietary", "580"]);
    assert.match(onlyError(plan({ a: custom(6.9, { mps: "on", workers: { s: { replicas: 17 } } }) }, tiny)).message, /already 16 MPS clients/);
  });

  it("7.0 gets Volta's limits and 48 clients, and still the proprietary modules", () => {
    const a = accepted(plan({ a: custom(7.0, { mps: "on", nvidia: { driver: "managed" }, workers: { s: { replicas: 48 } } }) }, tiny));
    assert.deepEqual([a.gpus[0].mpsLimits, a.nvidia.modules], [true, "proprietary"]);
  });

  it("7.4 still needs branch 580 or older; 7.5 takes open modules and any branch", () => {
    assert.equal(onlyError(plan({ a: custom(7.4, { nvidia: { driver: "managed", branch: "590" } }) })).path, "hosts.a.nvidia.branch");
    assert.deepEqual(accepted(plan({ a: custom(7.5, { nvidia: { driver: "managed", branch: "590" } }) })).nvidia, { driver: "managed", branch: "590", modules: "open" });
  });

  it("one pre-Turing GPU among newer ones decides the modules and the branch for the host", () => {
    const mixed = box({ gpus: [{ model: "rtx-3090" }, { model: "gtx-1080" }], nvidia: { driver: "managed", branch: "590" } });
    assert.match(onlyError(plan({ a: mixed })).message, /^is 590, but GeForce GTX 1080 \(compute 6\.1\) is supported only up to branch 580/);
    const at580 = accepted(plan({ a: { ...mixed, nvidia: { driver: "managed", branch: "580" } } }));
    assert.equal(at580.nvidia.modules, "proprietary");
  });
});
