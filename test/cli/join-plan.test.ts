import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gpuFleet, STACK_TRACE } from "../support/run";
import type { JoinPlan } from "../../scripts/join-plan";
import { EXAMPLE_KEYS } from "../support/fixtures";

const joinPlan = (...args: string[]) => gpuFleet(["join-plan", ...args]);

/** The laptop stack's `join: {}` host: desktop, 16 cores, 32768 MiB, one RTX 3060 (12288 MiB). */
function desktopPlan(): JoinPlan {
  const result = joinPlan("laptop", "desktop");
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as JoinPlan;
}

describe("npm run join-plan", () => {
  it("prints the desktop's roles in deployment order with their parameters", () => {
    const plan = desktopPlan();
    assert.deepEqual([plan.version, plan.fleet, plan.host], [1, "gpu-fleet-laptop", "desktop"]);
    assert.deepEqual(
      plan.roles.map((r) => r.role),
      ["facts", "base", "tailscale", "docker", "nvidia-driver", "container-toolkit", "mps", "verify"],
    );
    const role = (name: string) => plan.roles.find((r) => r.role === name);
    assert.deepEqual(role("facts")?.env, { FLEET_HOST: "desktop", FLEET_EXPECT_CORES: "16", FLEET_EXPECT_RAM_MIB: "32768", FLEET_EXPECT_GPU_VRAM_MIB: "12288" });
    assert.deepEqual(role("tailscale"), {
      role: "tailscale",
      env: { FLEET_HOST: "desktop", FLEET_TS_HOSTNAME: "desktop", FLEET_TS_TAGS: "tag:gpu-worker" },
      authKeyOnStdin: true,
      mayReboot: false,
    });
    assert.equal(role("nvidia-driver")?.env.FLEET_NVIDIA_DRIVER, "preinstalled");
    assert.equal(role("mps")?.env.FLEET_MPS, "on");
    assert.deepEqual(role("verify")?.env, { FLEET_HOST: "desktop", FLEET_REDIS_HOST: "redis-vps", FLEET_REDIS_PORT: "6379", FLEET_DENIED_PORT: "22" });
    assert.ok(plan.roles.every((r) => r.env.FLEET_HOST === "desktop"));
  });

  it("prints every worker with the contract env, GPU, MPS, limits and labels", () => {
    const plan = desktopPlan();
    assert.deepEqual(plan.workers.map((w) => w.containerName), ["kokoro-1", "kokoro-2", "yolo-1"]);
    const kokoro = plan.workers[0];
    assert.equal(kokoro.name, "desktop-kokoro-1");
    assert.equal(kokoro.image, "ghcr.io/example/kokoro-gpu:1.4.0");
    assert.deepEqual(kokoro.env, {
      OMP_NUM_THREADS: "2",
      MKL_NUM_THREADS: "2",
      OPENBLAS_NUM_THREADS: "2",
      WORKER_DEVICE: "cuda",
      WORKER_NAME: "desktop-kokoro-1",
      WORKER_HOST: "desktop",
      WORKER_SERVICE: "kokoro",
      CUDA_MPS_PIPE_DIRECTORY: "/run/gpu-fleet/mps",
      CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: "0=600M",
      LD_PRELOAD: "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
      MALLOC_CONF: "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000",
    });
    assert.deepEqual(
      {
        gpu: kokoro.gpu, mps: kokoro.mps, pipeDirectory: kokoro.pipeDirectory, user: kokoro.user, memoryMiB: kokoro.memoryMiB,
        cpuSet: kokoro.cpuSet, stopSignal: kokoro.stopSignal, drainSeconds: kokoro.drainSeconds, secretEnv: kokoro.secretEnv,
      },
      { gpu: 0, mps: true, pipeDirectory: "/run/gpu-fleet/mps", user: 10001, memoryMiB: 2500, cpuSet: null, stopSignal: "SIGTERM", drainSeconds: 30, secretEnv: {} },
    );
    // The container settings Workers.ts applies too: non-root, no privileges, no swap, CPU quota, MPS pipe.
    assert.deepEqual(kokoro.container, {
      user: "10001:10001",
      noNewPrivileges: true,
      capDrop: ["ALL"],
      capAdd: [],
      readOnlyRootFs: true,
      tmpfs: { "/tmp": "rw,nosuid,nodev,mode=1777,uid=10001,gid=10001" },
      binds: [{ source: "/run/gpu-fleet/mps", target: "/run/gpu-fleet/mps" }],
      ipcHost: true,
      memoryMiB: 2500,
      memorySwapMiB: 2500,
      cpus: 2,
      cpuSet: null,
    });
    // ... and as docker run flags (dockerRunFlags), which join-fleet.sh passes as given.
    assert.deepEqual(kokoro.runFlags, [
      "--init", "--stop-signal", "SIGTERM", "--stop-timeout", "30", "--gpus", "device=0",
      "--user", "10001:10001", "--cap-drop", "ALL", "--memory", "2500m", "--memory-swap", "2500m", "--cpus", "2",
      "--security-opt", "no-new-privileges:true", "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777,uid=10001,gid=10001",
      "--mount", "type=bind,source=/run/gpu-fleet/mps,target=/run/gpu-fleet/mps", "--ipc", "host",
    ]);
    assert.deepEqual(kokoro.labels, {
      "gpu-fleet.fleet": "gpu-fleet-laptop",
      "gpu-fleet.host": "desktop",
      "gpu-fleet.service": "kokoro",
      "gpu-fleet.replica": "1",
      "gpu-fleet.gpu": "0",
    });
    assert.equal(plan.workers[2].env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, "0=300M");
    assert.deepEqual(plan.secrets, ["redisUrl"]);
  });

  it("names secret config keys but holds no secret value; --out writes the same plan", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-join-plan-"));
    const file = join(dir, "Pulumi.cpu.yaml");
    writeFileSync(
      file,
      `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:hfToken: { secure: AAABAPLACEHOLDERhfToken }
  gpu-fleet:tailnet: { admins: ["group:ops"], workerTag: "tag:laptops" }
  gpu-fleet:services:
    embed:
      image: ghcr.io/example/embed-cpu:3.1.0
      device: cpu
      threads: 2
      ramMiB: 1024
      drainSeconds: 45
      command: [python, -m, worker]
      env: { HF_TOKEN: { secret: hfToken }, MODEL: bge-small }
      healthcheck: { test: "test -f /tmp/ready", intervalSeconds: 5 }
  gpu-fleet:hosts:
    desk:
      join: {}
      cpu: { cores: 8 }
      ramMiB: 16384
      pinCpus: true
      workers: { embed: { replicas: 2 } }
`,
    );
    const result = joinPlan(file, "desk");
    assert.equal(result.status, 0, result.stderr);
    const plan = JSON.parse(result.stdout) as JoinPlan;
    assert.equal(plan.fleet, "gpu-fleet-cpu");
    assert.deepEqual(plan.roles.map((r) => r.role), ["facts", "base", "tailscale", "docker", "verify"]);
    assert.equal(plan.roles[2].env.FLEET_TS_TAGS, "tag:laptops");
    assert.deepEqual(plan.secrets, ["redisUrl", "hfToken"]);
    const [first, second] = plan.workers;
    assert.deepEqual(first.secretEnv, { HF_TOKEN: "hfToken" });
    assert.equal(first.env.MODEL, "bge-small");
    assert.equal(first.env.HF_TOKEN, undefined);
    assert.equal(first.env.REDIS_URL, undefined);
    assert.deepEqual([first.gpu, first.mps, first.pipeDirectory, first.user], [null, false, null, 10001]);
    assert.deepEqual([first.container.ipcHost, first.container.binds, first.container.cpus, first.container.cpuSet], [false, [], 2, "1-2"]);
    assert.deepEqual([first.cpuSet, second.cpuSet], ["1-2", "3-4"]);
    assert.deepEqual(first.command, ["python", "-m", "worker"]);
    assert.deepEqual(first.healthcheck, { test: "test -f /tmp/ready", intervalSeconds: 5, timeoutSeconds: 10, retries: 3, startPeriodSeconds: 60 });
    assert.equal(first.drainSeconds, 45);
    assert.equal(first.labels["gpu-fleet.gpu"], "cpu");
    // No secret value (nor the stack file's ciphertext placeholder) anywhere in the plan.
    assert.doesNotMatch(result.stdout, /AAABAPLACEHOLDER|secure|\[secret\]/);

    const out = join(dir, "desk.json");
    const written = joinPlan(file, "desk", "--out", out);
    assert.equal(written.status, 0, written.stderr);
    assert.equal(written.stdout, "");
    assert.match(written.stderr, /join plan of desk \(2 workers\) written to /);
    assert.equal(readFileSync(out, "utf8"), result.stdout);
  });

  it("an unknown host exits 2 and lists the hosts", () => {
    const result = joinPlan("laptop", "laptpo");
    assert.equal(result.status, 2);
    assert.match(result.stderr, /no host 'laptpo'\. Hosts: laptop, desktop\./);
    assert.equal(result.stdout, "");
  });

  it("a host Pulumi sets up (ssh or hcloud) exits 2 and says why: join-fleet.sh must not manage its containers", () => {
    const ssh = joinPlan("laptop", "laptop");
    assert.equal(ssh.status, 2);
    assert.equal(ssh.stdout, "");
    assert.match(ssh.stderr, /host 'laptop' of stack laptop is an ssh host: `pulumi up` sets it up and runs its workers, so join-fleet\.sh must not\./);
    assert.match(ssh.stderr, /replace its `ssh:` block with `join: \{\}` in hosts\.laptop/);
    assert.match(ssh.stderr, /Join hosts of laptop: desktop\./);
    const hcloud = joinPlan("hetzner-gpu", "cpu-1");
    assert.equal(hcloud.status, 2);
    assert.match(hcloud.stderr, /host 'cpu-1' of stack hetzner-gpu is an hcloud host: .*Join hosts of hetzner-gpu: none\./);
    assert.doesNotMatch(ssh.stderr + hcloud.stderr, STACK_TRACE);
  });

  it("a bad command line exits 2 with the usage", () => {
    for (const args of [["laptop"], ["laptop", "laptop", "--json"], ["laptop", "laptop", "--out"], ["no-such-stack", "laptop"]]) {
      const result = joinPlan(...args);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, STACK_TRACE);
    }
    assert.match(joinPlan("laptop").stderr, /name one stack and one host: gpu-fleet join-plan -s <stack> <host>/);
  });

  it("an invalid stack exits 1, listing every error like npm run plan, and prints no plan", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-join-plan-"));
    const file = join(dir, "Pulumi.broken.yaml");
    writeFileSync(
      file,
      `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    embed: { image: ghcr.io/example/embed-cpu:3.1.0, device: cpu, threads: 4, ramMiB: 1024 }
  gpu-fleet:hosts:
    desk:
      ssh: { address: 192.0.2.7, hostKey: ${EXAMPLE_KEYS.host} }
      cpu: { cores: 4 }
      ramMiB: 8192
      workers: { embed: { replicas: 2 } }
`,
    );
    const result = joinPlan(file, "desk");
    assert.equal(result.status, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^✗ hosts\.desk\.workers: .*need 8 threads, but desk has 3 usable/m);
    assert.match(result.stderr, /1 error; no join plan written/);
    assert.doesNotMatch(result.stderr, STACK_TRACE);
  });
});
