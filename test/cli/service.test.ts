// npm run service: the command line, the refusals it decides before any SSH, the ssh command it
// builds (pinned key, no secret), and the message when the GPU has no room. The run against a real
// host over SSH is in test/host/service.test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gpuFleet, runTool, STACK_TRACE } from "../support/run";
import { knownHosts, noRoomMessage, parseRemote, sshArgv } from "../../scripts/service";
import { planConfig } from "../../components/core/pipeline";
import { loadStack } from "../../scripts/lib/stack";

/** A real ed25519 public key made at run time (the schema decodes and checks pinned keys). */
function ed25519HostKey(): string {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x ?? "", "base64url");
  const field = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]).toString("base64")}`;
}
const HOST_KEY = ed25519HostKey();

function withKey(dir: string): string {
  const file = path.join(dir, "Pulumi.studio.yaml");
  const text = loadStackText().replace(/hostKey: ssh-ed25519 \S+/, `hostKey: "${HOST_KEY}"\n        port: 2222`);
  writeFileSync(file, text);
  return file;
}

function loadStackText(): string {
  return require("node:fs").readFileSync(loadStack("egpu-studio").path, "utf8") as string;
}

describe("npm run service", () => {
  it("exits 2 with the usage on a bad command line", () => {
    for (const args of [[], ["restart", "rag-ingest"], ["start"], ["start", "rag-ingest", "--stack", "egpu-studio"], ["start", "rag-ingest", "--host", "studio", "--stack", "egpu-studio", "--replica", "x"]]) {
      const r = runTool("scripts/service.ts", args);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /usage: gpu-fleet service start\|stop/);
      assert.doesNotMatch(r.stderr, STACK_TRACE);
    }
  });

  it("is a gpu-fleet command: gpu-fleet service --help, -s for the stack", () => {
    const help = gpuFleet(["service", "--help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /usage: gpu-fleet service start\|stop <service> --host <host> -s <stack>/);
    const r = gpuFleet(["service", "stop", "whisper", "--host", "studio", "-s", "egpu-studio"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /whisper is onDemand/);
    assert.ok(gpuFleet(["--help"]).stdout.includes("service"));
  });

  it("refuses before any SSH: unknown host, a service not on it, an onDemand service, an unpinned host key", () => {
    const cases: [string[], RegExp][] = [
      [["start", "rag-ingest", "--host", "nope"], /no host 'nope' in the plan\. Hosts: studio\./],
      [["start", "kokoro", "--host", "studio"], /studio runs no worker of 'kokoro'\. Its services: whisper, rag-ingest, qwen3-tts\./],
      [["stop", "qwen3-tts", "--host", "studio"], /qwen3-tts is onDemand: it runs always and loads its model on the first job\. Only manual services/],
      [["start", "rag-ingest", "--host", "studio", "--replica", "2"], /rag-ingest has replicas 1 on studio, not 2\./],
    ];
    for (const [args, message] of cases) {
      const r = runTool("scripts/service.ts", [...args, "--stack", "egpu-studio"]);
      assert.equal(r.status, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, STACK_TRACE);
    }
    // A lab's opt-out is valid config, but service talks only to a pinned host.
    const dir = mkdtempSync(path.join(tmpdir(), "gpu-fleet-timeshare-service-"));
    try {
      const file = path.join(dir, "Pulumi.tofu.yaml");
      writeFileSync(file, loadStackText().replace(/hostKey: ssh-ed25519 \S+/, "hostKey: trust-on-first-use"));
      const r = runTool("scripts/service.ts", ["start", "rag-ingest", "--host", "studio", "--stack", file]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /hosts\.studio\.ssh\.hostKey is not pinned: service start\|stop only talks to a host whose key it knows/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("talks only to the pinned key: known_hosts with the key at [address]:port, strict checking, no agent forwarding", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "gpu-fleet-timeshare-service-"));
    try {
      const stack = loadStack(withKey(dir));
      const result = planConfig(stack.document, stack.diagnostics);
      assert.deepEqual(result.errors, []);
      const ssh = result.spec!.hosts.studio.ssh!;
      assert.equal(knownHosts(ssh), `[192.168.1.20]:2222 ${HOST_KEY}\n`);
      const argv = sshArgv(ssh, "/tmp/kh", "/keys/id", ["bash", "-s", "--", "start", "rag-ingest-1"]);
      assert.deepEqual(argv, [
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/tmp/kh", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=15", "-p", "2222", "-i", "/keys/id", "-o", "IdentitiesOnly=yes",
        "root@192.168.1.20", "--", "bash", "-s", "--", "start", "rag-ingest-1",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says who holds the VRAM when a start is refused", () => {
    const plan = planConfig(loadStack("egpu-studio").document).plan;
    const studio = plan.hosts[0];
    const rag = studio.workers.find((w) => w.service === "rag-ingest")!;
    // In this stack rag-ingest always fits next to one onDemand load (7680 − 4403 = 3277 ≥ 1229); a
    // lease taken on the host by something outside the stack (a notebook with the shell client) fills it.
    const { result, leases } = parseRemote(
      "lease gpu=0 holder=studio-qwen3-tts-1 mib=4403 since=1764640267.5 pid=7\nlease gpu=0 holder=notebook mib=3000 since=1764640300 pid=9\nresult no-room\n",
    );
    assert.equal(result, "no-room");
    // 4403 + 3000 = 7403 leased, 7680 − 7403 = 277 MiB free < 1229.
    assert.equal(
      noRoomMessage(rag, studio, leases, 1764640467),
      "refused: studio-rag-ingest-1 needs 1229 MiB of GPU 0 (GeForce RTX 2070 SUPER) on studio, which has 7680 MiB for leases; " +
        "studio-qwen3-tts-1 holds 4403 MiB since 01:51:07 UTC (3 min), notebook holds 3000 MiB since 01:51:40 UTC (2 min): 7403 MiB leased, 277 MiB free. " +
        "Try again when they release it (qwen3-tts unloads after 120 s without a job).",
    );
  });
});
