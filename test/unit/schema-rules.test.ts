// The schema's rules and messages, each written out by hand from the rule it enforces (README's config
// reference, docs/worker-contract.md, Docker's reference grammar): the value a user gives, the path and
// the exact message they read. Also run against mutants of schema.ts (npm run test:mutation -- schema).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseFleet } from "../../components/core/schema";
import { baseValues, configDoc, EXAMPLE_KEYS, type Values } from "../support/fixtures";

function withChange(change: (v: Values) => void): Values {
  const values = baseValues();
  change(values);
  return values;
}
const services = (v: Values): Record<string, Values> => v.services as Record<string, Values>;
const gex = (v: Values): Values => (v.hosts as Record<string, Values>)["gex44-1"];
const ssh = (v: Values): Values => gex(v).ssh as Values;

/** `path: message` of every diagnostic of one severity. */
function said(values: Values, severity: "error" | "warning" = "error"): string[] {
  return parseFleet(configDoc(values)).diagnostics.filter((d) => d.severity === severity).map((d) => `${d.path}: ${d.message}`);
}
const errors = (change: (v: Values) => void): string[] => said(withChange(change));

describe("sampleJob (docs/worker-contract.md, \"Sample job\")", () => {
  const job = { queue: "jobs:yolo", payload: '{"id":"{id}","image":"cat.jpg"}', results: "results:yolo", answer: '"id":"{id}"' };

  it("takes a job as given, with a 60 s timeout by default", () => {
    const spec = parseFleet(configDoc(withChange((v) => (services(v).yolo.sampleJob = job)))).spec;
    assert.deepEqual(spec?.services.yolo.sampleJob, { ...job, timeoutSeconds: 60 });
  });

  it("needs {id} in the payload and in the answer, so each job's answer can be told apart", () => {
    assert.deepEqual(errors((v) => (services(v).yolo.sampleJob = { ...job, payload: '{"image":"cat.jpg"}' })), [
      "services.yolo.sampleJob.payload: must contain {id}, replaced by a unique id per job, so each job can be told apart.",
    ]);
    assert.deepEqual(errors((v) => (services(v).yolo.sampleJob = { ...job, answer: "ok" })), [
      "services.yolo.sampleJob.answer: must contain {id}: an answer is recognised by the job's id.",
    ]);
  });

  it("times a job out after 1 to 3600 seconds", () => {
    assert.deepEqual(errors((v) => (services(v).yolo.sampleJob = { ...job, timeoutSeconds: 1 })), []);
    assert.deepEqual(errors((v) => (services(v).yolo.sampleJob = { ...job, timeoutSeconds: 3600 })), []);
    assert.deepEqual(errors((v) => (services(v).yolo.sampleJob = { ...job, timeoutSeconds: 3601 })), ["services.yolo.sampleJob.timeoutSeconds: must be at most 3600, got 3601."]);
    assert.deepEqual(errors((v) => (services(v).yolo.sampleJob = { ...job, timeoutSeconds: 0 })), ["services.yolo.sampleJob.timeoutSeconds: must be at least 1, got 0."]);
  });
});

describe("tuned records (gpu-fleet tune writes them)", () => {
  const tuned = { replicas: 6, threads: 1, at: "2026-12-01", cores: 16, ramMiB: 65536, jobsPerSecond: 12.5, p95Ms: 410, image: "ghcr.io/example/yolo-gpu:2.0.1" };
  const withTuned = (record: Values) => (v: Values) => ((gex(v).workers as Record<string, Values>).yolo = { replicas: "auto", tuned: record });

  it("takes a record as tune writes it", () => {
    const spec = parseFleet(configDoc(withChange(withTuned(tuned)))).spec;
    assert.deepEqual(spec?.hosts["gex44-1"].workers.yolo, { replicas: "auto", tuned });
  });

  it("dates the measurement as YYYY-MM-DD, nothing before or after", () => {
    const message = "must be the date of the measurement, YYYY-MM-DD.";
    for (const at of ["2026-12-01T10:00", "x2026-12-01", "2026-12-1", "26-12-01", "2026-1-01", "2026-12-01 "]) {
      assert.deepEqual(errors(withTuned({ ...tuned, at })), [`hosts.gex44-1.workers.yolo.tuned.at: ${message}`], at);
    }
  });

  it("refuses a record no measurement makes: no replicas, cores or image, a negative rate", () => {
    const at = "hosts.gex44-1.workers.yolo.tuned";
    assert.deepEqual(errors(withTuned({ ...tuned, replicas: 0 })), [`${at}.replicas: must be at least 1, got 0.`]);
    assert.deepEqual(errors(withTuned({ ...tuned, cores: 0 })), [`${at}.cores: must be at least 1, got 0.`]);
    assert.deepEqual(errors(withTuned({ ...tuned, jobsPerSecond: -0.5 })), [`${at}.jobsPerSecond: must be at least 0, got -0.5.`]);
    assert.deepEqual(errors(withTuned({ ...tuned, p95Ms: -1 })), [`${at}.p95Ms: must be at least 0, got -1.`]);
    assert.deepEqual(errors(withTuned({ ...tuned, jobsPerSecond: 0, p95Ms: 0 })), []);
  });
});

