// Hosts with 2, 4 and 8 GPUs, same and mixed models. The rule (README, "What the planner checks"):
// each replica goes to the GPU with the most free VRAM (capacity minus the 512 MiB reserve minus what
// is already placed) that still takes a client; a tie goes to the lower index. MPS is per GPU: under
// `auto`, on where two or more workers share it. Every placement below is worked out by hand.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { WorkerPlan } from "../../components/core/planner";
import { accepted, box, cudaService, onlyError, plan } from "../support/plan";

const at = (workers: readonly WorkerPlan[]): (number | null)[] => workers.map((w) => w.gpu);

describe("2 GPUs", () => {
  it("mixed GTX 1080 + RTX 4090: the 4090 has more free VRAM for every replica, so it takes them all", () => {
    // Usable: GPU 0 8192 − 512 = 7680, GPU 1 24564 − 512 = 24052. kokoro 3 × 600 and yolo 2 × 300 never bring GPU 1 below 7680.
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, gpus: [{ model: "gtx-1080" }, { model: "rtx-4090" }], workers: { kokoro: { replicas: 3 }, yolo: { replicas: 2 } } }) }));
    assert.deepEqual(at(a.workers), [1, 1, 1, 1, 1]);
    assert.deepEqual(a.gpus.map((g) => [g.usedMiB, g.clients, g.mps]), [[0, 0, false], [2400, 5, true]]);
    assert.deepEqual(a.mps.gpus, [1]);
    // The container sees only its GPU, as device 0, whatever its host index.
    assert.deepEqual(a.workers.map((w) => w.env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT), ["0=600M", "0=600M", "0=600M", "0=300M", "0=300M"]);
    assert.deepEqual(a.mps.defaultPinnedMemLimitMiB, { 1: 600 });
  });

  it("same model: replicas alternate, the lower index first on a tie", () => {
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, gpus: [{ model: "t4" }, { model: "t4" }], workers: { kokoro: { replicas: 3 }, yolo: { replicas: 1 } } }) }));
    // kokoro: 0 (tie), 1 (GPU 0 has less), 0 (tie again); yolo: GPU 1 has 600 more free.
    assert.deepEqual(at(a.workers), [0, 1, 0, 1]);
    assert.deepEqual(a.gpus.map((g) => [g.usedMiB, g.clients, g.mps]), [[1200, 2, true], [900, 2, true]]);
    assert.deepEqual(a.mps.defaultPinnedMemLimitMiB, { 0: 600, 1: 600 });
  });

  it("Pascal + Turing under mps: on: 16 clients on the GTX 1080 and 48 on the T4, and no more", () => {
    const host = (replicas: number) => box({ cpu: { cores: 128 }, ramMiB: 65536, gpus: [{ model: "gtx-1080" }, { model: "t4" }], mps: "on", workers: { s: { replicas } } });
    const a = accepted(plan({ a: host(64) }, { s: cudaService(10) }));
    // The T4 (14848 MiB usable) stays freer than the GTX 1080 (7680) until its 48 clients are taken.
    assert.deepEqual(at(a.workers), [...Array(48).fill(1), ...Array(16).fill(0)]);
    assert.deepEqual(a.gpus.map((g) => [g.clients, g.mps, g.mpsLimits]), [[16, true, false], [48, true, true]]);
    assert.equal(a.workers[0].env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, "0=10M");
    assert.equal(a.workers[63].env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, undefined);
    assert.deepEqual(a.mps.defaultPinnedMemLimitMiB, { 1: 10 });
    const error = onlyError(plan({ a: host(65) }, { s: cudaService(10) }));
    assert.match(error.message, /^replica 65 of s .*GPU 0 \(GeForce GTX 1080\) has 7520 of 7680 MiB usable free, already 16 MPS clients .*GPU 1 \(Tesla T4\) has 14368 of 14848 MiB usable free, already 48 MPS clients/);
  });
});

describe("4 GPUs, four models", () => {
  // Usable: GTX 1080 7680, RTX 3090 24576 − 512 = 24064, RTX 3060 12288 − 512 = 11776, T4 15360 − 512 = 14848.
  const host = (replicas: number) => box({ cpu: { cores: 32 }, gpus: [{ model: "gtx-1080" }, { model: "rtx-3090" }, { model: "rtx-3060" }, { model: "t4" }], workers: { big: { replicas } } });
  const big = { big: cudaService(6000) };

  it("places each 6000 MiB replica on the freest GPU: 8 fit", () => {
    const a = accepted(plan({ a: host(8) }, big));
    // free before each: r1 3090 24064; r2 3090 18064; r3 T4 14848; r4 3090 12064; r5 3060 11776; r6 T4 8848; r7 1080 7680; r8 3090 6064.
    assert.deepEqual(at(a.workers), [1, 1, 3, 1, 2, 3, 0, 1]);
    assert.deepEqual(a.gpus.map((g) => [g.usedMiB, g.clients, g.mps]), [[6000, 1, false], [24000, 4, true], [6000, 1, false], [12000, 2, true]]);
    assert.deepEqual(a.mps.gpus, [1, 3]);
    // Only the MPS GPUs' workers are MPS clients (pipe, memory limit); every worker runs as uid 10001.
    assert.deepEqual(a.workers.map((w) => [w.mps, w.user, w.env.CUDA_MPS_PIPE_DIRECTORY ?? null]), [
      [true, 10001, "/run/gpu-fleet/mps"], [true, 10001, "/run/gpu-fleet/mps"], [true, 10001, "/run/gpu-fleet/mps"], [true, 10001, "/run/gpu-fleet/mps"],
      [false, 10001, null], [true, 10001, "/run/gpu-fleet/mps"], [false, 10001, null], [true, 10001, "/run/gpu-fleet/mps"],
    ]);
  });

  it("refuses the ninth with every GPU's room", () => {
    const error = onlyError(plan({ a: host(9) }, big));
    assert.equal(
      error.message,
      "replica 9 of big (6000 MiB VRAM) fits on no GPU: GPU 0 (GeForce GTX 1080) has 1680 of 7680 MiB usable free; GPU 1 (GeForce RTX 3090) has 64 of 24064 MiB usable free; GPU 2 (GeForce RTX 3060) has 5776 of 11776 MiB usable free; GPU 3 (Tesla T4) has 2848 of 14848 MiB usable free. Lower big replicas on a to 8, or lower services.big.vramMiB if its workers really use less.",
    );
  });
});

