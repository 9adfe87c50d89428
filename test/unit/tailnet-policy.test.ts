import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import {
  buildTailnetPolicy,
  describePolicyTests,
  HuJsonError,
  mergeIntoBasePolicy,
  parseHuJson,
  policyToJson,
  renderPolicyFragment,
  renderPolicyJson,
  TailnetPolicyError,
  validateTailnetPolicyInput,
  type JsonObject,
  type JsonValue,
  type TailnetPolicyInput,
} from "../../components/core/tailnet-policy";

const typical: TailnetPolicyInput = {
  workerTag: "tag:gpu-worker",
  redisTag: "tag:redis",
  redisPort: 6380,
  admins: ["group:ops", "alice@example.com", "autogroup:admin"],
  sshUsers: ["root", "ops"],
};

/** Every string anywhere in a JSON value. */
function strings(v: JsonValue): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v !== null && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]);
  return [];
}

/** Every port named anywhere: `tcp:6380` in grants, `tag:redis:6380` in tests. */
function ports(v: JsonValue): number[] {
  return strings(v).flatMap((s) => {
    const m = /^(?:tcp|udp):(\d+)$/.exec(s) ?? /^tag:[a-z0-9-]+:(\d+)$/.exec(s);
    return m ? [Number(m[1])] : [];
  });
}

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TailnetPolicyError, `expected TailnetPolicyError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected a TailnetPolicyError");
}

describe("buildTailnetPolicy", () => {
  const policy = buildTailnetPolicy(typical);
  const json = policyToJson(policy);

  it("declares both tags, owned by the admins", () => {
    assert.deepEqual(policy.tagOwners, {
      "tag:gpu-worker": ["group:ops", "alice@example.com", "autogroup:admin"],
      "tag:redis": ["group:ops", "alice@example.com", "autogroup:admin"],
    });
  });

  it("grants exactly two things: workers → redis on tcp:<redisPort>, admins → workers on tcp:22", () => {
    assert.deepEqual(policy.grants, [
      { src: ["tag:gpu-worker"], dst: ["tag:redis"], ip: ["tcp:6380"] },
      { src: ["group:ops", "alice@example.com", "autogroup:admin"], dst: ["tag:gpu-worker"], ip: ["tcp:22"] },
    ]);
  });

  it("has one Tailscale SSH rule: admins → workers as exactly the listed users, action accept", () => {
    assert.deepEqual(policy.ssh, [
      { action: "accept", src: ["group:ops", "alice@example.com", "autogroup:admin"], dst: ["tag:gpu-worker"], users: ["root", "ops"] },
    ]);
  });

  it("tests every path: worker→redis port accepted; redis:22, workers, UDP denied; admins reach :22; redis cannot reach workers", () => {
    // The admin test source is the first admin usable as a test src: a user before a group, never an autogroup.
    assert.deepEqual(policy.tests, [
      {
        src: "tag:gpu-worker",
        proto: "tcp",
        accept: ["tag:redis:6380"],
        deny: ["tag:redis:22", "tag:gpu-worker:22", "tag:gpu-worker:6380"],
      },
      { src: "tag:gpu-worker", proto: "udp", accept: [], deny: ["tag:redis:6380"] },
      { src: "alice@example.com", proto: "tcp", accept: ["tag:gpu-worker:22"], deny: [] },
      { src: "tag:redis", proto: "tcp", accept: [], deny: ["tag:gpu-worker:22", "tag:gpu-worker:6380"] },
    ]);
    assert.deepEqual(policy.sshTests, [{ src: "alice@example.com", dst: ["tag:gpu-worker"], accept: ["root", "ops"] }]);
  });

  it("uses testUser as the admin test source when given", () => {
    const p = buildTailnetPolicy({ ...typical, admins: ["autogroup:admin"], testUser: "bob@example.com" });
    assert.equal(p.tests[2]?.src, "bob@example.com");
    assert.equal(p.sshTests[0]?.src, "bob@example.com");
    // The grant still names the admins, not the test user.
    assert.deepEqual(p.grants[1]?.src, ["autogroup:admin"]);
  });

  it("falls back to a group when no admin is a user", () => {
    const p = buildTailnetPolicy({ ...typical, admins: ["autogroup:admin", "group:sre"] });
    assert.equal(p.sshTests[0]?.src, "group:sre");
  });

  it("contains no '*' anywhere", () => {
    for (const s of strings(json)) assert.ok(!s.includes("*"), `'*' in ${s}`);
    assert.ok(!renderPolicyFragment(policy).replace(/^\s*\/\/.*$/gm, "").includes("*"));
  });

  it("names no port but redisPort and 22", () => {
    const found = new Set(ports(json));
    assert.deepEqual([...found].sort((a, b) => a - b), [22, 6380]);
  });

  it("uses the configured tags and port exactly", () => {
    const p = policyToJson(buildTailnetPolicy({ ...typical, workerTag: "tag:cpu-box", redisTag: "tag:queue", redisPort: 7000 }));
    const tags = new Set(strings(p).filter((s) => s.startsWith("tag:")).map((s) => s.replace(/:\d+$/, "")));
    assert.deepEqual([...tags].sort(), ["tag:cpu-box", "tag:queue"]);
    assert.deepEqual([...new Set(ports(p))].sort((a, b) => a - b), [22, 7000]);
  });

  it("omits empty accept/deny lists in the JSON, as Tailscale's examples do", () => {
    const tests = json.tests as JsonObject[];
    assert.deepEqual(tests[1], { src: "tag:gpu-worker", proto: "udp", deny: ["tag:redis:6380"] });
    assert.deepEqual(Object.keys(json), ["tagOwners", "grants", "ssh", "tests", "sshTests"]);
  });

  it("describes each assertion on one line", () => {
    const lines = describePolicyTests(policy);
    assert.ok(lines.includes("accept tcp tag:gpu-worker -> tag:redis:6380"));
    assert.ok(lines.includes("deny udp tag:gpu-worker -> tag:redis:6380"));
    assert.ok(lines.includes("deny tcp tag:gpu-worker -> tag:gpu-worker:22"));
    assert.ok(lines.includes("ssh accept alice@example.com -> ops@tag:gpu-worker"));
    assert.equal(lines.length, 1 + 3 + 1 + 1 + 2 + 2);
  });

  it("renders JSON that parses back to the same document, lists of plain values on one line", () => {
    const text = renderPolicyJson(json);
    assert.deepEqual(JSON.parse(text), json);
    assert.match(text, /"ip": \["tcp:6380"\]/);
    assert.deepEqual(JSON.parse(renderPolicyJson({ a: [], b: {}, c: [[1], { d: null }] })), { a: [], b: {}, c: [[1], { d: null }] });
  });

  it("is deterministic", () => {
    assert.equal(renderPolicyJson(policyToJson(buildTailnetPolicy(typical))), renderPolicyJson(json));
  });
});

describe("input validation", () => {
  it("accepts the typical input", () => {
    assert.deepEqual(validateTailnetPolicyInput(typical), []);
  });

  it("rejects tags without the tag: prefix, naming the field", () => {
    const problems = problemsOf(() => buildTailnetPolicy({ ...typical, workerTag: "gpu-worker", redisTag: "tag:" }));
    assert.equal(problems.length, 2);
    assert.match(problems[0] ?? "", /^workerTag: 'gpu-worker' must start with 'tag:' \(e\.g\. tag:gpu-worker\)/);
    assert.match(problems[1] ?? "", /^redisTag: 'tag:' is not a tag name/);
  });

  it("rejects a wildcard tag", () => {
    assert.match(problemsOf(() => buildTailnetPolicy({ ...typical, redisTag: "tag:*" }))[0] ?? "", /redisTag.*no '\*'/);
  });

  it("rejects equal worker and redis tags", () => {
    assert.match(problemsOf(() => buildTailnetPolicy({ ...typical, redisTag: "tag:gpu-worker" }))[0] ?? "", /must differ/);
  });

  for (const port of [0, 65536, 6379.5, Number.NaN, -1]) {
    it(`rejects redisPort ${port}`, () => {
      assert.match(problemsOf(() => buildTailnetPolicy({ ...typical, redisPort: port }))[0] ?? "", /^redisPort: .* 1 to 65535/);
    });
  }

  it("rejects redisPort 22", () => {
    assert.match(problemsOf(() => buildTailnetPolicy({ ...typical, redisPort: 22 }))[0] ?? "", /^redisPort: 22 is the SSH port/);
  });

  it("rejects no admins, wildcard admins, unknown autogroups, a fleet tag as admin, duplicates", () => {
    assert.match(problemsOf(() => buildTailnetPolicy({ ...typical, admins: [] }))[0] ?? "", /^admins: name at least one admin/);
    const problems = problemsOf(() =>
      buildTailnetPolicy({ ...typical, admins: ["*", "autogroup:member", "tag:gpu-worker", "group:ops", "group:ops", "not a user"] }),
    );
    assert.deepEqual(
      problems.map((p) => p.split(":")[0]),
      ["admins[0]", "admins[1]", "admins[2]", "admins[4]", "admins[5]"],
    );
    assert.match(problems[0] ?? "", /contains '\*'/);
    assert.match(problems[1] ?? "", /not an admin role/);
    assert.match(problems[2] ?? "", /is a fleet tag/);
    assert.match(problems[3] ?? "", /listed twice/);
  });

  it("accepts a tag admin (e.g. the CI runner's tag) and uses it as the test source when nothing else can be", () => {
    const p = buildTailnetPolicy({ ...typical, admins: ["autogroup:admin", "tag:ci"] });
    assert.equal(p.sshTests[0]?.src, "tag:ci");
  });

  it("rejects non-explicit SSH users", () => {
    const problems = problemsOf(() => buildTailnetPolicy({ ...typical, sshUsers: ["autogroup:nonroot", "*", "root", "root"] }));
    assert.equal(problems.length, 3);
    assert.match(problems[0] ?? "", /^sshUsers\[0\]: 'autogroup:nonroot' is not an explicit Unix user name/);
    assert.match(problems[1] ?? "", /^sshUsers\[1\]/);
    assert.match(problems[2] ?? "", /^sshUsers\[3\]: 'root' is listed twice/);
    assert.match(problemsOf(() => buildTailnetPolicy({ ...typical, sshUsers: [] }))[0] ?? "", /^sshUsers: name at least one/);
  });

  it("requires testUser when every admin is an autogroup, and checks it", () => {
    assert.match(problemsOf(() => buildTailnetPolicy({ ...typical, admins: ["autogroup:admin"] }))[0] ?? "", /^testUser: every admin is an autogroup/);
    assert.match(
      problemsOf(() => buildTailnetPolicy({ ...typical, testUser: "autogroup:admin" }))[0] ?? "",
      /^testUser: 'autogroup:admin' must be one admin's login/,
    );
  });

  it("reports every problem at once", () => {
    const err = (() => {
      try {
        buildTailnetPolicy({ workerTag: "w", redisTag: "r", redisPort: 0, admins: [], sshUsers: [] });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof TailnetPolicyError);
    assert.equal(err.problems.length, 5);
    assert.match(err.message, /^tailnet policy: 5 problems:\n {2}- workerTag/);
  });
});

describe("parseHuJson", () => {
  it("strips line and block comments, keeps // and /* inside strings", () => {
    const text = `// header
{
  /* block
     comment */ "url": "https://example.com//path", // trailing comment
  "glob": "/* not a comment */",
  "escaped": "quote \\" // still string",
  "n": -1.5e3, "t": true, "f": false, "z": null
}`;
    assert.deepEqual(parseHuJson(text), {
      url: "https://example.com//path",
      glob: "/* not a comment */",
      escaped: 'quote " // still string',
      n: -1500,
      t: true,
      f: false,
      z: null,
    });
  });

  it("accepts trailing commas in objects and arrays, with comments between", () => {
    assert.deepEqual(parseHuJson(`{"a": [1, 2, /* c */ ], "b": {"c": 3, // x\n },}`), { a: [1, 2], b: { c: 3 } });
  });

  it("rejects what HuJSON does not allow, with line and column", () => {
    const cases: [string, RegExp][] = [
      [`{"a": 1,,}`, /unexpected ','/],
      [`[,]`, /unexpected ','/],
      [`{"a": 1 "b": 2}`, /expected ',' or '}' at line 1, column 9/],
      [`{'a': 1}`, /double-quoted key/],
      [`{"a": 1,\n "a": 2}`, /duplicate key "a" at line 2, column 2/],
      [`{"a": /* open`, /unterminated \/\* comment/],
      [`{"a": "x`, /unterminated string/],
      [`{"a": 01}`, /expected ',' or '}'/],
      [`{"a": "\\q"}`, /invalid string escape/],
      [``, /empty document/],
      [`{} {}`, /after the document's value/],
      [`{"a": tru}`, /unexpected 't'/],
    ];
    for (const [text, pattern] of cases) {
      assert.throws(() => parseHuJson(text), (err: unknown) => err instanceof HuJsonError && pattern.test(err.message), text);
    }
  });

  it("keeps a __proto__ key as plain data", () => {
    const v = parseHuJson(`{"__proto__": {"x": 1}}`) as JsonObject;
    assert.deepEqual(Object.keys(v), ["__proto__"]);
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
  });

  it("parses the repository's base policy file", () => {
    const base = parseHuJson(readFileSync(join(__dirname, "../../tailnet/policy.base.hujson"), "utf8"));
    assert.deepEqual(Object.keys(base as JsonObject), ["groups", "tagOwners", "grants", "ssh", "tests", "sshTests"]);
  });
});

