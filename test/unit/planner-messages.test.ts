// Every diagnostic the planner gives, with its exact path and words, and the plan fields no other test
// pins. The messages are the interface: each names the host, the config path and the fix (README).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Values } from "../support/fixtures";
import { accepted, box, cpuService, cudaService, hostOf, onlyError, plan, sshAt } from "../support/plan";
import { DiagnosticList } from "../../components/core/diagnostics";
import { rolloutLanes } from "../../components/core/planner";

const hcloud = (serverType: string, extra: Values = {}): Values => ({ hcloud: { serverType, location: "fsn1" }, ...extra });
const HCLOUD_TYPES = "ccx13, ccx23, ccx33, ccx43, ccx53, ccx63, cpx11, cpx21, cpx31, cpx41, cpx51, cx22, cx32, cx42, cx52";

describe("machine facts", () => {
  it("describes a machine it has no catalog entry for by its numbers, RAM in whole GiB", () => {
    assert.equal(accepted(plan({ a: box({ workers: {} }) })).machine, "8 cores, 32 GiB");
    assert.equal(accepted(plan({ a: box({ ramMiB: 1536, reserve: { ramMiB: 0 }, gpus: [{ model: "gtx-1080" }, { model: "t4" }], workers: {} }) })).machine, "8 cores, 2 GiB, GeForce GTX 1080 + Tesla T4");
    assert.equal(accepted(plan({ a: { ssh: sshAt("x"), hardware: "gex44", workers: {} } })).machine, "Hetzner GEX44 (Intel Core i5-13500, 64 GiB, RTX 4000 SFF Ada 20 GB)");
  });

  it("lets a host's own numbers win over its catalog machine, one by one", () => {
    const a = accepted(plan({ a: { ssh: sshAt("x"), hardware: "gex44", cpu: { cores: 16 }, gpus: [{ model: "rtx-3090", computeCapability: 8.0 }], workers: {} } }));
    assert.deepEqual([a.cpu.cores, a.ramMiB.total], [16, 65536]);
    assert.deepEqual([a.gpus[0].model, a.gpus[0].name, a.gpus[0].vramMiB, a.gpus[0].computeCapability], ["rtx-3090", "GeForce RTX 3090", 24576, 8.0]);
    assert.deepEqual(accepted(plan({ a: { ssh: sshAt("x"), hardware: "gex44", gpus: [], workers: {} } })).gpus, []);
  });

  it("takes a GPU by its numbers, named by the model it was given or as a custom GPU", () => {
    const named = accepted(plan({ a: box({ gpus: [{ model: "quadro-gv100", vramMiB: 32768, computeCapability: 7.0 }], workers: {} }) })).gpus[0];
    assert.deepEqual([named.model, named.name, named.vramMiB, named.computeCapability], ["quadro-gv100", "quadro-gv100", 32768, 7.0]);
    const custom = accepted(plan({ a: box({ gpus: [{ vramMiB: 6144, computeCapability: 8.6 }], workers: {} }) })).gpus[0];
    assert.deepEqual([custom.index, custom.model, custom.name, custom.reservedMiB, custom.usedMiB, custom.clients], [0, "custom", "custom GPU", 512, 0, 0]);
  });

  it("asks for a catalog model or both numbers", () => {
    for (const gpu of [{}, { vramMiB: 6144 }, { computeCapability: 8.6 }]) {
      const error = onlyError(plan({ a: box({ gpus: [{ model: "t4" }, gpu], workers: {} }) }));
      assert.equal(error.path, "hosts.a.gpus[1]");
      assert.equal(error.message, "give a catalog model (e.g. model: rtx-4090), or both vramMiB and computeCapability (nvidia-smi --query-gpu=memory.total,compute_cap --format=csv).");
    }
  });

  it("refuses a GPU model it does not know without numbers, listing the catalog", () => {
    const error = onlyError(plan({ a: box({ gpus: [{ model: "gtx-980" }], workers: {} }) }));
    assert.equal(error.path, "hosts.a.gpus[0].model");
    assert.match(error.message, /^'gtx-980' is not in the catalog\./);
    assert.match(error.message, / Known: tesla-p100, gtx-1070, gtx-1080, gtx-1080-ti, v100-16gb, v100-32gb, titan-v, rtx-2070-super, rtx-2080-ti, rtx-3060, rtx-3070-laptop, rtx-3090, rtx-4070-laptop, rtx-4090, rtx-4000-sff-ada, rtx-6000-ada, t4, l4, a100-40gb, a100-80gb, h100; or give vramMiB and computeCapability for it\.$/);
  });

  it("asks for cores and RAM in the words of the tools that print them", () => {
    const result = plan({ a: { ssh: sshAt("x"), workers: {} } });
    assert.deepEqual(result.errors.map((e) => [e.path, e.message]), [
      ["hosts.a.cpu.cores", "missing: give cpu: { cores: N } (what nproc prints on a), or hardware: <catalog machine>."],
      ["hosts.a.ramMiB", "missing: give ramMiB (free -m's total on a), or hardware: <catalog machine>."],
    ]);
    assert.deepEqual(plan({ a: { ssh: sshAt("x"), cpu: { cores: 4 }, workers: {} } }).errors.map((e) => e.path), ["hosts.a.ramMiB"]);
    assert.deepEqual(plan({ a: { ssh: sshAt("x"), ramMiB: 4096, workers: {} } }).errors.map((e) => e.path), ["hosts.a.cpu.cores"]);
  });

  it("refuses an unknown dedicated machine with the catalog's names", () => {
    const error = onlyError(plan({ a: { ssh: sshAt("x"), hardware: "gex45" } }));
    assert.equal(error.path, "hosts.a.hardware");
    assert.equal(error.message, "'gex45' is not in the catalog. Did you mean 'gex44'? Known: gex44, gex130; or remove it and give cpu.cores, ramMiB and gpus.");
  });
});

