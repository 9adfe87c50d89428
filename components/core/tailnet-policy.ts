// The tailnet policy the fleet needs, as pure data: no Pulumi import, no I/O.
//
//   buildTailnetPolicy(input)          → the generated tagOwners, grants, ssh rule, tests, sshTests
//   mergeIntoBasePolicy(base, policy)  → managed mode: the team's base policy plus ours, one document
//   renderPolicyFragment(policy)       → external mode: a HuJSON fragment for the team's policy repo
//   parseHuJson(text)                  → HuJSON (comments, trailing commas) to plain JSON values
//
// Syntax checked against Tailscale's policy file reference (tailscale.com/docs/reference/syntax/policy-file);
// what was verified and why each rule looks the way it does is written down in docs/tailnet.md.

// ---------------------------------------------------------------------------------------------
// JSON values

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

// ---------------------------------------------------------------------------------------------
// Input and output types

export interface TailnetPolicyInput {
  /** Tag every worker host carries, e.g. `tag:gpu-worker`. */
  workerTag: string;
  /** Tag of the Redis host, e.g. `tag:redis`. */
  redisTag: string;
  /** Redis's TCP port on the Redis host, e.g. 6379. */
  redisPort: number;
  /** Who administers workers: `group:ops`, `alice@example.com`, `autogroup:admin`, or a tag such as `tag:ci`. */
  admins: string[];
  /** Explicit Unix user names admins may log in as over Tailscale SSH, e.g. `["root"]`. */
  sshUsers: string[];
  /**
   * The identity the policy tests run as for the admin cases (a user login or a group). Needed when
   * every admin is an autogroup: Tailscale's tests take a user, group, tag or host as `src`, not an autogroup.
   */
  testUser?: string;
}

/** A network-layer grant: `src` may open connections to `dst` on the `ip` protocol:port pairs. */
export interface PolicyGrant {
  src: string[];
  dst: string[];
  ip: string[];
}

/** A Tailscale SSH rule. */
export interface PolicySshRule {
  action: "accept" | "check";
  src: string[];
  dst: string[];
  users: string[];
}

/** A policy test: `src` must reach every `accept` destination and no `deny` destination (`host:port`). */
export interface PolicyTest {
  src: string;
  proto: "tcp" | "udp";
  accept: string[];
  deny: string[];
}

/** An SSH test: `src` connecting to `dst` must be accepted as each `accept` user. */
export interface PolicySshTest {
  src: string;
  dst: string[];
  accept: string[];
}

/** The rules the fleet contributes to the tailnet policy file. */
export interface TailnetPolicy {
  tagOwners: Record<string, string[]>;
  grants: PolicyGrant[];
  ssh: PolicySshRule[];
  tests: PolicyTest[];
  sshTests: PolicySshTest[];
}

/** Sections the generated policy contributes, in the order they are written. */
export const POLICY_SECTIONS = ["tagOwners", "grants", "ssh", "tests", "sshTests"] as const;

