// Every budget at exactly its capacity (accepted) and one unit over (refused). Expected numbers are
// worked out by hand from the rules in the README ("What the planner checks") and the defaults
// (reserve: 1 core, 2048 MiB RAM, 512 MiB VRAM per GPU; 2 threads per worker).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { planConfig } from "../../components/core/pipeline";
import { baseValues, configDoc, type Values } from "../support/fixtures";
import { accepted, box, cpuService, cudaService, hostOf, onlyError, plan } from "../support/plan";

describe("CPU threads: replicas × threads ≤ cores − reserve.cores", () => {
  // 8 cores − 1 reserved = 7 usable.
  it("accepts 7 one-thread workers on 8 cores", () => {
    const a = accepted(plan({ a: box({ workers: { s: { replicas: 7 } } }) }, { s: cpuService() }));
    assert.deepEqual(a.cpu, { cores: 8, reserved: 1, usable: 7, threads: 7 });
    assert.equal(a.workers.length, 7);
  });

  it("refuses an eighth, saying how many fit", () => {
    const error = onlyError(plan({ a: box({ workers: { s: { replicas: 8 } } }) }, { s: cpuService() }));
    assert.equal(error.path, "hosts.a.workers");
    assert.equal(error.message, "s 8 × 1 threads need 8 threads, but a has 7 usable (8 cores − 1 reserved). Lower s replicas on a to 7.");
  });

  it("adds every service: 1 × 3 + 2 × 2 = 7 fits, 1 × 4 + 2 × 2 = 8 does not", () => {
    const services = { s1: cpuService(100, 3), s2: cpuService(100, 2) };
    accepted(plan({ a: box({ workers: { s1: { replicas: 1 }, s2: { replicas: 2 } } }) }, services));
    const error = onlyError(plan({ a: box({ workers: { s1: { replicas: 1, threads: 4 }, s2: { replicas: 2 } } }) }, services));
    // Largest consumer s1 (4 threads; s2 also 4, s1 comes first): 7 − 4 = 3 threads left for it.
    assert.equal(error.message, "s1 1 × 4 threads + s2 2 × 2 threads need 8 threads, but a has 7 usable (8 cores − 1 reserved). Lower s1 replicas on a to 0, or its threads to 3.");
  });

  it("warns from 7 threads per worker, not at 6 (seed 000: 6 threads is the knee)", () => {
    const six = plan({ a: box({ workers: { s: { replicas: 1, threads: 6 } } }) }, { s: cpuService() });
    assert.deepEqual(six.errors, []);
    assert.deepEqual(six.warnings, []);
    const seven = plan({ a: box({ workers: { s: { replicas: 1, threads: 7 } } }) }, { s: cpuService() });
    assert.deepEqual(seven.errors, []);
    assert.equal(seven.warnings.length, 1);
    assert.equal(seven.warnings[0].path, "hosts.a.workers.s.threads");
    assert.match(seven.warnings[0].message, /^s on a runs 7 threads per worker: beyond about 6 threads/);
  });
});

describe("RAM: replicas × ramMiB ≤ ramMiB − reserve.ramMiB", () => {
  // 32768 − 2048 = 30720 MiB usable.
  it("accepts 3 × 10240 = 30720 MiB", () => {
    const a = accepted(plan({ a: box({ workers: { s: { replicas: 3 } } }) }, { s: cpuService(10240) }));
    assert.deepEqual(a.ramMiB, { total: 32768, reserved: 2048, used: 30720 });
  });

  it("refuses 3 × 10241 = 30723 MiB, with the replicas and the RAM that would fit", () => {
    const error = onlyError(plan({ a: box({ workers: { s: { replicas: 3 } } }) }, { s: cpuService(10241) }));
    assert.equal(error.path, "hosts.a.workers");
    assert.equal(
      error.message,
      "s 3 × 10241 MiB need 30723 MiB of RAM, but a has 30720 MiB for workers (32768 − 2048 reserved). Lower s replicas on a to 2, or services.s.ramMiB to 10240 if its workers really use less.",
    );
  });

  it("one worker of exactly 30720 MiB fits, 30721 MiB does not", () => {
    accepted(plan({ a: box({ workers: { s: { replicas: 1 } } }) }, { s: cpuService(30720) }));
    assert.match(onlyError(plan({ a: box({ workers: { s: { replicas: 1 } } }) }, { s: cpuService(30721) })).message, /need 30721 MiB of RAM, but a has 30720 MiB/);
  });
});

