// SSH public keys and pinned host keys, decoded rather than pattern-matched. Pure: no Pulumi, no I/O
// (node:crypto only computes).
//
// A public key is `<type> <base64 blob> [comment]`. The blob is in the SSH wire format (RFC 4253
// §6.6, RFC 5656 §3.1, RFC 8709 §4): length-prefixed strings, the first of which repeats the type.
// Each key is decoded field by field, its length checked for its type (an ed25519 blob is exactly
// 51 bytes), and its key material handed to Node's crypto (createPublicKey from a JWK), which
// refuses an RSA modulus or an elliptic-curve point that is not a key.
//
// `hostKey` takes what people paste: a bare key, an ssh-keyscan or known_hosts line
// (`10.0.0.7 ssh-ed25519 AAAA...`, `[10.0.0.7]:2222 ssh-ed25519 AAAA...`, hashed `|1|salt|hash`
// host fields), several lines at once, or a list of any of these; or the explicit opt-out
// `trust-on-first-use`.

import { createHash, createHmac, createPublicKey } from "node:crypto";
import { isIP } from "node:net";

export const TRUST_ON_FIRST_USE = "trust-on-first-use";

export type SshKeyType = "ssh-ed25519" | "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" | "ssh-rsa";

const EC_CURVES = {
  "ecdsa-sha2-nistp256": { name: "nistp256", jwk: "P-256", coordinateBytes: 32, bits: 256 },
  "ecdsa-sha2-nistp384": { name: "nistp384", jwk: "P-384", coordinateBytes: 48, bits: 384 },
  "ecdsa-sha2-nistp521": { name: "nistp521", jwk: "P-521", coordinateBytes: 66, bits: 521 },
} as const;

export const SSH_KEY_TYPES: readonly SshKeyType[] = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];

/** OpenSSH refuses RSA keys under 1024 bits (sshkey.c, SSH_RSA_MINIMUM_MODULUS_SIZE). */
const RSA_MIN_BITS = 1024;
/** OpenSSH's upper bound for RSA keys (SSHBUF_MAX_BIGNUM * 8). */
const RSA_MAX_BITS = 16384;

export interface SshPublicKey {
  readonly type: SshKeyType;
  /** The blob, base64 as in authorized_keys (canonical: re-encoded from the decoded bytes). */
  readonly base64: string;
  readonly comment: string;
  /** As `ssh-keygen -l` prints: 256 for ed25519, the curve size for ECDSA, the modulus size for RSA. */
  readonly bits: number;
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints. */
  readonly fingerprint: string;
}

/** `ssh-ed25519 AAAA...`: the form the command provider and known_hosts take. */
export function keyText(key: Pick<SshPublicKey, "type" | "base64">): string {
  return `${key.type} ${key.base64}`;
}

/** Decodes `<type> <base64> [comment]`; returns the key or the reason it is not one. */
export function parseSshPublicKey(text: string): SshPublicKey | string {
  const fields = text.trim().split(/\s+/);
  if (fields.length < 2 || fields[0] === "") return "is not a public key: expected `<type> <base64>`, such as `ssh-ed25519 AAAA...`";
  const [type, encoded, ...rest] = fields;
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    if (type.startsWith("-----BEGIN")) return "is a PEM block; give the OpenSSH public key (`ssh-keygen -y -f <key>` prints it), and never a private key";
    return `key type '${type}' is not supported: use one of ${SSH_KEY_TYPES.join(", ")}`;
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return `the ${type} key is not valid base64`;
  const blob = Buffer.from(encoded, "base64");
  const decoded = decodeBlob(type as SshKeyType, blob);
  if (typeof decoded === "string") return `the ${type} key ${decoded}`;
  return {
    type: type as SshKeyType,
    base64: blob.toString("base64"),
    comment: rest.join(" "),
    bits: decoded.bits,
    fingerprint: fingerprintOf(blob),
  };
}

