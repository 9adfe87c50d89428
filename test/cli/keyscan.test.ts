// npm run keyscan, with a stand-in ssh-keyscan on PATH that prints fixed key lines and records how it
// was called. (test/host/ssh-pinning.test.ts runs the real one against a real sshd.) Fingerprints are
// what `ssh-keygen -lf` printed for the example keys, written here by hand.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_KEYS } from "../support/fixtures";
import { gpuFleet, runTool, STACK_TRACE } from "../support/run";

const ED_FP = "SHA256:amLCI3D+EzgGvIil+mf0d0HDfaolLmM65MRIrS6l5rY";
const ECDSA_FP = "SHA256:zcOWXfRbpzfUkTAZu38Ph7lWSA1Jw6KW/kUkrFq5VPU";

function setup(keyscanOutput: string): { dir: string; stack: string; keyscan: (...args: string[]) => ReturnType<typeof runTool>; calls: () => string } {
  const dir = mkdtempSync(join(tmpdir(), "keyscan-test-"));
  writeFileSync(join(dir, "out.txt"), keyscanOutput);
  const fake = join(dir, "ssh-keyscan");
  writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$*" >>"${dir}/calls.log"\necho '# 10.0.0.7:22 SSH-2.0-OpenSSH_9.2p1' >&2\ncat "${dir}/out.txt"\n`);
  chmodSync(fake, 0o755);
  const stack = join(dir, "Pulumi.lab.yaml");
  writeFileSync(
    stack,
    `config:
  gpu-fleet:hosts:
    box-1: { ssh: { address: 10.0.0.7 } }
    box-2: { ssh: { address: 10.0.0.8, port: 2222, jumpHost: { address: 203.0.113.1, port: 2200 } } }
    cloud-1: { hcloud: { serverType: ccx23, location: fsn1 } }
`,
  );
  return {
    dir,
    stack,
    keyscan: (...args) => runTool("scripts/keyscan.ts", args, { PATH: `${dir}:${process.env.PATH ?? ""}` }),
    calls: () => readFileSync(join(dir, "calls.log"), "utf8"),
  };
}

describe("npm run keyscan", () => {
  it("prints each key with its fingerprint as ssh-keygen -lf does, ed25519 first, and the YAML to paste", () => {
    const t = setup(`10.0.0.7 ${EXAMPLE_KEYS.ecdsa}\n10.0.0.7 ${EXAMPLE_KEYS.host}\n`);
    const result = t.keyscan(t.stack, "box-1");
    assert.equal(result.status, 0, result.stderr);
    assert.equal(t.calls(), "-T 10 -p 22 -t ed25519,ecdsa,rsa -- 10.0.0.7\n");
    assert.ok(result.stdout.includes(`  256 ${ED_FP} 10.0.0.7 (ED25519)\n  256 ${ECDSA_FP} 10.0.0.7 (ECDSA)\n`), result.stdout);
    assert.ok(result.stdout.endsWith(`hostKey:\n  - "10.0.0.7 ${EXAMPLE_KEYS.host}"\n  - "10.0.0.7 ${EXAMPLE_KEYS.ecdsa}"\n`), result.stdout);
    assert.match(result.stdout, /Compare these fingerprints with the machine's own/);
  });

  it("scans the configured port, and the jump host with --jump, with the timeout given", () => {
    const t = setup(`[10.0.0.8]:2222 ${EXAMPLE_KEYS.host}\n`);
    const result = t.keyscan(t.stack, "box-2", "--timeout", "3");
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /hostKey:\n {2}- "\[10\.0\.0\.8\]:2222 ssh-ed25519 /);
    const jump = t.keyscan(t.stack, "box-2", "--jump");
    assert.equal(jump.status, 0, jump.stderr);
    assert.equal(t.calls(), "-T 3 -p 2222 -t ed25519,ecdsa,rsa -- 10.0.0.8\n-T 10 -p 2200 -t ed25519,ecdsa,rsa -- 203.0.113.1\n");
    assert.match(jump.stdout, /^hosts\.box-2\.ssh\.jumpHost: 203\.0\.113\.1 port 2200/);
  });

  it("skips a line that is not a key, and exits 1 when no key came back", () => {
    const [, b64] = EXAMPLE_KEYS.host.split(" ");
    const cut = Buffer.from(b64, "base64").subarray(0, 48).toString("base64");
    const t = setup(`10.0.0.7 ssh-ed25519 ${cut}\n`);
    const result = t.keyscan(t.stack, "box-1");
    assert.equal(result.status, 1);
    assert.match(result.stderr, /skipped a line from 10\.0\.0\.7: .*blob is 48 bytes/);
    assert.match(result.stderr, /no host key from 10\.0\.0\.7 port 22/);
    assert.ok(!STACK_TRACE.test(result.stderr));
  });

  it("refuses what it cannot scan, with exit 2 and the reason", () => {
    const t = setup("");
    for (const [args, reason] of [
      [["box-9"], /has no host 'box-9'/],
      [["cloud-1"], /hosts\.cloud-1 has no ssh/],
      [["box-1", "--jump"], /hosts\.box-1\.ssh has no jumpHost/],
      [["box-1", "--timeout", "0"], /--timeout takes whole seconds/],
    ] as const) {
      const result = t.keyscan(t.stack, ...args);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, reason);
    }
    assert.equal(t.keyscan(t.stack).status, 2);
  });

  it("is a gpu-fleet command: listed in --help, answers its own --help, takes -s", () => {
    assert.match(gpuFleet(["--help"]).stdout, /^ {2}keyscan /m);
    const help = gpuFleet(["keyscan", "--help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /usage: gpu-fleet keyscan \[-s\] <stack> <host> \[--jump\] \[--timeout <seconds>\]/);
    const t = setup(`10.0.0.7 ${EXAMPLE_KEYS.host}\n`);
    const result = gpuFleet(["keyscan", "-s", t.stack, "box-1"], { PATH: `${t.dir}:${process.env.PATH ?? ""}` });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /hostKey:\n {2}- "10\.0\.0\.7 ssh-ed25519 /);
  });
});