/** Thrown for input the policy cannot be built from; `problems` lists every one found, each naming its field. */
export class TailnetPolicyError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(
      problems.length === 1
        ? `tailnet policy: ${problems[0]}`
        : `tailnet policy: ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    this.name = "TailnetPolicyError";
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Validation

const TAG_NAME = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const UNIX_USER = /^[a-z_][a-z0-9_-]*\$?$/;
/** A login as Tailscale writes it: `alice@example.com`, `alice@github`, `alice@passkey`. */
const USER_LOGIN = /^[^\s@:*]+@[^\s@:*]+$/;
/** Group names may carry a domain when synced from an identity provider: `group:sre@example.com`. */
const GROUP = /^group:[^\s*:]+$/;
/** Role autogroups that make sense as administrators (and are valid as src, dst and tag owner). */
const ADMIN_AUTOGROUPS = new Set(["autogroup:owner", "autogroup:admin", "autogroup:network-admin", "autogroup:it-admin"]);

function checkTag(field: string, value: unknown, problems: string[]): value is string {
  if (typeof value !== "string" || value === "") {
    problems.push(`${field}: must be a tag such as tag:gpu-worker`);
    return false;
  }
  if (!value.startsWith("tag:")) {
    problems.push(`${field}: '${value}' must start with 'tag:' (e.g. tag:${TAG_NAME.test(value) ? value : "gpu-worker"})`);
    return false;
  }
  if (!TAG_NAME.test(value.slice(4))) {
    problems.push(`${field}: '${value}' is not a tag name: after 'tag:' use letters, digits and '-' only (no '*')`);
    return false;
  }
  return true;
}

type AdminKind = "user" | "group" | "autogroup" | "tag";

function adminKind(value: string): AdminKind | undefined {
  if (value.startsWith("tag:")) return TAG_NAME.test(value.slice(4)) ? "tag" : undefined;
  if (value.startsWith("autogroup:")) return ADMIN_AUTOGROUPS.has(value) ? "autogroup" : undefined;
  if (value.startsWith("group:")) return GROUP.test(value) ? "group" : undefined;
  return USER_LOGIN.test(value) ? "user" : undefined;
}

/** Every problem with the input, each naming its field; empty when the input is usable. */
export function validateTailnetPolicyInput(input: TailnetPolicyInput): string[] {
  const problems: string[] = [];
  const workerOk = checkTag("workerTag", input.workerTag, problems);
  const redisOk = checkTag("redisTag", input.redisTag, problems);
  if (workerOk && redisOk && input.workerTag === input.redisTag) {
    problems.push(`workerTag and redisTag are both '${input.workerTag}': they must differ, or workers could reach each other on the Redis port`);
  }

  if (!Number.isInteger(input.redisPort) || input.redisPort < 1 || input.redisPort > 65535) {
    problems.push(`redisPort: ${String(input.redisPort)} is not a TCP port: use an integer from 1 to 65535, e.g. 6379`);
  } else if (input.redisPort === 22) {
    problems.push("redisPort: 22 is the SSH port; the policy tests prove workers cannot reach Redis's SSH, so Redis must listen elsewhere (e.g. 6379)");
  }

  if (!Array.isArray(input.admins) || input.admins.length === 0) {
    problems.push("admins: name at least one admin, e.g. [group:ops] or [alice@example.com]");
  } else {
    const seen = new Set<string>();
    input.admins.forEach((admin, i) => {
      const field = `admins[${i}]`;
      if (typeof admin !== "string" || admin === "") {
        problems.push(`${field}: must be a user login, group:, autogroup: or tag: name`);
        return;
      }
      if (seen.has(admin)) problems.push(`${field}: '${admin}' is listed twice`);
      seen.add(admin);
      if (admin.includes("*")) {
        problems.push(`${field}: '${admin}' contains '*': name admins explicitly (a group, a user login, autogroup:admin)`);
        return;
      }
      const kind = adminKind(admin);
      if (kind === undefined) {
        problems.push(
          admin.startsWith("autogroup:")
            ? `${field}: '${admin}' is not an admin role: use one of ${[...ADMIN_AUTOGROUPS].join(", ")}`
            : `${field}: '${admin}' is not a user login (alice@example.com), group:<name>, autogroup:admin or tag:<name>`,
        );
      } else if (kind === "tag" && (admin === input.workerTag || admin === input.redisTag)) {
        problems.push(`${field}: '${admin}' is a fleet tag: workers or Redis must not administer workers`);
      }
    });
  }

  if (!Array.isArray(input.sshUsers) || input.sshUsers.length === 0) {
    problems.push("sshUsers: name at least one Unix user admins may log in as, e.g. [root]");
  } else {
    const seen = new Set<string>();
    input.sshUsers.forEach((user, i) => {
      const field = `sshUsers[${i}]`;
      if (typeof user !== "string" || !UNIX_USER.test(user)) {
        problems.push(
          `${field}: '${String(user)}' is not an explicit Unix user name (autogroup:nonroot, localpart:* and '*' are not allowed): e.g. root or ops`,
        );
        return;
      }
      if (seen.has(user)) problems.push(`${field}: '${user}' is listed twice`);
      seen.add(user);
    });
  }

  if (input.testUser !== undefined) {
    const kind = typeof input.testUser === "string" && !input.testUser.includes("*") ? adminKind(input.testUser) : undefined;
    if (kind !== "user" && kind !== "group") {
      problems.push(`testUser: '${String(input.testUser)}' must be one admin's login (e.g. alice@example.com) or a group:<name>`);
    }
  } else if (Array.isArray(input.admins) && input.admins.length > 0 && input.admins.every((a) => typeof a === "string" && a.startsWith("autogroup:"))) {
    problems.push(
      `testUser: every admin is an autogroup (${input.admins.join(", ")}), and Tailscale's policy tests need a user, group or tag as source: set testUser to an admin's login, e.g. alice@example.com`,
    );
  }
  return problems;
}

