// The catalog against its sources, written out by hand: compute capability from NVIDIA's CUDA GPUs
// pages (developer.nvidia.com/cuda-gpus, /cuda-legacy-gpus), memory from each product's spec sheet,
// machines from Hetzner's product pages.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  COMPUTE,
  DEDICATED_MACHINES,
  GPU_MODELS,
  HCLOUD_LOCATIONS,
  HCLOUD_SERVER_TYPES,
  HCLOUD_SPREAD_GROUP_MAX_SERVERS,
  LAST_BRANCH_FOR_PRE_TURING,
  isDedicatedMachineId,
  isGpuModelId,
  hcloudFamily,
  hcloudLocationsOffering,
  isHcloudLocationId,
  isHcloudServerTypeId,
  mpsClientCap,
} from "../../components/core/catalog";

/** id: [nvidia-smi name, compute capability, architecture, memory on the spec sheet in GB]. */
const GPUS: Record<string, [string, number, string, number]> = {
  "tesla-p100": ["Tesla P100-PCIE-16GB", 6.0, "Pascal", 16],
  "gtx-1070": ["GeForce GTX 1070", 6.1, "Pascal", 8],
  "gtx-1080": ["GeForce GTX 1080", 6.1, "Pascal", 8],
  "gtx-1080-ti": ["GeForce GTX 1080 Ti", 6.1, "Pascal", 11],
  "v100-16gb": ["Tesla V100 16GB", 7.0, "Volta", 16],
  "v100-32gb": ["Tesla V100 32GB", 7.0, "Volta", 32],
  "titan-v": ["NVIDIA TITAN V", 7.0, "Volta", 12],
  "rtx-2070-super": ["GeForce RTX 2070 SUPER", 7.5, "Turing", 8],
  "rtx-2080-ti": ["GeForce RTX 2080 Ti", 7.5, "Turing", 11],
  "t4": ["Tesla T4", 7.5, "Turing", 16],
  "rtx-3060": ["GeForce RTX 3060", 8.6, "Ampere", 12],
  "rtx-3070-laptop": ["GeForce RTX 3070 Laptop GPU", 8.6, "Ampere", 8],
  "rtx-3090": ["GeForce RTX 3090", 8.6, "Ampere", 24],
  "a100-40gb": ["NVIDIA A100-PCIE-40GB", 8.0, "Ampere", 40],
  "a100-80gb": ["NVIDIA A100 80GB PCIe", 8.0, "Ampere", 80],
  "rtx-4070-laptop": ["GeForce RTX 4070 Laptop GPU", 8.9, "Ada", 8],
  "rtx-4090": ["GeForce RTX 4090", 8.9, "Ada", 24],
  "rtx-4000-sff-ada": ["RTX 4000 SFF Ada Generation", 8.9, "Ada", 20],
  "rtx-6000-ada": ["RTX 6000 Ada Generation", 8.9, "Ada", 48],
  "l4": ["NVIDIA L4", 8.9, "Ada", 24],
  "h100": ["NVIDIA H100 80GB HBM3", 9.0, "Hopper", 80],
};

/** The figures nvidia-smi prints for the models added with a cited output (catalog.ts names each source). */
const NVIDIA_SMI_MIB: Record<string, number> = { "tesla-p100": 16280, "gtx-1070": 8119, "v100-16gb": 16160, "v100-32gb": 32510, "titan-v": 12066 };

describe("GPU catalog", () => {
  it("has exactly the documented models, with NVIDIA's name, compute capability and architecture", () => {
    assert.deepEqual(Object.keys(GPU_MODELS).sort(), Object.keys(GPUS).sort());
    for (const [id, [name, cc, architecture]] of Object.entries(GPUS)) {
      const entry = GPU_MODELS[id as keyof typeof GPU_MODELS];
      assert.deepEqual([entry.name, entry.computeCapability, entry.architecture], [name, cc, architecture], id);
    }
  });

  it("gives each model the memory nvidia-smi reports: at most the spec sheet's size, less only what ECC and the driver keep (under 7%)", () => {
    for (const [id, [, , , gb]] of Object.entries(GPUS)) {
      const vram = GPU_MODELS[id as keyof typeof GPU_MODELS].vramMiB;
      assert.ok(vram <= gb * 1024 && vram >= gb * 1024 * 0.93, `${id}: ${vram} MiB for ${gb} GB`);
    }
    for (const [id, mib] of Object.entries(NVIDIA_SMI_MIB)) assert.equal(GPU_MODELS[id as keyof typeof GPU_MODELS].vramMiB, mib, id);
  });

  it("knows its ids and nothing inherited", () => {
    assert.equal(isGpuModelId("titan-v"), true);
    for (const id of ["toString", "constructor", "__proto__", "TITAN-V", ""]) assert.equal(isGpuModelId(id), false, id);
  });
});

