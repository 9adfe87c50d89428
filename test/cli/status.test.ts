// gpu-fleet status against hosts that are down: closed loopback ports and a port that never answers.
// Each fails alone, fast, with its error; the command exits 1.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gpuFleet, STACK_TRACE } from "../support/run";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIoNW2520LjeuULKKbK2DT3mL6dh5TzfosoLTXbd9Zm+";

/** A loopback port nobody listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let silent: Server;
const sockets: Socket[] = [];
let stackFile: string;
let ports: number[];

before(async () => {
  // Accepts connections and never says a word: an SSH server that hangs.
  silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  ports = [await closedPort(), await closedPort(), (silent.address() as { port: number }).port, await closedPort()];
  const host = (name: string, port: number, pinned = true) => `    ${name}:
      ssh: { address: 127.0.0.1, port: ${port}, hostKey: ${pinned ? `"${KEY}"` : "trust-on-first-use"} }
      cpu: { cores: 4 }
      ramMiB: 8192
      workers: { kokoro: { replicas: 1 } }
`;
  const dir = mkdtempSync(join(tmpdir(), "fleet-status-"));
  stackFile = join(dir, "Pulumi.down.yaml");
  writeFileSync(
    stackFile,
    `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDER }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    kokoro: { image: ghcr.io/example/kokoro-cpu:1.4.0, device: cpu, ramMiB: 1000 }
  gpu-fleet:hosts:
${host("closed-a", ports[0])}${host("closed-b", ports[1])}${host("hangs", ports[2])}${host("unpinned", ports[3], false)}`,
  );
});

after(() => {
  for (const s of sockets) s.destroy();
  silent.close();
});

interface StatusJson {
  hosts: { name: string; reachable: boolean; error: string | null; gpus: unknown[]; mps: { active: boolean }; services: Record<string, unknown>; drift: string[] }[];
}

describe("gpu-fleet status, hosts down", () => {
  it("reports each host unreachable with its error, within seconds, and exits 1", () => {
    const started = Date.now();
    const result = gpuFleet(["status", "-s", stackFile, "--via", "address", "--timeout", "3", "--json"]);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(result.status, 1, result.stderr);
    const json = JSON.parse(result.stdout) as StatusJson;
    assert.deepEqual(json.hosts.map((h) => [h.name, h.reachable]), [["closed-a", false], ["closed-b", false], ["hangs", false], ["unpinned", false]]);
    const error = Object.fromEntries(json.hosts.map((h) => [h.name, h.error]));
    assert.equal(error["closed-a"], `ssh: connect to host 127.0.0.1 port ${ports[0]}: Connection refused`);
    assert.equal(error["closed-b"], `ssh: connect to host 127.0.0.1 port ${ports[1]}: Connection refused`);
    // ssh gives up during the banner exchange (ConnectTimeout), or the deadline kills it.
    assert.match(error.hangs ?? "", /^(Connection timed out during banner exchange|no answer within 3 s)$/);
    assert.match(error.unpinned ?? "", /^no pinned host key for unpinned: pin its ssh\.hostKey \(gpu-fleet keyscan prints it\)/);
    assert.deepEqual(Object.keys(json.hosts[0] ?? {}), ["name", "reachable", "error", "gpus", "mps", "services", "drift"]);
    // In parallel: the hanging host's 3 s deadline bounds the whole run (the rest is Node starting up).
    assert.ok(seconds < 3 + 25, `took ${seconds} s`);
  });

  it("prints a table without colour when stdout is not a terminal", () => {
    const result = gpuFleet(["status", stackFile, "--via", "address", "--timeout", "2"]);
    assert.equal(result.status, 1);
    assert.match(result.stdout, new RegExp(`^closed-a  unreachable  ssh: connect to host 127\\.0\\.0\\.1 port ${ports[0]}: Connection refused$`, "m"));
    assert.match(result.stdout, /^4 hosts: 0 as planned, 0 drifting, 4 unreachable$/m);
    assert.ok(!result.stdout.includes("\u001b["), "colour codes on a pipe");
    assert.doesNotMatch(result.stdout + result.stderr, STACK_TRACE);
  });

  it("a host with no address in the stack cannot be reached --via address", () => {
    const result = gpuFleet(["status", "-s", "hetzner-gpu", "--via", "address", "--json", "--timeout", "1"]);
    const json = JSON.parse(result.stdout) as StatusJson;
    assert.equal(result.status, 1);
    assert.equal(json.hosts.find((h) => h.name === "cpu-1")?.error, "has no address in the stack (Hetzner assigns it); use --via tailnet");
  });

  it("rejects a bad --via or --timeout with exit 2", () => {
    assert.equal(gpuFleet(["status", "-s", stackFile, "--via", "carrier-pigeon"]).status, 2);
    assert.equal(gpuFleet(["status", "-s", stackFile, "--timeout", "0"]).status, 2);
  });
});
