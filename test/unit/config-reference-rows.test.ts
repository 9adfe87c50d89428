// README's config reference against the schema, in process (no tool run): README holds what
// `npm run docs` generates from the schema's docs, limits and defaults, and the rows carry the limits
// the rules state. Also run by `npm run test:mutation -- schema` (scripts/lib/mutation-modules.mjs).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkConfigReference, referenceRows } from "../../components/core/config-reference";
import { CONFIG_SECTIONS } from "../../components/core/schema";
import { REPO_ROOT } from "../../scripts/lib/stack";

const README = join(REPO_ROOT, "README.md");
const section = (key: string) => {
  const found = CONFIG_SECTIONS.find((s) => s.key === key);
  assert.ok(found, `no section ${key}`);
  return referenceRows(found.schema);
};
const row = (sectionKey: string, key: string) => {
  const found = section(sectionKey).find((r) => r.key === key);
  assert.ok(found, `no row ${sectionKey} ${key}`);
  return found;
};

describe("config reference rows", () => {
  it("README's reference is what `npm run docs` generates (run `npm run docs` after a schema change)", () => {
    const state = checkConfigReference(readFileSync(README, "utf8")).state;
    assert.equal(state, "current", "README.md's config reference is stale: run `npm run docs` and commit README.md");
  });

  it("lists the fields of an object with an input default (prefault), each with its own default", () => {
    // defaults.rolloutTimes and hosts.<name>.connect are `.prefault({})`: leaving them out is allowed,
    // and each field has its default (60 s to pull an image, 3 SSH attempts): never "required".
    assert.deepEqual(row("defaults", "rolloutTimes.imagePullSeconds"), { key: "rolloutTimes.imagePullSeconds", default: "`60`", allowed: "whole number, ≥ 0", what: "Seconds to pull a new image." });
    assert.equal(row("hosts.<name>", "connect.attempts").default, "`3`");
    assert.notEqual(row("defaults", "rolloutTimes").default, "required");
    assert.notEqual(row("hosts.<name>", "connect").default, "required");
  });

  it("rows carry the schema's limits and defaults", () => {
    // Written from the schema's rules: keys live 300 s to 90 days, one day by default.
    assert.deepEqual(row("tailnet", "keyExpirySeconds").default, "`86400`");
    assert.equal(row("tailnet", "keyExpirySeconds").allowed, `whole number, ≥ 300, ≤ ${90 * 24 * 3600}`);
    assert.equal(row("redis", "port").allowed, "whole number, ≥ 1, ≤ 65535");
    assert.equal(row("redis", "host").default, "required");
    assert.equal(row("tailnet", "policy").allowed, "`managed`, `external`");
    assert.equal(row("tailnet", "sshUsers").default, "`[root]`");
    assert.equal(row("defaults", "reserve.ramMiB").default, "`2048`");
    assert.equal(row("services.<name>", "drainSeconds").allowed, "whole number, ≥ 0, ≤ 3600");
    assert.equal(row("services.<name>", "healthcheck.retries").default, "`3`");
    assert.equal(row("hosts.<name>", "cpu.cores").allowed, "whole number, ≥ 1, ≤ 4096");
    assert.equal(row("hosts.<name>", "ssh.jumpHost.port").default, "`22`");
    assert.equal(row("hosts.<name>", "workers.<service>.replicas").default, "required");
    assert.match(row("hcloud", "sshPublicKey").default, /^required in `hcloud:`/);
    // Every field of every section is documented.
    for (const { key } of CONFIG_SECTIONS) {
      for (const r of section(key)) assert.notEqual(r.what, "", `${key} ${r.key} has no description in the schema`);
    }
  });
});
