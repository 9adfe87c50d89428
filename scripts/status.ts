// gpu-fleet status -s <stack> [--via tailnet|address] [--json] [--watch]; options in cli/status.ts.
// Looks at every host of the stack at once, over SSH with its pinned host key, and compares what it
// finds with the plan: GPUs and their processes, MPS, worker containers, roles, tailnet, Redis.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { planConfig } from "../components/core/pipeline";
import type { HostPlan } from "../components/core/planner";
import { diagnosticLines } from "../components/core/report";
import { planRoles, roleContext, ROLE_LIBRARY } from "../components/core/roles";
import type { FleetSpec } from "../components/core/schema";
import { parseKnownHosts, runOverSsh, sshFailure, type SshOptions } from "./lib/ssh";
import { targetOf } from "./lib/ssh-target";
import { loadStack, REPO_ROOT } from "./lib/stack";
import { evaluate, inspectTemplate, plannedEnvNames, statusJson, statusTable, unreachable, type HostDetails, type HostStatus } from "./lib/status";

export interface StatusOptions {
  readonly stack: string;
  readonly via: "tailnet" | "address";
  readonly json: boolean;
  /** Seconds between refreshes, or undefined for one look. */
  readonly watch?: number;
  /** Per-host deadline in seconds. */
  readonly timeout: number;
  readonly identity?: string;
  readonly sshConfig?: string;
  /** known_hosts file with keys of hosts the stack does not pin (e.g. Hetzner Cloud servers). */
  readonly knownHosts?: string;
}

const PROBE = join(REPO_ROOT, "scripts", "status-probe.sh");

export async function status(opts: StatusOptions): Promise<number> {
  const stack = loadStack(opts.stack);
  const result = planConfig(stack.document, stack.diagnostics);
  if (result.spec === undefined) {
    for (const line of diagnosticLines(result.errors, result.warnings)) process.stderr.write(`${line}\n`);
    process.stderr.write(`stack ${stack.name} (${stack.path}) has errors; fix them before asking the hosts.\n`);
    return 1;
  }
  const spec = result.spec;
  const extraKeys = opts.knownHosts === undefined ? [] : parseKnownHosts(readFileSync(opts.knownHosts, "utf8"));
  const fleet = `${projectName()}-${stack.name}`;
  const colour = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
  for (;;) {
    const hosts = await Promise.all(result.plan.hosts.map((host) => lookAt(host, spec, fleet, extraKeys, opts)));
    const code = hosts.every((h) => h.status.reachable && h.status.drift.length === 0) ? 0 : 1;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(statusJson(hosts.map((h) => h.status)), null, opts.watch === undefined ? 2 : undefined)}\n`);
    } else {
      const clear = opts.watch !== undefined && process.stdout.isTTY === true ? "\u001b[2J\u001b[H" : "";
      const header = `stack ${stack.name}, ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}, via ${opts.via}`;
      process.stdout.write(`${clear}${header}\n\n${statusTable(hosts, colour)}\n`);
    }
    if (opts.watch === undefined) return code;
    await new Promise((resolve) => setTimeout(resolve, opts.watch! * 1000));
  }
}

async function lookAt(host: HostPlan, spec: FleetSpec, fleet: string, extraKeys: ReturnType<typeof parseKnownHosts>, opts: StatusOptions): Promise<{ status: HostStatus; details: HostDetails | null }> {
  const target = targetOf(host, spec, extraKeys, opts.via);
  if (typeof target === "string") return { status: unreachable(host.name, target), details: null };
  const sshOptions: SshOptions = {
    connectTimeoutSeconds: Math.max(1, Math.min(5, Math.floor(opts.timeout / 2))),
    deadlineMs: opts.timeout * 1000,
    identityFile: opts.identity,
    configFile: opts.sshConfig,
  };
  const args = [fleet, spec.redis.host, String(spec.redis.port), inspectTemplate(plannedEnvNames(host))];
  const run = await runOverSsh(target, readFileSync(PROBE, "utf8"), args, sshOptions);
  if (run.timedOut || run.code === 255) return { status: unreachable(host.name, sshFailure(run, sshOptions.deadlineMs)), details: null };
  if (!/^@@end$/m.test(run.stdout)) {
    return { status: unreachable(host.name, `the status probe stopped early (exit ${String(run.code)}): ${sshFailure(run, sshOptions.deadlineMs)}`), details: null };
  }
  const roleScripts = host.kind === "join" ? {} : roleHashes(host, spec);
  return evaluate({ host, tags: roleContext(spec, host).tags, redis: spec.redis, roleScripts }, run.stdout);
}

function roleHashes(host: HostPlan, spec: FleetSpec): Record<string, string> {
  const hash = (file: string): string => createHash("sha256").update(readFileSync(join(REPO_ROOT, "scripts", "roles", file))).digest("hex");
  const files = [...new Set([ROLE_LIBRARY, ...planRoles(host, roleContext(spec, host)).map((r) => `${r.role}.sh`)])];
  return Object.fromEntries(files.map((f) => [f, hash(f)]));
}

function projectName(): string {
  const match = /^name:\s*(\S+)/m.exec(readFileSync(join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
  return match?.[1] ?? "gpu-fleet";
}


if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("status"));
