// Planner rules that the mutation run of components/core/planner.ts showed no test pinned down
// (docs/mutation.md): rollout lanes with several services and hosts, what stops a host's planning
// early, MPS at compute capability 3.5 and below, the auto replicas' share of RAM, VRAM and MPS
// clients next to fixed, tuned and on-demand workers, and the words of the budget and GPU messages.
// Every expected value is worked out by hand from the rules (README, "What the planner checks";
// docs/rollouts.md; docs/timeshare.md) and the defaults: reserve 1 core, 2048 MiB RAM, 512 MiB VRAM
// per GPU; threads 2; mps auto. GTX 1080: 8192 − 512 = 7680 MiB usable, compute 6.1 (16 MPS
// clients); T4: 15360 − 512 = 14848, compute 7.5 (48); RTX 4090: 24564 − 512 = 24052, compute 8.9.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { HostPlan, WorkerPlan } from "../../components/core/planner";
import { accepted, box, cpuService, cudaService, hostOf, onlyError, plan, sshAt } from "../support/plan";

const count = (host: HostPlan, service: string): number => host.workers.filter((w) => w.service === service).length;
const gpusOf = (workers: readonly WorkerPlan[], service?: string): (number | null)[] => workers.filter((w) => service === undefined || w.service === service).map((w) => w.gpu);
const after = (host: HostPlan): (string | null)[] => host.workers.map((w) => w.rolloutAfter);
const paths = (errors: readonly { path: string }[]): string[] => errors.map((e) => e.path);
const onDemand = (vramMiB: number): Record<string, unknown> => cudaService(vramMiB, { residency: "onDemand" });
const tuned = (replicas: number, threads: number, cores: number, ramMiB: number): Record<string, unknown> => ({ replicas, threads, at: "2026-11-30", cores, ramMiB, jobsPerSecond: 10, p95Ms: 200, image: "x/cpu:1" });

describe("rollout lanes per service and host", () => {
  it("a host that does not run the service takes no part in its lanes", () => {
    // s: 8 workers, all on a; b runs only t. Budget a quarter of 8 = 2 over 1 host: a gets 2 lanes.
    const result = plan({ a: box({ cpu: { cores: 64 }, workers: { s: { replicas: 8 } } }), b: box({ workers: { t: { replicas: 1 } } }) }, { s: cpuService(), t: cpuService() });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(after(hostOf(result, "a")), [null, null, "a-s-1", "a-s-2", "a-s-3", "a-s-4", "a-s-5", "a-s-6"]);
    assert.deepEqual(after(hostOf(result, "b")), [null]);
  });

  it("a host that does not run the service does not make it one worker per host", () => {
    // s: 2 workers on a, none on b: one host, so no "one worker on each of its hosts" warning; 1 lane.
    const result = plan({ a: box({ workers: { s: { replicas: 2 } } }), b: box({ workers: { t: { replicas: 2 } } }) }, { s: cpuService(), t: cpuService() });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(after(hostOf(result, "a")), [null, "a-s-1"]);
  });

  it("each service of a host rolls in its own lanes", () => {
    // s: 2 workers → a quarter is 0, at least 1 lane; t: 6 workers → 1 lane. Neither waits for the other.
    const a = accepted(plan({ a: box({ cpu: { cores: 64 }, workers: { s: { replicas: 2 }, t: { replicas: 6 } } }) }, { s: cpuService(), t: cpuService() }));
    assert.deepEqual(after(a), [null, "a-s-1", null, "a-t-1", "a-t-2", "a-t-3", "a-t-4", "a-t-5"]);
  });

  it("the spare lanes go to the host with the most workers per lane", () => {
    // maxUnavailable 4 over 2 hosts: 1 lane each, 2 spare. a has 6, b 8 workers.
    // Spare 1: a 6 / 1 = 6, b 8 / 1 = 8 → b (lanes 1, 2). Spare 2: a 6 / 1 = 6, b 8 / 2 = 4 → a (2, 2).
    const svc = { s: { ...cpuService(), maxUnavailable: 4 } };
    const result = plan({ a: box({ cpu: { cores: 64 }, workers: { s: { replicas: 6 } } }), b: box({ cpu: { cores: 64 }, workers: { s: { replicas: 8 } } }) }, svc);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(after(hostOf(result, "a")), [null, null, "a-s-1", "a-s-2", "a-s-3", "a-s-4"]);
    assert.deepEqual(after(hostOf(result, "b")), [null, null, "b-s-1", "b-s-2", "b-s-3", "b-s-4", "b-s-5", "b-s-6"]);
  });
});

