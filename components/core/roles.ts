// Which host roles run on a host, in which order, with which parameters. Pure: the HostSetup
// component maps these steps to remote commands, and join-fleet.sh runs the same scripts locally.
//
// A role re-runs when its fingerprint changes: a hash of its script, the shared library and its
// parameters. The fingerprint is part of the command text, so a change is an *update* (the create
// command runs again, idempotently), never a replacement: a replacement would first run the delete
// command, and for the tailscale role that would take the host off the tailnet.

import { createHash, type Hash } from "node:crypto";
import type { HostPlan } from "./planner";
import type { FleetSpec } from "./schema";

export const ROLE_ORDER = ["facts", "base", "tailscale", "docker", "nvidia-driver", "container-toolkit", "mps", "verify"] as const;
export type RoleName = (typeof ROLE_ORDER)[number];

/** The shared library every role sources. */
export const ROLE_LIBRARY = "lib.sh";

export interface RoleStep {
  readonly role: RoleName;
  /** Non-secret parameters, passed as FLEET_* environment variables on the command line. */
  readonly env: Readonly<Record<string, string>>;
  /** The role reads the host's Tailscale auth key on stdin. */
  readonly authKeyOnStdin: boolean;
  /** How the role reaches the host: its public address (before it joins the tailnet) or its tailnet name. */
  readonly via: "address" | "tailnet";
  /** Parameters of the undo command run when the role is removed, or null when there is nothing to undo. */
  readonly undo: { readonly command: "leave-tailnet" | "stop-mps" } | null;
  /** The role may schedule a reboot; the next role waits for the host to come back. */
  readonly mayReboot: boolean;
}

export interface RoleContext {
  readonly redis: { readonly host: string; readonly port: number };
  /** Tags the host joins the tailnet with. */
  readonly tags: readonly string[];
  /** cloud-init enrolled the host at first boot (hcloud): every role runs over the tailnet. */
  readonly enrolledAtBoot: boolean;
  /** A port on the Redis host the policy denies to workers; verify proves it stays closed. */
  readonly deniedPort: number;
  /** The SSH user Pulumi connects as, when it is not root: Docker's ssh:// runs as this user. */
  readonly dockerUser?: string;
}

/** A port on the Redis host the policy denies to workers; the verify role proves it stays closed. */
export const DENIED_PROBE_PORT = 22;

/** The tags every fleet host joins the tailnet with (its auth key carries them). */
export function hostTags(spec: Pick<FleetSpec, "tailnet">): string[] {
  return [spec.tailnet.workerTag];
}

/** A host's role context in a fleet: the same for the Pulumi deployment and for join-fleet.sh. */
export function roleContext(spec: Pick<FleetSpec, "redis" | "tailnet"> & Partial<Pick<FleetSpec, "hosts">>, host: HostPlan): RoleContext {
  const sshUser = spec.hosts?.[host.name]?.ssh?.user;
  return {
    redis: spec.redis,
    tags: hostTags(spec),
    // cloud-init enrolls an hcloud server at first boot; every other host enrolls in the tailscale role.
    enrolledAtBoot: host.kind === "hcloud",
    deniedPort: DENIED_PROBE_PORT,
    // The Docker provider talks to dockerd as the SSH user: a non-root user needs the docker group.
    ...(sshUser !== undefined && sshUser !== "root" ? { dockerUser: sshUser } : {}),
  };
}

export function planRoles(host: HostPlan, context: RoleContext): RoleStep[] {
  const hasGpus = host.gpus.length > 0;
  const steps: RoleStep[] = [];
  // Until the tailscale role has run, an SSH host is reached by its address.
  let via: RoleStep["via"] = context.enrolledAtBoot ? "tailnet" : "address";
  const add = (role: RoleName, env: Record<string, string>, extra: Partial<Pick<RoleStep, "authKeyOnStdin" | "undo" | "mayReboot">> = {}): void => {
    steps.push({ role, env: { FLEET_HOST: host.name, ...env }, authKeyOnStdin: false, via, undo: null, mayReboot: false, ...extra });
  };

  add("facts", {
    FLEET_EXPECT_CORES: String(host.cpu.cores),
    FLEET_EXPECT_RAM_MIB: String(host.ramMiB.total),
    FLEET_EXPECT_GPU_VRAM_MIB: host.gpus.map((g) => g.vramMiB).join(","),
  });
  add("base", {});
  add("tailscale", { FLEET_TS_HOSTNAME: host.name, FLEET_TS_TAGS: context.tags.join(",") }, { authKeyOnStdin: true, undo: { command: "leave-tailnet" } });
  via = "tailnet";
  add("docker", context.dockerUser === undefined ? {} : { FLEET_DOCKER_USERS: context.dockerUser });
  if (hasGpus) {
    add(
      "nvidia-driver",
      {
        FLEET_NVIDIA_DRIVER: host.nvidia.driver,
        FLEET_NVIDIA_BRANCH: host.nvidia.branch ?? "",
        FLEET_NVIDIA_MODULES: host.nvidia.modules ?? "",
      },
      { mayReboot: host.nvidia.driver === "managed" },
    );
    add("container-toolkit", { FLEET_GPU_COUNT: String(host.gpus.length) });
    add(
      "mps",
      {
        FLEET_MPS: host.mps.enabled ? "on" : "off",
        FLEET_MPS_PIPE_DIR: host.mps.pipeDirectory,
        FLEET_MPS_LOG_DIR: host.mps.logDirectory,
        FLEET_MPS_UID: host.mps.uid === null ? "" : String(host.mps.uid),
        FLEET_MPS_GPUS: host.mps.gpus.join(","),
        FLEET_MPS_PINNED_MEM_LIMIT: Object.entries(host.mps.defaultPinnedMemLimitMiB)
          .map(([gpu, mib]) => `${gpu}=${mib}M`)
          .join(","),
      },
      { undo: host.mps.enabled ? { command: "stop-mps" } : null },
    );
  }
  add("verify", { FLEET_REDIS_HOST: context.redis.host, FLEET_REDIS_PORT: String(context.redis.port), FLEET_DENIED_PORT: String(context.deniedPort) });
  return steps;
}

/** sha256 of the role's script, the shared library and its parameters: what makes it re-run. */
export function roleFingerprint(step: RoleStep, scripts: Readonly<Record<string, string>>): string {
  const script = scripts[`${step.role}.sh`];
  const library = scripts[ROLE_LIBRARY];
  if (script === undefined) throw new Error(`role script ${step.role}.sh is missing from scripts/roles`);
  // Every host hashes the same script and library: hash them once per scripts object and role, then
  // continue a copy of that state with the step's parameters (the same bytes in the same order).
  let prefixes = fingerprintPrefixes.get(scripts);
  if (prefixes === undefined) fingerprintPrefixes.set(scripts, (prefixes = new Map()));
  let prefix = prefixes.get(step.role);
  if (prefix === undefined) prefixes.set(step.role, (prefix = createHash("sha256").update(`${library ?? ""}\0${script}\0`)));
  const hash = prefix.copy();
  hash.update(`${JSON.stringify(Object.entries(step.env).sort())}\0${step.authKeyOnStdin}`);
  return hash.digest("hex").slice(0, 16);
}

const fingerprintPrefixes = new WeakMap<Readonly<Record<string, string>>, Map<string, Hash>>();

/** `KEY='value'` words for `env`, single-quoted so no value is ever interpreted by the shell. */
export function shellEnv(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .map(([key, value]) => `${key}=${shellQuote(value)}`)
    .join(" ");
}

export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
