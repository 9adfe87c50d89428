// `replicas: auto` hands out the remainder (README, "What the planner checks"): an equal share per
// auto service, then one more worker at a time, round after round in the host's order of workers,
// while a whole worker fits. And a recorded tune result replaces auto's count. Every count below is
// worked out by hand from that rule and the defaults (reserve: 1 core, 2048 MiB RAM, 512 MiB VRAM).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { HostPlan } from "../../components/core/planner";
import { planJson, planTable } from "../../components/core/report";
import { accepted, box, cpuService, cudaService, plan } from "../support/plan";

const count = (host: HostPlan, service: string): number => host.workers.filter((w) => w.service === service).length;

// The seeds' services: kokoro-cpu and yolo-cpu as CPU workers, kokoro and yolo on a GPU.
const seeds = {
  "kokoro-cpu": { image: "x/kokoro-cpu:1", device: "cpu", threads: 2, ramMiB: 2500 },
  "yolo-cpu": { image: "x/yolo-cpu:1", device: "cpu", threads: 2, ramMiB: 600 },
  kokoro: { image: "x/kokoro:1", device: "cuda", threads: 2, vramMiB: 600, ramMiB: 2500 },
  yolo: { image: "x/yolo:1", device: "cuda", threads: 2, vramMiB: 300, ramMiB: 600 },
};

