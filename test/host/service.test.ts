// `npm run service -- start|stop` against a real host over SSH: the roles' harness (fresh Debian 12,
// systemd, the docker role's dockerd) with openssh-server, a manual worker container created stopped,
// and a VRAM lease held on the host by the shell client. start is refused while the lease leaves no
// room, naming the holder; after the holder is killed (SIGKILL) it starts the container; stop drains
// it; a wrong host key is refused by ssh. Run: FLEET_HOST_TESTS=1 (docs/timeshare.md).
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { runTool, STACK_TRACE } from "../support/run";
import { checkPrerequisites, enabled, HOW_TO_RUN, repoRoot, run, show, TestHost } from "./harness";

const HOST = "svc-box";
const LEASES = "/run/gpu-fleet/leases";

function stackYaml(address: string, hostKey: string): string {
  return `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    whisper: { image: fleet-test-sleeper:1, device: cuda, vramMiB: 7000, ramMiB: 256, residency: onDemand }
    rag-ingest: { image: fleet-test-sleeper:1, device: cuda, vramMiB: 1229, ramMiB: 256, residency: manual, drainSeconds: 3 }
  gpu-fleet:hosts:
    ${HOST}:
      ssh: { address: ${address}, user: root, hostKey: "${hostKey}" }
      cpu: { cores: 8 }
      ramMiB: 16384
      gpus: [ { vramMiB: 8192, computeCapability: 7.5 } ]
      mps: off
      workers: { whisper: { replicas: 1 }, rag-ingest: { replicas: 1 } }
`;
}

describe("npm run service against a real host over SSH", { skip: enabled ? false : HOW_TO_RUN, timeout: 2_400_000 }, () => {
  const host = new TestHost(HOST);
  const local = mkdtempSync(path.join(tmpdir(), "gpu-fleet-timeshare-svc-"));
  const identity = path.join(local, "id_ed25519");
  let stack = "";
  let wrongKeyStack = "";
  const service = (args: string[], file = stack): ReturnType<typeof runTool> =>
    runTool("scripts/service.ts", [...args, "--host", HOST, "--stack", file, "--identity", identity]);
  const state = (): Promise<string> => host.out("docker inspect -f '{{.State.Status}}' rag-ingest-1");

  before(async () => {
    checkPrerequisites();
    await host.start();
    // Docker and sshd from Debian in one apt run (the docker role's own test is roles.test.ts); a
    // loaded machine may need more than the harness's 10 minutes per command.
    const install = await run(
      "docker",
      ["exec", host.container, "bash", "-c", "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io openssh-server >/dev/null && systemctl start docker ssh"],
      "",
      1_800_000,
    );
    assert.equal(install.code, 0, show(install));
    const kg = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "gpu-fleet-service-test", "-f", identity]);
    assert.equal(kg.status, 0, String(kg.stderr));
    const authorized = await host.sh("install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys", readFileSync(`${identity}.pub`, "utf8"));
    assert.equal(authorized.code, 0, show(authorized));
    const hostKey = (await host.out("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")).trim();
    const address = await host.out("ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1");
    stack = path.join(local, "Pulumi.svc.yaml");
    writeFileSync(stack, stackYaml(address, hostKey));
    // Another key than the host's: what a replaced (or impersonated) machine looks like.
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(local, "other")]);
    const otherKey = readFileSync(path.join(local, "other.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    wrongKeyStack = path.join(local, "Pulumi.wrong.yaml");
    writeFileSync(wrongKeyStack, stackYaml(address, otherKey));

    // The manual worker as the deployment leaves it: created, not started. Its image is the test
    // host's own sleep binary and libraries (no registry here).
    const image = await host.sh(
      "tar -C / -ch usr/bin/sleep $(ldd /usr/bin/sleep | grep -o '/[^ ]*' | sed 's|^/||') 2>/dev/null | docker import - fleet-test-sleeper:1 >/dev/null && " +
        "docker create --name rag-ingest-1 --restart no fleet-test-sleeper:1 /usr/bin/sleep infinity >/dev/null",
    );
    assert.equal(image.code, 0, show(image));
    // The lease directory (the container-toolkit role makes it) and an onDemand worker's lease,
    // held by the shell client the way a worker's loader process would.
    const cp = await run("docker", ["cp", path.join(repoRoot, "scripts", "lease", "gpu-lease.sh"), `${host.container}:/root/gpu-lease.sh`]);
    assert.equal(cp.code, 0, show(cp));
    const holder = await host.sh(
      `install -d -m 1777 ${LEASES} && systemd-run --unit=fleet-test-whisper-lease bash /root/gpu-lease.sh hold --gpu 0 --mib 7000 --capacity 7680 --holder ${HOST}-whisper-1 --dir ${LEASES} -- sleep 900 && ` +
        `for i in $(seq 100); do bash /root/gpu-lease.sh list --dir ${LEASES} | grep -q 'state=live' && exit 0; sleep 0.1; done; exit 1`,
    );
    assert.equal(holder.code, 0, show(holder));
  });
  after(async () => {
    await host.stop();
    rmSync(local, { recursive: true, force: true });
  });

  it("start is refused while the GPU's leases leave no room, naming who holds the VRAM", async () => {
    const r = service(["start", "rag-ingest"]);
    assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
    // 7680 for leases − 7000 held by whisper = 680 MiB free < 1229.
    assert.match(
      r.stderr,
      /^service: refused: svc-box-rag-ingest-1 needs 1229 MiB of GPU 0 \(custom GPU\) on svc-box, which has 7680 MiB for leases; svc-box-whisper-1 holds 7000 MiB since \d\d:\d\d:\d\d UTC \(\d+ s\): 7000 MiB leased, 680 MiB free\. Try again when they release it \(whisper unloads after 120 s without a job\)\.$/m,
    );
    assert.doesNotMatch(r.stderr, STACK_TRACE);
    assert.equal(await state(), "created");
  });

  it("after the holder is killed (SIGKILL) start starts the container; again: already running", async () => {
    await host.out("systemctl kill -s KILL fleet-test-whisper-lease");
    const r = service(["start", "rag-ingest"]);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^svc-box-rag-ingest-1 \(container rag-ingest-1 on svc-box\): started; it takes its 1229 MiB lease on GPU 0 when it loads$/m);
    assert.equal(await state(), "running");
    const again = service(["start", "rag-ingest"]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /: already running$/m);
  });

  it("stop drains and stops it; again: already stopped", async () => {
    const r = service(["stop", "rag-ingest"]);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /: stopped \(drained up to 3 s\); its lease is released$/m);
    assert.equal(await state(), "exited");
    const again = service(["stop", "rag-ingest"]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /: already stopped$/m);
  });

  it("a host key other than the pinned one is refused before anything runs", async () => {
    const r = service(["start", "rag-ingest"], wrongKeyStack);
    assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /service: cannot reach svc-box over SSH \(root@[\d.]+:22\): .*Its host key is not hosts\.svc-box\.ssh\.hostKey/);
    assert.equal(await state(), "exited");
  });
});
