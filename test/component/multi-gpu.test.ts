// The whole program under the mock engine with hosts of 2, 4 and 8 GPUs (mixed models, fixed and auto
// replicas on one host): each container's GPU device request, MPS pipe, IPC, uid and memory limit,
// and each host's MPS role, checked against placements worked out by hand from the rule (README,
// "What the planner checks": the replica goes to the GPU with the most free VRAM, the lower index on a
// tie; fixed replicas first; MPS under auto on a GPU with two or more workers).
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { installPulumiMocks, isSecretValue, type PulumiMocks, type RecordedResource } from "../support/pulumi-mocks";
import { parseStackFile } from "../../components/core/stack-file";
import { engineConfig } from "../../scripts/lib/engine-config";
import { EXAMPLE_KEYS } from "../support/fixtures";

const STACK = `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAAB }
  gpu-fleet:sshPrivateKey: { secure: AAAB }
  gpu-fleet:tailnet: { admins: [group:ops] }
  gpu-fleet:services:
    kokoro: { image: ghcr.io/example/kokoro-gpu:1.4.0, device: cuda, threads: 2, vramMiB: 600, ramMiB: 2500 }
    big: { image: ghcr.io/example/big-gpu:1.0.0, device: cuda, threads: 1, vramMiB: 6000, ramMiB: 1000 }
    fixed: { image: ghcr.io/example/fixed-gpu:1.0.0, device: cuda, threads: 1, vramMiB: 3000, ramMiB: 1000 }
    auto: { image: ghcr.io/example/auto-gpu:1.0.0, device: cuda, threads: 1, vramMiB: 3000, ramMiB: 1000 }
  gpu-fleet:hosts:
    duo:
      ssh: { address: 198.51.100.20, hostKey: "${EXAMPLE_KEYS.host}" }
      cpu: { cores: 16 }
      ramMiB: 65536
      gpus: [ { model: gtx-1080 }, { model: gtx-1080 } ]
      mps: "off"
      workers: { fixed: { replicas: 1 }, auto: { replicas: auto } }
    quad:
      ssh: { address: 198.51.100.21, hostKey: "${EXAMPLE_KEYS.host}" }
      cpu: { cores: 32 }
      ramMiB: 65536
      gpus: [ { model: gtx-1080 }, { model: rtx-3090 }, { model: rtx-3060 }, { model: t4 } ]
      workers: { big: { replicas: 8 } }
    octo:
      ssh: { address: 198.51.100.22, hostKey: "${EXAMPLE_KEYS.host}" }
      cpu: { cores: 64 }
      ramMiB: 131072
      gpus: [ { model: v100-32gb }, { model: v100-32gb }, { model: v100-32gb }, { model: v100-32gb }, { model: v100-32gb }, { model: v100-32gb }, { model: v100-32gb }, { model: v100-32gb } ]
      workers: { kokoro: { replicas: 16 } }
`;

let mocks: PulumiMocks;
before(async () => {
  const { config, secretKeys } = engineConfig(parseStackFile(STACK, "multi-gpu.yaml"));
  mocks = installPulumiMocks({ project: "gpu-fleet", stack: "multi-gpu", config, secretKeys });
  await import("../../index");
  await mocks.settle();
});

const container = (host: string, worker: string): RecordedResource => mocks.named(`fleet-${host}-workers-${worker}`);
const envs = (c: RecordedResource): string[] => {
  assert.ok(isSecretValue(c.inputs.envs));
  return c.inputs.envs.value as string[];
};
const PIPE = "/run/gpu-fleet/mps";

