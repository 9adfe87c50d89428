import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { planConfig, type PipelineResult } from "../../components/core/pipeline";
import type { HostPlan } from "../../components/core/planner";
import { EXAMPLE_KEYS, withHosts, type Values } from "../support/fixtures";

function plan(hosts: Values, services?: Values): PipelineResult {
  return planConfig(withHosts(hosts, services));
}

function host(result: PipelineResult, name: string): HostPlan {
  const found = result.plan.hosts.find((h) => h.name === name);
  assert.ok(found, `host ${name} planned; errors: ${JSON.stringify(result.errors)}`);
  return found;
}

function onlyError(result: PipelineResult): { host: string | null; path: string; message: string } {
  assert.equal(result.errors.length, 1, `exactly one error, got ${JSON.stringify(result.errors, null, 1)}`);
  return result.errors[0];
}

// Each box is its own machine: its own address (two hosts at one address are refused).
let boxes = 0;
const box = (extra: Values): Values => ({
  ssh: { address: `198.51.100.${7 + boxes++}`, hostKey: EXAMPLE_KEYS.host },
  cpu: { cores: 8 },
  ramMiB: 32768,
  ...extra,
});

describe("CPU budget", () => {
  it("fits replicas × threads within cores minus the reserve, threads defaulting to 2", () => {
    const result = plan({ a: box({ workers: { "kokoro-cpu": { replicas: 3 } } }) }, { "kokoro-cpu": { image: "x/k:1", device: "cpu", ramMiB: 1000 } });
    assert.deepEqual(result.errors, []);
    const a = host(result, "a");
    assert.deepEqual(a.cpu, { cores: 8, reserved: 1, usable: 7, threads: 6 });
    assert.ok(a.workers.every((w) => w.threads === 2));
  });

  it("says which replicas or threads to lower when threads exceed usable cores", () => {
    const result = plan({ a: box({ workers: { "kokoro-cpu": { replicas: 4 }, yolo: { replicas: 0 } } }) });
    const error = onlyError(result);
    assert.equal(error.host, "a");
    assert.equal(error.path, "hosts.a.workers");
    assert.match(error.message, /need 8 threads, but a has 7 usable \(8 cores − 1 reserved\)/);
    assert.match(error.message, /Lower kokoro-cpu replicas on a to 3, or its threads to 1\./);
  });

  it("takes a host's threads override and warns past the memory-bandwidth knee", () => {
    const result = plan({ a: box({ cpu: { cores: 16 }, workers: { "kokoro-cpu": { replicas: 1, threads: 8 } } }) });
    assert.deepEqual(result.errors, []);
    assert.equal(host(result, "a").workers[0].threads, 8);
    assert.equal(result.warnings.length, 1);
    assert.equal(result.warnings[0].path, "hosts.a.workers.kokoro-cpu.threads");
    assert.match(result.warnings[0].message, /beyond about 6 threads a worker gets slower/);
  });

  it("honours a host's reserve", () => {
    const result = plan({ a: box({ reserve: { cores: 4 }, workers: { "kokoro-cpu": { replicas: 2 } } }) });
    assert.deepEqual(result.errors, []);
    assert.equal(host(result, "a").cpu.usable, 4);
  });
});

describe("RAM budget", () => {
  it("rejects workers whose RAM exceeds the host's RAM minus the reserve, with the fix", () => {
    const result = plan({ a: box({ cpu: { cores: 32 }, ramMiB: 8192, workers: { "kokoro-cpu": { replicas: 3 } } }) });
    const error = onlyError(result);
    assert.equal(error.path, "hosts.a.workers");
    assert.match(error.message, /need 7500 MiB of RAM, but a has 6144 MiB for workers \(8192 − 2048 reserved\)/);
    assert.match(error.message, /Lower kokoro-cpu replicas on a to 2, or services\.kokoro-cpu\.ramMiB to 2048/);
  });

  it("counts every service", () => {
    const result = plan({ a: box({ gpus: [{ model: "rtx-4090" }], workers: { kokoro: { replicas: 2 }, yolo: { replicas: 1 } } }) });
    assert.deepEqual(result.errors, []);
    assert.equal(host(result, "a").ramMiB.used, 2 * 2500 + 600);
  });
});

