// gpu-fleet status against a real Debian 12 host over real SSH (openssh-server installed from
// Debian's packages, host key pinned in the stack). There is no GPU and no dockerd on the test host:
// nvidia-smi, docker and tailscale are stand-ins that print what the real tools print for a host with
// three fleet containers (one as planned, one drifted, one unplanned) and one planned worker missing.
// The GPU processes are real processes, placed in cgroups named like docker's.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gpuFleet } from "../support/run";
import { loadStack } from "../../scripts/lib/stack";
import { planConfig } from "../../components/core/pipeline";
import { buildImage, checkPrerequisites, dockerHost, enabled, HOW_TO_RUN, repoRoot, SSH_PACKAGES, TestHost } from "./harness";
import { inspectTemplate } from "../../scripts/lib/status";

const SECRET = "redis://:hunter2-status@redis-vps:6379/0";
const ID = { kokoro1: "a".repeat(64), kokoro2: "b".repeat(64), extra: "c".repeat(64) };
const IMAGE = { kokoro: `sha256:${"1".repeat(64)}`, old: `sha256:${"2".repeat(64)}` };

const STACK = (hostKey: string) => `config:
  gpu-fleet:redis: { host: localhost }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    kokoro: { image: ghcr.io/example/kokoro-gpu:1.4.0, device: cuda, vramMiB: 600, ramMiB: 2500 }
    yolo: { image: ghcr.io/example/yolo-gpu:2.0.1, device: cuda, vramMiB: 300, ramMiB: 600 }
  gpu-fleet:hosts:
    gpu-box:
      ssh: { address: gpu-box.test, hostKey: "${hostKey}" }
      cpu: { cores: 8 }
      ramMiB: 32768
      gpus: [ { model: gtx-1080 } ]
      nvidia: { driver: managed, branch: "580" }
      workers: { kokoro: { replicas: 2 }, yolo: { replicas: 1 } }
`;

