// SSH keys are decoded, not pattern-matched: the forms people paste, and the ways a key is broken.
// Expected fingerprints come from `ssh-keygen -lf` on the example keys (written here by hand).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  fingerprintOf,
  hostFieldMatches,
  hostFieldNamesAddress,
  keygenLine,
  knownHostsLines,
  parseHostKeyLine,
  parseHostKeySetting,
  parseSshPublicKey,
  providerHostKey,
  type PinnedHostKey,
  type SshPublicKey,
} from "../../components/core/ssh-keys";
import { EXAMPLE_KEYS } from "../support/fixtures";

const ED = EXAMPLE_KEYS.host;
const [, ED_B64] = ED.split(" ");

function ok<T>(value: T | string): T {
  assert.notEqual(typeof value, "string", `expected a key, got: ${String(value)}`);
  return value as T;
}

function reason(value: unknown): string {
  assert.equal(typeof value, "string", `expected a refusal, got ${JSON.stringify(value)}`);
  return value as string;
}

/** A blob with its first string (the inner type) replaced. */
function withInnerType(base64: string, type: string): string {
  const blob = Buffer.from(base64, "base64");
  const innerLength = blob.readUInt32BE(0);
  const rest = blob.subarray(4 + innerLength);
  const name = Buffer.from(type, "latin1");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(name.length);
  return Buffer.concat([length, name, rest]).toString("base64");
}

