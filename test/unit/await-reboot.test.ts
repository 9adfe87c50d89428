// scripts/await-reboot.sh against a fake `ssh` that plays a rebooting host.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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

/** A fake ssh that fails like OpenSSH does (exit 255, its message on stderr), counting its calls. */
function failingSsh(stderr: string): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), "fake-ssh-"));
  const log = join(dir, "calls.log");
  writeFileSync(
    join(dir, "ssh"),
    `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"${log}"
for a in "$@"; do case "$a" in UserKnownHostsFile=*) cat "\${a#UserKnownHostsFile=}" >>"${log}.known_hosts" ;; esac; done
printf '%s\\n' ${JSON.stringify(stderr)} >&2
exit 255
`,
  );
  chmodSync(join(dir, "ssh"), 0o755);
  writeFileSync(join(dir, "sleep"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(dir, "sleep"), 0o755);
  return { dir, log };
}

function calls(log: string): string[] {
  return readFileSync(log, "utf8").trim().split("\n");
}

describe("await-reboot.sh fails fast on what waiting cannot fix", () => {
  const pinned = { FLEET_PREVIOUS_BOOT_ID: OLD, FLEET_SSH_KNOWN_HOSTS: "* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedKeyForThisTestOnly000000000000000000\n" };

  it("a host key that is not the pinned one: one try, the cause and ssh's words", () => {
    const { dir, log } = failingSsh("Host key verification failed.");
    const result = run({ ...pinned, FLEET_TIMEOUT_SECONDS: "900" }, dir);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /failed: await-reboot on gtx1080-box: gtx1080-box:22 answered with a host key that is not the pinned one \(ssh: Host key verification failed\.\)\. hint: .*keyscan/);
    assert.equal(calls(log).length, 1, "a host key mismatch was retried");
  });

  it("a refused login (wrong key or no such user): one try, names the user", () => {
    const { dir, log } = failingSsh("deploy@gtx1080-box: Permission denied (publickey).");
    const result = run({ ...pinned, FLEET_SSH_USER: "deploy" }, dir);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /the host refused the login of deploy \(ssh: deploy@gtx1080-box: Permission denied \(publickey\)\.\)\. hint: check that the user deploy exists/);
    assert.equal(calls(log).length, 1);
  });

  it("connection refused is 'not up yet': retried until the timeout, then the last error is named", () => {
    const { dir, log } = failingSsh("ssh: connect to host gtx1080-box port 22: Connection refused");
    const result = run({ ...pinned, FLEET_TIMEOUT_SECONDS: "0" }, dir);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /no new boot within 0s \(last: not up yet \(ssh: connect to host gtx1080-box port 22: Connection refused\)\)/);
    assert.equal(calls(log).length, 1);
  });

  it("pins exactly the given keys, on a port other than 22 too, and never turns host key checking off", () => {
    const { dir, log } = failingSsh("Host key verification failed.");
    run({ ...pinned, FLEET_SSH_PORT: "2222" }, dir);
    assert.equal(readFileSync(`${log}.known_hosts`, "utf8"), pinned.FLEET_SSH_KNOWN_HOSTS);
    const [call] = calls(log);
    assert.match(call!, /-p 2222 /);
    assert.match(call!, /StrictHostKeyChecking=yes/);
    assert.doesNotMatch(readFileSync(join(REPO_ROOT, "scripts/await-reboot.sh"), "utf8"), /StrictHostKeyChecking=no/);
  });

  it("removes the private key's temp directory when it is killed by a signal", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "await-reboot-tmp-"));
    const dir = mkdtempSync(join(tmpdir(), "fake-ssh-"));
    writeFileSync(join(dir, "ssh"), "#!/usr/bin/env bash\nexec /bin/sleep 30\n");
    chmodSync(join(dir, "ssh"), 0o755);
    const child = spawn("bash", [join(REPO_ROOT, "scripts/await-reboot.sh")], {
      env: { PATH: `${dir}:${process.env.PATH ?? ""}`, TMPDIR: tmp, FLEET_HOST: "gtx1080-box", FLEET_SSH_HOST: "gtx1080-box", ...pinned },
      stdio: ["pipe", "ignore", "ignore"],
    });
    child.stdin.end("PRIVATE KEY\n");
    // Wait until the key is on disk, then stop the wait the way Pulumi cancels a command.
    for (let i = 0; i < 100 && readdirSync(tmp).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(readdirSync(tmp).length, 1, "the key's temp directory was never made");
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 143);
    assert.deepEqual(readdirSync(tmp), [], "the private key was left behind");
  });
});

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
