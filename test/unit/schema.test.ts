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

describe("image references (Docker's grammar, distribution/reference regexp.go)", () => {
  const diagnosticsFor = (image: string): string[] =>
    parseFleet(configDoc(mutate((v) => (services(v).yolo.image = image))))
      .diagnostics.filter((d) => d.path === "services.yolo.image")
      .map((d) => `${d.severity}: ${d.message}`);

  it("accepts domains with ports, localhost, separators '.', '_', '__' and dashes, tags up to 128 characters, digests", () => {
    for (const image of [
      "localhost:5000/yolo:1", "localhost/yolo:1", "registry.example.com:5000/a/b:1", "example/yolo:1", "yolo:1",
      "ghcr.io/example/yolo__gpu:1", "ghcr.io/example/yolo---gpu:1", "ghcr.io/example/yolo.gpu_x:1", `ghcr.io/example/yolo:_${"a".repeat(127)}`,
      `ghcr.io/example/yolo:1@sha256:${"0123456789abcdef".repeat(4)}`,
    ]) {
      assert.deepEqual(diagnosticsFor(image), [], image);
    }
  });

  it("refuses what Docker refuses, saying what is wrong", () => {
    const cases: [string, string][] = [
      ["ghcr.io/example/yolo gpu:1", "'ghcr.io/example/yolo gpu:1' is not an image reference."],
      ["ghcr.io/example/yolo@sha256:abc", "'ghcr.io/example/yolo@sha256:abc' has a digest that is not sha256:<64 hex digits>."],
      [`ghcr.io/example/yolo@sha256:${"A".repeat(64)}`, `'ghcr.io/example/yolo@sha256:${"A".repeat(64)}' has a digest that is not sha256:<64 hex digits>.`],
      ["ghcr.io/example/yolo:.1", "'ghcr.io/example/yolo:.1' has tag '.1': a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'."],
      ["ghcr.io/example/yolo:-1", "'ghcr.io/example/yolo:-1' has tag '-1': a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'."],
      [`ghcr.io/example/yolo:${"a".repeat(129)}`, `'ghcr.io/example/yolo:${"a".repeat(129)}' has tag '${"a".repeat(129)}': a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'.`],
      ["bad_host.io/example/yolo:1", "'bad_host.io/example/yolo:1' has registry 'bad_host.io', which is not a host name."],
      ["-bad.io/example/yolo:1", "'-bad.io/example/yolo:1' has registry '-bad.io', which is not a host name."],
      ["ghcr.io/Example/yolo:1", "'ghcr.io/Example/yolo:1' has 'Example' in its repository name, which Docker refuses: repository names are lowercase."],
      ["Example/yolo:1", "'Example/yolo:1' has 'Example' in its repository name, which Docker refuses: repository names are lowercase."],
      ["ghcr.io/example/yolo..gpu:1", "'ghcr.io/example/yolo..gpu:1' has 'yolo..gpu' in its repository name: use lowercase letters, digits and single '.', '_', '__' or '-' between them."],
      ["ghcr.io/example/yolo___gpu:1", "'ghcr.io/example/yolo___gpu:1' has 'yolo___gpu' in its repository name: use lowercase letters, digits and single '.', '_', '__' or '-' between them."],
      ["ghcr.io/example/-yolo:1", "'ghcr.io/example/-yolo:1' has '-yolo' in its repository name: use lowercase letters, digits and single '.', '_', '__' or '-' between them."],
      ["ghcr.io/example/yolo-:1", "'ghcr.io/example/yolo-:1' has 'yolo-' in its repository name: use lowercase letters, digits and single '.', '_', '__' or '-' between them."],
    ];
    for (const [image, message] of cases) assert.deepEqual(diagnosticsFor(image), [`error: ${message}`], image);
  });

  it("a port is not a tag; no tag is an error, 'latest' a warning, a digest needs neither", () => {
    assert.deepEqual(diagnosticsFor("localhost:5000/yolo"), [
      "error: 'localhost:5000/yolo' has no tag: pin a version (e.g. localhost:5000/yolo:1.4.0) or a digest, so every host runs the same build and a new version is a visible change.",
    ]);
    assert.deepEqual(diagnosticsFor("ghcr.io/example/yolo:latest"), [
      "warning: 'ghcr.io/example/yolo:latest' uses the tag 'latest': hosts may run different builds and an upgrade shows no diff. Pin a version or digest.",
    ]);
    assert.deepEqual(diagnosticsFor(`ghcr.io/example/yolo@sha256:${"a".repeat(64)}`), []);
  });
});

