// Generated fleets for the benchmark. Pure.

import { stringify } from "yaml";

/** Example public keys generated for the benchmark (private halves deleted); every host shares one. */
const BENCH_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBjXj6hEZXRRN5Nbts+TRGeNXy39LT9iTFDIMDCJEce5";
const BENCH_USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJfxXLCXZ/Li1x17850qO+r6evBb1dfm8e7km/pG8QK7";

/** A fleet of n hosts: a quarter GEX44s, a quarter GTX 1080 boxes, up to 10 hcloud CCX33s, the rest CPU boxes. */
export function generatedStack(n: number): string {
  const hosts: Record<string, unknown> = {};
  let hcloud = 0;
  for (let i = 0; i < n; i++) {
    const name = `h${String(i).padStart(4, "0")}`;
    if (i % 4 === 0) {
      hosts[name] = { ssh: { address: `10.0.${Math.floor(i / 250)}.${i % 250}`, hostKey: BENCH_HOST_KEY }, hardware: "gex44", nvidia: { driver: "managed", branch: "570" }, workers: { kokoro: { replicas: 3 }, yolo: { replicas: 2 } } };
    } else if (i % 4 === 1) {
      hosts[name] = { ssh: { address: `10.1.${Math.floor(i / 250)}.${i % 250}`, hostKey: BENCH_HOST_KEY }, cpu: { cores: 8 }, ramMiB: 32768, gpus: [{ model: "gtx-1080" }], nvidia: { driver: "managed", branch: "580" }, mps: "on", workers: { kokoro: { replicas: 2 }, yolo: { replicas: 1 } } };
    } else if (i % 4 === 2 && hcloud < 10) {
      hcloud++;
      hosts[name] = { hcloud: { serverType: "ccx33", location: "fsn1" }, workers: { "kokoro-cpu": { replicas: "auto" } } };
    } else {
      hosts[name] = { ssh: { address: `10.2.${Math.floor(i / 250)}.${i % 250}`, hostKey: BENCH_HOST_KEY }, cpu: { cores: 16 }, ramMiB: 32768, workers: { "kokoro-cpu": { replicas: 4 } } };
    }
  }
  return stringify({
    config: {
      "gpu-fleet:redis": { host: "redis-vps" },
      "gpu-fleet:redisUrl": { secure: "AAABAbench" },
      "gpu-fleet:sshPrivateKey": { secure: "AAABAbench" },
      "gpu-fleet:tailnet": { admins: ["group:ops"] },
      "gpu-fleet:hcloud": { sshPublicKey: `${BENCH_USER_KEY} bench@fleet` },
      "gpu-fleet:services": {
        kokoro: { image: "ghcr.io/example/kokoro-gpu:1.4.0", device: "cuda", vramMiB: 600, ramMiB: 2500 },
        "kokoro-cpu": { image: "ghcr.io/example/kokoro-cpu:1.4.0", device: "cpu", ramMiB: 2500 },
        yolo: { image: "ghcr.io/example/yolo-gpu:2.0.1", device: "cuda", vramMiB: 300, ramMiB: 600 },
      },
      "gpu-fleet:hosts": hosts,
    },
  });
}
