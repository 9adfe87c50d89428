// gpu-fleet join-plan: the plan scripts/join-fleet.sh applies on a machine (scripts/join-plan.ts).

import type { CliCommand } from "./command";
import { stackOption, UsageError } from "./command";

export const joinPlan: CliCommand = {
  name: "join-plan",
  define: (program, done) => {
    program
      .command("join-plan")
      .summary("print the join plan of one host for scripts/join-fleet.sh")
      .description(
        "Validates and plans the stack, and prints the join plan of one host as JSON: the role scripts to run on it in " +
          "order (with their FLEET_* parameters) and its worker containers. scripts/join-fleet.sh applies it on the machine " +
          "itself, for hosts Pulumi cannot reach over SSH. The plan holds no secret values, only the names of the config " +
          "keys the workers need. Exits 1 when the config has errors, 2 on a bad command line, an unknown host or a host " +
          "that is not a `join: {}` host (Pulumi sets those up itself, and join-fleet.sh must not manage their containers).",
      )
      .usage("[options] [stack] <host>")
      .argument("[stack]", "the stack, as with -s")
      .argument("[host]", "a `join: {}` host of the stack (hosts.<name>)")
      .addOption(stackOption())
      .option("--out <file>", "write the plan to <file> instead of stdout")
      .action(async (first: string | undefined, second: string | undefined, opts: { stack?: string; out?: string }) => {
        const names = [first, second].filter((n): n is string => n !== undefined);
        const [stack, host] = opts.stack !== undefined ? [opts.stack, ...names] : names;
        if (stack === undefined || host === undefined || names.length !== (opts.stack !== undefined ? 1 : 2)) {
          throw new UsageError("name one stack and one host: gpu-fleet join-plan -s <stack> <host>");
        }
        if (opts.out === "") throw new UsageError("--out needs a file");
        const { joinPlanCommand } = await import("../scripts/join-plan");
        done(joinPlanCommand({ stack, host, out: opts.out }));
      });
  },
};
