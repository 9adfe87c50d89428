import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gpuFleet, REPO_ROOT, STACK_TRACE } from "../support/run";
import { standInSecret } from "../../scripts/lib/engine-config";
import { MOCK_AUTH_KEY_PREFIX } from "../support/pulumi-mocks";
import { assertSnapshot } from "../support/snapshot";

interface SynthOptions {
  parent: string | null;
  dependsOn: string[];
  inputDependencies: Record<string, string[]>;
  replaceOnChanges: string[];
  deleteBeforeReplace: boolean;
  ignoreChanges: string[];
  deletedWith: string | null;
  replacementTrigger: unknown;
}
interface SynthJson {
  resources: { type: string; name: string; parent: string | null; inputs: Record<string, unknown>; options: SynthOptions }[];
}
const synth = (...args: string[]) => gpuFleet(["synth", ...args]);
const SECRETS = [standInSecret("gpu-fleet:redisUrl"), standInSecret("gpu-fleet:sshPrivateKey"), MOCK_AUTH_KEY_PREFIX, "plaintext-of-"];

describe("npm run synth", () => {
  for (const stack of ["hetzner-gpu", "laptop"]) {
    it(`matches the snapshot of ${stack} (never written unless UPDATE_SNAPSHOTS=1)`, () => {
      const result = synth(stack, "--json");
      assert.equal(result.status, 0, result.stderr);
      assertSnapshot(`synth-${stack}.json`, result.stdout);
    });
  }

  for (const stack of ["hetzner-gpu", "laptop"]) {
    it(`${stack}: every worker container runs as non-root, without privileges, capped in memory (no swap) and CPU`, () => {
      const result = synth(stack, "--json");
      assert.equal(result.status, 0, result.stderr);
      const containers = (JSON.parse(result.stdout) as SynthJson).resources.filter((r) => r.type === "docker:index/container:Container");
      assert.ok(containers.length > 0, `${stack} has no containers`);
      for (const { name, inputs } of containers) {
        assert.match(String(inputs.user), /^[1-9]\d*:[1-9]\d*$/, `${name} runs as ${String(inputs.user)}`);
        assert.deepEqual(inputs.securityOpts, ["no-new-privileges:true"], name);
        assert.deepEqual((inputs.capabilities as { drops?: string[] }).drops, ["ALL"], name);
        assert.equal(inputs.readOnly, true, name);
        assert.equal(typeof inputs.memory, "number", name);
        assert.equal(inputs.memorySwap, inputs.memory, `${name}: swap on top of its memory limit`);
        assert.match(String(inputs.cpus), /^[1-9]\d*$/, name);
        // Host IPC only with the MPS pipe mount.
        assert.equal(inputs.ipcMode === "host", Array.isArray(inputs.mounts) && inputs.mounts.length > 0, `${name}: ipcMode ${String(inputs.ipcMode)}`);
      }
    });
  }

  it("prints every resource with type, name, parent and inputs, and never a secret", () => {
    const result = synth("hetzner-gpu", "--json");
    for (const secret of SECRETS) assert.ok(!result.stdout.includes(secret), `synth printed ${secret}`);
    const json = JSON.parse(result.stdout) as SynthJson;
    const types = new Set(json.resources.map((r) => r.type));
    for (const type of [
      "gpu-fleet:index:Fleet",
      "gpu-fleet:index:Host",
      "gpu-fleet:index:Tailnet",
      "tailscale:index/acl:Acl",
      "tailscale:index/tailnetKey:TailnetKey",
      "hcloud:index/server:Server",
      "hcloud:index/firewall:Firewall",
      "command:remote:Command",
      "docker:index/container:Container",
    ]) {
      assert.ok(types.has(type), `synth has a ${type}`);
    }
    const container = json.resources.find((r) => r.name === "fleet-gex44-1-workers-kokoro-1");
    assert.equal(container?.parent, "fleet-gex44-1-workers");
    assert.ok((container?.inputs.envs as string[]).includes("REDIS_URL=[secret]"));
    assert.ok((container?.inputs.envs as string[]).includes("OMP_NUM_THREADS=2"));
    const server = json.resources.find((r) => r.type === "hcloud:index/server:Server");
    // The cloud-init carries the host's auth key, which the tailnet mints during up.
    assert.equal(server?.inputs.userData, "<computed>");
    // Resource options, as the program set them.
    assert.deepEqual(container?.options, {
      parent: "fleet-gex44-1-workers",
      dependsOn: ["fleet-gex44-1-setup-container-toolkit", "fleet-gex44-1-setup-docker", "fleet-gex44-1-setup-mps", "fleet-gex44-1-setup-verify"],
      inputDependencies: { image: ["fleet-gex44-1-workers-image-kokoro-gpu-1-4-0"] },
      replaceOnChanges: ["healthcheck", "init", "tmpfs", "cpuPeriod", "cpuQuota"],
      deleteBeforeReplace: true,
      ignoreChanges: [],
      deletedWith: null,
      replacementTrigger: null,
    });
    assert.deepEqual(server?.options.replaceOnChanges, ["placementGroupId"]);
    assert.deepEqual(server?.options.ignoreChanges, ["sshKeys"]);
    assert.equal(server?.options.deleteBeforeReplace, true);
    // The server's identity, with its placement group's id, which only up learns.
    assert.deepEqual(json.resources.find((r) => r.name === "fleet-tailnet-key-cpu-1")?.options.replacementTrigger, { identity: "location=fsn1 image=debian-12", placementGroup: "<computed>" });
    assert.deepEqual(json.resources.filter((r) => r.options.deletedWith !== null).map((r) => r.name), []);
    const table = synth("hetzner-gpu");
    assert.equal(table.status, 0);
    assert.match(table.stdout, /^docker:index\/container:Container  fleet-gex44-1-workers-kokoro-1  \(parent fleet-gex44-1-workers\)$/m);
    for (const secret of SECRETS) assert.ok(!table.stdout.includes(secret));
  });

  it("shows values known only after up as <computed>, files as path and content hash, and nothing a mock made up", () => {
    for (const stack of ["hetzner-gpu", "laptop"]) {
      const result = synth(stack, "--json");
      assert.equal(result.status, 0, result.stderr);
      assert.ok(!result.stdout.includes("sha256:"), `synth of ${stack} prints a mock digest`);
      assert.ok(!result.stdout.includes("__pulumi"), `synth of ${stack} prints Pulumi internals`);
      assert.ok(!/"[\w-]+-id"/.test(result.stdout), `synth of ${stack} prints a mock id`);
      assert.ok(!/192\.0\.2\.|2001:db8::/.test(result.stdout), `synth of ${stack} prints a mock address`);
    }
    const json = JSON.parse(synth("hetzner-gpu", "--json").stdout) as SynthJson;
    const byName = (name: string) => json.resources.find((r) => r.name === name)?.inputs;
    // The image id of a container is its pulled image's, known once pulled.
    assert.equal(byName("fleet-gex44-1-workers-kokoro-1")?.image, "<computed>");
    // Hetzner ids: the server's firewall, placement group and SSH key exist only after up.
    const server = byName("fleet-cpu-1-server-server");
    assert.deepEqual([server?.firewallIds, server?.placementGroupId, server?.sshKeys], [["<computed>"], "<computed>", ["<computed>"]]);
    // A reboot waits for a boot id other than the one the facts role reads on the host.
    const reboot = byName("fleet-gex44-1-setup-nvidia-driver-reboot")?.environment as Record<string, string>;
    assert.equal(reboot.FLEET_PREVIOUS_BOOT_ID, "<computed>");
    // The copied roles folder: its path under the project, its file count and one sha256 over each
    // file's path and content (path NUL content NUL, in path order), of what is on disk now.
    const rolesDir = join(REPO_ROOT, "scripts/roles");
    const files = readdirSync(rolesDir).sort();
    const folder = createHash("sha256");
    for (const f of files) folder.update(`${f}\0`).update(readFileSync(join(rolesDir, f))).update("\0");
    assert.deepEqual(byName("fleet-cpu-1-setup-roles")?.source, { folder: "scripts/roles", files: files.length, contentSha256: folder.digest("hex") });
  });

  it("synthesizes an external-policy stack: keys, no policy file, the live policy read", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-synth-"));
    const file = join(dir, "Pulumi.external.yaml");
    writeFileSync(file, readFileSync(join(REPO_ROOT, "stacks/Pulumi.laptop.yaml"), "utf8").replace('gpu-fleet:tailnet: { admins: ["group:ops"] }', 'gpu-fleet:tailnet: { admins: ["group:ops"], policy: external }'));
    const result = synth(file, "--json");
    assert.equal(result.status, 0, result.stderr);
    const types = (JSON.parse(result.stdout) as SynthJson).resources.map((r) => r.type);
    assert.ok(types.includes("tailscale:index/tailnetKey:TailnetKey"));
    assert.ok(!types.includes("tailscale:index/acl:Acl"));
  });

  it("exits 1 with the errors for an invalid stack, and 2 for a stack that does not exist", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-synth-"));
    const file = join(dir, "Pulumi.bad.yaml");
    writeFileSync(file, readFileSync(join(REPO_ROOT, "stacks/Pulumi.laptop.yaml"), "utf8").replace("kokoro: { replicas: 2 }", "kokoro: { replicas: 40 }"));
    const invalid = synth(file);
    assert.equal(invalid.status, 1);
    assert.match(invalid.stderr, /the stack config has \d+ errors?; nothing was changed/);
    assert.match(invalid.stderr, /hosts\.laptop\.workers: kokoro 40 × 2 threads \+ yolo 1 × 2 threads need 82 threads/);
    assert.doesNotMatch(invalid.stderr, STACK_TRACE);
    const missing = synth(join(REPO_ROOT, "test/snapshots/does-not-exist.yaml"));
    assert.equal(missing.status, 2);
    assert.doesNotMatch(missing.stderr, STACK_TRACE);
  });
});
