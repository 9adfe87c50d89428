import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { installPulumiMocks, MOCK_AUTH_KEY_PREFIX, resolveOutput, type RecordedResource } from "../support/pulumi-mocks";
import { parseHuJson, TailnetPolicyError, type JsonObject } from "../../components/core/tailnet-policy";
import type * as TailnetModule from "../../components/Tailnet";

const mocks = installPulumiMocks({
  config: { "tailscale:tailnet": "example.com" },
  // The live policy external mode checks: the team's own, declaring the fleet's tags.
  calls: {
    "tailscale:index/getAcl:getAcl": () => ({
      id: "acl",
      hujson: "",
      json: JSON.stringify({ tagOwners: { "tag:gpu-worker": ["group:ops"], "tag:redis": ["group:ops"] } }),
    }),
  },
});

const KEY = "tailscale:index/tailnetKey:TailnetKey";
const ACL = "tailscale:index/acl:Acl";
const COMPONENT = "gpu-fleet:index:Tailnet";

const policyInput = {
  workerTag: "tag:gpu-worker",
  redisTag: "tag:redis",
  redisPort: 6379,
  admins: ["group:ops"],
  sshUsers: ["root"],
};

const base = `{
  // The team's own rules.
  "groups": { "group:ops": ["alice@example.com"] },
  "tagOwners": { "tag:web": ["group:ops"] },
  "grants": [ { "src": ["group:ops"], "dst": ["tag:web"], "ip": ["tcp:443"] }, ],
}`;

let mod: typeof TailnetModule;
let managed: TailnetModule.Tailnet;
let external: TailnetModule.Tailnet;

/** The resources whose parent is the named component. */
function childrenOf(componentName: string): RecordedResource[] {
  const component = mocks.named(componentName);
  return mocks.resources.filter((r) => r.parentUrn !== undefined && r.parentUrn === component.urn);
}

before(async () => {
  mod = await import("../../components/Tailnet");
  managed = new mod.Tailnet("fleet", {
    policy: policyInput,
    mode: "managed",
    basePolicy: base,
    hosts: [
      { name: "gex44-1", tags: ["tag:gpu-worker"] },
      { name: "redis-vps", tags: ["tag:redis"], keyGeneration: 2 },
    ],
    keyExpirySeconds: 7200,
  });
  external = new mod.Tailnet("ext", {
    policy: policyInput,
    mode: "external",
    hosts: [{ name: "laptop", tags: ["tag:gpu-worker"] }],
  });
  await mocks.settle();
});

describe("Tailnet (managed)", () => {
  it("registers the component with its type token, and its children under it", () => {
    const component = mocks.named("fleet");
    assert.equal(component.type, COMPONENT);
    assert.equal(component.custom, false);
    const children = childrenOf("fleet");
    assert.deepEqual(
      children.map((r) => `${r.type} ${r.name}`).sort(),
      [`${ACL} fleet-policy`, `${KEY} fleet-key-gex44-1`, `${KEY} fleet-key-redis-vps`],
    );
    for (const child of children) assert.equal(mocks.parentOf(child)?.name, "fleet");
  });

  it("creates one single-use, preauthorized, non-ephemeral, tagged key per host with the expiry given", () => {
    const keys = mocks.ofType(KEY).filter((r) => r.name.startsWith("fleet-"));
    assert.equal(keys.length, 2);
    const byName = Object.fromEntries(keys.map((k) => [k.name, k.inputs]));
    for (const [name, tags] of [["fleet-key-gex44-1", ["tag:gpu-worker"]], ["fleet-key-redis-vps", ["tag:redis"]]] as const) {
      const inputs = byName[name];
      assert.ok(inputs, name);
      assert.equal(inputs.reusable, false);
      assert.equal(inputs.ephemeral, false);
      assert.equal(inputs.preauthorized, true);
      assert.deepEqual(inputs.tags, tags);
      assert.equal(inputs.expiry, 7200);
      assert.equal(inputs.recreateIfInvalid, "never");
      assert.match(String(inputs.description), /^[A-Za-z0-9 ]{1,50}$/);
    }
  });

  it("sets a replacement trigger only for hosts with a keyGeneration (bump it to mint a new key)", () => {
    assert.equal(mocks.named("fleet-key-redis-vps").replacementTrigger, 2);
    assert.equal(mocks.named("fleet-key-gex44-1").replacementTrigger, undefined);
  });

  it("exposes each host's key as a secret output", async () => {
    assert.deepEqual(Object.keys(managed.authKeys).sort(), ["gex44-1", "redis-vps"]);
    const key = await resolveOutput(managed.authKeys["gex44-1"] as NonNullable<(typeof managed.authKeys)[string]>);
    // The mock key is derived from the key's id (a replaced key reads differently).
    assert.equal(key.value, `${MOCK_AUTH_KEY_PREFIX}${mocks.named("fleet-key-gex44-1").id ?? ""}`);
    assert.equal(key.secret, true);
    // The provider marks the key itself secret too (additionalSecretOutputs, emulated by the mocks).
    const raw = await resolveOutput(managed.keys["redis-vps"]?.key ?? "");
    assert.equal(raw.secret, true);
  });

  it("creates exactly one Acl, owning the whole file, holding the base rules and the fleet's", () => {
    const acls = mocks.ofType(ACL);
    assert.equal(acls.length, 1);
    const acl = acls[0] as RecordedResource;
    assert.equal(acl.inputs.overwriteExistingContent, true);
    assert.equal(acl.inputs.resetAclOnDestroy, false);
    const doc = parseHuJson(String(acl.inputs.acl)) as JsonObject;
    assert.deepEqual(doc.groups, { "group:ops": ["alice@example.com"] });
    assert.deepEqual(doc.tagOwners, { "tag:web": ["group:ops"], "tag:gpu-worker": ["group:ops"], "tag:redis": ["group:ops"] });
    assert.deepEqual(doc.grants, [
      { src: ["group:ops"], dst: ["tag:web"], ip: ["tcp:443"] },
      { src: ["tag:gpu-worker"], dst: ["tag:redis"], ip: ["tcp:6379"] },
      { src: ["group:ops"], dst: ["tag:gpu-worker"], ip: ["tcp:22"] },
    ]);
    assert.equal((doc.tests as unknown[]).length, 4);
    assert.equal((doc.sshTests as unknown[]).length, 1);
    assert.equal(managed.policyJson, acl.inputs.acl);
    assert.equal(managed.fragment, undefined);
  });

  it("makes the keys depend on the Acl, so their tags exist before a key is created", () => {
    for (const key of ["fleet-key-gex44-1", "fleet-key-redis-vps"]) {
      assert.deepEqual(
        mocks.dependenciesOf(mocks.named(key)).map((r) => r.name),
        ["fleet-policy"],
        key,
      );
    }
    assert.deepEqual(mocks.named("ext-key-laptop").dependencies, []);
  });

  it("lists the policy tests by name", () => {
    assert.ok(managed.testNames.includes("accept tcp tag:gpu-worker -> tag:redis:6379"));
    assert.ok(managed.testNames.includes("ssh accept group:ops -> root@tag:gpu-worker"));
  });
});