describe("Hetzner Cloud hosts", () => {
  it("refuses a server type it does not know, even with cores and RAM given", () => {
    const message = `'ccx99' is not a Hetzner Cloud server type in the catalog. Did you mean 'ccx13'? Known: ${HCLOUD_TYPES}. A type Hetzner added since goes into components/core/catalog.ts, with its source.`;
    for (const extra of [{}, { cpu: { cores: 96 }, ramMiB: 393216 }]) {
      const error = onlyError(plan({ a: hcloud("ccx99", extra) }));
      assert.deepEqual([error.path, error.message], ["hosts.a.hcloud.serverType", message]);
    }
  });

  it("refuses a location Hetzner does not have, and a type the location does not offer (CX in the EU only)", () => {
    const at = (serverType: string, location: string): Values => ({ hcloud: { serverType, location }, workers: {} });
    const unknown = onlyError(plan({ a: at("ccx33", "fsn") }));
    assert.deepEqual([unknown.path, unknown.message], ["hosts.a.hcloud.location", "'fsn' is not a Hetzner Cloud location. Did you mean 'fsn1'? Locations: fsn1, nbg1, hel1, ash, hil, sin."]);
    const notOffered = onlyError(plan({ a: at("cx22", "ash") }));
    assert.deepEqual([notOffered.path, notOffered.message], [
      "hosts.a.hcloud.serverType",
      "cx22 is not offered in ash (Ashburn, VA, USA (us-east)). Locations with cx22: fsn1, nbg1, hel1; or pick a cpx/ccx type for ash.",
    ]);
    for (const [type, location] of [["ccx33", "ash"], ["cpx21", "sin"], ["cx22", "hel1"]]) assert.deepEqual(plan({ a: at(type, location) }).errors, [], `${type} in ${location}`);
  });

  it("refuses hardware on a cloud server, and GPUs", () => {
    const error = onlyError(plan({ a: hcloud("cx22", { hardware: "gex44", workers: {} }) }));
    assert.equal(error.path, "hosts.a.hardware");
    assert.equal(error.message, "does not apply to hcloud hosts: the server type says what the machine is. Remove it.");
    const gpus = onlyError(plan({ a: hcloud("cx22", { gpus: [{ model: "t4" }] }) }));
    assert.equal(gpus.message, "Hetzner Cloud server types have no GPUs. A Hetzner GPU server (GEX44, GEX130) is a dedicated server: add it with ssh: { address } and hardware: gex44.");
    assert.deepEqual(accepted(plan({ a: hcloud("cx22", { gpus: [], workers: {} }) })).gpus, []);
  });

  it("counts only cloud hosts against the spread group: 10 of them and an SSH host plan", () => {
    const hosts: Values = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`c${i}`, hcloud("cx22", { workers: {} })]));
    assert.deepEqual(plan({ ...hosts, a: box({ workers: {} }), j: { join: {}, cpu: { cores: 2 }, ramMiB: 4096 } }).errors, []);
    const error = onlyError(plan({ ...hosts, c10: hcloud("cx22") }));
    assert.equal(error.message, "has 11 Hetzner Cloud hosts, but their spread placement group holds at most 10 servers. Use larger server types (fewer hosts), or split the fleet into two stacks.");
  });

  it("names each kind of host", () => {
    const result = plan({ s: box({ workers: {} }), c: hcloud("cx22", { workers: {} }), j: { join: {}, cpu: { cores: 2 }, ramMiB: 4096 } });
    assert.deepEqual(result.plan.hosts.map((h) => [h.name, h.kind]), [["s", "ssh"], ["c", "hcloud"], ["j", "join"]]);
  });
});

