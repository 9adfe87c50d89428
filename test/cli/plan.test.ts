import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gpuFleet, STACK_TRACE } from "../support/run";
import type { PlanJson } from "../../components/core/report";
import { EXAMPLE_KEYS } from "../support/fixtures";

const plan = (...args: string[]) => gpuFleet(["plan", ...args]);

describe("npm run plan", () => {
  it("prints a table per host of the hetzner-gpu stack and exits 0", () => {
    const result = plan("hetzner-gpu");
    assert.equal(result.status, 0, result.stderr);
    for (const host of ["gex44-1", "gex44-2", "gtx1080-box", "cpu-1"]) assert.match(result.stdout, new RegExp(`^${host}  `, "m"));
    assert.match(result.stdout, /^  CPU +10\/19 threads +\(20 cores, 1 reserved\)$/m);
    assert.match(result.stdout, /^  GPU 0 +GeForce GTX 1080 +cc 6\.1 +VRAM 1500 MiB\/7680 MiB +3 workers +MPS on, no limits \(pre-Volta\)$/m);
    assert.match(result.stdout, /^  workers +kokoro-cpu × 3 +× 2 threads +cpu → CPU  \(auto\)$/m);
    assert.match(result.stdout, /4 hosts planned, 20 workers; 0 errors, 0 warnings/);
  });

  it("plans the laptop stack cleanly", () => {
    const result = plan("laptop", "--json");
    assert.equal(result.status, 0, result.stderr);
    const json = JSON.parse(result.stdout) as PlanJson;
    assert.deepEqual([json.errors, json.warnings], [[], []]);
    assert.deepEqual(json.hosts.map((h) => [h.name, h.kind]), [["laptop", "ssh"], ["desktop", "join"]]);
    assert.deepEqual(json.hosts[0].nvidia, { driver: "preinstalled", branch: null, modules: null });
    assert.deepEqual(json.hosts[1].nvidia, { driver: "preinstalled", branch: null, modules: null });
  });

  it("prints the documented JSON shape with --json", () => {
    const result = plan("hetzner-gpu", "--json");
    assert.equal(result.status, 0, result.stderr);
    const json = JSON.parse(result.stdout) as PlanJson;
    assert.deepEqual(Object.keys(json), ["hosts", "errors", "warnings"]);
    const gex = json.hosts.find((h) => h.name === "gex44-1");
    assert.ok(gex);
    assert.deepEqual(gex.cpu, { cores: 20, threads: 10, reserved: 1 });
    assert.deepEqual(gex.ramMiB, { total: 65536, used: 3 * 2500 + 2 * 600, reserved: 2048 });
    assert.deepEqual(gex.gpus, [
      // 3 kokoro × 600 + 2 yolo × 300 = 2400 MiB resident; 20475 − 512 reserved − 2400 = 17563 MiB headroom.
      { index: 0, model: "rtx-4000-sff-ada", computeCapability: 8.9, vramMiB: 20475, usedMiB: 2400, mps: true, residentMiB: 2400, largestOnDemand: null, headroomMiB: 17563 },
    ]);
    assert.deepEqual(gex.workers[0], { service: "kokoro", replica: 1, threads: 2, device: "cuda", gpu: 0, residency: "resident" });
    assert.deepEqual(Object.keys(gex).slice(0, 6), ["name", "kind", "machine", "cpu", "ramMiB", "gpus"]);
    assert.equal(json.hosts.find((h) => h.name === "cpu-1")?.kind, "hcloud");
  });

  it("lists every mistake with host, path and fix, exits 1, and shows no stack trace", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-plan-"));
    const file = join(dir, "Pulumi.broken.yaml");
    writeFileSync(
      file,
      `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: redis://:hunter2@redis-vps:6379
  gpu-fleet:tailnet: { admins: [group:ops] }
  gpu-fleet:services:
    kokoro: { image: ghcr.io/example/kokoro-gpu:1.4.0, device: cuda, vramMiB: 600, ramMiB: 2500 }
  gpu-fleet:hosts:
    gex44-1:
      ssh: { address: 203.0.113.10, hostKey: ${EXAMPLE_KEYS.host} }
      hardware: gex44
      workers: { kokoro: { replicas: 12 } }
    old-box:
      ssh: { address: 198.51.100.7, hostKey: ${EXAMPLE_KEYS.host} }
      cpu: { cores: 8 }
      ramMiB: 32768
      gpus: [ { model: gtx-1080 } ]
      nvidia: { driver: managed, branch: "590" }
      workers: { kokoro: { replica: 1 } }
`,
    );
    const result = plan(file);
    assert.equal(result.status, 1);
    assert.doesNotMatch(result.stdout + result.stderr, STACK_TRACE);
    assert.doesNotMatch(result.stdout + result.stderr, /hunter2/);
    const errors = result.stdout.split("\n").filter((l) => l.startsWith("✗ "));
    assert.deepEqual(
      errors.map((l) => l.split(": ")[0]),
      ["✗ redisUrl", "✗ hosts.old-box.workers.kokoro.replica", "✗ hosts.gex44-1.workers"],
    );
    assert.match(errors[2], /need 24 threads, but gex44-1 has 19 usable .* Lower kokoro replicas on gex44-1 to 9, or its threads to 1\./);
    const json = JSON.parse(plan(file, "--json").stdout) as PlanJson;
    assert.deepEqual(json.errors.map((e) => e.host), [null, "old-box", "gex44-1"]);
  });

  it("reports a branch too new for Pascal once the host's shape is right", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-plan-"));
    const file = join(dir, "s.yaml");
    writeFileSync(file, `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAAB }
  gpu-fleet:tailnet: { admins: [group:ops] }
  gpu-fleet:services: { kokoro: { image: "x/k:1", device: cuda, vramMiB: 600, ramMiB: 2500 } }
  gpu-fleet:hosts:
    old-box: { ssh: { address: x, hostKey: ${EXAMPLE_KEYS.host} }, cpu: { cores: 8 }, ramMiB: 32768, gpus: [ { model: gtx-1080 } ], nvidia: { driver: managed, branch: "590" }, workers: { kokoro: { replicas: 1 } } }
`);
    const result = plan(file);
    assert.equal(result.status, 1);
    assert.match(result.stdout, /✗ hosts\.old-box\.nvidia\.branch: is 590, but GeForce GTX 1080 \(compute 6\.1\) is supported only up to branch 580\. Set nvidia\.branch to "580"\./);
  });

  it("stops at the first YAML syntax error: file, line, column and the offending line, exit 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-plan-"));
    const file = join(dir, "Pulumi.typo.yaml");
    // The flow map on line 3 is never closed; line 6 holds a second mistake (a tab) that must not show.
    writeFileSync(file, "config:\n  gpu-fleet:redis: { host: redis-vps }\n  gpu-fleet:tailnet: { admins: [group:ops]\n  gpu-fleet:services: {}\n  gpu-fleet:hosts:\n\tbox: {}\n");
    for (const args of [[file], [file, "--json"]]) {
      const result = plan(...args);
      assert.equal(result.status, 1, result.stderr);
      assert.equal(result.stdout, "");
      assert.equal(
        result.stderr,
        `gpu-fleet plan: ${file}:4:3: Flow map in block collection must be sufficiently indented and end with a }\n  4 |   gpu-fleet:services: {}\n    |   ^\n`,
      );
    }
  });

  it("exits 2 with usage for an unknown stack or option", () => {
    const unknown = plan("no-such-stack");
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no stack 'no-such-stack'/);
    assert.doesNotMatch(unknown.stderr, STACK_TRACE);
    assert.equal(plan("hetzner-gpu", "--yaml").status, 2);
    assert.equal(plan().status, 2);
  });
});