describe("public keys", () => {
  it("decodes ed25519, ECDSA and RSA keys with the fingerprint and size ssh-keygen -l prints", () => {
    // What `ssh-keygen -lf` printed for each example key when it was made.
    const ed = ok<SshPublicKey>(parseSshPublicKey(`${ED} example-fixture-host`));
    assert.equal(ed.type, "ssh-ed25519");
    assert.equal(ed.bits, 256);
    assert.equal(ed.comment, "example-fixture-host");
    assert.equal(keygenLine(ed, "example-fixture-host"), "256 SHA256:amLCI3D+EzgGvIil+mf0d0HDfaolLmM65MRIrS6l5rY example-fixture-host (ED25519)");
    const ecdsa = ok<SshPublicKey>(parseSshPublicKey(EXAMPLE_KEYS.ecdsa));
    assert.equal(keygenLine(ecdsa, "x"), "256 SHA256:zcOWXfRbpzfUkTAZu38Ph7lWSA1Jw6KW/kUkrFq5VPU x (ECDSA)");
    const rsa = ok<SshPublicKey>(parseSshPublicKey(EXAMPLE_KEYS.rsa));
    assert.equal(keygenLine(rsa, "x"), "2048 SHA256:18ybhrsQNBaiE/Vyfj5tsNXPKtHinURzyCo9Ih5rXu0 x (RSA)");
  });

  it("refuses the old example key: its blob is 48 bytes, an ed25519 blob is 51", () => {
    assert.match(reason(parseSshPublicKey("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExamplePublicKeyReplaceWithYours0000000 ops@gpu-fleet")), /blob is 48 bytes; an ed25519 key blob is exactly 51/);
  });

  it("refuses a blob cut short or padded by one byte", () => {
    const blob = Buffer.from(ED_B64, "base64");
    assert.match(reason(parseSshPublicKey(`ssh-ed25519 ${blob.subarray(0, 50).toString("base64")}`)), /blob is 50 bytes/);
    assert.match(reason(parseSshPublicKey(`ssh-ed25519 ${Buffer.concat([blob, Buffer.from([0])]).toString("base64")}`)), /blob is 52 bytes/);
  });

  it("refuses a prefix that does not match the type inside the blob", () => {
    assert.match(reason(parseSshPublicKey(`ssh-rsa ${ED_B64}`)), /says ssh-rsa but its blob holds a 'ssh-ed25519' key/);
    assert.match(reason(parseSshPublicKey(`ssh-ed25519 ${withInnerType(ED_B64, "ssh-ed25518")}`)), /holds a 'ssh-ed25518' key/);
    const [, ecdsaB64] = EXAMPLE_KEYS.ecdsa.split(" ");
    assert.match(reason(parseSshPublicKey(`ecdsa-sha2-nistp384 ${ecdsaB64}`)), /says ecdsa-sha2-nistp384 but its blob holds a 'ecdsa-sha2-nistp256' key/);
  });

  it("refuses an ECDSA point that is not on the curve (Node's crypto checks it)", () => {
    const [, b64] = EXAMPLE_KEYS.ecdsa.split(" ");
    const blob = Buffer.from(b64, "base64");
    blob[blob.length - 1] ^= 0x01; // y changes: the point leaves the curve
    assert.match(reason(parseSshPublicKey(`ecdsa-sha2-nistp256 ${blob.toString("base64")}`)), /does not decode to a valid public key/);
  });

  it("refuses garbage, unknown types, bad base64 and PEM", () => {
    assert.match(reason(parseSshPublicKey("hello")), /is not a public key/);
    assert.match(reason(parseSshPublicKey("ssh-dss AAAAB3NzaC1kc3MAAACBAP")), /key type 'ssh-dss' is not supported/);
    assert.match(reason(parseSshPublicKey("ssh-ed25519 not*base64")), /not valid base64/);
    assert.match(reason(parseSshPublicKey(["-----BEGIN OPENSSH", "PRIVATE KEY-----"].join(" ") + " b3BlbnNzaC1r")), /PEM block/);
  });

  it("fingerprints the blob as OpenSSH does (SHA-256, base64 without padding)", () => {
    assert.equal(fingerprintOf(Buffer.from("")), "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
  });
});

describe("hostKey forms", () => {
  const pinned = (value: string | string[]): readonly PinnedHostKey[] => {
    const { setting, problems } = parseHostKeySetting(value);
    assert.deepEqual(problems, []);
    assert.equal(setting?.mode, "pinned");
    return setting?.mode === "pinned" ? setting.keys : [];
  };

  it("takes a bare key", () => {
    const [key] = pinned(ED);
    assert.equal(`${key.type} ${key.base64}`, ED);
    assert.deepEqual(key.hosts, []);
  });

  it("takes an ssh-keyscan line, a [host]:port line and a known_hosts line with several names", () => {
    assert.deepEqual(pinned(`10.0.0.7 ${ED}`)[0].hosts, ["10.0.0.7"]);
    assert.deepEqual(pinned(`[10.0.0.7]:2222 ${ED}`)[0].hosts, ["[10.0.0.7]:2222"]);
    assert.deepEqual(pinned(`box.lan,10.0.0.7 ${ED} root@box`)[0].hosts, ["box.lan", "10.0.0.7"]);
  });

  it("takes a list, and ssh-keyscan's whole output pasted as one block", () => {
    assert.equal(pinned([ED, EXAMPLE_KEYS.ecdsa, `10.0.0.7 ${EXAMPLE_KEYS.rsa}`]).length, 3);
    const block = `# 10.0.0.7:22 SSH-2.0-OpenSSH_9.2p1\n10.0.0.7 ${ED}\n10.0.0.7 ${EXAMPLE_KEYS.ecdsa}\n`;
    assert.deepEqual(pinned(block).map((k) => k.type), ["ssh-ed25519", "ecdsa-sha2-nistp256"]);
  });

  it("takes trust-on-first-use alone, never beside keys", () => {
    assert.deepEqual(parseHostKeySetting("trust-on-first-use").setting, { mode: "trust-on-first-use" });
    assert.match(parseHostKeySetting(["trust-on-first-use", ED]).problems[0].message, /stands alone/);
  });

  it("refuses garbage and broken keys, naming the list entry", () => {
    const { problems } = parseHostKeySetting([ED, "garbage", `10.0.0.7 ssh-ed25519 ${Buffer.from(ED_B64, "base64").subarray(0, 48).toString("base64")}`]);
    assert.deepEqual(problems.map((p) => p.index), [1, 2]);
    assert.match(problems[0].message, /is not a public key/);
    assert.match(problems[1].message, /blob is 48 bytes/);
    assert.match(parseHostKeySetting("").problems[0].message, /is empty/);
    assert.match(reason(parseHostKeyLine(`@cert-authority * ${ED}`)), /not supported/);
  });

  it("matches host fields to an address and port, hashed ones too", () => {
    assert.ok(hostFieldMatches(["10.0.0.7"], "10.0.0.7", 22));
    assert.ok(hostFieldMatches(["[10.0.0.7]:2222"], "10.0.0.7", 2222));
    assert.ok(!hostFieldMatches(["[10.0.0.7]:2222"], "10.0.0.7", 22));
    assert.ok(!hostFieldMatches(["10.0.0.8"], "10.0.0.7", 22));
    assert.ok(hostFieldMatches(["[2001:db8::1]:2222"], "2001:DB8:0::1", 2222));
    // HMAC-SHA1 of "10.0.0.7" under 20 zero bytes of salt (computed with Python's hmac module).
    const salt = Buffer.alloc(20).toString("base64");
    assert.ok(hostFieldMatches([`|1|${salt}|UMCNraFLzld22oYV4w5w/ol/2os=`], "10.0.0.7", 22));
    assert.ok(!hostFieldMatches([`|1|${salt}|UMCNraFLzld22oYV4w5w/ol/2os=`], "10.0.0.8", 22));
    // Whether a line names the host's address at all: the port of a plain name is not compared.
    assert.ok(hostFieldNamesAddress(["10.0.0.7"], "10.0.0.7", 2222));
    assert.ok(hostFieldNamesAddress([`|1|${salt}|UMCNraFLzld22oYV4w5w/ol/2os=`], "10.0.0.7", 2222));
    assert.ok(!hostFieldNamesAddress([`|1|${salt}|UMCNraFLzld22oYV4w5w/ol/2os=`], "10.0.0.9", 22));
    assert.ok(!hostFieldNamesAddress(["box.lan"], "10.0.0.7", 22));
  });

  it("gives the command provider one key (ed25519 first) and OpenSSH all of them", () => {
    const keys = pinned([EXAMPLE_KEYS.rsa, EXAMPLE_KEYS.ecdsa, ED]);
    assert.equal(providerHostKey(keys), ED);
    assert.equal(providerHostKey(pinned(EXAMPLE_KEYS.rsa)), EXAMPLE_KEYS.rsa);
    assert.equal(knownHostsLines(keys), `* ${EXAMPLE_KEYS.rsa}\n* ${EXAMPLE_KEYS.ecdsa}\n* ${ED}\n`);
  });
});
