// Workers: the worker containers of one host, exactly as the planner placed them. A Docker provider
// per host over ssh:// on the tailnet, images pulled on the host before any container is replaced,
// one container per planned replica.

import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import type { HostPlan, WorkerPlan } from "./core/planner";
import { shellEnv } from "./core/roles";
import { gateTimeoutSeconds, workerContainer } from "./core/worker-container";
import type { SecretRef } from "./core/schema";

/**
 * Container inputs Docker applies only when it creates a container, which the provider nevertheless
 * updates in place (in state only): not ForceNew in kreuzwerker/terraform-provider-docker
 * internal/provider/resource_docker_container.go, and not among what resourceDockerContainerUpdate
 * changes (restart, max_retry_count, cpu/memory/blkio resources). A change must replace the container
 * to reach it. (wait, waitTimeout, destroyGraceSeconds, logs, start, ... are the provider's own
 * behaviour and need no new container.)
 */
export const CONTAINER_REPLACE_ON_CHANGES: readonly string[] = ["healthcheck", "init", "tmpfs", "cpuPeriod", "cpuQuota"];

export { gateTimeoutSeconds };

export interface WorkersArgs {
  readonly plan: HostPlan;
  /** The fleet's name (project/stack), for labels. */
  readonly fleet: string;
  /** ssh:// address of the host's Docker daemon, by tailnet name. */
  readonly dockerHost: pulumi.Input<string>;
  /** Pinned host keys (`ssh-ed25519 AAAA...`), all accepted; without them (trust-on-first-use), known_hosts accepts a new host once. An hcloud server's is an output (made by the program). */
  readonly hostKeys?: pulumi.Input<readonly string[]>;
  /** Dial timeout and attempts (the host's `connect`), for Docker's ssh as for the roles'. */
  readonly connect?: { readonly timeoutSeconds: number; readonly attempts: number };
  /** REDIS_URL, a secret. */
  readonly redisUrl: pulumi.Input<string>;
  /** Resolves a service's secret env reference to a secret value. */
  readonly secret: (ref: SecretRef) => pulumi.Input<string>;
  /** The roles containers need first: docker, container-toolkit, mps. */
  readonly dependsOn: pulumi.Input<pulumi.Resource>[];
  /**
   * The health gate: a remote command per container, run over this connection (as root through
   * `sudo -n` when `sudo`), with scripts/health-gate.sh on stdin. Without it, no gates (tests of
   * container inputs only).
   */
  readonly gate?: { readonly connection: pulumi.Input<command.types.input.remote.ConnectionArgs>; readonly script: string; readonly sudo: boolean };
  /**
   * The hcloud server's id: a label on every container and a trigger of every image pull, so a new
   * server gets its images and containers, and the engine drains the old containers before it
   * deletes the old server (docs/rollouts.md, "Replacing a server").
   */
  readonly serverId?: pulumi.Input<string>;
  /** Docker json-file log rotation per container. */
  readonly logMaxSize?: string;
  readonly logMaxFile?: number;
}

export class Workers extends pulumi.ComponentResource {
  /** The containers by fleet-unique worker name (`<host>-<service>-<replica>`). */
  public readonly containers: ReadonlyMap<string, docker.Container>;
  /** Each container's health gate, by worker name. */
  public readonly gates: ReadonlyMap<string, command.remote.Command>;
  public readonly provider: docker.Provider;

