// npm run bench [-- 10 100 1000]: plan and synth of generated fleets, time and peak memory.
// Not a test: numbers depend on the machine. README keeps the latest figures.

import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { REPO_ROOT, runCli } from "./lib/stack";

/** A fleet of n hosts: a quarter GEX44s, a quarter GTX 1080 boxes, up to 10 hcloud CCX33s, the rest CPU boxes. */
export function generatedStack(n: number): string {
  const hosts: Record<string, unknown> = {};
  let hcloud = 0;
  for (let i = 0; i < n; i++) {
    const name = `h${String(i).padStart(4, "0")}`;
    if (i % 4 === 0) {
      hosts[name] = { ssh: { address: `10.0.${Math.floor(i / 250)}.${i % 250}` }, hardware: "gex44", nvidia: { driver: "managed", branch: "570" }, workers: { kokoro: { replicas: 3 }, yolo: { replicas: 2 } } };
    } else if (i % 4 === 1) {
      hosts[name] = { ssh: { address: `10.1.${Math.floor(i / 250)}.${i % 250}` }, cpu: { cores: 8 }, ramMiB: 32768, gpus: [{ model: "gtx-1080" }], nvidia: { driver: "managed", branch: "580" }, mps: "on", workers: { kokoro: { replicas: 2 }, yolo: { replicas: 1 } } };
    } else if (i % 4 === 2 && hcloud < 10) {
      hcloud++;
      hosts[name] = { hcloud: { serverType: "ccx33", location: "fsn1" }, workers: { "kokoro-cpu": { replicas: "auto" } } };
    } else {
      hosts[name] = { ssh: { address: `10.2.${Math.floor(i / 250)}.${i % 250}` }, cpu: { cores: 16 }, ramMiB: 32768, workers: { "kokoro-cpu": { replicas: 4 } } };
    }
  }
  return stringify({
    config: {
      "gpu-fleet:redis": { host: "redis-vps" },
      "gpu-fleet:redisUrl": { secure: "AAABAbench" },
      "gpu-fleet:sshPrivateKey": { secure: "AAABAbench" },
      "gpu-fleet:tailnet": { admins: ["group:ops"] },
      "gpu-fleet:hcloud": { sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench bench@fleet" },
      "gpu-fleet:services": {
        kokoro: { image: "ghcr.io/example/kokoro-gpu:1.4.0", device: "cuda", vramMiB: 600, ramMiB: 2500 },
        "kokoro-cpu": { image: "ghcr.io/example/kokoro-cpu:1.4.0", device: "cpu", ramMiB: 2500 },
        yolo: { image: "ghcr.io/example/yolo-gpu:2.0.1", device: "cuda", vramMiB: 300, ramMiB: 600 },
      },
      "gpu-fleet:hosts": hosts,
    },
  });
}

runCli("bench", (argv) => {
  const sizes = argv.length > 0 ? argv.map(Number) : [10, 100, 1000];
  const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-bench-"));
  const rows = ["| hosts | plan | plan peak RSS | synth | synth resources | synth peak RSS |", "| ---: | ---: | ---: | ---: | ---: | ---: |"];
  for (const n of sizes) {
    const file = join(dir, `Pulumi.bench-${n}.yaml`);
    writeFileSync(file, generatedStack(n));
    const measure = (what: string): { ms: number; maxRssMiB: number; resources: number } => {
      const child = spawnSync(process.execPath, ["--max-old-space-size=8192", "--import", "tsx", resolve(REPO_ROOT, "scripts/lib/bench-child.ts"), what, file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
      if (child.status !== 0) throw new Error(`${what} of ${n} hosts failed: ${child.stderr.trim()}`);
      return JSON.parse(child.stdout) as { ms: number; maxRssMiB: number; resources: number };
    };
    const plan = measure("plan");
    const synth = measure("synth");
    rows.push(`| ${n} | ${plan.ms} ms | ${plan.maxRssMiB} MiB | ${synth.ms} ms | ${synth.resources} | ${synth.maxRssMiB} MiB |`);
    process.stderr.write(`${rows[rows.length - 1]}\n`);
  }
  process.stdout.write(`${rows.join("\n")}\n`);
  return 0;
});
