import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseFleet } from "../../components/core/schema";
import { planConfig } from "../../components/core/pipeline";
import { parseStackFile, SECRET_PLACEHOLDER } from "../../components/core/stack-file";
import { baseValues, configDoc, EXAMPLE_KEYS, type Values } from "../support/fixtures";

/** The stack file of issue #2, verbatim apart from the secure placeholders. */
const ISSUE_EXAMPLE = `
config:
  gpu-fleet:redis: { host: redis-vps, port: 6379 }      # tailnet name of the Redis host
  gpu-fleet:redisUrl: { secure: AAABAxyzCIPHERTEXTxyz }  # pulumi config set --secret redisUrl ...
  gpu-fleet:tailnet: { workerTag: "tag:gpu-worker", redisTag: "tag:redis", admins: ["group:ops"] }
  gpu-fleet:services:
    kokoro:     { image: ghcr.io/example/kokoro-gpu:1.4.0, device: cuda, threads: 2, vramMiB: 600, ramMiB: 2500,
                  jemalloc: /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 }
    kokoro-cpu: { image: ghcr.io/example/kokoro-cpu:1.4.0, device: cpu, threads: 2, ramMiB: 2500 }
    yolo:       { image: ghcr.io/example/yolo-gpu:2.0.1, device: cuda, threads: 2, vramMiB: 300, ramMiB: 600 }
  gpu-fleet:hosts:
    gex44-1:
      ssh: { address: 203.0.113.10, user: root, hostKey: ${EXAMPLE_KEYS.host} }
      hardware: gex44
      nvidia: { driver: managed, branch: "570" }
      workers: { kokoro: { replicas: 3 }, yolo: { replicas: 2 } }
    gtx1080-box:
      ssh: { address: 198.51.100.7, user: root, hostKey: ${EXAMPLE_KEYS.host} }
      cpu: { cores: 8 }
      ramMiB: 32768
      gpus: [ { model: gtx-1080 } ]
      nvidia: { driver: managed, branch: "580" }
      workers: { kokoro: { replicas: 2 }, yolo: { replicas: 1 } }
    cpu-1:
      hcloud: { serverType: ccx33, location: fsn1 }
      workers: { kokoro-cpu: { replicas: auto } }
`;

function errorsOf(values: Values, secret?: string[]): { path: string; message: string }[] {
  return parseFleet(configDoc(values, secret)).diagnostics.filter((d) => d.severity === "error").map(({ path, message }) => ({ path, message }));
}

function mutate(change: (v: Values) => void): Values {
  const values = baseValues();
  change(values);
  return values;
}

const services = (v: Values): Record<string, Values> => v.services as Record<string, Values>;
const hosts = (v: Values): Record<string, Values> => v.hosts as Record<string, Values>;