describe("mergeIntoBasePolicy", () => {
  const policy = buildTailnetPolicy(typical);
  const base = `{
    // team rules
    "groups": { "group:ops": ["alice@example.com"] },
    "tagOwners": { "tag:web": ["group:ops"], },
    "grants": [ { "src": ["group:ops"], "dst": ["tag:web"], "ip": ["tcp:443"] }, ],
    "nodeAttrs": [ { "target": ["tag:web"], "attr": ["funnel"] } ],
    "tests": [ { "src": "alice@example.com", "accept": ["tag:web:443"] } ],
  }`;

  it("keeps the team's rules first and in place, appends the fleet's", () => {
    const merged = mergeIntoBasePolicy(base, policy);
    assert.deepEqual(Object.keys(merged), ["groups", "tagOwners", "grants", "nodeAttrs", "tests", "ssh", "sshTests"]);
    assert.deepEqual(merged.groups, { "group:ops": ["alice@example.com"] });
    assert.deepEqual(merged.nodeAttrs, [{ target: ["tag:web"], attr: ["funnel"] }]);
    assert.deepEqual(Object.keys(merged.tagOwners as JsonObject), ["tag:web", "tag:gpu-worker", "tag:redis"]);
    const grants = merged.grants as JsonObject[];
    assert.equal(grants.length, 3);
    assert.deepEqual(grants[0], { src: ["group:ops"], dst: ["tag:web"], ip: ["tcp:443"] });
    assert.deepEqual(grants.slice(1), policyToJson(policy).grants);
    const tests = merged.tests as JsonObject[];
    assert.equal(tests.length, 1 + policy.tests.length);
    assert.deepEqual(tests[0], { src: "alice@example.com", accept: ["tag:web:443"] });
    assert.deepEqual(merged.ssh, policyToJson(policy).ssh);
    assert.deepEqual(merged.sshTests, policyToJson(policy).sshTests);
  });

  it("is deterministic and idempotent: merging into its own output changes nothing", () => {
    const once = mergeIntoBasePolicy(base, policy);
    assert.equal(renderPolicyJson(mergeIntoBasePolicy(base, policy)), renderPolicyJson(once));
    assert.equal(renderPolicyJson(mergeIntoBasePolicy(renderPolicyJson(once), policy)), renderPolicyJson(once));
  });

  it("accepts a base that already declares a fleet tag with the same owners, in any order", () => {
    const same = `{"tagOwners": {"tag:redis": ["autogroup:admin", "group:ops", "alice@example.com"]}}`;
    const merged = mergeIntoBasePolicy(same, policy);
    assert.deepEqual((merged.tagOwners as JsonObject)["tag:redis"], ["autogroup:admin", "group:ops", "alice@example.com"]);
  });

  it("fails on a conflicting owner for a fleet tag, naming the tag", () => {
    const conflicting = `{"tagOwners": {"tag:gpu-worker": ["bob@example.com"], "tag:redis": ["group:ops"]}}`;
    const problems = problemsOf(() => mergeIntoBasePolicy(conflicting, policy));
    assert.equal(problems.length, 2);
    assert.match(problems[0] ?? "", /^tagOwners\["tag:gpu-worker"\] conflict: .*\["bob@example\.com"\]/);
    assert.match(problems[1] ?? "", /^tagOwners\["tag:redis"\] conflict/);
  });

  it("rejects a base of the wrong shape", () => {
    assert.match(problemsOf(() => mergeIntoBasePolicy(`[]`, policy))[0] ?? "", /must be a JSON object/);
    assert.match(problemsOf(() => mergeIntoBasePolicy(`{"grants": {}}`, policy))[0] ?? "", /grants must be a list/);
    assert.match(problemsOf(() => mergeIntoBasePolicy(`{"tagOwners": {"tag:x": "me"}}`, policy))[0] ?? "", /tagOwners\["tag:x"\] must be a list/);
  });

  it("merges into an empty base and into the repository's base file", () => {
    assert.deepEqual(mergeIntoBasePolicy(`{}`, policy), policyToJson(policy));
    const fileBase = readFileSync(join(__dirname, "../../tailnet/policy.base.hujson"), "utf8");
    const merged = mergeIntoBasePolicy(fileBase, policy);
    assert.deepEqual(merged.grants, policyToJson(policy).grants);
    assert.deepEqual(merged.groups, {});
  });
});