/** The identity the admin tests run as: testUser, else the first admin that is a user, group or tag. */
function adminTestSource(input: TailnetPolicyInput): string {
  if (input.testUser !== undefined) return input.testUser;
  for (const kind of ["user", "group", "tag"] as const) {
    const found = input.admins.find((a) => adminKind(a) === kind);
    if (found !== undefined) return found;
  }
  // validateTailnetPolicyInput rejects this case before we get here.
  throw new TailnetPolicyError(["testUser: no admin can be a test source; set testUser"]);
}

// ---------------------------------------------------------------------------------------------
// Building

export const SSH_PORT = 22;

/**
 * The fleet's rules: workers reach Redis on TCP redisPort only; admins reach workers on TCP 22 and may log
 * in over Tailscale SSH as the listed users; nothing else. Throws TailnetPolicyError listing every problem.
 */
export function buildTailnetPolicy(input: TailnetPolicyInput): TailnetPolicy {
  const problems = validateTailnetPolicyInput(input);
  if (problems.length > 0) throw new TailnetPolicyError(problems);

  const { workerTag, redisTag, redisPort } = input;
  const admins = [...input.admins];
  const tester = adminTestSource(input);
  const redisDst = `${redisTag}:${redisPort}`;

  return {
    tagOwners: {
      [workerTag]: [...admins],
      [redisTag]: [...admins],
    },
    grants: [
      { src: [workerTag], dst: [redisTag], ip: [`tcp:${redisPort}`] },
      { src: [...admins], dst: [workerTag], ip: [`tcp:${SSH_PORT}`] },
    ],
    ssh: [{ action: "accept", src: [...admins], dst: [workerTag], users: [...input.sshUsers] }],
    tests: [
      {
        // Workers reach Redis on its port, and nothing else of Redis's or of each other's.
        src: workerTag,
        proto: "tcp",
        accept: [redisDst],
        deny: [`${redisTag}:${SSH_PORT}`, `${workerTag}:${SSH_PORT}`, `${workerTag}:${redisPort}`],
      },
      // The grant is TCP only: no UDP to the Redis port.
      { src: workerTag, proto: "udp", accept: [], deny: [redisDst] },
      // Admins reach workers' SSH port.
      { src: tester, proto: "tcp", accept: [`${workerTag}:${SSH_PORT}`], deny: [] },
      // The Redis host cannot open connections to workers.
      { src: redisTag, proto: "tcp", accept: [], deny: [`${workerTag}:${SSH_PORT}`, `${workerTag}:${redisPort}`] },
    ],
    sshTests: [{ src: tester, dst: [workerTag], accept: [...input.sshUsers] }],
  };
}