describe("machines", () => {
  it("Hetzner dedicated GPU servers: GEX44 (i5-13500: 20 threads, 64 GB, RTX 4000 SFF Ada) and GEX130 (Xeon Gold 5412U: 48 threads, 128 GB, RTX 6000 Ada)", () => {
    assert.deepEqual(DEDICATED_MACHINES, {
      gex44: { description: "Hetzner GEX44 (Intel Core i5-13500, 64 GiB, RTX 4000 SFF Ada 20 GB)", cores: 20, ramMiB: 65536, gpus: ["rtx-4000-sff-ada"] },
      gex130: { description: "Hetzner GEX130 (Intel Xeon Gold 5412U, 128 GiB, RTX 6000 Ada 48 GB)", cores: 48, ramMiB: 131072, gpus: ["rtx-6000-ada"] },
    });
    assert.equal(isDedicatedMachineId("gex44"), true);
    assert.equal(isDedicatedMachineId("hasOwnProperty"), false);
  });

  it("Hetzner Cloud server types: vCPUs and GB as Hetzner lists them, no GPUs", () => {
    const types: Record<string, [string, number, number]> = {
      ccx13: ["CCX13 (dedicated vCPU)", 2, 8], ccx23: ["CCX23 (dedicated vCPU)", 4, 16], ccx33: ["CCX33 (dedicated vCPU)", 8, 32],
      ccx43: ["CCX43 (dedicated vCPU)", 16, 64], ccx53: ["CCX53 (dedicated vCPU)", 32, 128], ccx63: ["CCX63 (dedicated vCPU)", 48, 192],
      cpx11: ["CPX11 (shared AMD vCPU)", 2, 2], cpx21: ["CPX21 (shared AMD vCPU)", 3, 4], cpx31: ["CPX31 (shared AMD vCPU)", 4, 8],
      cpx41: ["CPX41 (shared AMD vCPU)", 8, 16], cpx51: ["CPX51 (shared AMD vCPU)", 16, 32],
      cx22: ["CX22 (shared Intel vCPU)", 2, 4], cx32: ["CX32 (shared Intel vCPU)", 4, 8], cx42: ["CX42 (shared Intel vCPU)", 8, 16], cx52: ["CX52 (shared Intel vCPU)", 16, 32],
    };
    assert.deepEqual(
      HCLOUD_SERVER_TYPES,
      Object.fromEntries(Object.entries(types).map(([id, [what, cores, gb]]) => [id, { description: `Hetzner Cloud ${what}`, cores, ramMiB: gb * 1024, gpus: [] }])),
    );
    assert.equal(isHcloudServerTypeId("cx22"), true);
    assert.equal(isHcloudServerTypeId("valueOf"), false);
    // Hetzner Cloud: a spread placement group holds at most 10 servers.
    assert.equal(HCLOUD_SPREAD_GROUP_MAX_SERVERS, 10);
  });
});

describe("Hetzner Cloud locations", () => {
  // Hetzner's server overview (docs.hetzner.com/cloud/servers/overview): the shared Intel CX line only
  // in Falkenstein, Nuremberg and Helsinki; the shared AMD CPX and dedicated CCX lines everywhere.
  const EU = ["fsn1", "nbg1", "hel1"];
  const ALL = ["fsn1", "nbg1", "hel1", "ash", "hil", "sin"];

  it("lists the six locations and the families each offers", () => {
    assert.deepEqual(Object.keys(HCLOUD_LOCATIONS), ALL);
    assert.deepEqual(Object.fromEntries(ALL.map((l) => [l, [...HCLOUD_LOCATIONS[l as keyof typeof HCLOUD_LOCATIONS].families]])), {
      fsn1: ["cx", "cpx", "ccx"], nbg1: ["cx", "cpx", "ccx"], hel1: ["cx", "cpx", "ccx"],
      ash: ["cpx", "ccx"], hil: ["cpx", "ccx"], sin: ["cpx", "ccx"],
    });
  });

  it("knows its location ids and nothing inherited", () => {
    for (const l of ALL) assert.equal(isHcloudLocationId(l), true, l);
    for (const l of ["fsn", "us-east", "toString", "hasOwnProperty", ""]) assert.equal(isHcloudLocationId(l), false, l);
  });

  it("names each server type's family by its prefix: ccx, cpx or cx", () => {
    assert.deepEqual(
      (["ccx13", "ccx63", "cpx11", "cpx51", "cx22", "cx52"] as const).map(hcloudFamily),
      ["ccx", "ccx", "cpx", "cpx", "cx", "cx"],
    );
  });

  it("offers CX types in the EU locations only, CPX and CCX types in every location", () => {
    for (const t of ["cx22", "cx32", "cx42", "cx52"] as const) assert.deepEqual(hcloudLocationsOffering(t), EU, t);
    for (const t of ["cpx11", "cpx21", "cpx51", "ccx13", "ccx33", "ccx63"] as const) assert.deepEqual(hcloudLocationsOffering(t), ALL, t);
  });
});

describe("generation rules", () => {
  it("MPS takes 16 clients per GPU before Volta (7.0) and 48 from Volta on", () => {
    assert.deepEqual([6.0, 6.1, 6.2, 6.99, 7.0, 7.5, 8.9, 9.0].map(mpsClientCap), [16, 16, 16, 16, 48, 48, 48, 48]);
  });

  it("names MPS 3.5, Volta 7.0 and Turing 7.5 as the thresholds, and 580 as the last branch for both older generations", () => {
    // MPS needs compute capability 3.5 or newer (NVIDIA's MPS documentation, "Hardware").
    assert.deepEqual(COMPUTE, { volta: 7.0, turing: 7.5, mps: 3.5 });
    assert.equal(LAST_BRANCH_FOR_PRE_TURING, 580);
  });
});
