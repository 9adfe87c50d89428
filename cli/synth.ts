// gpu-fleet synth: every resource the program would create, under mocks (scripts/synth.ts).

import type { CliCommand } from "./command";
import { pickStack, stackOption } from "./command";

export const synth: CliCommand = {
  name: "synth",
  define: (program, done) => {
    program
      .command("synth")
      .summary("print every resource the Pulumi program would create, offline")
      .description(
        "Runs the Pulumi program under mocks, with no credentials, and prints every resource it would create: " +
          "type, name, parent and inputs. Secrets print as [secret]. Exits 1 when the config has errors.",
      )
      .argument("[stack]", "the stack, as with -s")
      .addOption(stackOption())
      .option("--json", "print {resources: [{type, name, parent, inputs, options}]} on stdout; options: parent, dependsOn, inputDependencies, replaceOnChanges, deleteBeforeReplace, ignoreChanges, deletedWith, replacementTrigger")
      .action(async (positional: string | undefined, opts: { stack?: string; json?: boolean }) => {
        const { synth: run } = await import("../scripts/synth");
        done(await run({ stack: pickStack(opts.stack, positional), json: opts.json === true }));
      });
  },
};