describe("GPU placement and VRAM", () => {
  it("rejects a CUDA service on a host without GPU and suggests a CPU service", () => {
    const error = onlyError(plan({ a: box({ workers: { kokoro: { replicas: 1 } } }) }));
    assert.equal(error.path, "hosts.a.workers.kokoro");
    assert.match(error.message, /kokoro runs on CUDA but a has no GPU/);
  });

  it("keeps VRAM per GPU within capacity minus headroom and names the replica that does not fit", () => {
    // GTX 1080: 8192 − 512 headroom = 7680 MiB; 3000 MiB each: two fit, the third does not.
    const result = plan(
      { a: box({ gpus: [{ model: "gtx-1080" }], mps: "off", workers: { big: { replicas: 3 } } }) },
      { big: { image: "x/big:1", device: "cuda", vramMiB: 3000, ramMiB: 1000, threads: 1 } },
    );
    const error = onlyError(result);
    assert.equal(error.path, "hosts.a.workers.big.replicas");
    assert.match(error.message, /replica 3 of big \(3000 MiB VRAM\) fits on no GPU: GPU 0 \(GeForce GTX 1080\) has 1680 of 7680 MiB usable free/);
    assert.match(error.message, /Lower big replicas on a to 2/);
  });

  it("spreads replicas over several GPUs and records VRAM used per GPU", () => {
    const result = plan({ a: box({ cpu: { cores: 32 }, gpus: [{ model: "rtx-3090" }, { model: "rtx-3090" }], workers: { kokoro: { replicas: 4 } } }) });
    assert.deepEqual(result.errors, []);
    const a = host(result, "a");
    assert.deepEqual(a.workers.map((w) => w.gpu), [0, 1, 0, 1]);
    assert.deepEqual(a.gpus.map((g) => g.usedMiB), [1200, 1200]);
  });

  it("lets explicit facts override the catalog", () => {
    const result = plan({ a: box({ gpus: [{ model: "rtx-3090", vramMiB: 1500 }], workers: { kokoro: { replicas: 2 } } }) });
    assert.equal(onlyError(result).path, "hosts.a.workers.kokoro.replicas");
  });

  it("accepts a GPU that is not in the catalog when its numbers are given", () => {
    const result = plan({ a: box({ gpus: [{ vramMiB: 6144, computeCapability: 8.6 }], workers: { kokoro: { replicas: 1 } } }) });
    assert.deepEqual(result.errors, []);
    assert.equal(host(result, "a").gpus[0].vramMiB, 6144);
  });
});

