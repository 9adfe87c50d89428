// One measured run for the benchmark: `bench-child <plan|synth> <stack file>` prints
// {ms, maxRssMiB, hosts, resources} as JSON. A process per run, so memory is its own.

import { planConfig } from "../../components/core/pipeline";
import { loadStack, runCli } from "./stack";
import { synthesize } from "./synth";

runCli("bench", async ([what, file]) => {
  const start = process.hrtime.bigint();
  const stack = loadStack(file);
  let hosts = 0;
  let resources = 0;
  if (what === "plan") {
    const result = planConfig(stack.document, stack.diagnostics);
    if (result.errors.length > 0) throw new Error(`the generated stack has errors: ${result.errors[0].message}`);
    hosts = result.plan.hosts.length;
  } else {
    const result = await synthesize(stack);
    if (!result.ok) throw new Error(result.error);
    resources = result.resources.length;
    hosts = result.resources.filter((r) => r.type === "gpu-fleet:index:Host").length;
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(JSON.stringify({ ms: Math.round(ms), maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), hosts, resources }));
  return 0;
});
