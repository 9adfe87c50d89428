// scripts/join-fleet.sh end to end on a real, fresh Debian 12 host (the roles' harness): a machine
// that Pulumi cannot reach joins the fleet from a join plan, runs the roles locally, and starts its
// workers with `docker run` under the worker contract. A real redis-server (password protected) on
// the test host is the fleet's Redis; the worker image is built inside the test host from the
// harness's Debian image plus test/host/worker-image. Run: FLEET_HOST_TESTS=1 (docs/join-fleet.md).
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { runTool } from "../support/run";
import { buildImage, checkPrerequisites, enabled, HOW_TO_RUN, repoLine, repoRoot, run, show, TestHost, type RunResult } from "./harness";
import { fakeAuthKey } from "../support/fixtures";

const HOST = "join-box";
const REMOTE = "/var/lib/gpu-fleet";
const JOIN = `${REMOTE}/join-fleet.sh`;
// Test-only files (the Redis password for redis-cli, values to pipe into --store-secret).
const SECRETS = "/root/join-secrets";
// Where join-fleet.sh keeps the machine's secrets (--store-secret writes there; runs read it).
const SECRETS_DIR = "/etc/gpu-fleet/secrets";
// Secrets of this test only: they must appear in no argv, no output, no leftover file.
const REDIS_PASSWORD = "join-test-redis-pw-7f3a91";
const API_TOKEN = "join-test-api-token-c0ffee";
const AUTH_KEY = fakeAuthKey("JOIN0000");
const WORKER_IMAGE = "fleet-test-worker:1";

function stackYaml(cores: number, ramMiB: number, replicas: number, greeting: string): string {
  return `config:
  gpu-fleet:redis: { host: localhost }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:apiToken: { secure: AAABAPLACEHOLDERapiToken }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    echo:
      image: ${WORKER_IMAGE}
      device: cpu
      threads: 1
      ramMiB: 128
      drainSeconds: 5
      env: { GREETING: ${greeting}, API_TOKEN: { secret: apiToken } }
      healthcheck: { test: "test -f /tmp/worker-ready", intervalSeconds: 1, timeoutSeconds: 2, retries: 20, startPeriodSeconds: 0 }
  gpu-fleet:hosts:
    ${HOST}:
      join: {}
      cpu: { cores: ${cores} }
      ramMiB: ${ramMiB}
      reserve: { cores: 0, ramMiB: 512 }
      workers: { echo: { replicas: ${replicas} } }
`;
}

function ok(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed:\n${show(r)}`);
  assert.match(r.last, /^ok: /, `${what} must change nothing:\n${show(r)}`);
}
function changed(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed:\n${show(r)}`);
  assert.match(r.last, /^changed: /, `${what} must report changed:\n${show(r)}`);
}
function noSecrets(r: RunResult, what: string): void {
  for (const secret of [REDIS_PASSWORD, API_TOKEN, AUTH_KEY]) {
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), `${what} printed a secret:\n${show(r)}`);
  }
}