describe("auto replicas", () => {
  it("takes as many as the cores allow", () => {
    const result = plan({ a: box({ workers: { "kokoro-cpu": { replicas: "auto" } } }) });
    assert.deepEqual(result.errors, []);
    assert.equal(host(result, "a").workers.length, 3); // floor(7 usable / 2 threads)
  });

  it("takes as many as the RAM allows when RAM is the limit", () => {
    const result = plan({ a: box({ cpu: { cores: 64 }, ramMiB: 12288, workers: { "kokoro-cpu": { replicas: "auto" } } }) });
    assert.deepEqual(result.errors, []);
    assert.equal(host(result, "a").workers.length, 4); // floor((12288 − 2048) / 2500)
  });

  it("takes as many as the VRAM allows on a GPU host", () => {
    const result = plan(
      { a: box({ cpu: { cores: 64 }, ramMiB: 262144, gpus: [{ model: "rtx-4090" }], workers: { big: { replicas: "auto" } } }) },
      { big: { image: "x/big:1", device: "cuda", vramMiB: 7000, ramMiB: 4000 } },
    );
    assert.deepEqual(result.errors, []);
    assert.equal(host(result, "a").workers.length, 3); // seed 004: three 7 GB processes on a 24 GB card
  });

  it("stops at 16 MPS clients on a pre-Volta GPU", () => {
    const result = plan(
      { a: box({ cpu: { cores: 128 }, ramMiB: 262144, gpus: [{ model: "gtx-1080" }], mps: "on", workers: { tiny: { replicas: "auto" } } }) },
      { tiny: { image: "x/tiny:1", device: "cuda", vramMiB: 100, ramMiB: 500, threads: 1 } },
    );
    assert.deepEqual(result.errors, []);
    assert.equal(host(result, "a").workers.length, 16);
  });

  it("leaves room for fixed replicas and shares the rest among auto services", () => {
    const result = plan({ a: box({ cpu: { cores: 17 }, workers: { yolo: { replicas: 0 }, "kokoro-cpu": { replicas: 2 }, other: { replicas: "auto" }, third: { replicas: "auto" } } }) }, {
      other: { image: "x/o:1", device: "cpu", ramMiB: 100, threads: 2 },
      third: { image: "x/t:1", device: "cpu", ramMiB: 100, threads: 1 },
    });
    assert.deepEqual(result.errors, []);
    const count = (s: string): number => host(result, "a").workers.filter((w) => w.service === s).length;
    // 16 usable − 4 fixed = 12, six threads for each auto service.
    assert.deepEqual([count("kokoro-cpu"), count("other"), count("third")], [2, 3, 6]);
  });

  it("is an error when not even one replica fits", () => {
    const error = onlyError(plan({ a: box({ cpu: { cores: 4 }, workers: { "kokoro-cpu": { replicas: 1 }, yolo: { replicas: 0 }, other: { replicas: "auto" } } }) }, { other: { image: "x/o:1", device: "cpu", ramMiB: 100, threads: 2 } }));
    assert.equal(error.path, "hosts.a.workers.other.replicas");
    assert.match(error.message, /no room left for one other worker/);
  });
});

