// scripts/health-gate.sh against a real Docker daemon (the harness's private dockerd): the gate fails
// while a container is unhealthy, fails again on a second run while it still is, passes once it is
// healthy, and fails again when it turns unhealthy. What `pulumi up` sees run after run.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { buildImage, checkPrerequisites, dockerHost, enabled, HOW_TO_RUN, repoRoot } from "./harness";

const GATE = path.join(repoRoot, "scripts", "health-gate.sh");
const prefix = `ro-gate-${process.pid}`;
const env = (): NodeJS.ProcessEnv => ({ ...process.env, DOCKER_HOST: dockerHost() });

function docker(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("docker", args, { env: env(), encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function gate(container: string, timeoutSeconds: number): { status: number | null; out: string } {
  const r = spawnSync("bash", [GATE], {
    env: { ...env(), FLEET_CONTAINER: container, FLEET_GATE_TIMEOUT: String(timeoutSeconds), FLEET_GATE_INTERVAL: "1" },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

function health(container: string): string {
  return docker("inspect", "--format", "{{.State.Health.Status}}", container).stdout.trim();
}

async function until(what: string, check: () => boolean, seconds = 30): Promise<void> {
  for (let i = 0; i < seconds * 4; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting until ${what}`);
}

describe("health gate on a real dockerd", { skip: enabled ? false : HOW_TO_RUN, timeout: 600_000 }, () => {
  let image = "";
  const gated = `${prefix}-gated`;
  const plain = `${prefix}-plain`;

  before(() => {
    checkPrerequisites();
    image = buildImage();
    // Healthy exactly while /tmp/ok exists; one failed check makes it unhealthy.
    const run = docker("run", "-d", "--name", gated, "--entrypoint", "sleep", "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-timeout", "1s", "--health-retries", "1", image, "infinity");
    assert.equal(run.status, 0, run.stderr);
    const runPlain = docker("run", "-d", "--name", plain, "--entrypoint", "sleep", image, "infinity");
    assert.equal(runPlain.status, 0, runPlain.stderr);
  });

  after(() => {
    docker("rm", "-f", gated, plain);
  });

  it("fails while the container is unhealthy", async () => {
    await until("docker reports it unhealthy", () => health(gated) === "unhealthy");
    const r = gate(gated, 5);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /is not healthy after 5s \(running restarting health: true false unhealthy\)/);
  });

  it("fails again on a second run while it is still unhealthy", () => {
    const r = gate(gated, 5);
    assert.equal(r.status, 1, r.out);
  });

  it("passes once the container is healthy (waiting for it)", () => {
    assert.equal(docker("exec", gated, "touch", "/tmp/ok").status, 0);
    const r = gate(gated, 30);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /is running and healthy/);
  });

  it("fails again when it turns unhealthy", async () => {
    assert.equal(docker("exec", gated, "rm", "/tmp/ok").status, 0);
    await until("docker reports it unhealthy", () => health(gated) === "unhealthy");
    const r = gate(gated, 5);
    assert.equal(r.status, 1, r.out);
  });

  it("passes a running container without a healthcheck, and fails a stopped or missing one", () => {
    assert.equal(gate(plain, 5).status, 0);
    assert.equal(docker("stop", "-t", "0", plain).status, 0);
    const stopped = gate(plain, 3);
    assert.equal(stopped.status, 1, stopped.out);
    assert.match(stopped.out, /not healthy after 3s/);
    const missing = gate(`${prefix}-missing`, 2);
    assert.equal(missing.status, 1, missing.out);
  });
});
