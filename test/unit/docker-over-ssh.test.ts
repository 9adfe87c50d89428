// The private ssh that docker's ssh transport runs for `check-image --host`: the real ssh, pinned to
// the host's keys with the strict options of scripts/lib/ssh.ts, running docker's stdio bridge.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { sshShim } from "../../scripts/lib/docker-over-ssh";

const haveShellcheck = spawnSync("sh", ["-c", "command -v shellcheck"]).status === 0;

const target = { name: "gpu-box", address: "203.0.113.7", port: 2222, user: "deploy", hostKeys: [{ type: "ssh-ed25519", key: "AAAAC3NzaC1lZDI1NTE5AAAAIIoNW2520LjeuULKKbK2DT3mL6dh5TzfosoLTXbd9Zm+" }] };

describe("docker over ssh", () => {
  it("runs the real ssh with only the pinned key, no prompts, the host's port and user, then docker's stdio bridge", () => {
    const { script, knownHosts } = sshShim("/usr/bin/ssh", target, "/tmp/x/known_hosts", { connectTimeoutSeconds: 10, deadlineMs: 0, identityFile: "/keys/id" });
    const exec = script.split("\n").find((l) => l.startsWith("exec "));
    assert.ok(exec !== undefined, script);
    // Every word in single quotes (lib/ssh.ts shellWord).
    assert.match(exec, /^exec '\/usr\/bin\/ssh' /);
    for (const option of ["BatchMode=yes", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/tmp/x/known_hosts", "GlobalKnownHostsFile=/dev/null", "ConnectTimeout=10", "IdentitiesOnly=yes"]) {
      assert.ok(exec.includes(`'-o' '${option}'`), `${option} missing: ${exec}`);
    }
    assert.match(exec, / '-i' '\/keys\/id' /);
    assert.match(exec, / '-p' '2222' '-l' 'deploy' '203\.0\.113\.7' 'docker' 'system' 'dial-stdio'$/);
    assert.doesNotMatch(script, /StrictHostKeyChecking=(no|accept-new)/);
    assert.equal(knownHosts.trim().split("\n").length, 1);
    assert.match(knownHosts, / ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIoNW2520LjeuULKKbK2DT3mL6dh5TzfosoLTXbd9Zm\+\n$/);
  });

  it("is a POSIX sh script shellcheck passes", { skip: haveShellcheck ? false : "shellcheck is not installed (.ci/run installs it)" }, () => {
    const { script } = sshShim("/usr/bin/ssh", { ...target, jump: { name: "gpu-box-jump", address: "198.51.100.2", port: 22, user: "jump", hostKeys: target.hostKeys } }, "/tmp/x/known_hosts", { connectTimeoutSeconds: 10, deadlineMs: 0 });
    const lint = spawnSync("shellcheck", ["--shell=sh", "--severity=style", "-"], { input: script, encoding: "utf8" });
    assert.equal(lint.status, 0, lint.stdout + script);
  });

  it("refuses a host without a pinned key instead of trusting whatever answers", () => {
    assert.throws(() => sshShim("/usr/bin/ssh", { ...target, hostKeys: [] }, "/tmp/k", { connectTimeoutSeconds: 10, deadlineMs: 0 }), /gpu-box: no pinned host key/);
  });
});