  constructor(name: string, args: WorkersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gpu-fleet:index:Workers", name, {}, opts);
    const { plan } = args;

    this.provider = new docker.Provider(
      `${name}-docker`,
      {
        host: args.dockerHost,
        sshOpts: args.hostKeys === undefined ? sshOptions(undefined, args.connect) : pulumi.output(args.hostKeys).apply((keys) => sshOptions(keys, args.connect)),
      },
      { parent: this },
    );
    const inHost = { parent: this, provider: this.provider };

    // One pull per image on the host. A new tag is a new RemoteImage, pulled before the containers
    // that use it are replaced; keepLocally leaves the old image for a fast rollback.
    const images = new Map<string, docker.RemoteImage>();
    for (const image of [...new Set(plan.workers.map((w) => w.image))]) {
      images.set(
        image,
        new docker.RemoteImage(
          `${name}-image-${imageSlug(image)}`,
          { name: image, keepLocally: true, triggers: args.serverId === undefined ? undefined : { server: args.serverId } },
          { ...inHost, dependsOn: args.dependsOn },
        ),
      );
    }

    // Rollout lanes are per host (the planner's rolloutAfter names a worker of this host): a worker's
    // container waits for the health gate of the previous worker of its lane. See docs/rollouts.md.
    const containers = new Map<string, docker.Container>();
    const gates = new Map<string, command.remote.Command>();
    for (const worker of plan.workers) {
      const image = images.get(worker.image);
      if (image === undefined) throw new Error(`no image resource for ${worker.image}`);
      const predecessor = worker.rolloutAfter === null ? undefined : (gates.get(worker.rolloutAfter) ?? containers.get(worker.rolloutAfter));
      if (worker.rolloutAfter !== null && predecessor === undefined) throw new Error(`${worker.name}: rollout predecessor ${worker.rolloutAfter} is not an earlier worker of ${plan.name}`);
      const container = new docker.Container(
        `${name}-${worker.service}-${worker.replica}`,
        containerArgs(worker, image.imageId, args),
        {
          ...inHost,
          dependsOn: [...args.dependsOn, image, ...(predecessor === undefined ? [] : [predecessor])],
          // Two versions of a worker never hold the same GPU's memory at once: the old container
          // drains and stops before its replacement starts.
          deleteBeforeReplace: true,
          replaceOnChanges: [...CONTAINER_REPLACE_ON_CHANGES],
        },
      );
      containers.set(worker.name, container);
      // A manual worker is created stopped: there is nothing to gate until an operator starts it.
      if (args.gate !== undefined && worker.residency !== "manual") gates.set(worker.name, healthGate(`${name}-${worker.service}-${worker.replica}-healthy`, worker, container, args.gate, this));
    }
    this.containers = containers;
    this.gates = gates;

    this.registerOutputs({ containers: [...containers.keys()] });
  }
}

/**
 * The health gate of one container: succeeds only when the container is running and healthy now.
 * Its trigger is the container's id, so every new container is checked. A failed create leaves no
 * state (pulumi/pulumi-command provider/pkg/provider/remote/commandController.go Create returns the
 * error; pulumi/pulumi-go-provider infer/resource.go keeps state only for ResourceInitFailedError),
 * so the next `pulumi up` checks again, and fails again while the container is unhealthy.
 */
function healthGate(name: string, worker: WorkerPlan, container: docker.Container, gate: NonNullable<WorkersArgs["gate"]>, parent: pulumi.Resource): command.remote.Command {
  const env = { FLEET_CONTAINER: `${worker.service}-${worker.replica}`, FLEET_GATE_TIMEOUT: String(gateTimeoutSeconds(worker)) };
  return new command.remote.Command(
    name,
    {
      connection: gate.connection,
      create: `${gate.sudo ? "sudo -n " : ""}env ${shellEnv(env)} bash -s`,
      stdin: gate.script,
      triggers: [container.id],
      logging: "stdoutAndStderr",
      addPreviousOutputInEnv: false,
    },
    { parent, dependsOn: [container] },
  );
}

