// gpu-fleet join-plan -s <stack> <host> [--out FILE] (npm run join-plan -- <stack> <host>); options in cli/join-plan.ts.
// Plans one host of a stack for scripts/join-fleet.sh: the roles to run on it, in order, with their
// parameters, and its worker containers under the same contract as the Pulumi deployment
// (components/Workers.ts). The planner is the one source of truth; this only serialises it.
// The plan holds no secret values: it names the config keys whose values the machine's owner passes
// to join-fleet.sh as files. See docs/join-fleet.md.

import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";
import { planConfig } from "../components/core/pipeline";
import { diagnosticLines } from "../components/core/report";
import type { HostPlan, WorkerPlan } from "../components/core/planner";
import { planRoles, roleContext, type RoleName } from "../components/core/roles";
import { dockerRunFlags, workerContainer, type WorkerContainerSettings } from "../components/core/worker-container";
import type { FleetSpec } from "../components/core/schema";
import { loadStack, REPO_ROOT, UsageError } from "./lib/stack";

export const JOIN_PLAN_VERSION = 1;

export interface JoinPlanRole {
  readonly role: RoleName;
  /** Non-secret FLEET_* parameters, exactly as planRoles gives them. */
  readonly env: Readonly<Record<string, string>>;
  /** The role reads the Tailscale auth key on stdin (join-fleet.sh --auth-key-file). */
  readonly authKeyOnStdin: boolean;
  /** The role may schedule a reboot (managed NVIDIA driver). */
  readonly mayReboot: boolean;
}

export interface JoinPlanWorker {
  /** Fleet-unique worker name, `<host>-<service>-<replica>`; the container's hostname. */
  readonly name: string;
  /** `<service>-<replica>`, as the Pulumi deployment names the container. */
  readonly containerName: string;
  readonly service: string;
  readonly replica: number;
  readonly image: string;
  /** Worker contract and service env, no secrets. REDIS_URL and secretEnv are added on the host. */
  readonly env: Readonly<Record<string, string>>;
  /** Env var → config key whose secret value the host passes as a file (`--secret KEY=FILE`). */
  readonly secretEnv: Readonly<Record<string, string>>;
  readonly device: WorkerPlan["device"];
  readonly threads: number;
  readonly gpu: number | null;
  readonly mps: boolean;
  /** The MPS pipe directory to mount (same path inside), or null when the worker is no MPS client. */
  readonly pipeDirectory: string | null;
  /** manual workers are created stopped (`docker create`) and started by an operator; docs/timeshare.md. */
  readonly residency: WorkerPlan["residency"];
  /** The VRAM lease directory to mount (same path inside), for onDemand and manual workers. */
  readonly leaseDirectory: string | null;
  readonly user: number;
  readonly memoryMiB: number;
  readonly cpuSet: string | null;
  readonly command: readonly string[] | null;
  readonly healthcheck: WorkerPlan["healthcheck"];
  readonly stopSignal: string;
  readonly drainSeconds: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Privileges and limits, the same settings components/Workers.ts gives the container. */
  readonly container: WorkerContainerSettings;
  /**
   * The `docker run` flags of `container`, the GPU, init, stop signal and health check, from
   * dockerRunFlags (the one mapping; check-image and tune use it too). join-fleet.sh passes them as given.
   */
  readonly runFlags: readonly string[];
}

export interface JoinPlan {
  readonly version: typeof JOIN_PLAN_VERSION;
  /** `<project>-<stack>`, as the Pulumi program labels containers. */
  readonly fleet: string;
  readonly host: string;
  readonly roles: readonly JoinPlanRole[];
  readonly workers: readonly JoinPlanWorker[];
  /** Config keys whose values the host needs as files: redisUrl first, then the workers' secrets. */
  readonly secrets: readonly string[];
}

/** The join plan of one planned host. Pure. */
export function joinPlan(spec: FleetSpec, host: HostPlan, fleet: string): JoinPlan {
  // A joining machine enrolls itself: the tailscale role runs locally with the key from a file.
  const roles = planRoles(host, roleContext(spec, host)).map((step) => ({ role: step.role, env: step.env, authKeyOnStdin: step.authKeyOnStdin, mayReboot: step.mayReboot }));
  const workers = host.workers.map((w) => joinWorker(w, host, fleet));
  const secretKeys = workers.flatMap((w) => Object.values(w.secretEnv));
  return {
    version: JOIN_PLAN_VERSION,
    fleet,
    host: host.name,
    roles,
    workers,
    secrets: [spec.redisUrl.secret, ...[...new Set(secretKeys)].filter((k) => k !== spec.redisUrl.secret).sort()],
  };
}