describe("renderPolicyFragment", () => {
  const policy = buildTailnetPolicy(typical);
  const fragment = renderPolicyFragment(policy);

  it("parses back to exactly the generated sections", () => {
    assert.deepEqual(parseHuJson(fragment), policyToJson(policy));
  });

  it("starts with a header comment that says how to merge it and lists the tests", () => {
    assert.match(fragment, /^\/\/ gpu-fleet tailnet policy fragment/);
    assert.match(fragment, /\/\/ {3}test: accept tcp tag:gpu-worker -> tag:redis:6380\n/);
  });
});

describe("externalPolicyProblem", () => {
  it("passes when the live policy declares every tag, and names the missing ones otherwise", async () => {
    const { externalPolicyProblem } = await import("../../components/core/tailnet-policy");
    const live = JSON.stringify({ tagOwners: { "tag:gpu-worker": ["group:ops"] } });
    assert.equal(externalPolicyProblem(live, ["tag:gpu-worker"]), undefined);
    assert.match(externalPolicyProblem(live, ["tag:gpu-worker", "tag:redis"]) ?? "", /does not declare tag:redis in tagOwners, so no host can join with it\. Merge the fragment/);
    assert.match(externalPolicyProblem("{}", ["tag:a", "tag:b"]) ?? "", /tag:a, tag:b .* with them/);
    assert.match(externalPolicyProblem("not json", ["tag:a"]) ?? "", /could not be read/);
  });
});