describe("host keys", () => {
  const hint = "(npm run keyscan -- <stack> <host> prints the host's keys)";

  it("takes several keys as a list", () => {
    const spec = parseFleet(configDoc(withChange((v) => (ssh(v).hostKey = [EXAMPLE_KEYS.host, EXAMPLE_KEYS.ecdsa])))).spec;
    const hostKey = spec?.hosts["gex44-1"].ssh?.hostKey;
    assert.equal(hostKey?.mode, "pinned");
    assert.equal(hostKey.mode === "pinned" ? hostKey.keys.length : 0, 2);
  });

  it("names the list entry that is wrong, and says how to get the key", () => {
    assert.deepEqual(errors((v) => (ssh(v).hostKey = [EXAMPLE_KEYS.host, " "])), [`hosts.gex44-1.ssh.hostKey[1]: is empty: give the host's public key ${hint}.`]);
    assert.deepEqual(errors((v) => (ssh(v).hostKey = "")), [`hosts.gex44-1.ssh.hostKey: is empty: give the host's public key ${hint}.`]);
  });

  it("an empty list or a number is not a host key", () => {
    assert.deepEqual(errors((v) => (ssh(v).hostKey = [])), ["hosts.gex44-1.ssh.hostKey: give at least one key."]);
    assert.deepEqual(errors((v) => (ssh(v).hostKey = 5)), ["hosts.gex44-1.ssh.hostKey: must be a host key (`ssh-ed25519 AAAA...`), a list of them, or trust-on-first-use, got 5."]);
  });
});

describe("services", () => {
  it("a cuda service says its peak VRAM; a cpu service's is ignored", () => {
    assert.deepEqual(errors((v) => delete services(v).yolo.vramMiB), [
      "services.yolo.vramMiB: missing: a cuda service needs vramMiB, the peak VRAM of one worker process (nvidia-smi's per-process figure).",
    ]);
    assert.deepEqual(said(withChange((v) => (services(v)["kokoro-cpu"].vramMiB = 600)), "warning"), [
      "services.kokoro-cpu.vramMiB: is ignored: kokoro-cpu runs on the CPU (device: cpu). Remove it, or set device: cuda.",
    ]);
  });
});

describe("limits with their own words", () => {
  it("a size past 64 TiB says sizes are MiB; 64 TiB itself is taken", () => {
    assert.deepEqual(errors((v) => (services(v).yolo.ramMiB = 64 * 1024 * 1024)), []);
    assert.deepEqual(errors((v) => (services(v).yolo.ramMiB = 64 * 1024 * 1024 + 1)), [
      "services.yolo.ramMiB: is more than 64 TiB (67108864 MiB), more than a machine addresses; sizes are MiB, got 67108865.",
    ]);
  });

  it("an empty admin list says what to add", () => {
    assert.deepEqual(errors((v) => ((v.tailnet as Values).admins = [])), ["tailnet.admins: name at least one admin, e.g. [group:ops]."]);
    assert.deepEqual(errors((v) => ((v.tailnet as Values).admins = [""])), ["tailnet.admins[0]: is empty: name an admin, e.g. group:ops."]);
  });

  it("a fraction where a whole number belongs", () => {
    assert.deepEqual(errors((v) => (services(v).yolo.threads = 1.5)), ["services.yolo.threads: expected a whole number, got 1.5."]);
  });

  it("format messages: the Redis host's tailnet name, a writable path inside the container", () => {
    assert.deepEqual(errors((v) => ((v.redis as Values).host = "Redis VPS")), ["redis.host: must be the Redis host's tailnet name, e.g. redis-vps."]);
    assert.deepEqual(errors((v) => (services(v).yolo.writablePaths = ["var/cache"])), ["services.yolo.writablePaths[0]: must be an absolute path inside the container, e.g. /tmp."]);
    assert.deepEqual(errors((v) => (services(v).yolo.writablePaths = ["/var/cache", "/tmp"])), []);
  });

  it("text fields take text longer than one character", () => {
    assert.deepEqual(errors((v) => (services(v).yolo.mallocConf = "background_thread:true")), []);
    const values = withChange((v) => {
      (v.hosts as Record<string, Values>)["cpu-1"] = { hcloud: { serverType: "ccx33", location: "fsn1", image: "debian-12" }, workers: {} };
    });
    assert.deepEqual(said(values), []);
  });
});