describe("service and host checks: exact diagnostics", () => {
  const all = (values: Values, secret?: string[]): string[] =>
    parseFleet(configDoc(values, secret)).diagnostics.map((d) => `${d.severity} ${d.path}: ${d.message}`);

  it("settings a CPU service or a resident worker ignores are warnings that say what to do", () => {
    const values = mutate((v) => {
      Object.assign(services(v)["kokoro-cpu"], { vramMiB: 100, residency: "onDemand" });
      Object.assign(services(v).yolo, { idleUnloadSeconds: 60 });
    });
    assert.deepEqual(all(values), [
      "warning services.kokoro-cpu.vramMiB: is ignored: kokoro-cpu runs on the CPU (device: cpu). Remove it, or set device: cuda.",
      "warning services.kokoro-cpu.residency: is ignored: kokoro-cpu runs on the CPU (device: cpu) and holds no VRAM. Remove it, or set device: cuda.",
      "warning services.yolo.idleUnloadSeconds: is ignored: only onDemand workers unload when idle, and yolo is resident. Remove it, or set residency: onDemand.",
    ]);
  });

  it("env: a bad name, and each contract name with the setting that replaces it", () => {
    const values = mutate((v) => {
      services(v).kokoro.env = {
        "1BAD": "x", OMP_NUM_THREADS: "1", LD_PRELOAD: "x", MALLOC_CONF: "x", REDIS_URL: "x", GPU_FLEET_RESIDENCY: "x",
        GPU_FLEET_IDLE_UNLOAD_SECONDS: "1", GPU_FLEET_VRAM_MIB: "1", WORKER_NAME: "x",
      };
    });
    const contract = "is set by the fleet (the worker contract); remove it here.";
    assert.deepEqual(all(values), [
      "error services.kokoro.env.1BAD: '1BAD' is not a valid environment variable name.",
      `error services.kokoro.env.OMP_NUM_THREADS: ${contract} Set services.kokoro.threads (or a host's workers.kokoro.threads) instead.`,
      `error services.kokoro.env.LD_PRELOAD: ${contract} Set services.kokoro.jemalloc (and mallocConf) instead.`,
      `error services.kokoro.env.MALLOC_CONF: ${contract} Set services.kokoro.jemalloc (and mallocConf) instead.`,
      `error services.kokoro.env.REDIS_URL: ${contract} The fleet passes the secret redisUrl.`,
      `error services.kokoro.env.GPU_FLEET_RESIDENCY: ${contract} Set services.kokoro.residency (and idleUnloadSeconds) instead.`,
      `error services.kokoro.env.GPU_FLEET_IDLE_UNLOAD_SECONDS: ${contract} Set services.kokoro.residency (and idleUnloadSeconds) instead.`,
      `error services.kokoro.env.GPU_FLEET_VRAM_MIB: ${contract} Set services.kokoro.vramMiB instead.`,
      `error services.kokoro.env.WORKER_NAME: ${contract}`,
    ]);
  });

  it("env secrets: one not set, one in plain text", () => {
    const values = mutate((v) => {
      services(v).kokoro.env = { A: { secret: "missingKey" }, B: { secret: "plainKey" } };
      v.plainKey = "x";
    });
    assert.deepEqual(all(values), [
      "error services.kokoro.env.A: references the secret config key 'missingKey', which is not set. Run `pulumi config set --secret missingKey ...`.",
      "error services.kokoro.env.B: references 'plainKey', which is stored in plain text. Set it again with `pulumi config set --secret plainKey ...`.",
    ]);
  });

  it("a host's workers name declared services; a host's ssh.privateKey must be a set secret", () => {
    const values = mutate((v) => {
      hosts(v)["gex44-1"].workers = { kokoro: { replicas: 1 }, yolov: { replicas: 1 } };
      (hosts(v)["gex44-1"].ssh as Values).privateKey = { secret: "boxKey" };
    });
    assert.deepEqual(all(values), [
      "error hosts.gex44-1.workers.yolov: no service named 'yolov'. Did you mean 'yolo'? Services: kokoro, kokoro-cpu, yolo.",
      "error hosts.gex44-1.ssh.privateKey: references 'boxKey', which is not set as a secret. Run `pulumi config set --secret boxKey < path/to/private_key`.",
    ]);
    const none = mutate((v) => {
      v.services = {};
    });
    assert.deepEqual(all(none).filter((d) => d.includes("workers.kokoro:")), ["error hosts.gex44-1.workers.kokoro: no service named 'kokoro'. Services: (none)."]);
  });
});

