// README's config reference is generated from the schema (npm run docs) and must stay so: a hand
// edit or a schema change without `npm run docs` fails here, with the command that fixes it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkConfigReference, referenceRows } from "../../components/core/config-reference";
import { CONFIG_SECTIONS } from "../../components/core/schema";
import { REPO_ROOT } from "../../scripts/lib/stack";
import { runTool } from "../support/run";

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

describe("config reference", () => {
  it("README's reference is what `npm run docs` generates (run `npm run docs` after a schema change)", () => {
    const state = checkConfigReference(readFileSync(README, "utf8")).state;
    assert.equal(state, "current", "README.md's config reference is stale: run `npm run docs` and commit README.md");
  });

  it("a hand edit of README's reference fails the check with the command that regenerates it", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-docs-"));
    const copy = join(dir, "README.md");
    const original = readFileSync(README, "utf8");
    const edited = original.replace("| `keyExpirySeconds` | `86400` | whole number, ≥ 300,", "| `keyExpirySeconds` | `86400` | whole number, ≥ 60,");
    assert.notEqual(edited, original, "the row to edit is in README");
    writeFileSync(copy, edited);
    const check = runTool("scripts/docs.ts", ["--check", "--readme", copy]);
    assert.equal(check.status, 1, check.stderr);
    assert.match(check.stderr, /config reference is stale: .*then run `npm run docs`/);
    assert.equal(readFileSync(copy, "utf8"), edited, "--check changed the file");
    // Without --check the same command repairs it.
    const fix = runTool("scripts/docs.ts", ["--readme", copy]);
    assert.equal(fix.status, 0, fix.stderr);
    assert.equal(readFileSync(copy, "utf8"), original);
    assert.equal(runTool("scripts/docs.ts", ["--check", "--readme", copy]).status, 0);
  });

  it("a README without the markers is an error, not a silent pass", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-docs-"));
    const copy = join(dir, "README.md");
    writeFileSync(copy, "# no reference here\n");
    const check = runTool("scripts/docs.ts", ["--check", "--readme", copy]);
    assert.equal(check.status, 1);
    assert.match(check.stderr, /has no config reference markers/);
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
