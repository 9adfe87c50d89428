// npm run diff in a throwaway git repository holding a copy of this working tree: commit, change the
// stack, and check that the diff names exactly what changed.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../support/run";
import type { ResourceChange } from "../../scripts/lib/resource-diff";
import { standInSecret } from "../../scripts/lib/engine-config";
import { MOCK_AUTH_KEY_PREFIX } from "../support/pulumi-mocks";

let repo: string;
const STACK = "stacks/Pulumi.hetzner-gpu.yaml";
const original = readFileSync(join(REPO_ROOT, STACK), "utf8");

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: repo, encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function diff(edit: (text: string) => string, ...args: string[]): { changes: ResourceChange[]; text: string } {
  writeFileSync(join(repo, STACK), edit(original));
  const json = sh(process.execPath, ["bin/gpu-fleet.mjs", "diff", "-s", "hetzner-gpu", "--json", ...args]);
  const text = sh(process.execPath, ["bin/gpu-fleet.mjs", "diff", "hetzner-gpu", ...args]);
  writeFileSync(join(repo, STACK), original);
  return { changes: (JSON.parse(json) as { changes: ResourceChange[] }).changes, text };
}

before(() => {
  repo = mkdtempSync(join(tmpdir(), "gpu-fleet-diff-test-"));
  for (const entry of ["bin", "cli", "components", "scripts", "stacks", "tailnet", "index.ts", "package.json", "tsconfig.json", "Pulumi.yaml", ".gitignore"]) {
    cpSync(join(REPO_ROOT, entry), join(repo, entry), { recursive: true });
  }
  symlinkSync(join(REPO_ROOT, "node_modules"), join(repo, "node_modules"), "dir");
  sh("git", ["init", "-q"]);
  sh("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A"]);
  sh("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base"]);
});

