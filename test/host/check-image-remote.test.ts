// gpu-fleet check-image --host: the check runs on a fleet host over real SSH (openssh-server from
// Debian's packages, host key pinned in the stack), on that host's own dockerd (Debian's docker.io,
// installed by the docker role), through Docker's ssh transport and the private, pinned ssh of
// scripts/lib/docker-over-ssh.ts. The host is a fresh Debian 12 system container; the reference
// worker image is loaded into its dockerd. A host that presents another key is refused at once.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { checkPrerequisites, dockerHost, enabled, HOW_TO_RUN, repoRoot, SSH_PACKAGES, TestHost } from "./harness";
import { referenceService } from "./reference-worker/stack";
import type { CheckReport } from "../../scripts/check-image";
import type { TuneReport } from "../../scripts/tune";

const STACK = (image: string, hostKey: string): string => `config:
  gpu-fleet:redis: { host: redis-test }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    ref:${referenceService(image, null, 192, 1)}
  gpu-fleet:hosts:
    remote-box:
      ssh: { address: remote-box.test, hostKey: "${hostKey}" }
      cpu: { cores: 2 }
      ramMiB: 4096
      reserve: { cores: 0, ramMiB: 0 }
      workers: { ref: { replicas: 1 } }
`;

const outer = (): NodeJS.ProcessEnv => ({ ...process.env, DOCKER_HOST: dockerHost() });

describe("gpu-fleet check-image --host on a Debian 12 host over SSH", { skip: enabled ? false : HOW_TO_RUN, timeout: 1_200_000 }, () => {
  const host = new TestHost("remote-check");
  const dir = mkdtempSync(path.join(tmpdir(), "fleet-check-remote-"));
  let image = "";
  let stackFile = "";
  let sshConfig = "";
  let key = "";

  const gpuFleet = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, "bin", "gpu-fleet.mjs"), ...args], { env: outer(), encoding: "utf8", timeout: 900_000, maxBuffer: 16 * 1024 * 1024 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    checkPrerequisites();
    const built = spawnSync("bash", [path.join(repoRoot, "test", "host", "reference-worker", "build.sh")], { env: outer(), encoding: "utf8", timeout: 900_000 });
    assert.equal(built.status, 0, built.stderr);
    image = built.stdout.trim();

    const debs = path.join(dir, "debs");
    spawnSync("mkdir", ["-p", debs]);
    const download = spawnSync("apt-get", ["download", ...SSH_PACKAGES], { cwd: debs, encoding: "utf8" });
    assert.equal(download.status, 0, `apt-get download: ${download.stderr}`);
    await host.start();
    spawnSync("docker", ["cp", `${debs}/.`, `${host.container}:/tmp/debs`], { env: outer() });
    await host.out("dpkg -i /tmp/debs/*.deb >/dev/null 2>&1; test -x /usr/sbin/sshd && mkdir -p /run/sshd");
    for (const role of ["base", "docker"]) {
      const r = await host.role(role);
      assert.equal(r.code, 0, `${role} role: ${r.stdout}\n${r.stderr}`);
    }
    // The image on the host's own dockerd, as a registry pull would leave it.
    const load = spawnSync("sh", ["-c", `docker save "$1" | docker exec -i "$2" docker load -q`, "sh", image, host.container], { env: outer(), encoding: "utf8", timeout: 600_000 });
    assert.equal(load.status, 0, load.stderr);

    key = path.join(dir, "id_ed25519");
    assert.equal(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]).status, 0);
    await host.sh("install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys", readFileSync(`${key}.pub`, "utf8"));
    const hostKey = (await host.out("cat /etc/ssh/ssh_host_ed25519_key.pub")).split(" ").slice(0, 2).join(" ");
    stackFile = path.join(dir, "Pulumi.remote.yaml");
    writeFileSync(stackFile, STACK(image, hostKey));
    // The transport: sshd in inetd mode on the test host, one per connection, through the test's own
    // dockerd (named here: the check's docker commands have DOCKER_HOST pointing over SSH).
    sshConfig = path.join(dir, "ssh_config");
    writeFileSync(sshConfig, `Host remote-box.test\n  ProxyCommand env DOCKER_HOST=${dockerHost()} docker exec -i ${host.container} /usr/sbin/sshd -i -o UsePAM=no\n`);
  });

  after(async () => {
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs every point on the host's own dockerd and passes the reference worker; nothing is left there", async () => {
    const since = (await host.out("date +%s")).trim();
    const r = gpuFleet(["check-image", stackFile, "ref", "--host", "remote-box", "--via", "address", "--ssh-config", sshConfig, "-i", key, "--redis-image", image, "--jobs", "4", "--json"]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.deepEqual(report.points.map((p) => [p.point, p.pass]), [
      ["starts", true], ["health", true], ["answers", true], ["threads", true], ["memory", true], ["stops", true], ["keeps-jobs", true],
    ], JSON.stringify(report.points, null, 1));
    assert.equal(report.host, "remote-box");
    // The check's containers started on the host's dockerd (the worker twice, and Redis)...
    const starts = await host.out(`docker events --since ${since} --until "$(date +%s)" --filter label=gpu-fleet.check=1 --filter event=start --format '{{.Actor.Attributes.name}}' | wc -l`);
    assert.ok(Number(starts) >= 3, `${starts} check containers started on the host`);
    // ...and are gone from it, with their network.
    assert.equal(await host.out("docker ps -aq --filter label=gpu-fleet.check=1; docker network ls -q --filter label=gpu-fleet.check=1"), "");
    // Not one on the runner's dockerd.
    const local = spawnSync("docker", ["events", "--since", since, "--until", String(Math.floor(Date.now() / 1000)), "--filter", "label=gpu-fleet.check=1", "--filter", "event=start", "--format", "{{.Actor.Attributes.name}}"], { env: outer(), encoding: "utf8" });
    assert.equal(local.stdout.trim(), "", "a check container ran on the runner's dockerd");
  });

  it("tune measures on the host itself over SSH, too", async () => {
    const since = (await host.out("date +%s")).trim();
    const r = gpuFleet(["tune", stackFile, "remote-box", "ref", "--via", "address", "--ssh-config", sshConfig, "-i", key, "--redis-image", image, "--jobs", "2", "--budget", "3", "--no-record", "--json"]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as TuneReport;
    assert.ok(report.candidates.some((c) => c.status === "measured"), JSON.stringify(report.candidates));
    assert.match(r.stderr, /tune ref on remote-box over SSH/);
    const starts = await host.out(`docker events --since ${since} --until "$(date +%s)" --filter label=gpu-fleet.check=1 --filter event=start --format '{{.Actor.Attributes.name}}' | wc -l`);
    assert.ok(Number(starts) >= 2, `${starts} bench containers started on the host`);
    assert.equal(await host.out("docker ps -aq --filter label=gpu-fleet.check=1; docker network ls -q --filter label=gpu-fleet.check=1"), "");
  });

  it("refuses a host that presents another key than the pinned one, at once, naming it", () => {
    const wrong = path.join(dir, "Pulumi.wrong.yaml");
    // A real key, but not this host's.
    writeFileSync(wrong, STACK(image, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIoNW2520LjeuULKKbK2DT3mL6dh5TzfosoLTXbd9Zm+"));
    const started = Date.now();
    const r = gpuFleet(["check-image", wrong, "ref", "--host", "remote-box", "--via", "address", "--ssh-config", sshConfig, "-i", key, "--redis-image", image, "--json"]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /Host key verification failed|host key/i);
    assert.ok(Date.now() - started < 120_000, "a key mismatch was waited out");
  });
});
