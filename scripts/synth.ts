// npm run synth -- <stack name | path to a stack file> [--json]
// Runs the real program under mocks and prints every resource with its type, name, parent and inputs.

import { loadStack, runCli, UsageError } from "./lib/stack";
import { renderSynth, synthesize } from "./lib/synth";

const USAGE = `usage: npm run synth -- <stack name | path to a stack file> [--json]

Runs the Pulumi program under mocks, with no credentials, and prints every resource it would create:
type token, name, parent and inputs. Secrets print as [secret]. Exits 1 when the config has errors.
  --json    print {resources: [{type, name, parent, inputs}]}`;

runCli("synth", async (argv) => {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const json = argv.includes("--json");
  const positional = argv.filter((a) => a !== "--json");
  if (positional.length !== 1 || positional[0].startsWith("-")) throw new UsageError(`name one stack\n${USAGE}`);
  const stack = loadStack(positional[0]);
  const result = await synthesize(stack);
  if (!result.ok) {
    process.stderr.write(`synth: ${result.error}\n`);
    return 1;
  }
  if (json) {
    const resources = result.resources.map(({ type, name, parent, inputs }) => ({ type, name, parent, inputs }));
    process.stdout.write(`${JSON.stringify({ resources }, null, 2)}\n`);
  } else {
    process.stdout.write(`${renderSynth(result.resources)}\n`);
  }
  return 0;
});