describe("sections, named entries and split stacks: exact diagnostics", () => {
  const all = (values: Values, secret?: string[]): string[] =>
    parseFleet(configDoc(values, secret)).diagnostics.map((d) => `${d.severity} ${d.path}: ${d.message}`);
  const at = (values: Values, path: string, secret?: string[]): string[] => all(values, secret).filter((d) => d.split(" ")[1] === `${path}:`);

  it("missing sections and secrets say what to add; sshPrivateKey may be left out (ssh-agent)", () => {
    assert.deepEqual(at(mutate((v) => delete v.tailnet), "tailnet"), ["error tailnet: missing: add `tailnet: { admins: [group:ops] }`."]);
    assert.deepEqual(at(mutate((v) => delete v.redisUrl), "redisUrl"), [
      "error redisUrl: missing: set the Redis URL with its password, e.g. redis://:PASSWORD@redis-vps:6379/0 with `pulumi config set --secret redisUrl ...`.",
    ]);
    assert.deepEqual(at(baseValues(), "sshPrivateKey", ["redisUrl"]), [
      "error sshPrivateKey: is stored in plain text; it is a secret. Remove it and set it again with `pulumi config set --secret sshPrivateKey ...`.",
    ]);
    const agent = parseFleet(configDoc(mutate((v) => delete v.sshPrivateKey), ["redisUrl"]));
    assert.deepEqual(agent.diagnostics, []);
    assert.equal(agent.spec?.sshPrivateKey, undefined);
    assert.deepEqual(parseFleet(configDoc(baseValues())).spec?.sshPrivateKey, { secret: "sshPrivateKey" });
  });

  it("services and hosts: missing, not a map, empty, a name that is not a DNS label", () => {
    assert.deepEqual(at(mutate((v) => delete v.services), "services"), ["error services: missing: add at least one service under services."]);
    assert.deepEqual(at(mutate((v) => (v.services = ["kokoro"])), "services"), ["error services: must be a map of service name to settings."]);
    assert.deepEqual(at(mutate((v) => (v.hosts = {})), "hosts"), ["error hosts: add at least one host."]);
    assert.deepEqual(at(mutate((v) => (services(v).Bad_Name = services(v).yolo)), "services.Bad_Name"), [
      "error services.Bad_Name: 'Bad_Name' is not a valid service name: use lowercase letters, digits and '-', at most 63 characters (it becomes a hostname and container name).",
    ]);
  });

  it("hcloud hosts without hcloud.sshPublicKey: a warning naming them and what to add", () => {
    const values = mutate((v) => {
      delete v.hcloud;
      hosts(v)["cpu-1"] = { hcloud: { serverType: "ccx33", location: "fsn1" }, workers: { "kokoro-cpu": { replicas: 1 } } };
    });
    assert.deepEqual(at(values, "hcloud.sshPublicKey"), [
      'warning hcloud.sshPublicKey: is not set: cpu-1 will get no SSH key from Hetzner, so roles can only reach them over Tailscale SSH. Add `hcloud: { sshPublicKey: "ssh-ed25519 AAAA..." }`, the public half of the key the runner uses.',
    ]);
    assert.deepEqual(at(mutate((v) => delete v.hcloud), "hcloud.sshPublicKey"), []);
  });

  it("split: a shared stack may hold no hosts; a group stack needs hosts, its shared stack's name, an external policy and no minimums", () => {
    const shared = mutate((v) => {
      v.split = { role: "shared", minReplicas: { kokoro: 2 } };
      delete v.hosts;
    });
    const ok = parseFleet(configDoc(shared));
    assert.deepEqual(ok.diagnostics, []);
    assert.deepEqual(ok.spec?.hosts, {});
    assert.deepEqual(ok.spec?.split, { role: "shared", minReplicas: { kokoro: 2 } });

    const group = mutate((v) => {
      v.split = { role: "group", minReplicas: { kokoro: 1 } };
      delete v.hosts;
    });
    assert.deepEqual(all(group).filter((d) => d.startsWith("error split") || d.startsWith("error hosts") || d.startsWith("error tailnet")), [
      "error split.sharedStack: a group stack names its shared stack, e.g. sharedStack: my-org/gpu-fleet/fleet-shared.",
      "error split.minReplicas: fleet-wide minimums live in the shared stack; move them there.",
      "error hosts: missing: add at least one host under hosts.",
    ]);
    const managed = mutate((v) => (v.split = { role: "group", sharedStack: "my-org/gpu-fleet/fleet-shared" }));
    assert.deepEqual(all(managed), [
      "error tailnet.policy: is managed, but a group stack does not own the tailnet policy (its shared stack does). Set tailnet.policy: external.",
    ]);
    const external = mutate((v) => {
      v.split = { role: "group", sharedStack: "fleet-shared" };
      v.tailnet = { admins: ["group:ops"], policy: "external" };
    });
    assert.deepEqual(all(external), []);
    assert.deepEqual(all(mutate((v) => (v.split = { role: "shared", sharedStack: "x" }))), ["error split.sharedStack: only group stacks name a shared stack; remove it here."]);
    assert.deepEqual(all(mutate((v) => {
      v.split = { role: "group", sharedStack: "a/b/c/d" };
      v.tailnet = { admins: ["group:ops"], policy: "external" };
    })), ["error split.sharedStack: must be a stack name such as my-org/gpu-fleet/fleet-shared."]);
    assert.deepEqual(all(mutate((v) => (v.split = { role: "shared", minReplicas: { kokoro: 1, whisper: 2 } }))), [
      "error split.minReplicas.whisper: names no service of this stack; services: kokoro, kokoro-cpu, yolo.",
    ]);
  });
});

