// A host that joins by itself (join: {}): the stack gives it a tailnet key and runs nothing on it.
import { it } from "node:test";
import assert from "node:assert/strict";
import { installPulumiMocks, MOCK_AUTH_KEY_PREFIX, resolveOutput } from "../support/pulumi-mocks";
import { parseStackFile } from "../../components/core/stack-file";
import { engineConfig } from "../../scripts/lib/engine-config";
import { EXAMPLE_KEYS } from "../support/fixtures";

const STACK = `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAAB }
  gpu-fleet:sshPrivateKey: { secure: AAAB }
  gpu-fleet:tailnet: { admins: [group:ops] }
  gpu-fleet:services:
    kokoro-cpu: { image: ghcr.io/example/kokoro-cpu:1.4.0, device: cpu, ramMiB: 2500 }
  gpu-fleet:hosts:
    box: { ssh: { address: 198.51.100.7, hostKey: ${EXAMPLE_KEYS.host} }, cpu: { cores: 8 }, ramMiB: 32768, workers: { kokoro-cpu: { replicas: 2 } } }
    laptop: { join: {}, keyGeneration: 2, cpu: { cores: 8 }, ramMiB: 16384, workers: { kokoro-cpu: { replicas: 2 } } }
`;

it("gets an auth key, exported as a secret, and no roles, images or containers", async () => {
  const { config, secretKeys } = engineConfig(parseStackFile(STACK, "join.yaml"));
  const mocks = installPulumiMocks({ project: "gpu-fleet", stack: "join", config, secretKeys });
  const program = await import("../../index");
  await mocks.settle();
  assert.deepEqual(mocks.ofType("tailscale:index/tailnetKey:TailnetKey").map((k) => k.name).sort(), ["fleet-tailnet-key-box", "fleet-tailnet-key-laptop"]);
  const onLaptop = mocks.resources.filter((r) => r.name.includes("laptop") && r.type !== "tailscale:index/tailnetKey:TailnetKey");
  assert.deepEqual(onLaptop.map((r) => r.name), []);
  assert.equal(mocks.ofType("docker:index/container:Container").length, 2);
  const keys = await resolveOutput(program.joinKeys);
  assert.equal(keys.secret, true);
  assert.deepEqual(Object.keys(keys.value), ["laptop"]);
  assert.ok(keys.value.laptop.startsWith(MOCK_AUTH_KEY_PREFIX));
  // keyGeneration becomes the key's replacement trigger: bumping it mints a new key, nothing else.
  assert.equal(mocks.named("fleet-tailnet-key-laptop").replacementTrigger, 2);
  assert.equal(mocks.named("fleet-tailnet-key-box").replacementTrigger, undefined);
  // Its workers roll with join-fleet.sh, not in Pulumi's lanes.
  assert.ok(program.plan.find((h) => h.host === "laptop"));
});
