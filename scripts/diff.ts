// gpu-fleet diff -s <stack> [--base <git rev>] [--json] (npm run diff -- <stack> ...); options in cli/diff.ts.
// A resource-level diff between the program and stack at a git revision (default HEAD) and the
// working tree, grouped by host. Needs no credentials: both sides are synthesized under mocks.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { diffResources, renderDiff } from "./lib/resource-diff";
import { synthInChild } from "./lib/synth-sides";
import { REPO_ROOT, resolveStackPath, UsageError } from "./lib/stack";
import type { SynthResult } from "./lib/synth";

export async function diff(opts: { stack: string; base: string; json: boolean }): Promise<number> {
  const { base, json } = opts;
  if (base === "" || base.startsWith("-")) throw new UsageError("--base needs a git revision");
  const stackFile = resolveStackPath(opts.stack);
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
    // Both sides at once, one process each: on two cores a diff costs about one synth.
    const [before, after] = await Promise.all([
      existsSync(baseStack) ? synthInChild(worktree, baseStack) : Promise.resolve<SynthResult>({ ok: true, resources: [] }),
      synthInChild(REPO_ROOT, stackFile),
    ]);
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
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("diff"));
