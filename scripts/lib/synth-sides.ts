// Synthesizes stacks in child processes (the Pulumi runtime is global: one program per process),
// several at once: `npm run diff` runs its two sides in parallel, one per core.

import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { REPO_ROOT } from "./stack";
import type { SynthResult } from "./synth";

/** One synth of `stackFile` with the program in `programDir`, in its own process. */
export function synthInChild(programDir: string, stackFile: string): Promise<SynthResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", resolve(REPO_ROOT, "scripts/lib/synth-child.ts"), programDir, stackFile], { cwd: programDir, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", fail);
    child.on("close", (code) => {
      // A program stopped by its own check still answers ({ok: false, error}); the SDK's leak
      // detector then exits 1 because of the registrations it left pending.
      let result: SynthResult | undefined;
      try {
        result = JSON.parse(Buffer.concat(out).toString("utf8")) as SynthResult;
      } catch {
        result = undefined;
      }
      if (result !== undefined && (code === 0 || !result.ok)) done(result);
      else fail(new Error(`synthesizing ${stackFile} failed: ${Buffer.concat(err).toString("utf8").trim()}`));
    });
  });
}
