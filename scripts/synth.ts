// gpu-fleet synth -s <stack> [--json] (npm run synth -- <stack> [--json]); options in cli/synth.ts.
// Runs the real program under mocks and prints every resource with its type, name, parent, inputs
// and (with --json) the resource options the program set.

import { loadStack } from "./lib/stack";
import { renderSynth, resourceOptions, synthesize } from "./lib/synth";

export async function synth(opts: { stack: string; json: boolean }): Promise<number> {
  const stack = loadStack(opts.stack);
  const result = await synthesize(stack);
  if (!result.ok) {
    process.stderr.write(`synth: ${result.error}\n`);
    return 1;
  }
  if (opts.json) {
    const resources = result.resources.map((r) => ({ type: r.type, name: r.name, parent: r.parent, inputs: r.inputs, options: resourceOptions(r) }));
    process.stdout.write(`${JSON.stringify({ resources }, null, 2)}\n`);
  } else {
    process.stdout.write(`${renderSynth(result.resources)}\n`);
  }
  return 0;
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("synth"));
