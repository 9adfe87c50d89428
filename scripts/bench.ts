// npm run bench [-- 10 100 1000]: plan and synth of generated fleets, time and peak memory.
// Not a test: numbers depend on the machine. README keeps the latest figures.

import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { generatedStack } from "./lib/bench-stack";
import { REPO_ROOT, runCli } from "./lib/stack";

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
