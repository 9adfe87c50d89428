// The whole program on the production example stack, under the mock engine: role order and secrets,
// containers exactly as planned, dependencies that make rollouts and roles safe.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { awaitProgram, installPulumiMocks, isSecretValue, MOCK_AUTH_KEY_PREFIX, type PulumiMocks, type RecordedResource } from "../support/pulumi-mocks";
import { engineConfig, standInSecret } from "../../scripts/lib/engine-config";
import { loadStack } from "../../scripts/lib/stack";
import { planConfig } from "../../components/core/pipeline";
import type { HostPlan } from "../../components/core/planner";
import { ROLE_ORDER } from "../../components/core/roles";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/lib/stack";

const stack = loadStack("hetzner-gpu");
const { config, secretKeys } = engineConfig(stack);
const plan = planConfig(stack.document).plan;
const hostPlan = (name: string): HostPlan => {
  const found = plan.hosts.find((h) => h.name === name);
  assert.ok(found);
  return found;
};
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

const commands = (): RecordedResource[] => mocks.ofType("command:remote:Command");
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
    for (const host of plan.hosts) {
      const tailscale = role(host.name, "tailscale");
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
      assert.equal(command.inputs.triggers, undefined, `${command.name} uses triggers`);
      assert.match(String(command.inputs.create), /FLEET_ROLE_FINGERPRINT='[0-9a-f]{16}'/);
    }
    assert.match(String(role("gex44-1", "tailscale").inputs.delete), /tailscale logout/);
  });

  it("on hcloud hosts wait for the server, roles copy included", () => {
    const facts = role("cpu-1", "facts");
    assert.ok(mocks.dependenciesOf(facts).some((d) => d.type === "hcloud:index/server:Server"));
    const copy = mocks.named("fleet-cpu-1-setup-roles");
    assert.ok(mocks.dependenciesOf(copy).some((d) => d.type === "hcloud:index/server:Server"));
    assert.equal((facts.inputs.connection as { value: { dialErrorLimit: number } }).value.dialErrorLimit, 60);
  });
});

describe("workers", () => {
  it("are exactly the planned containers on each host", () => {
    for (const host of plan.hosts) {
      const names = containers().filter((c) => c.name.startsWith(`fleet-${host.name}-workers-`)).map((c) => c.inputs.name).sort();
      assert.deepEqual(names, host.workers.map((w) => `${w.service}-${w.replica}`).sort(), host.name);
    }
  });

  it("get the contract env, GPU, MPS mount and IPC, limits and labels of their plan entry", () => {
    for (const host of plan.hosts) {
      for (const worker of host.workers) {
        const c = mocks.named(`fleet-${host.name}-workers-${worker.service}-${worker.replica}`);
        assert.ok(isSecretValue(c.inputs.envs), "envs carry REDIS_URL and are secret");
        const envs = (c.inputs.envs as { value: string[] }).value;
        for (const [key, value] of Object.entries(worker.env)) assert.ok(envs.includes(`${key}=${value}`), `${worker.name} ${key}`);
        assert.ok(envs.includes(`REDIS_URL=${standInSecret("gpu-fleet:redisUrl")}`));
        assert.equal(c.inputs.memory, worker.ramMiB);
        assert.equal(c.inputs.restart, "unless-stopped");
        assert.equal(c.inputs.stopTimeout, worker.drainSeconds);
        assert.equal(c.inputs.destroyGraceSeconds, worker.drainSeconds);
        assert.deepEqual(c.inputs.deviceRequests, worker.gpu === null ? undefined : [{ driver: "nvidia", deviceIds: [String(worker.gpu)], capabilities: ["gpu"] }]);
        assert.equal(c.inputs.ipcMode, worker.mps ? "host" : undefined);
        assert.deepEqual(c.inputs.mounts, worker.mps ? [{ type: "bind", source: "/run/gpu-fleet/mps", target: "/run/gpu-fleet/mps" }] : undefined);
        assert.equal(c.inputs.user, worker.user === null ? undefined : String(worker.user));
        const labels = Object.fromEntries((c.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
        assert.deepEqual(labels, {
          "gpu-fleet.fleet": "gpu-fleet-hetzner-gpu",
          "gpu-fleet.host": host.name,
          "gpu-fleet.service": worker.service,
          "gpu-fleet.replica": String(worker.replica),
          "gpu-fleet.gpu": worker.gpu === null ? "cpu" : String(worker.gpu),
        });
      }
    }
    const kokoro = mocks.named("fleet-gex44-1-workers-kokoro-1");
    const envs = (kokoro.inputs.envs as { value: string[] }).value;
    assert.ok(envs.includes("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=600M"));
    assert.ok(envs.includes("LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"));
    assert.equal(hostPlan("gtx1080-box").workers[0].env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, undefined);
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

  it("wait for the previous worker of their rollout lane, across hosts", () => {
    for (const host of plan.hosts) {
      for (const worker of host.workers) {
        if (worker.rolloutAfter === null) continue;
        const predecessor = plan.hosts.flatMap((h) => h.workers.map((w) => ({ h, w }))).find(({ w }) => w.name === worker.rolloutAfter);
        assert.ok(predecessor);
        const c = mocks.named(`fleet-${host.name}-workers-${worker.service}-${worker.replica}`);
        const expected = `fleet-${predecessor.h.name}-workers-${predecessor.w.service}-${predecessor.w.replica}`;
        assert.ok(mocks.dependenciesOf(c).some((d) => d.name === expected), `${c.name} waits for ${expected}`);
      }
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

  it("a GPU host over SSH (gex44-1: managed driver, 2 images, 5 workers) has 22, counted by hand", () => {
    // Before: one copy per script (10) made it 31.
    assert.deepEqual(countByType("gex44-1"), {
      "tailscale:index/tailnetKey:TailnetKey": 1,
      "gpu-fleet:index:Host": 1,
      "gpu-fleet:index:HostSetup": 1,
      "command:remote:CopyToRemote": 1, // the roles folder
      "command:remote:Command": 8, // facts, base, tailscale, docker, nvidia-driver, container-toolkit, mps, verify
      "command:local:Command": 1, // the reboot wait after the driver
      "gpu-fleet:index:Workers": 1,
      "pulumi:providers:docker": 1,
      "docker:index/remoteImage:RemoteImage": 2, // kokoro-gpu, yolo-gpu
      "docker:index/container:Container": 5, // kokoro × 3, yolo × 2
    });
  });

  it("a CPU host on Hetzner Cloud (cpu-1: 1 image, 3 workers) has 18, counted by hand", () => {
    // Before: one copy per script (6) made it 23.
    assert.deepEqual(countByType("cpu-1"), {
      "tailscale:index/tailnetKey:TailnetKey": 1,
      "gpu-fleet:index:Host": 1,
      "gpu-fleet:index:HetznerServer": 1,
      "hcloud:index/firewall:Firewall": 1,
      "hcloud:index/server:Server": 1,
      "gpu-fleet:index:HostSetup": 1,
      "command:remote:CopyToRemote": 1,
      "command:remote:Command": 5, // facts, base, tailscale, docker, verify
      "gpu-fleet:index:Workers": 1,
      "pulumi:providers:docker": 1,
      "docker:index/remoteImage:RemoteImage": 1,
      "docker:index/container:Container": 3,
    });
  });
});
