// gpu-fleet diff: resource-level diff between a git revision and the working tree (scripts/diff.ts).

import type { CliCommand } from "./command";
import { pickStack, stackOption } from "./command";

export const diff: CliCommand = {
  name: "diff",
  define: (program, done) => {
    program
      .command("diff")
      .summary("what a change to the program or stack would create, delete, replace or update")
      .description(
        "Synthesizes the stack at a git revision (default HEAD) and in the working tree, both under mocks, and prints " +
          "what would be created, deleted, replaced or updated, grouped by host. Secrets print as [secret]; secret values " +
          "are not known offline, so a changed secret shows no change.",
      )
      .argument("[stack]", "the stack, as with -s")
      .addOption(stackOption())
      .option("--base <rev>", "the git revision to compare with", "HEAD")
      .option("--json", "print {base, changes} as JSON on stdout")
      .action(async (positional: string | undefined, opts: { stack?: string; base: string; json?: boolean }) => {
        const { diff: run } = await import("../scripts/diff");
        done(await run({ stack: pickStack(opts.stack, positional), base: opts.base, json: opts.json === true }));
      });
  },
};
