// gpu-fleet diff (npm run diff) on the example stack (stacks/Pulumi.hetzner-gpu.yaml), one test per kind of change,
// each asserting exactly which resources change and how. The expected lists are written from the
// rules: a role's parameters are part of its command (an update, never a replacement); a new image tag
// is a new pull (a RemoteImage named after the image) and a replaced container on every host that
// runs the service; a removed host loses everything that is its own, and nothing else changes.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../support/run";
import type { ResourceChange } from "../../scripts/lib/resource-diff";

let repo: string;
const STACK = "stacks/Pulumi.hetzner-gpu.yaml";
const original = readFileSync(join(REPO_ROOT, STACK), "utf8");

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: repo, encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function diff(edit: (text: string) => string): ResourceChange[] {
  const edited = edit(original);
  assert.notEqual(edited, original, "the edit changed the stack");
  writeFileSync(join(repo, STACK), edited);
  try {
    const json = sh(process.execPath, ["bin/gpu-fleet.mjs", "diff", "-s", "hetzner-gpu", "--json"]);
    return (JSON.parse(json) as { changes: ResourceChange[] }).changes;
  } finally {
    writeFileSync(join(repo, STACK), original);
  }
}

/** Replaces exactly one occurrence. */
const once = (text: string, from: string, to: string): string => {
  assert.equal(text.split(from).length, 2, `'${from}' occurs once in the stack`);
  return text.replace(from, to);
};

const summary = (changes: readonly ResourceChange[]): string[] => changes.map((c) => `${c.kind} ${c.type} ${c.name}`).sort();

before(() => {
  repo = mkdtempSync(join(tmpdir(), "gpu-fleet-diff-kinds-"));
  for (const entry of ["bin", "cli", "components", "scripts", "stacks", "tailnet", "index.ts", "package.json", "tsconfig.json", "Pulumi.yaml", ".gitignore"]) {
    cpSync(join(REPO_ROOT, entry), join(repo, entry), { recursive: true });
  }
  symlinkSync(join(REPO_ROOT, "node_modules"), join(repo, "node_modules"), "dir");
  sh("git", ["init", "-q"]);
  sh("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A"]);
  sh("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base"]);
});

describe("npm run diff, one kind of change at a time on the example stack", () => {
  it("one host's driver branch: an update of that host's nvidia-driver role, its command, and nothing else", () => {
    // gex44-1 and gex44-2 both say branch "570"; the first one after gex44-1's key is gex44-1's.
    const changes = diff((t) => {
      const at = t.indexOf('nvidia: { driver: managed, branch: "570" }', t.indexOf("    gex44-1:\n"));
      assert.ok(at > 0 && at < t.indexOf("    gex44-2:\n"));
      return `${t.slice(0, at)}nvidia: { driver: managed, branch: "575" }${t.slice(at + 'nvidia: { driver: managed, branch: "570" }'.length)}`;
    });
    assert.deepEqual(summary(changes), ["update command:remote:Command fleet-gex44-1-setup-nvidia-driver"]);
    assert.equal(changes[0].host, "gex44-1");
    assert.deepEqual(changes[0].inputs.map((i) => i.key), ["create"]);
    assert.match(String(changes[0].inputs[0].before), /FLEET_NVIDIA_BRANCH='?570/);
    assert.match(String(changes[0].inputs[0].after), /FLEET_NVIDIA_BRANCH='?575/);
  });

  it("one service's image: a new pull on each host that runs it, the old one dropped, and each of its containers replaced", () => {
    const changes = diff((t) => once(t, "image: ghcr.io/example/yolo-gpu:2.0.1", "image: ghcr.io/example/yolo-gpu:2.1.0"));
    // yolo runs on gex44-1 (2 replicas) and gtx1080-box (1 replica); kokoro and kokoro-cpu are untouched.
    assert.deepEqual(summary(changes), [
      "create docker:index/remoteImage:RemoteImage fleet-gex44-1-workers-image-yolo-gpu-2-1-0",
      "create docker:index/remoteImage:RemoteImage fleet-gtx1080-box-workers-image-yolo-gpu-2-1-0",
      "delete docker:index/remoteImage:RemoteImage fleet-gex44-1-workers-image-yolo-gpu-2-0-1",
      "delete docker:index/remoteImage:RemoteImage fleet-gtx1080-box-workers-image-yolo-gpu-2-0-1",
      // Each new container's health gate runs again: its trigger is the container's id.
      "replace command:remote:Command fleet-gex44-1-workers-yolo-1-healthy",
      "replace command:remote:Command fleet-gex44-1-workers-yolo-2-healthy",
      "replace command:remote:Command fleet-gtx1080-box-workers-yolo-1-healthy",
      "replace docker:index/container:Container fleet-gex44-1-workers-yolo-1",
      "replace docker:index/container:Container fleet-gex44-1-workers-yolo-2",
      "replace docker:index/container:Container fleet-gtx1080-box-workers-yolo-1",
    ]);
    for (const c of changes.filter((c) => c.kind === "replace")) assert.deepEqual(c.inputs.map((i) => i.key), [c.type === "command:remote:Command" ? "triggers" : "image"], c.name);
  });

  it("one host removed: every resource of that host is deleted, nothing of any other host changes", () => {
    const start = original.indexOf("    gtx1080-box:\n");
    const end = original.indexOf("    cpu-1:\n");
    assert.ok(start > 0 && end > start);
    const changes = diff((t) => t.slice(0, start) + t.slice(end));
    assert.ok(changes.every((c) => c.kind === "delete"), JSON.stringify(changes.filter((c) => c.kind !== "delete")));
    // An SSH host with a GPU and a managed driver: its tailnet key, the Host and its HostSetup with one
    // roles copy and one command per role (and the reboot wait),
    // and Workers with its Docker provider, one pull per image and one container (and its health gate) per replica.
    const roles = ["facts", "base", "tailscale", "docker", "nvidia-driver", "container-toolkit", "mps", "verify"];
    const p = "fleet-gtx1080-box";
    assert.deepEqual(summary(changes), [
      `delete gpu-fleet:index:Host ${p}`,
      `delete gpu-fleet:index:HostSetup ${p}-setup`,
      ...roles.map((r) => `delete command:remote:Command ${p}-setup-${r}`),
      `delete command:remote:CopyToRemote ${p}-setup-roles`,
      `delete command:local:Command ${p}-setup-nvidia-driver-reboot`,
      `delete gpu-fleet:index:Workers ${p}-workers`,
      `delete pulumi:providers:docker ${p}-workers-docker`,
      `delete docker:index/remoteImage:RemoteImage ${p}-workers-image-kokoro-gpu-1-4-0`,
      `delete docker:index/remoteImage:RemoteImage ${p}-workers-image-yolo-gpu-2-0-1`,
      `delete docker:index/container:Container ${p}-workers-kokoro-1`,
      `delete docker:index/container:Container ${p}-workers-kokoro-2`,
      `delete docker:index/container:Container ${p}-workers-yolo-1`,
      // Each container's health gate goes with it.
      ...["kokoro-1", "kokoro-2", "yolo-1"].map((w) => `delete command:remote:Command ${p}-workers-${w}-healthy`),
      "delete tailscale:index/tailnetKey:TailnetKey fleet-tailnet-key-gtx1080-box",
    ].sort());
  });
});
