// The gpu-fleet command line: help, exit codes, stack resolution, JSON-only stdout, npm aliases, and
// the one-line registration of a command module.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { gpuFleet, REPO_ROOT, STACK_TRACE } from "../support/run";
import { main } from "../../cli/main";
import { external } from "../../cli/command";

describe("gpu-fleet", () => {
  it("--help lists every command and documents the exit codes, on stdout, exit 0", () => {
    const result = gpuFleet(["--help"]);
    assert.equal(result.status, 0, result.stderr);
    for (const command of ["plan", "synth", "diff", "join-plan"]) assert.match(result.stdout, new RegExp(`^  ${command} `, "m"));
    assert.match(result.stdout, /Exit codes: 0 ok, 1 problems found .* 2 bad command line/);
  });

  it("every command answers --help with its options and exit 0", () => {
    for (const command of ["plan", "synth", "diff", "join-plan"]) {
      const result = gpuFleet([command, "--help"]);
      assert.equal(result.status, 0, `${command}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^Usage: gpu-fleet ${command} `, "m"));
      assert.match(result.stdout, /-s, --stack <name>/);
      assert.equal(result.stderr, "");
    }
  });

  it("a bad command line exits 2 on stderr, with nothing on stdout and no stack trace", () => {
    for (const args of [[], ["nope"], ["plan"], ["plan", "-s"], ["plan", "laptop", "--yaml"], ["plan", "-s", "laptop", "hetzner-gpu"], ["plan", "-s", "no-such-stack"]]) {
      const result = gpuFleet(args);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "", args.join(" "));
      assert.notEqual(result.stderr, "", args.join(" "));
      assert.doesNotMatch(result.stderr, STACK_TRACE);
    }
    assert.match(gpuFleet(["plan", "-s", "no-such-stack"]).stderr, /^gpu-fleet plan: no stack 'no-such-stack'/m);
  });

  it("-s takes a stack name or a path; the positional stack works too", () => {
    const byName = gpuFleet(["plan", "-s", "laptop", "--json"]);
    const byPath = gpuFleet(["plan", "--stack", "stacks/Pulumi.laptop.yaml", "--json"]);
    const positional = gpuFleet(["plan", "laptop", "--json"]);
    assert.equal(byName.status, 0, byName.stderr);
    assert.equal(byPath.stdout, byName.stdout);
    assert.equal(positional.stdout, byName.stdout);
  });

  it("npm run plan -- <stack> is a thin alias, and npm run -s plan -- <stack> --json prints only JSON", () => {
    const table = spawnSync("npm", ["run", "plan", "--", "hetzner-gpu"], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /4 hosts planned, 20 workers; 0 errors, 0 warnings/);
    const json = spawnSync("npm", ["run", "-s", "plan", "--", "-s", "laptop", "--json"], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual((JSON.parse(json.stdout) as { hosts: { name: string }[] }).hosts.map((h) => h.name), ["laptop", "desktop"]);
  });

  it("a command registered in one line gets every argument after its name and sets the exit code", async () => {
    const seen: string[][] = [];
    const echo = external("echo-args", "test command", () => Promise.resolve({ run: (argv: string[]) => (seen.push(argv), Promise.resolve(argv.length === 0 ? 2 : 1)) }));
    assert.equal(await main(["echo-args", "-s", "laptop", "--json", "--help", "extra"], [echo]), 1);
    assert.equal(await main(["echo-args"], [echo]), 2);
    assert.deepEqual(seen, [["-s", "laptop", "--json", "--help", "extra"], []]);
  });
});
