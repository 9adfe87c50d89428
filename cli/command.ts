// What every gpu-fleet command shares: the stack option, how an action hands back its exit code,
// and the one-line registration of a module that parses its own arguments.

import { Command, Option } from "commander";
import { ProblemsFound, UsageError } from "../scripts/lib/stack";

export { ProblemsFound, UsageError };

/** Exit codes of every command: documented in `gpu-fleet --help` and the README. */
export const EXIT = { ok: 0, problems: 1, usage: 2, bug: 3 } as const;

/** A module that parses its own command line: `gpu-fleet <name> ...argv` calls run(argv). */
export interface RunModule {
  run(argv: string[]): Promise<number>;
}

/** A command as the registry in cli/commands.ts holds it. */
export interface CliCommand {
  readonly name: string;
  /** Adds the command to the program; its action reports the exit code through `done`. */
  readonly define: (program: Command, done: (code: number) => void) => void;
}

/**
 * Registers a module that parses its own arguments, in one line of cli/commands.ts:
 *   external("keyscan", "Read and pin the SSH host keys of the stack's hosts", () => import("../scripts/keyscan")),
 * Every argument after the command name goes to run(), `--help` included; run returns the exit code.
 */
export function external(name: string, summary: string, load: () => Promise<RunModule>): CliCommand {
  return {
    name,
    define: (program, done) => {
      program
        .command(name)
        .summary(summary)
        .description(`${summary}\n(\`gpu-fleet ${name} --help\` shows its options.)`)
        .helpOption(false)
        .allowUnknownOption()
        .allowExcessArguments()
        .passThroughOptions()
        .argument("[args...]")
        .action(async (args: string[]) => done(await (await load()).run(args)));
    },
  };
}

/** `-s, --stack <name>`: a name under stacks/ or a path, as Pulumi names stacks. */
export function stackOption(): Option {
  return new Option("-s, --stack <name>", "stack name (stacks/Pulumi.<name>.yaml) or path to a stack file");
}

/** The stack from `-s` or the positional argument (the npm run aliases pass it positionally). */
export function pickStack(flag: string | undefined, positional: string | undefined): string {
  if (flag !== undefined && positional !== undefined && flag !== positional) {
    throw new UsageError(`two stacks named: -s ${flag} and ${positional}; name one.`);
  }
  const stack = flag ?? positional;
  if (stack === undefined || stack === "") throw new UsageError("name a stack: -s <name> (stacks/Pulumi.<name>.yaml) or -s <path>.");
  return stack;
}
