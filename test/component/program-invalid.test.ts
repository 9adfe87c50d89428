// The program with a broken stack config: it stops before any resource, with every error listed
// and no stack trace, and never prints a secret.
import { it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { parseStackFile } from "../../components/core/stack-file";
import { engineConfig, standInSecret } from "../../scripts/lib/engine-config";
import { EXAMPLE_KEYS } from "../support/fixtures";

const STACK = `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAAB }
  gpu-fleet:tailnet: { admins: [group:ops] }
  gpu-fleet:services:
    kokoro: { image: ghcr.io/example/kokoro-gpu:1.4.0, device: cuda, vramMiB: 600, ramMiB: 2500 }
  gpu-fleet:hosts:
    gex44-1: { ssh: { address: 203.0.113.10, hostKey: ${EXAMPLE_KEYS.host} }, hardware: gex44, workers: { kokoro: { replicas: 12 } } }
    cpu-1: { hcloud: { serverType: ccx33, location: fsn1 }, workers: { kokoro: { replicas: 1 } } }
`;

it("stops with a RunError that lists every error before any resource is registered", async () => {
  const { config, secretKeys } = engineConfig(parseStackFile(STACK, "broken.yaml"));
  pulumi.runtime.setAllConfig(config, secretKeys);
  const registered: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push(args.type);
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "gpu-fleet",
    "broken",
    true,
  );
  let thrown: unknown;
  try {
    await import("../../index");
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof pulumi.RunError, `expected a RunError, got ${String(thrown)}`);
  const message = thrown.message;
  assert.match(message, /the stack config has 2 errors; nothing was changed\. `npm run plan -- broken` shows them offline\./);
  assert.match(message, /error: hosts\.gex44-1\.workers: .*Lower kokoro replicas on gex44-1 to 9/);
  assert.match(message, /error: hosts\.cpu-1\.workers\.kokoro: kokoro runs on CUDA but cpu-1 has no GPU/);
  assert.ok(!message.includes(standInSecret("gpu-fleet:redisUrl")), "secret in the error message");
  assert.deepEqual(registered, []);
});