/** One line per assertion the policy tests make, e.g. `accept tcp tag:gpu-worker -> tag:redis:6379`. */
export function describePolicyTests(policy: TailnetPolicy): string[] {
  const lines: string[] = [];
  for (const t of policy.tests) {
    for (const dst of t.accept) lines.push(`accept ${t.proto} ${t.src} -> ${dst}`);
    for (const dst of t.deny) lines.push(`deny ${t.proto} ${t.src} -> ${dst}`);
  }
  for (const t of policy.sshTests) {
    for (const dst of t.dst) for (const user of t.accept) lines.push(`ssh accept ${t.src} -> ${user}@${dst}`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// To JSON (tests omit empty accept/deny lists, as Tailscale's own examples do)

function testToJson(t: PolicyTest): JsonObject {
  const out: JsonObject = { src: t.src, proto: t.proto };
  if (t.accept.length > 0) out.accept = [...t.accept];
  if (t.deny.length > 0) out.deny = [...t.deny];
  return out;
}

/** The generated sections as a JSON object, keys in POLICY_SECTIONS order. */
export function policyToJson(policy: TailnetPolicy): JsonObject {
  const tagOwners: JsonObject = {};
  for (const [tag, owners] of Object.entries(policy.tagOwners)) tagOwners[tag] = [...owners];
  return {
    tagOwners,
    grants: policy.grants.map((g): JsonObject => ({ src: [...g.src], dst: [...g.dst], ip: [...g.ip] })),
    ssh: policy.ssh.map((r): JsonObject => ({ action: r.action, src: [...r.src], dst: [...r.dst], users: [...r.users] })),
    tests: policy.tests.map(testToJson),
    sshTests: policy.sshTests.map((t): JsonObject => ({ src: t.src, dst: [...t.dst], accept: [...t.accept] })),
  };
}

// ---------------------------------------------------------------------------------------------
// HuJSON

/** Thrown for text that is not HuJSON; the message carries the line and column. */
export class HuJsonError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${message} at line ${line}, column ${column}`);
    this.name = "HuJsonError";
  }
}

/**
 * Parses HuJSON, the JSON superset of Tailscale's policy file: `//` and `/* *\/` comments and a trailing
 * comma after the last element of an array or object. Everything else is strict JSON: double-quoted strings
 * (their contents, `//` included, are never comments), no duplicate keys (JSON.parse would silently keep
 * the last, dropping a team's rules), no comma without a value before it.
 */
export function parseHuJson(text: string): JsonValue {
  return new HuJsonParser(text).parseDocument();
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

class HuJsonParser {
  private pos = 0;

  constructor(private readonly text: string) {
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  parseDocument(): JsonValue {
    this.skip();
    if (this.pos >= this.text.length) this.fail("empty document");
    const value = this.value();
    this.skip();
    if (this.pos < this.text.length) this.fail(`unexpected '${this.text[this.pos]}' after the document's value`);
    return value;
  }

  private fail(message: string, at = this.pos): never {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at && i < this.text.length; i++) {
      if (this.text[i] === "\n") {
        line++;
        lineStart = i + 1;
      }
    }
    throw new HuJsonError(message, line, at - lineStart + 1);
  }

  /** Skips whitespace and comments. */
  private skip(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") {
        this.pos++;
      } else if (c === "/" && t[this.pos + 1] === "/") {
        const end = t.indexOf("\n", this.pos + 2);
        this.pos = end === -1 ? t.length : end + 1;
      } else if (c === "/" && t[this.pos + 1] === "*") {
        const end = t.indexOf("*/", this.pos + 2);
        if (end === -1) this.fail("unterminated /* comment");
        this.pos = end + 2;
      } else {
        return;
      }
    }
  }

  private value(): JsonValue {
    const c = this.text[this.pos];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"') return this.string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    if (c === undefined) this.fail("unexpected end of document");
    this.fail(c === "'" ? "strings must use double quotes" : `unexpected '${c}'`);
  }

  private object(): JsonObject {
    const out: JsonObject = {};
    const seen = new Set<string>();
    this.pos++; // {
    for (;;) {
      this.skip();
      if (this.text[this.pos] === "}") {
        this.pos++;
        return out;
      }
      if (this.text[this.pos] !== '"') this.fail(this.text[this.pos] === "," ? "unexpected ','" : "expected a double-quoted key or '}'");
      const keyAt = this.pos;
      const key = this.string();
      if (seen.has(key)) this.fail(`duplicate key "${key}"`, keyAt);
      seen.add(key);
      this.skip();
      if (this.text[this.pos] !== ":") this.fail(`expected ':' after key "${key}"`);
      this.pos++;
      this.skip();
      // defineProperty: a "__proto__" key stays an ordinary key.
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.skip();
      const c = this.text[this.pos];
      if (c === ",") this.pos++;
      else if (c !== "}") this.fail(c === undefined ? "unterminated object" : "expected ',' or '}'");
    }
  }

  private array(): JsonValue[] {
    const out: JsonValue[] = [];
    this.pos++; // [
    for (;;) {
      this.skip();
      if (this.text[this.pos] === "]") {
        this.pos++;
        return out;
      }
      if (this.text[this.pos] === ",") this.fail("unexpected ','");
      out.push(this.value());
      this.skip();
      const c = this.text[this.pos];
      if (c === ",") this.pos++;
      else if (c !== "]") this.fail(c === undefined ? "unterminated array" : "expected ',' or ']'");
    }
  }

  private string(): string {
    const start = this.pos;
    let i = start + 1;
    const t = this.text;
    for (;;) {
      if (i >= t.length) this.fail("unterminated string", start);
      const c = t[i];
      if (c === '"') break;
      if (c === "\\") i += 2;
      else if (c === "\n") this.fail("newline inside a string", i);
      else i++;
    }
    const raw = t.slice(start, i + 1);
    this.pos = i + 1;
    try {
      // JSON.parse decodes and validates the escapes of exactly this string literal.
      return JSON.parse(raw) as string;
    } catch {
      return this.fail("invalid string escape or control character", start);
    }
  }

  private number(): number {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m === null || m[0] === "-") this.fail("invalid number");
    this.pos += m[0].length;
    return Number(m[0]);
  }
}

// ---------------------------------------------------------------------------------------------
// Managed mode: merge into the team's base policy

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isStringArray(v: JsonValue | undefined): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/** Canonical text of a JSON value (object keys sorted), for comparing rules regardless of key order. */
function canonical(v: JsonValue): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k] as JsonValue)}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/**
 * The whole tailnet policy in managed mode: the team's base policy (HuJSON text or parsed) with the fleet's
 * rules added. The team's sections and rules are kept as they are and in their order; tagOwners gain the
 * fleet's tags (a base that already declares one of them must give it the same owners, else this throws
 * naming the tag); grants, ssh, tests and sshTests get the fleet's entries appended, skipping any the base
 * already has verbatim (so a base copied from a live policy that already holds them merges to the same
 * document). Deterministic: the same inputs give the same document, key order included.
 */
