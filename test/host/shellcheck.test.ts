// shellcheck over every shell file of the project, found the way git sees the project (tracked and
// new files, by name or by shebang), so a new script cannot escape the lint. The optional checks that
// catch errexit gaps are on (check-set-e-suppressed: a function run in a condition, where set -e does
// not apply, SC2310/SC2311), with the other optional checks except three kept off on purpose:
// require-variable-braces and quote-safe-variables (style only) and check-extra-masked-returns
// (SC2312; the roles check the results they rely on explicitly). Exclusions live only at the line
// they concern (`# shellcheck disable=SCxxxx # reason`), never here. Also linted: the enrollment
// script cloud-init writes on Hetzner Cloud servers, rendered from components/core/cloud-init.ts.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { renderEnrollScript } from "../../components/core/cloud-init";

const root = path.resolve(__dirname, "..", "..");

export const SHELLCHECK_ARGS = [
  "--shell=bash",
  "--severity=style",
  "--external-sources",
  "--enable=check-set-e-suppressed,avoid-nullary-conditions,check-unassigned-uppercase,deprecate-which,require-double-brackets,add-default-case",
];

const SHEBANG = /^#!\s*(\/usr\/bin\/env\s+)?(\/\S*\/)?(ba|da|k|z)?sh(\s|$)/;

/** Every shell file git knows in the project (tracked or new, not ignored): *.sh or a shell shebang. */
export function shellFiles(): string[] {
  const r = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, `git ls-files failed: ${r.stderr}`);
  const out: string[] = [];
  for (const file of r.stdout.split("\0").filter(Boolean)) {
    const full = path.join(root, file);
    let isFile = false;
    try {
      isFile = statSync(full).isFile();
    } catch {
      continue; // deleted in the work tree
    }
    if (!isFile) continue;
    if (file.endsWith(".sh")) {
      out.push(file);
      continue;
    }
    const head = readFileSync(full, { encoding: "utf8", flag: "r" }).slice(0, 200).split("\n")[0] ?? "";
    if (SHEBANG.test(head)) out.push(file);
  }
  return out.sort();
}

const haveShellcheck = spawnSync("sh", ["-c", "command -v shellcheck"]).status === 0;
// In CI, or when the host tests are asked for, a missing shellcheck is a failure, not a skip.
const required = process.env.CI === "true" || process.env.FLEET_HOST_TESTS === "1";
const skip = !haveShellcheck && !required ? "shellcheck not installed (apt-get install shellcheck)" : false;

test("the lint finds every shell file: roles, runner scripts, CI, test fakes", () => {
  const files = shellFiles();
  for (const expected of [".ci/run", "scripts/join-fleet.sh", "scripts/await-reboot.sh", "scripts/roles/lib.sh", "test/host/fakes/tailscale", "test/host/worker-image/worker.sh"]) {
    assert.ok(files.includes(expected), `${expected} is not found by the lint: ${files.join(", ")}`);
  }
  // A new file with only a shebang is found too.
  const probe = path.join(root, "test", "host", `.lint-probe-${process.pid}`);
  writeFileSync(probe, "#!/bin/bash\necho probe\n");
  try {
    assert.ok(shellFiles().includes(path.relative(root, probe)), "a new shebang-only script escapes the lint");
  } finally {
    rmSync(probe, { force: true });
  }
});

test("shellcheck (errexit-gap checks on) passes on every shell file of the project", { skip }, () => {
  assert.ok(haveShellcheck, "shellcheck is not installed: apt-get install shellcheck");
  const files = shellFiles();
  assert.ok(files.length >= 20, `expected the project's shell files, found ${files.length}`);
  const r = spawnSync("shellcheck", [...SHELLCHECK_ARGS, ...files], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, `shellcheck found problems:\n${r.stdout}${r.stderr}`);
});

test("shellcheck passes on the enrollment script cloud-init writes", { skip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "fleet-lint-"));
  try {
    const file = path.join(dir, "gpu-fleet-tailscale-enroll");
    writeFileSync(file, renderEnrollScript({ hostName: "cpu-1", tags: ["tag:gpu-worker"] }));
    const r = spawnSync("shellcheck", [...SHELLCHECK_ARGS, file], { encoding: "utf8" });
    assert.equal(r.status, 0, `shellcheck found problems in the rendered enrollment script:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("shellcheck catches a write hidden in a condition (the check this lint exists for)", { skip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "fleet-lint-"));
  try {
    const file = path.join(dir, "gap.sh");
    writeFileSync(file, '#!/usr/bin/env bash\nset -euo pipefail\nwrite() { cp "$1" "$2"; echo done; }\nif write a b; then echo written; fi\n');
    const r = spawnSync("shellcheck", [...SHELLCHECK_ARGS, file], { encoding: "utf8" });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /SC2310/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every role script is strict bash and uses lib.sh", () => {
  const roles = path.join(root, "scripts", "roles");
  for (const name of shellFiles().filter((f) => f.startsWith("scripts/roles/") && f !== "scripts/roles/lib.sh").map((f) => path.basename(f))) {
    const text = readFileSync(path.join(roles, name), "utf8");
    assert.match(text, /^#!\/usr\/bin\/env bash\n/, `${name}: shebang`);
    assert.match(text, /^set -euo pipefail$/m, `${name}: set -euo pipefail`);
    assert.match(text, /^role_init [a-z-]+$/m, `${name}: role_init`);
    assert.ok(statSync(path.join(roles, name)).mode & 0o100, `${name} is not executable`);
  }
});
