// Host faults on a real, fresh Debian 12 host (the roles' harness): worker containers made with the
// fleet's own container settings (components/core/worker-container.ts, the one source Workers.ts
// and join-fleet.sh share) survive a reboot, a dockerd restart and a killed MPS daemon; the memory
// cap holds; a role that cannot write fails with the path and leaves nothing half-written; a re-run
// converges. docs/faults.md lists each fault with the test here that shows it.
//
// There is no GPU here: the containers get the settings of MPS clients (pipe mount, host IPC, uid)
// without a device request, and the MPS daemon is NVIDIA's name on a stand-in (test/host/fakes).
// Run: FLEET_HOST_TESTS=1 (docs/roles.md).
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { planConfig } from "../../components/core/pipeline";
import type { HostPlan } from "../../components/core/planner";
import { workerContainer, type WorkerContainerSettings } from "../../components/core/worker-container";
import { parseStackFile } from "../../components/core/stack-file";
import { checkPrerequisites, enabled, HOW_TO_RUN, REMOTE_REPOS, repoLine, run, show, TestHost, type RunResult } from "./harness";
import { fakeAuthKey } from "../support/fixtures";

const HOST = "fault-box";
const IMAGE = "fleet-fault-worker:1";
const MPS_UID = 10001;

/** `docker run` flags for the settings, as join-fleet.sh maps them (and Workers.ts gives Docker). */
function runFlags(s: WorkerContainerSettings): string[] {
  const flags = ["--user", s.user, "--cap-drop", s.capDrop.join(","), "--memory", `${s.memoryMiB}m`, "--memory-swap", `${s.memorySwapMiB}m`, "--cpus", String(s.cpus)];
  if (s.noNewPrivileges) flags.push("--security-opt", "no-new-privileges:true");
  for (const cap of s.capAdd) flags.push("--cap-add", cap);
  if (s.readOnlyRootFs) flags.push("--read-only");
  for (const [path, options] of Object.entries(s.tmpfs)) flags.push("--tmpfs", `${path}:${options}`);
  for (const b of s.binds) flags.push("--mount", `type=bind,source=${b.source},target=${b.target}`);
  if (s.ipcHost) flags.push("--ipc", "host");
  if (s.cpuSet !== null) flags.push("--cpuset-cpus", s.cpuSet);
  return flags;
}

/** A host plan with two MPS clients on one GPU and one CPU worker, from a stack file. */
function planned(): HostPlan {
  const stack = `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    tts: { image: ${IMAGE}, device: cuda, threads: 1, vramMiB: 1000, ramMiB: 64 }
    embed: { image: ${IMAGE}, device: cpu, threads: 1, ramMiB: 64 }
  gpu-fleet:hosts:
    ${HOST}:
      ssh: { address: 192.0.2.20, hostKey: trust-on-first-use }   # never dialled: the plan only
      cpu: { cores: 4 }
      ramMiB: 8192
      gpus: [ { model: rtx-4000-sff-ada } ]
      reserve: { cores: 0, ramMiB: 512 }
      workers: { tts: { replicas: 2 }, embed: { replicas: 1 } }
`;
  const file = parseStackFile(stack, "faults.yaml");
  const result = planConfig(file.document);
  assert.deepEqual(result.errors, []);
  const host = result.plan?.hosts.find((h) => h.name === HOST);
  assert.ok(host);
  return host;
}

// The worker: healthy while it sees the MPS daemon's files through its pipe mount (CPU workers:
// always), writing only to its tmpfs.
const WORKER_LOOP =
  'while :; do if [[ -z "${CUDA_MPS_PIPE_DIRECTORY:-}" || -e "${CUDA_MPS_PIPE_DIRECTORY}/fake-mps.pid" ]]; then : >/tmp/ready; else rm -f /tmp/ready; fi; sleep 1; done';

