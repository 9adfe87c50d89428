// The program on the example production stack, under mocks: it plans and exports what each host runs.
import { it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { loadStack } from "../../scripts/lib/stack";
import { engineConfig } from "../../scripts/lib/engine-config";

it("plans the hetzner-gpu stack and exports each host's workers", async () => {
  const { config, secretKeys } = engineConfig(loadStack("hetzner-gpu"));
  pulumi.runtime.setAllConfig(config, secretKeys);
  await pulumi.runtime.setMocks(
    { newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs },
    "gpu-fleet",
    "hetzner-gpu",
    true,
  );
  const program = await import("../../index");
  const plan = program.plan;
  assert.deepEqual(plan.map((h) => h.host), ["gex44-1", "gex44-2", "gtx1080-box", "cpu-1"]);
  assert.deepEqual(plan[0].workers, ["gex44-1-kokoro-1", "gex44-1-kokoro-2", "gex44-1-kokoro-3", "gex44-1-yolo-1", "gex44-1-yolo-2"]);
});
