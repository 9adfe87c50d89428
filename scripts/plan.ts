// npm run plan -- <stack name | path to a stack file> [--json]
// Validates a stack and prints what the fleet will look like. Needs no credentials and no Pulumi CLI.

import { planConfig } from "../components/core/pipeline";
import { planJson, planTable } from "../components/core/report";
import { loadStack, runCli, UsageError } from "./lib/stack";

const USAGE = `usage: npm run plan -- <stack name | path to a stack file> [--json]

Validates the stack config and prints, per host, the GPUs with VRAM used/total and MPS, CPU threads
used/usable, RAM used/total and every worker. Exits 1 when the config has errors, listing them all.
  <stack>   a name under stacks/ (hetzner-gpu reads stacks/Pulumi.hetzner-gpu.yaml) or a file path
  --json    print {hosts, errors, warnings} as JSON instead of the table`;

runCli("plan", (argv) => {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const json = argv.includes("--json");
  const positional = argv.filter((a) => a !== "--json");
  const unknown = positional.filter((a) => a.startsWith("-"));
  if (unknown.length > 0 || positional.length !== 1) {
    throw new UsageError(`${unknown.length > 0 ? `unknown option ${unknown[0]}` : "name one stack"}\n${USAGE}`);
  }
  const stack = loadStack(positional[0]);
  const result = planConfig(stack.document, stack.diagnostics);
  if (json) process.stdout.write(`${JSON.stringify(planJson(result), null, 2)}\n`);
  else process.stdout.write(`stack ${stack.name} (${stack.path})\n\n${planTable(result)}\n`);
  return result.errors.length > 0 ? 1 : 0;
});
