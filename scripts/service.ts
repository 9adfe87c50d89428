// gpu-fleet service start|stop <service> --host <host> -s <stack> [--replica N] [--identity FILE]
// (npm run service -- ...).
// Starts or stops a manual service's workers on one host (docs/timeshare.md), over SSH with the host's
// pinned key. `start` refuses when the GPU has no room for the worker's VRAM lease, naming who holds
// the VRAM; the worker itself takes its lease when it loads, so two loads never collide.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describeLease, parseLeaseListing, type LeaseEntry } from "../components/core/leases";
import { formatDiagnostic, planConfig } from "../components/core/pipeline";
import type { HostPlan, WorkerPlan } from "../components/core/planner";
import type { HostSpec } from "../components/core/schema";
import { knownHostsLines, type HostKeySetting } from "../components/core/ssh-keys";
import { loadStack, REPO_ROOT, UsageError } from "./lib/stack";

export const USAGE = `usage: gpu-fleet service start|stop <service> --host <host> -s <stack> [--replica N] [--identity FILE]
       (npm run service -- start|stop ...)

Starts or stops the workers of a manual service (residency: manual) on one host, over SSH with the
host's pinned key (hosts.<host>.ssh.hostKey). start refuses when the GPU cannot lease the worker's
VRAM now, and says who holds it; stop drains the worker (its drainSeconds) and stops it.
  -s, --stack a name under stacks/ or a stack file
  --replica   one replica (default: every replica of the service on the host)
  --identity  private key file for ssh (default: ssh's own, or the ssh-agent)
Exit: 0 done (or already so), 1 refused or failed, 2 bad command line.`;

interface Args {
  readonly action: "start" | "stop";
  readonly service: string;
  readonly host: string;
  readonly stack: string;
  readonly replica?: number;
  readonly identity?: string;
}

function parseArgs(argv: readonly string[]): Args {
  const positional: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (["--host", "--stack", "-s", "--replica", "--identity"].includes(a)) {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("-")) throw new UsageError(`${a} needs a value\n${USAGE}`);
      options.set(a === "-s" ? "--stack" : a, value);
      i++;
    } else if (a.startsWith("-")) {
      throw new UsageError(`unknown option ${a}\n${USAGE}`);
    } else positional.push(a);
  }
  const [action, service, ...rest] = positional;
  if (action !== "start" && action !== "stop") throw new UsageError(`say start or stop${action === undefined ? "" : `, not '${action}'`}\n${USAGE}`);
  if (service === undefined || rest.length > 0) throw new UsageError(`name one service\n${USAGE}`);
  const host = options.get("--host");
  const stack = options.get("--stack");
  if (host === undefined) throw new UsageError(`--host is missing\n${USAGE}`);
  if (stack === undefined) throw new UsageError(`-s <stack> is missing\n${USAGE}`);
  const replicaText = options.get("--replica");
  if (replicaText !== undefined && !/^[1-9]\d*$/.test(replicaText)) throw new UsageError(`--replica '${replicaText}' is not a replica number\n${USAGE}`);
  return { action, service, host, stack, replica: replicaText === undefined ? undefined : Number(replicaText), identity: options.get("--identity") };
}

/** A refusal or failure the user can act on: printed as one message, exit 1. */
class Refusal extends Error {}

export interface ServiceTarget {
  readonly host: HostPlan;
  readonly workers: readonly WorkerPlan[];
  readonly ssh: NonNullable<HostSpec["ssh"]>;
}