describe("a host's first errors stop its planning there", () => {
  it("a CUDA service without a driver: no budget error on top", () => {
    // kokoro needs CUDA and the driver is none; the 8 one-thread c workers would also exceed 7 usable threads,
    // but the host is not planned further.
    const result = plan({ a: box({ gpus: [{ model: "gtx-1080" }], nvidia: { driver: "none" }, workers: { kokoro: { replicas: 1 }, c: { replicas: 8 } } }) }, { c: cpuService() });
    assert.deepEqual(result.errors.map((e) => [e.path, e.message]), [["hosts.a.nvidia.driver", "is none, but kokoro on a needs CUDA. Set nvidia.driver to preinstalled (a driver is already there) or managed."]]);
  });

  it("an unknown Hetzner location: the server type's facts are not used", () => {
    // cx22 has no GPU; planning on would add "kokoro runs on CUDA but a has no GPU".
    const result = plan({ a: { hcloud: { serverType: "cx22", location: "xyz9" }, workers: { kokoro: { replicas: 1 } } } });
    assert.deepEqual(paths(result.errors), ["hosts.a.hcloud.location"]);
    assert.match(result.errors[0].message, /^'xyz9' is not a Hetzner Cloud location\..* Locations: fsn1, nbg1, hel1, ash, hil, sin\.$/);
  });

  it("a GPU it cannot resolve: the host is not planned without it", () => {
    // Without its one GPU the host would also get "kokoro runs on CUDA but a has no GPU".
    const result = plan({ a: box({ gpus: [{ model: "rtx-9999" }], workers: { kokoro: { replicas: 1 } } }) });
    assert.deepEqual(paths(result.errors), ["hosts.a.gpus[0].model"]);
  });

  it("missing cores, or missing RAM: nothing else is checked on that host", () => {
    const noCores = plan({ a: { ssh: sshAt("198.51.100.250"), ramMiB: 32768, workers: { kokoro: { replicas: 1 } } } });
    assert.deepEqual(noCores.errors.map((e) => [e.path, e.message]), [["hosts.a.cpu.cores", "missing: give cpu: { cores: N } (what nproc prints on a), or hardware: <catalog machine>."]]);
    const noRam = plan({ a: { ssh: sshAt("198.51.100.251"), cpu: { cores: 8 }, workers: { kokoro: { replicas: 1 } } } });
    assert.deepEqual(noRam.errors.map((e) => [e.path, e.message]), [["hosts.a.ramMiB", "missing: give ramMiB (free -m's total on a), or hardware: <catalog machine>."]]);
  });

  it("a GPU model outside the catalog needs both numbers, not one of them", () => {
    for (const gpu of [{ model: "a100x", vramMiB: 40960 }, { model: "a100x", computeCapability: 8.0 }]) {
      const error = onlyError(plan({ a: box({ gpus: [gpu], workers: {} }) }));
      assert.equal(error.path, "hosts.a.gpus[0].model");
      assert.match(error.message, /^'a100x' is not in the catalog\..* Known: .*; or give vramMiB and computeCapability for it\.$/);
    }
  });
});

describe("CPU services ignore GPU settings", () => {
  it("residency onDemand and vramMiB on a CPU service: auto applies, the workers are resident and hold no VRAM", () => {
    // Both settings are ignored with a warning each; 8 cores − 1 = 7 threads → 7 one-thread workers.
    const result = plan({ a: box({ workers: { s: { replicas: "auto" } } }) }, { s: { ...cpuService(), residency: "onDemand", vramMiB: 500 } });
    const a = accepted(result);
    assert.deepEqual(paths(result.warnings), ["services.s.vramMiB", "services.s.residency"]);
    assert.equal(count(a, "s"), 7);
    assert.deepEqual([...new Set(a.workers.map((w) => JSON.stringify([w.residency, w.vramMiB, w.gpu, w.leaseDirectory])))], [JSON.stringify(["resident", null, null, null])]);
  });
});