/** `SHA256:` and the unpadded base64 of the blob's SHA-256, as OpenSSH prints fingerprints. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** One line as `ssh-keygen -lf <file>` prints it: `256 SHA256:... <label> (ED25519)`. */
export function keygenLine(key: SshPublicKey, label: string): string {
  const kind = key.type === "ssh-ed25519" ? "ED25519" : key.type === "ssh-rsa" ? "RSA" : "ECDSA";
  return `${key.bits} ${key.fingerprint} ${label} (${kind})`;
}

// ---------------------------------------------------------------------------------------------
// The wire format

class Reader {
  private offset = 0;
  constructor(private readonly buffer: Buffer) {}

  /** A uint32-length-prefixed string, or undefined when the blob ends before it does. */
  string(): Buffer | undefined {
    if (this.offset + 4 > this.buffer.length) return undefined;
    const length = this.buffer.readUInt32BE(this.offset);
    if (this.offset + 4 + length > this.buffer.length) return undefined;
    const value = this.buffer.subarray(this.offset + 4, this.offset + 4 + length);
    this.offset += 4 + length;
    return value;
  }

  get remaining(): number {
    return this.buffer.length - this.offset;
  }
}

function decodeBlob(type: SshKeyType, blob: Buffer): { bits: number } | string {
  const reader = new Reader(blob);
  const innerType = reader.string();
  if (innerType === undefined) return `is not an SSH key blob (${blob.length} bytes, cut short)`;
  if (innerType.toString("latin1") !== type) {
    return `says ${type} but its blob holds a '${printable(innerType)}' key: the prefix and the key do not match (copy the whole line again)`;
  }
  if (type === "ssh-ed25519") {
    // string "ssh-ed25519" (4 + 11) + string key (4 + 32) = 51 bytes.
    const key = reader.string();
    if (key === undefined || key.length !== 32 || reader.remaining !== 0 || blob.length !== 51) {
      return `blob is ${blob.length} bytes; an ed25519 key blob is exactly 51 (the key is cut or padded: copy it again)`;
    }
    return checkWithCrypto({ kty: "OKP", crv: "Ed25519", x: base64url(key) }, 256);
  }
  if (type === "ssh-rsa") {
    const e = reader.string();
    const n = reader.string();
    if (e === undefined || n === undefined || reader.remaining !== 0) return `blob is ${blob.length} bytes and does not hold an exponent and a modulus (cut short or padded: copy it again)`;
    const modulus = stripMpint(n);
    const exponent = stripMpint(e);
    if (modulus.length === 0 || exponent.length === 0) return "has an empty exponent or modulus";
    const bits = bitLength(modulus);
    if (bits < RSA_MIN_BITS) return `has a ${bits}-bit modulus; OpenSSH refuses RSA keys under ${RSA_MIN_BITS} bits`;
    if (bits > RSA_MAX_BITS) return `has a ${bits}-bit modulus; OpenSSH takes at most ${RSA_MAX_BITS}`;
    return checkWithCrypto({ kty: "RSA", n: base64url(modulus), e: base64url(exponent) }, bits);
  }
  const curve = EC_CURVES[type];
  const curveName = reader.string();
  const point = reader.string();
  if (curveName === undefined || point === undefined || reader.remaining !== 0) return `blob is ${blob.length} bytes and does not hold a curve and a point (cut short or padded: copy it again)`;
  if (curveName.toString("latin1") !== curve.name) return `names curve '${printable(curveName)}' inside; ${type} uses ${curve.name}`;
  // An uncompressed point: 0x04 || x || y (SEC 1 §2.3.3), the only form OpenSSH writes.
  if (point.length !== 1 + 2 * curve.coordinateBytes || point[0] !== 0x04) {
    return `has a ${point.length}-byte point; ${curve.name} takes an uncompressed point of ${1 + 2 * curve.coordinateBytes} bytes`;
  }
  const x = point.subarray(1, 1 + curve.coordinateBytes);
  const y = point.subarray(1 + curve.coordinateBytes);
  return checkWithCrypto({ kty: "EC", crv: curve.jwk, x: base64url(x), y: base64url(y) }, curve.bits);
}

