// StrykerJS, one pure module at a time (`npm run test:mutation` runs them all; MUTATION_MODULE=planner
// runs one). Each module is mutated alone and tested only by the unit test files that cover it, each
// file run by node's own test runner (TAP) under tsx: a mutant costs one short process per file.
import { MUTATION_MODULES } from "./scripts/lib/mutation-modules.mjs";

const name = process.env.MUTATION_MODULE ?? "planner";
const module = MUTATION_MODULES[name];
if (module === undefined) throw new Error(`MUTATION_MODULE=${name}: not one of ${Object.keys(MUTATION_MODULES).join(", ")}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "tap",
  tap: { testFiles: module.tests, nodeArgs: ["--import", "tsx"], forceBail: true },
  mutate: module.mutate,
  // Only what the tests import; the sandbox links node_modules.
  ignorePatterns: ["/*", "!/components", "!/scripts", "!/test", "!/tailnet", "!/stacks", "!/package.json", "!/tsconfig.json", "!/Pulumi.yaml"],
  coverageAnalysis: "perTest",
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 2),
  incremental: true,
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 95, low: 90, break: 90 },
  timeoutMS: 10000,
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