describe("MPS at compute capability 3.5 and below", () => {
  const host = (computeCapability: number, replicas: number) => box({ cpu: { cores: 32 }, gpus: [{ vramMiB: 8192, computeCapability }], workers: { s: { replicas } } });

  it("3.5 runs MPS under auto, with at most 16 clients", () => {
    const result = plan({ a: host(3.5, 16) }, { s: cudaService(10) });
    const a = accepted(result);
    assert.deepEqual(a.gpus.map((g) => [g.clients, g.mps, g.mpsLimits]), [[16, true, false]]);
    // 16 × 10 = 160 MiB used: 7680 − 160 = 7520 free.
    const error = onlyError(plan({ a: host(3.5, 17) }, { s: cudaService(10) }));
    assert.equal(error.path, "hosts.a.workers.s.replicas");
    assert.equal(error.message, "replica 17 of s (10 MiB VRAM) fits on no GPU: GPU 0 (custom GPU) has 7520 of 7680 MiB usable free, already 16 MPS clients (the most custom GPU takes). Lower s replicas on a to 16, or set mps: off on a.");
  });

  it("3.0 runs no MPS under auto, and so has no client limit", () => {
    const a = accepted(plan({ a: host(3.0, 17) }, { s: cudaService(10) }));
    assert.deepEqual(a.gpus.map((g) => [g.clients, g.usedMiB, g.mps, g.mpsLimits]), [[17, 170, false, false]]);
    assert.deepEqual([a.mps.enabled, a.mps.gpus, a.mps.uid], [false, [], null]);
    assert.ok(a.workers.every((w) => !w.mps));
  });

  it("mps: on leaves a GPU without workers without MPS", () => {
    // One worker: GPU 0 (tie, lower index); GPU 1 has none.
    const a = accepted(plan({ a: box({ gpus: [{ model: "t4" }, { model: "t4" }], mps: "on", workers: { s: { replicas: 1 } } }) }, { s: cudaService(1000) }));
    assert.deepEqual(a.gpus.map((g) => [g.clients, g.mps]), [[1, true], [0, false]]);
    assert.deepEqual(a.mps.gpus, [0]);
  });
});

describe("one MPS uid per host", () => {
  it("the daemon runs as the clients' own uid", () => {
    const a = accepted(plan({ a: box({ gpus: [{ model: "t4" }], mps: "on", workers: { p: { replicas: 1 }, q: { replicas: 1 } } }) }, { p: cudaService(100, { user: 20000 }), q: cudaService(100, { user: 20000 }) }));
    assert.equal(a.mps.uid, 20000);
  });

  it("names the services of each uid, comma-separated", () => {
    const error = onlyError(plan({ a: box({ gpus: [{ model: "t4" }], mps: "on", workers: { p: { replicas: 1 }, q: { replicas: 1 }, r: { replicas: 1 } } }) }, { p: cudaService(100), q: cudaService(100), r: cudaService(100, { user: 20000 }) }));
    assert.equal(error.path, "services.r.user");
    assert.equal(error.message, "a shares MPS between p, q as uid 10001 and r as uid 20000; one MPS daemon per host serves one uid, so all its MPS clients must share one uid. Set the same services.<name>.user on them (unset means 10001), or set mps: off on a.");
  });
});

describe("tuned records", () => {
  it("are placed with the fixed replicas, in the host's order of workers", () => {
    // x (tuned 1 × 1000 MiB) and y (fixed 1 × 3000 MiB) are both placed before auto ones, in workers order:
    // x on GPU 0 (a tie goes to the lower index), then y on GPU 1 (7680 free beats 6680).
    const a = accepted(plan({ a: box({ gpus: [{ model: "gtx-1080" }, { model: "gtx-1080" }], workers: { x: { replicas: "auto", tuned: tuned(1, 1, 8, 32768) }, y: { replicas: 1 } } }) }, { x: cudaService(1000), y: cudaService(3000) }));
    assert.deepEqual(gpusOf(a.workers), [0, 1]);
    assert.deepEqual(a.sources, { x: { kind: "tuned", at: "2026-11-30" }, y: { kind: "fixed" } });
  });

  it("are ignored when the host's RAM changed since, even with the same cores", () => {
    const result = plan({ a: box({ workers: { s: { replicas: "auto", tuned: tuned(2, 1, 8, 16384) } } }) }, { s: cpuService() });
    const a = accepted(result);
    assert.deepEqual(result.warnings.map((w) => [w.path, w.message]), [["hosts.a.workers.s.tuned", "is ignored: it was measured on 8 cores and 16384 MiB, but a now has 8 cores and 32768 MiB; auto applies. Run gpu-fleet tune again for s on a."]]);
    // auto: 7 usable threads → 7 one-thread workers.
    assert.deepEqual([count(a, "s"), a.sources.s], [7, { kind: "auto" }]);
  });
});

