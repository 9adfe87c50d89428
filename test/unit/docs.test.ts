// The guides work as written: every shell block of README.md and docs/join-fleet.md says how it is
// tested, and the `offline` ones run here, in order, in a scratch directory linked to the repository.
// The `host` ones run in test/host/docs.test.ts. A guide that stops working fails CI.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { docBlocks, guideWorkspace, isShell, STAND_IN_JOIN_KEY, TESTED_GUIDES } from "../support/doc-blocks";

describe("guides", () => {
  it("mark every shell block offline, host or illustrative", () => {
    for (const file of TESTED_GUIDES) {
      const shell = docBlocks(file).filter(isShell);
      assert.ok(shell.length > 0, `${file} has no shell blocks`);
      for (const block of shell) {
        assert.ok(block.mode !== undefined, `${file}:${block.line}: a shell block must say how it is tested: \`\`\`sh offline, \`\`\`sh host or \`\`\`sh illustrative`);
      }
    }
    // Each guide is tested, not only described.
    assert.ok(docBlocks("README.md").some((b) => b.mode === "offline"));
    assert.ok(docBlocks("docs/join-fleet.md").some((b) => b.mode === "offline"));
    assert.ok(docBlocks("docs/join-fleet.md").some((b) => b.mode === "host"));
  });

  for (const file of TESTED_GUIDES) {
    it(`${file}: the offline blocks run and succeed, in order`, { timeout: 600_000 }, () => {
      const { dir, env } = guideWorkspace();
      for (const block of docBlocks(file).filter((b) => isShell(b) && b.mode === "offline")) {
        const r = spawnSync("bash", ["-euo", "pipefail", "-c", block.code], { cwd: dir, env, encoding: "utf8", timeout: 300_000 });
        assert.equal(r.status, 0, `${file}:${block.line} failed (exit ${r.status}):\n${block.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`);
      }
      if (file === "docs/join-fleet.md") {
        // What the host steps need is in the folder: the plan, the script, the roles, the key file (0600).
        const folder = join(dir, "gpu-fleet-join");
        const plan = JSON.parse(readFileSync(join(folder, "desktop.join.json"), "utf8")) as { host: string };
        assert.equal(plan.host, "desktop");
        assert.ok(statSync(join(folder, "roles", "lib.sh")).isFile());
        assert.ok(statSync(join(folder, "join-fleet.sh")).isFile());
        assert.equal(readFileSync(join(folder, "desktop.auth-key"), "utf8"), `${STAND_IN_JOIN_KEY}\n`);
        assert.equal(statSync(join(folder, "desktop.auth-key")).mode & 0o777, 0o600);
      }
    });
  }
});