describe("what a wrong value reads as: exact messages per kind of mistake", () => {
  const errs = (change: (v: Values) => void): string[] => errorsOf(mutate(change)).map((e) => `${e.path}: ${e.message}`);

  it("wrong types: a whole number, a map, a list, a string; null, a list and a map as given values", () => {
    assert.deepEqual(errs((v) => ((v.redis as Values).port = "x")), ['redis.port: expected a whole number, got "x".']);
    assert.deepEqual(errs((v) => (v.redis = [])), ["redis: expected a map of settings, got a list."]);
    assert.deepEqual(errs((v) => (v.redis = null)), ["redis: expected a map of settings, got null."]);
    assert.deepEqual(errs((v) => ((v.tailnet as Values).admins = "group:ops")), ['tailnet.admins: expected a list, got "group:ops".']);
    assert.deepEqual(errs((v) => (services(v).yolo.image = { name: "x" })), ["services.yolo.image: expected string, got a map."]);
  });

  it("a missing required field says to add it, with what it takes", () => {
    assert.deepEqual(errs((v) => delete (v.redis as Values).host), ["redis.host: missing: add it (string)."]);
    assert.deepEqual(errs((v) => delete hosts(v)["gex44-1"].workers), []); // workers default to none
  });

  it("a value not among the allowed ones lists them and suggests the closest", () => {
    assert.deepEqual(errs((v) => ((v.tailnet as Values).policy = "manged")), ["tailnet.policy: 'manged' is not allowed; use one of: managed, external. Did you mean 'managed'?"]);
  });

  it("limits: at least, at most, entries of a list, and a limit's own message", () => {
    assert.deepEqual(errs((v) => ((v.redis as Values).port = 0)), ["redis.port: must be at least 1, got 0."]);
    assert.deepEqual(errs((v) => ((v.redis as Values).port = 70000)), ["redis.port: must be at most 65535, got 70000."]);
    assert.deepEqual(errs((v) => ((v.tailnet as Values).sshUsers = [])), ["tailnet.sshUsers: needs at least 1 entry."]);
    assert.deepEqual(errs((v) => ((v.tailnet as Values).admins = [""])), ["tailnet.admins[0]: is empty: name an admin, e.g. group:ops."]);
  });

  it("a value of neither allowed kind: the union's message and what was given", () => {
    assert.deepEqual(errs((v) => (hosts(v)["gex44-1"].keyGeneration = true)), ["hosts.gex44-1.keyGeneration: must be a number or a word; change it to mint a new key, got true."]);
    assert.deepEqual(errs((v) => ((hosts(v)["gex44-1"].nvidia as Values).branch = {})), ['hosts.gex44-1.nvidia.branch: must be a driver branch such as "580", got a map.']);
  });

  it("an unknown key in a section names the closest known key and lists the section's keys", () => {
    assert.deepEqual(errs((v) => ((v.redis as Values).hots = "x")), ["redis.hots: unknown key 'hots'. Did you mean 'host'? Known keys here: host, port."]);
  });
});

