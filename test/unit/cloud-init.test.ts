import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";

import { fakeAuthKey } from "../support/fixtures";
import { REPO_ROOT } from "../support/run";
import {
  CloudInitError,
  hcloudServerIdentity,
  DEFAULT_CLOUD_INIT_PATHS,
  renderCloudInit,
  renderEnrollScript,
  TAILSCALE_KEY_FINGERPRINT,
  USER_DATA_LIMIT_BYTES,
  type CloudInitInput,
  type CloudInitPaths,
} from "../../components/core/cloud-init";

const KEY = fakeAuthKey("TEST123");
const input: CloudInitInput = { hostName: "cpu-1", tags: ["tag:gpu-worker", "tag:cpu"], authKey: KEY };

interface WriteFile {
  path: string;
  owner: string;
  permissions: string;
  content: string;
}
interface CloudConfig {
  bootcmd: string[][];
  write_files: WriteFile[];
  runcmd: string[][];
}

function render(extra: Partial<CloudInitInput> = {}): { text: string; doc: CloudConfig } {
  const text = renderCloudInit({ ...input, ...extra });
  return { text, doc: parse(text) as CloudConfig };
}

function fileAt(doc: CloudConfig, path: string): WriteFile {
  const file = doc.write_files.find((f) => f.path === path);
  assert.ok(file, `write_files has ${path}`);
  return file;
}