describe("gpu-fleet status on a Debian 12 host over SSH", { skip: enabled ? false : HOW_TO_RUN, timeout: 900_000 }, () => {
  const host = new TestHost("status");
  const dir = mkdtempSync(path.join(tmpdir(), "fleet-status-host-"));
  const pids: string[] = [];
  let stackFile = "";
  let sshConfig = "";

  before(async () => {
    checkPrerequisites();
    const debs = path.join(dir, "debs");
    spawnSync("mkdir", ["-p", debs]);
    const download = spawnSync("apt-get", ["download", ...SSH_PACKAGES], { cwd: debs, encoding: "utf8" });
    assert.equal(download.status, 0, `apt-get download: ${download.stderr}`);
    await host.start();
    const sh = async (script: string): Promise<string> => host.out(script);
    spawnSync("docker", ["cp", `${debs}/.`, `${host.container}:/tmp/debs`], { env: { ...process.env, DOCKER_HOST: dockerHost() } });
    await sh("dpkg -i /tmp/debs/*.deb >/dev/null 2>&1; test -x /usr/sbin/sshd && mkdir -p /run/sshd");

    // The runner's key, authorized for root; the host's key, pinned in the stack.
    const key = path.join(dir, "id_ed25519");
    assert.equal(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]).status, 0);
    await host.sh("install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys", readFileSync(`${key}.pub`, "utf8"));
    const hostKey = (await sh("cat /etc/ssh/ssh_host_ed25519_key.pub")).split(" ").slice(0, 2).join(" ");
    stackFile = path.join(dir, "Pulumi.status.yaml");
    writeFileSync(stackFile, STACK(hostKey));
    // The transport: sshd in inetd mode on the test host, started per connection through docker exec.
    // No PAM: pam_systemd would wait for logind in the container.
    sshConfig = path.join(dir, "ssh_config");
    writeFileSync(sshConfig, `Host gpu-box.test\n  ProxyCommand docker exec -i ${host.container} /usr/sbin/sshd -i -o UsePAM=no\n  IdentityFile ${key}\n`);

    // Processes on the GPU: real processes in cgroups named as docker names its containers' cgroups.
    for (const id of [ID.kokoro1, ID.kokoro2]) {
      const pid = await sh(
        `setsid sleep 3600 </dev/null >/dev/null 2>&1 & pid=$!; d=/sys/fs/cgroup/pids/gpu-fleet-status-test/docker-${id}.scope; mkdir -p "$d" && echo "$pid" > "$d/cgroup.procs" && echo "$pid"`,
      );
      pids.push(pid);
    }
    const outside = await sh("setsid sleep 3600 </dev/null >/dev/null 2>&1 & echo $!");
    pids.push(outside);

    // What the workers run, as deployed: the planner's env (fixture input, not an expected value).
    const plan = planConfig(loadStack(stackFile).document).plan.hosts[0];
    assert.ok(plan);
    const envOf = (service: string, replica: number): string[] => Object.entries(plan.workers.find((w) => w.service === service && w.replica === replica)?.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const kokoro2Env = envOf("kokoro", 2).map((e) => (e.startsWith("OMP_NUM_THREADS=") ? "OMP_NUM_THREADS=4" : e));
    const labels = (service: string, replica: number) => ({ "gpu-fleet.fleet": "gpu-fleet-status", "gpu-fleet.host": "gpu-box", "gpu-fleet.service": service, "gpu-fleet.replica": String(replica), "gpu-fleet.gpu": "0" });
    const inspect = [
      { id: ID.kokoro1, name: "/kokoro-1", image: IMAGE.kokoro, imageId: IMAGE.kokoro, state: { Status: "running", Running: true }, labels: labels("kokoro", 1), env: [...envOf("kokoro", 1), `REDIS_URL=${SECRET}`, null] },
      { id: ID.kokoro2, name: "/kokoro-2", image: IMAGE.old, imageId: IMAGE.old, state: { Status: "running", Running: true }, labels: labels("kokoro", 2), env: [...kokoro2Env, null] },
      { id: ID.extra, name: "/kokoro-3", image: IMAGE.kokoro, imageId: IMAGE.kokoro, state: { Status: "exited", Running: false, ExitCode: 0 }, labels: labels("kokoro", 3), env: [null] },
    ];
    const fake = "/etc/fleet-fake/status";
    await host.sh(`mkdir -p ${fake} && cat > ${fake}/inspect.jsonl`, `${inspect.map((c) => JSON.stringify(c)).join("\n")}\n`);
    await host.sh(`cat > ${fake}/images`, `${IMAGE.kokoro} ["ghcr.io/example/kokoro-gpu:1.4.0"]\n${IMAGE.old} ["ghcr.io/example/kokoro-gpu:1.3.9"]\n`);
    await host.sh(`cat > ${fake}/apps`, `${pids[0]}, GPU-fake-0, 612\n${pids[1]}, GPU-fake-0, 598\n${pids[2]}, GPU-fake-0, 120\n`);
    await host.sh(
      "cat > /usr/local/bin/nvidia-smi && chmod +x /usr/local/bin/nvidia-smi",
      `#!/bin/bash
case "$*" in
  *--query-gpu=*) echo "0, NVIDIA GeForce GTX 1080, 1330, 8192, 41, GPU-fake-0, 580.95.05" ;;
  *--query-compute-apps=pid,gpu_uuid,used_memory*) cat ${fake}/apps ;;
  *--query-compute-apps=pid*) cut -d, -f1 ${fake}/apps ;;
  *) echo "| NVIDIA-SMI 580.95.05    Driver Version: 580.95.05    CUDA Version: 13.0 |" ;;
esac
`,
    );
    await host.sh(
      "cat > /usr/local/bin/docker && chmod +x /usr/local/bin/docker",
      `#!/bin/bash
case "$1 $2" in
  "ps -aq") printf '%s\\n' ${ID.kokoro1} ${ID.kokoro2} ${ID.extra} ;;
  "inspect --format") if [[ "$3" == '{{.Image}}' ]]; then printf '%s\\n' ${IMAGE.kokoro} ${IMAGE.old} ${IMAGE.kokoro}; else cat ${fake}/inspect.jsonl; fi ;;
  "image inspect") cat ${fake}/images ;;
  *) echo "fake docker: $*" >&2; exit 1 ;;
esac
`,
    );
    await host.sh(
      "cat > /usr/local/bin/tailscale && chmod +x /usr/local/bin/tailscale",
      `#!/bin/bash\necho '{"BackendState": "Running",\n "Self": {"Online": true, "Tags": ["tag:gpu-worker"]}}'\n`,
    );
    // MPS: its unit active. Redis: a real one on the host. Roles: all copied but mps.sh.
    await sh(
      "printf '[Service]\\nExecStart=/bin/sleep infinity\\n' > /etc/systemd/system/gpu-fleet-mps.service && systemctl daemon-reload && systemctl start gpu-fleet-mps.service " +
        "&& (redis-server --port 6379 --daemonize yes >/dev/null) && install -d /root/.gpu-fleet/roles",
    );
    for (const file of readdirSync(path.join(repoRoot, "scripts/roles")).filter((f) => f !== "mps.sh")) {
      await host.sh(`cat > /root/.gpu-fleet/roles/${file}`, readFileSync(path.join(repoRoot, "scripts/roles", file), "utf8"));
    }
  });

  after(async () => {
    await host.sh(`kill ${pids.join(" ")} 2>/dev/null; sleep 0.2; rmdir /sys/fs/cgroup/pids/gpu-fleet-status-test/docker-*.scope /sys/fs/cgroup/pids/gpu-fleet-status-test 2>/dev/null; true`);
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = (...args: string[]) =>
    gpuFleet(["status", "-s", stackFile, "--via", "address", "--ssh-config", sshConfig, "--timeout", "90", ...args], { DOCKER_HOST: dockerHost() });

  it("shows GPUs with processes mapped to containers, services, and every drift; exit 1", () => {
    const result = status("--json");
    assert.equal(result.status, 1, result.stderr);
    const json = JSON.parse(result.stdout) as { hosts: Record<string, unknown>[] };
    assert.deepEqual(json, {
      hosts: [
        {
          name: "gpu-box",
          reachable: true,
          error: null,
          gpus: [
            {
              index: 0,
              name: "NVIDIA GeForce GTX 1080",
              memoryUsedMiB: 1330,
              memoryTotalMiB: 8192,
              utilizationPercent: 41,
              processes: [
                { pid: Number(pids[0]), service: "kokoro", container: "kokoro-1", memoryMiB: 612 },
                { pid: Number(pids[1]), service: "kokoro", container: "kokoro-2", memoryMiB: 598 },
                { pid: Number(pids[2]), service: null, container: null, memoryMiB: 120 },
              ],
            },
          ],
          mps: { active: true },
          services: { kokoro: { planned: 2, running: 2, healthy: 2 }, yolo: { planned: 1, running: 0, healthy: 0 } },
          drift: [
            "kokoro-2: runs ghcr.io/example/kokoro-gpu:1.3.9, planned ghcr.io/example/kokoro-gpu:1.4.0",
            "kokoro-2: 4 threads, planned 2",
            "kokoro-3: a container of this fleet that the plan does not have here (exited)",
            "yolo-1: missing (planned yolo replica 1)",
            "role mps: not set up (no ~/.gpu-fleet/roles/mps.sh)",
          ],
        },
      ],
    });
    assert.ok(!result.stdout.includes("hunter2") && !result.stderr.includes("hunter2"), "a secret left the host in the output");
  });

  it("prints the human table", () => {
    const result = status();
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stdout, /^gpu-box  5 drift  driver 580\.95\.05  CUDA 13\.0  MPS active  tailscale up, tag:gpu-worker  redis localhost:6379 reachable$/m);
    assert.match(result.stdout, /^  GPU 0  NVIDIA GeForce GTX 1080  1330\/8192 MiB  41%$/m);
    assert.match(result.stdout, new RegExp(`^      pid ${pids[0]}  612 MiB  kokoro  kokoro-1$`, "m"));
    assert.match(result.stdout, /^  service yolo  0\/1 running, 0 healthy$/m);
    assert.match(result.stdout, /^  ✗ yolo-1: missing \(planned yolo replica 1\)$/m);
    assert.ok(!result.stdout.includes("hunter2"));
  });

  it("refuses a host that presents another key than the pinned one", () => {
    // A real key, but not this host's.
    writeFileSync(stackFile, STACK("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIoNW2520LjeuULKKbK2DT3mL6dh5TzfosoLTXbd9Zm+"));
    const result = status("--json");
    assert.equal(result.status, 1);
    const json = JSON.parse(result.stdout) as { hosts: { reachable: boolean; error: string }[] };
    assert.deepEqual(json.hosts.map((h) => [h.reachable, h.error]), [[false, "host key verification failed: the host did not present its pinned ssh.hostKey"]]);
  });
});

