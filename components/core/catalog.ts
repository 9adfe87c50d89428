// Hardware catalog: the facts the planner needs about GPUs and machines, so that a stack can say
// `hardware: gex44` or `gpus: [{ model: gtx-1080 }]` instead of repeating numbers. Facts written on a
// host in the stack config always win over the catalog.
//
// VRAM is what `nvidia-smi --query-gpu=memory.total` reports (MiB), because that is what the facts
// role compares against. Cores are logical CPUs as `nproc` reports them: the unit of OMP threads.

export interface GpuModel {
  /** Name as nvidia-smi prints it, for tables and messages. */
  readonly name: string;
  readonly vramMiB: number;
  /** CUDA compute capability, e.g. 6.1 for Pascal, 8.9 for Ada. */
  readonly computeCapability: number;
  readonly architecture: string;
}

// Sources. Compute capability: NVIDIA's "CUDA GPU Compute Capability" page (developer.nvidia.com/cuda-gpus)
// for 7.5 and newer, and its "Legacy CUDA GPU Compute Capability" page (developer.nvidia.com/cuda-legacy-gpus)
// for Pascal (6.0: Tesla P100; 6.1: GeForce GTX 10xx, Tesla P40/P4, TITAN Xp) and Volta (7.0: NVIDIA V100,
// NVIDIA TITAN V, Quadro GV100). VRAM of the entries below added with sources: what nvidia-smi prints as the
// memory total in the public output cited per entry, else the size on NVIDIA's spec sheet in MiB.
export const GPU_MODELS = {
  // Pascal, first: 16 GB HBM2 (NVIDIA Tesla P100 PCIe datasheet); nvidia-smi "Tesla P100-PCIE-16GB" reports
  // 16280 MiB (public nvidia-smi outputs, e.g. NVIDIA/nvidia-docker issue 1316's machine).
  "tesla-p100": { name: "Tesla P100-PCIE-16GB", vramMiB: 16280, computeCapability: 6.0, architecture: "Pascal" },
  // 8 GB GDDR5 (GeForce GTX 1070 spec); nvidia-smi reports 8119 MiB, like the GTX 1080's 8 GB.
  "gtx-1070": { name: "GeForce GTX 1070", vramMiB: 8119, computeCapability: 6.1, architecture: "Pascal" },
  "gtx-1080": { name: "GeForce GTX 1080", vramMiB: 8192, computeCapability: 6.1, architecture: "Pascal" },
  "gtx-1080-ti": { name: "GeForce GTX 1080 Ti", vramMiB: 11264, computeCapability: 6.1, architecture: "Pascal" },
  // Volta: 16 GB HBM2 (NVIDIA V100 datasheet); nvidia-smi reports 16160 MiB for a "Tesla V100-SXM2-16GB"
  // (github.com/4paradigm/k8s-vgpu-scheduler/issues/7).
  "v100-16gb": { name: "Tesla V100 16GB", vramMiB: 16160, computeCapability: 7.0, architecture: "Volta" },
  // 32 GB HBM2 (NVIDIA V100 datasheet); nvidia-smi reports 32510 MiB for the SXM2 and PCIe 32 GB boards.
  "v100-32gb": { name: "Tesla V100 32GB", vramMiB: 32510, computeCapability: 7.0, architecture: "Volta" },
  // 12 GB HBM2 (NVIDIA TITAN V spec); nvidia-smi reports 12066 MiB (github.com/NVIDIA/dcgm-exporter/issues/58).
  "titan-v": { name: "NVIDIA TITAN V", vramMiB: 12066, computeCapability: 7.0, architecture: "Volta" },
  "rtx-2070-super": { name: "GeForce RTX 2070 SUPER", vramMiB: 8192, computeCapability: 7.5, architecture: "Turing" },
  "rtx-2080-ti": { name: "GeForce RTX 2080 Ti", vramMiB: 11264, computeCapability: 7.5, architecture: "Turing" },
  "rtx-3060": { name: "GeForce RTX 3060", vramMiB: 12288, computeCapability: 8.6, architecture: "Ampere" },
  "rtx-3070-laptop": { name: "GeForce RTX 3070 Laptop GPU", vramMiB: 8192, computeCapability: 8.6, architecture: "Ampere" },
  "rtx-3090": { name: "GeForce RTX 3090", vramMiB: 24576, computeCapability: 8.6, architecture: "Ampere" },
  "rtx-4070-laptop": { name: "GeForce RTX 4070 Laptop GPU", vramMiB: 8188, computeCapability: 8.9, architecture: "Ada" },
  "rtx-4090": { name: "GeForce RTX 4090", vramMiB: 24564, computeCapability: 8.9, architecture: "Ada" },
  "rtx-4000-sff-ada": { name: "RTX 4000 SFF Ada Generation", vramMiB: 20475, computeCapability: 8.9, architecture: "Ada" },
  "rtx-6000-ada": { name: "RTX 6000 Ada Generation", vramMiB: 49140, computeCapability: 8.9, architecture: "Ada" },
  "t4": { name: "Tesla T4", vramMiB: 15360, computeCapability: 7.5, architecture: "Turing" },
  "l4": { name: "NVIDIA L4", vramMiB: 23034, computeCapability: 8.9, architecture: "Ada" },
  "a100-40gb": { name: "NVIDIA A100-PCIE-40GB", vramMiB: 40960, computeCapability: 8.0, architecture: "Ampere" },
  "a100-80gb": { name: "NVIDIA A100 80GB PCIe", vramMiB: 81920, computeCapability: 8.0, architecture: "Ampere" },
  "h100": { name: "NVIDIA H100 80GB HBM3", vramMiB: 81559, computeCapability: 9.0, architecture: "Hopper" },
} as const satisfies Record<string, GpuModel>;

