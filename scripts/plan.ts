// gpu-fleet plan -s <stack> [--json] (npm run plan -- <stack> [--json]); options in cli/plan.ts.
// Validates a stack and prints what the fleet will look like. Needs no credentials and no Pulumi CLI.

import { planConfig } from "../components/core/pipeline";
import { planJson, planTable } from "../components/core/report";
import { loadStack } from "./lib/stack";

export function plan(opts: { stack: string; json: boolean }): number {
  const stack = loadStack(opts.stack);
  const result = planConfig(stack.document, stack.diagnostics);
  if (opts.json) process.stdout.write(`${JSON.stringify(planJson(result), null, 2)}\n`);
  else process.stdout.write(`stack ${stack.name} (${stack.path})\n\n${planTable(result)}\n`);
  return result.errors.length > 0 ? 1 : 0;
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("plan"));
