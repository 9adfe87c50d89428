// What check-image and tune share: reading the stack, finding the service's worker on a host, and
// their command-line parsing. The worker is the planner's, so its env and settings are the fleet's.

import { formatDiagnostic, planConfig, type PipelineResult } from "../../components/core/pipeline";
import type { HostPlan, WorkerPlan } from "../../components/core/planner";
import type { FleetSpec, ServiceSpec } from "../../components/core/schema";
import { readFileSync } from "node:fs";
import { loadStack, UsageError, type LoadedStack } from "./stack";
import type { RemoteOptions } from "./docker-over-ssh";
import { parseKnownHosts, type SshTarget } from "./ssh";
import { targetOf } from "./ssh-target";

export interface Target {
  readonly stack: LoadedStack;
  readonly result: PipelineResult;
  readonly spec: FleetSpec;
  readonly service: ServiceSpec;
  readonly host: HostPlan;
  /** The first worker of the service on the host: its env and settings are every replica's. */
  readonly worker: WorkerPlan;
}

/** A problem with the stack or the names given: printed as is, exit 1. */
export class TargetError extends Error {}

/** Plans the stack and finds `service` on `host` (or on the first host that runs it). */
export function findTarget(tool: string, stackName: string, serviceName: string, hostName: string | undefined): Target {
  const stack = loadStack(stackName);
  const result = planConfig(stack.document, stack.diagnostics);
  if (result.spec === undefined || result.errors.length > 0) {
    throw new TargetError(`the stack ${stack.name} has errors; fix them first (gpu-fleet plan -s ${stackName}):\n${result.errors.map(formatDiagnostic).join("\n")}`);
  }
  const spec = result.spec;
  const service = spec.services[serviceName];
  if (service === undefined) {
    throw new TargetError(`${tool}: no service '${serviceName}' in stack ${stack.name}; services: ${Object.keys(spec.services).join(", ")}.`);
  }
  const runs = result.plan.hosts.filter((h) => h.workers.some((w) => w.service === serviceName));
  let host: HostPlan | undefined;
  if (hostName !== undefined) {
    host = result.plan.hosts.find((h) => h.name === hostName);
    if (host === undefined) throw new TargetError(`${tool}: no host '${hostName}' in stack ${stack.name}; hosts: ${result.plan.hosts.map((h) => h.name).join(", ")}.`);
    if (!runs.includes(host)) {
      throw new TargetError(
        `${tool}: ${hostName} runs no ${serviceName} worker (hosts.${hostName}.workers has none, or 0 replicas); ${runs.length > 0 ? `hosts that do: ${runs.map((h) => h.name).join(", ")}` : `add ${serviceName} to hosts.${hostName}.workers`}.`,
      );
    }
  } else {
    host = runs[0];
    if (host === undefined) throw new TargetError(`${tool}: no host of stack ${stack.name} runs ${serviceName}; add it to a host's workers, then run again.`);
  }
  const worker = host.workers.find((w) => w.service === serviceName);
  if (worker === undefined) throw new TargetError(`${tool}: ${host.name} runs no ${serviceName} worker.`);
  return { stack, result, spec, service, host, worker };
}

/** Splits argv into positionals and `--name value` / `--flag` options; unknown options are usage errors. */
export function parseOptions(argv: readonly string[], valued: readonly string[], flags: readonly string[], usage: string): { positional: string[]; options: Map<string, string>; set: Set<string> } {
  const positional: string[] = [];
  const options = new Map<string, string>();
  const set = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (valued.includes(a)) {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("-")) throw new UsageError(`${a} needs a value\n${usage}`);
      options.set(a === "-s" ? "--stack" : a, value);
      i++;
    } else if (flags.includes(a)) {
      set.add(a);
    } else if (a.startsWith("-")) {
      throw new UsageError(`unknown option ${a}\n${usage}`);
    } else {
      positional.push(a);
    }
  }
  return { positional, options, set };
}

/** A positive whole number option, or the default. */
export function wholeNumber(options: Map<string, string>, name: string, fallback: number, usage: string, min = 1): number {
  const text = options.get(name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError(`${name} '${text}' is not a whole number of at least ${min}\n${usage}`);
  return Number(text);
}

/** How to reach the target's host over SSH (as `gpu-fleet status` does), or why it cannot be. */
export function hostTarget(target: Target, ssh: RemoteOptions, tool: string): SshTarget | string {
  if (target.host.kind === "join") return `${target.host.name} joins by itself (no SSH from here): run ${tool} on it, or add --local to use its settings here`;
  const extraKeys = ssh.knownHosts === undefined ? [] : parseKnownHosts(readFileSync(ssh.knownHosts, "utf8"));
  return targetOf(target.host, target.spec, extraKeys, ssh.via);
}