/** Which workers on which host, and how to reach it. Pure: throws a Refusal naming the fix. */
export function serviceTarget(hosts: readonly HostPlan[], specs: Readonly<Record<string, HostSpec>>, args: Pick<Args, "service" | "host" | "replica">): ServiceTarget {
  const host = hosts.find((h) => h.name === args.host);
  if (host === undefined) throw new Refusal(`no host '${args.host}' in the plan. Hosts: ${hosts.map((h) => h.name).join(", ") || "(none)"}.`);
  const all = host.workers.filter((w) => w.service === args.service);
  if (all.length === 0) {
    const services = [...new Set(host.workers.map((w) => w.service))];
    throw new Refusal(`${args.host} runs no worker of '${args.service}'. Its services: ${services.join(", ") || "(none)"}.`);
  }
  const residency = all[0].residency;
  if (residency !== "manual") {
    const why = residency === "onDemand" ? "it runs always and loads its model on the first job" : "it runs always with its VRAM";
    throw new Refusal(`${args.service} is ${residency}: ${why}. Only manual services are started and stopped by hand; set services.${args.service}.residency: manual for that.`);
  }
  const workers = args.replica === undefined ? all : all.filter((w) => w.replica === args.replica);
  if (workers.length === 0) throw new Refusal(`${args.service} has replicas ${all.map((w) => w.replica).join(", ")} on ${args.host}, not ${args.replica}.`);
  const spec = specs[args.host];
  if (host.kind === "join" || spec?.ssh === undefined) {
    const names = workers.map((w) => `${w.service}-${w.replica}`).join(" ");
    throw new Refusal(`${args.host} is not reached over SSH (${host.kind === "join" ? "it joins by itself" : "a Hetzner Cloud host"}); run 'docker start ${names}' on it, or its stop.`);
  }
  if (!isPinned(spec.ssh.hostKey)) {
    throw new Refusal(`hosts.${args.host}.ssh.hostKey is not pinned: service start|stop only talks to a host whose key it knows. Pin it (npm run keyscan -- <stack> ${args.host}).`);
  }
  if (spec.ssh.jumpHost !== undefined && !isPinned(spec.ssh.jumpHost.hostKey)) {
    throw new Refusal(`hosts.${args.host}.ssh.jumpHost.hostKey is not pinned. Pin it (ssh-keyscan ${spec.ssh.jumpHost.address}).`);
  }
  return { host, workers, ssh: spec.ssh };
}

function isPinned(setting: HostKeySetting | undefined): setting is Extract<HostKeySetting, { mode: "pinned" }> {
  return setting?.mode === "pinned" && setting.keys.length > 0;
}

/** known_hosts lines for the host (and its jump host), each under its own address: the only keys ssh accepts. */
export function knownHosts(ssh: ServiceTarget["ssh"]): string {
  const entry = (address: string, port: number, setting: HostKeySetting | undefined): string =>
    isPinned(setting) ? knownHostsLines(setting.keys, port === 22 ? address : `[${address}]:${port}`) : "";
  return entry(ssh.address, ssh.port, ssh.hostKey) + (ssh.jumpHost === undefined ? "" : entry(ssh.jumpHost.address, ssh.jumpHost.port, ssh.jumpHost.hostKey));
}

/** The ssh command line (no secret in it: the key is a file or the agent). */
export function sshArgv(ssh: ServiceTarget["ssh"], knownHostsFile: string, identity: string | undefined, remote: readonly string[]): string[] {
  const argv = [
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${knownHostsFile}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=15",
    "-p", String(ssh.port),
  ];
  if (identity !== undefined) argv.push("-i", identity, "-o", "IdentitiesOnly=yes");
  if (ssh.jumpHost !== undefined) argv.push("-J", `${ssh.jumpHost.user}@${ssh.jumpHost.address}:${ssh.jumpHost.port}`);
  argv.push(`${ssh.user}@${ssh.address}`, "--", ...remote);
  return argv;
}

/** The script sent on stdin: the lease functions and the service driver, parsed whole before it runs. */
export function remotePayload(): string {
  const lease = readFileSync(resolve(REPO_ROOT, "scripts", "lease", "gpu-lease.sh"), "utf8");
  const driver = readFileSync(resolve(REPO_ROOT, "scripts", "lease", "service-remote.sh"), "utf8");
  return `{\nGPU_LEASE_LIBRARY=1\n${lease}\n${driver}\n}\n`;
}

