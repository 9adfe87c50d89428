// The diff's logic, apart from the per-type classification table (its own tests check one change per
// entry): what counts as a change, create/delete/update/replace, and how the text groups and shows it.
// Every expected value is written out by hand.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { diffResources, renderDiff, replacingInputs, type ResourceChange } from "../../scripts/lib/resource-diff";
import type { SynthResource } from "../../scripts/lib/synth";

interface Extra {
  host?: string | null;
  ignoreChanges?: string[];
  replaceOnChanges?: string[];
  replacementTrigger?: unknown;
  dependsOn?: string[];
  inputDependencies?: Record<string, string[]>;
}

function resource(type: string, name: string, inputs: Record<string, unknown>, extra: Extra = {}): SynthResource {
  // Every field written out: a new SynthResource field fails type-checking here, not at run time.
  return {
    type, name, parent: null, host: extra.host ?? null, inputs, ignoreChanges: extra.ignoreChanges ?? [], deleteBeforeReplace: false,
    replaceOnChanges: extra.replaceOnChanges ?? [], replacementTrigger: extra.replacementTrigger ?? null, deletedWith: null,
    dependsOn: extra.dependsOn ?? [], inputDependencies: extra.inputDependencies ?? {}, id: null,
  };
}

const COMMAND = "command:remote:Command";
const CONTAINER = "docker:index/container:Container";
const IMAGE = "docker:index/remoteImage:RemoteImage";
const COPY = "command:remote:CopyToRemote";
/** What synth prints for a value known only during `up` (scripts/lib/computed.ts). */
const C = "<computed>";

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

describe("replacingInputs (what decides a resource's mock id)", () => {
  it("keeps the inputs the provider replaces for, and those named in replaceOnChanges by their top-level key; never the SDK's __ keys", () => {
    // Container: everything but the in-place list replaces (image, envs); memory is in place; healthcheck
    // is in place but named in replaceOnChanges as a path.
    const inputs = { image: "i:1", envs: ["A=1"], memory: 100, healthcheck: { tests: ["x"] }, __defaults: [] };
    assert.deepEqual(replacingInputs(CONTAINER, inputs, ["healthcheck.tests"]), { image: "i:1", envs: ["A=1"], healthcheck: { tests: ["x"] } });
    assert.deepEqual(replacingInputs(CONTAINER, inputs), { image: "i:1", envs: ["A=1"] });
    // A command replaces only for triggers.
    assert.deepEqual(replacingInputs(COMMAND, { create: "x", triggers: ["1"] }), { triggers: ["1"] });
    assert.deepEqual(replacingInputs(COMMAND, { create: "x", triggers: ["1"] }, ["create"]), { create: "x", triggers: ["1"] });
  });
});

describe("a changed replacementTrigger", () => {
  it("is listed as the input (replacementTrigger) with its old and new value", () => {
    const [change] = diffResources([resource(COMMAND, "c", { create: "x" }, { replacementTrigger: "a" })], [resource(COMMAND, "c", { create: "x" }, { replacementTrigger: "b" })]);
    assert.deepEqual(change, { kind: "replace", type: COMMAND, name: "c", host: null, inputs: [{ key: "(replacementTrigger)", before: "a", after: "b" }] });
  });
});