describe("unknown keys: the suggestion alone, and known keys at every depth", () => {
  it("a misspelt required key is one mistake: the unknown key with its suggestion, not also 'missing'", () => {
    assert.deepEqual(errors((v) => {
      delete services(v).yolo.ramMiB;
      services(v).yolo.ramMB = 600;
    }), [
      "services.yolo.ramMB: unknown key 'ramMB'. Did you mean 'ramMiB'? Known keys here: image, device, threads, vramMiB, ramMiB, jemalloc, mallocConf, user, capAdd, readOnlyRootFs, writablePaths, healthcheck, drainSeconds, stopSignal, command, sampleJob, env, maxUnavailable, residency, idleUnloadSeconds.",
    ]);
    assert.deepEqual(errors((v) => ((gex(v).workers as Record<string, Values>).yolo = { replica: 2 })), [
      "hosts.gex44-1.workers.yolo.replica: unknown key 'replica'. Did you mean 'replicas'? Known keys here: replicas, threads, tuned.",
    ]);
  });

  it("a suggested key that is given but wrong is still reported", () => {
    assert.deepEqual(errors((v) => ((gex(v).workers as Record<string, Values>).yolo = { replicas: "x", replica: 2 })), [
      "hosts.gex44-1.workers.yolo.replicas: must be a whole number or auto, got \"x\".",
      "hosts.gex44-1.workers.yolo.replica: unknown key 'replica'. Did you mean 'replicas'? Known keys here: replicas, threads, tuned.",
    ]);
  });

  it("a required key left out is 'missing' with what it takes", () => {
    assert.deepEqual(errors((v) => ((gex(v).workers as Record<string, Values>).yolo = { threads: 2 })), [
      "hosts.gex44-1.workers.yolo.replicas: missing: add it (must be a whole number or auto).",
    ]);
  });

  it("inside a list of GPUs, and inside connect and rolloutTimes (objects with an input default)", () => {
    assert.deepEqual(errors((v) => (gex(v).gpus = [{ modle: "rtx-4000-sff-ada" }])), [
      "hosts.gex44-1.gpus[0].modle: unknown key 'modle'. Did you mean 'model'? Known keys here: model, vramMiB, computeCapability.",
    ]);
    assert.deepEqual(errors((v) => (gex(v).connect = { atempts: 5 })), [
      "hosts.gex44-1.connect.atempts: unknown key 'atempts'. Did you mean 'attempts'? Known keys here: timeoutSeconds, attempts, enrollAttempts.",
    ]);
    assert.deepEqual(errors((v) => (v.defaults = { rolloutTimes: { healthSeconds: 45 } })), [
      "defaults.rolloutTimes.healthSeconds: unknown key 'healthSeconds'. Did you mean 'healthySeconds'? Known keys here: imagePullSeconds, containerStartSeconds, healthySeconds, roleSeconds, serverBootSeconds, serverDeleteSeconds.",
    ]);
  });
});

