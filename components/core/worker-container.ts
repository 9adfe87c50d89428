// The container settings of one worker: privileges and limits. Pure. One source for both paths to a
// worker: components/Workers.ts maps them to docker.Container inputs, and the join plan carries them
// to scripts/join-fleet.sh, which maps them to `docker run` flags. docs/worker-image.md says what a
// worker image must allow under them.

import type { HostPlan, WorkerPlan } from "./planner";

export interface WorkerContainerSettings {
  /** `uid:gid`, never root. A numeric gid too: without one, Docker runs an unknown uid in group 0. */
  readonly user: string;
  readonly noNewPrivileges: true;
  readonly capDrop: readonly ["ALL"];
  readonly capAdd: readonly string[];
  readonly readOnlyRootFs: boolean;
  /** tmpfs mounts (path → mount options); with a read-only root they are the only writable paths. */
  readonly tmpfs: Readonly<Record<string, string>>;
  /** Bind mounts from the host (the MPS pipe directory, the VRAM lease directory), same path inside. The source must exist. */
  readonly binds: readonly { readonly source: string; readonly target: string }[];
  /** Host IPC: MPS clients only (NVIDIA's MPS requires it for clients in containers). */
  readonly ipcHost: boolean;
  /** Hard memory cap in MiB: the service's ramMiB. */
  readonly memoryMiB: number;
  /** memory + swap in MiB: equal to memoryMiB, so a worker gets no swap and is OOM-killed at its cap. */
  readonly memorySwapMiB: number;
  /** CPU quota in CPUs: the threads the planner gave the worker. */
  readonly cpus: number;
  /** Cores the worker is pinned to, or null. */
  readonly cpuSet: string | null;
}

/**
 * A writable path's tmpfs options. Owned by the worker's uid: Docker 20.10 copies the mount point's
 * owner and mode onto the tmpfs when it mounts it again on a restart (tmpcopyup), and a mount point
 * Docker made itself belongs to root with mode 0755, so after a reboot or a daemon restart a worker
 * could not write /tmp any more; `uid`/`gid` hold across restarts (test/host/faults.test.ts, reboot).
 * No `noexec`: PyTorch's compiler builds and loads shared objects under /tmp.
 */
export function tmpfsOptions(uid: number): string {
  return `rw,nosuid,nodev,mode=1777,uid=${uid},gid=${uid}`;
}

/** Seconds the health gate (and check-image) waits for a new container: its healthcheck's whole grace, or 30 s without one. */
export function gateTimeoutSeconds(worker: WorkerPlan): number {
  const h = worker.healthcheck;
  return h === null ? 30 : h.startPeriodSeconds + h.intervalSeconds * (h.retries + 1) + h.timeoutSeconds;
}

export function workerContainer(worker: WorkerPlan, host: Pick<HostPlan, "mps">): WorkerContainerSettings {
  return {
    user: `${worker.user}:${worker.user}`,
    noNewPrivileges: true,
    capDrop: ["ALL"],
    capAdd: [...worker.capAdd].sort(),
    readOnlyRootFs: worker.readOnlyRootFs,
    tmpfs: Object.fromEntries(worker.writablePaths.map((path) => [path, tmpfsOptions(worker.user)])),
    binds: [
      ...(worker.mps ? [{ source: host.mps.pipeDirectory, target: host.mps.pipeDirectory }] : []),
      // onDemand and manual workers take their VRAM leases in the host's lease directory (docs/timeshare.md).
      ...(worker.leaseDirectory === null ? [] : [{ source: worker.leaseDirectory, target: worker.leaseDirectory }]),
    ],
    ipcHost: worker.mps,
    memoryMiB: worker.ramMiB,
    memorySwapMiB: worker.ramMiB,
    cpus: worker.threads,
    cpuSet: worker.cpuSet,
  };
}

/**
 * The `docker run` flags of one worker: what every path that starts a worker with the docker CLI
 * passes (scripts/join-fleet.sh reads them from the join plan, `gpu-fleet check-image` and
 * `gpu-fleet tune` use them directly). Init, stop signal and drain time, the GPU, the privileges and
 * limits of workerContainer, and the health check. Not included, because each caller sets its own:
 * name, hostname, restart policy, env (file), log options, labels, image and command.
 * components/Workers.ts maps the same settings to docker.Container inputs.
 */
export function dockerRunFlags(worker: WorkerPlan, host: Pick<HostPlan, "mps">): string[] {
  const settings = workerContainer(worker, host);
  const flags = ["--init", "--stop-signal", worker.stopSignal, "--stop-timeout", String(worker.drainSeconds)];
  if (worker.gpu !== null) flags.push("--gpus", `device=${worker.gpu}`);
  // A bind mount (not -v) fails when its source is missing instead of creating it as root.
  flags.push("--user", settings.user, "--cap-drop", settings.capDrop.join(","), "--memory", `${settings.memoryMiB}m`, "--memory-swap", `${settings.memorySwapMiB}m`, "--cpus", String(settings.cpus));
  if (settings.noNewPrivileges) flags.push("--security-opt", "no-new-privileges:true");
  for (const cap of settings.capAdd) flags.push("--cap-add", cap);
  if (settings.readOnlyRootFs) flags.push("--read-only");
  for (const [path, options] of Object.entries(settings.tmpfs)) flags.push("--tmpfs", `${path}:${options}`);
  for (const bind of settings.binds) flags.push("--mount", `type=bind,source=${bind.source},target=${bind.target}`);
  if (settings.ipcHost) flags.push("--ipc", "host");
  if (settings.cpuSet !== null) flags.push("--cpuset-cpus", settings.cpuSet);
  const health = worker.healthcheck;
  if (health !== null) {
    // docker run takes the shell form: a CMD list is quoted for /bin/sh.
    const test = health.test;
    const command = typeof test === "string" ? test : test[0] === "CMD-SHELL" ? (test[1] ?? "") : test[0] === "NONE" ? "" : (test[0] === "CMD" ? test.slice(1) : test).map(shellQuote).join(" ");
    if (command === "") {
      flags.push("--no-healthcheck");
    } else {
      flags.push(
        "--health-cmd", command,
        "--health-interval", `${health.intervalSeconds}s`,
        "--health-timeout", `${health.timeoutSeconds}s`,
        "--health-retries", String(health.retries),
        "--health-start-period", `${health.startPeriodSeconds}s`,
      );
    }
  }
  return flags;
}

/** One word for /bin/sh, as jq's @sh quotes it: in single quotes, a quote as '\''. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