describe("computed inputs from a created or replaced resource (README: `image: <computed>, from new ...`)", () => {
  it("a container whose image is replaced gets a new image id: its computed image input changes and replaces it", () => {
    const before = [resource(IMAGE, "img", { name: "i:1" }, { host: "a" }), resource(CONTAINER, "w", { image: C, memory: 100 }, { host: "a", inputDependencies: { image: ["img"] } })];
    const after = [resource(IMAGE, "img", { name: "i:2" }, { host: "a" }), resource(CONTAINER, "w", { image: C, memory: 100 }, { host: "a", inputDependencies: { image: ["img"] } })];
    assert.deepEqual(diffResources(before, after), [
      { kind: "replace", type: IMAGE, name: "img", host: "a", inputs: [{ key: "name", before: "i:1", after: "i:2" }] },
      { kind: "replace", type: CONTAINER, name: "w", host: "a", inputs: [{ key: "image", before: C, after: C, from: ["img"] }] },
    ]);
  });

  it("follows chains to the end, whatever order the resources come in; an update renews nothing", () => {
    // a is replaced (its triggers change). b takes a computed create from a: an update of b, which gives
    // nothing new to c. d takes computed triggers from a: a replacement of d, so e, listed before d,
    // takes a new create from d.
    const all = (trigger: string): SynthResource[] => [
      resource(COMMAND, "a", { triggers: [trigger] }),
      resource(COMMAND, "e", { create: C }, { dependsOn: ["d"] }),
      resource(COMMAND, "b", { create: C }, { dependsOn: ["a"] }),
      resource(COMMAND, "d", { triggers: [C] }, { dependsOn: ["a"] }),
      resource(COMMAND, "c", { create: C }, { dependsOn: ["b"] }),
    ];
    assert.deepEqual(diffResources(all("1"), all("2")), [
      { kind: "replace", type: COMMAND, name: "a", host: null, inputs: [{ key: "triggers", before: ["1"], after: ["2"] }] },
      { kind: "update", type: COMMAND, name: "b", host: null, inputs: [{ key: "create", before: C, after: C, from: ["a"] }] },
      { kind: "replace", type: COMMAND, name: "d", host: null, inputs: [{ key: "triggers", before: [C], after: [C], from: ["a"] }] },
      { kind: "update", type: COMMAND, name: "e", host: null, inputs: [{ key: "create", before: C, after: C, from: ["d"] }] },
    ]);
  });

  it("a container waiting for the one before it, and roles waiting for their roles copy, take no value from them", () => {
    const all = (image: string): SynthResource[] => [
      resource(CONTAINER, "w1", { image }),
      resource(CONTAINER, "w2", { image: C }, { dependsOn: ["w1"] }),
      resource(COPY, "copy", { triggers: [image] }),
      resource(COMMAND, "roles", { create: C }, { dependsOn: ["copy"] }),
    ];
    assert.deepEqual(diffResources(all("i:1"), all("i:2")).map((c) => [c.kind, c.name]), [["replace", "w1"], ["replace", "copy"]]);
  });

  it("but a value taken from a container (a health gate's trigger is its id) changes", () => {
    const all = (image: string): SynthResource[] => [
      resource(CONTAINER, "w1", { image }),
      resource(COMMAND, "gate", { triggers: [C] }, { dependsOn: ["w1"], inputDependencies: { triggers: ["w1"] } }),
    ];
    assert.deepEqual(diffResources(all("i:1"), all("i:2"))[1], { kind: "replace", type: COMMAND, name: "gate", host: null, inputs: [{ key: "triggers", before: [C], after: [C], from: ["w1"] }] });
  });

  it("lists every renewed source, sorted by name, and only those", () => {
    const all = (v: string): SynthResource[] => [
      resource(COMMAND, "z", { triggers: [v] }),
      resource(COMMAND, "b", { triggers: [v] }),
      resource(COMMAND, "same", { create: "x" }),
      resource(COMMAND, "r", { create: C }, { dependsOn: ["z", "same"], inputDependencies: { create: ["b"] } }),
    ];
    assert.deepEqual(diffResources(all("1"), all("2"))[2], { kind: "update", type: COMMAND, name: "r", host: null, inputs: [{ key: "create", before: C, after: C, from: ["b", "z"] }] });
  });

  it("finds <computed> inside lists and objects, and nowhere else; skips ignored and __ inputs and inputs already changed", () => {
    const all = (v: string): SynthResource[] => [
      resource(COMMAND, "src", { triggers: [v] }),
      resource(COMMAND, "r", {
        list: ["x", C], object: { A: { B: C } }, plain: "x", number: 1, nothing: null, strings: ["x"], map: { A: "x" },
        ignored: C, __defaults: C, create: [C, v],
      }, { dependsOn: ["src"], ignoreChanges: ["ignored"] }),
    ];
    assert.deepEqual(diffResources(all("1"), all("2"))[1], {
      kind: "update", type: COMMAND, name: "r", host: null,
      inputs: [
        { key: "create", before: [C, "1"], after: [C, "2"] },
        { key: "list", before: ["x", C], after: ["x", C], from: ["src"] },
        { key: "object", before: { A: { B: C } }, after: { A: { B: C } }, from: ["src"] },
      ],
    });
  });

  it("a computed input that names no <computed> value, or a source that is only updated, is no change", () => {
    const all = (v: string): SynthResource[] => [resource(COMMAND, "src", { create: v }), resource(COMMAND, "r", { create: C }, { dependsOn: ["src"] })];
    assert.deepEqual(diffResources(all("1"), all("2")).map((c) => c.name), ["src"]);
    const plain = (v: string): SynthResource[] => [resource(COMMAND, "src", { triggers: [v] }), resource(COMMAND, "r", { create: "x", stdin: ["y"] }, { dependsOn: ["src"] })];
    assert.deepEqual(diffResources(plain("1"), plain("2")).map((c) => c.name), ["src"]);
  });

  it("a resource created now is a source too (a new image for an existing container)", () => {
    const before = [resource(CONTAINER, "w", { image: C }, { inputDependencies: { image: ["img"] } })];
    const after = [resource(IMAGE, "img", { name: "i:1" }), resource(CONTAINER, "w", { image: C }, { inputDependencies: { image: ["img"] } })];
    assert.deepEqual(diffResources(before, after), [
      { kind: "create", type: IMAGE, name: "img", host: null, inputs: [] },
      { kind: "replace", type: CONTAINER, name: "w", host: null, inputs: [{ key: "image", before: C, after: C, from: ["img"] }] },
    ]);
  });

  it("sorts direct and computed inputs together by key", () => {
    const all = (v: string): SynthResource[] => [
      resource(COMMAND, "src", { triggers: [v] }),
      resource(COMMAND, "r", { stdin: v, object: { A: "x", B: C }, create: C, args: [C] }, { dependsOn: ["src"] }),
    ];
    assert.deepEqual(diffResources(all("1"), all("2"))[1]?.inputs, [
      { key: "args", before: [C], after: [C], from: ["src"] },
      { key: "create", before: C, after: C, from: ["src"] },
      { key: "object", before: { A: "x", B: C }, after: { A: "x", B: C }, from: ["src"] },
      { key: "stdin", before: "1", after: "2" },
    ]);
  });

  it("replaces when one computed input replaces and another would update", () => {
    const all = (v: string): SynthResource[] => [resource(COMMAND, "src", { triggers: [v] }), resource(CONTAINER, "w", { envs: [C], healthcheck: { tests: [C] } }, { dependsOn: ["src"] })];
    const change = diffResources(all("1"), all("2"))[1];
    assert.equal(change?.kind, "replace");
    assert.deepEqual(change?.inputs.map((i) => i.key), ["envs", "healthcheck"]);
  });

  it("a computed replacementTrigger from a renewed source replaces", () => {
    const all = (v: string): SynthResource[] => [resource(COMMAND, "src", { triggers: [v] }), resource(COMMAND, "r", { create: "x" }, { dependsOn: ["src"], replacementTrigger: { id: C } })];
    assert.deepEqual(diffResources(all("1"), all("2"))[1], { kind: "replace", type: COMMAND, name: "r", host: null, inputs: [{ key: "(replacementTrigger)", before: { id: C }, after: { id: C }, from: ["src"] }] });
  });

  it("replaces for a computed input the provider or replaceOnChanges replaces for, and updates for one it does not", () => {
    const all = (v: string, extra: Extra): SynthResource[] => [resource(COMMAND, "src", { triggers: [v] }), resource(CONTAINER, "w", { memory: 1, healthcheck: { tests: [C] }, envs: "x" }, { dependsOn: ["src"], ...extra })];
    assert.equal(diffResources(all("1", {}), all("2", {}))[1]?.kind, "update");
    assert.equal(diffResources(all("1", { replaceOnChanges: ["healthcheck.tests"] }), all("2", { replaceOnChanges: ["healthcheck.tests"] }))[1]?.kind, "replace");
    const envs = (v: string): SynthResource[] => [resource(COMMAND, "src", { triggers: [v] }), resource(CONTAINER, "w", { memory: 1, envs: [C] }, { dependsOn: ["src"] })];
    assert.equal(diffResources(envs("1"), envs("2"))[1]?.kind, "replace");
  });

  it("leaves a resource that is created or replaced anyway as it is", () => {
    const before = [resource(COMMAND, "src", { triggers: ["1"] }), resource(COMMAND, "r", { triggers: ["1"], create: C }, { dependsOn: ["src"] })];
    const after = [resource(COMMAND, "src", { triggers: ["2"] }), resource(COMMAND, "r", { triggers: ["2"], create: C }, { dependsOn: ["src"] }), resource(COMMAND, "n", { create: C }, { dependsOn: ["src"] })];
    assert.deepEqual(diffResources(before, after), [
      { kind: "replace", type: COMMAND, name: "src", host: null, inputs: [{ key: "triggers", before: ["1"], after: ["2"] }] },
      { kind: "replace", type: COMMAND, name: "r", host: null, inputs: [{ key: "triggers", before: ["1"], after: ["2"] }] },
      { kind: "create", type: COMMAND, name: "n", host: null, inputs: [] },
    ]);
  });

  it("renders a computed change with the resources it comes from", () => {
    assert.equal(
      renderDiff([{ kind: "replace", type: CONTAINER, name: "w", host: "a", inputs: [{ key: "image", before: C, after: C, from: ["img", "img2"] }] }]),
      ["host a", "  ± replace docker:index/container:Container  w", "        image: <computed>, from new img, img2", "0 to create, 0 to delete, 1 to replace, 0 to update"].join("\n"),
    );
  });
});
