import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseKnownHosts, sshArgs, sshFailure } from "../../scripts/lib/ssh";

const ED = "AAAAC3NzaC1lZDI1NTE5AAAAIExamplePublicKeyReplaceWithYours0000000";
const options = { connectTimeoutSeconds: 4, deadlineMs: 8000 };

describe("ssh: pinned host keys", () => {
  it("reads bare keys and known_hosts lines, skipping comments, markers and junk", () => {
    const text = [
      `ssh-ed25519 ${ED} root@box`,
      `box.example,203.0.113.10 ecdsa-sha2-nistp256 AAAAE2VjZHNh`,
      `[203.0.113.10]:2222 ssh-rsa AAAAB3NzaC1yc2E`,
      "# a comment",
      `@revoked * ssh-ed25519 ${ED}`,
      "not a key at all",
      "",
    ].join("\n");
    assert.deepEqual(parseKnownHosts(text), [
      { hosts: [], key: { type: "ssh-ed25519", key: ED } },
      { hosts: ["box.example", "203.0.113.10"], key: { type: "ecdsa-sha2-nistp256", key: "AAAAE2VjZHNh" } },
      { hosts: ["[203.0.113.10]:2222"], key: { type: "ssh-rsa", key: "AAAAB3NzaC1yc2E" } },
    ]);
  });

  it("runs ssh strict: only the pinned key, under an alias, no prompts, short timeouts; a jump host gets the same", () => {
    const { args, knownHosts } = sshArgs(
      {
        name: "gpu-1",
        address: "10.0.0.5",
        port: 2222,
        user: "alice",
        hostKeys: [{ type: "ssh-ed25519", key: ED }],
        jump: { name: "gpu-1-jump", address: "bastion.example", port: 22, user: "ops", hostKeys: [{ type: "ssh-rsa", key: "AAAAB3NzaC1yc2E" }] },
      },
      "/tmp/kh",
      options,
    );
    assert.equal(knownHosts, `gpu-fleet-host-gpu-1 ssh-ed25519 ${ED}\ngpu-fleet-jump-gpu-1-jump ssh-rsa AAAAB3NzaC1yc2E\n`);
    const opts = args.filter((_, i) => args[i - 1] === "-o");
    for (const o of ["BatchMode=yes", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/tmp/kh", "GlobalKnownHostsFile=/dev/null", "HostKeyAlias=gpu-fleet-host-gpu-1", "ConnectTimeout=4"]) {
      assert.ok(opts.includes(o), `missing -o ${o}`);
    }
    assert.deepEqual(args.slice(-1), ["10.0.0.5"]);
    assert.deepEqual(args.slice(args.indexOf("-p"), args.indexOf("-p") + 4), ["-p", "2222", "-l", "alice"]);
    const proxy = opts.find((o) => o.startsWith("ProxyCommand="));
    assert.ok(proxy?.includes("'StrictHostKeyChecking=yes'") && proxy.includes("'HostKeyAlias=gpu-fleet-jump-gpu-1-jump'") && proxy.endsWith("'-W' '%h:%p' 'bastion.example'"), proxy);
  });

  it("says why a session failed in one line", () => {
    assert.equal(sshFailure({ code: null, stdout: "", stderr: "", timedOut: true }, 8000), "no answer within 8 s");
    assert.equal(
      sshFailure({ code: 255, stdout: "", stderr: "No ED25519 host key is known for gpu-fleet-host-x and you have requested strict checking.\nHost key verification failed.\n", timedOut: false }, 8000),
      "host key verification failed: the host did not present its pinned ssh.hostKey",
    );
    assert.equal(sshFailure({ code: 255, stdout: "", stderr: "ssh: connect to host 127.0.0.1 port 9: Connection refused\r\n", timedOut: false }, 8000), "ssh: connect to host 127.0.0.1 port 9: Connection refused");
  });
});
