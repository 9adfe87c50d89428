// gpu-fleet plan: validate a stack and print what the fleet will look like (scripts/plan.ts).

import type { CliCommand } from "./command";
import { pickStack, stackOption } from "./command";

export const plan: CliCommand = {
  name: "plan",
  define: (program, done) => {
    program
      .command("plan")
      .summary("validate a stack and print each host's GPUs, CPU, RAM and workers")
      .description(
        "Validates the stack config and prints, per host, the GPUs with VRAM used/total and MPS, CPU threads used/usable, " +
          "RAM used/total and every worker. Lists every config error with its fix and exits 1 when there is one. " +
          "Needs no credentials and no Pulumi CLI.",
      )
      .argument("[stack]", "the stack, as with -s")
      .addOption(stackOption())
      .option("--json", "print {hosts, errors, warnings} as JSON on stdout")
      .action(async (positional: string | undefined, opts: { stack?: string; json?: boolean }) => {
        const { plan: run } = await import("../scripts/plan");
        done(run({ stack: pickStack(opts.stack, positional), json: opts.json === true }));
      });
  },
};
