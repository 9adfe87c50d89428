// plan ≡ program. Every stack in test/corpus/bad is refused by plan with exactly the host and config
// path its `# expect: <host|-> <path>` lines name (written by hand), and the program under mocks
// stops on it before registering any resource. Every stack in test/corpus/good plans without error
// and synthesizes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { planConfig } from "../../components/core/pipeline";
import { parseStackFile } from "../../components/core/stack-file";
import { REPO_ROOT, runTool, STACK_TRACE } from "../support/run";

const CORPUS = join(REPO_ROOT, "test", "corpus");
const files = (kind: "bad" | "good"): string[] => readdirSync(join(CORPUS, kind)).filter((f) => f.endsWith(".yaml")).sort().map((f) => join(CORPUS, kind, f));

function expected(text: string): string[] {
  return [...text.matchAll(/^# expect: (\S+) (\S+)$/gm)].map((m) => `${m[1] === "-" ? "-" : m[1]} ${m[2]}`).sort();
}

function plan(file: string): ReturnType<typeof planConfig> {
  const stack = parseStackFile(readFileSync(file, "utf8"), file);
  return planConfig(stack.document, stack.diagnostics);
}

describe("the bad corpus", () => {
  const bad = files("bad");

  it("has at least 40 stacks, each naming what plan must refuse", () => {
    assert.ok(bad.length >= 40, `only ${bad.length} bad stacks`);
    for (const file of bad) assert.ok(expected(readFileSync(file, "utf8")).length > 0, `${file} has no # expect: line`);
  });

  for (const file of bad) {
    const name = file.slice(CORPUS.length + 1);
    it(`plan refuses ${name} with its host and field`, () => {
      const result = plan(file);
      const got = result.errors.map((e) => `${e.host ?? "-"} ${e.path}`).sort();
      assert.deepEqual(got, expected(readFileSync(file, "utf8")), JSON.stringify(result.errors, null, 1));
      for (const error of result.errors) {
        assert.ok(error.message.length > 20 && !STACK_TRACE.test(error.message), error.message);
        if (error.host !== null) assert.ok(error.path.startsWith(`hosts.${error.host}.`));
      }
    });
  }

  it("the program under mocks stops on every one before registering any resource", () => {
    const result = runTool("test/support/program-corpus.ts", bad);
    assert.equal(result.status, 0, result.stderr);
    const runs = result.stdout.trim().split("\n").map((l) => JSON.parse(l) as { file: string; runError: boolean; message: string; registered: string[] });
    assert.equal(runs.length, bad.length);
    for (const run of runs) {
      assert.ok(run.runError, `${run.file}: the program did not stop with a RunError: ${run.message}`);
      assert.deepEqual(run.registered, [], `${run.file}: registered resources before stopping`);
      assert.match(run.message, /nothing was changed/);
      for (const line of expected(readFileSync(run.file, "utf8"))) {
        const path = line.split(" ")[1];
        assert.ok(run.message.includes(`error: ${path}: `), `${run.file}: the program's message does not name ${path}:\n${run.message}`);
      }
      assert.ok(!STACK_TRACE.test(run.message));
    }
  });

  it("npm run plan exits 1 on them, naming the field, with no stack trace", () => {
    for (const sample of ["hostkey-short-blob", "cidrs-world-ipv6-halves", "admins-bare-star", "hcloud-cx-in-ashburn"]) {
      const result = runTool("scripts/plan.ts", [join(CORPUS, "bad", `${sample}.yaml`)]);
      assert.equal(result.status, 1, `${sample}: ${result.stdout}${result.stderr}`);
      const [line] = expected(readFileSync(join(CORPUS, "bad", `${sample}.yaml`), "utf8"));
      assert.ok(result.stdout.includes(line.split(" ")[1]), result.stdout);
      assert.ok(!STACK_TRACE.test(result.stdout + result.stderr));
    }
  });
});

describe("the good corpus", () => {
  const good = [...files("good"), join(REPO_ROOT, "stacks", "Pulumi.hetzner-gpu.yaml"), join(REPO_ROOT, "stacks", "Pulumi.laptop.yaml")];

  for (const file of good) {
    const name = file.slice(REPO_ROOT.length + 1);
    it(`${name} plans without error and synthesizes`, () => {
      assert.deepEqual(plan(file).errors, []);
      const result = runTool("scripts/lib/synth-child.ts", [REPO_ROOT, file]);
      assert.equal(result.status, 0, result.stderr);
      const synth = JSON.parse(result.stdout) as { ok: boolean; resources?: unknown[]; error?: string };
      assert.ok(synth.ok, synth.error);
      assert.ok((synth.resources ?? []).length > 0);
    });
  }

  it("trust-on-first-use plans with a warning on every run, naming the host and the fix", () => {
    const result = plan(join(CORPUS, "good", "trust-on-first-use.yaml"));
    const warning = result.warnings.find((w) => w.path === "hosts.box-1.ssh.hostKey");
    assert.ok(warning, JSON.stringify(result.warnings));
    assert.match(warning.message, /trust-on-first-use.*npm run keyscan -- <stack> box-1/s);
  });
});
