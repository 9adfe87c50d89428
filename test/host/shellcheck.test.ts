// shellcheck over every shell script of the roles and of this harness. Exclusions live only at the
// line they concern (`# shellcheck disable=SCxxxx # reason`), never here.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";

const root = path.resolve(__dirname, "..", "..");

function shellScripts(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...shellScripts(p));
    else if (name.endsWith(".sh") || path.basename(dir) === "fakes") out.push(p);
  }
  return out.sort();
}

const haveShellcheck = spawnSync("sh", ["-c", "command -v shellcheck"]).status === 0;
// In CI, or when the host tests are asked for, a missing shellcheck is a failure, not a skip.
const required = process.env.CI === "true" || process.env.FLEET_HOST_TESTS === "1";

test(
  "shellcheck passes on scripts/ and test/host/",
  { skip: !haveShellcheck && !required ? "shellcheck not installed (apt-get install shellcheck)" : false },
  () => {
    assert.ok(haveShellcheck, "shellcheck is not installed: apt-get install shellcheck");
    const files = [...shellScripts(path.join(root, "scripts")), ...shellScripts(path.join(root, "test", "host"))];
    assert.ok(files.some((f) => f.endsWith(path.join("roles", "lib.sh"))), `role scripts not found: ${files.join(", ")}`);
    assert.ok(files.length >= 10, `expected the role scripts, found ${files.length}`);
    const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "--external-sources", ...files], {
      cwd: root,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, `shellcheck found problems:\n${r.stdout}${r.stderr}`);
  },
);

test("every role script is strict bash and uses lib.sh", () => {
  const roles = path.join(root, "scripts", "roles");
  for (const name of readdirSync(roles).filter((n) => n.endsWith(".sh") && n !== "lib.sh")) {
    const text = readFileSync(path.join(roles, name), "utf8");
    assert.match(text, /^#!\/usr\/bin\/env bash\n/, `${name}: shebang`);
    assert.match(text, /^set -euo pipefail$/m, `${name}: set -euo pipefail`);
    assert.match(text, /^role_init [a-z-]+$/m, `${name}: role_init`);
    assert.ok(statSync(path.join(roles, name)).mode & 0o100, `${name} is not executable`);
  }
});
