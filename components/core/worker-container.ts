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
