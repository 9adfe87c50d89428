// gpu-fleet: one command line for the fleet's tools. Parses with commander, runs one command and
// returns its exit code: 0 ok, 1 problems found, 2 bad command line, 3 a bug in gpu-fleet.
// With --json a command writes only JSON to stdout; everything else goes to stderr.

import { Command, CommanderError } from "commander";
import { COMMANDS } from "./commands";
import { EXIT, ProblemsFound, UsageError, type CliCommand } from "./command";

const EXIT_CODES = `Exit codes: 0 ok, 1 problems found (config errors, a host down or drifting), 2 bad command line,
            3 a bug in gpu-fleet (FLEET_DEBUG=1 shows where).`;

const EPILOG = `
Stacks: -s <name> reads stacks/Pulumi.<name>.yaml, as Pulumi names stacks; a path to a file works too.
Output: with --json a command prints only JSON on stdout; messages go to stderr.
${EXIT_CODES}`;

export function program(done: (code: number) => void, commands: readonly CliCommand[] = COMMANDS): Command {
  const root = new Command("gpu-fleet")
    .description("Plan, review and watch a GPU inference fleet run by Pulumi.")
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError("(add --help for the options)")
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
    })
    .addHelpText("after", EPILOG)
    .helpCommand("help [command]", "show the help of a command");
  for (const command of commands) command.define(root, done);
  for (const command of root.commands) command.addHelpText("after", `\n${EXIT_CODES}`);
  return root;
}

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
export async function main(argv: string[], commands: readonly CliCommand[] = COMMANDS): Promise<number> {
  let code: number = EXIT.ok;
  const root = program((c) => {
    code = c;
  }, commands);
  let commandName = "gpu-fleet";
  root.hook("preAction", (_root, action) => {
    commandName = `gpu-fleet ${action.name()}`;
  });
  try {
    await root.parseAsync(argv, { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help asked for is success; help shown for a missing command and every parse error are usage.
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" ? EXIT.ok : EXIT.usage;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${commandName}: ${message}\n`);
    if (error instanceof UsageError) return EXIT.usage;
    if (error instanceof ProblemsFound) return EXIT.problems;
    if (process.env.FLEET_DEBUG === "1" && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    else process.stderr.write(`${commandName}: this is a bug in gpu-fleet; FLEET_DEBUG=1 shows where.\n`);
    return EXIT.bug;
  }
}

/** For scripts/<tool>.ts run directly (node --import tsx scripts/plan.ts ...): the same as gpu-fleet <tool>. */
export function runAsScript(command: string): void {
  void main([command, ...process.argv.slice(2)]).then((code) => {
    process.exitCode = code;
  });
}
