// `pulumi up` never half-applies: a stack whose config is valid but which a component would refuse
// (here: the stack name makes the fleet's Hetzner label longer than Hetzner allows) stops with a
// RunError before the first resource registers, listing every refusal. Before the preflight, the
// tailnet policy, auth keys, placement group and SSH key registered before HetznerServer threw.
import { it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { parseStackFile } from "../../components/core/stack-file";
import { EXAMPLE_KEYS } from "../support/fixtures";
import { engineConfig } from "../../scripts/lib/engine-config";

// Valid for the schema and the planner; only the stack name is wrong for Hetzner.
const STACK = `config:
  gpu-fleet:redis: { host: redis-vps }
  gpu-fleet:redisUrl: { secure: AAAB }
  gpu-fleet:sshPrivateKey: { secure: AAAC }
  gpu-fleet:tailnet: { admins: [group:ops] }
  gpu-fleet:hcloud: { sshPublicKey: "${EXAMPLE_KEYS.user} ops@x" }
  gpu-fleet:services:
    embed: { image: ghcr.io/example/embed-cpu:3.1.0, device: cpu, ramMiB: 1024 }
  gpu-fleet:hosts:
    cpu-1: { hcloud: { serverType: ccx33, location: fsn1 }, workers: { embed: { replicas: 1 } } }
    cpu-2: { hcloud: { serverType: ccx33, location: nbg1 }, workers: { embed: { replicas: 1 } } }
`;
// "gpu-fleet-" + 60 characters: a 70-character label value; Hetzner takes at most 63.
const LONG_STACK = "production-inference-fleet-in-falkenstein-and-nuremberg-0001";

it("stops with a RunError naming every component refusal before any resource registers", async () => {
  assert.equal(LONG_STACK.length, 60);
  const { config, secretKeys } = engineConfig(parseStackFile(STACK, "long.yaml"));
  pulumi.runtime.setAllConfig(config, secretKeys);
  const registered: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push(`${args.type} ${args.name}`);
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "gpu-fleet",
    LONG_STACK,
    true,
  );
  let thrown: unknown;
  try {
    await import("../../index");
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof pulumi.RunError, `expected a RunError, got ${String(thrown)}`);
  assert.match(thrown.message, /^the stack cannot be deployed: 2 problems; nothing was changed\./);
  for (const host of ["cpu-1", "cpu-2"]) {
    assert.match(thrown.message, new RegExp(`error: hosts\\.${host}\\.hcloud: labels: value 'gpu-fleet-${LONG_STACK}' of 'gpu-fleet/fleet' must be up to 63`));
  }
  assert.deepEqual(registered, []);
});