export function mergeIntoBasePolicy(base: string | JsonObject, generated: TailnetPolicy): JsonObject {
  const parsed: JsonValue = typeof base === "string" ? parseHuJson(base) : base;
  if (!isObject(parsed)) throw new TailnetPolicyError(["base policy: must be a JSON object ({ ... }), as a tailnet policy file is"]);
  const ours = policyToJson(generated);
  const problems: string[] = [];

  const baseOwners = parsed.tagOwners;
  if (baseOwners !== undefined) {
    if (!isObject(baseOwners)) problems.push("base policy: tagOwners must be an object of tag → owner list");
    else {
      for (const [tag, owners] of Object.entries(baseOwners)) {
        if (!isStringArray(owners)) problems.push(`base policy: tagOwners["${tag}"] must be a list of owners`);
      }
    }
  }
  for (const section of ["grants", "ssh", "tests", "sshTests"] as const) {
    const v = parsed[section];
    if (v !== undefined && !Array.isArray(v)) problems.push(`base policy: ${section} must be a list`);
  }
  if (problems.length > 0) throw new TailnetPolicyError(problems);

  // tagOwners: base entries first, then ours; one of our tags in the base must have exactly our owners.
  const mergedOwners: JsonObject = {};
  const ownersBase = isObject(baseOwners) ? baseOwners : {};
  for (const [tag, owners] of Object.entries(ownersBase)) mergedOwners[tag] = owners;
  for (const [tag, owners] of Object.entries(generated.tagOwners)) {
    const existing = ownersBase[tag];
    if (existing === undefined) {
      mergedOwners[tag] = [...owners];
      continue;
    }
    const a = [...(existing as string[])].sort();
    const b = [...owners].sort();
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
      problems.push(
        `tagOwners["${tag}"] conflict: the base policy gives it owners ${JSON.stringify(existing)}, the fleet's admins are ${JSON.stringify(owners)}. ` +
          `The fleet owns ${tag}: delete that entry from the base policy, or make tailnet.admins the same list`,
      );
    }
  }
  if (problems.length > 0) throw new TailnetPolicyError(problems);

  const appended = (section: "grants" | "ssh" | "tests" | "sshTests"): JsonValue[] => {
    const existing = (parsed[section] as JsonValue[] | undefined) ?? [];
    const have = new Set(existing.map(canonical));
    const add = (ours[section] as JsonValue[]).filter((rule) => !have.has(canonical(rule)));
    return [...existing, ...add];
  };

  const merged: JsonObject = {};
  for (const [key, value] of Object.entries(parsed)) merged[key] = value;
  merged.tagOwners = mergedOwners;
  for (const section of ["grants", "ssh", "tests", "sshTests"] as const) merged[section] = appended(section);
  // Base keys keep their places; sections the base lacked come last, in POLICY_SECTIONS order.
  const ordered: JsonObject = {};
  for (const key of Object.keys(parsed)) ordered[key] = merged[key] as JsonValue;
  for (const key of POLICY_SECTIONS) if (!(key in ordered)) ordered[key] = merged[key] as JsonValue;
  return ordered;
}

