// Pinned host keys against a real sshd: the Debian 12 test host runs openssh-server on ports 22 and
// 2222. `npm run keyscan` must print the fingerprints the host's own ssh-keygen prints; the ssh
// options the program gives Docker and the reboot wait must connect with the pinned key and refuse
// a wrong one (the reboot wait at once, naming the cause).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sshOptions } from "../../components/Workers";
import { planConfig } from "../../components/core/pipeline";
import { parseStackFile } from "../../components/core/stack-file";
import { EXAMPLE_KEYS } from "../support/fixtures";
import { checkPrerequisites, dockerHost, enabled, HOW_TO_RUN, repoRoot, run, show, TestHost } from "./harness";

describe("pinned SSH host keys on a real sshd", { skip: enabled ? false : HOW_TO_RUN }, () => {
  const host = new TestHost("sshpin");
  const work = mkdtempSync(join(tmpdir(), "fleet-sshpin-"));
  const clientKey = join(work, "id_ed25519");
  const stackFile = join(work, "Pulumi.sshpin.yaml");
  let address = "";
  /** The host's keys as its own ssh-keygen prints them (read inside the machine: out of band). */
  let hostFingerprints: string[] = [];
  let hostKeys: string[] = [];

  before(async () => {
    checkPrerequisites();
    await host.start();
    const install = await host.sh(
      "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; " +
        "printf 'Port 22\\nPort 2222\\nPermitRootLogin prohibit-password\\nPasswordAuthentication no\\n' >/etc/ssh/sshd_config.d/fleet-test.conf; systemctl restart ssh",
    );
    assert.equal(install.code, 0, show(install));
    // The client key lives in a temp dir removed after the tests; its public half goes to root.
    const keygen = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "fleet-sshpin-test", "-f", clientKey], { encoding: "utf8" });
    assert.equal(keygen.status, 0, keygen.stderr);
    const authorize = await host.sh("install -d -m 700 /root/.ssh && cat >/root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys", readFileSync(`${clientKey}.pub`, "utf8"));
    assert.equal(authorize.code, 0, show(authorize));
    const inspect = spawnSync("docker", ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", host.container], { encoding: "utf8", env: { ...process.env, DOCKER_HOST: dockerHost() } });
    address = inspect.stdout.trim();
    assert.match(address, /^\d+\.\d+\.\d+\.\d+$/, inspect.stderr);
    hostFingerprints = (await host.out("for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf \"$f\"; done")).split("\n").map((l) => l.split(" ")[1]);
    hostKeys = (await host.out("cat /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub")).split("\n").map((l) => l.split(" ").slice(0, 2).join(" "));
    writeFileSync(
      stackFile,
      `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    worker: { image: ghcr.io/example/worker:1.0.0, device: cpu, ramMiB: 500 }
  gpu-fleet:hosts:
    box:
      ssh:
        address: ${address}
        port: 2222
      cpu: { cores: 4 }
      ramMiB: 8192
      workers: { worker: { replicas: 1 } }
`,
    );
  });

  after(async () => {
    await host.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** ssh to the test host with the given options; the Docker provider's connection-sharing options are left out. */
  const ssh = (options: string[], port: number) =>
    run("ssh", [...options.filter((o, i, all) => !/^Control/.test(o) && !/^Control/.test(all[i + 1] ?? "")), "-i", clientKey, "-p", String(port), "-o", "ConnectTimeout=10", `root@${address}`, "cat /proc/sys/kernel/random/boot_id"], "", 60_000);

  it("keyscan prints the fingerprints the host's own ssh-keygen prints, and a hostKey plan accepts", async () => {
    const result = await run(process.execPath, ["--import", "tsx", join(repoRoot, "scripts", "keyscan.ts"), stackFile, "box", "--timeout", "10"], "", 120_000);
    assert.equal(result.code, 0, show(result));
    for (const fingerprint of hostFingerprints) assert.ok(result.stdout.includes(fingerprint), `keyscan did not print ${fingerprint}:\n${result.stdout}`);
    assert.match(result.stdout, new RegExp(`256 SHA256:\\S+ \\[${address.replace(/\./g, "\\.")}\\]:2222 \\(ED25519\\)`));
    // Paste what keyscan printed under hosts.box.ssh, as its last lines say.
    const yaml = result.stdout.slice(result.stdout.indexOf("hostKey:\n")).trimEnd();
    const pasted = readFileSync(stackFile, "utf8").replace("        port: 2222\n", `        port: 2222\n${yaml.split("\n").map((l) => `        ${l}`).join("\n")}\n`);
    const stack = parseStackFile(pasted, "pasted.yaml");
    const plan = planConfig(stack.document, stack.diagnostics);
    assert.deepEqual(plan.errors, [], pasted);
    const setting = (stack.document.values.hosts as { box: { ssh: { hostKey: string[] } } }).box.ssh.hostKey;
    assert.ok(setting.length >= 2, pasted);
  });

  it("Docker's ssh options connect with the pinned keys on port 2222 and on 22, and every key of a list counts", async () => {
    for (const port of [2222, 22]) {
      const good = await ssh(sshOptions([hostKeys[0]]), port);
      assert.equal(good.code, 0, show(good));
      assert.match(good.stdout, /^[0-9a-f-]{36}\s*$/);
    }
    // A list is the host's keys: each is accepted, and ssh negotiates a type it holds a key for.
    const both = await ssh(sshOptions(hostKeys), 2222);
    assert.equal(both.code, 0, `the host's ed25519 and ECDSA keys: ${show(both)}`);
    const ecdsaOnly = await ssh(sshOptions([hostKeys[1]]), 2222);
    assert.equal(ecdsaOnly.code, 0, `only the host's ECDSA key: ${show(ecdsaOnly)}`);
  });

  it("a list with a wrong key of a type the host serves is refused (OpenSSH: the key changed)", async () => {
    const mixed = await ssh(sshOptions([EXAMPLE_KEYS.host, hostKeys[1]]), 2222);
    assert.equal(mixed.code, 255, show(mixed));
    assert.match(mixed.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
  });

  it("Docker's ssh options refuse the host when the pinned key differs", async () => {
    const wrong = await ssh(sshOptions([EXAMPLE_KEYS.host]), 2222);
    assert.equal(wrong.code, 255, show(wrong));
    assert.match(wrong.stderr, /Host key verification failed|host key .* not known|No ED25519 host key is known/i);
  });

  it("the reboot wait connects with the pinned key, and stops at once, naming the cause, when it differs", async () => {
    const env = (knownHosts: string) => ({
      FLEET_HOST: "box",
      FLEET_PREVIOUS_BOOT_ID: "00000000-0000-0000-0000-000000000000",
      FLEET_SSH_HOST: address,
      FLEET_SSH_PORT: "2222",
      FLEET_SSH_USER: "root",
      FLEET_SSH_KNOWN_HOSTS: knownHosts,
      FLEET_SETTLE_COMMAND: "true",
      FLEET_TIMEOUT_SECONDS: "120",
    });
    const runWait = (knownHosts: string) =>
      new Promise<{ code: number; stdout: string; stderr: string; seconds: number }>((resolve) => {
        const started = Date.now();
        const child = spawnSync("bash", [join(repoRoot, "scripts", "await-reboot.sh")], { input: readFileSync(clientKey, "utf8"), encoding: "utf8", env: { ...process.env, ...env(knownHosts) }, timeout: 150_000 });
        resolve({ code: child.status ?? 1, stdout: child.stdout, stderr: child.stderr, seconds: (Date.now() - started) / 1000 });
      });
    const good = await runWait(`* ${hostKeys[0]}\n`);
    assert.equal(good.code, 0, `${good.stdout}${good.stderr}`);
    assert.match(good.stdout, /^changed: box rebooted \(boot id 00000000-0000-0000-0000-000000000000 -> [0-9a-f-]{36}\)/);
    const wrong = await runWait(`* ${EXAMPLE_KEYS.host}\n`);
    assert.equal(wrong.code, 1, `${wrong.stdout}${wrong.stderr}`);
    assert.match(wrong.stderr, /answered with a host key that is not the pinned one/);
    assert.ok(wrong.seconds < 60, `the wait took ${wrong.seconds}s with a wrong key; it must stop at once`);
  });
});
