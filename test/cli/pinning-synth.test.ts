// Every SSH use the program makes checks the pinned key: the roles' connections (the command
// provider takes one key), the Docker provider's ssh (all keys, known_hosts lines), the reboot wait
// (all keys), on a non-22 port and through a jump host; nothing says StrictHostKeyChecking=no. And a
// credential-looking plain env value never shows in synth's output.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_KEYS } from "../support/fixtures";
import { REPO_ROOT, runTool } from "../support/run";

interface Resource {
  type: string;
  name: string;
  host: string | null;
  inputs: Record<string, unknown>;
}

// Built at run time: the repository holds nothing shaped like a credential.
const TOKEN = ["hf", "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDc"].join("_");

const STACK = `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:sshPrivateKey: { secure: AAABAPLACEHOLDERsshPrivateKey }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    kokoro: { image: ghcr.io/example/kokoro-gpu:1.4.0, device: cuda, vramMiB: 600, ramMiB: 2500, env: { HF_TOKEN: "${TOKEN}" } }
  gpu-fleet:hosts:
    box-2:
      ssh:
        address: 10.0.0.8
        port: 2222
        hostKey: ["[10.0.0.8]:2222 ${EXAMPLE_KEYS.ecdsa}", "[10.0.0.8]:2222 ${EXAMPLE_KEYS.host}"]
        jumpHost: { address: 203.0.113.1, port: 2200, hostKey: "${EXAMPLE_KEYS.jump}" }
      cpu: { cores: 8 }
      ramMiB: 32768
      gpus: [ { model: rtx-3060 } ]
      nvidia: { driver: managed, branch: "580" }
      workers: { kokoro: { replicas: 1 } }
`;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe("pinned host keys in the synthesized program", () => {
  const dir = mkdtempSync(join(tmpdir(), "pinning-"));
  const stack = join(dir, "Pulumi.pinning.yaml");
  writeFileSync(stack, STACK);
  const result = runTool("scripts/synth.ts", [stack, "--json"]);
  const resources = result.status === 0 ? (JSON.parse(result.stdout) as { resources: Resource[] }).resources : [];

  it("synthesizes", () => assert.equal(result.status, 0, result.stderr));

  it("pins the ed25519 key on every role connection, on the host's port, and the jump host's key", () => {
    const remote = resources.filter((r) => r.type === "command:remote:Command" || r.type === "command:remote:CopyToRemote");
    assert.ok(remote.length > 5);
    for (const r of remote) {
      const connection = r.inputs.connection as { host: string; port: number; hostKey?: string; proxy?: { hostKey?: string; port: number } };
      assert.equal(connection.hostKey, EXAMPLE_KEYS.host, `${r.name} connects to ${connection.host} without the pinned key`);
      assert.equal(connection.port, 2222, r.name);
      if (connection.host === "10.0.0.8") assert.deepEqual([connection.proxy?.hostKey, connection.proxy?.port], [EXAMPLE_KEYS.jump, 2200], r.name);
    }
  });

  it("gives Docker's ssh every pinned key and accepts no other", () => {
    const provider = resources.find((r) => r.type === "pulumi:providers:docker" && r.name.endsWith("box-2-workers-docker"));
    assert.ok(provider, "no docker provider for box-2");
    const opts = JSON.parse(String(provider.inputs.sshOpts)) as string[];
    assert.ok(opts.includes("StrictHostKeyChecking=yes"));
    assert.ok(opts.includes("UserKnownHostsFile=/dev/null"));
    const [ecdsaType, ecdsaBlob] = EXAMPLE_KEYS.ecdsa.split(" ");
    const [edType, edBlob] = EXAMPLE_KEYS.host.split(" ");
    assert.ok(opts.includes(`KnownHostsCommand=/usr/bin/printf "* %%s %%s\\n" ${ecdsaType} ${ecdsaBlob} ${edType} ${edBlob}`), opts.join(" "));
  });

  it("gives the reboot wait every pinned key as known_hosts lines", () => {
    const wait = resources.find((r) => r.type === "command:local:Command" && r.name.endsWith("-reboot"));
    assert.ok(wait, "no reboot wait");
    const env = wait.inputs.environment as Record<string, string>;
    assert.equal(env.FLEET_SSH_KNOWN_HOSTS, `* ${EXAMPLE_KEYS.ecdsa}\n* ${EXAMPLE_KEYS.host}\n`);
    assert.equal(env.FLEET_SSH_PORT, "2222");
  });

  it("never prints a credential-looking env value", () => {
    assert.ok(result.stdout.length > 1000);
    assert.ok(!result.stdout.includes(TOKEN), "synth printed the token");
    assert.ok(!result.stdout.includes("Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDc"));
  });

  it("has no StrictHostKeyChecking=no, in synth or in the project's code", () => {
    assert.ok(!result.stdout.includes("StrictHostKeyChecking=no"));
    const code = [...files(join(REPO_ROOT, "components")), ...files(join(REPO_ROOT, "scripts"))].filter((f) => /\.(ts|sh)$/.test(f));
    for (const file of code) assert.ok(!/StrictHostKeyChecking[= ]no\b/.test(readFileSync(file, "utf8")), file);
  });
});