describe("VRAM per GPU: the workers on it ≤ vramMiB − reserve.vramMiB", () => {
  // GTX 1080: 8192 − 512 = 7680 MiB usable.
  it("accepts one worker of 7680 MiB on a GTX 1080", () => {
    const a = accepted(plan({ a: box({ gpus: [{ model: "gtx-1080" }], workers: { s: { replicas: 1 } } }) }, { s: cudaService(7680) }));
    assert.deepEqual([a.gpus[0].vramMiB, a.gpus[0].reservedMiB, a.gpus[0].usedMiB, a.gpus[0].clients], [8192, 512, 7680, 1]);
  });

  it("refuses 7681 MiB and names the GPU's room", () => {
    const error = onlyError(plan({ a: box({ gpus: [{ model: "gtx-1080" }], workers: { s: { replicas: 1 } } }) }, { s: cudaService(7681) }));
    assert.equal(error.path, "hosts.a.workers.s.replicas");
    assert.equal(
      error.message,
      "replica 1 of s (7681 MiB VRAM) fits on no GPU: GPU 0 (GeForce GTX 1080) has 7680 of 7680 MiB usable free. Lower s replicas on a to 0, or lower services.s.vramMiB if its workers really use less.",
    );
  });

  it("adds the services sharing a GPU: 3840 + 3840 fits, 3840 + 3841 does not", () => {
    const host = box({ gpus: [{ model: "gtx-1080" }], mps: "on", workers: { s: { replicas: 1 }, t: { replicas: 1 } } });
    const a = accepted(plan({ a: host }, { s: cudaService(3840), t: cudaService(3840) }));
    assert.equal(a.gpus[0].usedMiB, 7680);
    const error = onlyError(plan({ a: host }, { s: cudaService(3840), t: cudaService(3841) }));
    assert.match(error.message, /^replica 1 of t \(3841 MiB VRAM\) fits on no GPU: GPU 0 \(GeForce GTX 1080\) has 3840 of 7680 MiB usable free\./);
  });
});

describe("MPS clients per GPU: 16 before Volta, 48 from Volta on", () => {
  const many = (model: string, replicas: number, mps = "on"): Values => box({ cpu: { cores: 128 }, ramMiB: 65536, gpus: [{ model }], mps, workers: { s: { replicas } } });
  const tiny = { s: cudaService(10) };

  it("Pascal (GTX 1080): 16 accepted, 17 refused with mps: off offered", () => {
    assert.equal(accepted(plan({ a: many("gtx-1080", 16) }, tiny)).gpus[0].clients, 16);
    const error = onlyError(plan({ a: many("gtx-1080", 17) }, tiny));
    assert.equal(
      error.message,
      "replica 17 of s (10 MiB VRAM) fits on no GPU: GPU 0 (GeForce GTX 1080) has 7520 of 7680 MiB usable free, already 16 MPS clients (the most GeForce GTX 1080 takes). Lower s replicas on a to 16, or set mps: off on a.",
    );
  });

  it("Volta (V100): 48 accepted, 49 refused", () => {
    assert.equal(accepted(plan({ a: many("v100-16gb", 48) }, tiny)).gpus[0].clients, 48);
    assert.match(onlyError(plan({ a: many("v100-16gb", 49) }, tiny)).message, /^replica 49 of s .*already 48 MPS clients \(the most Tesla V100 16GB takes\)/);
  });

  it("counts clients under mps: auto too, and not at all under mps: off", () => {
    const auto = plan({ a: many("gtx-1080", 16, "auto") }, tiny);
    assert.deepEqual(auto.errors, []);
    assert.equal(auto.warnings.length, 1, "auto chose MPS on Pascal: the fault-isolation warning");
    assert.match(onlyError(plan({ a: many("gtx-1080", 17, "auto") }, tiny)).message, /already 16 MPS clients/);
    const off = accepted(plan({ a: many("gtx-1080", 17, "off") }, tiny));
    assert.deepEqual([off.gpus[0].clients, off.gpus[0].mps], [17, false]);
  });
});

