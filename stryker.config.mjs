// StrykerJS over the pure modules, one module at a time (`npm run test:mutation` runs them all,
// `npm run test:mutation -- planner` one). Each module is mutated alone and tested only by the unit
// test files that cover it. In the sandbox, esbuild compiles the TypeScript once (buildCommand); each
// mutant then runs those test files as plain JavaScript under node's own test runner (TAP), which
// saves tsx's start-up per mutant, most of the cost on a busy machine.
import { MUTATION_MODULES, MUTATION_BUILD_DIR, mutationBuildCommand } from "./scripts/lib/mutation-modules.mjs";

const name = process.env.MUTATION_MODULE ?? "planner";
const module = MUTATION_MODULES[name];
if (module === undefined) throw new Error(`MUTATION_MODULE=${name}: not one of ${Object.keys(MUTATION_MODULES).join(", ")}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "tap",
  buildCommand: mutationBuildCommand(),
  tap: { testFiles: module.tests.map((t) => `${MUTATION_BUILD_DIR}/${t.replace(/\.ts$/, ".js")}`), nodeArgs: [], forceBail: true },
  mutate: module.mutate,
  coverageAnalysis: "perTest",
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 2),
  // Not incremental: Stryker's incremental mode tracks test files among the project's inputs, and the
  // compiled tests it runs are not, so it would reuse results after a test changed.
  incremental: false,
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 95, low: 90, break: 90 },
  timeoutMS: 20000,
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