describe("stack config schema", () => {
  it("accepts the issue's example stack file and plans it", () => {
    const file = parseStackFile(ISSUE_EXAMPLE, "example.yaml");
    assert.deepEqual(file.diagnostics, []);
    const result = planConfig(file.document);
    assert.deepEqual(result.errors, []);
    // Accepted, with two warnings that say what to add or accept: no hcloud.sshPublicKey for the
    // hcloud host, and MPS chosen by auto on a Pascal GPU, which has no per-client limits.
    assert.deepEqual(result.warnings.map((w) => w.path), ["hcloud.sshPublicKey", "hosts.gtx1080-box.mps"]);
    assert.ok(result.spec);
    assert.deepEqual(Object.keys(result.spec.hosts), ["gex44-1", "gtx1080-box", "cpu-1"]);
    assert.deepEqual(result.spec.redisUrl, { secret: "redisUrl" });
    assert.equal(result.spec.services.kokoro.jemalloc, "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
    assert.equal(result.spec.hosts["cpu-1"].workers["kokoro-cpu"].replicas, "auto");
  });

  it("applies defaults: ssh user and port, mps auto, tailnet tags, drain seconds", () => {
    const spec = parseFleet(configDoc(baseValues())).spec;
    assert.ok(spec);
    const host = spec.hosts["gex44-1"];
    assert.deepEqual([host.ssh?.user, host.ssh?.port, host.mps], ["root", 22, "auto"]);
    assert.deepEqual([spec.tailnet.workerTag, spec.tailnet.redisTag, spec.tailnet.policy], ["tag:gpu-worker", "tag:redis", "managed"]);
    assert.equal(spec.services.kokoro.drainSeconds, 30);
    assert.deepEqual(spec.defaults, {
      threads: 2,
      reserve: { cores: 1, ramMiB: 2048, vramMiB: 512 },
      rolloutTimes: { imagePullSeconds: 60, containerStartSeconds: 5, healthySeconds: 30, roleSeconds: 20, serverBootSeconds: 90, serverDeleteSeconds: 30 },
    });
    assert.deepEqual(host.connect, { timeoutSeconds: 10, attempts: 3, enrollAttempts: 40 });
  });

  it("names an unknown key, suggests the known one and lists the keys", () => {
    const errors = errorsOf(mutate((v) => (hosts(v)["gex44-1"].workers = { kokoro: { replica: 3 } })));
    // One mistake, one error: not also "replicas is missing".
    assert.deepEqual(errors.map((e) => e.path), ["hosts.gex44-1.workers.kokoro.replica"]);
    assert.match(errors[0].message, /unknown key 'replica'\. Did you mean 'replicas'\? Known keys here: replicas, threads, tuned\./);
  });

  it("explains wrong types and values", () => {
    const errors = errorsOf(
      mutate((v) => {
        services(v).kokoro.threads = "two";
        services(v).kokoro.device = "gpu";
        hosts(v)["gex44-1"].mps = "yes";
      }),
    );
    assert.deepEqual(errors.map((e) => e.path), ["services.kokoro.device", "services.kokoro.threads", "hosts.gex44-1.mps"]);
    assert.match(errors[0].message, /'gpu' is not allowed; use one of: cuda, cpu\./);
    assert.match(errors[1].message, /expected a whole number, got "two"/);
    assert.match(errors[2].message, /use one of: auto, on, off/);
  });

  it("requires exactly one of ssh, hcloud and join on a host", () => {
    const both = errorsOf(mutate((v) => (hosts(v)["gex44-1"].hcloud = { serverType: "ccx33", location: "fsn1" })));
    assert.equal(both.length, 1);
    assert.equal(both[0].path, "hosts.gex44-1");
    assert.match(both[0].message, /exactly one of `ssh` .*, `hcloud` .* or `join: \{\}`/);
    const none = errorsOf(mutate((v) => delete hosts(v)["gex44-1"].ssh));
    assert.equal(none[0].path, "hosts.gex44-1");
    const joins = parseFleet(configDoc(mutate((v) => (hosts(v)["gex44-1"] = { join: {}, hardware: "gex44", workers: {} }))));
    assert.deepEqual(joins.diagnostics, []);
  });

  it("rejects a host name that cannot be a hostname", () => {
    const errors = errorsOf(mutate((v) => (v.hosts = { GPU_Box: { ssh: { address: "x" } } })));
    assert.equal(errors[0].path, "hosts.GPU_Box");
    assert.match(errors[0].message, /lowercase letters, digits and '-'/);
  });

  it("accepts a driver branch written as a number and rejects a malformed one", () => {
    const spec = parseFleet(configDoc(mutate((v) => (hosts(v)["gex44-1"].nvidia = { driver: "managed", branch: 570 })))).spec;
    assert.equal(spec?.hosts["gex44-1"].nvidia?.branch, "570");
    const errors = errorsOf(mutate((v) => (hosts(v)["gex44-1"].nvidia = { driver: "managed", branch: "latest" })));
    assert.match(errors[0].message, /three-digit driver branch/);
  });

  it("requires a pinned image and warns on latest", () => {
    assert.match(errorsOf(mutate((v) => (services(v).yolo.image = "ghcr.io/example/yolo-gpu")))[0].message, /has no tag: pin a version/);
    const latest = parseFleet(configDoc(mutate((v) => (services(v).yolo.image = "ghcr.io/example/yolo-gpu:latest"))));
    assert.equal(latest.diagnostics.filter((d) => d.severity === "error").length, 0);
    assert.match(latest.diagnostics[0].message, /tag 'latest'/);
    const digest = errorsOf(mutate((v) => (services(v).yolo.image = `ghcr.io/example/yolo-gpu@sha256:${"a".repeat(64)}`)));
    assert.deepEqual(digest, []);
  });

  it("requires vramMiB on cuda services", () => {
    const errors = errorsOf(mutate((v) => delete services(v).kokoro.vramMiB));
    assert.equal(errors[0].path, "services.kokoro.vramMiB");
  });

  it("keeps the worker contract's env names for the fleet", () => {
    const errors = errorsOf(mutate((v) => (services(v).kokoro.env = { OMP_NUM_THREADS: "8", REDIS_URL: "redis://x" })));
    assert.deepEqual(errors.map((e) => e.path), ["services.kokoro.env.OMP_NUM_THREADS", "services.kokoro.env.REDIS_URL"]);
    assert.match(errors[0].message, /Set services\.kokoro\.threads/);
  });

  it("names every unknown top-level key", () => {
    const errors = errorsOf(mutate((v) => (v.host = {})));
    assert.equal(errors[0].path, "host");
    assert.match(errors[0].message, /unknown config key 'gpu-fleet:host'\. Did you mean 'hosts'\?/);
  });

  it("reports a missing section with what to add", () => {
    const errors = errorsOf(mutate((v) => delete v.redis));
    assert.equal(errors[0].path, "redis");
    assert.match(errors[0].message, /add `redis: \{ host: <tailnet name>, port: 6379 \}`/);
  });
});

describe("secrets", () => {
  it("requires redisUrl, as a secret", () => {
    const missing = errorsOf(mutate((v) => delete v.redisUrl));
    assert.match(missing[0].message, /pulumi config set --secret redisUrl/);
    const plain = errorsOf(baseValues(), ["sshPrivateKey"]);
    assert.equal(plain[0].path, "redisUrl");
    assert.match(plain[0].message, /stored in plain text; it is a secret/);
  });

  it("takes service env secrets from their own secret config keys", () => {
    const values = mutate((v) => {
      services(v).kokoro.env = { HF_TOKEN: { secret: "hfToken" }, LOG_LEVEL: "info", WORKERS: 2 };
      v.hfToken = SECRET_PLACEHOLDER;
    });
    const result = parseFleet(configDoc(values, ["redisUrl", "sshPrivateKey", "hfToken"]));
    assert.deepEqual(result.diagnostics, []);
    assert.deepEqual(result.spec?.services.kokoro.env, { HF_TOKEN: { secret: "hfToken" }, LOG_LEVEL: "info", WORKERS: "2" });
    const plain = errorsOf(values, ["redisUrl", "sshPrivateKey"]);
    assert.equal(plain[0].path, "services.kokoro.env.HF_TOKEN");
    assert.match(plain[0].message, /stored in plain text/);
  });

  it("keeps secure values opaque: the document holds a placeholder, never the ciphertext", () => {
    const file = parseStackFile(ISSUE_EXAMPLE, "example.yaml");
    assert.equal(file.document.values.redisUrl, SECRET_PLACEHOLDER);
    assert.ok(file.document.secretKeys.has("redisUrl"));
    const everything = JSON.stringify({ file, plan: planConfig(file.document) });
    assert.ok(!everything.includes("CIPHERTEXT"), "ciphertext leaked into the parsed document or plan");
  });

  it("refuses a value encrypted inside a larger key, and says how to move it", () => {
    const text = `config:\n  gpu-fleet:services:\n    kokoro:\n      env:\n        HF_TOKEN: { secure: AAABAxyz }\n`;
    const file = parseStackFile(text, "s.yaml");
    assert.equal(file.diagnostics.length, 1);
    assert.equal(file.diagnostics[0].path, "services.kokoro.env.HF_TOKEN");
    assert.match(file.diagnostics[0].message, /pulumi config set --secret hfToken .*write \{ secret: hfToken \}/);
    assert.ok(!JSON.stringify(file).includes("AAABAxyz"), "ciphertext kept in the document");
  });

  it("records other namespaces' keys without reading them", () => {
    const file = parseStackFile(`config:\n  hcloud:token: { secure: AAAB }\n  tailscale:tailnet: example.com\n`, "s.yaml");
    assert.deepEqual(file.providerKeys, { "hcloud:token": { secret: true }, "tailscale:tailnet": { secret: false } });
    assert.deepEqual(file.document.values, {});
  });

  it("reports the first YAML syntax error only, with file, line, column and the offending line", () => {
    // Line 3 is where the parser finds the unclosed flow map of line 2 must have ended.
    const file = parseStackFile("config:\n  gpu-fleet:redis: { host: x\n  gpu-fleet:services: [\n", "broken.yaml");
    assert.equal(file.syntaxError, true);
    assert.equal(file.diagnostics.length, 1);
    assert.equal(
      file.diagnostics[0].message,
      "broken.yaml:3:3: Flow map in block collection must be sufficiently indented and end with a }\n  3 |   gpu-fleet:services: [\n    |   ^",
    );
    assert.deepEqual(file.document.values, {});
  });
});

describe("worker privileges in the schema", () => {
  const firstService = (v: Values): Values => Object.values(services(v))[0]!;

  it("defaults to the non-root uid 10001, no added capabilities, a read-only root with /tmp writable", () => {
    const result = parseFleet(configDoc(baseValues()));
    const service = Object.values(result.spec!.services)[0]!;
    assert.equal(service.user, 10001);
    assert.deepEqual(service.capAdd, []);
    assert.equal(service.readOnlyRootFs, true);
    assert.deepEqual(service.writablePaths, ["/tmp"]);
  });

  it("refuses root as a worker's user", () => {
    const errors = errorsOf(mutate((v) => (firstService(v).user = 0)));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.path, /^services\.[a-z-]+\.user$/);
    assert.match(errors[0]!.message, /non-root uid/);
  });

  it("takes capability names as Docker does (any case, CAP_ prefix optional) and refuses unknown ones, ALL, and ones Docker 20.10 lacks", () => {
    const ok = parseFleet(configDoc(mutate((v) => (firstService(v).capAdd = ["net_bind_service", "CAP_SYS_NICE"]))));
    assert.deepEqual(Object.values(ok.spec!.services)[0]!.capAdd, ["NET_BIND_SERVICE", "SYS_NICE"]);
    for (const bad of ["ALL", "CAP_BPF", "PERFMON", "NET_BIND"]) {
      const errors = errorsOf(mutate((v) => (firstService(v).capAdd = [bad])));
      assert.equal(errors.length, 1, `${bad}: ${JSON.stringify(errors)}`);
      assert.match(errors[0]!.path, /^services\.[a-z-]+\.capAdd/);
      assert.match(errors[0]!.message, /is not a capability Docker 20\.10 knows/);
    }
    assert.equal(errorsOf(mutate((v) => (firstService(v).capAdd = ["CHOWN", "cap_chown"]))).length, 1, "a capability listed twice");
  });

  it("refuses a writable path that is not absolute", () => {
    const errors = errorsOf(mutate((v) => (firstService(v).writablePaths = ["tmp"])));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /absolute path/);
  });
});
