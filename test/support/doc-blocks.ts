// The shell blocks of a guide, with how the docs tests run them: ```sh offline (npm test), ```sh host
// (the host harness) or ```sh illustrative (needs credentials or real machines; not run).

import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/lib/stack";

export type BlockMode = "offline" | "host" | "illustrative";
export const BLOCK_MODES: readonly BlockMode[] = ["offline", "host", "illustrative"];

export interface DocBlock {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly lang: string;
  /** undefined: the fence names no mode (a shell block must). */
  readonly mode: BlockMode | undefined;
  readonly code: string;
}

/** The guides whose shell blocks are run. */
export const TESTED_GUIDES = ["README.md", "docs/join-fleet.md"] as const;

export function docBlocks(file: string): DocBlock[] {
  const lines = readFileSync(join(REPO_ROOT, file), "utf8").split("\n");
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
    const words = open[2].trim().split(/\s+/).filter(Boolean);
    const mode = BLOCK_MODES.find((m) => words.includes(m));
    blocks.push({ file, line: start + 1, lang: open[1], mode, code: `${body.join("\n")}\n` });
  }
  return blocks;
}

export function isShell(block: DocBlock): boolean {
  return block.lang === "sh" || block.lang === "bash" || block.lang === "shell";
}

/** The join key the stand-in `npx pulumi stack output joinKeys` reports for the laptop stack's desktop. */
export const STAND_IN_JOIN_KEY = ["tskey", "auth", "kDocs0Test", "CNTRL0000docs"].join("-");

/**
 * A scratch directory where a guide's commands run as in the repository (symlinks to it), with a
 * stand-in `npx` first on PATH that answers `npx pulumi stack output joinKeys --show-secrets --json
 * -s laptop`, refuses any other Pulumi command and hands everything else (`npx gpu-fleet ...`) to npx.
 */
export function guideWorkspace(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), "fleet-guide-"));
  // Everything of the checkout but git's own files and scratch folders: what the guide writes lands here.
  for (const entry of readdirSync(REPO_ROOT).filter((e) => !e.startsWith("."))) {
    symlinkSync(join(REPO_ROOT, entry), join(dir, entry));
  }
  const realNpx = spawnSync("sh", ["-c", "command -v npx"], { encoding: "utf8" }).stdout.trim();
  if (realNpx === "") throw new Error("npx is not on PATH");
  const bin = join(dir, ".stand-in-bin");
  mkdirSync(bin);
  const npx = join(bin, "npx");
  writeFileSync(
    npx,
    `#!/bin/sh
# Stand-in for the Pulumi CLI in the docs test: the one output the guides read.
if [ "$*" = "pulumi stack output joinKeys --show-secrets --json -s laptop" ]; then
  printf '{\\n  "desktop": "%s"\\n}\\n' '${STAND_IN_JOIN_KEY}'
  exit 0
fi
if [ "$1" = pulumi ]; then
  echo "stand-in npx: not available offline: $*" >&2
  exit 1
fi
exec '${realNpx}' "$@"
`,
  );
  chmodSync(npx, 0o755);
  return { dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` } };
}