describe("auto replicas next to fixed, on-demand and CPU workers", () => {
  it("take the RAM the fixed replicas leave", () => {
    // 22048 − 2048 = 20000 MiB; fixed f 1 × 10000 leaves 10000: s (5000 MiB) gets 2; a third would need 25000.
    const a = accepted(plan({ a: box({ cpu: { cores: 64 }, ramMiB: 22048, workers: { f: { replicas: 1 }, s: { replicas: "auto" } } }) }, { f: cpuService(10000), s: cpuService(5000) }));
    assert.deepEqual([count(a, "f"), count(a, "s"), a.ramMiB.used], [1, 2, 20000]);
  });

  it("a resident auto service gets what the largest on-demand load leaves", () => {
    // T4, 14848 usable. od1 (8000) and od2 (6000) take turns: 8000 is kept. r (1000, resident): 14848 − 8000 = 6848 → 6.
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, gpus: [{ model: "t4" }], workers: { od1: { replicas: 1 }, od2: { replicas: 1 }, r: { replicas: "auto" } } }) }, { od1: onDemand(8000), od2: onDemand(6000), r: cudaService(1000) }));
    assert.equal(count(a, "r"), 6);
    // usedMiB = 6 × 1000 resident + 8000 = 14000; the on-demand loads sum to 14000 too.
    assert.deepEqual(a.gpus.map((g) => [g.residentMiB, g.usedMiB, g.onDemandTotalMiB, g.clients]), [[6000, 14000, 14000, 8]]);
  });

  it("a CPU auto service does not shrink a CUDA auto service's share of the GPU", () => {
    // 10 cores → 9 threads. Equal share: c floor(9 / 2 / 1) = 4; g min(4, floor(14848 / 3000) = 4) = 4 → 8 threads.
    // Remainder: c 5 (9 threads) fits; g 5 needs 15000 MiB > 14848. Next round nothing fits.
    const a = accepted(plan({ a: box({ cpu: { cores: 10 }, gpus: [{ model: "t4" }], workers: { c: { replicas: "auto" }, g: { replicas: "auto" } } }) }, { c: cpuService(100, 1), g: cudaService(3000) }));
    assert.deepEqual([count(a, "c"), count(a, "g"), a.cpu.threads], [5, 4, 9]);
  });

  it("two CUDA auto services split a GPU's MPS clients", () => {
    // GTX 1080 under mps: on: 16 clients. Equal share: min(floor(7680 / 2 / 10) = 384, floor(16 / 2) = 8) = 8 each.
    // Remainder: a 9th p or q would be client 17.
    const a = accepted(plan({ a: box({ cpu: { cores: 64 }, gpus: [{ model: "gtx-1080" }], mps: "on", workers: { p: { replicas: "auto" }, q: { replicas: "auto" } } }) }, { p: cudaService(10), q: cudaService(10) }));
    assert.deepEqual([count(a, "p"), count(a, "q"), a.gpus[0].clients], [8, 8, 16]);
  });

  it("equal shares that placement cannot place together shrink, the largest first, until they do", () => {
    // RTX 4090 (GPU 0, 24052) + GTX 1080 (GPU 1, 7680), mps off; 31 threads, p and q 1 thread each.
    // Equal share: p floor(24052 / 2 / 1500) = 8 + floor(7680 / 2 / 1500) = 2 → 10; q floor(24052 / 2 / 10000) = 1 + 0 → 1.
    // Placement, p first, each on the freest GPU: 10 p on GPU 0 (24052 − 15000 = 9052, still above 7680),
    // then q (10000) fits nowhere. The largest share gives one back: 9 p on GPU 0 leave 10552, q takes GPU 0.
    // Remainder: a 10th p goes to GPU 0 again and q no longer fits; a 2nd q fits on neither. So 9 + 1.
    const services = { p: cudaService(1500), q: cudaService(10000) };
    const a = accepted(plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "rtx-4090" }, { model: "gtx-1080" }], mps: "off", workers: { p: { replicas: "auto" }, q: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(a, "p"), count(a, "q")], [9, 1]);
    assert.deepEqual(gpusOf(a.workers, "q"), [0]);
    assert.deepEqual(a.gpus.map((g) => g.usedMiB), [9 * 1500 + 10000, 0]);
  });

  it("auto's equal share is what the fixed resident leaves, not the whole GPU", () => {
    // T4 (14848), mps off. f (8000) fixed leaves 6848. Equal share: p floor(6848 / 2 / 1000) = 3,
    // q floor(6848 / 2 / 2000) = 1 → 5000. Remainder: p 4 (6000 ≤ 6848); q 2 would be 8000; p 5 would be 7000. So 4 + 1.
    // (Sized from the whole 14848, the shares 7 + 3 would shrink to 2 + 2.)
    const services = { f: cudaService(8000), p: cudaService(1000), q: cudaService(2000) };
    const a = accepted(plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "t4" }], mps: "off", workers: { f: { replicas: 1 }, p: { replicas: "auto" }, q: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(a, "p"), count(a, "q")], [4, 1]);
    assert.deepEqual(a.gpus.map((g) => g.usedMiB), [8000 + 4 * 1000 + 2000]);
  });

  it("auto's equal share is what the fixed on-demand load leaves, not the whole GPU", () => {
    // As above with od (8000, onDemand) instead of f: the GPU keeps its 8000 for od's turn: 6848 left, so 4 + 1.
    const services = { od: onDemand(8000), p: cudaService(1000), q: cudaService(2000) };
    const a = accepted(plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "t4" }], mps: "off", workers: { od: { replicas: 1 }, p: { replicas: "auto" }, q: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(a, "p"), count(a, "q")], [4, 1]);
  });

  it("shares shrink from the largest, the later service on a tie", () => {
    // RTX 4090 (GPU 0, 24052) + GTX 1080 (GPU 1, 7680), mps off, 31 threads; three CUDA autos.
    // Equal share: s1, s2 (1000): floor(24052 / 3 / 1000) = 8 + floor(7680 / 3 / 1000) = 2 → 10 each;
    // big (7600): floor(8017 / 7600) = 1 + 0 → 1. Placement, freest GPU first: the first 17 small workers
    // go to GPU 0 (24052 → 7052), then they alternate. 20 small: GPU 0 6052, GPU 1 5680: big fits nowhere.
    // Give back s2 (tie, the later) → 19: 6052 / 6680, no; s1 (10 > 9) → 18: 7052 / 6680, no;
    // s2 (tie) → 17: 7052 / 7680, big fits on GPU 1. Remainder: an 18th small worker takes GPU 1's room again.
    const services = { s1: cudaService(1000), s2: cudaService(1000), big: cudaService(7600) };
    const a = accepted(plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "rtx-4090" }, { model: "gtx-1080" }], mps: "off", workers: { s1: { replicas: "auto" }, s2: { replicas: "auto" }, big: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(a, "s1"), count(a, "s2"), count(a, "big")], [9, 8, 1]);
    assert.deepEqual(gpusOf(a.workers, "big"), [1]);
  });

  it("after shares shrink, the remainder still goes in the host's order of workers", () => {
    // The host above with 48 cores (47 threads) and two CPU auto services c1, c2 (1 thread, 100 MiB).
    // Equal share of 47 threads over 4 autos: 11 each; p min(11, 8 + 2) = 10, q 1. p 10 + q 1 do not
    // place (as above): p gives one back → 9. Threads: 9 + 1 + 11 + 11 = 32. Remainder, in the order
    // p, q, c1, c2: p and q never fit again; c1 and c2 take one each per round up to 46, then c1 takes
    // the 47th: c1 19, c2 18.
    const services = { p: cudaService(1500), q: cudaService(10000), c1: cpuService(100, 1), c2: cpuService(100, 1) };
    const a = accepted(plan({ a: box({ cpu: { cores: 48 }, gpus: [{ model: "rtx-4090" }, { model: "gtx-1080" }], mps: "off", workers: { p: { replicas: "auto" }, q: { replicas: "auto" }, c1: { replicas: "auto" }, c2: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(a, "p"), count(a, "q"), count(a, "c1"), count(a, "c2")], [9, 1, 19, 18]);
  });

  it("behind an on-demand load, auto residents are placed where they fit with it", () => {
    // As above, with a fixed on-demand od (1000) on GPU 0 first: 23052 left there, 7680 on GPU 1.
    // Equal share: p 7 + 2 = 9, q 1. 9 p on GPU 0 leave 23052 − 13500 = 9552 < 10000: q fits nowhere;
    // 8 p leave 11052, q fits on GPU 0. Remainder adds none. GPU 0: 8 × 1500 + 10000 + 1000 = 23000 ≤ 24052.
    const services = { p: cudaService(1500), q: cudaService(10000), od: onDemand(1000) };
    const a = accepted(plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "rtx-4090" }, { model: "gtx-1080" }], mps: "off", workers: { od: { replicas: 1 }, p: { replicas: "auto" }, q: { replicas: "auto" } } }) }, services));
    assert.deepEqual([count(a, "p"), count(a, "q"), count(a, "od")], [8, 1, 1]);
    assert.deepEqual(a.gpus.map((g) => g.usedMiB), [23000, 0]);
  });

  it("the remainder goes on round after round while a whole worker fits", () => {
    // 15 threads. Equal share: s floor(15 / 2 / 1) = 7, t floor(7.5 / 5) = 1 → 12 threads.
    // Rounds: s 8 (13), t 2 would be 18; s 9 (14); s 10 (15); then neither fits.
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, workers: { s: { replicas: "auto" }, t: { replicas: "auto" } } }) }, { s: cpuService(100, 1), t: cpuService(100, 5) }));
    assert.deepEqual([count(a, "s"), count(a, "t"), a.cpu.threads], [10, 1, 15]);
  });

  it("CPU workers take no MPS client of a GPU", () => {
    // 31 threads, 10 taken by c. g (10 MiB) on a GTX 1080 under mps: on: 16 clients, all g's.
    const a = accepted(plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "gtx-1080" }], mps: "on", workers: { c: { replicas: 10 }, g: { replicas: "auto" } } }) }, { c: cpuService(100, 1), g: cudaService(10) }));
    assert.deepEqual([count(a, "c"), count(a, "g"), a.gpus[0].clients], [10, 16, 16]);
  });

  it("a fixed on-demand load goes only where it fits, and auto takes the rest of each GPU", () => {
    // GTX 1080 (7680) + RTX 4090 (24052), mps off. big (20000) fits only on GPU 1; od (9000) too, beside big
    // (max(20000, 9000) = 20000). r (1000): GPU 0 7680 → 7, GPU 1 24052 − 20000 = 4052 → 4: 11.
    const a = accepted(plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "gtx-1080" }, { model: "rtx-4090" }], mps: "off", workers: { big: { replicas: 1 }, od: { replicas: 1 }, r: { replicas: "auto" } } }) }, { big: onDemand(20000), od: onDemand(9000), r: cudaService(1000) }));
    assert.deepEqual(gpusOf(a.workers, "big"), [1]);
    assert.deepEqual(gpusOf(a.workers, "od"), [1]);
    // Freest first: GPU 0 from 7680 down to 3680 (4), then alternately GPU 1 (4052, 3052, ...) and GPU 0.
    assert.deepEqual(gpusOf(a.workers, "r"), [0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1]);
    assert.deepEqual(a.gpus.map((g) => [g.clients, g.usedMiB]), [[7, 7000], [6, 24000]]);
  });

  it("auto is sized from where placement puts the fixed replicas: the freest GPU", () => {
    // f (7000) goes to the RTX 4090: 24052 − 7000 = 17052 left, the GTX 1080 keeps 7680.
    // r (2000): floor(7680 / 2000) = 3 + floor(17052 / 2000) = 8 → 11.
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, gpus: [{ model: "gtx-1080" }, { model: "rtx-4090" }], mps: "off", workers: { f: { replicas: 1 }, r: { replicas: "auto" } } }) }, { f: cudaService(7000), r: cudaService(2000) }));
    assert.deepEqual(gpusOf(a.workers, "f"), [1]);
    // GPU 1 17052 → 7052 (5 replicas), then GPU 0 7680, GPU 1 7052, GPU 0 5680, ... alternately.
    assert.deepEqual(gpusOf(a.workers, "r"), [1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1]);
    assert.deepEqual(a.gpus.map((g) => g.usedMiB), [6000, 23000]);
  });

  it("fixed on-demand loads spread over the GPUs before auto is sized", () => {
    // Two GTX 1080, mps off. od1 (4000) on GPU 0 (tie); od2 (4000) on GPU 1 (7680 free beats 3680).
    // r (1000): 3680 left on each → 3 + 3 = 6, alternating from GPU 0.
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, gpus: [{ model: "gtx-1080" }, { model: "gtx-1080" }], mps: "off", workers: { od1: { replicas: 1 }, od2: { replicas: 1 }, r: { replicas: "auto" } } }) }, { od1: onDemand(4000), od2: onDemand(4000), r: cudaService(1000) }));
    assert.deepEqual([gpusOf(a.workers, "od1"), gpusOf(a.workers, "od2"), gpusOf(a.workers, "r")], [[0], [1], [0, 1, 0, 1, 0, 1]]);
  });

  it("fixed residents spread over the GPUs before auto is sized", () => {
    // Two GTX 1080, mps off. f 2 × 3000: GPU 0 (tie), GPU 1. r (2000): 4680 left on each → 2 + 2 = 4.
    const a = accepted(plan({ a: box({ cpu: { cores: 16 }, gpus: [{ model: "gtx-1080" }, { model: "gtx-1080" }], mps: "off", workers: { f: { replicas: 2 }, r: { replicas: "auto" } } }) }, { f: cudaService(3000), r: cudaService(2000) }));
    assert.deepEqual([gpusOf(a.workers, "f"), gpusOf(a.workers, "r")], [[0, 1], [0, 1, 0, 1]]);
  });

  it("the remainder takes a worker that fills the GPU exactly", () => {
    // GTX 1080, 7680. Equal share: a floor(3840 / 3000) = 1, b floor(3840 / 1170) = 3 → 3000 + 3510 = 6510.
    // Remainder: a 2 → 9510, no; b 4 → 3000 + 4680 = 7680, exactly usable; then a 10680, b 8850, no.
    const a = accepted(plan({ a: box({ cpu: { cores: 64 }, gpus: [{ model: "gtx-1080" }], mps: "off", workers: { a: { replicas: "auto" }, b: { replicas: "auto" } } }) }, { a: cudaService(3000), b: cudaService(1170) }));
    assert.deepEqual([count(a, "a"), count(a, "b"), a.gpus[0].usedMiB, a.gpus[0].headroomMiB], [1, 4, 7680, 0]);
  });
});