describe("the status probe's docker inspect template, on a real dockerd", { skip: enabled ? false : HOW_TO_RUN, timeout: 300_000 }, () => {
  it("prints one JSON line per container with only the planned env names, never a secret", () => {
    checkPrerequisites();
    const env = { ...process.env, DOCKER_HOST: dockerHost() };
    const name = `gpu-fleet-cli-status-${process.pid}`;
    const image = buildImage();
    const created = spawnSync(
      "docker",
      ["create", "--name", name, "--label", "gpu-fleet.service=kokoro", "-e", "OMP_NUM_THREADS=2", "-e", "WORKER_NAME=w-1", "-e", `REDIS_URL=${SECRET}`, "-e", "OMP_NUM_THREADS_X=9", image, "true"],
      { env, encoding: "utf8" },
    );
    assert.equal(created.status, 0, created.stderr);
    try {
      const out = spawnSync("docker", ["inspect", "--format", inspectTemplate(["OMP_NUM_THREADS", "WORKER_NAME"]), name], { env, encoding: "utf8" });
      assert.equal(out.status, 0, out.stderr);
      assert.ok(!out.stdout.includes("hunter2"));
      const lines = out.stdout.trim().split("\n");
      assert.equal(lines.length, 1);
      const parsed = JSON.parse(lines[0] ?? "") as { name: string; state: { Status: string; Health?: unknown }; labels: Record<string, string>; env: (string | null)[] };
      assert.deepEqual([parsed.name, parsed.state.Status, parsed.state.Health, parsed.labels["gpu-fleet.service"]], [`/${name}`, "created", undefined, "kokoro"]);
      // The env comes back in the container's own order, which Docker does not promise to keep as given
      // (evaluate() reads it by name); the template always ends the list with null.
      assert.equal(parsed.env.at(-1), null);
      assert.deepEqual(parsed.env.slice(0, -1).sort(), ["OMP_NUM_THREADS=2", "WORKER_NAME=w-1"]);
      const none = spawnSync("docker", ["inspect", "--format", inspectTemplate([]), name], { env, encoding: "utf8" });
      assert.deepEqual((JSON.parse(none.stdout) as { env: unknown[] }).env, [null]);
    } finally {
      spawnSync("docker", ["rm", "-f", name], { env });
    }
  });
});
