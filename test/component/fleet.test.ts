// The whole program on the production example stack, under the mock engine: role order and secrets,
// containers exactly as planned, dependencies that make rollouts and roles safe.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { awaitProgram, installPulumiMocks, isSecretValue, MOCK_AUTH_KEY_PREFIX, type PulumiMocks, type RecordedResource } from "../support/pulumi-mocks";
import { engineConfig, standInSecret } from "../../scripts/lib/engine-config";
import { loadStack } from "../../scripts/lib/stack";
import { ROLE_ORDER } from "../../components/core/roles";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/lib/stack";

const stack = loadStack("hetzner-gpu");
const { config, secretKeys } = engineConfig(stack);
const SECRET_STAND_INS = secretKeys.map((k) => config[k]);

let mocks: PulumiMocks;
let program: typeof import("../../index");
before(async () => {
  mocks = installPulumiMocks({ project: "gpu-fleet", stack: "hetzner-gpu", config, secretKeys });
  program = await import("../../index");
  await awaitProgram(program);
  await mocks.settle();
});

describe("stack outputs", () => {
  it("export what each host runs, as planned, and the policy's tests", async () => {
    assert.deepEqual(program.plan.map((h) => h.host), ["gex44-1", "gex44-2", "gtx1080-box", "cpu-1"]);
    assert.deepEqual(program.plan[0].workers, ["gex44-1-kokoro-1", "gex44-1-kokoro-2", "gex44-1-kokoro-3", "gex44-1-yolo-1", "gex44-1-yolo-2"]);
    assert.ok(program.policyTests.length >= 4);
    const hosts = await new Promise<Record<string, { tailnetName: string }>>((resolve) => program.hosts.apply(resolve));
    assert.deepEqual(Object.keys(hosts), ["gex44-1", "gex44-2", "gtx1080-box", "cpu-1"]);
    assert.equal(hosts["cpu-1"].tailnetName, "cpu-1");
  });
});

const commands = (): RecordedResource[] => mocks.ofType("command:remote:Command").filter((c) => !c.name.endsWith("-healthy"));
const gates = (): RecordedResource[] => mocks.ofType("command:remote:Command").filter((c) => c.name.endsWith("-healthy"));
const serverOf = (host: string): RecordedResource => mocks.named(`fleet-${host}-server-server`);
const containers = (): RecordedResource[] => mocks.ofType("docker:index/container:Container");
const role = (host: string, name: string): RecordedResource => mocks.named(`fleet-${host}-setup-${name}`);
const plainText = (value: unknown): string => JSON.stringify(value);