function joinWorker(w: WorkerPlan, host: HostPlan, fleet: string): JoinPlanWorker {
  return {
    name: w.name,
    containerName: `${w.service}-${w.replica}`,
    service: w.service,
    replica: w.replica,
    image: w.image,
    env: w.env,
    secretEnv: Object.fromEntries(Object.entries(w.secretEnv).map(([env, ref]) => [env, ref.secret])),
    device: w.device,
    threads: w.threads,
    gpu: w.gpu,
    mps: w.mps,
    pipeDirectory: w.mps ? host.mps.pipeDirectory : null,
    residency: w.residency,
    leaseDirectory: w.leaseDirectory,
    user: w.user,
    memoryMiB: w.ramMiB,
    cpuSet: w.cpuSet,
    command: w.command,
    healthcheck: w.healthcheck,
    stopSignal: w.stopSignal,
    drainSeconds: w.drainSeconds,
    // The same labels as components/Workers.ts; join-fleet.sh adds its spec hash.
    labels: {
      "gpu-fleet.fleet": fleet,
      "gpu-fleet.host": host.name,
      "gpu-fleet.service": w.service,
      "gpu-fleet.replica": String(w.replica),
      "gpu-fleet.gpu": w.gpu === null ? "cpu" : String(w.gpu),
    },
    container: workerContainer(w, host),
    runFlags: dockerRunFlags(w, host),
  };
}

/** The Pulumi project name from Pulumi.yaml, so labels match `<project>-<stack>` of the program. */
function projectName(): string {
  const doc = parse(readFileSync(resolve(REPO_ROOT, "Pulumi.yaml"), "utf8")) as { name?: unknown } | null;
  return typeof doc?.name === "string" ? doc.name : "gpu-fleet";
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("join-plan"));

export function joinPlanCommand(args: { stack: string; host: string; out?: string }): number {
  const stack = loadStack(args.stack);
  const result = planConfig(stack.document, stack.diagnostics);
  // Diagnostics as `gpu-fleet plan` prints them, on stderr: stdout carries only the JSON.
  if (result.spec === undefined) {
    for (const line of diagnosticLines(result.errors, result.warnings)) process.stderr.write(`${line}\n`);
    process.stderr.write(`stack ${stack.name} (${stack.path}): ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}; no join plan written.\n`);
    return 1;
  }
  for (const line of diagnosticLines([], result.warnings)) process.stderr.write(`${line}\n`);
  const host = result.plan.hosts.find((h) => h.name === args.host);
  if (host === undefined) {
    const known = result.plan.hosts.map((h) => h.name);
    throw new UsageError(`stack ${stack.name} has no host '${args.host}'. Hosts: ${known.length > 0 ? known.join(", ") : "none"}.`);
  }
  if (host.kind !== "join") {
    // Pulumi deploys this host's roles and containers: join-fleet.sh on it would manage the same
    // containers a second way, and the next `pulumi up` would fight it.
    const joinHosts = result.plan.hosts.filter((h) => h.kind === "join").map((h) => h.name);
    throw new UsageError(
      `host '${host.name}' of stack ${stack.name} is an ${host.kind} host: \`pulumi up\` sets it up and runs its workers, so join-fleet.sh must not. ` +
        `To let it join by itself, replace its \`${host.kind}:\` block with \`join: {}\` in hosts.${host.name}, run \`npx pulumi up\`, then join-plan again. ` +
        `Join hosts of ${stack.name}: ${joinHosts.length > 0 ? joinHosts.join(", ") : "none"}.`,
    );
  }
  const text = `${JSON.stringify(joinPlan(result.spec, host, `${projectName()}-${stack.name}`), null, 2)}\n`;
  if (args.out === undefined) {
    process.stdout.write(text);
  } else {
    writeFileSync(args.out, text);
    process.stderr.write(`join plan of ${host.name} (${host.workers.length} workers) written to ${args.out}\n`);
  }
  return 0;
}