describe("join-fleet.sh on a fresh Debian 12 host", { skip: enabled ? false : HOW_TO_RUN, timeout: 3_600_000 }, () => {
  const host = new TestHost(HOST);
  const local = mkdtempSync(path.join(tmpdir(), "fleet-join-"));
  const plans: Record<string, string> = {};
  // Settings by flag, not by environment: sudo would drop the environment's FLEET_* variables.
  const tsRepo = `--set 'FLEET_TAILSCALE_APT_REPO=${repoLine("tailscale")}'`;
  // A join installs packages; on a loaded machine that outlasts the harness's default 10 minutes.
  const join = (args: string, prefix = ""): Promise<RunResult> =>
    run("docker", ["exec", "-i", host.container, "bash", "-c", `${prefix}bash ${JOIN} ${tsRepo} ${args}`], "", 1_800_000);
  const secretArgs = `--redis-url-file ${SECRETS}/redis-url --secret apiToken=${SECRETS}/api-token`;

  /** Pushes a job and waits for its result: the worker's uppercased payload and its env. */
  async function roundTrip(payload: string): Promise<string> {
    const r = await host.sh(
      `export REDISCLI_AUTH="$(cat ${SECRETS}/redis-password)"; redis-cli --raw LPUSH jobs '${payload}' >/dev/null && redis-cli --raw BRPOP results 30`,
    );
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "results", `no result within 30 s for '${payload}':\n${show(r)}\n${(await host.sh("docker ps -a; docker logs echo-1 2>&1 | tail")).stdout}`);
    return lines[1] ?? "";
  }
  async function containers(): Promise<Record<string, string>> {
    const out = await host.out(`docker ps -a --filter label=gpu-fleet.host=${HOST} --format '{{.Names}} {{.ID}} {{.Status}}'`);
    return Object.fromEntries(out.split("\n").filter(Boolean).map((l) => [l.split(" ")[0]!, l.split(" ")[1]!]));
  }

  before(async () => {
    checkPrerequisites();
    await host.start();
    const cores = Number(await host.out("nproc"));
    const ramMiB = Math.floor(Number(await host.out("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) / 1024);
    // The admin machine's side: join plans from stack files (no workers yet, two, then one changed).
    for (const [name, replicas, greeting] of [["v0", 0, "hello"], ["v1", 2, "hello"], ["v2", 1, "hi-again"]] as const) {
      // One stack (gpu-fleet-join) at three points in time.
      mkdirSync(path.join(local, name));
      const stack = path.join(local, name, "Pulumi.join.yaml");
      writeFileSync(stack, stackYaml(cores, ramMiB, replicas, greeting));
      const out = path.join(local, `plan-${name}.json`);
      const r = runTool("scripts/join-plan.ts", [stack, HOST, "--out", out]);
      assert.equal(r.status, 0, `join-plan ${name}: ${r.stderr}`);
      plans[name] = out;
    }
    await host.out(`mkdir -p ${SECRETS} && chmod 0700 ${SECRETS}`);
    assert.equal((await host.sh(`test -e ${SECRETS_DIR}`)).code, 1, "the secrets directory exists before join-fleet.sh made it");
    for (const [name, file] of Object.entries(plans)) {
      const cp = await run("docker", ["cp", file, `${host.container}:/root/${path.basename(file)}`]);
      assert.equal(cp.code, 0, `copy ${name}: ${show(cp)}`);
    }
    for (const file of ["join-fleet.sh"]) {
      const cp = await run("docker", ["cp", path.join(repoRoot, "scripts", file), `${host.container}:${REMOTE}/${file}`]);
      assert.equal(cp.code, 0, show(cp));
    }
    // The fleet's Redis: Debian's redis-server with a password, reachable from containers through
    // the test host's address. Secrets reach the test host on stdin, never in a command line.
    const address = await host.out("ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1");
    const secrets = [
      ["redis-password", REDIS_PASSWORD],
      ["redis-url", `redis://:${REDIS_PASSWORD}@${address}:6379/0`],
      ["api-token", API_TOKEN],
      ["ts-auth-key", AUTH_KEY],
    ];
    for (const [file, value] of secrets) {
      const w = await host.sh(`umask 077 && cat > ${SECRETS}/${file}`, `${value}\n`);
      assert.equal(w.code, 0, show(w));
    }
    // The documented way to put a secret on the machine: join-fleet.sh creates its directory (0700).
    for (const [key, file] of [["redisUrl", "redis-url"], ["apiToken", "api-token"]]) {
      const stored = await host.sh(`bash ${JOIN} --store-secret ${key} < ${SECRETS}/${file}`);
      assert.equal(stored.code, 0, show(stored));
      assert.equal(stored.last, `changed: ${SECRETS_DIR}/${key} written (mode 0600)`);
    }
    assert.equal(await host.out(`stat -c '%a %u' ${SECRETS_DIR} ${SECRETS_DIR}/redisUrl ${SECRETS_DIR}/apiToken`), "700 0\n600 0\n600 0");
    await host.sh(`umask 077 && cat > /root/redis-join.conf`, `port 6379\nbind 0.0.0.0\nrequirepass ${REDIS_PASSWORD}\ndaemonize yes\n`);
    await host.out("redis-server /root/redis-join.conf >/dev/null");
  });
  after(async () => {
    await host.stop();
    rmSync(local, { recursive: true, force: true });
  });

  it("a dry run on a fresh machine installs jq (it reads the plan) and changes nothing else", async () => {
    assert.equal((await host.sh("command -v jq")).code, 1, "the fresh host already has jq");
    const r = await join(`--plan /root/plan-v1.json --dry-run`);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^installed jq \(it reads the plan\)$/m);
    assert.match(r.last, /^ok: dry run, nothing changed but installed jq \(5 roles, 2 workers planned for join-box\)$/);
    noSecrets(r, "first dry run");
    assert.equal((await host.sh("command -v docker")).code, 1, "the dry run installed docker");
  });

  it("a run that cannot start ends with a failed: line naming the step", async () => {
    const badPlan = await join(`--plan /root/no-such-plan.json`);
    assert.equal(badPlan.code, 2, show(badPlan));
    assert.equal(badPlan.last, "failed: join-fleet on this machine: reading the plan: cannot read the plan /root/no-such-plan.json");
    // An unexpected failure (errexit) too: here mktemp fails while the run sets up its private directory.
    await host.out("mkdir -p /root/shim-mktemp && printf '#!/bin/sh\\nexit 1\\n' > /root/shim-mktemp/mktemp && chmod +x /root/shim-mktemp/mktemp");
    const broken = await join(`--plan /root/plan-v1.json --dry-run`, "PATH=/root/shim-mktemp:$PATH ");
    assert.equal(broken.code, 1, show(broken));
    assert.match(broken.last, /^failed: join-fleet on join-box: reading the secrets: stopped \(exit 1\)\. hint: /);
  });

  it("stops at the first failing role with its message: no auth key for a node that needs login", async () => {
    const r = await join(`--plan /root/plan-v0.json`);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stdout, /^role facts: ok: /m);
    assert.match(r.stdout, /^role base: changed: /m);
    assert.match(r.last, /^failed: join-fleet on join-box: role tailscale: failed \(failed: tailscale on join-box: the node needs login and no auth key came on stdin/);
    assert.doesNotMatch(r.stdout, /^role docker/m, "a role after the failing one ran");
    assert.equal((await host.sh("command -v docker")).code, 1, "docker was installed after a failed role");
  });

  it("joins: roles in order (enrolled with the key file), no workers yet; then the worker image is built", async () => {
    const stored = await host.sh(`bash ${JOIN} --store-secret authKey < ${SECRETS}/ts-auth-key`);
    assert.equal(stored.code, 0, show(stored));
    // The auth key comes from the secrets directory: no flag names it.
    const r = await join(`--plan /root/plan-v0.json`);
    changed(r, "first join");
    noSecrets(r, "first join");
    const order = [...r.stdout.matchAll(/^role ([a-z-]+): (?:ok|changed):/gm)].map((m) => m[1]);
    assert.deepEqual(order, ["facts", "base", "tailscale", "docker", "verify"]);
    assert.match(r.stdout, /^role tailscale: changed: .*enrolled in the tailnet as join-box with tag:gpu-worker/m);
    assert.match(r.stdout, /^role verify: ok: .*-NOAUTH/m);
    assert.equal(await host.out("systemctl is-active docker"), "active");

    // The worker image: the harness's Debian image (bash, redis-cli) plus the test worker.
    const load = await run("bash", ["-c", `docker save ${buildImage()} | docker exec -i ${host.container} docker load -q`]);
    assert.equal(load.code, 0, show(load));
    const cp = await run("docker", ["cp", path.join(repoRoot, "test", "host", "worker-image"), `${host.container}:/root/worker-image`]);
    assert.equal(cp.code, 0, show(cp));
    await host.out(`docker build -q --build-arg BASE=${buildImage()} -t ${WORKER_IMAGE} /root/worker-image`);
  });

  it("--dry-run prints every role and docker command, secrets as [secret], and changes nothing", async () => {
    const r = await join(`--plan /root/plan-v1.json ${secretArgs} --dry-run`);
    ok(r, "dry run");
    noSecrets(r, "dry run");
    for (const role of ["facts", "base", "tailscale", "docker", "verify"]) {
      assert.match(r.stdout, new RegExp(`^would run: env FLEET_TAILSCALE_APT_REPO=.* FLEET_HOST=join-box .*bash ${REMOTE}/roles/${role}\\.sh${role === "tailscale" ? " < \\[secret: auth key file\\]" : ""}$`, "m"));
    }
    const runs = r.stdout.split("\n").filter((l) => l.startsWith("would run: docker run "));
    assert.equal(runs.length, 2, r.stdout);
    assert.match(runs[0]!, /^would run: docker run -d --name echo-1 --hostname join-box-echo-1 --restart unless-stopped --env-file \S+ --log-driver json-file --log-opt max-size=50m --log-opt max-file=5 /);
    // The plan's runFlags (dockerRunFlags: the settings of components/core/worker-container.ts, as
    // Workers.ts applies them), in their order.
    assert.match(runs[0]!, / --init --stop-signal SIGTERM --stop-timeout 5 --user 10001:10001 --cap-drop ALL --memory 128m --memory-swap 128m --cpus 1 --security-opt no-new-privileges:true --read-only --tmpfs \/tmp:rw\\?,nosuid\\?,nodev\\?,mode=1777\\?,uid=10001\\?,gid=10001 /);
    assert.doesNotMatch(runs[0]!, /--ipc host|--mount/, "a CPU worker gets host IPC or the MPS pipe");
    assert.match(runs[0]!, /--label gpu-fleet\.host=join-box .*--label gpu-fleet\.gpu=cpu --label gpu-fleet\.spec-hash=[0-9a-f]{64} .*fleet-test-worker:1$/);
    assert.match(r.stdout, /^ {2}env-file: REDIS_URL=\[secret\]$/m);
    assert.match(r.stdout, /^ {2}env-file: API_TOKEN=\[secret\]$/m);
    assert.match(r.stdout, /^ {2}env-file: WORKER_NAME=join-box-echo-1$/m);
    assert.doesNotMatch(r.stdout, /redis:\/\//);
    assert.deepEqual(await containers(), {});
  });

  it("starts the workers: a job goes through Redis with the contract env; no secret in any argv", async () => {
    // Watch every process's command line on the host (containers' processes included) during the run.
    // A canary proves the watcher sees short-lived processes' argv.
    const canary = "argv-canary-5d1e";
    await host.sh(`umask 077 && cat > /root/argv-patterns`, `${REDIS_PASSWORD}\n${API_TOKEN}\n${canary}\n`);
    await host.out(
      "rm -f /root/argv-hits /root/argv-samples && systemd-run --unit=fleet-argv-watch bash -c " +
        "'while :; do cat /proc/[0-9]*/cmdline 2>/dev/null | tr \"\\0\" \"\\n\" | grep -F -f /root/argv-patterns >> /root/argv-hits; echo >> /root/argv-samples; sleep 0.05; done'",
    );
    await host.out(`sleep 0.5; true ${canary}`);
    const r = await join(`--plan /root/plan-v1.json ${secretArgs}`);
    changed(r, "join with workers");
    noSecrets(r, "join with workers");
    assert.match(r.last, /echo-1 created; echo-2 created$/);
    assert.match(r.stdout, /^role docker: ok: /m);
    assert.deepEqual(Object.keys(await containers()).sort(), ["echo-1", "echo-2"]);

    const result = await roundTrip("hello fleet");
    assert.match(result, /^HELLO FLEET worker=join-box-echo-[12] threads=1 greeting=hello token=(\S+)$/);
    const tokenHash = createHash("sha256").update(API_TOKEN).digest("hex").slice(0, 12);
    assert.ok(result.endsWith(`token=${tokenHash}`), `secret env did not arrive: ${result}`);

    await host.out("systemctl stop fleet-argv-watch");
    const samples = (await host.read("/root/argv-samples")).split("\n").length;
    assert.ok(samples > 10, `the argv watcher sampled only ${samples} times`);
    const hits = [...new Set((await host.sh("cat /root/argv-hits 2>/dev/null")).stdout.split("\n").filter(Boolean))];
    assert.ok(hits.some((h) => h.includes(canary)), `the watcher did not see the canary's argv: ${JSON.stringify(hits)}`);
    const leaks = hits.filter((h) => h.includes(REDIS_PASSWORD) || h.includes(API_TOKEN));
    assert.deepEqual(leaks, [], "a secret appeared in a process's argv");
    // Nothing of the env file is left behind.
    assert.equal((await host.sh("ls -d /run/gpu-fleet-join.* /tmp/gpu-fleet-join.* 2>/dev/null")).stdout, "");

    // The container is what the Pulumi deployment makes (components/Workers.ts containerArgs).
    const inspect = JSON.parse(await host.out("docker inspect echo-1"))[0];
    assert.equal(inspect.Config.Hostname, "join-box-echo-1");
    assert.equal(inspect.HostConfig.RestartPolicy.Name, "unless-stopped");
    assert.equal(inspect.HostConfig.Init, true);
    assert.equal(inspect.HostConfig.Memory, 128 * 1024 * 1024);
    assert.equal(inspect.HostConfig.MemorySwap, 128 * 1024 * 1024, "swap on top of ramMiB");
    assert.equal(inspect.HostConfig.NanoCpus, 1_000_000_000);
    assert.equal(inspect.Config.User, "10001:10001");
    assert.deepEqual(inspect.HostConfig.CapDrop, ["ALL"]);
    assert.ok((inspect.HostConfig.SecurityOpt as string[]).includes("no-new-privileges:true"), String(inspect.HostConfig.SecurityOpt));
    assert.equal(inspect.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(inspect.HostConfig.Tmpfs, { "/tmp": "rw,nosuid,nodev,mode=1777,uid=10001,gid=10001" });
    assert.deepEqual(inspect.HostConfig.LogConfig, { Type: "json-file", Config: { "max-file": "5", "max-size": "50m" } });
    assert.equal(inspect.Config.StopSignal, "SIGTERM");
    assert.equal(inspect.Config.StopTimeout, 5);
    assert.equal(inspect.State.Health.Status, "healthy");
    const labels = inspect.Config.Labels as Record<string, string>;
    assert.equal(labels["gpu-fleet.fleet"], "gpu-fleet-join");
    assert.equal(labels["gpu-fleet.host"], HOST);
    assert.equal(labels["gpu-fleet.service"], "echo");
    assert.equal(labels["gpu-fleet.replica"], "1");
    assert.equal(labels["gpu-fleet.gpu"], "cpu");
    assert.match(labels["gpu-fleet.spec-hash"] ?? "", /^[0-9a-f]{64}$/);
    const env = inspect.Config.Env as string[];
    for (const e of ["OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", "WORKER_DEVICE=cpu", "WORKER_NAME=join-box-echo-1", "WORKER_HOST=join-box", "WORKER_SERVICE=echo", "GREETING=hello"]) {
      assert.ok(env.includes(e), `container env lacks ${e}`);
    }
  });

  it("a second run, with sudo (which resets the environment), changes nothing", async () => {
    const sudo = await host.sh("command -v sudo || DEBIAN_FRONTEND=noninteractive apt-get install -y -q sudo >/dev/null 2>&1");
    assert.equal(sudo.code, 0, show(sudo));
    const before = await containers();
    const r = await join(`--plan /root/plan-v1.json ${secretArgs}`, "sudo -n ");
    ok(r, "second run");
    assert.match(r.stdout, /^worker echo-1: ok /m);
    assert.deepEqual(await containers(), before);
  });

  it("a container left by a failed docker run is recreated by the next run, never started as it is", async () => {
    // `docker run` creates the container, then fails to start it (here a stand-in docker that
    // creates and reports a start failure): the container stays behind in state Created.
    await host.out("docker rm -f echo-1 >/dev/null");
    await host.sh(
      "mkdir -p /root/shim-docker && cat > /root/shim-docker/docker && chmod +x /root/shim-docker/docker",
      '#!/bin/bash\nif [[ "$1" == run ]]; then shift; [[ "$1" == -d ]] && shift; /usr/bin/docker create "$@" >/dev/null; echo "docker: Error response from daemon: simulated start failure" >&2; exit 125; fi\nexec /usr/bin/docker "$@"\n',
    );
    const failed = await join(`--plan /root/plan-v1.json ${secretArgs}`, "PATH=/root/shim-docker:$PATH ");
    assert.equal(failed.code, 1, show(failed));
    assert.equal(failed.last, "failed: join-fleet on join-box: worker echo-1: create: docker run failed (exit 125). hint: read the docker error above; run join-fleet.sh again after fixing it: the container is recreated");
    assert.equal(await host.out("docker inspect -f '{{.State.Status}}' echo-1"), "created");
    noSecrets(failed, "failed run");
    assert.equal((await host.sh("ls -d /run/gpu-fleet-join.* 2>/dev/null")).stdout, "", "a failed run left its env file directory");

    // The next run (secrets from the secrets directory, no flags) replaces it with a running worker.
    const r = await join(`--plan /root/plan-v1.json`);
    changed(r, "run after the failed one");
    assert.equal(r.last, "changed: echo-1 recreated");
    assert.equal(await host.out("docker inspect -f '{{.State.Status}}' echo-1"), "running");
    assert.match(await roundTrip("after recovery"), /^AFTER RECOVERY worker=join-box-echo-[12] threads=1 greeting=hello token=/);
    ok(await join(`--plan /root/plan-v1.json`), "run after the recovery");
  });

  it("a changed plan drains and replaces a worker and removes the one the plan no longer has", async () => {
    const before = await containers();
    const r = await join(`--plan /root/plan-v2.json ${secretArgs}`);
    changed(r, "changed plan");
    assert.match(r.last, /^changed: echo-2 removed; echo-1 replaced$/);
    const now = await containers();
    assert.deepEqual(Object.keys(now), ["echo-1"]);
    assert.notEqual(now["echo-1"], before["echo-1"]);
    assert.match(await roundTrip("second job"), /^SECOND JOB worker=join-box-echo-1 threads=1 greeting=hi-again token=/);
    ok(await join(`--plan /root/plan-v2.json ${secretArgs}`), "run after the change");
  });
});
