// docs/join-fleet.md's `host` blocks, as written, on a fresh Debian 12 test host (the roles' harness),
// in the folder its `offline` blocks make on the admin side. Run: FLEET_HOST_TESTS=1 (docs/roles.md).
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { docBlocks, guideWorkspace, isShell, STAND_IN_JOIN_KEY } from "../support/doc-blocks";
import { checkPrerequisites, enabled, HOW_TO_RUN, run, show, TestHost } from "./harness";

const GUIDE = "docs/join-fleet.md";
// What the reader pastes when the guide says "paste the value of redisUrl".
const REDIS_URL = "redis://:docs-test-pw-51c0@redis-vps:6379/0";

describe("docs/join-fleet.md on a fresh Debian 12 host", { skip: enabled ? false : HOW_TO_RUN, timeout: 900_000 }, () => {
  const host = new TestHost("docs-box");
  const outputs: { line: number; stdout: string; stderr: string }[] = [];

  before(async () => {
    checkPrerequisites();
    // The admin machine's side: the guide's offline blocks (the stand-in Pulumi CLI gives the key).
    const { dir, env } = guideWorkspace();
    for (const block of docBlocks(GUIDE).filter((b) => isShell(b) && b.mode === "offline")) {
      const r = spawnSync("bash", ["-euo", "pipefail", "-c", block.code], { cwd: dir, env, encoding: "utf8", timeout: 300_000 });
      assert.equal(r.status, 0, `${GUIDE}:${block.line}: ${r.stderr}`);
    }
    await host.start();
    const cp = await run("docker", ["cp", join(dir, "gpu-fleet-join"), `${host.container}:/root/gpu-fleet-join`]);
    assert.equal(cp.code, 0, show(cp));
  });
  after(async () => {
    await host.stop();
  });

  it("runs every host block as root in order: secrets stored root-only, a dry run that installs jq and changes nothing else", async () => {
    const blocks = docBlocks(GUIDE).filter((b) => isShell(b) && b.mode === "host");
    assert.ok(blocks.length >= 3, "the guide's host steps");
    for (const block of blocks) {
      const r = await host.sh(`cd /root && set -euo pipefail\n${block.code}`, `${REDIS_URL}\n`);
      assert.equal(r.code, 0, `${GUIDE}:${block.line} failed:\n${block.code}\n${show(r)}`);
      outputs.push({ line: block.line, stdout: r.stdout, stderr: r.stderr });
    }
    assert.equal(await host.out("stat -c '%a %u' /etc/gpu-fleet/secrets /etc/gpu-fleet/secrets/authKey /etc/gpu-fleet/secrets/redisUrl"), "700 0\n600 0\n600 0");
    assert.equal(await host.read("/etc/gpu-fleet/secrets/authKey"), `${STAND_IN_JOIN_KEY}\n`);
    assert.equal(await host.read("/etc/gpu-fleet/secrets/redisUrl"), `${REDIS_URL}\n`);
    assert.equal((await host.sh("test -e /root/gpu-fleet-join/desktop.auth-key")).code, 1, "the key file is still in the folder");

    const dry = outputs[outputs.length - 1]!;
    assert.match(dry.stdout, /^would run: env .*FLEET_HOST=desktop .*bash \S+\/roles\/facts\.sh$/m);
    assert.match(dry.stdout, /^would run: docker run -d --name kokoro-1 --hostname desktop-kokoro-1 /m);
    assert.match(dry.stdout, /^ {2}env-file: REDIS_URL=\[secret\]$/m);
    assert.match(dry.stdout.trim().split("\n").pop()!, /^ok: dry run, nothing changed but installed jq \(8 roles, 3 workers planned for desktop\)$/);
    for (const o of outputs) {
      assert.ok(!`${o.stdout}${o.stderr}`.includes("docs-test-pw-51c0"), `${GUIDE}:${o.line} printed the Redis password`);
      assert.ok(!`${o.stdout}${o.stderr}`.includes(STAND_IN_JOIN_KEY), `${GUIDE}:${o.line} printed the auth key`);
    }
    assert.equal((await host.sh("command -v docker")).code, 1, "the dry run installed docker");
  });
});
