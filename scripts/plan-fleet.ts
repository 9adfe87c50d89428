// gpu-fleet plan-fleet <shared stack> <group stack>... [--json] (npm run plan-fleet -- <shared stack> <group stack>...)
// Plans every stack of a fleet split over several stacks, offline, and checks what spans them:
// one shared stack that every group names, the same tags and Redis, no host or address in two
// stacks, and each service's workers across all stacks at or above its minimum. See docs/scale.md.

import { planConfig } from "../components/core/pipeline";
import { checkSplitFleet, type SplitStack } from "../components/core/split";
import { loadStack, UsageError } from "./lib/stack";

const USAGE = `usage: gpu-fleet plan-fleet <shared stack> <group stack>... [--json]
       npm run plan-fleet -- <shared stack> <group stack>... [--json]

Stack names under stacks/ or paths to stack files. Exits 1 when any stack, or the fleet across them, has errors.
  --json    print {stacks: [{name, hosts, workers}], errors: [{stack, message}], warnings: [...]}`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const json = argv.includes("--json");
  const names = argv.filter((a) => a !== "--json");
  if (names.length < 2 || names.some((n) => n.startsWith("-"))) throw new UsageError(`name the shared stack and at least one group stack\n${USAGE}`);
  const stacks: SplitStack[] = names.map((n) => {
    const stack = loadStack(n);
    const result = planConfig(stack.document, stack.diagnostics);
    return { name: stack.name, spec: result.spec, plan: result.plan, diagnostics: [...result.errors, ...result.warnings] };
  });
  const diagnostics = checkSplitFleet(stacks);
  const errors = diagnostics.filter((d) => d.severity === "error");
  const warnings = diagnostics.filter((d) => d.severity === "warning");
  const summary = stacks.map((s) => ({ name: s.name, role: s.spec?.split?.role ?? null, hosts: s.plan.hosts.length, workers: s.plan.hosts.reduce((n, h) => n + h.workers.length, 0) }));
  if (json) {
    process.stdout.write(`${JSON.stringify({ stacks: summary, errors, warnings }, null, 2)}\n`);
  } else {
    for (const s of summary) process.stdout.write(`${s.name} (${s.role ?? "no split"}): ${s.hosts} hosts, ${s.workers} workers\n`);
    for (const d of [...errors, ...warnings]) process.stdout.write(`${d.severity === "error" ? "✗" : "!"} ${d.stack === null ? "fleet" : d.stack}: ${d.message}\n`);
    process.stdout.write(errors.length === 0 ? `✓ the fleet plans across ${stacks.length} stacks\n` : `${errors.length} error${errors.length === 1 ? "" : "s"}\n`);
  }
  return errors.length === 0 ? 0 : 1;
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("plan-fleet"));
