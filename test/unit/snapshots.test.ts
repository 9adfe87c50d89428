// Snapshots never write themselves: a missing one fails with the command that creates it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertSnapshot, SNAPSHOT_DIR } from "../support/snapshot";
import { REPO_ROOT } from "../support/run";

const failure = (fn: () => void): string => {
  try {
    fn();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  assert.fail("expected the snapshot check to fail");
};

describe("snapshots", () => {
  it("fail when missing, name the file and the update command, and write nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-snap-"));
    const message = failure(() => assertSnapshot("gone.json", "{}\n", { dir, update: false }));
    assert.match(message, /snapshot .*gone\.json is missing\. Create it with `UPDATE_SNAPSHOTS=1 npm test`, review it and commit it\./);
    assert.equal(existsSync(join(dir, "gone.json")), false);
  });

  it("fail when different, with the update command, and leave the file as it was", () => {
    const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-snap-"));
    writeFileSync(join(dir, "s.json"), "old\n");
    const message = failure(() => assertSnapshot("s.json", "new\n", { dir, update: false }));
    assert.match(message, /s\.json differs from the output\. If the change is intended, run `UPDATE_SNAPSHOTS=1 npm test`/);
    assert.equal(readFileSync(join(dir, "s.json"), "utf8"), "old\n");
    assertSnapshot("s.json", "old\n", { dir, update: false });
  });

  it("are written only with the update flag", () => {
    const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-snap-"));
    assertSnapshot("n.json", "made\n", { dir, update: true });
    assert.equal(readFileSync(join(dir, "n.json"), "utf8"), "made\n");
  });

  it("each file in test/snapshots is one a test checks, so removing any of them fails npm test", () => {
    // synth.test.ts checks synth-<stack>.json for these stacks; a snapshot nobody checks is dead weight.
    const checked = ["synth-hetzner-gpu.json", "synth-laptop.json"];
    assert.deepEqual(readdirSync(SNAPSHOT_DIR).sort(), checked);
    const synthTest = readFileSync(join(REPO_ROOT, "test/cli/synth.test.ts"), "utf8");
    assert.match(synthTest, /for \(const stack of \["hetzner-gpu", "laptop"\]\)/);
    assert.match(synthTest, /assertSnapshot\(`synth-\$\{stack\}\.json`/);
  });
});