describe("npm run diff", () => {
  it("shows no changes for an unchanged stack", () => {
    assert.deepEqual(diff((t) => t).changes, []);
  });

  it("shows only that host's containers when one host's replicas change", () => {
    const { changes, text } = diff((t) => t.replace("workers: { kokoro: { replicas: 3 }, yolo: { replicas: 2 } }", "workers: { kokoro: { replicas: 5 }, yolo: { replicas: 1 } }"));
    assert.deepEqual(
      changes.map((c) => [c.kind, c.host, c.name]),
      [
        ["create", "gex44-1", "fleet-gex44-1-workers-kokoro-4"],
        ["create", "gex44-1", "fleet-gex44-1-workers-kokoro-4-healthy"],
        ["create", "gex44-1", "fleet-gex44-1-workers-kokoro-5"],
        ["create", "gex44-1", "fleet-gex44-1-workers-kokoro-5-healthy"],
        ["delete", "gex44-1", "fleet-gex44-1-workers-yolo-2"],
        ["delete", "gex44-1", "fleet-gex44-1-workers-yolo-2-healthy"],
      ].sort(),
    );
    assert.match(text, /^host gex44-1$/m);
    assert.doesNotMatch(text, /^host (gex44-2|gtx1080-box|cpu-1)$/m);
  });

  it("shows only that service's containers and images when its image changes", () => {
    const { changes } = diff((t) => t.replace("ghcr.io/example/yolo-gpu:2.0.1", "ghcr.io/example/yolo-gpu:2.1.0"));
    const containers = changes.filter((c) => c.type === "docker:index/container:Container");
    assert.deepEqual(containers.map((c) => [c.kind, c.name]).sort(), [
      ["replace", "fleet-gex44-1-workers-yolo-1"],
      ["replace", "fleet-gex44-1-workers-yolo-2"],
      ["replace", "fleet-gtx1080-box-workers-yolo-1"],
    ]);
    assert.ok(containers.every((c) => c.inputs.map((i) => i.key).join() === "image"));
    // Each new container gets its health gate run again (triggers: the container's id).
    const gates = changes.filter((c) => c.type === "command:remote:Command");
    assert.deepEqual(gates.map((c) => [c.kind, c.name]).sort(), containers.map((c) => ["replace", `${c.name}-healthy`]).sort());
    assert.deepEqual(changes.filter((c) => c.type !== "docker:index/container:Container" && c.type !== "command:remote:Command").map((c) => c.type), Array(4).fill("docker:index/remoteImage:RemoteImage"));
  });

  it("shows a role parameter change as an update of that role on that host only", () => {
    const { changes } = diff((t) => t.replace('nvidia: { driver: managed, branch: "580" }       # 580', 'nvidia: { driver: managed, branch: "575" }       # 580'));
    assert.deepEqual(changes.map((c) => [c.kind, c.name]), [["update", "fleet-gtx1080-box-setup-nvidia-driver"]]);
  });

  it("shows a role script edit as a new roles copy on every host and an update of that role on the hosts that run it", () => {
    const script = join(repo, "scripts/roles/mps.sh");
    const original = readFileSync(script, "utf8");
    writeFileSync(script, `${original}\n# a reviewed change\n`);
    try {
      const { changes } = diff((t) => t);
      assert.deepEqual(
        changes.map((c) => `${c.kind} ${c.name}`).sort(),
        [
          ...["gex44-1", "gex44-2", "gtx1080-box", "cpu-1"].map((h) => `replace fleet-${h}-setup-roles`),
          ...["gex44-1", "gex44-2", "gtx1080-box"].map((h) => `update fleet-${h}-setup-mps`),
        ].sort(),
      );
    } finally {
      writeFileSync(script, original);
    }
  });

  it("shows a healthcheck change as container replacements (Docker applies it at create only)", () => {
    const { changes } = diff((t) => t.replace("      vramMiB: 300\n      ramMiB: 600", "      vramMiB: 300\n      ramMiB: 600\n      healthcheck: { test: [CMD, /bin/true] }"));
    const yolo = changes.filter((c) => c.type === "docker:index/container:Container");
    assert.deepEqual(yolo.map((c) => [c.kind, c.name]).sort(), [
      ["replace", "fleet-gex44-1-workers-yolo-1"],
      ["replace", "fleet-gex44-1-workers-yolo-2"],
      ["replace", "fleet-gtx1080-box-workers-yolo-1"],
    ]);
    assert.ok(yolo.every((c) => c.inputs.some((i) => i.key === "healthcheck")));
  });

  it("replaces an hcloud host that moves location: server, host key, tailnet key, roles, images, containers; nothing of another host", () => {
    const { changes, text } = diff((t) => t.replace("hcloud: { serverType: ccx33, location: fsn1 }", "hcloud: { serverType: ccx33, location: nbg1 }"));
    const outside = changes.filter((c) => c.host !== "cpu-1" && c.name !== "fleet-tailnet-key-cpu-1");
    assert.deepEqual(outside.map((c) => `${c.kind} ${c.name}`), []);
    const kind = (name: string): string | undefined => changes.find((c) => c.name === name)?.kind;
    assert.equal(kind("fleet-cpu-1-server-server"), "replace");
    assert.equal(kind("fleet-cpu-1-server-host-key"), "replace");
    assert.equal(kind("fleet-tailnet-key-cpu-1"), "replace");
    for (const r of ["facts", "base", "tailscale", "docker", "verify", "roles"]) assert.equal(kind(`fleet-cpu-1-setup-${r}`), "replace", r);
    const cpuContainers = changes.filter((c) => c.type === "docker:index/container:Container");
    assert.ok(cpuContainers.length >= 1 && cpuContainers.every((c) => c.kind === "replace" && c.host === "cpu-1"));
    assert.ok(changes.some((c) => c.type === "docker:index/remoteImage:RemoteImage" && c.kind === "replace"));
    assert.doesNotMatch(text, /^host (gex44-1|gex44-2|gtx1080-box)$/m);
  });

  it("never prints a secret's stand-in value", () => {
    const { text, changes } = diff((t) => t.replace("threads: 2\n      vramMiB: 600", "threads: 1\n      vramMiB: 600"));
    assert.ok(changes.length > 0);
    for (const secret of [standInSecret("gpu-fleet:redisUrl"), MOCK_AUTH_KEY_PREFIX, "plaintext-of-"]) assert.ok(!text.includes(secret));
    assert.match(text, /envs: - "OMP_NUM_THREADS=2" .*\+ "OMP_NUM_THREADS=1"/);
  });
});
