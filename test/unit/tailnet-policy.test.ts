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

describe("exact texts and edges (each written from the rule)", () => {
  const small: TailnetPolicyInput = { workerTag: "tag:gpu-worker", redisTag: "tag:redis", redisPort: 6379, admins: ["group:ops"], sshUsers: ["root"] };
  const W = "tag:gpu-worker";
  const R = "tag:redis";

  it("policyToJson: every section, empty accept/deny left out, non-empty kept", () => {
    assert.deepEqual(policyToJson(buildTailnetPolicy(small)), {
      tagOwners: { [W]: ["group:ops"], [R]: ["group:ops"] },
      grants: [
        { src: [W], dst: [R], ip: ["tcp:6379"] },
        { src: ["group:ops"], dst: [W], ip: ["tcp:22"] },
      ],
      ssh: [{ action: "accept", src: ["group:ops"], dst: [W], users: ["root"] }],
      tests: [
        { src: W, proto: "tcp", accept: [`${R}:6379`], deny: [`${R}:22`, `${W}:22`, `${W}:6379`] },
        { src: W, proto: "udp", deny: [`${R}:6379`] },
        { src: "group:ops", proto: "tcp", accept: [`${W}:22`] },
        { src: R, proto: "tcp", deny: [`${W}:22`, `${W}:6379`] },
      ],
      sshTests: [{ src: "group:ops", dst: [W], accept: ["root"] }],
    });
  });

  const LINES = [
    "accept tcp tag:gpu-worker -> tag:redis:6379",
    "deny tcp tag:gpu-worker -> tag:redis:22",
    "deny tcp tag:gpu-worker -> tag:gpu-worker:22",
    "deny tcp tag:gpu-worker -> tag:gpu-worker:6379",
    "deny udp tag:gpu-worker -> tag:redis:6379",
    "accept tcp group:ops -> tag:gpu-worker:22",
    "deny tcp tag:redis -> tag:gpu-worker:22",
    "deny tcp tag:redis -> tag:gpu-worker:6379",
    "ssh accept group:ops -> root@tag:gpu-worker",
  ];

  it("describePolicyTests: one line per assertion, in order", () => {
    assert.deepEqual(describePolicyTests(buildTailnetPolicy(small)), LINES);
  });

  it("renderPolicyFragment: the whole text, header, comments, sections indented, blank lines unindented", () => {
    const expected = [
      "// gpu-fleet tailnet policy fragment. Generated by the gpu-fleet stack: do not edit by hand, regenerate.",
      "//",
      "// The stack does not manage this tailnet's policy file (tailnet.policy: external). Merge each section",
      "// below into the section of the same name in your policy file: add the tagOwners entries (a tag that",
      "// is already declared must keep exactly these owners), and append the grants, ssh, tests and sshTests",
      "// entries. Tailscale runs the tests when the policy is saved; if one fails, a rule of yours grants more",
      "// than the fleet expects.",
      "//",
      ...LINES.map((l) => `//   test: ${l}`),
      "{",
      "  // The fleet's tags, and who may assign them: the fleet's admins.",
      '  "tagOwners": {',
      '    "tag:gpu-worker": ["group:ops"],',
      '    "tag:redis": ["group:ops"]',
      "  },",
      "",
      "  // Workers reach Redis on its TCP port only; admins reach workers on TCP 22 only. Nothing else.",
      '  "grants": [',
      "    {",
      '      "src": ["tag:gpu-worker"],',
      '      "dst": ["tag:redis"],',
      '      "ip": ["tcp:6379"]',
      "    },",
      "    {",
      '      "src": ["group:ops"],',
      '      "dst": ["tag:gpu-worker"],',
      '      "ip": ["tcp:22"]',
      "    }",
      "  ],",
      "",
      "  // Admins may log in to workers over Tailscale SSH as these users only.",
      '  "ssh": [',
      "    {",
      '      "action": "accept",',
      '      "src": ["group:ops"],',
      '      "dst": ["tag:gpu-worker"],',
      '      "users": ["root"]',
      "    }",
      "  ],",
      "",
      "  // Run by Tailscale on every policy change; a failing test rejects the change.",
      "  // Grants add up: a broader rule elsewhere in the file that opens these paths makes the deny cases fail.",
      '  "tests": [',
      "    {",
      '      "src": "tag:gpu-worker",',
      '      "proto": "tcp",',
      '      "accept": ["tag:redis:6379"],',
      '      "deny": ["tag:redis:22", "tag:gpu-worker:22", "tag:gpu-worker:6379"]',
      "    },",
      "    {",
      '      "src": "tag:gpu-worker",',
      '      "proto": "udp",',
      '      "deny": ["tag:redis:6379"]',
      "    },",
      "    {",
      '      "src": "group:ops",',
      '      "proto": "tcp",',
      '      "accept": ["tag:gpu-worker:22"]',
      "    },",
      "    {",
      '      "src": "tag:redis",',
      '      "proto": "tcp",',
      '      "deny": ["tag:gpu-worker:22", "tag:gpu-worker:6379"]',
      "    }",
      "  ],",
      "",
      "  // Admins can SSH to workers as each listed user.",
      '  "sshTests": [',
      "    {",
      '      "src": "group:ops",',
      '      "dst": ["tag:gpu-worker"],',
      '      "accept": ["root"]',
      "    }",
      "  ],",
      "}",
      "",
    ].join("\n");
    assert.equal(renderPolicyFragment(buildTailnetPolicy(small)), expected);
  });

  it("renderPolicyJson: two-space indent, plain lists on one line (null counts as plain), mixed lists and empty ones", () => {
    assert.equal(
      renderPolicyJson({ a: [null, 1, "x", true], b: [1, { c: 2 }], d: {}, e: [], f: { g: { h: "i" } } }),
      [
        "{",
        '  "a": [null, 1, "x", true],',
        '  "b": [',
        "    1,",
        "    {",
        '      "c": 2',
        "    }",
        "  ],",
        '  "d": {},',
        '  "e": [],',
        '  "f": {',
        '    "g": {',
        '      "h": "i"',
        "    }",
        "  }",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("TailnetPolicyError: one problem on one line, several as a list; named TailnetPolicyError", () => {
    const one = new TailnetPolicyError(["a: b"]);
    assert.equal(one.message, "tailnet policy: a: b");
    assert.equal(one.name, "TailnetPolicyError");
    assert.equal(new TailnetPolicyError(["a", "b"]).message, "tailnet policy: 2 problems:\n  - a\n  - b");
  });

  it("tags: exact messages; an empty, non-string, misplaced '-' or '_' tag is refused once, and two bad equal tags are not also 'equal'", () => {
    assert.deepEqual(validateTailnetPolicyInput({ ...small, workerTag: "", redisTag: "" }), [
      "workerTag: must be a tag such as tag:gpu-worker",
      "redisTag: must be a tag such as tag:gpu-worker",
    ]);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, workerTag: 7 as unknown as string }), ["workerTag: must be a tag such as tag:gpu-worker"]);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, workerTag: "gpu", redisTag: "gpu" }), [
      "workerTag: 'gpu' must start with 'tag:' (e.g. tag:gpu)",
      "redisTag: 'gpu' must start with 'tag:' (e.g. tag:gpu)",
    ]);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, workerTag: "my tag" }), ["workerTag: 'my tag' must start with 'tag:' (e.g. tag:gpu-worker)"]);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, workerTag: "tag:-gpu", redisTag: "tag:-gpu" }), [
      "workerTag: 'tag:-gpu' is not a tag name: after 'tag:' use letters, digits and '-' only (no '*')",
      "redisTag: 'tag:-gpu' is not a tag name: after 'tag:' use letters, digits and '-' only (no '*')",
    ]);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, workerTag: "tag:gpu_worker" }), [
      "workerTag: 'tag:gpu_worker' is not a tag name: after 'tag:' use letters, digits and '-' only (no '*')",
    ]);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, redisTag: W }), [
      "workerTag and redisTag are both 'tag:gpu-worker': they must differ, or workers could reach each other on the Redis port",
    ]);
  });

  it("redisPort: 1 and 65535 are ports", () => {
    assert.deepEqual(validateTailnetPolicyInput({ ...small, redisPort: 1 }), []);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, redisPort: 65535 }), []);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, redisPort: 65536 }), ["redisPort: 65536 is not a TCP port: use an integer from 1 to 65535, e.g. 6379"]);
  });

  it("admins: the four admin autogroups, users and groups with anchored patterns, exact messages", () => {
    for (const a of ["autogroup:owner", "autogroup:admin", "autogroup:network-admin", "autogroup:it-admin"]) {
      assert.deepEqual(validateTailnetPolicyInput({ ...small, admins: [a, "group:ops"] }), [], a);
    }
    assert.deepEqual(validateTailnetPolicyInput({ ...small, admins: ["", 5 as unknown as string, "autogroup:member", "bob smith@example.com", "alice@example.com extra", "group:a:group:b", "group:ops sre", R] }), [
      "admins[0]: must be a user login, group:, autogroup: or tag: name",
      "admins[1]: must be a user login, group:, autogroup: or tag: name",
      "admins[2]: 'autogroup:member' is not an admin role: use one of autogroup:owner, autogroup:admin, autogroup:network-admin, autogroup:it-admin",
      "admins[3]: 'bob smith@example.com' is not a user login (alice@example.com), group:<name>, autogroup:admin or tag:<name>",
      "admins[4]: 'alice@example.com extra' is not a user login (alice@example.com), group:<name>, autogroup:admin or tag:<name>",
      "admins[5]: 'group:a:group:b' is not a user login (alice@example.com), group:<name>, autogroup:admin or tag:<name>",
      "admins[6]: 'group:ops sre' is not a user login (alice@example.com), group:<name>, autogroup:admin or tag:<name>",
      "admins[7]: 'tag:redis' is a fleet tag: workers or Redis must not administer workers",
    ]);
    // A non-string admin alone is refused as such, not also read as an autogroup.
    assert.deepEqual(validateTailnetPolicyInput({ ...small, admins: [5 as unknown as string] }), ["admins[0]: must be a user login, group:, autogroup: or tag: name"]);
    // Only a tag can be a fleet tag: an (invalid) worker tag spelled like an admin's login flags the tag, not the admin.
    assert.deepEqual(validateTailnetPolicyInput({ ...small, workerTag: "alice@example.com", admins: ["alice@example.com"] }), [
      "workerTag: 'alice@example.com' must start with 'tag:' (e.g. tag:gpu-worker)",
    ]);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, admins: ["autogroup:admin", "autogroup:owner"] }), [
      "testUser: every admin is an autogroup (autogroup:admin, autogroup:owner), and Tailscale's policy tests need a user, group or tag as source: set testUser to an admin's login, e.g. alice@example.com",
    ]);
  });

  it("sshUsers: a value that only prints like a user name is not one", () => {
    assert.deepEqual(validateTailnetPolicyInput({ ...small, sshUsers: [["root"] as unknown as string] }), [
      "sshUsers[0]: 'root' is not an explicit Unix user name (autogroup:nonroot, localpart:* and '*' are not allowed): e.g. root or ops",
    ]);
  });

  it("testUser: a user or a group, nothing else", () => {
    assert.deepEqual(validateTailnetPolicyInput({ ...small, testUser: "group:sre" }), []);
    assert.deepEqual(validateTailnetPolicyInput({ ...small, testUser: "bob@example.com" }), []);
    for (const t of [5 as unknown as string, "tag:ci", "autogroup:admin"]) {
      assert.deepEqual(validateTailnetPolicyInput({ ...small, testUser: t }), [`testUser: '${String(t)}' must be one admin's login (e.g. alice@example.com) or a group:<name>`]);
    }
    assert.equal(buildTailnetPolicy({ ...small, admins: ["autogroup:admin"], testUser: "group:sre" }).sshTests[0]?.src, "group:sre");
  });
});