/** Node's crypto refuses key material that is not a key (a point off the curve, a bad modulus). */
function checkWithCrypto(jwk: Record<string, string>, bits: number): { bits: number } | string {
  try {
    createPublicKey({ key: jwk, format: "jwk" });
    return { bits };
  } catch {
    return "does not decode to a valid public key (the base64 was changed: copy it again)";
  }
}

function stripMpint(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  return value.subarray(start);
}

function bitLength(value: Buffer): number {
  return value.length === 0 ? 0 : (value.length - 1) * 8 + (32 - Math.clz32(value[0]));
}

function base64url(value: Buffer): string {
  return value.toString("base64url");
}

function printable(value: Buffer): string {
  const text = value.subarray(0, 40).toString("latin1");
  return /^[\x20-\x7e]*$/.test(text) ? text : "binary data";
}

// ---------------------------------------------------------------------------------------------
// Host keys: bare keys, keyscan and known_hosts lines

/** One pinned host key, with the host field of the line it came from (if any). */
export interface PinnedHostKey extends SshPublicKey {
  /** The host patterns the line named (`10.0.0.7`, `[10.0.0.7]:2222`, `|1|salt|hash`), or [] for a bare key. */
  readonly hosts: readonly string[];
}

export type HostKeySetting =
  | { readonly mode: "pinned"; readonly keys: readonly PinnedHostKey[] }
  | { readonly mode: "trust-on-first-use" };

export interface HostKeyProblem {
  /** Index in the list (for a list), or undefined for a single value. */
  readonly index?: number;
  readonly message: string;
}

/** Parses a `hostKey` value: a string (one or more lines), a list of strings, or `trust-on-first-use`. */
export function parseHostKeySetting(value: string | readonly string[]): { setting?: HostKeySetting; problems: HostKeyProblem[] } {
  const entries = typeof value === "string" ? [value] : [...value];
  const problems: HostKeyProblem[] = [];
  if (entries.some((e) => e.trim() === TRUST_ON_FIRST_USE)) {
    if (entries.length > 1) return { problems: [{ message: `'${TRUST_ON_FIRST_USE}' stands alone: give it instead of keys, not beside them` }] };
    return { setting: { mode: "trust-on-first-use" }, problems };
  }
  const keys: PinnedHostKey[] = [];
  entries.forEach((entry, i) => {
    const index = typeof value === "string" ? undefined : i;
    const lines = entry.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
    if (lines.length === 0) problems.push({ index, message: "is empty: give the host's public key" });
    for (const line of lines) {
      const parsed = parseHostKeyLine(line);
      if (typeof parsed === "string") problems.push({ index, message: parsed });
      else keys.push(parsed);
    }
  });
  if (problems.length > 0) return { problems };
  const seen = new Set<string>();
  const unique = keys.filter((k) => (seen.has(k.base64) ? false : (seen.add(k.base64), true)));
  return { setting: { mode: "pinned", keys: unique }, problems };
}

/** A bare key, or a keyscan / known_hosts line with a host field first. */
export function parseHostKeyLine(line: string): PinnedHostKey | string {
  const fields = line.trim().split(/\s+/);
  if (fields[0]?.startsWith("@")) {
    return `'${fields[0]}' lines (certificate authorities, revoked keys) are not supported: give the host's own public key`;
  }
  const hasHost = fields.length >= 3 && !(SSH_KEY_TYPES as readonly string[]).includes(fields[0]) && (SSH_KEY_TYPES as readonly string[]).includes(fields[1]);
  const hosts = hasHost ? fields[0].split(",") : [];
  const key = parseSshPublicKey(hasHost ? fields.slice(1).join(" ") : line);
  if (typeof key === "string") {
    // Name the form we expected, without echoing the (possibly long) value back.
    return fields.length >= 2 && (SSH_KEY_TYPES as readonly string[]).includes(fields[hasHost ? 1 : 0]) ? key : `${key}, or a line of ssh-keyscan's output (\`10.0.0.7 ssh-ed25519 AAAA...\`)`;
  }
  for (const host of hosts) {
    const problem = hostPatternProblem(host);
    if (problem !== undefined) return problem;
  }
  return { ...key, hosts };
}