describe("host faults on a fresh Debian 12 host", { skip: enabled ? false : HOW_TO_RUN, timeout: 1_500_000 }, () => {
  const host = new TestHost(HOST);
  const plan = enabled ? planned() : undefined;
  const names = plan?.workers.map((w) => `${w.service}-${w.replica}`) ?? [];

  async function ok(r: RunResult, what: string): Promise<void> {
    assert.equal(r.code, 0, `${what}:\n${show(r)}`);
  }

  /** Waits until every planned container runs and is healthy; returns how long it took (ms). */
  async function allHealthy(budgetMs: number): Promise<number> {
    const start = Date.now();
    let last = "";
    for (;;) {
      const r = await host.sh(`docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' ${names.join(" ")} 2>&1`);
      last = r.stdout.trim();
      const lines = last.split("\n");
      if (r.code === 0 && lines.length === names.length && lines.every((l) => / running healthy$/.test(l))) return Date.now() - start;
      if (Date.now() - start > budgetMs) throw new Error(`workers not all running and healthy after ${budgetMs / 1000}s:\n${last}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  }

  async function bootedAgain(): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await host.sh("systemctl is-system-running 2>/dev/null || true");
      if (["running", "degraded"].includes(r.stdout.trim())) return;
      if (Date.now() > deadline) throw new Error(`the host did not boot again: '${r.stdout.trim()}'`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  }

  before(async () => {
    checkPrerequisites();
    await host.start();
    await ok(await host.role("base"), "base role");
    await ok(await host.role("docker"), "docker role");
    // The stand-in driver (nvidia-smi, nvidia-cuda-mps-control), as the nvidia-driver role installs it.
    await ok(await host.sh(`dpkg -i ${REMOTE_REPOS}/nvidia/nvidia-driver-cuda_*.deb >/dev/null`), "stand-in driver");
    await ok(await host.role("mps", { FLEET_MPS: "on", FLEET_MPS_GPUS: "0", FLEET_MPS_UID: String(MPS_UID), FLEET_MPS_PINNED_MEM_LIMIT: "0=1000M" }), "mps role");
    // A minimal worker image: bash, sh (Docker's health checks run /bin/sh -c), sleep and rm with
    // their libraries from the host, nothing else: a worker under the fleet's settings needs no more.
    await ok(
      await host.sh(
        `set -euo pipefail; bins="/bin/bash /bin/sh /bin/sleep /bin/rm"; files="$bins $(ldd $bins | grep -o '/[^ ):]*' | grep '^/lib' | sort -u | tr '\\n' ' ')"; ` +
          `tar -chf /root/worker.tar $files 2>/dev/null; docker import --change 'CMD ["/bin/bash"]' /root/worker.tar ${IMAGE} >/dev/null`,
      ),
      "worker image",
    );
    for (const w of plan!.workers) {
      const settings = workerContainer(w, plan!);
      const env = Object.entries(w.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
      const args = [
        "docker", "run", "-d", "--name", `${w.service}-${w.replica}`, "--restart", "unless-stopped", "--init",
        ...runFlags(settings), ...env,
        "--health-cmd", "test -e /tmp/ready", "--health-interval", "1s", "--health-retries", "2", "--health-start-period", "0s",
        IMAGE, "/bin/bash", "-c", WORKER_LOOP,
      ];
      await ok(await run("docker", ["exec", host.container, ...args]), `docker run ${w.name}`);
    }
    await allHealthy(60_000);
  });
  after(async () => {
    await host.stop();
  });

  it("the containers run as planned: non-root uid, no privileges, read-only root, no swap, CPU quota", async () => {
    const [tts] = JSON.parse(await host.out("docker inspect tts-1")) as Array<{ Config: { User: string }; HostConfig: Record<string, unknown> }>;
    assert.equal(tts!.Config.User, `${MPS_UID}:${MPS_UID}`);
    assert.deepEqual(tts!.HostConfig.CapDrop, ["ALL"]);
    // Docker adds label=disable to a container with the host's IPC.
    assert.ok((tts!.HostConfig.SecurityOpt as string[]).includes("no-new-privileges:true"), String(tts!.HostConfig.SecurityOpt));
    assert.equal(tts!.HostConfig.ReadonlyRootfs, true);
    assert.equal(tts!.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(tts!.HostConfig.MemorySwap, 64 * 1024 * 1024);
    assert.equal(tts!.HostConfig.NanoCpus, 1_000_000_000);
    assert.equal(tts!.HostConfig.IpcMode, "host");
    const [embed] = JSON.parse(await host.out("docker inspect embed-1")) as Array<{ HostConfig: Record<string, unknown> }>;
    assert.notEqual(embed!.HostConfig.IpcMode, "host", "a CPU worker shares the host's IPC");
    // Inside: the uid, no capabilities at all, no new privileges, / read-only, /tmp writable.
    const inside = await host.out(
      `docker exec tts-1 bash -c 'printf "%s" "$UID"; while IFS= read -r l; do case $l in CapPrm:* | CapEff:* | NoNewPrivs:*) printf " %s" "$l" ;; esac; done </proc/self/status; echo; : >/probe 2>/dev/null && echo root-writable; : >/tmp/probe && echo tmp-writable'`,
    );
    assert.match(inside, new RegExp(`^${MPS_UID} CapPrm:\\s+0{16} CapEff:\\s+0{16} NoNewPrivs:\\s+1\\ntmp-writable$`));
    // The MPS pipe directory belongs to the clients' uid alone: another uid cannot use it.
    const other = await host.sh(`docker run --rm --user 10002:10002 --mount type=bind,source=/run/gpu-fleet/mps,target=/mps ${IMAGE} bash -c '[[ -r /mps/fake-mps.pid ]]'`);
    assert.notEqual(other.code, 0, "a uid other than the MPS clients' reads the pipe directory");
    // The MPS daemon runs as that uid too (one server per uid).
    assert.equal(await host.out("ps -o uid= -p $(cat /run/gpu-fleet/mps/fake-mps.pid) | tr -d ' '"), String(MPS_UID));
  });

  it("memory cap: a worker allocating past ramMiB is OOM-killed, not swapped", async () => {
    const settings = workerContainer(plan!.workers[0]!, plan!);
    // bash holds a 200 MiB string: three times the 64 MiB cap.
    const r = await run("docker", ["exec", host.container, "docker", "run", "--name", "oom-probe", ...runFlags(settings), IMAGE, "/bin/bash", "-c", 'x="$(printf "%0209715200d" 0)"; echo survived ${#x}']);
    assert.notEqual(r.code, 0, `the allocation survived:\n${show(r)}`);
    const state = await host.out("docker inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.MemorySwap}}' oom-probe");
    assert.equal(state, `true 137 ${64 * 1024 * 1024}`);
    await host.sh("docker rm -f oom-probe");
  });

  it("reboot: MPS and every planned container come back healthy, no deployment run", async () => {
    // The kernel's boot id belongs to the runner here; a marker in /run (tmpfs) shows the reboot.
    await ok(await host.sh("touch /run/fleet-before-reboot"), "marker");
    // Restarting the host container is a reboot: systemd shuts down, /run (tmpfs) is emptied.
    await ok(await run("docker", ["restart", "-t", "60", host.container]), "reboot");
    await bootedAgain();
    assert.equal((await host.sh("test -e /run/fleet-before-reboot")).code, 1, "/run survived: no reboot happened");
    const took = await allHealthy(120_000);
    assert.equal(await host.out("stat -c '%u:%a' /run/gpu-fleet/mps"), `${MPS_UID}:700`);
    // MPS was up before Docker started its containers.
    const mps = Number(await host.out("systemctl show -p ActiveEnterTimestampMonotonic --value gpu-fleet-mps"));
    const docker = Number(await host.out("systemctl show -p ExecMainStartTimestampMonotonic --value docker"));
    assert.ok(mps > 0 && mps <= docker, `gpu-fleet-mps active at ${mps}, docker started at ${docker}`);
    assert.ok(took < 120_000);
  });

  it("dockerd restart: every planned container comes back healthy", async () => {
    await ok(await host.sh("systemctl restart docker"), "restart docker");
    await allHealthy(90_000);
  });

  it("MPS daemon killed: systemd restarts it and its clients see the new one through their mount", async () => {
    const pid = await host.out("cat /run/gpu-fleet/mps/fake-mps.pid");
    await ok(await host.sh("systemctl kill -s KILL gpu-fleet-mps.service"), "kill MPS");
    const deadline = Date.now() + 60_000;
    for (;;) {
      const now = (await host.sh("systemctl is-active gpu-fleet-mps; cat /run/gpu-fleet/mps/fake-mps.pid 2>/dev/null")).stdout.trim().split("\n");
      if (now[0] === "active" && now[1] !== undefined && now[1] !== pid) break;
      if (Date.now() > deadline) throw new Error(`MPS not restarted: ${now.join(" ")}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
    await allHealthy(60_000);
    assert.equal(await host.out("docker exec tts-1 bash -c 'echo $(<$CUDA_MPS_PIPE_DIRECTORY/fake-mps.pid)'"), await host.out("cat /run/gpu-fleet/mps/fake-mps.pid"));
  });

  it("tailscaled restart (stand-in): the node stays enrolled, the role changes nothing and sends no key", async () => {
    const vars = { FLEET_TS_HOSTNAME: HOST, FLEET_TS_TAGS: "tag:gpu-worker", FLEET_TAILSCALE_APT_REPO: repoLine("tailscale") };
    await ok(await host.role("tailscale", vars, `${fakeAuthKey("FAULT000")}\n`), "tailscale role");
    await ok(await host.sh("systemctl restart tailscaled"), "restart tailscaled");
    const r = await host.role("tailscale", vars, "");
    assert.equal(r.code, 0, show(r));
    assert.match(r.last, /^ok: tailscale running as fault-box/);
    assert.equal((await host.calls(/^tailscale up/)).length, 1, "tailscale up ran again after a restart");
  });

  it("a write that fails (read-only target): the role exits non-zero naming the path; the unit is unchanged", async () => {
    const unit = "/etc/systemd/system/gpu-fleet-mps.service";
    const before = await host.read(unit);
    await ok(await host.sh("mount --bind /etc/systemd/system /etc/systemd/system && mount -o remount,bind,ro /etc/systemd/system"), "read-only unit dir");
    try {
      const r = await host.role("mps", { FLEET_MPS: "on", FLEET_MPS_GPUS: "0", FLEET_MPS_UID: String(MPS_UID), FLEET_MPS_PINNED_MEM_LIMIT: "0=900M" });
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, new RegExp(`failed: mps on ${HOST}: cannot write ${unit}: cannot create a file in /etc/systemd/system\\. hint: check that /etc/systemd/system is writable`));
      assert.doesNotMatch(r.stdout, /changed: .*written|restarted/);
    } finally {
      await host.sh("umount /etc/systemd/system");
    }
    assert.equal(await host.read(unit), before);
  });

  it("disk full while a role writes: it fails clearly, nothing half-written; the re-run converges", async () => {
    const dir = "/etc/sysctl.d";
    const file = `${dir}/90-gpu-fleet.conf`;
    const good = await host.read(file);
    // A full filesystem under the role's file: an old version of the file, and no room left.
    await ok(
      await host.sh(`cp -a ${dir} /root/sysctl.d.saved && mount -t tmpfs -o size=64k tmpfs ${dir} && printf 'fs.inotify.max_user_watches = 1\\n' > ${file} && (dd if=/dev/zero of=${dir}/filler bs=4k 2>/dev/null || true)`),
      "fill the disk",
    );
    try {
      const r = await host.role("base");
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, new RegExp(`failed: base on ${HOST}: cannot write ${file}`));
      assert.equal(await host.read(file), "fs.inotify.max_user_watches = 1\n", "the old file was touched");
      assert.equal((await host.sh(`ls -A ${dir}`)).stdout.split("\n").filter((l) => l.startsWith(".gpu-fleet-write")).length, 0, "a temp file was left behind");
      // Space again: the re-run converges, then changes nothing.
      await ok(await host.sh(`rm -f ${dir}/filler`), "free space");
      const again = await host.role("base");
      assert.equal(again.code, 0, show(again));
      assert.match(again.last, /^changed: sysctl drop-in written/);
      assert.equal(await host.read(file), good);
      const third = await host.role("base");
      assert.match(third.last, /^ok: /, show(third));
    } finally {
      await host.sh(`umount ${dir}; rm -rf /root/sysctl.d.saved`);
    }
  });
});