describe("drivers", () => {
  it("refuses a driver on a host without GPU, and takes none there", () => {
    const error = onlyError(plan({ a: box({ nvidia: { driver: "preinstalled" } }) }));
    assert.equal(error.path, "hosts.a.nvidia.driver");
    assert.equal(error.message, "is preinstalled, but a has no GPU. Declare its gpus, or remove nvidia.");
    assert.deepEqual(accepted(plan({ a: box({ nvidia: { driver: "none" }, workers: {} }) })).nvidia, { driver: "none", branch: null, modules: null });
    assert.deepEqual(accepted(plan({ a: box({ workers: {} }) })).nvidia, { driver: "none", branch: null, modules: null });
  });

  it("ignores a branch it does not install, with a warning", () => {
    const result = plan({ a: box({ gpus: [{ model: "t4" }], nvidia: { driver: "preinstalled", branch: "570" }, workers: {} }) });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings.map((w) => [w.path, w.message]), [["hosts.a.nvidia.branch", "is ignored: the driver is preinstalled, so gpu-fleet installs none."]]);
    assert.deepEqual(hostOf(result).nvidia, { driver: "preinstalled", branch: null, modules: null });
    assert.deepEqual(plan({ a: box({ gpus: [{ model: "t4" }], workers: {} }) }).warnings, []);
  });

  it("refuses CUDA workers without a driver and CUDA on a host without GPU, in words", () => {
    const none = onlyError(plan({ a: box({ gpus: [{ model: "t4" }], nvidia: { driver: "none" }, workers: { kokoro: { replicas: 1 } } }) }));
    assert.equal(none.message, "is none, but kokoro on a needs CUDA. Set nvidia.driver to preinstalled (a driver is already there) or managed.");
    const noGpu = onlyError(plan({ a: box({ workers: { kokoro: { replicas: 1 } } }) }));
    assert.equal(noGpu.message, "kokoro runs on CUDA but a has no GPU. Run a CPU service here instead (device: cpu), or declare the host's gpus.");
    assert.deepEqual(accepted(plan({ a: box({ workers: { kokoro: { replicas: 0 } } }) })).workers, []);
  });
});