function hostPatternProblem(pattern: string): string | undefined {
  if (pattern.startsWith("|1|")) {
    const [, , salt = "", hash = "", ...rest] = pattern.split("|");
    if (rest.length > 0 || Buffer.from(salt, "base64").length !== 20 || Buffer.from(hash, "base64").length !== 20) return `'${pattern}' is not a hashed known_hosts host (|1|<salt>|<hash>)`;
    return undefined;
  }
  const bare = /^\[([^\]]+)\]:(\d{1,5})$/.exec(pattern);
  const host = bare ? bare[1] : pattern;
  if (bare && (Number(bare[2]) < 1 || Number(bare[2]) > 65535)) return `'${pattern}' has no valid port`;
  if (host.startsWith("!")) return `'${pattern}': negated patterns are not supported; name the host`;
  return undefined;
}

/** Whether a key line's host field names this address and port (any pattern; hashed ones too). */
export function hostFieldMatches(hosts: readonly string[], address: string, port: number): boolean {
  if (hosts.length === 0) return true;
  const name = canonicalAddress(address);
  const wanted = port === 22 ? name : `[${name}]:${port}`;
  return hosts.some((pattern) => {
    if (pattern.startsWith("|1|")) {
      const [, , salt = "", hash = ""] = pattern.split("|");
      // OpenSSH hashes the name as it looks it up: `host`, or `[host]:port` off port 22.
      return createHmac("sha1", Buffer.from(salt, "base64")).update(wanted).digest("base64") === hash;
    }
    const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(pattern);
    if (bracketed) return canonicalAddress(bracketed[1]) === name && Number(bracketed[2]) === port;
    // ssh-keyscan against port 22 writes the bare host; the same sshd usually serves every port.
    return globMatch(pattern.toLowerCase(), name) && port === 22;
  });
}

/**
 * Whether the host field names this address. The port is not compared for plain names: a key
 * scanned on port 22 is the key the same sshd serves on every port. A hashed name is tried both ways.
 */
export function hostFieldNamesAddress(hosts: readonly string[], address: string, port: number): boolean {
  if (hosts.length === 0) return true;
  const name = canonicalAddress(address);
  return hosts.some((pattern) => {
    if (pattern.startsWith("|1|")) return hostFieldMatches([pattern], address, 22) || hostFieldMatches([pattern], address, port);
    const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(pattern);
    return globMatch((bracketed ? bracketed[1] : pattern).toLowerCase(), name);
  });
}

/** Lowercase, IPv6 in its shortest form (so `2001:DB8::0:1` and `2001:db8::1` are one address). */
export function canonicalAddress(address: string): string {
  const lower = address.toLowerCase();
  if (isIP(lower) === 6) {
    try {
      return new URL(`http://[${lower}]/`).hostname.slice(1, -1);
    } catch {
      return lower;
    }
  }
  return lower;
}

function globMatch(pattern: string, text: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
  return regex.test(text);
}

/**
 * The one key the command provider can pin (it takes a single key and offers only its algorithm):
 * ed25519 first, then ECDSA, then RSA. OpenSSH-based uses (Docker, the reboot wait) take them all.
 */
export function providerHostKey(keys: readonly Pick<SshPublicKey, "type" | "base64">[]): string | undefined {
  const order: readonly SshKeyType[] = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];
  for (const type of order) {
    const found = keys.find((k) => k.type === type);
    if (found !== undefined) return keyText(found);
  }
  return undefined;
}

/** known_hosts lines for OpenSSH, one per key, all under one host pattern (`*` for a per-host file). */
export function knownHostsLines(keys: readonly Pick<SshPublicKey, "type" | "base64">[], pattern = "*"): string {
  return keys.map((k) => `${pattern} ${keyText(k)}\n`).join("");
}