describe("the whole document", () => {
  it("no hosts is an error unless the stack is a split fleet's shared stack", () => {
    assert.deepEqual(errors((v) => delete v.hosts), ["hosts: missing: add at least one host under hosts."]);
  });

  it("a shared stack may hold hosts too; they are parsed like any other", () => {
    const result = parseFleet(configDoc(withChange((v) => (v.split = { role: "shared" }))));
    assert.deepEqual(Object.keys(result.spec?.hosts ?? {}), ["gex44-1"]);
  });

  it("an empty section in YAML (null) is 'must be a map', not a crash", () => {
    assert.deepEqual(errors((v) => {
      v.services = null;
      v.hosts = null;
    }), ["services: must be a map of service name to settings.", "hosts: must be a map of host name to settings."]);
  });

  it("services that are not a map: one error there, and hosts' workers name no service", () => {
    assert.deepEqual(errors((v) => (v.services = [{ image: "ghcr.io/example/yolo-gpu:2.0.1" }])), [
      "services: must be a map of service name to settings.",
      "hosts.gex44-1.workers.kokoro: no service named 'kokoro'. Services: (none).",
      "hosts.gex44-1.workers.yolo: no service named 'yolo'. Services: (none).",
    ]);
  });

  it("a group stack with a broken tailnet section reports it and does not stop there", () => {
    const values = withChange((v) => {
      v.split = { role: "group", sharedStack: "my-org/gpu-fleet/fleet-shared" };
      v.tailnet = { policy: "external" };
    });
    assert.deepEqual(said(values), ["tailnet.admins: missing: add it (a list)."]);
  });

  it("hcloud hosts without hcloud.sshPublicKey: a warning that names them; with it, none", () => {
    const cpu = { hcloud: { serverType: "ccx33", location: "fsn1" }, workers: { "kokoro-cpu": { replicas: 1 } } };
    const withCloud = withChange((v) => {
      (v.hosts as Record<string, Values>)["cpu-1"] = cpu;
      (v.hosts as Record<string, Values>)["cpu-2"] = cpu;
    });
    assert.deepEqual(said(withCloud, "warning").filter((w) => w.startsWith("hcloud")), []);
    delete withCloud.hcloud;
    assert.deepEqual(said(withCloud, "warning").filter((w) => w.startsWith("hcloud")), [
      "hcloud.sshPublicKey: is not set: cpu-1, cpu-2 will get no SSH key from Hetzner, so roles can only reach them over Tailscale SSH. Add `hcloud: { sshPublicKey: \"ssh-ed25519 AAAA...\" }`, the public half of the key the runner uses.",
    ]);
  });

  it("broken defaults still plan with the documented defaults, so every other error is found", () => {
    const result = parseFleet(configDoc(withChange((v) => (v.defaults = { threads: 0 }))));
    assert.equal(result.spec, undefined);
    assert.deepEqual(result.plannable.defaults, {
      threads: 2,
      reserve: { cores: 1, ramMiB: 2048, vramMiB: 512 },
      rolloutTimes: { imagePullSeconds: 60, containerStartSeconds: 5, healthySeconds: 30, roleSeconds: 20, serverBootSeconds: 90, serverDeleteSeconds: 30 },
    });
  });

  it("an error found after parsing (a contract env name) still means no spec", () => {
    const result = parseFleet(configDoc(withChange((v) => (services(v).yolo.env = { REDIS_URL: "redis://x" }))));
    assert.deepEqual(result.diagnostics.filter((d) => d.severity === "error").map((d) => d.path), ["services.yolo.env.REDIS_URL"]);
    assert.equal(result.spec, undefined);
  });
});

describe("image references (distribution/reference's grammar)", () => {
  const image = (i: string): string[] => errors((v) => (services(v).yolo.image = i));
  const hex = "0123456789abcdef".repeat(4);

  it("a digest pins without a tag; a one-part Docker Hub name takes a tag", () => {
    assert.deepEqual(image(`ghcr.io/example/yolo@sha256:${hex}`), []);
    assert.deepEqual(image("yolo:2.0.1"), []);
    assert.deepEqual(image("yolo"), ["services.yolo.image: 'yolo' has no tag: pin a version (e.g. yolo:1.4.0) or a digest, so every host runs the same build and a new version is a visible change."]);
  });

  it("a registry's port is not a tag: the repository after it is still checked", () => {
    assert.deepEqual(image("reg.io:5000/Yolo"), ["services.yolo.image: 'reg.io:5000/Yolo' has 'Yolo' in its repository name, which Docker refuses: repository names are lowercase."]);
    assert.deepEqual(image("reg.io:5000/yolo:2"), []);
  });

  it("a reference that starts with '@' is checked as a digest first", () => {
    assert.deepEqual(image("@sha256:abc"), ["services.yolo.image: '@sha256:abc' has a digest that is not sha256:<64 hex digits>."]);
  });
});
