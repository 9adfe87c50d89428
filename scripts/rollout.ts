// gpu-fleet rollout <stack> (npm run rollout -- <stack>) [--from <old stack file>] [--down <host>]... [--parallel N] [--stop-on-error] [--json]
// Simulates the `pulumi up` of a change on a clock, from the real program's resource graph (under
// mocks): each service's running workers at every moment, hosts blocked by a down host, when each
// host finished, the total time. How a reviewer answers "will this change keep capacity?" before `up`.

import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { DEFAULT_ROLLOUT_TIMES, renderRollout, simulateRollout, type RolloutTimes, type SimulationOptions } from "./lib/rollout-sim";
import { loadStack, REPO_ROOT, resolveStackPath, UsageError } from "./lib/stack";
import type { SynthResult } from "./lib/synth";

const USAGE = `usage: gpu-fleet rollout [-s] <stack> [--from <old stack file>] [--down <host>]... [--parallel N] [--stop-on-error] [--json]

Simulates the pulumi up that takes the fleet from --from (an older version of the stack file) to
<stack>. Without --from: every worker container is replaced, as a new image for every service would.
  --down <host>      the host does not answer SSH (repeatable): its steps fail after its dial
                     timeout × attempts (hosts.<name>.connect)
  --parallel N       the engine's parallelism (pulumi up --parallel; default 4 × CPUs, as Pulumi's)
  --stop-on-error    model plain pulumi up, which starts no step after the first failure; the
                     default models pulumi up --continue-on-error, as docs/rollouts.md advises
  --json             {"services": {"<name>": {"workers", "minRunning", "maxUnavailable"}},
                      "blocked": [...], "hosts": {"<name>": {"completed"}}, "durationSeconds"}
Step durations: defaults.rolloutTimes in the stack (docs/rollouts.md, "Simulate a rollout").`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let from: string | undefined;
  let parallel = availableParallelism() * 4;
  let json = false;
  let continueOnError = true;
  const down: string[] = [];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === "-s" || arg === "--stack") positional.push(value());
    else if (arg === "--from") from = value();
    else if (arg === "--down") down.push(value());
    else if (arg === "--parallel") {
      const v = value();
      parallel = Number(v);
      if (!/^\d+$/.test(v) || parallel < 1) throw new UsageError(`--parallel must be a whole number of at least 1, not '${v}'`);
    } else if (arg === "--json") json = true;
    else if (arg === "--stop-on-error") continueOnError = false;
    else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}\n${USAGE}`);
    else positional.push(arg);
  }
  if (positional.length !== 1) throw new UsageError(`name one stack\n${USAGE}`);
  const stack = loadStack(positional[0]);
  const after = synthIn(stack.path, stack.name);
  const before = from === undefined ? null : synthIn(resolveStackPath(from), stack.name);
  for (const [side, result] of [["the stack", after], ["--from", before]] as const) {
    if (result !== null && !result.ok) {
      process.stderr.write(`rollout: ${side} does not plan:\n${result.error}\n`);
      return 1;
    }
  }
  if (!after.ok || (before !== null && !before.ok)) return 1;
  const hostNames = new Set(after.resources.map((r) => r.host).filter((h) => h !== null));
  for (const h of down) if (!hostNames.has(h)) throw new UsageError(`--down ${h}: no such host in ${stack.name} (hosts: ${[...hostNames].join(", ")})`);

  const options: SimulationOptions = { down, parallel, continueOnError, times: rolloutTimes(stack.document.values.defaults) };
  const result = simulateRollout(before === null ? null : before.resources, after.resources, options);
  if (json) {
    const services = Object.fromEntries(Object.entries(result.services).map(([k, s]) => [k, { workers: s.workers, minRunning: s.minRunning, maxUnavailable: s.maxUnavailable }]));
    const hosts = Object.fromEntries(Object.entries(result.hosts).map(([k, h]) => [k, { completed: h.completed }]));
    process.stdout.write(`${JSON.stringify({ services, blocked: result.blocked, hosts, durationSeconds: result.durationSeconds }, null, 2)}\n`);
  } else {
    process.stdout.write(`${renderRollout(result, options)}\n`);
  }
  return 0;
}

/** defaults.rolloutTimes of the stack over the documented defaults (the schema has checked them). */
function rolloutTimes(defaults: unknown): RolloutTimes {
  const given = (defaults as { rolloutTimes?: Partial<RolloutTimes> } | undefined)?.rolloutTimes ?? {};
  return { ...DEFAULT_ROLLOUT_TIMES, ...given };
}

function synthIn(stackFile: string, stackName: string): SynthResult {
  const child = spawnSync(process.execPath, ["--import", "tsx", resolve(REPO_ROOT, "scripts/lib/synth-child.ts"), REPO_ROOT, stackFile, stackName], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`synthesizing ${stackFile} failed: ${child.stderr.trim()}`);
  return JSON.parse(child.stdout) as SynthResult;
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("rollout"));