describe("MPS by GPU generation", () => {
  it("auto turns MPS on for two or more workers on a GPU and off for one", () => {
    const two = host(plan({ a: box({ gpus: [{ model: "rtx-4090" }], workers: { kokoro: { replicas: 2 } } }) }), "a");
    assert.equal(two.gpus[0].mps, true);
    assert.deepEqual(two.mps.gpus, [0]);
    const one = host(plan({ a: box({ gpus: [{ model: "rtx-4090" }], workers: { kokoro: { replicas: 1 } } }) }), "a");
    assert.equal(one.gpus[0].mps, false);
    assert.equal(one.mps.enabled, false);
    assert.equal(one.workers[0].env.CUDA_MPS_PIPE_DIRECTORY, undefined);
  });

  it("on and off override auto", () => {
    assert.equal(host(plan({ a: box({ gpus: [{ model: "rtx-4090" }], mps: "on", workers: { kokoro: { replicas: 1 } } }) }), "a").gpus[0].mps, true);
    assert.equal(host(plan({ a: box({ gpus: [{ model: "rtx-4090" }], mps: "off", workers: { kokoro: { replicas: 3 } } }) }), "a").gpus[0].mps, false);
  });

  it("sets per-client memory limits on Volta and newer", () => {
    const a = host(plan({ a: box({ gpus: [{ model: "t4" }], workers: { kokoro: { replicas: 2 }, yolo: { replicas: 1 } } }) }), "a");
    assert.equal(a.gpus[0].mpsLimits, true);
    const kokoro = a.workers.find((w) => w.service === "kokoro");
    assert.equal(kokoro?.env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, "0=600M");
    assert.equal(kokoro?.env.CUDA_MPS_PIPE_DIRECTORY, "/run/gpu-fleet/mps");
    assert.equal(a.workers.find((w) => w.service === "yolo")?.env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, "0=300M");
    assert.deepEqual(a.mps.defaultPinnedMemLimitMiB, { 0: 600 });
  });

  it("runs pre-Volta MPS without limits and warns about fault isolation when auto chose it", () => {
    const result = plan({ a: box({ gpus: [{ model: "gtx-1080" }], nvidia: { driver: "managed", branch: "580" }, workers: { kokoro: { replicas: 2 } } }) });
    assert.deepEqual(result.errors, []);
    const a = host(result, "a");
    assert.equal(a.gpus[0].mps, true);
    assert.equal(a.gpus[0].mpsLimits, false);
    assert.equal(a.workers[0].env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, undefined);
    assert.deepEqual(a.mps.defaultPinnedMemLimitMiB, {});
    assert.equal(result.warnings.length, 1);
    assert.equal(result.warnings[0].path, "hosts.a.mps");
    assert.match(result.warnings[0].message, /without per-client memory limits.*one worker's fault or overrun stops all 2/);
    const explicit = plan({ a: box({ gpus: [{ model: "gtx-1080" }], mps: "on", workers: { kokoro: { replicas: 2 } } }) });
    assert.deepEqual(explicit.warnings, []);
  });

  it("caps MPS clients at 16 per pre-Volta GPU and 48 per newer GPU", () => {
    const tiny = { tiny: { image: "x/tiny:1", device: "cuda", vramMiB: 10, ramMiB: 10, threads: 1 } };
    const big = { cpu: { cores: 128 }, ramMiB: 262144 };
    const pascal = onlyError(plan({ a: box({ ...big, gpus: [{ model: "gtx-1080" }], mps: "on", workers: { tiny: { replicas: 17 } } }) }, tiny));
    assert.match(pascal.message, /replica 17 of tiny .*already 16 MPS clients.*Lower tiny replicas on a to 16, or set mps: off on a/);
    assert.deepEqual(plan({ a: box({ ...big, gpus: [{ model: "l4" }], workers: { tiny: { replicas: 48 } } }) }, tiny).errors, []);
    assert.match(onlyError(plan({ a: box({ ...big, gpus: [{ model: "l4" }], workers: { tiny: { replicas: 49 } } }) }, tiny)).message, /already 48 MPS clients/);
    assert.deepEqual(plan({ a: box({ ...big, gpus: [{ model: "gtx-1080" }], mps: "off", workers: { tiny: { replicas: 17 } } }) }, tiny).errors, []);
  });

  it("requires one non-root uid for all MPS clients of a host (one daemon per host), and the daemon runs as it", () => {
    const result = plan({ a: box({ gpus: [{ model: "rtx-4090" }], workers: { kokoro: { replicas: 1 }, yolo: { replicas: 1 } } }) }, {
      yolo: { image: "x/yolo:1", device: "cuda", vramMiB: 300, ramMiB: 600, user: 1000 },
    });
    const error = onlyError(result);
    assert.equal(error.path, "services.yolo.user");
    assert.match(error.message, /kokoro as uid 10001 and yolo as uid 1000.*one MPS daemon per host serves one uid/);
    // Two GPUs, one client each under mps: on: still one daemon, so still one uid.
    const twoGpus = plan({ a: box({ gpus: [{ model: "rtx-4090" }, { model: "rtx-4090" }], mps: "on", workers: { kokoro: { replicas: 1 }, yolo: { replicas: 1 } } }) }, {
      yolo: { image: "x/yolo:1", device: "cuda", vramMiB: 300, ramMiB: 600, user: 1000 },
    });
    assert.equal(onlyError(twoGpus).path, "services.yolo.user");
    const same = host(plan({ a: box({ gpus: [{ model: "rtx-4090" }], workers: { kokoro: { replicas: 1 }, yolo: { replicas: 1 } } }) }), "a");
    assert.deepEqual(same.workers.map((w) => w.user), [10001, 10001]);
    assert.equal(same.mps.uid, 10001);
    const noMps = host(plan({ a: box({ gpus: [{ model: "rtx-4090" }], mps: "off", workers: { kokoro: { replicas: 1 } } }) }), "a");
    assert.equal(noMps.workers[0].user, 10001, "a worker without MPS runs as the non-root default too");
    assert.equal(noMps.mps.uid, null);
  });
});

describe("NVIDIA driver", () => {
  it("keeps a host's own driver unless told to manage it", () => {
    const a = host(plan({ a: box({ gpus: [{ model: "rtx-4090" }], workers: {} }) }), "a");
    assert.deepEqual(a.nvidia, { driver: "preinstalled", branch: null, modules: null });
  });

  it("uses proprietary modules before Turing and open modules from Turing on", () => {
    const pascal = host(plan({ a: box({ gpus: [{ model: "gtx-1080" }], nvidia: { driver: "managed" } }) }), "a");
    assert.deepEqual(pascal.nvidia, { driver: "managed", branch: "580", modules: "proprietary" });
    const turing = host(plan({ a: box({ gpus: [{ model: "rtx-2070-super" }], nvidia: { driver: "managed", branch: 570 } }) }), "a");
    assert.deepEqual(turing.nvidia, { driver: "managed", branch: "570", modules: "open" });
  });

  it("pins Pascal to branch 580 or older", () => {
    const error = onlyError(plan({ a: box({ gpus: [{ model: "gtx-1080" }], nvidia: { driver: "managed", branch: "590" } }) }));
    assert.equal(error.path, "hosts.a.nvidia.branch");
    assert.match(error.message, /GeForce GTX 1080 \(compute 6\.1\) is supported only up to branch 580\. Set nvidia\.branch to "580"/);
  });

  it("rejects CUDA workers on a host whose driver is none, and a driver on a host without GPU", () => {
    assert.equal(onlyError(plan({ a: box({ gpus: [{ model: "rtx-4090" }], nvidia: { driver: "none" }, workers: { kokoro: { replicas: 1 } } }) })).path, "hosts.a.nvidia.driver");
    assert.match(onlyError(plan({ a: box({ nvidia: { driver: "managed" } }) })).message, /a has no GPU/);
  });
});

describe("machines", () => {
  it("takes cores, RAM and GPUs of a Hetzner GEX44 from the catalog", () => {
    const a = host(plan({ a: { ssh: { address: "203.0.113.10", hostKey: EXAMPLE_KEYS.host }, hardware: "gex44", workers: {} } }), "a");
    assert.equal(a.cpu.cores, 20);
    assert.equal(a.ramMiB.total, 65536);
    assert.equal(a.gpus[0].name, "RTX 4000 SFF Ada Generation");
    assert.equal(a.gpus[0].computeCapability, 8.9);
  });

  it("takes an hcloud server type's cores and RAM and refuses GPUs on it", () => {
    const a = host(plan({ a: { hcloud: { serverType: "ccx33", location: "fsn1" }, workers: {} } }), "a");
    assert.equal(a.kind, "hcloud");
    assert.deepEqual([a.cpu.cores, a.ramMiB.total], [8, 32768]);
    const error = onlyError(plan({ a: { hcloud: { serverType: "ccx33", location: "fsn1" }, gpus: [{ model: "l4" }] } }));
    assert.equal(error.path, "hosts.a.gpus");
    assert.match(error.message, /dedicated server: add it with ssh/);
  });

  it("keeps Hetzner Cloud hosts within one spread placement group", () => {
    const hcloudHosts = (n: number): Values => Object.fromEntries(Array.from({ length: n }, (_, i) => [`cpu-${i}`, { hcloud: { serverType: "ccx13", location: "fsn1" } }]));
    assert.deepEqual(plan(hcloudHosts(10)).errors, []);
    const error = onlyError(plan(hcloudHosts(11)));
    assert.equal(error.path, "hosts");
    assert.match(error.message, /11 Hetzner Cloud hosts, but their spread placement group holds at most 10/);
  });

  it("suggests the closest catalog name for a typo", () => {
    assert.match(onlyError(plan({ a: { hcloud: { serverType: "ccx32", location: "fsn1" } } })).message, /'ccx32' is not a Hetzner Cloud server type in the catalog\. Did you mean 'ccx33'\?/);
    assert.match(onlyError(plan({ a: { ssh: { address: "x", hostKey: EXAMPLE_KEYS.host }, hardware: "gex4" } })).message, /Did you mean 'gex44'\?/);
    assert.match(onlyError(plan({ a: box({ gpus: [{ model: "gtx-108" }] }) })).message, /Did you mean 'gtx-1080'\?/);
  });

  it("asks for cores and RAM of a machine it cannot look up", () => {
    const result = plan({ a: { ssh: { address: "x", hostKey: EXAMPLE_KEYS.host }, workers: {} } });
    assert.deepEqual(result.errors.map((e) => e.path), ["hosts.a.cpu.cores", "hosts.a.ramMiB"]);
    assert.match(result.errors[0].message, /what nproc prints on a/);
  });
});

describe("worker contract", () => {
  it("gives every worker its threads, device, names, jemalloc and service env", () => {
    const result = plan({ a: box({ workers: { "kokoro-cpu": { replicas: 2, threads: 3 } } }) }, {
      "kokoro-cpu": { image: "x/k:1", device: "cpu", ramMiB: 1000, jemalloc: "/usr/lib/libjemalloc.so.2", env: { LOG_LEVEL: "info", HF_TOKEN: { secret: "hfToken" } } },
    });
    // hfToken is not set in this fixture: the only error.
    assert.equal(onlyError(result).path, "services.kokoro-cpu.env.HF_TOKEN");
    const a = host(result, "a");
    const second = a.workers[1];
    assert.equal(second.name, "a-kokoro-cpu-2");
    assert.deepEqual(second.env, {
      LOG_LEVEL: "info",
      OMP_NUM_THREADS: "3",
      MKL_NUM_THREADS: "3",
      OPENBLAS_NUM_THREADS: "3",
      WORKER_DEVICE: "cpu",
      WORKER_NAME: "a-kokoro-cpu-2",
      WORKER_HOST: "a",
      WORKER_SERVICE: "kokoro-cpu",
      LD_PRELOAD: "/usr/lib/libjemalloc.so.2",
      MALLOC_CONF: "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000",
    });
    assert.deepEqual(second.secretEnv, { HF_TOKEN: { secret: "hfToken" } });
    assert.equal(second.drainSeconds, 30);
    assert.equal(second.stopSignal, "SIGTERM");
  });
});

describe("rollout lanes", () => {
  it("chains each service's workers fleet-wide into maxUnavailable lanes, replica 1 of every host first", () => {
    const result = plan({
      a: box({ cpu: { cores: 64 }, ramMiB: 65536, workers: { "kokoro-cpu": { replicas: 4 } } }),
      b: box({ cpu: { cores: 64 }, ramMiB: 65536, workers: { "kokoro-cpu": { replicas: 4 } } }),
    });
    assert.deepEqual(result.errors, []);
    const after = Object.fromEntries(result.plan.hosts.flatMap((h) => h.workers.map((w) => [w.name, w.rolloutAfter])));
    // 8 workers: a quarter, 2 lanes. Order a-1, b-1, a-2, b-2, ... so each lane alternates hosts.
    assert.deepEqual(after, {
      "a-kokoro-cpu-1": null,
      "b-kokoro-cpu-1": null,
      "a-kokoro-cpu-2": "a-kokoro-cpu-1",
      "b-kokoro-cpu-2": "b-kokoro-cpu-1",
      "a-kokoro-cpu-3": "a-kokoro-cpu-2",
      "b-kokoro-cpu-3": "b-kokoro-cpu-2",
      "a-kokoro-cpu-4": "a-kokoro-cpu-3",
      "b-kokoro-cpu-4": "b-kokoro-cpu-3",
    });
  });

  it("takes maxUnavailable from the service and refuses one that could stop every worker", () => {
    const three = plan({ a: box({ workers: { "kokoro-cpu": { replicas: 3 } } }) }, { "kokoro-cpu": { image: "x/k:1", device: "cpu", ramMiB: 100, maxUnavailable: 2 } });
    assert.deepEqual(host(three, "a").workers.map((w) => w.rolloutAfter), [null, null, "a-kokoro-cpu-1"]);
    const error = onlyError(plan({ a: box({ workers: { "kokoro-cpu": { replicas: 2 } } }) }, { "kokoro-cpu": { image: "x/k:1", device: "cpu", ramMiB: 100, maxUnavailable: 2 } }));
    assert.equal(error.path, "services.kokoro-cpu.maxUnavailable");
    assert.match(error.message, /could stop all of them\. Set it to at most 1\./);
  });
  it("never chains across hosts, and splits maxUnavailable among the hosts (each at least one lane)", () => {
    const svc = { "kokoro-cpu": { image: "x/k:1", device: "cpu", ramMiB: 100, threads: 1, maxUnavailable: 3 } };
    const result = plan({ a: box({ workers: { "kokoro-cpu": { replicas: 4 } } }), b: box({ workers: { "kokoro-cpu": { replicas: 2 } } }) }, svc);
    assert.deepEqual(result.errors, []);
    // Budget 3 over 2 hosts: one lane each, the spare to a (4 workers per lane beats 2): a 2 lanes, b 1.
    assert.deepEqual(host(result, "a").workers.map((w) => w.rolloutAfter), [null, null, "a-kokoro-cpu-1", "a-kokoro-cpu-2"]);
    assert.deepEqual(host(result, "b").workers.map((w) => w.rolloutAfter), [null, "b-kokoro-cpu-1"]);
  });

  it("refuses a maxUnavailable below the number of hosts running the service", () => {
    const error = onlyError(plan({ a: box({ workers: { "kokoro-cpu": { replicas: 2 } } }), b: box({ workers: { "kokoro-cpu": { replicas: 2 } } }), c: box({ workers: { "kokoro-cpu": { replicas: 2 } } }) }, { "kokoro-cpu": { image: "x/k:1", device: "cpu", ramMiB: 100, maxUnavailable: 2 } }));
    assert.equal(error.path, "services.kokoro-cpu.maxUnavailable");
    assert.match(error.message, /runs on 3 hosts.*Set it to at least 3/);
  });

  it("warns when a service has one worker per host (every worker restarts at once)", () => {
    const result = plan({ a: box({ workers: { "kokoro-cpu": { replicas: 1 } } }), b: box({ workers: { "kokoro-cpu": { replicas: 1 } } }) });
    assert.deepEqual(result.errors, []);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0]?.message ?? "", /one worker on each of its 2 hosts/);
  });
});