describe("reserves", () => {
  it("reserve.cores may leave one core, not none", () => {
    const a = accepted(plan({ a: box({ reserve: { cores: 7 }, workers: { s: { replicas: 1 } } }) }, { s: cpuService() }));
    assert.deepEqual(a.cpu, { cores: 8, reserved: 7, usable: 1, threads: 1 });
    assert.match(onlyError(plan({ a: box({ reserve: { cores: 7 }, workers: { s: { replicas: 2 } } }) }, { s: cpuService() })).message, /need 2 threads, but a has 1 usable \(8 cores − 7 reserved\)/);
    const none = onlyError(plan({ a: box({ reserve: { cores: 8 }, workers: {} }) }));
    assert.equal(none.path, "hosts.a.reserve.cores");
    assert.equal(none.message, "reserves 8 of 8 cores, leaving none for workers. Lower reserve.cores.");
  });

  it("reserve.ramMiB may leave 1 MiB, not none", () => {
    const a = accepted(plan({ a: box({ reserve: { ramMiB: 32767 }, workers: { s: { replicas: 1 } } }) }, { s: cpuService(1) }));
    assert.deepEqual(a.ramMiB, { total: 32768, reserved: 32767, used: 1 });
    assert.match(onlyError(plan({ a: box({ reserve: { ramMiB: 32767 }, workers: { s: { replicas: 1 } } }) }, { s: cpuService(2) })).message, /need 2 MiB of RAM, but a has 1 MiB for workers \(32768 − 32767 reserved\)/);
    const none = onlyError(plan({ a: box({ reserve: { ramMiB: 32768 }, workers: {} }) }));
    assert.equal(none.path, "hosts.a.reserve.ramMiB");
    assert.equal(none.message, "reserves 32768 of 32768 MiB, leaving no RAM for workers. Lower reserve.ramMiB.");
  });

  it("reserve.vramMiB is kept free on every GPU: 8192 − 7592 = 600 fits a 600 MiB worker, 7593 does not", () => {
    const host = (vram: number): Values => box({ gpus: [{ model: "gtx-1080" }], reserve: { vramMiB: vram }, workers: { s: { replicas: 1 } } });
    assert.equal(accepted(plan({ a: host(7592) }, { s: cudaService(600) })).gpus[0].reservedMiB, 7592);
    assert.match(onlyError(plan({ a: host(7593) }, { s: cudaService(600) })).message, /GPU 0 \(GeForce GTX 1080\) has 599 of 599 MiB usable free/);
  });

  it("a host's reserve replaces the fleet default key by key; the fleet default applies elsewhere", () => {
    const values = baseValues();
    values.defaults = { reserve: { cores: 2, ramMiB: 4096, vramMiB: 1024 } };
    values.hosts = { a: box({ reserve: { cores: 3 }, workers: {} }), b: box({ workers: {} }) };
    const result = planConfig(configDoc(values));
    assert.deepEqual(result.errors, []);
    const a = hostOf(result, "a");
    const b = hostOf(result, "b");
    assert.deepEqual([a.cpu.reserved, a.cpu.usable, a.ramMiB.reserved], [3, 5, 4096]);
    assert.deepEqual([b.cpu.reserved, b.cpu.usable, b.ramMiB.reserved], [2, 6, 4096]);
  });
});

describe("auto replicas at the same boundaries", () => {
  it("CPU: 7 usable threads make 7 one-thread workers, or 3 two-thread workers", () => {
    assert.equal(accepted(plan({ a: box({ workers: { s: { replicas: "auto" } } }) }, { s: cpuService(100, 1) })).workers.length, 7);
    assert.equal(accepted(plan({ a: box({ workers: { s: { replicas: "auto" } } }) }, { s: cpuService(100, 2) })).workers.length, 3);
  });

  it("RAM: 30720 MiB make 3 workers of 10240 MiB, 2 of 10241 MiB", () => {
    const host = box({ cpu: { cores: 64 }, workers: { s: { replicas: "auto" } } });
    assert.equal(accepted(plan({ a: host }, { s: cpuService(10240) })).workers.length, 3);
    assert.equal(accepted(plan({ a: host }, { s: cpuService(10241) })).workers.length, 2);
  });

  it("VRAM: an RTX 4090's 24564 − 512 = 24052 MiB make 3 workers of 8017 MiB, 2 of 8018 MiB", () => {
    const host = box({ cpu: { cores: 64 }, gpus: [{ model: "rtx-4090" }], workers: { s: { replicas: "auto" } } });
    const three = accepted(plan({ a: host }, { s: cudaService(8017) }));
    assert.deepEqual([three.workers.length, three.gpus[0].usedMiB], [3, 24051]);
    assert.equal(accepted(plan({ a: host }, { s: cudaService(8018) })).workers.length, 2);
  });

  it("MPS clients: 48 on a Volta GPU, 16 on a Pascal GPU", () => {
    const host = (model: string): Values => box({ cpu: { cores: 128 }, ramMiB: 65536, gpus: [{ model }], mps: "on", workers: { s: { replicas: "auto" } } });
    assert.equal(accepted(plan({ a: host("titan-v") }, { s: cudaService(10) })).workers.length, 48);
    assert.equal(accepted(plan({ a: host("gtx-1070") }, { s: cudaService(10) })).workers.length, 16);
  });

  it("is an error when one worker does not fit: 1 free thread for a 2-thread worker", () => {
    const error = onlyError(plan({ a: box({ workers: { fixed: { replicas: 6 }, s: { replicas: "auto" } } }) }, { fixed: cpuService(), s: cpuService(100, 2) }));
    assert.equal(error.path, "hosts.a.workers.s.replicas");
    assert.equal(error.message, "is auto, but a has no room left for one s worker (2 threads, 100 MiB RAM). Lower the other workers on a, or remove s from it.");
  });
});