describe("replicas: auto hands out the remainder", () => {
  it("the 16-core VPS with kokoro-cpu and yolo-cpu on auto: 4 + 3 workers, 14 of 15 threads (equal split alone: 3 + 3, 12)", () => {
    // 15 usable threads, 63488 MiB. Equal share: floor(15 / 2 / 2) = 3 each (12 threads).
    // Remainder: kokoro-cpu 4 (14 threads) fits; yolo-cpu 4 would need 16 > 15; next round nothing fits.
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, ramMiB: 65536, workers: { "kokoro-cpu": { replicas: "auto" }, "yolo-cpu": { replicas: "auto" } } }) }, seeds));
    assert.deepEqual([count(a, "kokoro-cpu"), count(a, "yolo-cpu")], [4, 3]);
    assert.deepEqual([a.cpu.threads, a.cpu.usable], [14, 15]);
    assert.equal(a.ramMiB.used, 4 * 2500 + 3 * 600);
  });

  it("the GTX 1080 box with kokoro and yolo on auto: 2 + 1 workers, 6 of 7 threads, 1500 MiB VRAM (equal split alone: 1 + 1)", () => {
    // 7 usable threads. Equal share: floor(7 / 2 / 2) = 1 each (4 threads, 900 MiB VRAM).
    // Remainder: kokoro 2 (6 threads, 1500 MiB) fits; yolo 2 would need 8 threads > 7. CPU is the limit here.
    const a = accepted(plan({ a: box({ cpu: { cores: 8 }, ramMiB: 32768, gpus: [{ model: "gtx-1080" }], mps: "on", workers: { kokoro: { replicas: "auto" }, yolo: { replicas: "auto" } } }) }, seeds));
    assert.deepEqual([count(a, "kokoro"), count(a, "yolo")], [2, 1]);
    assert.equal(a.cpu.threads, 6);
    assert.equal(a.gpus[0].usedMiB, 2 * 600 + 300);
  });

  it("VRAM remainder: the next whole worker that fits the GPU goes to whichever service it fits", () => {
    // 7680 MiB usable, 16 MPS clients, 63 threads. Equal share: a floor(3840 / 3000) = 1, b floor(3840 / 1000) = 3 → 6000 MiB.
    // Remainder: a needs 3000 > 1680 free; b 4 → 7000 MiB; next round: a no, b 5 → 8000 > 7680 no.
    const services = { a: cudaService(3000), b: cudaService(1000) };
    const a = accepted(plan({ a: box({ cpu: { cores: 64 }, gpus: [{ model: "gtx-1080" }], mps: "on", workers: { a: { replicas: "auto" }, b: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(a, "a"), count(a, "b"), a.gpus[0].usedMiB], [1, 4, 7000]);
  });

  it("CPU at exactly capacity takes the extra worker; one thread less does not", () => {
    // s: 2 threads, t: 3 threads. 8 cores → 7 usable. Equal: s floor(3.5 / 2) = 1, t floor(3.5 / 3) = 1 → 5.
    // Remainder: s 2 → 7 = 7 fits; t 2 → 10 no.
    const services = { s: cpuService(100, 2), t: cpuService(100, 3) };
    const exact = accepted(plan({ a: box({ cpu: { cores: 8 }, workers: { s: { replicas: "auto" }, t: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(exact, "s"), count(exact, "t"), exact.cpu.threads], [2, 1, 7]);
    // 7 cores → 6 usable: s 2 → 7 > 6, t 2 → 8 > 6: equal share only.
    const short = accepted(plan({ a: box({ cpu: { cores: 7 }, workers: { s: { replicas: "auto" }, t: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(short, "s"), count(short, "t"), short.cpu.threads], [1, 1, 5]);
  });

  it("RAM at exactly capacity takes the extra worker; one MiB less does not", () => {
    // 5000 MiB usable (7048 − 2048), two 1000 MiB services. Equal: floor(2500 / 1000) = 2 each (4000).
    // Remainder: s 3 → 5000 = 5000 fits; t 3 → 6000 no.
    const services = { s: cpuService(1000), t: cpuService(1000) };
    const exact = accepted(plan({ a: box({ cpu: { cores: 64 }, ramMiB: 7048, workers: { s: { replicas: "auto" }, t: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(exact, "s"), count(exact, "t"), exact.ramMiB.used], [3, 2, 5000]);
    const short = accepted(plan({ a: box({ cpu: { cores: 64 }, ramMiB: 7047, workers: { s: { replicas: "auto" }, t: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(short, "s"), count(short, "t"), short.ramMiB.used], [2, 2, 4000]);
  });

  it("a service the equal share gives nothing may still get one from the remainder", () => {
    // 3 usable threads, two 2-thread services: equal floor(1.5 / 2) = 0 each; remainder: s 1 (2 threads); t would need 4 > 3.
    const result = plan({ a: box({ cpu: { cores: 4 }, workers: { s: { replicas: "auto" }, t: { replicas: "auto" } } }) }, { s: cpuService(100, 2), t: cpuService(100, 2) });
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0].path, "hosts.a.workers.t.replicas");
    assert.match(result.errors[0].message, /no room left for one t worker/);
  });

  it("fixed replicas are placed first; auto takes what they leave", () => {
    // 7 usable − 2 × 2 fixed = 3: auto s (2 threads) gets 1; 2 would need 4 + 4 = 8 > 7.
    const a = accepted(plan({ a: box({ workers: { f: { replicas: 2 }, s: { replicas: "auto" } } }) }, { f: cpuService(100, 2), s: cpuService(100, 2) }));
    assert.deepEqual([count(a, "f"), count(a, "s")], [2, 1]);
    assert.deepEqual(a.sources, { f: { kind: "fixed" }, s: { kind: "auto" } });
  });
});

describe("tuned records", () => {
  const tuned = { replicas: 6, threads: 1, at: "2026-12-01", cores: 16, ramMiB: 65536, jobsPerSecond: 12.5, p95Ms: 410, image: "x/kokoro-cpu:1" };

  it("auto uses the measured replicas and threads; the other auto services share the rest; plan names each source", () => {
    // kokoro-cpu tuned: 6 × 1 thread. yolo-cpu: 15 − 6 = 9 free → equal floor(9 / 2) = 4 (8); 5 would need 10 > 9.
    const result = plan({ a: box({ cpu: { cores: 16 }, ramMiB: 65536, workers: { "kokoro-cpu": { replicas: "auto", tuned }, "yolo-cpu": { replicas: "auto" }, yolo: { replicas: 0 } } }) }, seeds);
    const a = accepted(result);
    assert.deepEqual([count(a, "kokoro-cpu"), count(a, "yolo-cpu")], [6, 4]);
    assert.ok(a.workers.filter((w) => w.service === "kokoro-cpu").every((w) => w.threads === 1 && w.env.OMP_NUM_THREADS === "1"));
    assert.deepEqual(a.sources, { "kokoro-cpu": { kind: "tuned", at: "2026-12-01" }, "yolo-cpu": { kind: "auto" } });
    assert.deepEqual(planJson(result).hosts[0].sources, { "kokoro-cpu": "tuned 2026-12-01", "yolo-cpu": "auto" });
    assert.match(planTable(result), /kokoro-cpu × 6 +× 1 threads +cpu → CPU +\(tuned 2026-12-01\)$/m);
    assert.match(planTable(result), /yolo-cpu × 4 +× 2 threads +cpu → CPU +\(auto\)$/m);
  });

  it("is ignored, with a warning, when the host's facts changed since", () => {
    const result = plan({ a: box({ cpu: { cores: 8 }, ramMiB: 65536, workers: { "kokoro-cpu": { replicas: "auto", tuned } } }) }, seeds);
    const a = accepted(result);
    assert.equal(count(a, "kokoro-cpu"), 3); // auto: floor(7 / 2)
    assert.deepEqual(a.sources, { "kokoro-cpu": { kind: "auto" } });
    assert.equal(result.warnings.length, 1);
    assert.equal(result.warnings[0].path, "hosts.a.workers.kokoro-cpu.tuned");
    assert.match(result.warnings[0].message, /measured on 16 cores and 65536 MiB, but a now has 8 cores and 65536 MiB; auto applies\. Run gpu-fleet tune again/);
  });

  it("is ignored, with a warning, beside fixed replicas", () => {
    const result = plan({ a: box({ cpu: { cores: 16 }, ramMiB: 65536, workers: { "kokoro-cpu": { replicas: 2, tuned } } }) }, seeds);
    assert.equal(count(accepted(result), "kokoro-cpu"), 2);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0].message, /^is ignored: replicas is 2, fixed/);
  });

  it("a record that is not a measurement is refused by the schema", () => {
    const result = plan({ a: box({ workers: { "kokoro-cpu": { replicas: "auto", tuned: { ...tuned, at: "yesterday" } } } }) }, seeds);
    assert.ok(result.errors.some((e) => e.path === "hosts.a.workers.kokoro-cpu.tuned.at" && /YYYY-MM-DD/.test(e.message)), JSON.stringify(result.errors));
  });
});