describe("parseHuJson: exact errors and edges", () => {
  const error = (text: string): string => {
    try {
      parseHuJson(text);
    } catch (err) {
      assert.ok(err instanceof HuJsonError, `expected HuJsonError, got ${String(err)}`);
      assert.equal(err.name, "HuJsonError");
      return err.message;
    }
    return assert.fail(`parsed: ${text}`);
  };

  it("names what is wrong, with the line and column of the character at fault", () => {
    const cases: [string, string][] = [
      [`{"a" 1}`, `expected ':' after key "a" at line 1, column 6`],
      [`{"a": 1`, "unterminated object at line 1, column 8"],
      [`{"a": 1 "b": 2}`, "expected ',' or '}' at line 1, column 9"],
      [`{'a': 1}`, "expected a double-quoted key or '}' at line 1, column 2"],
      [`{"a": 1,,}`, "unexpected ',' at line 1, column 9"],
      [`[,]`, "unexpected ',' at line 1, column 2"],
      [`[1`, "unterminated array at line 1, column 3"],
      [`[1 2]`, "expected ',' or ']' at line 1, column 4"],
      [`[1*2]`, "expected ',' or ']' at line 1, column 3"],
      [`["x", 'y']`, "strings must use double quotes at line 1, column 7"],
      [`[+1]`, "unexpected '+' at line 1, column 2"],
      [`{"a": /x}`, "unexpected '/' at line 1, column 7"],
      [`{"a":`, "unexpected end of document at line 1, column 6"],
      [`[-]`, "invalid number at line 1, column 2"],
      [`["x\ny"]`, "newline inside a string at line 1, column 4"],
      [`{} /*/`, "unterminated /* comment at line 1, column 4"], // at the comment's opening
      [`{"a": 1,\n "a": 2}`, `duplicate key "a" at line 2, column 2`],
      [`{"a": 1 x}\n\n\n`, "expected ',' or '}' at line 1, column 9"],
      [`\n\n  {"a": "\\q"}`, "invalid string escape or control character at line 3, column 9"],
      [`{"a": "x`, "unterminated string at line 1, column 7"],
      [``, "empty document at line 1, column 1"],
      [`{} {}`, "unexpected '{' after the document's value at line 1, column 4"],
    ];
    for (const [text, message] of cases) assert.equal(error(text), message, JSON.stringify(text));
  });

  it("reads numbers as JSON does, tabs and CRLF as whitespace, a final line comment without newline, and a byte-order mark", () => {
    assert.deepEqual(parseHuJson(`[1.25, 1e10, 1E+2, 2e-3, 9, 0, -0.5]`), [1.25, 1e10, 100, 0.002, 9, 0, -0.5]);
    assert.deepEqual(parseHuJson(`{\t"a":\r\n1}`), { a: 1 });
    assert.deepEqual(parseHuJson(`{} // end`), {});
    assert.deepEqual(parseHuJson(`\uFEFF{"a": 1}`), { a: 1 });
  });

  it("gives plain data properties, as JSON.parse does", () => {
    const v = parseHuJson(`{"a": 1}`) as JsonObject;
    assert.deepEqual(Object.getOwnPropertyDescriptor(v, "a"), { value: 1, writable: true, enumerable: true, configurable: true });
  });
});