/** What one container must carry for its GPU and, on an MPS GPU, its memory limit in MiB. */
function assertWorker(host: string, worker: string, gpu: number, mpsLimitMiB: number | null): void {
  const c = container(host, worker);
  assert.deepEqual(c.inputs.deviceRequests, [{ driver: "nvidia", deviceIds: [String(gpu)], capabilities: ["gpu"] }], `${host} ${worker} device`);
  const labels = Object.fromEntries((c.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
  assert.equal(labels["gpu-fleet.gpu"], String(gpu), `${host} ${worker} label`);
  const env = envs(c);
  // No service here sets `user`: MPS client or not, every worker runs as the fleet's uid 10001.
  assert.equal(c.inputs.user, "10001:10001", `${host} ${worker} user`);
  if (mpsLimitMiB === null) {
    assert.equal(c.inputs.ipcMode, undefined, `${host} ${worker} ipc`);
    assert.equal(c.inputs.mounts, undefined, `${host} ${worker} mounts`);
    assert.ok(!env.some((e) => e.startsWith("CUDA_MPS_")), `${host} ${worker} has no MPS env`);
  } else {
    assert.equal(c.inputs.ipcMode, "host", `${host} ${worker} ipc`);
    assert.deepEqual(c.inputs.mounts, [{ type: "bind", source: PIPE, target: PIPE }], `${host} ${worker} mounts`);
    assert.ok(env.includes(`CUDA_MPS_PIPE_DIRECTORY=${PIPE}`), `${host} ${worker} pipe env`);
    // The container sees only its GPU, so the limit is for its device 0.
    assert.ok(env.includes(`CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=${mpsLimitMiB}M`), `${host} ${worker} limit`);
  }
  assert.ok(!env.some((e) => e.startsWith("CUDA_VISIBLE_DEVICES=") || e.startsWith("NVIDIA_VISIBLE_DEVICES=")), "the device request alone picks the GPU");
}

const mpsRole = (host: string): string => String(mocks.named(`fleet-${host}-setup-mps`).inputs.create);

describe("2 GPUs, fixed and auto replicas", () => {
  it("fixed 1 × 3000 MiB on GPU 0, then auto fills 7680 − 3000 on GPU 0 and 7680 on GPU 1: three workers", () => {
    const names = mocks.ofType("docker:index/container:Container").filter((c) => c.name.startsWith("fleet-duo-")).map((c) => c.name).sort();
    assert.deepEqual(names, ["fleet-duo-workers-auto-1", "fleet-duo-workers-auto-2", "fleet-duo-workers-auto-3", "fleet-duo-workers-fixed-1"]);
    assertWorker("duo", "fixed-1", 0, null);
    assertWorker("duo", "auto-1", 1, null);
    assertWorker("duo", "auto-2", 0, null);
    assertWorker("duo", "auto-3", 1, null);
    assert.match(mpsRole("duo"), /FLEET_MPS='off' .*FLEET_MPS_GPUS='' FLEET_MPS_PINNED_MEM_LIMIT=''/);
  });
});

describe("4 GPUs of four models", () => {
  it("places big 6000 MiB replicas on GPUs 1, 1, 3, 1, 2, 3, 0, 1 with MPS on GPUs 1 and 3 only", () => {
    const gpus = [1, 1, 3, 1, 2, 3, 0, 1];
    const mpsGpus = new Set([1, 3]);
    gpus.forEach((gpu, i) => assertWorker("quad", `big-${i + 1}`, gpu, mpsGpus.has(gpu) ? 6000 : null));
    assert.match(mpsRole("quad"), /FLEET_MPS='on' .*FLEET_MPS_GPUS='1,3' FLEET_MPS_PINNED_MEM_LIMIT='1=6000M,3=6000M'/);
    assert.match(String(mocks.named("fleet-quad-setup-facts").inputs.create), /FLEET_EXPECT_GPU_VRAM_MIB='8192,24576,12288,15360'/);
    assert.match(String(mocks.named("fleet-quad-setup-container-toolkit").inputs.create), /FLEET_GPU_COUNT='4'/);
  });
});

describe("8 GPUs", () => {
  it("runs two kokoro workers per V100, GPU i taking replicas i + 1 and i + 9, all MPS clients", () => {
    for (let gpu = 0; gpu < 8; gpu++) {
      assertWorker("octo", `kokoro-${gpu + 1}`, gpu, 600);
      assertWorker("octo", `kokoro-${gpu + 9}`, gpu, 600);
    }
    assert.match(mpsRole("octo"), /FLEET_MPS_GPUS='0,1,2,3,4,5,6,7' FLEET_MPS_PINNED_MEM_LIMIT='0=600M,1=600M,2=600M,3=600M,4=600M,5=600M,6=600M,7=600M'/);
    assert.match(String(mocks.named("fleet-octo-setup-container-toolkit").inputs.create), /FLEET_GPU_COUNT='8'/);
  });
});
