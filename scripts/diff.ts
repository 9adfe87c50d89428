// npm run diff -- <stack name | path to a stack file> [--base <git rev>] [--json]
// A resource-level diff between the program and stack at a git revision (default HEAD) and the
// working tree, grouped by host. Needs no credentials: both sides are synthesized under mocks.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { diffResources, renderDiff } from "./lib/resource-diff";
import { REPO_ROOT, resolveStackPath, runCli, UsageError } from "./lib/stack";
import type { SynthResult } from "./lib/synth";

const USAGE = `usage: npm run diff -- <stack name | path to a stack file> [--base <git rev>] [--json]

Synthesizes the stack at <git rev> (default HEAD) and in the working tree, both under mocks, and prints
what would be created, deleted, replaced or updated, grouped by host. Secrets print as [secret]; secret
values are not known offline, so a changed secret shows no change.`;

runCli("diff", (argv) => {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const json = argv.includes("--json");
  const baseAt = argv.indexOf("--base");
  const base = baseAt >= 0 ? argv[baseAt + 1] : "HEAD";
  if (base === undefined || base.startsWith("-")) throw new UsageError(`--base needs a git revision\n${USAGE}`);
  const positional = argv.filter((a, i) => a !== "--json" && !(baseAt >= 0 && (i === baseAt || i === baseAt + 1)));
  if (positional.length !== 1 || positional[0].startsWith("-")) throw new UsageError(`name one stack\n${USAGE}`);

  const stackFile = resolveStackPath(positional[0]);
  const inRepo = relative(REPO_ROOT, stackFile);
  if (inRepo.startsWith("..")) throw new UsageError(`${stackFile} is outside the repository, so it has no version at ${base}.`);
  const git = (...args: string[]): string => {
    const result = spawnSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" });
    if (result.status !== 0) throw new UsageError(`git ${args.join(" ")}: ${result.stderr.trim()}`);
    return result.stdout.trim();
  };
  const commit = git("rev-parse", "--verify", `${base}^{commit}`);

  // The base side is the whole program at that revision, in a temporary worktree.
  const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-diff-"));
  const worktree = join(dir, "base");
  try {
    git("worktree", "add", "--detach", "--quiet", worktree, commit);
    if (!existsSync(join(worktree, "node_modules"))) symlinkSync(join(REPO_ROOT, "node_modules"), join(worktree, "node_modules"), "dir");
    const baseStack = join(worktree, inRepo);
    const before: SynthResult = existsSync(baseStack) ? synthIn(worktree, baseStack) : { ok: true, resources: [] };
    const after = synthIn(REPO_ROOT, stackFile);
    for (const [side, result] of [[`at ${base}`, before], ["in the working tree", after]] as const) {
      if (!result.ok) {
        process.stderr.write(`diff: the stack ${side} does not plan:\n${result.error}\n`);
        return 1;
      }
    }
    if (!before.ok || !after.ok) return 1;
    const changes = diffResources(before.resources, after.resources);
    process.stdout.write(json ? `${JSON.stringify({ base: commit, changes }, null, 2)}\n` : `${renderDiff(changes)}\n`);
    return 0;
  } finally {
    spawnSync("git", ["worktree", "remove", "--force", worktree], { cwd: REPO_ROOT });
    rmSync(dir, { recursive: true, force: true });
  }
});

function synthIn(programDir: string, stackFile: string): SynthResult {
  const child = spawnSync(process.execPath, ["--import", "tsx", resolve(REPO_ROOT, "scripts/lib/synth-child.ts"), programDir, stackFile], {
    cwd: programDir,
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`synthesizing ${stackFile} failed: ${child.stderr.trim()}`);
  return JSON.parse(child.stdout) as SynthResult;
}