describe("mergeIntoBasePolicy: edges", () => {
  const policy = buildTailnetPolicy({ workerTag: "tag:gpu-worker", redisTag: "tag:redis", redisPort: 6379, admins: ["group:ops", "alice@example.com"], sshUsers: ["root"] });

  it("takes a parsed base as well as text", () => {
    assert.deepEqual(mergeIntoBasePolicy({ groups: {} }, policy), { groups: {}, ...policyToJson(policy) });
  });

  it("does not append a fleet rule the base already has with its keys in another order", () => {
    const base = { grants: [{ ip: ["tcp:6379"], dst: ["tag:redis"], src: ["tag:gpu-worker"] }] };
    assert.deepEqual(mergeIntoBasePolicy(base, policy).grants, [base.grants[0], { src: ["group:ops", "alice@example.com"], dst: ["tag:gpu-worker"], ip: ["tcp:22"] }]);
  });

  it("refuses a base whose tagOwners is null, a list, or holds a list with a non-string, with the exact problem and nothing else", () => {
    assert.deepEqual(problemsOf(() => mergeIntoBasePolicy(`{"tagOwners": null}`, policy)), ["base policy: tagOwners must be an object of tag → owner list"]);
    assert.deepEqual(problemsOf(() => mergeIntoBasePolicy(`{"tagOwners": []}`, policy)), ["base policy: tagOwners must be an object of tag → owner list"]);
    assert.deepEqual(problemsOf(() => mergeIntoBasePolicy(`{"tagOwners": {"tag:x": ["a", 1]}}`, policy)), [`base policy: tagOwners["tag:x"] must be a list of owners`]);
    // A malformed fleet tag entry is reported as malformed, not also as a conflict.
    assert.deepEqual(problemsOf(() => mergeIntoBasePolicy(`{"tagOwners": {"tag:redis": "me"}}`, policy)), [`base policy: tagOwners["tag:redis"] must be a list of owners`]);
  });

  it("a fleet tag in the base with some of the admins, or as many but different ones, conflicts; the message says what to do", () => {
    assert.deepEqual(problemsOf(() => mergeIntoBasePolicy(`{"tagOwners": {"tag:redis": ["alice@example.com"]}}`, policy)), [
      `tagOwners["tag:redis"] conflict: the base policy gives it owners ["alice@example.com"], the fleet's admins are ["group:ops","alice@example.com"]. The fleet owns tag:redis: delete that entry from the base policy, or make tailnet.admins the same list`,
    ]);
    assert.equal(problemsOf(() => mergeIntoBasePolicy(`{"tagOwners": {"tag:redis": ["alice@example.com", "group:sre"]}}`, policy)).length, 1);
  });
});

describe("externalPolicyProblem: edges", () => {
  it("a null tagOwners declares nothing; the message for one missing tag, exactly", async () => {
    const { externalPolicyProblem } = await import("../../components/core/tailnet-policy");
    assert.equal(
      externalPolicyProblem(`{"tagOwners": null}`, ["tag:a", "tag:a"]),
      "external mode: the tailnet's policy does not declare tag:a in tagOwners, so no host can join with it. Merge the fragment (stack output policyFragment) into your policy repository and apply it, then run pulumi up again.",
    );
  });
});