/**
 * JSON text with two-space indent where a list of plain values (`["tag:redis"]`) stays on one line, so a
 * rule reads as one block and a preview diff shows the changed rule, not a column of brackets.
 */
export function formatJson(value: JsonValue, indentBy = ""): string {
  const inner = `${indentBy}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    if (value.every((v) => v === null || typeof v !== "object")) return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(",\n")}\n${indentBy}]`;
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) return "{}";
    return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${formatJson(value[k] as JsonValue, inner)}`).join(",\n")}\n${indentBy}}`;
  }
  return JSON.stringify(value);
}

/** The policy document as the text uploaded to Tailscale: JSON (formatJson), trailing newline. */
export function renderPolicyJson(doc: JsonObject): string {
  return `${formatJson(doc)}\n`;
}

// ---------------------------------------------------------------------------------------------
// External mode: a fragment for the team's own policy repository

function indent(text: string, by: string): string {
  return text
    .split("\n")
    .map((line) => (line === "" ? line : by + line))
    .join("\n");
}

const SECTION_COMMENTS: Record<(typeof POLICY_SECTIONS)[number], string[]> = {
  tagOwners: ["The fleet's tags, and who may assign them: the fleet's admins."],
  grants: ["Workers reach Redis on its TCP port only; admins reach workers on TCP 22 only. Nothing else."],
  ssh: ["Admins may log in to workers over Tailscale SSH as these users only."],
  tests: [
    "Run by Tailscale on every policy change; a failing test rejects the change.",
    "Grants add up: a broader rule elsewhere in the file that opens these paths makes the deny cases fail.",
  ],
  sshTests: ["Admins can SSH to workers as each listed user."],
};

/**
 * External mode: the fleet's sections as a HuJSON fragment for the team's own policy repository. It parses
 * (parseHuJson) to exactly policyToJson(generated); the header says how to merge it.
 */
export function renderPolicyFragment(generated: TailnetPolicy): string {
  const json = policyToJson(generated);
  const header = [
    "// gpu-fleet tailnet policy fragment. Generated by the gpu-fleet stack: do not edit by hand, regenerate.",
    "//",
    "// The stack does not manage this tailnet's policy file (tailnet.policy: external). Merge each section",
    "// below into the section of the same name in your policy file: add the tagOwners entries (a tag that",
    "// is already declared must keep exactly these owners), and append the grants, ssh, tests and sshTests",
    "// entries. Tailscale runs the tests when the policy is saved; if one fails, a rule of yours grants more",
    "// than the fleet expects.",
    "//",
    ...describePolicyTests(generated).map((line) => `//   test: ${line}`),
  ];
  const body = POLICY_SECTIONS.map((section) => {
    const comments = SECTION_COMMENTS[section].map((c) => `// ${c}`).join("\n");
    const value = `${JSON.stringify(section)}: ${formatJson(json[section] as JsonValue)},`;
    return indent(`${comments}\n${value}`, "  ");
  }).join("\n\n");
  return `${header.join("\n")}\n{\n${body}\n}\n`;
}

/**
 * External mode: the team's own policy repository owns the policy file, so before a key is minted
 * with the fleet's tags, check that the live policy (JSON text, as Tailscale returns it) declares
 * them in tagOwners. Returns what is wrong and what to do, or undefined when all are declared.
 */
export function externalPolicyProblem(livePolicyJson: string, tags: readonly string[]): string | undefined {
  let owners: unknown;
  try {
    owners = (JSON.parse(livePolicyJson) as { tagOwners?: unknown }).tagOwners;
  } catch {
    return "the tailnet's current policy could not be read as JSON";
  }
  const declared = typeof owners === "object" && owners !== null ? Object.keys(owners) : [];
  const missing = [...new Set(tags)].filter((tag) => !declared.includes(tag));
  if (missing.length === 0) return undefined;
  return (
    `external mode: the tailnet's policy does not declare ${missing.join(", ")} in tagOwners, ` +
    `so no host can join with ${missing.length === 1 ? "it" : "them"}. Merge the fragment (stack output policyFragment) ` +
    `into your policy repository and apply it, then run pulumi up again.`
  );
}