export function containerArgs(worker: WorkerPlan, image: pulumi.Input<string>, args: Pick<WorkersArgs, "fleet" | "plan" | "redisUrl" | "secret" | "logMaxSize" | "logMaxFile" | "serverId">): docker.ContainerArgs {
  const plainEnv = Object.entries(worker.env).map(([key, value]) => `${key}=${value}`);
  const secretEnv = Object.entries(worker.secretEnv).map(([key, ref]) => pulumi.interpolate`${key}=${args.secret(ref)}`);
  const redis = pulumi.interpolate`REDIS_URL=${args.redisUrl}`;
  // Privileges and limits come from the one source join-fleet.sh also applies (core/worker-container).
  const settings = workerContainer(worker, args.plan);
  return {
    name: `${worker.service}-${worker.replica}`,
    hostname: worker.name,
    image,
    // Secrets make the whole list secret in state and in diffs.
    envs: pulumi.all([...plainEnv, redis, ...secretEnv]).apply((envs) => pulumi.secret(envs)),
    command: worker.command === null ? undefined : [...worker.command],
    // A manual worker is created stopped and stays stopped across reboots until an operator starts
    // it (`service start`); the provider leaves a mustRun: false container alone, running or not
    // (terraform-provider-docker v4 internal/provider/resource_docker_container_funcs.go: create
    // starts only when `start`; read turns must_run false only when it was configured true).
    restart: worker.residency === "manual" ? "no" : "unless-stopped",
    start: worker.residency === "manual" ? false : undefined,
    mustRun: worker.residency === "manual" ? false : undefined,
    init: true,
    user: settings.user,
    securityOpts: settings.noNewPrivileges ? ["no-new-privileges:true"] : [],
    capabilities: { drops: [...settings.capDrop], adds: settings.capAdd.length > 0 ? [...settings.capAdd] : undefined },
    readOnly: settings.readOnlyRootFs,
    tmpfs: Object.keys(settings.tmpfs).length > 0 ? { ...settings.tmpfs } : undefined,
    // MiB; memorySwap equal to memory: no swap, so a worker past its cap is OOM-killed.
    memory: settings.memoryMiB,
    memorySwap: settings.memorySwapMiB,
    cpus: String(settings.cpus),
    cpuSet: settings.cpuSet ?? undefined,
    deviceRequests:
      worker.gpu === null ? undefined : [{ driver: "nvidia", deviceIds: [String(worker.gpu)], capabilities: ["gpu"] }],
    // MPS clients reach the host's daemon through its pipe directory and share IPC with the host;
    // onDemand and manual workers take their VRAM leases in the host's lease directory. A bind
    // mount's source must exist when the container starts: systemd-tmpfiles creates both at boot,
    // before Docker (scripts/roles/base.sh, mps.sh).
    mounts: settings.binds.length > 0 ? settings.binds.map((b) => ({ type: "bind", source: b.source, target: b.target })) : undefined,
    ipcMode: settings.ipcHost ? "host" : undefined,
    healthcheck:
      worker.healthcheck === null
        ? undefined
        : {
            tests: typeof worker.healthcheck.test === "string" ? ["CMD-SHELL", worker.healthcheck.test] : [...worker.healthcheck.test],
            interval: `${worker.healthcheck.intervalSeconds}s`,
            timeout: `${worker.healthcheck.timeoutSeconds}s`,
            retries: worker.healthcheck.retries,
            startPeriod: `${worker.healthcheck.startPeriodSeconds}s`,
          },
    // No `wait`: a container that fails the provider's health wait stays in state with an init error,
    // and the next `pulumi up` accepts it with an empty update. The health gate (healthGate) holds instead.
    // Graceful drain: the worker gets its stop signal and drainSeconds to finish the job it holds.
    stopSignal: worker.stopSignal,
    stopTimeout: worker.drainSeconds,
    destroyGraceSeconds: worker.drainSeconds,
    logDriver: "json-file",
    logOpts: { "max-size": args.logMaxSize ?? "50m", "max-file": String(args.logMaxFile ?? 5) },
    labels: [
      { label: "gpu-fleet.fleet", value: args.fleet },
      { label: "gpu-fleet.host", value: args.plan.name },
      { label: "gpu-fleet.service", value: worker.service },
      { label: "gpu-fleet.replica", value: String(worker.replica) },
      { label: "gpu-fleet.gpu", value: worker.gpu === null ? "cpu" : String(worker.gpu) },
      // Labels are ForceNew: a new server (id) means new containers there, drained on the old one first.
      ...(args.serverId === undefined ? [] : [{ label: "gpu-fleet.server", value: args.serverId }]),
    ],
  };
}


/**
 * ssh options for the Docker provider: one shared connection per host (ControlMaster), so many
 * containers do not exhaust sshd's MaxStartups; the pinned host keys when there are any.
 */
export function sshOptions(hostKeys: readonly string[] | undefined, connect?: WorkersArgs["connect"]): string[] {
  const options = ["-o", "ControlMaster=auto", "-o", "ControlPath=~/.ssh/gpu-fleet-%C", "-o", "ControlPersist=120s", "-o", "BatchMode=yes"];
  // A down host fails in timeout × attempts, as for the roles (the host's `connect`).
  if (connect !== undefined) options.push("-o", `ConnectTimeout=${connect.timeoutSeconds}`, "-o", `ConnectionAttempts=${connect.attempts}`);
  if (hostKeys === undefined || hostKeys.length === 0) return [...options, "-o", "StrictHostKeyChecking=accept-new"];
  // Only the pinned keys are accepted, without touching the user's known_hosts. ssh splits the
  // command into words (quotes group) and then expands %-tokens in each, so `%%s` reaches printf as
  // `%s`; printf repeats its format for each key: one known_hosts line per key, for any host name
  // and port (`*`: this command answers for this one connection only). Keys hold no quotes or spaces
  // beyond the one between type and blob (decoded in core/ssh-keys.ts).
  const words = hostKeys.flatMap((key) => key.split(" ")).join(" ");
  return [...options, "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/dev/null", "-o", `KnownHostsCommand=/usr/bin/printf "* %%s %%s\\n" ${words}`];
}

function imageSlug(image: string): string {
  return image.replace(/^.*\//, "").replace(/[^a-zA-Z0-9]+/g, "-").toLowerCase();
}