describe("8 GPUs", () => {
  const eight = (extra: Record<string, unknown>) => box({ cpu: { cores: 400 }, ramMiB: 262144, gpus: Array(8).fill({ model: "v100-32gb" }), ...extra });

  it("16 kokoro workers go round the 8 V100s twice, each GPU an MPS GPU with its limit", () => {
    const a = accepted(plan({ a: eight({ workers: { kokoro: { replicas: 16 } } }) }));
    assert.deepEqual(at(a.workers), [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(a.mps.gpus, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(a.mps.defaultPinnedMemLimitMiB, { 0: 600, 1: 600, 2: 600, 3: 600, 4: 600, 5: 600, 6: 600, 7: 600 });
    assert.ok(a.gpus.every((g) => g.clients === 2 && g.usedMiB === 1200));
    assert.deepEqual([a.workers[8].name, a.workers[8].gpu], ["a-kokoro-9", 0]);
  });

  it("takes 48 MPS clients per GPU: 384 accepted, 385 refused", () => {
    const tiny = { s: cudaService(10) };
    const a = accepted(plan({ a: eight({ mps: "on", workers: { s: { replicas: 384 } } }) }, tiny));
    assert.ok(a.gpus.every((g) => g.clients === 48));
    assert.match(onlyError(plan({ a: eight({ mps: "on", workers: { s: { replicas: 385 } } }) }, tiny)).message, /^replica 385 of s .*GPU 7 \(Tesla V100 32GB\) has 31518 of 31998 MiB usable free, already 48 MPS clients/);
  });
});

describe("fixed and auto replicas on one multi-GPU host", () => {
  it("auto counts what each GPU has left after the fixed replicas, not an even spread", () => {
    // Two GTX 1080s, 7680 MiB usable each. fixed 1 × 3000 goes to GPU 0 (tie), leaving 4680 there:
    // auto fits one 3000 MiB worker on GPU 0 and two on GPU 1, three in all.
    const services = { fixed: cudaService(3000), auto: cudaService(3000) };
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, gpus: [{ model: "gtx-1080" }, { model: "gtx-1080" }], mps: "off", workers: { fixed: { replicas: 1 }, auto: { replicas: "auto" } } }) }, services));
    assert.deepEqual(a.workers.map((w) => `${w.name}@${w.gpu}`), ["a-fixed-1@0", "a-auto-1@1", "a-auto-2@0", "a-auto-3@1"]);
    assert.deepEqual(a.gpus.map((g) => g.usedMiB), [6000, 6000]);
  });

  it("places the fixed replicas first whatever the order in the config", () => {
    const services = { fixed: cudaService(3000), auto: cudaService(3000) };
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, gpus: [{ model: "gtx-1080" }, { model: "gtx-1080" }], mps: "off", workers: { auto: { replicas: "auto" }, fixed: { replicas: 1 } } }) }, services));
    assert.deepEqual(a.workers.map((w) => `${w.name}@${w.gpu}`), ["a-auto-1@1", "a-auto-2@0", "a-auto-3@1", "a-fixed-1@0"]);
  });

  it("shares MPS clients: 4 GTX 1080s take 64, 20 fixed leave 44 for auto", () => {
    const a = accepted(plan({ a: box({ cpu: { cores: 128 }, ramMiB: 65536, gpus: Array(4).fill({ model: "gtx-1080" }), mps: "on", workers: { fixed: { replicas: 20 }, auto: { replicas: "auto" } } }) }, { fixed: cudaService(10), auto: cudaService(10) }));
    assert.equal(a.workers.filter((w) => w.service === "auto").length, 44);
    assert.ok(a.gpus.every((g) => g.clients === 16));
  });

  it("a fixed service that fills the large GPU leaves auto the small one", () => {
    // GTX 1080 7680 + RTX 3090 24064. fixed 2 × 6000 both go to the 3090 (24064, then 18064), leaving 12064:
    // auto 6000 fits 1 on the GTX 1080 and 2 on the 3090: 3090 (12064), then GTX 1080 (7680 > 6064), then 3090.
    const services = { fixed: cudaService(6000), auto: cudaService(6000) };
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, gpus: [{ model: "gtx-1080" }, { model: "rtx-3090" }], mps: "off", workers: { fixed: { replicas: 2 }, auto: { replicas: "auto" } } }) }, services));
    assert.deepEqual(a.workers.map((w) => `${w.name}@${w.gpu}`), ["a-fixed-1@1", "a-fixed-2@1", "a-auto-1@1", "a-auto-2@0", "a-auto-3@1"]);
  });
});