describe("message details", () => {
  it("the threads budget leaves out an auto service that got nothing", () => {
    // 7 usable threads, f fixed 8 × 1: no room for s; 8 > 7 too. The fix: 7 / 1 = 7 replicas; 7 / 8 threads rounds to 0, not offered.
    const result = plan({ a: box({ workers: { f: { replicas: 8 }, s: { replicas: "auto" } } }) }, { f: cpuService(100, 1), s: cpuService(100, 1) });
    assert.deepEqual(result.errors.map((e) => [e.path, e.message]), [
      ["hosts.a.workers.s.replicas", "is auto, but a has no room left for one s worker (1 threads, 100 MiB RAM). Lower the other workers on a, or remove s from it."],
      ["hosts.a.workers", "f 8 × 1 threads need 8 threads, but a has 7 usable (8 cores − 1 reserved). Lower f replicas on a to 7."],
    ]);
  });

  it("the fix names the largest consumer, wherever it is listed", () => {
    // p 1 × 1 + q 7 × 1 = 8 > 7. q is largest: 7 − 1 (p) = 6 left → 6 replicas; 6 / 7 threads rounds to 0.
    const error = onlyError(plan({ a: box({ workers: { p: { replicas: 1 }, q: { replicas: 7 } } }) }, { p: cpuService(100, 1), q: cpuService(100, 1) }));
    assert.equal(error.message, "p 1 × 1 threads + q 7 × 1 threads need 8 threads, but a has 7 usable (8 cores − 1 reserved). Lower q replicas on a to 6.");
  });

  it("the largest on-demand load of a GPU is the first placed of two equal ones", () => {
    const a = accepted(plan({ a: box({ gpus: [{ model: "gtx-1080" }], workers: { od1: { replicas: 1 }, od2: { replicas: 1 } } }) }, { od1: onDemand(1000), od2: onDemand(1000) }));
    assert.deepEqual(a.gpus[0].largestOnDemand, { service: "od1", vramMiB: 1000 });
    assert.deepEqual([a.gpus[0].usedMiB, a.gpus[0].onDemandTotalMiB], [1000, 2000]);
  });

  it("an on-demand replica that finds one GPU full of MPS clients and the other too small: no room, not too large", () => {
    // GPU 0: 20512 − 512 = 20000 usable, compute 6.1: 16 clients, all r's (20000 − 160 stays freer than 7680).
    // od (9000) does not fit the GTX 1080's 7680 and GPU 0 takes no 17th client.
    const error = onlyError(plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "big-pascal", vramMiB: 20512, computeCapability: 6.1 }, { model: "gtx-1080" }], mps: "on", workers: { r: { replicas: 16 }, od: { replicas: 1 } } }) }, { r: cudaService(10), od: onDemand(9000) }));
    assert.equal(error.path, "hosts.a.workers.od.replicas");
    assert.equal(error.message, "replica 1 of od (9000 MiB VRAM) fits on no GPU: GPU 0 (big-pascal) has 19840 of 20000 MiB usable free, already 16 MPS clients (the most big-pascal takes); GPU 1 (GeForce GTX 1080) has 7680 of 7680 MiB usable free. Lower od replicas on a to 0, or set mps: off on a.");
  });

  it("the no-room message counts the on-demand load a GPU keeps", () => {
    // 16 od replicas of 100 MiB take turns on the GTX 1080: 0 resident + 100 kept → 7580 free; the 17th is client 17.
    const error = onlyError(plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "gtx-1080" }], mps: "on", workers: { od: { replicas: 17 } } }) }, { od: onDemand(100) }));
    assert.equal(error.message, "replica 17 of od (100 MiB VRAM) fits on no GPU: GPU 0 (GeForce GTX 1080) has 7580 of 7680 MiB usable free (0 MiB resident + 100 MiB kept for the largest on-demand load, od), already 16 MPS clients (the most GeForce GTX 1080 takes). Lower od replicas on a to 16, or set mps: off on a.");
  });

  it("too large even alone: every GPU in the message, and the resident option when any GPU holds residents", () => {
    // r (1000) on the RTX 4090. od 25000: GTX 1080 7680 → 17320 short; RTX 4090 24052 − 1000 = 23052 → 1948 short.
    const error = onlyError(plan({ a: box({ gpus: [{ model: "gtx-1080" }, { model: "rtx-4090" }], mps: "off", workers: { r: { replicas: 1 }, od: { replicas: 1 } } }) }, { r: cudaService(1000), od: onDemand(25000) }));
    assert.equal(error.path, "hosts.a.workers.od.replicas");
    assert.equal(
      error.message,
      "od (onDemand, 25000 MiB VRAM) does not fit on a even alone: GPU 0 (GeForce GTX 1080) has 7680 MiB usable (8192 − 512 reserved), so at most 7680 MiB for one on-demand or manual load, 17320 MiB short; GPU 1 (GeForce RTX 4090) has 24052 MiB usable (24564 − 512 reserved), 1000 MiB of it held by resident workers, so at most 23052 MiB for one on-demand or manual load, 1948 MiB short. Lower services.od.vramMiB if its workers really use less, or make a resident service on a onDemand, or run od on a host with a larger GPU.",
    );
  });
});
