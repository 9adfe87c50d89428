// npm run docs [-- --check] [--readme FILE]
// Writes README's config reference (between its markers) from the schema's documentation
// (components/core/config-reference.ts). With --check, changes nothing and exits 1 when README is stale.

import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { checkConfigReference, REFERENCE_BEGIN, REFERENCE_END } from "../components/core/config-reference";
import { REPO_ROOT, UsageError } from "./lib/stack";

const USAGE = `usage: npm run docs [-- --check] [--readme FILE]

Regenerates README.md's config reference from components/core/schema.ts: every key's default, its
limits and what it is for. The reference sits between the markers
  ${REFERENCE_BEGIN}
  ${REFERENCE_END}
  --check        change nothing; exit 1 if README is stale (a hand edit, or a schema change without npm run docs)
  --readme FILE  another README (default: README.md of the repository)`;

export async function run(argv: string[]): Promise<number> {
  let check = false;
  let readme = resolve(REPO_ROOT, "README.md");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else if (arg === "--check") {
      check = true;
    } else if (arg === "--readme" && argv[i + 1] !== undefined) {
      readme = resolve(argv[++i]);
    } else {
      throw new UsageError(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  const text = readFileSync(readme, "utf8");
  const result = checkConfigReference(text);
  if (result.state === "no-markers") {
    process.stderr.write(`docs: ${readme} has no config reference markers (${REFERENCE_BEGIN} ... ${REFERENCE_END}).\n`);
    return 1;
  }
  if (result.state === "current") {
    process.stdout.write(`ok: ${readme}'s config reference matches the schema\n`);
    return 0;
  }
  if (check) {
    process.stderr.write(`docs: ${readme}'s config reference is stale: it differs from what components/core/schema.ts says. Edit descriptions in the schema (.meta(doc(...))), not in README, then run \`npm run docs\`.\n`);
    return 1;
  }
  writeFileSync(readme, result.updated);
  process.stdout.write(`changed: ${readme}'s config reference regenerated from the schema\n`);
  return 0;
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("docs"));