describe("patterns are anchored and limits hold at their edges", () => {
  const errs = (change: (v: Values) => void): string[] => errorsOf(mutate(change)).map((e) => `${e.path}: ${e.message}`);
  const tailnet = (v: Values): Values => v.tailnet as Values;

  it("service names are DNS labels of 1 to 63 characters, not starting or ending with '-'", () => {
    const name = (n: string): string => `services.${n}: '${n}' is not a valid service name: use lowercase letters, digits and '-', at most 63 characters (it becomes a hostname and container name).`;
    for (const n of ["-yolo", "yolo-", "yolo_x", "a".repeat(64)]) assert.deepEqual(errs((v) => (services(v)[n] = services(v).yolo)), [name(n)], n);
    for (const n of ["y", "y-1", "a".repeat(63)]) assert.deepEqual(errs((v) => (services(v)[n] = services(v).yolo)), [], n);
  });

  it("env names: letters, digits and '_', not starting with a digit", () => {
    assert.deepEqual(errs((v) => (services(v).yolo.env = { "A-B": "x", "1A": "x", _A1: "x", a: "x" })), [
      "services.yolo.env.A-B: 'A-B' is not a valid environment variable name.",
      "services.yolo.env.1A: '1A' is not a valid environment variable name.",
    ]);
    assert.deepEqual(errs((v) => (services(v).yolo.env = { A: { secret: "1key" }, B: { secret: "key!" } })), [
      "services.yolo.env.A.secret: must name a config key, e.g. { secret: hfToken }.",
      "services.yolo.env.B.secret: must name a config key, e.g. { secret: hfToken }.",
    ]);
  });

  it("tags are tag:<lowercase name>; driver branches three digits", () => {
    assert.deepEqual(errs((v) => (tailnet(v).workerTag = "xtag:gpu")), ["tailnet.workerTag: must be a tag such as tag:gpu-worker."]);
    assert.deepEqual(errs((v) => (tailnet(v).redisTag = "tag:redis_1")), ["tailnet.redisTag: must be a tag such as tag:redis."]);
    for (const branch of ["5800", "x580"]) {
      assert.deepEqual(errs((v) => ((hosts(v)["gex44-1"].nvidia as Values).branch = branch)), ['hosts.gex44-1.nvidia.branch: must be a three-digit driver branch such as "580".'], branch);
    }
  });

  it("Unix user names: lowercase, digits, '_' and '-', not starting with a digit or '-'", () => {
    for (const u of ["Root", "1x", "a b", "-a", "ab$"]) {
      assert.deepEqual(errs((v) => (tailnet(v).sshUsers = [u])), ["tailnet.sshUsers[0]: must be a Unix user name."], u);
      assert.deepEqual(errs((v) => ((hosts(v)["gex44-1"].ssh as Values).user = u)), ["hosts.gex44-1.ssh.user: must be a Unix user name."], u);
    }
    assert.deepEqual(errs((v) => (tailnet(v).sshUsers = ["_a", "a-b_1", "root"])), []);
  });

  it("lists that need at least one take several; testUser takes a whole login", () => {
    assert.deepEqual(errs((v) => Object.assign(tailnet(v), { admins: ["group:ops", "alice@example.com"], sshUsers: ["root", "ops"], testUser: "alice@example.com" })), []);
  });

  it("rollout times take 0 and more", () => {
    const keys = ["imagePullSeconds", "containerStartSeconds", "healthySeconds", "roleSeconds", "serverBootSeconds", "serverDeleteSeconds"];
    assert.deepEqual(errs((v) => (v.defaults = { rolloutTimes: Object.fromEntries(keys.map((k) => [k, 7])) })), []);
    assert.deepEqual(errs((v) => (v.defaults = { rolloutTimes: Object.fromEntries(keys.map((k) => [k, -1])) })), keys.map((k) => `defaults.rolloutTimes.${k}: must be at least 0, got -1.`));
  });

  it("health checks: a list of words or a shell string, not empty", () => {
    assert.deepEqual(errs((v) => (services(v).yolo.healthcheck = { test: ["CMD", "python", "-m", "worker.health"] })), []);
    assert.deepEqual(errs((v) => (services(v).yolo.healthcheck = { test: "curl -f localhost" })), []);
    // zod reports the branch that came closest: the string's or the list's own limit.
    assert.deepEqual(errs((v) => (services(v).yolo.healthcheck = { test: "" })), ['services.yolo.healthcheck.test: must be at least 1, got "".']);
    assert.deepEqual(errs((v) => (services(v).yolo.healthcheck = { test: [] })), ["services.yolo.healthcheck.test: needs at least 1 entry."]);
    assert.deepEqual(errs((v) => (services(v).yolo.healthcheck = { test: [""] })), ['services.yolo.healthcheck.test[0]: must be at least 1, got "".']);
    assert.deepEqual(errs((v) => (services(v).yolo.healthcheck = { test: 5 })), [
      "services.yolo.healthcheck.test: must be a command: a list such as [CMD, python, -m, worker.health] or a shell string, got 5.",
    ]);
  });

  it("paths: jemalloc absolute; writable paths absolute, without a trailing '/', each once", () => {
    assert.deepEqual(errs((v) => (services(v).yolo.jemalloc = "lib/libjemalloc.so.2")), ["services.yolo.jemalloc: must be the absolute path of libjemalloc.so in the image."]);
    for (const p of ["/tmp/", "tmp", "/a b"]) {
      assert.deepEqual(errs((v) => (services(v).yolo.writablePaths = [p])), ["services.yolo.writablePaths[0]: must be an absolute path inside the container, e.g. /tmp."], p);
    }
    assert.deepEqual(errs((v) => (services(v).yolo.writablePaths = ["/ab", "/var/lib/x", "/a"])), []);
    assert.deepEqual(errs((v) => (services(v).yolo.writablePaths = ["/tmp", "/tmp"])), ["services.yolo.writablePaths: lists a path twice."]);
  });
});