describe("host roles", () => {
  it("run in order on each host, each after the previous", () => {
    for (const host of ["gex44-1", "gtx1080-box"]) {
      const roles = ROLE_ORDER.map((r) => role(host, r));
      for (let i = 1; i < roles.length; i++) {
        const deps = mocks.dependenciesOf(roles[i]).map((d) => d.name);
        const previous = roles[i - 1].name;
        // The driver role may reboot: the next role waits for the reboot wait, which waits for the driver.
        const expected = roles[i - 1].name.endsWith("nvidia-driver") ? `${previous}-reboot` : previous;
        assert.ok(deps.includes(expected), `${roles[i].name} depends on ${expected}; has ${deps.join(", ")}`);
      }
    }
    const cpu = commands().filter((c) => c.name.startsWith("fleet-cpu-1-setup-")).map((c) => c.name.replace("fleet-cpu-1-setup-", ""));
    assert.deepEqual(cpu.sort(), ["base", "docker", "facts", "tailscale", "verify"]);
  });

  it("take the auth key on stdin only, as a secret, and log nothing of that role", () => {
    for (const host of ["gex44-1", "gex44-2", "gtx1080-box", "cpu-1"]) {
      const tailscale = role(host, "tailscale");
      assert.ok(isSecretValue(tailscale.inputs.stdin), `${tailscale.name} stdin is secret`);
      assert.equal(tailscale.inputs.logging, "none");
    }
    for (const command of [...commands(), ...mocks.ofType("command:local:Command")]) {
      const visible = plainText({ create: command.inputs.create, delete: command.inputs.delete, environment: command.inputs.environment });
      assert.ok(!visible.includes(MOCK_AUTH_KEY_PREFIX), `${command.name} has an auth key outside stdin`);
      for (const secret of SECRET_STAND_INS) assert.ok(!visible.includes(secret), `${command.name} has a secret outside stdin/connection`);
      assert.equal(command.inputs.addPreviousOutputInEnv, false);
    }
  });

  it("connect by address until the host is on the tailnet, then by tailnet name, with the private key secret", () => {
    // The private key makes the whole connection secret, as Pulumi marks containing objects.
    const connection = (r: RecordedResource): Record<string, unknown> => {
      assert.ok(isSecretValue(r.inputs.connection), `${r.name} connection is secret`);
      return r.inputs.connection.value as Record<string, unknown>;
    };
    assert.equal(connection(role("gex44-1", "facts")).host, "203.0.113.10");
    assert.equal(connection(role("gex44-1", "tailscale")).host, "203.0.113.10");
    assert.equal(connection(role("gex44-1", "docker")).host, "gex44-1");
    assert.equal(connection(role("cpu-1", "facts")).host, "cpu-1");
    assert.equal(connection(role("gex44-1", "docker")).privateKey, standInSecret("gpu-fleet:sshPrivateKey"));
  });

  it("copy the roles folder once per host, before the first role and over its connection; each role checks its scripts", () => {
    const bundle = (host: string): RecordedResource => mocks.named(`fleet-${host}-setup-roles`);
    const hostOf = (r: RecordedResource): unknown => (r.inputs.connection as { value: { host: string } }).value.host;
    // A folder source lands in <remotePath>/roles: remotePath is the parent of the roles folder.
    assert.equal(bundle("gex44-1").inputs.remotePath, "/root/.gpu-fleet");
    assert.equal(hostOf(bundle("gex44-1")), "203.0.113.10");
    assert.equal(hostOf(bundle("cpu-1")), "cpu-1");
    assert.match(String((bundle("gex44-1").inputs.triggers as string[])[0]), /^[0-9a-f]{64}$/);
    // One copy per host that runs roles, and no other.
    assert.deepEqual(mocks.ofType("command:remote:CopyToRemote").map((c) => c.name).sort(), ["fleet-cpu-1-setup-roles", "fleet-gex44-1-setup-roles", "fleet-gex44-2-setup-roles", "fleet-gtx1080-box-setup-roles"]);
    for (const r of ["facts", "tailscale", "docker", "mps"]) {
      const deps = mocks.dependenciesOf(role("gex44-1", r)).map((d) => d.name);
      assert.ok(deps.includes("fleet-gex44-1-setup-roles"), `${r} waits for the roles copy`);
    }
    // sha256sum of the role's script and lib.sh, written by hand here from the files' digests.
    const digest = (file: string): string => createHash("sha256").update(readFileSync(join(REPO_ROOT, "scripts/roles", file))).digest("hex");
    const mps = String(role("gex44-1", "mps").inputs.create);
    assert.ok(mps.startsWith(`(cd '/root/.gpu-fleet/roles' && printf '%s\\n' '${digest("mps.sh")}  mps.sh' '${digest("lib.sh")}  lib.sh' | sha256sum --check --quiet --strict) && `), mps);
    assert.match(String(role("gex44-1", "nvidia-driver").inputs.create), new RegExp(`'${digest("await-boot.sh")}  await-boot.sh'`));
  });

  it("fingerprint the role in the command text, so a change is an update and never runs the undo command", () => {
    for (const command of commands()) {
      // Only an hcloud host's new server (a new id) replaces its roles.
      const expected = command.name.startsWith("fleet-cpu-1-") ? [serverOf("cpu-1").id] : undefined;
      assert.deepEqual(command.inputs.triggers, expected, `${command.name} triggers`);
      assert.match(String(command.inputs.create), /FLEET_ROLE_FINGERPRINT='[0-9a-f]{16}'/);
    }
    assert.match(String(role("gex44-1", "tailscale").inputs.delete), /tailscale logout/);
  });

  it("on an hcloud host, take the server id as an input of every role, copy and reboot wait, and never deletedWith it", () => {
    const server = serverOf("cpu-1");
    const onHost = mocks.resources.filter((r) => r.name.startsWith("fleet-cpu-1-setup-") && r.custom);
    // The roles copy and the five roles (facts, base, tailscale, docker, verify).
    assert.deepEqual(onHost.map((r) => r.name).sort(), ["fleet-cpu-1-setup-base", "fleet-cpu-1-setup-docker", "fleet-cpu-1-setup-facts", "fleet-cpu-1-setup-roles", "fleet-cpu-1-setup-tailscale", "fleet-cpu-1-setup-verify"]);
    for (const r of onHost) {
      assert.ok((r.propertyDependencies.triggers ?? []).includes(server.urn ?? ""), `${r.name} triggers come from the server`);
    }
    assert.deepEqual(mocks.resources.filter((r) => r.deletedWith !== undefined).map((r) => r.name), []);
    // The old server's tailscale role logs out only the machine that is that server.
    const leave = String(role("cpu-1", "tailscale").inputs.delete);
    assert.match(leave, /metadata\/instance-id/);
    assert.ok(leave.includes(`[ "$id" = ${server.id ?? "?"} ]`));
  });

  it("pin an hcloud host's program-made host key on every connection", () => {
    const key = mocks.named("fleet-cpu-1-server-host-key");
    assert.equal(key.type, "tls:index/privateKey:PrivateKey");
    const connection = (r: RecordedResource): { hostKey?: string } => (r.inputs.connection as { value: { hostKey?: string } }).value;
    const pinned = connection(role("cpu-1", "facts")).hostKey;
    assert.match(pinned ?? "", /^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
    for (const r of [...commands(), ...gates(), ...mocks.ofType("command:remote:CopyToRemote")].filter((c) => c.name.startsWith("fleet-cpu-1-"))) {
      assert.equal(connection(r).hostKey, pinned, r.name);
    }
    // Provider config reaches the engine JSON-encoded.
    const rawOpts = mocks.named("fleet-cpu-1-workers-docker").inputs.sshOpts;
    const sshOpts = (typeof rawOpts === "string" ? JSON.parse(rawOpts) : rawOpts) as string[];
    assert.ok(sshOpts.includes(`KnownHostsCommand=/usr/bin/printf "* %%s %%s\\n" ${pinned ?? ""}`), sshOpts.join(" "));
  });

  it("on hcloud hosts wait for the server, roles copy included", () => {
    const facts = role("cpu-1", "facts");
    assert.ok(mocks.dependenciesOf(facts).some((d) => d.type === "hcloud:index/server:Server"));
    const copy = mocks.named("fleet-cpu-1-setup-roles");
    assert.ok(mocks.dependenciesOf(copy).some((d) => d.type === "hcloud:index/server:Server"));
    // The first role keeps dialing while cloud-init enrolls the new server; later ones fail fast.
    const dial = (r: RecordedResource): { dialErrorLimit: number; perDialTimeout: number } => (r.inputs.connection as { value: { dialErrorLimit: number; perDialTimeout: number } }).value;
    assert.deepEqual([dial(facts).dialErrorLimit, dial(facts).perDialTimeout], [40, 10]);
    assert.deepEqual([dial(copy).dialErrorLimit, dial(copy).perDialTimeout], [40, 10]);
    assert.deepEqual([dial(role("cpu-1", "docker")).dialErrorLimit, dial(role("cpu-1", "docker")).perDialTimeout], [3, 10]);
    assert.deepEqual([dial(role("gex44-1", "base")).dialErrorLimit, dial(role("gex44-1", "base")).perDialTimeout], [3, 10]);
  });
});

// What the example stack runs, worked out by hand from stacks/Pulumi.hetzner-gpu.yaml and the rules:
// gex44-1: kokoro 3 + yolo 2, all on its one RTX 4000 SFF Ada (5 workers: MPS, Ada has limits).
// gex44-2: kokoro auto: threads allow (20 − 1) / 2 = 9; RAM (65536 − 2048) / 2500 = 25, VRAM
//   (20475 − 512) / 600 = 33, 48 MPS clients: 9 workers.
// gtx1080-box: kokoro 2 + yolo 1 on its GTX 1080, mps: on; Pascal: no per-client limit.
// cpu-1 (CCX33, 8 cores, 32 GiB): kokoro-cpu auto: threads (8 − 1) / 2 = 3; RAM 30720 / 2500 = 12: 3.
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const EXPECTED_WORKERS: Record<string, string[]> = {
  "gex44-1": ["kokoro-1", "kokoro-2", "kokoro-3", "yolo-1", "yolo-2"],
  "gex44-2": range(9).map((i) => `kokoro-${i}`),
  "gtx1080-box": ["kokoro-1", "kokoro-2", "yolo-1"],
  "cpu-1": ["kokoro-cpu-1", "kokoro-cpu-2", "kokoro-cpu-3"],
};
const JEMALLOC = ["LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000"];
const PIPE = "/run/gpu-fleet/mps";

/** The whole env of one container, by hand: the worker contract, jemalloc where the service sets it, MPS on GPU hosts. */
function expectedEnv(host: string, worker: string): string[] {
  const service = worker.replace(/-\d+$/, "");
  const device = service === "kokoro-cpu" ? "cpu" : "cuda";
  const env = [
    "OMP_NUM_THREADS=2", "MKL_NUM_THREADS=2", "OPENBLAS_NUM_THREADS=2",
    `WORKER_DEVICE=${device}`, `WORKER_NAME=${host}-${worker}`, `WORKER_HOST=${host}`, `WORKER_SERVICE=${service}`,
    `REDIS_URL=${standInSecret("gpu-fleet:redisUrl")}`,
  ];
  if (device === "cuda") env.push(`CUDA_MPS_PIPE_DIRECTORY=${PIPE}`);
  if (device === "cuda" && host !== "gtx1080-box") env.push(`CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=${service === "kokoro" ? 600 : 300}M`);
  if (service !== "yolo") env.push(...JEMALLOC);
  return env.sort();
}

describe("workers", () => {
  it("are exactly the containers the stack asks for on each host", () => {
    for (const [host, workers] of Object.entries(EXPECTED_WORKERS)) {
      const names = containers().filter((c) => c.name.startsWith(`fleet-${host}-workers-`)).map((c) => c.inputs.name).sort();
      assert.deepEqual(names, [...workers].sort(), host);
    }
    assert.equal(containers().length, 20);
  });

  it("get the contract env, GPU, MPS mount and IPC, limits and labels, each written out", () => {
    for (const [host, workers] of Object.entries(EXPECTED_WORKERS)) {
      for (const worker of workers) {
        const c = mocks.named(`fleet-${host}-workers-${worker}`);
        const service = worker.replace(/-\d+$/, "");
        const gpu = host !== "cpu-1";
        assert.ok(isSecretValue(c.inputs.envs), "envs carry REDIS_URL and are secret");
        assert.deepEqual([...(c.inputs.envs as { value: string[] }).value].sort(), expectedEnv(host, worker), `${host} ${worker} env`);
        assert.equal(c.inputs.memory, service === "yolo" ? 600 : 2500, `${host} ${worker} memory`);
        assert.equal(c.inputs.restart, "unless-stopped");
        assert.equal(c.inputs.stopTimeout, 30);
        assert.equal(c.inputs.destroyGraceSeconds, 30);
        assert.deepEqual(c.inputs.deviceRequests, gpu ? [{ driver: "nvidia", deviceIds: ["0"], capabilities: ["gpu"] }] : undefined);
        assert.equal(c.inputs.ipcMode, gpu ? "host" : undefined);
        assert.deepEqual(c.inputs.mounts, gpu ? [{ type: "bind", source: PIPE, target: PIPE }] : undefined);
        // No service of the example stack sets `user`: every worker runs as the fleet's uid 10001.
        assert.equal(c.inputs.user, "10001:10001");
        assert.deepEqual(c.inputs.securityOpts, ["no-new-privileges:true"]);
        assert.deepEqual(c.inputs.capabilities, { drops: ["ALL"] });
        assert.equal(c.inputs.readOnly, true);
        assert.deepEqual(c.inputs.tmpfs, { "/tmp": "rw,nosuid,nodev,mode=1777,uid=10001,gid=10001" });
        assert.equal(c.inputs.memorySwap, service === "yolo" ? 600 : 2500, "no swap on top of ramMiB");
        assert.equal(c.inputs.cpus, "2");
        const labels = Object.fromEntries((c.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
        assert.deepEqual(labels, {
          "gpu-fleet.fleet": "gpu-fleet-hetzner-gpu",
          "gpu-fleet.host": host,
          "gpu-fleet.service": service,
          "gpu-fleet.replica": worker.slice(service.length + 1),
          "gpu-fleet.gpu": gpu ? "0" : "cpu",
          // An hcloud host's containers name their server: a new server means new containers.
          ...(host === "cpu-1" ? { "gpu-fleet.server": serverOf("cpu-1").id } : {}),
        });
        // Docker applies these only at create: a change replaces the container.
        assert.deepEqual([...c.replaceOnChanges], ["healthcheck", "init", "tmpfs", "cpuPeriod", "cpuQuota"]);
        assert.equal(c.inputs.wait, undefined, "no provider health wait: the gate holds across runs");
      }
    }
  });

  it("start after the host's docker, container-toolkit, mps and verify roles, and replace delete-before-replace", () => {
    for (const name of ["fleet-gex44-1-workers-kokoro-1", "fleet-cpu-1-workers-kokoro-cpu-1"]) {
      const c = mocks.named(name);
      const host = name.split("-workers-")[0].replace("fleet-", "");
      const deps = mocks.dependenciesOf(c).map((d) => d.name);
      const roles = host === "cpu-1" ? ["docker", "verify"] : ["docker", "container-toolkit", "mps", "verify"];
      for (const r of roles) assert.ok(deps.includes(`fleet-${host}-setup-${r}`), `${name} after ${r}`);
      assert.equal(c.deleteBeforeReplace, true);
    }
  });

  it("wait for the health gate of the previous worker of their lane, on their own host only", () => {
    // Lanes never cross hosts; maxUnavailable (default a quarter, at least one lane per host) is split
    // among the hosts running the service. kokoro: 14 workers on 3 hosts, budget max(3, 3) = 3: one lane
    // per host. yolo: 3 workers on 2 hosts, budget max(0, 2) = 2: one lane each. kokoro-cpu: one lane.
    const after: Record<string, string> = {
      "gex44-1-workers-kokoro-2": "gex44-1-workers-kokoro-1",
      "gex44-1-workers-kokoro-3": "gex44-1-workers-kokoro-2",
      "gex44-1-workers-yolo-2": "gex44-1-workers-yolo-1",
      ...Object.fromEntries(range(8).map((i) => [`gex44-2-workers-kokoro-${i + 1}`, `gex44-2-workers-kokoro-${i}`])),
      "gtx1080-box-workers-kokoro-2": "gtx1080-box-workers-kokoro-1",
      "cpu-1-workers-kokoro-cpu-2": "cpu-1-workers-kokoro-cpu-1",
      "cpu-1-workers-kokoro-cpu-3": "cpu-1-workers-kokoro-cpu-2",
    };
    for (const c of containers()) {
      const deps = mocks.dependenciesOf(c);
      assert.deepEqual(deps.filter((d) => d.type === "docker:index/container:Container").map((d) => d.name), [], `${c.name} waits for no container directly`);
      const host = c.name.replace(/^fleet-/, "").split("-workers-")[0];
      assert.deepEqual(deps.filter((d) => d.name.startsWith("fleet-") && !d.name.startsWith(`fleet-${host}-`) && d.type !== "gpu-fleet:index:Fleet").map((d) => d.name), [], `${c.name} waits for nothing of another host`);
      const waitsFor = deps.filter((d) => d.name.endsWith("-healthy")).map((d) => d.name);
      const expected = after[c.name.replace(/^fleet-/, "")];
      assert.deepEqual(waitsFor, expected === undefined ? [] : [`fleet-${expected}-healthy`], c.name);
    }
  });

  it("each have a health gate: the gate script on stdin, for that container, re-run for every new container", () => {
    for (const c of containers()) {
      const gate = mocks.named(`${c.name}-healthy`);
      assert.deepEqual(gate.inputs.triggers, [c.id]);
      assert.match(String(gate.inputs.create), new RegExp(`FLEET_CONTAINER='${String(c.inputs.name)}'.* bash -s$`));
      assert.match(String(gate.inputs.stdin), /^#!\/usr\/bin\/env bash\n# The rollout's health gate/);
    }
  });
});

describe("resources per host", () => {
  // The host a resource belongs to: its nearest Host ancestor (`fleet-<host>`), or its TailnetKey's name.
  const hostOf = (r: RecordedResource): string | undefined => {
    if (r.type === "tailscale:index/tailnetKey:TailnetKey") return r.name.replace("fleet-tailnet-key-", "");
    for (let p: RecordedResource | undefined = r; p !== undefined; p = mocks.parentOf(p)) if (p.type === "gpu-fleet:index:Host") return p.name.replace("fleet-", "");
    return undefined;
  };
  const countByType = (host: string): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const r of mocks.resources.filter((x) => hostOf(x) === host)) counts[r.type] = (counts[r.type] ?? 0) + 1;
    return counts;
  };

  it("a GPU host over SSH (gex44-1: managed driver, 2 images, 5 workers) has 27, counted by hand", () => {
    // Before: one copy per script (10) made it 36.
    assert.deepEqual(countByType("gex44-1"), {
      "tailscale:index/tailnetKey:TailnetKey": 1,
      "gpu-fleet:index:Host": 1,
      "gpu-fleet:index:HostSetup": 1,
      "command:remote:CopyToRemote": 1, // the roles folder
      "command:remote:Command": 13, // facts, base, tailscale, docker, nvidia-driver, container-toolkit, mps, verify; 5 health gates
      "command:local:Command": 1, // the reboot wait after the driver
      "gpu-fleet:index:Workers": 1,
      "pulumi:providers:docker": 1,
      "docker:index/remoteImage:RemoteImage": 2, // kokoro-gpu, yolo-gpu
      "docker:index/container:Container": 5, // kokoro × 3, yolo × 2
    });
  });

  it("a CPU host on Hetzner Cloud (cpu-1: 1 image, 3 workers) has 22, counted by hand", () => {
    // Before: one copy per script (6) made it 27.
    assert.deepEqual(countByType("cpu-1"), {
      "tailscale:index/tailnetKey:TailnetKey": 1,
      "gpu-fleet:index:Host": 1,
      "gpu-fleet:index:HetznerServer": 1,
      "hcloud:index/firewall:Firewall": 1,
      "hcloud:index/server:Server": 1,
      "tls:index/privateKey:PrivateKey": 1, // the server's program-made SSH host key
      "gpu-fleet:index:HostSetup": 1,
      "command:remote:CopyToRemote": 1,
      "command:remote:Command": 8, // facts, base, tailscale, docker, verify; 3 health gates
      "gpu-fleet:index:Workers": 1,
      "pulumi:providers:docker": 1,
      "docker:index/remoteImage:RemoteImage": 1,
      "docker:index/container:Container": 3,
    });
  });
});
