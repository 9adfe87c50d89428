// One measured run for the benchmark, in its own process so memory is its own:
//   bench-child plan <stack file>           plans it
//   bench-child synth <stack file>          synthesizes and renders it, as `npm run synth` does
//   bench-child diff <before> <after>       synthesizes both in parallel child processes and diffs, as `npm run diff` does
// prints {ms, cpuMs, maxRssMiB, hosts, resources, changes} as JSON.

// Each mode loads only what its command loads (diff's parent process never loads the Pulumi SDK).
import { loadStack, REPO_ROOT, runCli } from "./stack";

runCli("bench", async ([what, file, other]) => {
  const start = process.hrtime.bigint();
  let hosts = 0;
  let resources = 0;
  let changes = 0;
  if (what === "plan") {
    const { planConfig } = await import("../../components/core/pipeline");
    const stack = loadStack(file);
    const result = planConfig(stack.document, stack.diagnostics);
    if (result.errors.length > 0) throw new Error(`the generated stack has errors: ${result.errors[0].message}`);
    hosts = result.plan.hosts.length;
  } else if (what === "synth") {
    const { renderSynth, synthesize } = await import("./synth");
    const result = await synthesize(loadStack(file));
    if (!result.ok) throw new Error(result.error);
    renderSynth(result.resources);
    resources = result.resources.length;
    hosts = result.resources.filter((r) => r.type === "gpu-fleet:index:Host").length;
  } else if (what === "diff") {
    const { diffResources, renderDiff } = await import("./resource-diff");
    const { synthInChild } = await import("./synth-sides");
    const [before, after] = await Promise.all([synthInChild(REPO_ROOT, file), synthInChild(REPO_ROOT, other)]);
    if (!before.ok || !after.ok) throw new Error("a side of the diff does not plan");
    const diff = diffResources(before.resources, after.resources);
    renderDiff(diff);
    changes = diff.length;
    resources = after.resources.length;
  } else {
    throw new Error(`unknown measurement '${what}'`);
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const usage = process.resourceUsage();
  process.stdout.write(JSON.stringify({ ms: Math.round(ms), cpuMs: Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000), maxRssMiB: Math.round(usage.maxRSS / 1024), hosts, resources, changes }));
  return 0;
});