describe("host settings at their edges", () => {
  const errs = (change: (v: Values) => void): string[] => errorsOf(mutate(change)).map((e) => `${e.path}: ${e.message}`);
  const box = (v: Values): Values => hosts(v)["gex44-1"];

  it("connect: timeout 1 to 120 s, 1 to 30 attempts, 1 to 120 enroll attempts", () => {
    assert.deepEqual(errs((v) => (box(v).connect = { timeoutSeconds: 1, attempts: 1, enrollAttempts: 1 })), []);
    assert.deepEqual(errs((v) => (box(v).connect = { timeoutSeconds: 120, attempts: 30, enrollAttempts: 120 })), []);
    assert.deepEqual(errs((v) => (box(v).connect = { timeoutSeconds: 121, attempts: 31, enrollAttempts: 121 })), [
      "hosts.gex44-1.connect.timeoutSeconds: must be at most 120, got 121.",
      "hosts.gex44-1.connect.attempts: must be at most 30, got 31.",
      "hosts.gex44-1.connect.enrollAttempts: must be at most 120, got 121.",
    ]);
    assert.deepEqual(errs((v) => (box(v).connect = { timeoutSeconds: 0, attempts: 0, enrollAttempts: 0 })), [
      "hosts.gex44-1.connect.timeoutSeconds: must be at least 1, got 0.",
      "hosts.gex44-1.connect.attempts: must be at least 1, got 0.",
      "hosts.gex44-1.connect.enrollAttempts: must be at least 1, got 0.",
    ]);
  });

  it("keyGeneration: a whole number from 0 or a word", () => {
    for (const g of [0, 7, "rebuilt-1"]) assert.deepEqual(errs((v) => (box(v).keyGeneration = g)), [], String(g));
    assert.deepEqual(errs((v) => (box(v).keyGeneration = "")), ['hosts.gex44-1.keyGeneration: must be at least 1, got "".']);
  });

  it("replicas: a whole number from 0, or auto", () => {
    for (const r of [0, 5, "auto"]) assert.deepEqual(errs((v) => (box(v).workers = { kokoro: { replicas: r } })), [], String(r));
    assert.deepEqual(errs((v) => (box(v).workers = { kokoro: { replicas: "many" } })), ['hosts.gex44-1.workers.kokoro.replicas: must be a whole number or auto, got "many".']);
  });

  it("a jump host's user is a Unix user name", () => {
    assert.deepEqual(errs((v) => ((box(v).ssh as Values).jumpHost = { address: "198.51.100.1", user: "Root", hostKey: EXAMPLE_KEYS.host })), [
      "hosts.gex44-1.ssh.jumpHost.user: must be a Unix user name.",
    ]);
  });

  it("hcloud hosts: type and location given, a snapshot selector trimmed and not blank; the fleet's public key checked", () => {
    const cpu = { hcloud: { serverType: "ccx33", location: "fsn1", snapshot: "  role=gpu-fleet-base " }, workers: { "kokoro-cpu": { replicas: 1 } } };
    const result = parseFleet(configDoc(mutate((v) => (hosts(v)["cpu-1"] = cpu))));
    assert.deepEqual(result.diagnostics.filter((d) => d.severity === "error"), []);
    assert.equal(result.spec?.hosts["cpu-1"].hcloud?.snapshot, "role=gpu-fleet-base");
    assert.equal(result.spec?.hosts["cpu-1"].hcloud?.location, "fsn1");
    assert.deepEqual(errs((v) => (hosts(v)["cpu-1"] = { ...cpu, hcloud: { ...cpu.hcloud, snapshot: "   " } })), ["hosts.cpu-1.hcloud.snapshot: is empty; leave it out to boot from image."]);
    const bad = errs((v) => ((v.hcloud as Values).sshPublicKey = "not a key"));
    assert.equal(bad.length, 1);
    assert.match(bad[0] ?? "", /^hcloud\.sshPublicKey: .+; give the \.pub file's line \(`cat ~\/\.ssh\/gpu-fleet_ed25519\.pub`\)\.$/);
  });
});

describe("env values and capabilities: exact messages", () => {
  const errs = (change: (v: Values) => void): string[] => errorsOf(mutate(change)).map((e) => `${e.path}: ${e.message}`);

  it("an env value is a string, number, boolean or { secret }; numbers and booleans become strings", () => {
    assert.deepEqual(errs((v) => (services(v).yolo.env = { A: ["x"] })), [
      "services.yolo.env.A: must be a string, or { secret: <config key> } for a value set with `pulumi config set --secret`, got a list.",
    ]);
    const result = parseFleet(configDoc(mutate((v) => (services(v).yolo.env = { A: 1, B: false, C: "x" }))));
    assert.deepEqual(result.spec?.services.yolo.env, { A: "1", B: "false", C: "x" });
  });

  it("capabilities: any case, CAP_ prefix only at the start, each once", () => {
    const result = parseFleet(configDoc(mutate((v) => (services(v).yolo.capAdd = ["cap_net_bind_service", "CHOWN"]))));
    assert.deepEqual(result.spec?.services.yolo.capAdd, ["NET_BIND_SERVICE", "CHOWN"]);
    const unknown = errs((v) => (services(v).yolo.capAdd = ["NET_CAP_ADMIN"]));
    assert.equal(unknown.length, 1);
    assert.match(unknown[0] ?? "", /^services\.yolo\.capAdd\[0\]: 'NET_CAP_ADMIN' is not a capability Docker 20\.10 knows; use one of AUDIT_CONTROL, .*, WAKE_ALARM \(ALL is never added back\)\.$/);
    assert.deepEqual(errs((v) => (services(v).yolo.capAdd = ["CHOWN", "cap_chown"])), ["services.yolo.capAdd: lists a capability twice."]);
  });
});

describe("more edges (from the schema's rules)", () => {
  const errs = (change: (v: Values) => void): string[] => errorsOf(mutate(change)).map((e) => `${e.path}: ${e.message}`);

  it("any error means no spec, whatever else parsed", () => {
    const result = parseFleet(configDoc(mutate((v) => ((v.redis as Values).port = 0))));
    assert.equal(result.diagnostics.filter((d) => d.severity === "error").length, 1);
    assert.equal(result.spec, undefined);
  });

  it("a host's ssh.privateKey stored in plain text is refused; set as a secret it is taken", () => {
    const withKey = mutate((v) => {
      (hosts(v)["gex44-1"].ssh as Values).privateKey = { secret: "boxKey" };
      v.boxKey = "x";
    });
    assert.deepEqual(errorsOf(withKey).map((e) => `${e.path}: ${e.message}`), [
      "hosts.gex44-1.ssh.privateKey: references 'boxKey', which is not set as a secret. Run `pulumi config set --secret boxKey < path/to/private_key`.",
    ]);
    assert.deepEqual(errorsOf(withKey, ["redisUrl", "sshPrivateKey", "boxKey"]), []);
  });

  it("image digests are exactly sha256:<64 hex>; one-letter registry labels are host names; a one-part name is a repository", () => {
    const image = (i: string): string[] => errs((v) => (services(v).yolo.image = i));
    const hex = "0123456789abcdef".repeat(4);
    assert.deepEqual(image(`ghcr.io/example/yolo@sha256:${hex}0`), [`services.yolo.image: 'ghcr.io/example/yolo@sha256:${hex}0' has a digest that is not sha256:<64 hex digits>.`]);
    assert.deepEqual(image(`ghcr.io/example/yolo@xsha256:${hex}`), [`services.yolo.image: 'ghcr.io/example/yolo@xsha256:${hex}' has a digest that is not sha256:<64 hex digits>.`]);
    assert.deepEqual(image(`@sha256:${hex}`), [`services.yolo.image: '@sha256:${hex}' has '' in its repository name: use lowercase letters, digits and single '.', '_', '__' or '-' between them.`]);
    assert.deepEqual(image("a.io/example/yolo:1"), []);
    assert.deepEqual(image("example.b/yolo:1"), []);
    assert.deepEqual(image("Yolo.gpu:1"), ["services.yolo.image: 'Yolo.gpu:1' has 'Yolo.gpu' in its repository name, which Docker refuses: repository names are lowercase."]);
  });

  it("an unknown key where no keys are known (join: {}) lists none", () => {
    assert.deepEqual(errs((v) => (hosts(v)["gex44-1"] = { join: { foo: 1 }, cpu: { cores: 2 }, ramMiB: 4096 })), ["hosts.gex44-1.join.foo: unknown key 'foo'."]);
  });
});
