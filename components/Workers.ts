// Workers: the worker containers of one host, exactly as the planner placed them. A Docker provider
// per host over ssh:// on the tailnet, images pulled on the host before any container is replaced,
// one container per planned replica.

import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import type { HostPlan, WorkerPlan } from "./core/planner";
import { workerContainer } from "./core/worker-container";
import type { SecretRef } from "./core/schema";

export interface WorkersArgs {
  readonly plan: HostPlan;
  /** The fleet's name (project/stack), for labels. */
  readonly fleet: string;
  /** ssh:// address of the host's Docker daemon, by tailnet name. */
  readonly dockerHost: pulumi.Input<string>;
  /** Pinned host keys (`ssh-ed25519 AAAA...`), all accepted; without them (trust-on-first-use), known_hosts accepts a new host once. */
  readonly hostKeys?: readonly string[];
  /** REDIS_URL, a secret. */
  readonly redisUrl: pulumi.Input<string>;
  /** Resolves a service's secret env reference to a secret value. */
  readonly secret: (ref: SecretRef) => pulumi.Input<string>;
  /** The roles containers need first: docker, container-toolkit, mps. */
  readonly dependsOn: pulumi.Input<pulumi.Resource>[];
  /** The container a worker waits for in a rollout: the previous one in its lane, on any host. */
  readonly rolloutPredecessor?: (worker: WorkerPlan) => pulumi.Input<pulumi.Resource> | undefined;
  /** Docker json-file log rotation per container. */
  readonly logMaxSize?: string;
  readonly logMaxFile?: number;
}

export class Workers extends pulumi.ComponentResource {
  /** The containers by fleet-unique worker name (`<host>-<service>-<replica>`). */
  public readonly containers: ReadonlyMap<string, docker.Container>;
  public readonly provider: docker.Provider;

  constructor(name: string, args: WorkersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gpu-fleet:index:Workers", name, {}, opts);
    const { plan } = args;

    this.provider = new docker.Provider(
      `${name}-docker`,
      { host: args.dockerHost, sshOpts: sshOptions(args.hostKeys) },
      { parent: this },
    );
    const inHost = { parent: this, provider: this.provider };

    // One pull per image on the host. A new tag is a new RemoteImage, pulled before the containers
    // that use it are replaced; keepLocally leaves the old image for a fast rollback.
    const images = new Map<string, docker.RemoteImage>();
    for (const image of [...new Set(plan.workers.map((w) => w.image))]) {
      images.set(
        image,
        new docker.RemoteImage(`${name}-image-${imageSlug(image)}`, { name: image, keepLocally: true }, { ...inHost, dependsOn: args.dependsOn }),
      );
    }

    const containers = new Map<string, docker.Container>();
    for (const worker of plan.workers) {
      const image = images.get(worker.image);
      if (image === undefined) throw new Error(`no image resource for ${worker.image}`);
      const predecessor = args.rolloutPredecessor?.(worker);
      const container = new docker.Container(
        `${name}-${worker.service}-${worker.replica}`,
        containerArgs(worker, image.imageId, args),
        {
          ...inHost,
          dependsOn: [...args.dependsOn, image, ...(predecessor === undefined ? [] : [predecessor])],
          // Two versions of a worker never hold the same GPU's memory at once: the old container
          // drains and stops before its replacement starts. With the rollout lanes (dependsOn on
          // the previous worker of the lane) at most maxUnavailable workers of a service are down.
          // See docs/rollouts.md.
          deleteBeforeReplace: true,
        },
      );
      containers.set(worker.name, container);
    }
    this.containers = containers;

    this.registerOutputs({ containers: [...containers.keys()] });
  }
}

export function containerArgs(worker: WorkerPlan, image: pulumi.Input<string>, args: Pick<WorkersArgs, "fleet" | "plan" | "redisUrl" | "secret" | "logMaxSize" | "logMaxFile">): docker.ContainerArgs {
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
    restart: "unless-stopped",
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
    // MPS clients reach the host's daemon through its pipe directory and share IPC with the host.
    // A bind mount's source must exist when the container starts: systemd-tmpfiles creates it at
    // boot, before Docker (scripts/roles/mps.sh).
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
    // With a health check, a new container counts as started only once healthy: a rollout moves on
    // to the next worker only when this one works.
    wait: worker.healthcheck !== null,
    waitTimeout: worker.healthcheck === null ? undefined : worker.healthcheck.startPeriodSeconds + worker.healthcheck.intervalSeconds * (worker.healthcheck.retries + 1),
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
    ],
  };
}

/**
 * ssh options for the Docker provider: one shared connection per host (ControlMaster), so many
 * containers do not exhaust sshd's MaxStartups; the pinned host keys when there are any.
 */
export function sshOptions(hostKeys: readonly string[] | undefined): string[] {
  const options = ["-o", "ControlMaster=auto", "-o", "ControlPath=~/.ssh/gpu-fleet-%C", "-o", "ControlPersist=120s", "-o", "BatchMode=yes"];
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
