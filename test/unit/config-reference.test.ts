// README's config reference is generated from the schema (npm run docs) and must stay so: a hand
// edit or a schema change without `npm run docs` fails here, with the command that fixes it. This file
// tests the docs command; test/unit/config-reference-rows.test.ts checks README and the rows in process
// (it also runs under mutation testing, against components/core/schema.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/lib/stack";
import { runTool } from "../support/run";

const README = join(REPO_ROOT, "README.md");

describe("config reference", () => {
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
});