describe("Tailnet (external)", () => {
  it("creates no Acl, only the keys, and exposes the fragment", () => {
    assert.deepEqual(
      childrenOf("ext").map((r) => `${r.type} ${r.name}`),
      [`${KEY} ext-key-laptop`],
    );
    assert.equal(external.acl, undefined);
    assert.equal(external.policyJson, undefined);
    assert.ok(external.fragment?.startsWith("// gpu-fleet tailnet policy fragment"));
    const parsed = parseHuJson(external.fragment ?? "") as JsonObject;
    assert.deepEqual(Object.keys(parsed), ["tagOwners", "grants", "ssh", "tests", "sshTests"]);
  });

  it("reads the live policy before minting keys, whose tags it declares", async () => {
    assert.deepEqual(mocks.calls.map((c) => c.token), ["tailscale:index/getAcl:getAcl"]);
    assert.deepEqual(mocks.named("ext-key-laptop").inputs.tags, ["tag:gpu-worker"]);
  });

  it("uses the default expiry of one day", () => {
    assert.equal(mocks.named("ext-key-laptop").inputs.expiry, mod.DEFAULT_KEY_EXPIRY_SECONDS);
    assert.equal(mod.DEFAULT_KEY_EXPIRY_SECONDS, 86400);
  });
});

describe("Tailnet argument errors (no resource is created)", () => {
  function problems(args: TailnetModule.TailnetArgs): readonly string[] {
    const before = mocks.resources.length;
    try {
      new mod.Tailnet("bad", args);
    } catch (err) {
      assert.ok(err instanceof TailnetPolicyError, String(err));
      assert.equal(mocks.resources.length, before, "no resource may be registered for bad args");
      return err.problems;
    }
    assert.fail("expected TailnetPolicyError");
  }

  it("rejects duplicate hosts, untagged hosts, bad tags, tags the managed policy does not declare, bad expiry", () => {
    const found = problems({
      policy: policyInput,
      mode: "managed",
      basePolicy: base,
      hosts: [
        { name: "a", tags: ["tag:gpu-worker"] },
        { name: "a", tags: [] },
        { name: "b", tags: ["gpu-worker", "tag:unknown"] },
      ],
      keyExpirySeconds: 0,
    });
    assert.deepEqual(found, [
      "keyExpirySeconds: 0 must be an integer from 300 to 7776000 (90 days)",
      "hosts[1] (a): host name 'a' is used twice",
      "hosts[1] (a): needs at least one tag, e.g. tag:gpu-worker",
      "hosts[2] (b): tag 'gpu-worker' must start with 'tag:'",
      "hosts[2] (b): tag 'tag:unknown' is not in the policy's tagOwners; declare it in tailnet/policy.base.hujson or use tag:gpu-worker / tag:redis",
    ]);
  });

  it("accepts a host tag the base policy declares", () => {
    assert.doesNotThrow(() =>
      mod.prepareTailnet({ policy: policyInput, mode: "managed", basePolicy: base, hosts: [{ name: "w", tags: ["tag:web"] }] }),
    );
  });

  it("rejects a basePolicy in external mode and passes policy errors through", () => {
    assert.match(problems({ policy: policyInput, mode: "external", basePolicy: "{}", hosts: [] })[0] ?? "", /^basePolicy: only used in managed mode/);
    assert.match(problems({ policy: { ...policyInput, redisTag: "redis" }, mode: "external", hosts: [] })[0] ?? "", /^redisTag/);
  });

  it("works with the repository's base policy file", () => {
    const fileBase = readFileSync(join(__dirname, "../../tailnet/policy.base.hujson"), "utf8");
    const prepared = mod.prepareTailnet({ policy: policyInput, mode: "managed", basePolicy: fileBase, hosts: [] });
    assert.ok(prepared.policyJson?.includes('"tcp:6379"'));
  });
});