interface RemoteResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runSsh(argv: readonly string[], input: string): Promise<RemoteResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("ssh", argv, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (e) => reject(new Refusal(`cannot run ssh: ${e.message}. Install the OpenSSH client.`)));
    child.on("close", (code) => resolvePromise({ code: code ?? 255, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** What one worker's remote run said: the leases it saw and its result word. */
export function parseRemote(stdout: string): { result: string | null; leases: readonly LeaseEntry[] } {
  const lines = stdout.split("\n");
  const result = lines.map((l) => /^result (\S+)$/.exec(l.trim())?.[1]).filter((r): r is string => r !== undefined).pop() ?? null;
  const leaseText = lines.filter((l) => l.startsWith("lease ")).map((l) => l.slice("lease ".length)).join("\n");
  return { result, leases: parseLeaseListing(leaseText).leases };
}

/** The message for a start refused for lack of room. Pure. */
export function noRoomMessage(worker: WorkerPlan, host: HostPlan, leases: readonly LeaseEntry[], nowSeconds: number): string {
  const gpu = host.gpus[worker.gpu ?? 0];
  const used = leases.reduce((n, l) => n + l.mib, 0);
  const holders = leases.length === 0 ? "no one holds a lease" : leases.map((l) => describeLease(l, nowSeconds)).join(", ");
  const idle = leases
    .map((l) => host.workers.find((w) => w.name === l.holder))
    .filter((w): w is WorkerPlan => w !== undefined)
    .map((w) => (w.residency === "onDemand" ? `${w.service} unloads after ${w.env.GPU_FLEET_IDLE_UNLOAD_SECONDS} s without a job` : `npm run service -- stop ${w.service} --host ${host.name}`));
  return (
    `refused: ${worker.name} needs ${worker.vramMiB} MiB of GPU ${gpu.index} (${gpu.name}) on ${host.name}, which has ${gpu.leaseCapacityMiB} MiB for leases; ` +
    `${holders}: ${used} MiB leased, ${gpu.leaseCapacityMiB - used} MiB free. ` +
    `Try again when they release it${idle.length > 0 ? ` (${[...new Set(idle)].join("; ")})` : ""}.`
  );
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const args = parseArgs(argv);
  const stack = loadStack(args.stack);
  const result = planConfig(stack.document, stack.diagnostics);
  if (result.errors.length > 0) {
    process.stderr.write(`service: the stack ${stack.name} has errors; fix them first (npm run plan -- ${args.stack}):\n${result.errors.map(formatDiagnostic).join("\n")}\n`);
    return 1;
  }
  const hostSpecs = (result.spec?.hosts ?? {}) as Readonly<Record<string, HostSpec>>;
  let target: ServiceTarget;
  try {
    target = serviceTarget(result.plan.hosts, hostSpecs, args);
  } catch (error) {
    if (error instanceof Refusal) {
      process.stderr.write(`service: ${error.message}\n`);
      return 1;
    }
    throw error;
  }

  const work = mkdtempSync(join(tmpdir(), "gpu-fleet-service-"));
  const knownHostsFile = join(work, "known_hosts");
  writeFileSync(knownHostsFile, knownHosts(target.ssh), { mode: 0o600 });
  const payload = remotePayload();
  let failed = false;
  try {
    for (const worker of target.workers) {
      const container = `${worker.service}-${worker.replica}`;
      const gpu = worker.gpu === null ? undefined : target.host.gpus[worker.gpu];
      const remoteArgs =
        args.action === "start"
          ? [container, String(worker.gpu ?? 0), String(worker.vramMiB ?? 0), String(gpu?.leaseCapacityMiB ?? 0), worker.leaseDirectory ?? ""]
          : [container, String(worker.drainSeconds)];
      const sudo = target.ssh.user === "root" ? [] : ["sudo", "-n"];
      const remote = [...sudo, "bash", "-s", "--", args.action, ...remoteArgs];
      const r = await runSsh(sshArgv(target.ssh, knownHostsFile, args.identity, remote), payload);
      const { result: word, leases } = parseRemote(r.stdout);
      const where = `${worker.name} (container ${container} on ${target.host.name})`;
      if (r.code === 255 && word === null) {
        const hostKeyProblem = /host key|known_hosts|REMOTE HOST IDENTIFICATION/i.test(r.stderr);
        process.stderr.write(
          `service: cannot reach ${target.host.name} over SSH (${target.ssh.user}@${target.ssh.address}:${target.ssh.port}): ${lastLine(r.stderr)}.` +
            (hostKeyProblem ? ` Its host key is not hosts.${target.host.name}.ssh.hostKey: check it with ssh-keyscan -t ed25519 ${target.ssh.address}.` : " Check the address, the network and that your key is authorized.") +
            "\n",
        );
        failed = true;
        continue;
      }
      if (r.code !== 0 || word === null) {
        process.stderr.write(`service: ${args.action} ${where} failed on the host (exit ${r.code}): ${lastLine(r.stderr) || "no output"}.\n`);
        failed = true;
        continue;
      }
      switch (word) {
        case "started":
          process.stdout.write(`${where}: started; it takes its ${worker.vramMiB} MiB lease on GPU ${worker.gpu} when it loads\n`);
          break;
        case "running":
          process.stdout.write(`${where}: already running\n`);
          break;
        case "stopped":
          process.stdout.write(`${where}: stopped (drained up to ${worker.drainSeconds} s); its lease is released\n`);
          break;
        case "exited":
          process.stdout.write(`${where}: already stopped\n`);
          break;
        case "no-room":
          process.stderr.write(`service: ${noRoomMessage(worker, target.host, leases, Date.now() / 1000)}\n`);
          failed = true;
          break;
        case "missing":
          process.stderr.write(`service: ${where} does not exist. Run \`npx pulumi up\` (or join-fleet.sh) to create it.\n`);
          failed = true;
          break;
        default:
          process.stderr.write(`service: ${where}: unexpected answer '${word}' from the host.\n`);
          failed = true;
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return (lines[lines.length - 1] ?? "").replace(/\.$/, "");
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("service"));