describe("CPU pinning", () => {
  it("pins each worker to its own cores after the reserved ones when the host asks", () => {
    const pinned = host(plan({ a: box({ pinCpus: true, workers: { "kokoro-cpu": { replicas: 2 }, other: { replicas: 1 } } }) }, { other: { image: "x/o:1", device: "cpu", ramMiB: 100, threads: 1 } }), "a");
    assert.deepEqual(pinned.workers.map((w) => w.cpuSet), ["1-2", "3-4", "5"]);
    const free = host(plan({ a: box({ workers: { "kokoro-cpu": { replicas: 2 } } }) }), "a");
    assert.deepEqual(free.workers.map((w) => w.cpuSet), [null, null]);
  });
});

describe("many mistakes", () => {
  it("lists every error across hosts and services, each with host and path", () => {
    const result = plan(
      {
        good: box({ workers: { "kokoro-cpu": { replicas: 1 } } }),
        "too-many": box({ workers: { "kokoro-cpu": { replicas: 9 } } }),
        "no-gpu": box({ workers: { kokoro: { replicas: 1 } } }),
        typo: box({ workers: { kokro: { replicas: 1 } } }),
      },
      { broken: { image: "x/b:1", device: "tpu", ramMiB: 1 } },
    );
    assert.deepEqual(
      result.errors.map((e) => [e.host, e.path]),
      [
        [null, "services.broken.device"],
        ["typo", "hosts.typo.workers.kokro"],
        ["too-many", "hosts.too-many.workers"],
        ["no-gpu", "hosts.no-gpu.workers.kokoro"],
      ],
    );
    assert.match(result.errors[1].message, /Did you mean 'kokoro'\?/);
    assert.ok(host(result, "good"));
  });
});