export type GpuModelId = keyof typeof GPU_MODELS;

export interface MachineModel {
  readonly description: string;
  readonly cores: number;
  readonly ramMiB: number;
  readonly gpus: readonly GpuModelId[];
}

/** Hetzner dedicated (Robot) GPU servers. They join the fleet over SSH: hcloud cannot order them. */
export const DEDICATED_MACHINES = {
  gex44: {
    description: "Hetzner GEX44 (Intel Core i5-13500, 64 GiB, RTX 4000 SFF Ada 20 GB)",
    cores: 20,
    ramMiB: 65536,
    gpus: ["rtx-4000-sff-ada"],
  },
  gex130: {
    description: "Hetzner GEX130 (Intel Xeon Gold 5412U, 128 GiB, RTX 6000 Ada 48 GB)",
    cores: 48,
    ramMiB: 131072,
    gpus: ["rtx-6000-ada"],
  },
} as const satisfies Record<string, MachineModel>;

export type DedicatedMachineId = keyof typeof DEDICATED_MACHINES;

/** Hetzner Cloud server types (x86_64; the worker images are amd64). No GPUs. */
export const HCLOUD_SERVER_TYPES = {
  ccx13: { description: "Hetzner Cloud CCX13 (dedicated vCPU)", cores: 2, ramMiB: 8192, gpus: [] },
  ccx23: { description: "Hetzner Cloud CCX23 (dedicated vCPU)", cores: 4, ramMiB: 16384, gpus: [] },
  ccx33: { description: "Hetzner Cloud CCX33 (dedicated vCPU)", cores: 8, ramMiB: 32768, gpus: [] },
  ccx43: { description: "Hetzner Cloud CCX43 (dedicated vCPU)", cores: 16, ramMiB: 65536, gpus: [] },
  ccx53: { description: "Hetzner Cloud CCX53 (dedicated vCPU)", cores: 32, ramMiB: 131072, gpus: [] },
  ccx63: { description: "Hetzner Cloud CCX63 (dedicated vCPU)", cores: 48, ramMiB: 196608, gpus: [] },
  cpx11: { description: "Hetzner Cloud CPX11 (shared AMD vCPU)", cores: 2, ramMiB: 2048, gpus: [] },
  cpx21: { description: "Hetzner Cloud CPX21 (shared AMD vCPU)", cores: 3, ramMiB: 4096, gpus: [] },
  cpx31: { description: "Hetzner Cloud CPX31 (shared AMD vCPU)", cores: 4, ramMiB: 8192, gpus: [] },
  cpx41: { description: "Hetzner Cloud CPX41 (shared AMD vCPU)", cores: 8, ramMiB: 16384, gpus: [] },
  cpx51: { description: "Hetzner Cloud CPX51 (shared AMD vCPU)", cores: 16, ramMiB: 32768, gpus: [] },
  cx22: { description: "Hetzner Cloud CX22 (shared Intel vCPU)", cores: 2, ramMiB: 4096, gpus: [] },
  cx32: { description: "Hetzner Cloud CX32 (shared Intel vCPU)", cores: 4, ramMiB: 8192, gpus: [] },
  cx42: { description: "Hetzner Cloud CX42 (shared Intel vCPU)", cores: 8, ramMiB: 16384, gpus: [] },
  cx52: { description: "Hetzner Cloud CX52 (shared Intel vCPU)", cores: 16, ramMiB: 32768, gpus: [] },
} as const satisfies Record<string, MachineModel>;