describe("renderCloudInit: the document", () => {
  it("is #cloud-config YAML with bootcmd, write_files and runcmd only", () => {
    const { text, doc } = render();
    assert.ok(text.startsWith("#cloud-config\n"));
    assert.deepEqual(Object.keys(doc), ["bootcmd", "write_files", "runcmd"]);
    assert.ok(Buffer.byteLength(text) < USER_DATA_LIMIT_BYTES);
  });

  it("writes the key to a root-only 0600 file under /run, in a directory made root-only first", () => {
    const { doc } = render();
    const key = fileAt(doc, DEFAULT_CLOUD_INIT_PATHS.authKeyFile);
    assert.equal(key.permissions, "0600");
    assert.equal(key.owner, "root:root");
    assert.equal(key.content, `${KEY}\n`);
    assert.ok(key.path.startsWith("/run/"), "tmpfs, never on disk");
    assert.deepEqual(doc.bootcmd, [["install", "-d", "-m", "0700", "-o", "root", "-g", "root", "/run/gpu-fleet"]]);
    const script = fileAt(doc, DEFAULT_CLOUD_INIT_PATHS.enrollScript);
    assert.equal(script.permissions, "0700");
  });

  it("has the key exactly once, in the key file: not in runcmd, bootcmd or the script", () => {
    const { text, doc } = render();
    assert.equal(text.split(KEY).length - 1, 1);
    assert.deepEqual(doc.runcmd, [[DEFAULT_CLOUD_INIT_PATHS.enrollScript]]);
    assert.ok(!JSON.stringify(doc.runcmd).includes(KEY));
    assert.ok(!JSON.stringify(doc.bootcmd).includes(KEY));
    assert.ok(!fileAt(doc, DEFAULT_CLOUD_INIT_PATHS.enrollScript).content.includes(KEY));
  });

  it("enrolls with file:, the host name, the tags and --ssh, only in the NeedsLogin branch", () => {
    const script = renderEnrollScript(input);
    const upLines = script.split("\n").filter((l) => /\btailscale up --/.test(l) && !l.trimStart().startsWith("#"));
    assert.equal(upLines.length, 1);
    const up = upLines[0] ?? "";
    assert.match(up, /--auth-key="file:\$\{KEY_FILE\}"/);
    assert.match(up, /--hostname="\$TS_HOSTNAME" --advertise-tags="\$TS_TAGS" --ssh/);
    assert.match(script, /^TS_HOSTNAME='cpu-1'$/m);
    assert.match(script, /^TS_TAGS='tag:gpu-worker,tag:cpu'$/m);
    const branch = script.slice(script.indexOf("  NeedsLogin)"), script.indexOf("  Running | Starting)"));
    assert.ok(branch.includes(up), "tailscale up sits in the NeedsLogin branch of the state case");
    assert.match(script, /tailscale status --json/);
  });

  it("removes the key file on exit, whatever happens, and right after enrolling", () => {
    const script = renderEnrollScript(input);
    assert.match(script, /^trap 'rm -f "\$KEY_FILE"' EXIT$/m);
    const branch = script.slice(script.indexOf("  NeedsLogin)"), script.indexOf("  Running | Starting)"));
    assert.match(branch, /rm -f "\$KEY_FILE"/);
    assert.ok(!/set -x|xtrace/.test(script), "no tracing: it would print the commands");
  });

  it("rejects bad input naming fields, and never quotes the key", () => {
    const bad = (extra: Partial<CloudInitInput>): readonly string[] => {
      try {
        renderCloudInit({ ...input, ...extra });
      } catch (err) {
        assert.ok(err instanceof CloudInitError);
        return err.problems;
      }
      assert.fail("expected CloudInitError");
    };
    assert.match(bad({ hostName: "cpu_1" })[0] ?? "", /^hostName:/);
    assert.match(bad({ hostName: "a".repeat(64) })[0] ?? "", /^hostName:/);
    assert.match(bad({ tags: [] })[0] ?? "", /^tags: at least one/);
    assert.match(bad({ tags: ["tag:x'; rm -rf /"] })[0] ?? "", /^tags:/);
    assert.match(bad({ tags: ["gpu-worker"] })[0] ?? "", /^tags:/);
    const spaced = bad({ authKey: `${fakeAuthKey("X")} with space` });
    assert.match(spaced[0] ?? "", /^authKey:/);
    assert.ok(!spaced.join(" ").includes("with space"));
    assert.match(bad({ authKey: "" })[0] ?? "", /^authKey: is empty/);
    assert.match(bad({ tailscaleAptRepo: "https://x/'y" })[0] ?? "", /^tailscaleAptRepo:/);
    assert.match(bad({ enrollTimeoutSeconds: 1 })[0] ?? "", /^enrollTimeoutSeconds:/);
  });

  const haveShellcheck = spawnSync("sh", ["-c", "command -v shellcheck"]).status === 0;
  it("renders a script shellcheck accepts", { skip: haveShellcheck ? false : "shellcheck not installed" }, () => {
    const dir = mkdtempSync(join(tmpdir(), "cloud-init-sc-"));
    try {
      const file = join(dir, "enroll.sh");
      writeFileSync(file, fileAt(render().doc, DEFAULT_CLOUD_INIT_PATHS.enrollScript).content);
      const result = spawnSync("shellcheck", ["-s", "bash", file], { encoding: "utf8" });
      assert.equal(result.status, 0, result.stdout + result.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The rendered script, run for real with bash against fake `tailscale`, `systemctl` and `sleep` commands.
describe("the enrollment script, run against a fake tailscale", () => {
  interface Run {
    status: number | null;
    output: string;
    upArgs: string[] | undefined;
    keyRead: string | undefined;
    keyMode: string | undefined;
    keyFileLeft: boolean;
    marker: string | undefined;
    systemctl: string[];
    stateFileLeft: boolean;
  }

  const FAKE_TAILSCALE = `#!/bin/bash
# Fake tailscale: state in $FAKE/backend; 'up' records its argv, the key it read and the key file's mode.
case "$1" in
  status)
    [ "$2" = --json ] || exit 2
    printf '{\\n  "Version": "1.90.0",\\n  "BackendState": "%s",\\n  "Self": {}\\n}\\n' "$(cat "$FAKE/backend")"
    ;;
  up)
    shift
    printf '%s\\n' "$@" >>"$FAKE/up-args"
    for a in "$@"; do
      case "$a" in
        --auth-key=file:*) f="\${a#--auth-key=file:}"; cat "$f" >"$FAKE/key-read"; stat -c %a "$f" >"$FAKE/key-mode" ;;
        --auth-key=*) echo "key passed in argv" >&2; exit 3 ;;
      esac
    done
    if [ -e "$FAKE/up-fails" ]; then echo "backend error: invalid key" >&2; exit 1; fi
    echo Running >"$FAKE/backend"
    ;;
  *) exit 2 ;;
esac
`;
  const FAKE_SYSTEMCTL = `#!/bin/bash
echo "$*" >>"$FAKE/systemctl"
# A restarted tailscaled without its state file needs login.
if [ "$1" = start ] && [ ! -e "$FAKE/tailscaled.state" ]; then echo NeedsLogin >"$FAKE/backend"; fi
exit 0
`;

  function run(setup: { backend: string; marker?: string; keyFile?: boolean; upFails?: boolean; stateFile?: boolean }): Run {
    const dir = mkdtempSync(join(tmpdir(), "cloud-init-run-"));
    try {
      const bin = join(dir, "bin");
      mkdirSync(bin);
      for (const [name, text] of [["tailscale", FAKE_TAILSCALE], ["systemctl", FAKE_SYSTEMCTL], ["sleep", "#!/bin/sh\nexit 0\n"]] as const) {
        writeFileSync(join(bin, name), text);
        chmodSync(join(bin, name), 0o755);
      }
      const paths: CloudInitPaths = {
        authKeyFile: join(dir, "run/gpu-fleet/tailscale-auth-key"),
        enrollScript: join(dir, "enroll"),
        enrolledMarker: join(dir, "lib/gpu-fleet/enrolled"),
        instanceIdFile: join(dir, "instance-id"),
        tailscaleStateFile: join(dir, "tailscaled.state"),
      };
      const doc = parse(renderCloudInit({ ...input, paths })) as CloudConfig;
      // Do what cloud-init does: bootcmd's directory, then write_files with their modes.
      mkdirSync(join(dir, "run/gpu-fleet"), { recursive: true, mode: 0o700 });
      for (const file of doc.write_files) {
        if (file.path === paths.authKeyFile && setup.keyFile === false) continue;
        writeFileSync(file.path, file.content, { mode: Number.parseInt(file.permissions, 8) });
      }
      writeFileSync(paths.instanceIdFile, "i-4711\n");
      writeFileSync(join(dir, "backend"), `${setup.backend}\n`);
      if (setup.stateFile ?? true) writeFileSync(paths.tailscaleStateFile, "{}");
      if (setup.upFails) writeFileSync(join(dir, "up-fails"), "");
      if (setup.marker !== undefined) {
        mkdirSync(join(dir, "lib/gpu-fleet"), { recursive: true });
        writeFileSync(paths.enrolledMarker, `${setup.marker}\n`);
      }
      const runcmd = doc.runcmd[0] ?? [];
      const result = spawnSync("bash", runcmd, {
        encoding: "utf8",
        env: { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, FAKE: dir },
        timeout: 20_000,
      });
      const read = (p: string): string | undefined => (existsSync(p) ? readFileSync(p, "utf8") : undefined);
      return {
        status: result.status,
        output: `${result.stdout}${result.stderr}`,
        upArgs: read(join(dir, "up-args"))?.trimEnd().split("\n"),
        keyRead: read(join(dir, "key-read")),
        keyMode: read(join(dir, "key-mode"))?.trim(),
        keyFileLeft: existsSync(paths.authKeyFile),
        marker: read(paths.enrolledMarker)?.trim(),
        systemctl: read(join(dir, "systemctl"))?.trimEnd().split("\n") ?? [],
        stateFileLeft: existsSync(paths.tailscaleStateFile),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("enrolls a node that needs login: key by file (mode 0600), host name, tags, --ssh; then removes the key", () => {
    const r = run({ backend: "NeedsLogin", stateFile: false });
    assert.equal(r.status, 0, r.output);
    assert.deepEqual(r.upArgs?.slice(1), ["--hostname=cpu-1", "--advertise-tags=tag:gpu-worker,tag:cpu", "--ssh", "--timeout=120s"]);
    assert.match(r.upArgs?.[0] ?? "", /^--auth-key=file:\/.*\/run\/gpu-fleet\/tailscale-auth-key$/);
    assert.ok(!(r.upArgs ?? []).join(" ").includes(KEY), "the key is never an argument");
    assert.equal(r.keyRead?.trim(), KEY);
    assert.equal(r.keyMode, "600");
    assert.equal(r.keyFileLeft, false);
    assert.equal(r.marker, "i-4711");
    assert.ok(!r.output.includes(KEY), "the key is never printed");
    assert.ok(r.systemctl.includes("enable --now tailscaled.service"));
  });

  it("does not use the key on a node this server already enrolled (running again is a no-op), and still removes it", () => {
    const r = run({ backend: "Running", marker: "i-4711" });
    assert.equal(r.status, 0, r.output);
    assert.equal(r.upArgs, undefined);
    assert.equal(r.keyFileLeft, false);
    assert.equal(r.stateFileLeft, true);
    assert.match(r.output, /already logged in/);
  });

  it("drops a node identity that came with the image (no marker for this instance) and enrolls afresh", () => {
    const r = run({ backend: "Running", marker: "i-other-server" });
    assert.equal(r.status, 0, r.output);
    assert.equal(r.stateFileLeft, false);
    assert.deepEqual(r.systemctl.slice(1), ["stop tailscaled.service", "start tailscaled.service"]);
    assert.equal(r.upArgs?.length, 5);
    assert.equal(r.marker, "i-4711");
    assert.equal(r.keyFileLeft, false);
  });

  it("fails without a key file, without calling tailscale up", () => {
    const r = run({ backend: "NeedsLogin", keyFile: false });
    assert.notEqual(r.status, 0);
    assert.equal(r.upArgs, undefined);
    assert.match(r.output, /missing or empty/);
  });

  it("fails after three attempts when enrollment fails, and removes the key all the same", () => {
    const r = run({ backend: "NeedsLogin", upFails: true });
    assert.notEqual(r.status, 0);
    assert.equal(r.upArgs?.filter((a) => a.startsWith("--auth-key=")).length, 3);
    assert.equal(r.keyFileLeft, false);
    assert.equal(r.marker, undefined);
    assert.ok(!r.output.includes(KEY));
  });

  it("refuses other states without enrolling", () => {
    const r = run({ backend: "NeedsMachineAuth", marker: "i-4711" });
    assert.notEqual(r.status, 0);
    assert.equal(r.upArgs, undefined);
    assert.equal(r.keyFileLeft, false);
  });
});

describe("cloud-init with a program-made SSH host key", () => {
  const hostKey = {
    privateKey: [`-----BEGIN ${"OPENSSH"} PRIVATE KEY-----`, "b3BlbnNzaC1rZXktdjEAAAAA", `-----END ${"OPENSSH"} PRIVATE KEY-----`, ""].join("\n"),
    publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestOnlyPublicHostKeyValue0000000000000",
  };

  it("installs the key, deletes the image's and generates none", () => {
    const doc = parse(renderCloudInit({ ...input, sshHostKey: hostKey }).replace(/^#cloud-config\n/, "")) as Record<string, unknown>;
    assert.deepEqual(doc.ssh_keys, { ed25519_private: hostKey.privateKey, ed25519_public: hostKey.publicKey });
    assert.equal(doc.ssh_deletekeys, true);
    assert.deepEqual(doc.ssh_genkeytypes, []);
  });

  it("refuses a malformed key, naming the field and never quoting the key", () => {
    assert.throws(
      () => renderCloudInit({ ...input, sshHostKey: { privateKey: "not a key", publicKey: "ssh-rsa AAAA" } }),
      (e: Error) => /sshHostKey\.publicKey: must be one `ssh-ed25519 AAAA\.\.\.` key/.test(e.message) && /sshHostKey\.privateKey: must be an OpenSSH private key/.test(e.message) && !e.message.includes("not a key"),
    );
  });

  it("names the server's identity readably: location, image or snapshot, keyGeneration", () => {
    assert.equal(hcloudServerIdentity({ location: "fsn1", image: "debian-12" }), "location=fsn1 image=debian-12");
    assert.equal(hcloudServerIdentity({ location: "nbg1", image: "debian-12", snapshot: "role=base", keyGeneration: 2 }), "location=nbg1 snapshot=role=base keyGeneration=2");
  });
});

describe("cloud-init pins Tailscale's apt key like the tailscale role", () => {
  it("renders the same full fingerprint the role checks, and refuses a key that differs before apt trusts it", () => {
    const role = readFileSync(join(REPO_ROOT, "scripts/roles/tailscale.sh"), "utf8");
    const pinned = /^readonly TAILSCALE_KEY_FINGERPRINT=([0-9A-F]{40})$/m.exec(role)?.[1];
    assert.equal(pinned, "2596A99EAAB33821893C0A79458CA832957F5868");
    assert.equal(TAILSCALE_KEY_FINGERPRINT, pinned);
    const script = renderEnrollScript({ hostName: "cpu-1", tags: ["tag:gpu-worker"] });
    assert.match(script, /^TS_KEY_FINGERPRINT='2596A99EAAB33821893C0A79458CA832957F5868'$/m);
    // The keyring is installed only after the fingerprint comparison, never downloaded straight into place.
    const check = script.indexOf('if [[ "$fingerprint" != "$TS_KEY_FINGERPRINT" ]]');
    const install = script.indexOf('install -m 0644 "$keydir/key" "$keyring"');
    assert.ok(check > 0 && install > check, "the key is installed before its fingerprint is checked");
    assert.doesNotMatch(script, /-o "\$keyring"/);
  });
});