describe("MPS", () => {
  it("warns that mps: on means nothing on a host without GPU", () => {
    const result = plan({ a: box({ mps: "on", workers: {} }) });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings.map((w) => [w.path, w.message]), [["hosts.a.mps", "is on, but a has no GPU; it is ignored."]]);
  });

  it("says what auto MPS costs on a Pascal GPU", () => {
    const result = plan({ a: box({ gpus: [{ model: "gtx-1080" }], workers: { kokoro: { replicas: 3 } } }) });
    assert.deepEqual(result.warnings.map((w) => w.message), [
      "GPU 0 (GeForce GTX 1080, compute 6.1) runs 3 workers under MPS without per-client memory limits, which need Volta (7.0) or newer: one worker's fault or overrun stops all 3. Set mps: off on a if isolation matters more than throughput, or mps: on to accept it.",
    ]);
  });

  it("requires one uid per MPS GPU, and accepts the same explicit uid on all clients", () => {
    const error = onlyError(plan({ a: box({ gpus: [{ model: "t4" }], workers: { kokoro: { replicas: 1 }, yolo: { replicas: 2 } } }) }, { yolo: cudaService(300, { user: 1000 }) }));
    assert.equal(error.path, "services.yolo.user");
    assert.equal(error.message, "a shares MPS between kokoro as uid 10001 and yolo as uid 1000; one MPS daemon per host serves one uid, so all its MPS clients must share one uid. Set the same services.<name>.user on them (unset means 10001), or set mps: off on a.");
    // One daemon per host: two MPS GPUs of one host, each with clients of one uid, still clash.
    const split = onlyError(plan({ a: box({ gpus: [{ model: "t4" }, { model: "t4" }], mps: "on", workers: { kokoro: { replicas: 1 }, yolo: { replicas: 1 } } }) }, { yolo: cudaService(300, { user: 1000 }) }));
    assert.equal(split.message, "a shares MPS between kokoro as uid 10001 and yolo as uid 1000; one MPS daemon per host serves one uid, so all its MPS clients must share one uid. Set the same services.<name>.user on them (unset means 10001), or set mps: off on a.");
    const same = accepted(plan({ a: box({ gpus: [{ model: "t4" }], workers: { s: { replicas: 1 }, t: { replicas: 1 } } }) }, { s: cudaService(300, { user: 1000 }), t: cudaService(300, { user: 1000 }) }));
    assert.deepEqual(same.workers.map((w) => w.user), [1000, 1000]);
    // Different uids on GPUs without MPS are fine.
    accepted(plan({ a: box({ gpus: [{ model: "t4" }, { model: "t4" }], workers: { kokoro: { replicas: 1 }, yolo: { replicas: 1 } } }) }, { yolo: cudaService(300, { user: 1000 }) }));
  });

  it("on turns MPS on for one worker; the default limit per GPU is its largest client's VRAM, in any order", () => {
    const one = accepted(plan({ a: box({ gpus: [{ model: "t4" }], mps: "on", workers: { kokoro: { replicas: 1 } } }) }));
    assert.deepEqual([one.gpus[0].mps, one.mps.enabled, one.workers[0].mps, one.workers[0].user], [true, true, true, 10001]);
    assert.deepEqual([one.mps.pipeDirectory, one.mps.logDirectory], ["/run/gpu-fleet/mps", "/var/log/gpu-fleet/mps"]);
    const small = accepted(plan({ a: box({ gpus: [{ model: "t4" }], workers: { yolo: { replicas: 1 }, kokoro: { replicas: 1 } } }) }));
    assert.deepEqual(small.mps.defaultPinnedMemLimitMiB, { 0: 600 });
  });
});

describe("budget messages", () => {
  it("offers fewer threads when one replica needs more than the host has", () => {
    const error = onlyError(plan({ a: box({ workers: { s: { replicas: 1, threads: 8 } } }) }, { s: cpuService() }));
    assert.equal(error.message, "s 1 × 8 threads need 8 threads, but a has 7 usable (8 cores − 1 reserved). Lower s replicas on a to 0, or its threads to 7.");
  });

  it("names only the reserve when the reserve leaves nothing, not the budgets as well", () => {
    assert.equal(onlyError(plan({ a: box({ reserve: { cores: 8 }, workers: { s: { replicas: 2 } } }) }, { s: cpuService() })).path, "hosts.a.reserve.cores");
    assert.equal(onlyError(plan({ a: box({ reserve: { ramMiB: 32768 }, workers: { s: { replicas: 2 } } }) }, { s: cpuService() })).path, "hosts.a.reserve.ramMiB");
  });

  it("warns about threads set on the service at the service's path", () => {
    const result = plan({ a: box({ workers: { s: { replicas: 1 } } }) }, { s: cpuService(100, 7) });
    assert.deepEqual(result.warnings.map((w) => [w.path, w.message]), [["services.s.threads", "s on a runs 7 threads per worker: beyond about 6 threads a worker gets slower, not faster (memory bandwidth). Prefer more replicas with 2 threads each."]]);
  });

  it("names the VRAM in an auto error for a CUDA service", () => {
    const error = onlyError(plan({ a: box({ gpus: [{ model: "gtx-1080" }], workers: { s: { replicas: "auto" } } }) }, { s: cudaService(8000) }));
    assert.equal(error.message, "is auto, but a has no room left for one s worker (1 threads, 10 MiB RAM, 8000 MiB VRAM). Lower the other workers on a, or remove s from it.");
  });

  it("plans the other hosts when one host has an error", () => {
    const result = plan({ bad: box({ workers: { s: { replicas: 8 } } }), good: box({ workers: { s: { replicas: 7 } } }) }, { s: cpuService() });
    assert.deepEqual(result.plan.hosts.map((h) => h.name), ["good"]);
    assert.deepEqual(result.errors.map((e) => e.host), ["bad"]);
  });
});

