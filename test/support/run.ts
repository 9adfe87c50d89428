// Runs a project CLI the way a user does (`npx gpu-fleet ...`, `npm run <tool> -- ...`), without npm in between.

import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { REPO_ROOT } from "../../scripts/lib/stack";

export { REPO_ROOT };

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runTool(script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): RunResult {
  const result = spawnSync(process.execPath, ["--import", "tsx", resolve(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `gpu-fleet <args>` through the package's bin, as `npx gpu-fleet` does. */
export function gpuFleet(args: readonly string[], env: NodeJS.ProcessEnv = {}): RunResult {
  const result = spawnSync(process.execPath, [resolve(REPO_ROOT, "bin/gpu-fleet.mjs"), ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A Node stack trace line: what users must never see. */
export const STACK_TRACE = /^\s+at .+\(.+:\d+:\d+\)$/m;
