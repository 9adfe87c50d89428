// The pure modules under mutation testing and the unit test files that cover each one.
export const MUTATION_MODULES = {
  planner: {
    mutate: ["components/core/planner.ts"],
    // Fastest killers first: a mutant stops at the first file that fails.
    tests: [
      "test/unit/planner-messages.test.ts", "test/unit/budgets.test.ts", "test/unit/planner.test.ts", "test/unit/multi-gpu.test.ts",
      "test/unit/generations.test.ts", "test/unit/timeshare.test.ts", "test/unit/auto-replicas.test.ts", "test/unit/planner-rules.test.ts",
    ],
  },
  catalog: {
    mutate: ["components/core/catalog.ts"],
    tests: ["test/unit/catalog.test.ts", "test/unit/generations.test.ts"],
  },
  schema: {
    mutate: ["components/core/schema.ts"],
    // The schema's docs, limits and defaults reach README's config reference, which the rows test checks;
    // the other files parse stacks through parseFleet (split stacks, addresses, every diagnostic).
    tests: [
      "test/unit/schema.test.ts", "test/unit/schema-rules.test.ts", "test/unit/config-reference-rows.test.ts", "test/unit/checks.test.ts", "test/unit/split.test.ts",
      "test/unit/planner-messages.test.ts", "test/unit/timeshare.test.ts",
    ],
  },
  "tailnet-policy": {
    mutate: ["components/core/tailnet-policy.ts"],
    tests: ["test/unit/tailnet-policy.test.ts"],
  },
  "resource-diff": {
    mutate: ["scripts/lib/resource-diff.ts"],
    tests: ["test/unit/resource-diff.test.ts", "test/unit/resource-diff-kinds.test.ts"],
  },
};

/** Where the sandbox's compiled JavaScript goes. */
export const MUTATION_BUILD_DIR = ".mutation-build";

/** Stryker's build step in the sandbox (scripts/lib/mutation-build.mjs). */
export function mutationBuildCommand() {
  return "node scripts/lib/mutation-build.mjs";
}
