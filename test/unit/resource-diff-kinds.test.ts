// The diff's logic, apart from the per-type classification table (its own tests check one change per
// entry): what counts as a change, create/delete/update/replace, and how the text groups and shows it.
// Every expected value is written out by hand.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { diffResources, renderDiff, type ResourceChange } from "../../scripts/lib/resource-diff";
import type { SynthResource } from "../../scripts/lib/synth";

function resource(type: string, name: string, inputs: Record<string, unknown>, extra: { host?: string | null; ignoreChanges?: string[] } = {}): SynthResource {
  // Every field written out: a new SynthResource field fails type-checking here, not at run time.
  return {
    type, name, parent: null, host: extra.host ?? null, inputs, ignoreChanges: extra.ignoreChanges ?? [], deleteBeforeReplace: false,
    replaceOnChanges: [], replacementTrigger: null, deletedWith: null, dependsOn: [], inputDependencies: {}, id: null,
  };
}

const COMMAND = "command:remote:Command";
const CONTAINER = "docker:index/container:Container";

describe("diffResources", () => {
  it("finds nothing between equal synths", () => {
    const rs = [resource(COMMAND, "c", { create: "x" }), resource(CONTAINER, "w", { image: "i:1", memory: 100 })];
    assert.deepEqual(diffResources(rs, rs.map((r) => ({ ...r, inputs: { ...r.inputs } }))), []);
  });

  it("creates what is new and deletes what is gone, by type and name", () => {
    const changes = diffResources([resource(COMMAND, "old", {}, { host: "a" }), resource(CONTAINER, "same-name", {})], [resource(COMMAND, "new", {}, { host: "b" }), resource(COMMAND, "same-name", {})]);
    assert.deepEqual(changes, [
      { kind: "create", type: COMMAND, name: "new", host: "b", inputs: [] },
      { kind: "create", type: COMMAND, name: "same-name", host: null, inputs: [] },
      { kind: "delete", type: COMMAND, name: "old", host: "a", inputs: [] },
      { kind: "delete", type: CONTAINER, name: "same-name", host: null, inputs: [] },
    ]);
  });

  it("updates a command whose create changes, and replaces it when its triggers change", () => {
    const [update] = diffResources([resource(COMMAND, "c", { create: "v1" }, { host: "a" })], [resource(COMMAND, "c", { create: "v2" }, { host: "a" })]);
    assert.deepEqual(update, { kind: "update", type: COMMAND, name: "c", host: "a", inputs: [{ key: "create", before: "v1", after: "v2" }] });
    const [replace] = diffResources([resource(COMMAND, "c", { create: "v", triggers: ["1"] })], [resource(COMMAND, "c", { create: "v", triggers: ["2"] })]);
    assert.equal(replace.kind, "replace");
    assert.deepEqual(replace.inputs, [{ key: "triggers", before: ["1"], after: ["2"] }]);
  });

  it("updates a container's memory in place and replaces it for a new image, also when both change", () => {
    const was = resource(CONTAINER, "w", { image: "i:1", memory: 100 });
    assert.equal(diffResources([was], [resource(CONTAINER, "w", { image: "i:1", memory: 200 })])[0].kind, "update");
    assert.equal(diffResources([was], [resource(CONTAINER, "w", { image: "i:2", memory: 100 })])[0].kind, "replace");
    const both = diffResources([was], [resource(CONTAINER, "w", { image: "i:2", memory: 200 })])[0];
    assert.equal(both.kind, "replace");
    assert.deepEqual(both.inputs.map((i) => i.key), ["image", "memory"]);
  });

  it("replaces when any one changed input replaces, among others that would update", () => {
    const [change] = diffResources([resource(COMMAND, "c", { create: "v1", triggers: ["1"] })], [resource(COMMAND, "c", { create: "v2", triggers: ["2"] })]);
    assert.equal(change.kind, "replace");
  });

  it("updates a resource of a type it has no rule for (a component)", () => {
    assert.equal(diffResources([resource("gpu-fleet:index:Host", "h", { x: 1 })], [resource("gpu-fleet:index:Host", "h", { x: 2 })])[0].kind, "update");
  });

  it("skips ignored inputs and the SDK's own __ keys, and lists added and removed inputs in key order", () => {
    const was = resource(COMMAND, "c", { zeta: 1, userData: "a", __defaults: [], alpha: "gone" });
    const now = resource(COMMAND, "c", { zeta: 2, userData: "b", __defaults: ["x"], beta: "new" }, { ignoreChanges: ["userData"] });
    assert.deepEqual(diffResources([was], [now])[0].inputs, [
      { key: "alpha", before: "gone", after: undefined },
      { key: "beta", before: undefined, after: "new" },
      { key: "zeta", before: 1, after: 2 },
    ]);
    assert.deepEqual(diffResources([was], [{ ...was, ignoreChanges: ["zeta", "userData", "alpha"] } as SynthResource]), []);
  });

  it("compares values structurally, not by identity", () => {
    assert.deepEqual(diffResources([resource(COMMAND, "c", { env: { A: "1" } })], [resource(COMMAND, "c", { env: { A: "1" } })]), []);
  });
});

