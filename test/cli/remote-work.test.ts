// Remote work of `pulumi up`, counted from synths: a first up per host, and a no-op up (a second,
// independent run of the program changes nothing, so nothing runs on any host).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { remoteWork, totalRemoteWork } from "../../scripts/lib/remote-work";
import { diffResources } from "../../scripts/lib/resource-diff";
import { REPO_ROOT, resolveStackPath } from "../../scripts/lib/stack";
import { synthInChild } from "../../scripts/lib/synth-sides";
import type { SynthResource } from "../../scripts/lib/synth";

const resource = (type: string, name: string, host: string | null): SynthResource => ({
  type,
  name,
  parent: null,
  host,
  inputs: {},
  ignoreChanges: [],
  deleteBeforeReplace: false,
  replaceOnChanges: [],
  replacementTrigger: null,
  deletedWith: null,
  dependsOn: [],
  inputDependencies: {},
  id: null,
});

describe("remote work", () => {
  it("counts one session per command and per copy, one shared Docker session, commands only for remote commands", () => {
    const work = remoteWork([
      resource("command:remote:CopyToRemote", "a-roles", "a"),
      ...["facts", "base", "tailscale"].map((r) => resource("command:remote:Command", `a-${r}`, "a")),
      resource("command:local:Command", "a-reboot", "a"),
      resource("docker:index/remoteImage:RemoteImage", "a-image", "a"),
      resource("docker:index/container:Container", "a-1", "a"),
      resource("docker:index/container:Container", "a-2", "a"),
      resource("tailscale:index/tailnetKey:TailnetKey", "key-b", null),
      resource("gpu-fleet:index:Host", "b", "b"),
    ]);
    assert.deepEqual([...work.keys()], ["a"]);
    assert.deepEqual(work.get("a"), { sshSessions: 5, remoteCommands: 3, dockerOperations: 3, ifRebooted: { sshSessions: 2, remoteCommands: 1 } });
  });

  it("of a first up of the production example: 13 commands on a GPU host, 8 on a CPU host", async () => {
    const result = await synthInChild(REPO_ROOT, resolveStackPath("hetzner-gpu"));
    assert.ok(result.ok);
    const work = remoteWork(result.resources);
    // gex44-1: roles copy + 8 roles + 5 health gates (one per container) = 14 sessions, + 1 Docker
    // connection; 13 commands; 2 images + 5 containers.
    assert.deepEqual(work.get("gex44-1"), { sshSessions: 15, remoteCommands: 13, dockerOperations: 7, ifRebooted: { sshSessions: 2, remoteCommands: 1 } });
    // cpu-1 (hcloud, enrolled at boot): roles copy + 5 roles + 3 health gates, + 1 Docker connection;
    // 8 commands; 1 image + 3 containers.
    assert.deepEqual(work.get("cpu-1"), { sshSessions: 10, remoteCommands: 8, dockerOperations: 4, ifRebooted: { sshSessions: 0, remoteCommands: 0 } });
  });

  it("of a no-op up is nothing: two independent runs of the program register identical inputs", async () => {
    const stack = resolveStackPath("hetzner-gpu");
    const [first, second] = await Promise.all([synthInChild(REPO_ROOT, stack), synthInChild(REPO_ROOT, stack)]);
    assert.ok(first.ok && second.ok);
    const changes = diffResources(first.resources, second.resources);
    const changed = new Set(changes.map((c) => c.name));
    assert.deepEqual(changes, []);
    assert.deepEqual(totalRemoteWork(remoteWork(second.resources.filter((r) => changed.has(r.name)))), { sshSessions: 0, remoteCommands: 0, dockerOperations: 0, ifRebooted: { sshSessions: 0, remoteCommands: 0 } });
  });
});
