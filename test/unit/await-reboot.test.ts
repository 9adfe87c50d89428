// scripts/await-reboot.sh against a fake `ssh` that plays a rebooting host.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../support/run";

const OLD = "0b9a6c0e-1111-4c3c-9d7e-000000000001";
const NEW = "0b9a6c0e-2222-4c3c-9d7e-000000000002";

/** A fake ssh: answers the old boot id `downTurns` times (then nothing, as while rebooting), then the new one; logs every call. */
function fakeSsh(downTurns: number): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), "fake-ssh-"));
  const log = join(dir, "calls.log");
  writeFileSync(
    join(dir, "ssh"),
    `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"${log}"
n=$(grep -c boot_id "${log}")
case "\${*: -1}" in
  *boot_id*) if ((n <= ${downTurns})); then echo ${OLD}; elif ((n <= ${downTurns} + 1)); then exit 255; else echo ${NEW}; fi ;;
  *) echo "settled" ;;
esac
`,
  );
  chmodSync(join(dir, "ssh"), 0o755);
  writeFileSync(join(dir, "sleep"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(dir, "sleep"), 0o755);
  return { dir, log };
}

function run(env: Record<string, string>, dir: string, stdin = "PRIVATE KEY\n") {
  return spawnSync("bash", [join(REPO_ROOT, "scripts/await-reboot.sh")], {
    env: { PATH: `${dir}:${process.env.PATH ?? ""}`, FLEET_HOST: "gtx1080-box", FLEET_SSH_HOST: "gtx1080-box", FLEET_SSH_USER: "root", ...env },
    input: stdin,
    encoding: "utf8",
  });
}

describe("await-reboot.sh", () => {
  it("is a no-op when the role scheduled no reboot", () => {
    const { dir, log } = fakeSsh(0);
    const result = run({ FLEET_PREVIOUS_BOOT_ID: "" }, dir);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^ok: no reboot scheduled on gtx1080-box$/m);
    assert.throws(() => readFileSync(log));
  });

  it("waits through the reboot for a new boot id, then lets the host settle with the old id filled in", () => {
    const { dir, log } = fakeSsh(2);
    const result = run({ FLEET_PREVIOUS_BOOT_ID: OLD, FLEET_SETTLE_COMMAND: "env FLEET_PREVIOUS_BOOT_ID='@PREVIOUS_BOOT_ID@' bash /root/.gpu-fleet/roles/await-boot.sh" }, dir);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`changed: gtx1080-box rebooted \\(boot id ${OLD} -> ${NEW}\\)`));
    const calls = readFileSync(log, "utf8").trim().split("\n");
    assert.equal(calls.filter((c) => c.endsWith("cat /proc/sys/kernel/random/boot_id")).length, 4);
    assert.match(calls[calls.length - 1], new RegExp(`env FLEET_PREVIOUS_BOOT_ID='${OLD}' bash /root/.gpu-fleet/roles/await-boot.sh$`));
    assert.ok(calls.every((c) => !c.includes("PRIVATE KEY")), "the key is never an argument");
    assert.ok(calls.every((c) => c.includes("-i ")), "the key goes by file");
  });

  it("fails with a hint when the host never comes back", () => {
    const { dir } = fakeSsh(1_000_000);
    const result = run({ FLEET_PREVIOUS_BOOT_ID: OLD, FLEET_TIMEOUT_SECONDS: "0" }, dir);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /failed: await-reboot on gtx1080-box: no new boot within 0s.*hint: check the console/);
  });

  it("refuses a boot id that is not one", () => {
    const { dir } = fakeSsh(0);
    const result = run({ FLEET_PREVIOUS_BOOT_ID: "x; rm -rf /" }, dir);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /is not a boot id/);
  });
});
