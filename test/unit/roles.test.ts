import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { planConfig } from "../../components/core/pipeline";
import type { HostPlan } from "../../components/core/planner";
import { planRoles, roleContext, roleFingerprint, shellEnv, type RoleContext } from "../../components/core/roles";
import { EXAMPLE_KEYS, withHosts } from "../support/fixtures";
import { REPO_ROOT } from "../support/run";

const scripts: Record<string, string> = Object.fromEntries(
  readdirSync(join(REPO_ROOT, "scripts/roles"))
    .filter((f) => f.endsWith(".sh"))
    .map((f) => [f, readFileSync(join(REPO_ROOT, "scripts/roles", f), "utf8")]),
);
const context: RoleContext = { redis: { host: "redis-vps", port: 6379 }, tags: ["tag:gpu-worker"], enrolledAtBoot: false, deniedPort: 22 };

function hostPlan(hostValues: Record<string, unknown>): HostPlan {
  const result = planConfig(withHosts({ h: hostValues }));
  assert.deepEqual(result.errors, []);
  return result.plan.hosts[0];
}

const gpuHost = { ssh: { address: "198.51.100.7", hostKey: EXAMPLE_KEYS.host }, cpu: { cores: 8 }, ramMiB: 32768, gpus: [{ model: "gtx-1080" }], nvidia: { driver: "managed", branch: "580" }, workers: { kokoro: { replicas: 2 } } };
const fingerprints = (steps: ReturnType<typeof planRoles>, files = scripts): Record<string, string> =>
  Object.fromEntries(steps.map((s) => [s.role, roleFingerprint(s, files)]));

describe("role plan", () => {
  it("orders the roles, and reaches an SSH host by address until the tailscale role has run", () => {
    const steps = planRoles(hostPlan(gpuHost), context);
    assert.deepEqual(steps.map((s) => s.role), ["facts", "base", "tailscale", "docker", "nvidia-driver", "container-toolkit", "mps", "verify"]);
    assert.deepEqual(steps.map((s) => s.via), ["address", "address", "address", "tailnet", "tailnet", "tailnet", "tailnet", "tailnet"]);
    assert.deepEqual(steps.filter((s) => s.authKeyOnStdin).map((s) => s.role), ["tailscale"]);
    assert.deepEqual(steps.filter((s) => s.mayReboot).map((s) => s.role), ["nvidia-driver"]);
  });

  it("puts a non-root SSH user in the docker group (Docker's ssh:// runs as that user); root and join hosts need nothing", () => {
    const dockerEnv = (host: Record<string, unknown>) => {
      const doc = withHosts({ h: host });
      const result = planConfig(doc);
      assert.ok(result.spec, JSON.stringify(result.errors));
      return planRoles(result.plan.hosts[0], roleContext(result.spec, result.plan.hosts[0])).find((s) => s.role === "docker")?.env;
    };
    const cpuHost = { cpu: { cores: 4 }, ramMiB: 8192 };
    assert.deepEqual(dockerEnv({ ...cpuHost, ssh: { address: "198.51.100.7", user: "alice", hostKey: EXAMPLE_KEYS.host } }), { FLEET_HOST: "h", FLEET_DOCKER_USERS: "alice" });
    assert.deepEqual(dockerEnv({ ...cpuHost, ssh: { address: "198.51.100.7", hostKey: EXAMPLE_KEYS.host } }), { FLEET_HOST: "h" });
    assert.deepEqual(dockerEnv({ ...cpuHost, join: {} }), { FLEET_HOST: "h" });
  });

  it("passes the planner's decisions as role parameters", () => {
    const steps = planRoles(hostPlan(gpuHost), context);
    const env = (role: string) => steps.find((s) => s.role === role)?.env;
    assert.deepEqual(env("nvidia-driver"), { FLEET_HOST: "h", FLEET_NVIDIA_DRIVER: "managed", FLEET_NVIDIA_BRANCH: "580", FLEET_NVIDIA_MODULES: "proprietary" });
    assert.equal(env("mps")?.FLEET_MPS, "on");
    assert.equal(env("mps")?.FLEET_MPS_GPUS, "0");
    assert.equal(env("mps")?.FLEET_MPS_PINNED_MEM_LIMIT, ""); // Pascal: no per-client limits
    assert.equal(env("facts")?.FLEET_EXPECT_GPU_VRAM_MIB, "8192");
    assert.deepEqual(env("verify"), { FLEET_HOST: "h", FLEET_REDIS_HOST: "redis-vps", FLEET_REDIS_PORT: "6379", FLEET_DENIED_PORT: "22" });
  });

  it("runs no GPU roles on a CPU host and everything over the tailnet on a host enrolled at boot", () => {
    const steps = planRoles(hostPlan({ hcloud: { serverType: "ccx33", location: "fsn1" }, workers: { "kokoro-cpu": { replicas: 1 } } }), { ...context, enrolledAtBoot: true });
    assert.deepEqual(steps.map((s) => s.role), ["facts", "base", "tailscale", "docker", "verify"]);
    assert.ok(steps.every((s) => s.via === "tailnet"));
  });
});

describe("role fingerprints", () => {
  const steps = planRoles(hostPlan(gpuHost), context);
  const base = fingerprints(steps);

  it("are stable for the same scripts and parameters", () => {
    assert.deepEqual(fingerprints(planRoles(hostPlan(gpuHost), context)), base);
  });

  it("change only for the role whose script changed", () => {
    const edited = fingerprints(steps, { ...scripts, "mps.sh": `${scripts["mps.sh"]}\n# edited\n` });
    const changed = Object.keys(base).filter((role) => base[role] !== edited[role]);
    assert.deepEqual(changed, ["mps"]);
  });

  it("change only for the role whose parameters changed", () => {
    const otherMps = fingerprints(planRoles(hostPlan({ ...gpuHost, mps: "off" }), context));
    assert.deepEqual(Object.keys(base).filter((role) => base[role] !== otherMps[role]), ["mps"]);
    const otherRedis = fingerprints(planRoles(hostPlan(gpuHost), { ...context, redis: { host: "redis-2", port: 6380 } }));
    assert.deepEqual(Object.keys(base).filter((role) => base[role] !== otherRedis[role]), ["verify"]);
  });

  it("change for every role when the shared library changes", () => {
    const edited = fingerprints(steps, { ...scripts, "lib.sh": `${scripts["lib.sh"]}\n# edited\n` });
    assert.ok(Object.keys(base).every((role) => base[role] !== edited[role]));
  });
});

describe("shellEnv", () => {
  it("single-quotes every value so the shell interprets none of it", () => {
    assert.equal(shellEnv({ A: "plain", B: "it's $(rm -rf /)" }), `A='plain' B='it'\\''s $(rm -rf /)'`);
  });
});
