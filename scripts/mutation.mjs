// npm run test:mutation [-- <module>...]
// Runs StrykerJS over each pure module (scripts/lib/mutation-modules.mjs), one after another, then
// prints each module's mutation score and the total, and lists the mutants that survived. Exits 1
// when any module scores below 90%. Every run tests every mutant (see stryker.config.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { MUTATION_MODULES } from "./lib/mutation-modules.mjs";

const THRESHOLD = 90;
const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith("--"));
const unknown = names.filter((n) => !(n in MUTATION_MODULES));
if (unknown.length > 0) {
  process.stderr.write(`test:mutation: unknown module ${unknown.join(", ")}; modules: ${Object.keys(MUTATION_MODULES).join(", ")}\n`);
  process.exit(2);
}
const modules = names.length > 0 ? names : Object.keys(MUTATION_MODULES);

const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);
const rows = [];
let failed = false;
for (const name of modules) {
  process.stdout.write(`\n== ${name}: stryker run (MUTATION_MODULE=${name})\n`);
  const report = `reports/mutation/${name}.json`;
  // A failed run (e.g. a test that fails before any mutant) writes no report: never read the last run's.
  rmSync(report, { force: true });
  const run = spawnSync("npx", ["stryker", "run", "stryker.config.mjs"], {
    stdio: "inherit",
    env: { ...process.env, MUTATION_MODULE: name },
  });
  if (!existsSync(report)) {
    process.stderr.write(`test:mutation: ${name}: stryker wrote no report (exit ${run.status})\n`);
    failed = true;
    continue;
  }
  const mutants = Object.entries(JSON.parse(readFileSync(report, "utf8")).files).flatMap(([file, f]) => f.mutants.map((m) => ({ file, ...m })));
  const detected = mutants.filter((m) => DETECTED.has(m.status)).length;
  const undetected = mutants.filter((m) => UNDETECTED.has(m.status));
  const score = (100 * detected) / Math.max(1, detected + undetected.length);
  rows.push({ name, detected, undetected, score });
  if (run.status !== 0 || score < THRESHOLD) failed = true;
}

process.stdout.write("\nmutation score by module (killed or timed out / all valid mutants)\n");
for (const r of rows) process.stdout.write(`  ${r.name.padEnd(16)} ${r.score.toFixed(2).padStart(6)}%  ${r.detected} detected, ${r.undetected.length} survived\n`);
const detected = rows.reduce((n, r) => n + r.detected, 0);
const undetected = rows.reduce((n, r) => n + r.undetected.length, 0);
process.stdout.write(`  ${"total".padEnd(16)} ${((100 * detected) / Math.max(1, detected + undetected)).toFixed(2).padStart(6)}%  ${detected} detected, ${undetected} survived\n`);
for (const r of rows) {
  for (const m of r.undetected) process.stdout.write(`  survived: ${m.file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} ${JSON.stringify(m.replacement ?? "")}\n`);
}
process.exit(failed ? 1 : 0);