describe("workers", () => {
  it("carry the service's image, command, health check, user, stop signal and drain time; CPU workers have no GPU or VRAM", () => {
    const healthcheck = { test: ["CMD", "true"], intervalSeconds: 5, timeoutSeconds: 2, retries: 1, startPeriodSeconds: 0 };
    const a = accepted(plan({ a: box({ workers: { s: { replicas: 1 } } }) }, {
      s: { image: "x/s:2", device: "cpu", ramMiB: 123, threads: 1, command: ["python", "-m", "w"], healthcheck, user: 1000, stopSignal: "SIGINT", drainSeconds: 120 },
    }));
    const w = a.workers[0];
    assert.deepEqual(
      [w.service, w.replica, w.name, w.image, w.device, w.threads, w.gpu, w.vramMiB, w.ramMiB, w.mps, w.cpuSet, w.user, w.command, w.healthcheck, w.stopSignal, w.drainSeconds, w.rolloutAfter],
      ["s", 1, "a-s-1", "x/s:2", "cpu", 1, null, null, 123, false, null, 1000, ["python", "-m", "w"], healthcheck, "SIGINT", 120, null],
    );
    assert.deepEqual(w.env, { OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", WORKER_DEVICE: "cpu", WORKER_NAME: "a-s-1", WORKER_HOST: "a", WORKER_SERVICE: "s" });
    assert.deepEqual([w.secretEnv, a.workers.length], [{}, 1]);
  });

  it("a CUDA worker records its VRAM; without command or health check those are null", () => {
    const w = accepted(plan({ a: box({ gpus: [{ model: "t4" }], workers: { kokoro: { replicas: 1 } } }) })).workers[0];
    assert.deepEqual([w.device, w.gpu, w.vramMiB, w.command, w.healthcheck, w.user, w.mps], ["cuda", 0, 600, null, null, 10001, false]);
    assert.equal(w.env.WORKER_DEVICE, "cuda");
  });

  it("pins after a larger reserve, in ranges of each worker's threads", () => {
    const a = accepted(plan({ a: box({ pinCpus: true, reserve: { cores: 2 }, workers: { s: { replicas: 2, threads: 2 }, t: { replicas: 1 } } }) }, { s: cpuService(), t: cpuService(100, 1) }));
    assert.deepEqual(a.workers.map((w) => w.cpuSet), ["2-3", "4-5", "6"]);
  });
});

describe("rollout lanes", () => {
  const lanes = (replicas: number, maxUnavailable?: number): (string | null)[] =>
    accepted(plan({ a: box({ cpu: { cores: 64 }, workers: { s: { replicas } } }) }, { s: { ...cpuService(), ...(maxUnavailable === undefined ? {} : { maxUnavailable }) } })).workers.map((w) => w.rolloutAfter);

  it("one lane up to 7 workers, two from 8 (a quarter, rounded down, at least one)", () => {
    assert.deepEqual(lanes(1), [null]);
    assert.deepEqual(lanes(7), [null, "a-s-1", "a-s-2", "a-s-3", "a-s-4", "a-s-5", "a-s-6"]);
    assert.deepEqual(lanes(8), [null, null, "a-s-1", "a-s-2", "a-s-3", "a-s-4", "a-s-5", "a-s-6"]);
  });

  it("takes maxUnavailable up to one less than the workers, and a lone worker with any", () => {
    assert.deepEqual(lanes(3, 2), [null, null, "a-s-1"]);
    assert.deepEqual(lanes(1, 1), [null]);
    assert.deepEqual(lanes(2, 1), [null, "a-s-1"]);
    const error = onlyError(plan({ a: box({ workers: { s: { replicas: 3 } } }) }, { s: { ...cpuService(), maxUnavailable: 3 } }));
    assert.equal(error.message, "is 3, but s has 3 workers: a rollout could stop all of them. Set it to at most 2.");
  });

  it("leaves join hosts out: they restart their own workers", () => {
    const result = plan({ a: box({ workers: { s: { replicas: 1 } } }), j: { join: {}, cpu: { cores: 8 }, ramMiB: 32768, workers: { s: { replicas: 2 } } } }, { s: cpuService() });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.plan.hosts.flatMap((h) => h.workers.map((w) => [w.name, w.rolloutAfter])), [["a-s-1", null], ["j-s-1", null], ["j-s-2", null]]);
  });
});

describe("GPU reserve and MPS, at their edges", () => {
  const gpu = (vramMiB: number, computeCapability = 8.6): Values => ({ vramMiB, computeCapability });

  it("a VRAM reserve of the whole GPU leaves nothing: refused at the GPU's size, accepted one MiB below", () => {
    const error = onlyError(plan({ a: box({ gpus: [gpu(4096)], reserve: { vramMiB: 4096 }, workers: {} }) }));
    assert.deepEqual([error.path, error.message], [
      "hosts.a.reserve.vramMiB",
      "reserves 4096 MiB of VRAM on each GPU of a, but GPU 0 (custom GPU) has 4096 MiB, leaving none for workers. Lower reserve.vramMiB below 4096 on a.",
    ]);
    assert.deepEqual(plan({ a: box({ gpus: [gpu(4096)], reserve: { vramMiB: 4095 }, workers: {} }) }).errors, []);
    // Without a host reserve the fleet default (512 MiB) applies, and the error names it.
    const byDefault = onlyError(plan({ a: box({ gpus: [gpu(8192), gpu(512)], workers: {} }) }));
    assert.deepEqual([byDefault.path, byDefault.message], [
      "defaults.reserve.vramMiB",
      "reserves 512 MiB of VRAM on each GPU of a, but GPU 1 (custom GPU) has 512 MiB, leaving none for workers. Lower reserve.vramMiB below 512 on a.",
    ]);
  });

  it("mps: on needs compute capability 3.5 on every GPU", () => {
    const error = onlyError(plan({ a: box({ gpus: [gpu(4096, 3.5), gpu(4096, 3.0)], mps: "on", workers: {} }) }));
    assert.deepEqual([error.path, error.message], [
      "hosts.a.mps",
      "is on, but GPU 1 of a (custom GPU) has compute capability 3; NVIDIA MPS needs 3.5 or newer. Set mps: off (or auto) on a.",
    ]);
    assert.deepEqual(plan({ a: box({ gpus: [gpu(4096, 3.5)], mps: "on", workers: {} }) }).errors, []);
    assert.deepEqual(plan({ a: box({ gpus: [gpu(4096, 3.0)], mps: "auto", workers: {} }) }).errors, []);
  });

  it("a time-shared service takes a number of replicas, not auto", () => {
    const error = onlyError(plan({ a: box({ gpus: [gpu(8192)], workers: { od: { replicas: "auto" } } }) }, { od: cudaService(1000, { residency: "onDemand" }) }));
    assert.deepEqual([error.path, error.message], [
      "hosts.a.workers.od.replicas",
      "is auto, but od is onDemand: its workers share the GPU's VRAM by leases, so more replicas add no capacity. Give a number, e.g. replicas: 1.",
    ]);
  });
});

describe("rollout lanes (docs/rollouts.md: a quarter of the workers at once, at least one per host; spare lanes to the host with the most workers per lane)", () => {
  const lanes = (perHost: number[], maxUnavailable?: number): [number[], string[]] => {
    const out = new DiagnosticList();
    const result = rolloutLanes("s", perHost, maxUnavailable, out);
    return [result, out.all.map((d) => `${d.severity} ${d.path}: ${d.message}`)];
  };

  it("by default a quarter of the workers, at least one lane per host", () => {
    assert.deepEqual(lanes([4, 4]), [[1, 1], []]); // 8 / 4 = 2 lanes, one per host
    assert.deepEqual(lanes([8, 4]), [[2, 1], []]); // 12 / 4 = 3: the spare lane to the host with 8
    assert.deepEqual(lanes([2]), [[1], []]); // 2 / 4 rounds down to 0: still one lane
    assert.deepEqual(lanes([1]), [[1], []]);
  });

  it("maxUnavailable spreads its lanes by workers per lane, never more lanes than a host has workers", () => {
    // 6 lanes over 12 + 4: 12/1 → 2, 12/2=6 > 4 → 3, 12/3=4 is not more than 4/1 → stays, so host 0 (first) → 4, then 12/4=3 < 4/1 → host 1.
    assert.deepEqual(lanes([12, 4], 6), [[4, 2], []]);
    assert.deepEqual(lanes([1, 3], 3), [[1, 2], []]);
  });

  it("refuses a maxUnavailable that stops every worker, or fewer than the hosts that roll on their own", () => {
    assert.deepEqual(lanes([1, 3], 4), [[1, 3], ["error services.s.maxUnavailable: is 4, but s has 4 workers: a rollout could stop all of them. Set it to at most 3."]]);
    assert.deepEqual(lanes([2, 2], 1), [[1, 1], [
      "error services.s.maxUnavailable: is 1, but s runs on 2 hosts, and each host rolls its own workers (a down host must not block the others), so 2 may be down at once. Set it to at least 2, or run s on fewer hosts.",
    ]]);
    assert.deepEqual(lanes([2, 2], 2), [[1, 1], []]);
    assert.deepEqual(lanes([2, 2], 3), [[2, 1], []]);
  });

  it("warns when every host has one worker: they all restart at once", () => {
    assert.deepEqual(lanes([1, 1, 1]), [[1, 1, 1], [
      "warning services.s.maxUnavailable: s has one worker on each of its 3 hosts, and hosts roll independently (a down host must not block the others): an image change restarts all 3 at once. Add a replica on one host, or roll host by host with `pulumi up --target` (docs/rollouts.md).",
    ]]);
  });
});

describe("time-shared VRAM (docs/timeshare.md: resident VRAM + the largest onDemand or manual worker ≤ usable)", () => {
  const gpu8g = { gpus: [{ vramMiB: 8192, computeCapability: 8.6 }] }; // 8192 − 512 reserved = 7680 usable
  const services = (b: number): Values => ({ r: cudaService(3000), "od-a": cudaService(4000, { residency: "onDemand" }), "od-b": cudaService(b, { residency: "manual" }) });
  const workers = { "od-b": { replicas: 1 }, "od-a": { replicas: 1 }, r: { replicas: 1 } };

  it("takes turns: 3000 resident + the largest of 4000 and 4680 is exactly 7680, accepted though the sum is not", () => {
    assert.deepEqual(plan({ a: box({ ...gpu8g, workers }) }, services(4680)).errors, []);
  });

  it("one MiB more does not fit even alone, and the message says by how much", () => {
    const error = onlyError(plan({ a: box({ ...gpu8g, workers }) }, services(4681)));
    assert.deepEqual([error.path, error.message], [
      "hosts.a.workers.od-b.replicas",
      "od-b (manual, 4681 MiB VRAM) does not fit on a even alone: GPU 0 (custom GPU) has 7680 MiB usable (8192 − 512 reserved), 3000 MiB of it held by resident workers, so at most 4680 MiB for one on-demand or manual load, 1 MiB short. Lower services.od-b.vramMiB if its workers really use less, or make a resident service on a onDemand, or run od-b on a host with a larger GPU.",
    ]);
  });

  it("with no resident worker the message leaves residents out", () => {
    const error = onlyError(plan({ a: box({ ...gpu8g, workers: { "od-b": { replicas: 1 } } }) }, services(7681)));
    assert.equal(error.message, "od-b (manual, 7681 MiB VRAM) does not fit on a even alone: GPU 0 (custom GPU) has 7680 MiB usable (8192 − 512 reserved), so at most 7680 MiB for one on-demand or manual load, 1 MiB short. Lower services.od-b.vramMiB if its workers really use less, or run od-b on a host with a larger GPU.");
  });
});