describe("renderDiff", () => {
  it("says so when nothing changes", () => {
    assert.equal(renderDiff([]), "no changes");
  });

  it("groups fleet-wide changes first, then hosts by name, resources by name, each input on its own line", () => {
    const changes: ResourceChange[] = [
      { kind: "replace", type: CONTAINER, name: "w-b", host: "b", inputs: [{ key: "envs", before: ["A=1", "B=2"], after: ["A=1", "B=3"] }] },
      { kind: "update", type: COMMAND, name: "c-a", host: "a", inputs: [{ key: "create", before: "v1", after: "v2" }, { key: "stdin", before: undefined, after: "x" }] },
      { kind: "create", type: "tailscale:index/acl:Acl", name: "acl", host: null, inputs: [] },
      { kind: "delete", type: CONTAINER, name: "w-a", host: "b", inputs: [] },
    ];
    assert.equal(
      renderDiff(changes),
      [
        "fleet",
        "  + create  tailscale:index/acl:Acl  acl",
        "host a",
        "  ~ update  command:remote:Command  c-a",
        '        create: "v1" → "v2"',
        '        stdin: (none) → "x"',
        "host b",
        "  - delete  docker:index/container:Container  w-a",
        "  ± replace docker:index/container:Container  w-b",
        '        envs: - "B=2" + "B=3"',
        "1 to create, 1 to delete, 1 to replace, 1 to update",
      ].join("\n"),
    );
  });

  it("shows a list that only changed order as reordered, and cuts long values at 160 characters", () => {
    const long = "x".repeat(200);
    const text = renderDiff([
      { kind: "update", type: COMMAND, name: "c", host: null, inputs: [{ key: "args", before: ["a", "b"], after: ["b", "a"] }, { key: "create", before: long, after: "y" }] },
    ]);
    const lines = text.split("\n");
    assert.equal(lines[2], "        args: reordered");
    assert.equal(lines[3], `        create: "${"x".repeat(156)}... → "y"`);
    assert.equal(lines[4], "0 to create, 0 to delete, 0 to replace, 1 to update");
  });

  it("orders groups fleet, then hosts by name, and resources by name, whatever order they came in", () => {
    const change = (name: string, host: string | null): ResourceChange => ({ kind: "create", type: COMMAND, name, host, inputs: [] });
    const text = renderDiff([change("z", "host-c"), change("m", null), change("y", "host-a"), change("c", "host-b"), change("b", "host-a"), change("a", null), change("x", "host-a")]);
    assert.deepEqual(text.split("\n").filter((l) => !l.startsWith(" ")), ["fleet", "host host-a", "host host-b", "host host-c", "7 to create, 0 to delete, 0 to replace, 0 to update"]);
    assert.deepEqual(text.split("\n").filter((l) => l.startsWith("  +")).map((l) => l.slice(-1)), ["a", "m", "b", "x", "y", "c", "z"]);
  });

  it("shows a list that went away as before → (none), and keeps a value of exactly 160 characters whole", () => {
    const exactly = "y".repeat(158); // 160 characters once quoted
    const lines = renderDiff([
      { kind: "update", type: COMMAND, name: "c", host: null, inputs: [{ key: "args", before: ["a"], after: undefined }, { key: "create", before: exactly, after: "" }] },
    ]).split("\n");
    assert.equal(lines[2], '        args: ["a"] → (none)');
    assert.equal(lines[3], `        create: "${exactly}" → ""`);
  });
});
