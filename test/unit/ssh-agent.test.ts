// The runner's ssh-agent, checked before any resource (components/config.ts agentProblems).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { agentProblems } from "../../components/config";

const live = (): boolean => true;
const gone = (): boolean => false;

describe("ssh-agent check", () => {
  it("refuses a stale SSH_AUTH_SOCK even when every host has a key (pulumi-command dials it anyway)", () => {
    const [problem, ...rest] = agentProblems({ SSH_AUTH_SOCK: "/tmp/ssh-XXXX/agent.1" }, [], gone);
    assert.deepEqual(rest, []);
    assert.equal(problem?.path, "sshPrivateKey");
    assert.match(problem?.message ?? "", /SSH_AUTH_SOCK is \/tmp\/ssh-XXXX\/agent\.1, which is not a live agent socket.*env -u SSH_AUTH_SOCK/);
  });

  it("accepts a live agent, and no agent when every host has a key", () => {
    assert.deepEqual(agentProblems({ SSH_AUTH_SOCK: "/run/agent.sock" }, ["a"], live), []);
    assert.deepEqual(agentProblems({}, [], gone), []);
  });

  it("refuses hosts without a key when there is no agent, naming them", () => {
    const [problem] = agentProblems({}, ["laptop", "box"], gone);
    assert.match(problem?.message ?? "", /is not set, and laptop, box have no ssh\.privateKey/);
  });

  it("checks nothing offline (synth, diff, rollout run no SSH)", () => {
    assert.deepEqual(agentProblems({ GPU_FLEET_OFFLINE: "1", SSH_AUTH_SOCK: "/nope" }, ["a"], gone), []);
  });
});
