// Finds and reads a stack for the offline tools: a stack name (stacks/Pulumi.<name>.yaml) or a path.

import { existsSync, readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { parseStackFile, type StackFile } from "../../components/core/stack-file";

export const REPO_ROOT = resolve(__dirname, "..", "..");
export const STACKS_DIR = resolve(REPO_ROOT, "stacks");

export interface LoadedStack extends StackFile {
  readonly name: string;
  readonly path: string;
}

export class UsageError extends Error {}

/** `hetzner-gpu` → stacks/Pulumi.hetzner-gpu.yaml; anything that is a file is read as is. */
export function resolveStackPath(nameOrPath: string): string {
  if (existsSync(nameOrPath)) return resolve(nameOrPath);
  const byName = resolve(STACKS_DIR, `Pulumi.${nameOrPath}.yaml`);
  if (existsSync(byName)) return byName;
  throw new UsageError(`no stack '${nameOrPath}': neither a file nor ${byName}.`);
}

export function loadStack(nameOrPath: string): LoadedStack {
  const path = resolveStackPath(nameOrPath);
  const file = parseStackFile(readFileSync(path, "utf8"), basename(path));
  const name = basename(path).replace(/^Pulumi\./, "").replace(/\.ya?ml$/, "");
  return { ...file, name, path };
}

/** Runs a CLI's main; a bad command line exits 2, anything unexpected prints one line, never a trace. */
export function runCli(tool: string, main: (argv: string[]) => number | Promise<number>): void {
  void (async () => {
    try {
      process.exitCode = await main(process.argv.slice(2));
    } catch (error) {
      report(tool, error);
    }
  })();
}

function report(tool: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${tool}: ${message}\n`);
  if (error instanceof UsageError) {
    process.exitCode = 2;
    return;
  }
  if (process.env.FLEET_DEBUG === "1" && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  else process.stderr.write(`${tool}: this is a bug in gpu-fleet; FLEET_DEBUG=1 shows where.\n`);
  process.exitCode = 3;
}