export type HcloudServerTypeId = keyof typeof HCLOUD_SERVER_TYPES;

/**
 * Hetzner Cloud locations, and which server-type families each one offers. Source: Hetzner's server
 * overview (docs.hetzner.com/cloud/servers/overview, "Server types" and their "Locations"): the
 * shared Intel CX line is offered in the EU locations only (Falkenstein, Nuremberg, Helsinki); the
 * shared AMD CPX and dedicated CCX lines in every location. The API lists the same per datacenter
 * (GET /datacenters → server_types.available); `hcloud datacenter describe <dc>` prints it. A server
 * type a location does not offer fails at `pulumi up` ("server type ... not available in location").
 * Check it again when Hetzner changes its line-up, and add what is new here.
 */
export const HCLOUD_LOCATIONS = {
  fsn1: { description: "Falkenstein, Germany (eu-central)", families: ["cx", "cpx", "ccx"] },
  nbg1: { description: "Nuremberg, Germany (eu-central)", families: ["cx", "cpx", "ccx"] },
  hel1: { description: "Helsinki, Finland (eu-central)", families: ["cx", "cpx", "ccx"] },
  ash: { description: "Ashburn, VA, USA (us-east)", families: ["cpx", "ccx"] },
  hil: { description: "Hillsboro, OR, USA (us-west)", families: ["cpx", "ccx"] },
  sin: { description: "Singapore (ap-southeast)", families: ["cpx", "ccx"] },
} as const satisfies Record<string, { description: string; families: readonly ("cx" | "cpx" | "ccx")[] }>;

export type HcloudLocationId = keyof typeof HCLOUD_LOCATIONS;

export function isHcloudLocationId(id: string): id is HcloudLocationId {
  return Object.prototype.hasOwnProperty.call(HCLOUD_LOCATIONS, id);
}

/** The family of a catalog server type: `ccx33` → `ccx`. */
export function hcloudFamily(serverType: HcloudServerTypeId): "cx" | "cpx" | "ccx" {
  return serverType.startsWith("ccx") ? "ccx" : serverType.startsWith("cpx") ? "cpx" : "cx";
}

/** Locations that offer a catalog server type. */
export function hcloudLocationsOffering(serverType: HcloudServerTypeId): HcloudLocationId[] {
  const family = hcloudFamily(serverType);
  return (Object.keys(HCLOUD_LOCATIONS) as HcloudLocationId[]).filter((l) => (HCLOUD_LOCATIONS[l].families as readonly string[]).includes(family));
}

/** Hetzner Cloud: servers one spread placement group can hold. */
export const HCLOUD_SPREAD_GROUP_MAX_SERVERS = 10;

export function isGpuModelId(id: string): id is GpuModelId {
  return Object.prototype.hasOwnProperty.call(GPU_MODELS, id);
}

export function isDedicatedMachineId(id: string): id is DedicatedMachineId {
  return Object.prototype.hasOwnProperty.call(DEDICATED_MACHINES, id);
}

export function isHcloudServerTypeId(id: string): id is HcloudServerTypeId {
  return Object.prototype.hasOwnProperty.call(HCLOUD_SERVER_TYPES, id);
}

/** First compute capability of each rule the planner applies; named so messages can cite them. */
export const COMPUTE = {
  /** Volta: MPS per-client memory and thread limits, 48 clients per GPU. */
  volta: 7.0,
  /** Turing: NVIDIA's open kernel modules. */
  turing: 7.5,
  /**
   * The oldest GPU MPS runs on. NVIDIA's Multi-Process Service overview (docs.nvidia.com/deploy/mps,
   * "System Requirements"): MPS "requires a device that supports Unified Virtual Address (UVA) and
   * has compute capability SM 3.5 or higher"; Debian's nvidia-cuda-mps package says the same.
   */
  mps: 3.5,
} as const;

/** The last driver branch that supports Pascal and Volta GPUs. */
export const LAST_BRANCH_FOR_PRE_TURING = 580;

/** MPS clients per GPU: 16 before Volta, 48 from Volta on (NVIDIA MPS documentation). */
export function mpsClientCap(computeCapability: number): number {
  return computeCapability >= COMPUTE.volta ? 48 : 16;
}
