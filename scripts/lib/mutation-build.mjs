// Stryker's buildCommand: compiles the sandbox's TypeScript (the mutated module included) to CommonJS
// under .mutation-build/, file by file, so that each mutant's test run needs no TypeScript loader.
import { buildSync } from "esbuild";
import { cpSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { MUTATION_BUILD_DIR } from "./mutation-modules.mjs";

const roots = ["components", "scripts/lib", "test/unit", "test/support"];
const files = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));

// scripts/join-plan.ts: test/unit/timeshare.test.ts imports it.
buildSync({
  entryPoints: [...roots.flatMap(files), "scripts/join-plan.ts"],
  outdir: MUTATION_BUILD_DIR,
  outbase: ".",
  format: "cjs",
  platform: "node",
  target: "node20",
  logLevel: "warning",
  // import() becomes require(), which finds extensionless paths as tsx does.
  supported: { "dynamic-import": false },
});

// Files the tests read next to themselves (__dirname/../..), as in the repository.
for (const dir of ["tailnet", "stacks", "scripts/roles"]) cpSync(dir, join(MUTATION_BUILD_DIR, dir), { recursive: true });
// README.md: test/unit/config-reference-rows.test.ts checks its config reference against the schema.
cpSync("README.md", join(MUTATION_BUILD_DIR, "README.md"));
