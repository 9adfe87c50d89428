// Finds and reads a stack for the offline tools: a stack name (stacks/Pulumi.<name>.yaml) or a path.

import { existsSync, readFileSync } from "node:fs";
import { basename, relative, resolve } from "node:path";
import { parseStackFile, type StackFile } from "../../components/core/stack-file";

export const REPO_ROOT = resolve(__dirname, "..", "..");
export const STACKS_DIR = resolve(REPO_ROOT, "stacks");

export interface LoadedStack extends StackFile {
  readonly name: string;
  readonly path: string;
}

/** A bad command line: exit 2. */
export class UsageError extends Error {}

/** The input has a problem the message explains in full (a YAML syntax error): exit 1, nothing else printed. */
export class ProblemsFound extends Error {}

/** `hetzner-gpu` → stacks/Pulumi.hetzner-gpu.yaml; anything that is a file is read as is. */
export function resolveStackPath(nameOrPath: string): string {
  if (existsSync(nameOrPath)) return resolve(nameOrPath);
  const byName = resolve(STACKS_DIR, `Pulumi.${nameOrPath}.yaml`);
  if (existsSync(byName)) return byName;
  throw new UsageError(`no stack '${nameOrPath}': neither a file nor ${byName}.`);
}

/** Reads and parses a stack file; a YAML syntax error stops here, with its first problem only. */
export function loadStack(nameOrPath: string): LoadedStack {
  const path = resolveStackPath(nameOrPath);
  const shown = relative(process.cwd(), path);
  const file = parseStackFile(readFileSync(path, "utf8"), shown.startsWith("..") ? path : shown);
  if (file.syntaxError) throw new ProblemsFound(file.diagnostics.map((d) => d.message).join("\n"));
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
  if (error instanceof UsageError || error instanceof ProblemsFound) {
    process.exitCode = error instanceof UsageError ? 2 : 1;
    return;
  }
  if (process.env.FLEET_DEBUG === "1" && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  else process.stderr.write(`${tool}: this is a bug in gpu-fleet; FLEET_DEBUG=1 shows where.\n`);
  process.exitCode = 3;
}
