// Snapshots are reviewed files in git. A test never writes one unless asked: a missing or different
// snapshot fails with the command that (re)writes it, so a fresh clone cannot pass by recording
// whatever the code does today.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import assert from "node:assert/strict";
import { REPO_ROOT } from "../../scripts/lib/stack";

export const SNAPSHOT_DIR = join(REPO_ROOT, "test/snapshots");
/** The one way to write snapshots: set this and run the tests, then review `git diff test/snapshots`. */
export const UPDATE_COMMAND = "UPDATE_SNAPSHOTS=1 npm test";

/** Compares `actual` with the snapshot file `name`; writes it only when UPDATE_SNAPSHOTS=1. */
export function assertSnapshot(name: string, actual: string, options: { dir?: string; update?: boolean } = {}): void {
  const file = join(options.dir ?? SNAPSHOT_DIR, name);
  const shown = relative(REPO_ROOT, file);
  if (options.update ?? process.env.UPDATE_SNAPSHOTS === "1") {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) {
    assert.fail(`snapshot ${shown} is missing. Create it with \`${UPDATE_COMMAND}\`, review it and commit it.`);
  }
  assert.equal(actual, readFileSync(file, "utf8"), `${shown} differs from the output. If the change is intended, run \`${UPDATE_COMMAND}\`, review \`git diff test/snapshots\` and commit it.`);
}
