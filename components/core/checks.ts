// Checks across a parsed config that one field's schema cannot make: what a component, a provider or
// the tailnet would refuse later, refused here first, so `plan` and `pulumi up` agree. Each finding
// names the host (or the fleet-wide config path), the field and the fix. Pure: no Pulumi, no I/O.

import { isIP } from "node:net";
import type { DiagnosticList, PathSegment } from "./diagnostics";
import type { HcloudFleetSpec, HostSpec, RedisSpec, ServiceSpec, TailnetSpec } from "./schema";
import { canonicalAddress, hostFieldNamesAddress, providerHostKey, type HostKeySetting } from "./ssh-keys";
import { validateTailnetPolicyInput } from "./tailnet-policy";

export interface FleetParts {
  readonly tailnet?: TailnetSpec;
  readonly redis?: RedisSpec;
  readonly hcloud?: HcloudFleetSpec;
  readonly services: Readonly<Record<string, ServiceSpec>>;
  readonly hosts: Readonly<Record<string, HostSpec>>;
}

export function checkFleet(parts: FleetParts, out: DiagnosticList): void {
  if (parts.tailnet !== undefined) checkTailnet(parts.tailnet, parts.redis, out);
  if (parts.hcloud !== undefined) checkFirewallCidrs(parts.hcloud.sshSourceCidrs, out);
  checkSshHosts(parts.hosts, out);
  for (const [name, host] of Object.entries(parts.hosts)) {
    for (const problem of hcloudLabelProblems(host.hcloud?.labels ?? {})) out.error(["hosts", name, "hcloud", "labels"], `${problem}.`);
  }
  for (const [name, service] of Object.entries(parts.services)) {
    checkCredentialsInEnv(name, service, out);
    checkHealthcheck(name, service, out);
  }
}

// ---------------------------------------------------------------------------------------------
// Tailnet: the same validator the Tailnet component runs (buildTailnetPolicy), so plan refuses what
// synth would.

/** `admins[2]: message` → (["tailnet", "admins", 2], message). */
const PROBLEM_FIELD = /^(workerTag|redisTag|redisPort|admins|sshUsers|testUser)(?:\[(\d+)\])?: (.*)$/s;

export function checkTailnet(tailnet: TailnetSpec, redis: RedisSpec | undefined, out: DiagnosticList): void {
  const problems = validateTailnetPolicyInput({
    workerTag: tailnet.workerTag,
    redisTag: tailnet.redisTag,
    redisPort: redis?.port ?? 6379,
    admins: [...tailnet.admins],
    sshUsers: [...tailnet.sshUsers],
    testUser: tailnet.testUser,
  });
  for (const problem of problems) {
    const match = PROBLEM_FIELD.exec(problem);
    if (match === null) {
      out.error(["tailnet"], `${problem}.`);
      continue;
    }
    const [, field, index, message] = match;
    const path: PathSegment[] = field === "redisPort" ? ["redis", "port"] : ["tailnet", field, ...(index === undefined ? [] : [Number(index)])];
    out.error(path, message.endsWith(".") ? message : `${message}.`);
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** Why `address` is neither an IP literal nor a DNS name, or undefined when it is one. */
export function addressProblem(address: string): string | undefined {
  if (isIP(address) !== 0) return undefined;
  if (/^\[.*\]$/.test(address)) return `'${address}' has brackets: write the IPv6 address without them (the port goes in port)`;
  if (/:\d+$/.test(address) && isIP(address.replace(/:\d+$/, "")) === 4) return `'${address}' carries a port: write the address alone and the port in port`;
  if (address.includes("@")) return `'${address}' is not an address: the user goes in user`;
  const name = address.endsWith(".") ? address.slice(0, -1) : address;
  const labels = name.split(".");
  // RFC 1123 §2.1 and RFC 3696 §2: letters, digits and '-', 1 to 63 per label, 253 in all, and a
  // top-level label that is not all digits (so 10.0.0.300 is a broken IPv4 address, not a name).
  if (/^[\d.]+$/.test(name)) return `'${address}' is not a valid IPv4 address (four numbers 0-255) nor a DNS name`;
  if (name.length === 0 || name.length > 253) return `'${address}' is not a DNS name (1 to 253 characters)`;
  for (const label of labels) {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)) {
      return `'${address}' is neither an IP address nor a DNS name ('${label}': use letters, digits and '-', at most 63 per label, not at either end)`;
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1])) return `'${address}' is not a DNS name (its last label is all digits) nor an IP address`;
  return undefined;
}

function checkSshHosts(hosts: Readonly<Record<string, HostSpec>>, out: DiagnosticList): void {
  const byEndpoint = new Map<string, string[]>();
  for (const [name, host] of Object.entries(hosts)) {
    const ssh = host.ssh;
    if (ssh === undefined) continue;
    const endpoints: { path: PathSegment[]; address: string; port: number; hostKey: HostKeySetting | undefined }[] = [
      { path: ["hosts", name, "ssh"], address: ssh.address, port: ssh.port, hostKey: ssh.hostKey },
    ];
    if (ssh.jumpHost !== undefined) endpoints.push({ path: ["hosts", name, "ssh", "jumpHost"], address: ssh.jumpHost.address, port: ssh.jumpHost.port, hostKey: ssh.jumpHost.hostKey });
    for (const endpoint of endpoints) {
      const problem = addressProblem(endpoint.address);
      if (problem !== undefined) out.error([...endpoint.path, "address"], `${problem}.`);
      checkHostKey(name, endpoint.path, endpoint.address, endpoint.port, endpoint.hostKey, out);
    }
    const key = `${canonicalAddress(ssh.address)}|${ssh.port}`;
    byEndpoint.set(key, [...(byEndpoint.get(key) ?? []), name]);
  }
  for (const names of byEndpoint.values()) {
    if (names.length < 2) continue;
    for (const name of names) {
      const ssh = hosts[name].ssh!;
      const others = names.filter((n) => n !== name);
      out.error(
        ["hosts", name, "ssh", "address"],
        `${ssh.address} port ${ssh.port} is also the SSH address of ${others.join(", ")}: two hosts cannot be one machine (each would run its own workers on it). Fix the address or port of ${[name, ...others].join(" or ")}.`,
      );
    }
  }
}

function checkHostKey(host: string, path: PathSegment[], address: string, port: number, hostKey: HostKeySetting | undefined, out: DiagnosticList): void {
  const which = path[path.length - 1] === "jumpHost" ? " --jump" : "";
  if (hostKey === undefined) {
    out.error(
      [...path, "hostKey"],
      `missing: the SSH connection to ${address} would trust whatever key answers, and it carries ${host}'s tailnet auth key. Run \`npm run keyscan -- <stack> ${host}${which}\`, compare the fingerprints with the machine's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), and paste the hostKey it prints. (A lab may set hostKey: trust-on-first-use instead.)`,
    );
    return;
  }
  if (hostKey.mode === "trust-on-first-use") {
    out.warning(
      [...path, "hostKey"],
      `is trust-on-first-use: the first connection to ${address} accepts any key, so a machine in the middle could receive ${host}'s tailnet auth key. Pin it: \`npm run keyscan -- <stack> ${host}${which}\`.`,
    );
    return;
  }
  for (const [index, key] of hostKey.keys.entries()) {
    if (!hostFieldNamesAddress(key.hosts, address, port)) {
      out.error(
        [...path, "hostKey", ...(hostKey.keys.length > 1 ? [index] : [])],
        `is a key line for ${key.hosts.join(",")}, but the address is ${address}: the key belongs to another machine. Run \`npm run keyscan -- <stack> ${host}${which}\` for ${address}'s own key.`,
      );
    }
  }
  if (hostKey.keys.length > 0 && hostKey.keys.every((k) => k.type === "ssh-rsa") && providerHostKey(hostKey.keys) !== undefined) {
    out.warning(
      [...path, "hostKey"],
      `pins only an RSA key: the roles' SSH client (the command provider) then offers only the ssh-rsa (SHA-1) host key signature, which OpenSSH 8.8 and newer servers no longer make. Add the host's ed25519 key (npm run keyscan prints it).`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Hetzner Cloud firewall

interface Cidr {
  readonly family: 4 | 6;
  readonly start: bigint;
  readonly prefix: number;
}

/** Parses `a.b.c.d/n` or `x:y::/n`; the reason when it is not a network Hetzner takes. */
export function parseCidr(text: string): Cidr | string {
  const [address = "", prefixText, ...rest] = text.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0 || prefixText === undefined || !/^\d{1,3}$/.test(prefixText)) {
    return `'${text}' is not a CIDR such as 198.51.100.0/24 or 2001:db8::/48`;
  }
  const width = family === 4 ? 32 : 128;
  const prefix = Number(prefixText);
  if (prefix > width) return `'${text}' has a /${prefix} prefix; IPv${family} takes at most /${width}`;
  const value = family === 4 ? ipv4Value(address) : ipv6Value(address);
  const hostBits = BigInt(width - prefix);
  const start = (value >> hostBits) << hostBits;
  if (start !== value) {
    return `'${text}' has host bits set: Hetzner takes the network address, ${formatAddress(family as 4 | 6, start)}/${prefix}`;
  }
  return { family: family as 4 | 6, start, prefix };
}

function ipv4Value(address: string): bigint {
  return address.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6Value(address: string): bigint {
  let text = address.toLowerCase();
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const n = ipv4Value(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function formatAddress(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  return canonicalAddress(groups.join(":"));
}

/** Whether networks of one family together cover every address of it. */
export function coversWholeFamily(cidrs: readonly Cidr[], family: 4 | 6): boolean {
  const width = family === 4 ? 32 : 128;
  const ranges = cidrs
    .filter((c) => c.family === family)
    .map((c) => ({ start: c.start, end: c.start + (1n << BigInt(width - c.prefix)) }))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let covered = 0n;
  for (const range of ranges) {
    if (range.start > covered) return false;
    if (range.end > covered) covered = range.end;
  }
  return covered >= 1n << BigInt(width);
}

function checkFirewallCidrs(cidrs: readonly string[], out: DiagnosticList): void {
  const parsed: Cidr[] = [];
  cidrs.forEach((text, index) => {
    const cidr = parseCidr(text);
    if (typeof cidr === "string") out.error(["hcloud", "sshSourceCidrs", index], `${cidr}.`);
    else parsed.push(cidr);
  });
  for (const family of [4, 6] as const) {
    if (coversWholeFamily(parsed, family)) {
      const listed = cidrs.filter((c) => isIP(c.split("/")[0]) === family);
      out.error(
        ["hcloud", "sshSourceCidrs"],
        `${listed.join(" + ")} together open SSH to every IPv${family} address on the internet. List only your admin networks (SSH over the tailnet needs no rule at all).`,
      );
    }
  }
}

/** Label keys the fleet sets on everything it creates in Hetzner Cloud. */
export const HCLOUD_FLEET_LABEL_PREFIX = "gpu-fleet/";

// Hetzner label syntax: key = [prefix/]name, name and value up to 63 of [A-Za-z0-9._-], alphanumeric at both ends
// (a value may be empty); the prefix is a DNS subdomain. The HetznerServer component runs the same check.
const LABEL_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;

/** Problems with one Hetzner label, each starting with `labels:`. */
export function hcloudLabelProblems(labels: Readonly<Record<string, string>>, fleetOwned = false): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (!fleetOwned && key.startsWith(HCLOUD_FLEET_LABEL_PREFIX)) {
      problems.push(`labels: '${key}' is reserved for the fleet's own labels`);
      continue;
    }
    const slash = key.lastIndexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if ((prefix !== undefined && !LABEL_PREFIX.test(prefix)) || !LABEL_NAME.test(name)) {
      problems.push(`labels: key '${key}' must be [prefix/]name, name up to 63 letters, digits, '.', '_', '-' (alphanumeric at both ends)`);
    }
    if (value !== "" && !LABEL_NAME.test(value)) {
      problems.push(`labels: value '${value}' of '${key}' must be up to 63 letters, digits, '.', '_', '-' (alphanumeric at both ends)`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Services

/** Known credential shapes. The value is tested, never printed. */
const CREDENTIAL_SHAPES: readonly { what: string; pattern: RegExp }[] = [
  { what: "a Hugging Face token", pattern: /\bhf_[A-Za-z0-9]{20,}/ },
  { what: "a GitHub token", pattern: /\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{20,}/ },
  { what: "an API secret key (sk-...)", pattern: /\bsk-[A-Za-z0-9_-]{16,}/ },
  { what: "a Tailscale key", pattern: /\btskey-[A-Za-z0-9-]{8,}/ },
  { what: "an AWS access key id", pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { what: "a PEM block (a key or certificate)", pattern: /-----BEGIN [A-Z0-9 ]+-----/ },
];

/** Env names that say they hold a secret. */
const SECRET_NAME = /(?:^|_)(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|ACCESS_KEY)$/i;

/** What a plain env value looks like, when it looks like a credential; undefined otherwise. */
export function credentialShape(envName: string, value: string): string | undefined {
  for (const shape of CREDENTIAL_SHAPES) if (shape.pattern.test(value)) return shape.what;
  if (SECRET_NAME.test(envName) && value.length >= 8 && !/^\$\{.*\}$/.test(value)) return `a secret (its name says so)`;
  return undefined;
}

/** `HF_TOKEN` → `hfToken`: the config key the fix suggests. */
function configKeyFor(envName: string): string {
  const parts = envName.toLowerCase().split(/_+/).filter((p) => p !== "");
  return parts.map((p, i) => (i === 0 ? p : p[0].toUpperCase() + p.slice(1))).join("") || "secretValue";
}

function checkCredentialsInEnv(name: string, service: ServiceSpec, out: DiagnosticList): void {
  for (const [envName, value] of Object.entries(service.env)) {
    if (typeof value !== "string") continue;
    const shape = credentialShape(envName, value);
    if (shape === undefined) continue;
    const key = configKeyFor(envName);
    out.warning(
      ["services", name, "env", envName],
      `looks like ${shape}, in plain text: the stack file, Pulumi's state and every preview show it. Make it a secret: \`pulumi config set --secret ${key}\` (the value on stdin), then env: { ${envName}: { secret: ${key} } }, and revoke the one that was in plain text.`,
    );
  }
}

/** Docker takes a health check test as ["CMD", ...], ["CMD-SHELL", cmd] or ["NONE"] (Docker Engine API, HealthConfig.Test). */
function checkHealthcheck(name: string, service: ServiceSpec, out: DiagnosticList): void {
  const test = service.healthcheck?.test;
  if (test === undefined || typeof test === "string") return;
  const kind = test[0];
  if (kind !== "CMD" && kind !== "CMD-SHELL" && kind !== "NONE") {
    out.error(["services", name, "healthcheck", "test"], `starts with '${kind}'; Docker takes [CMD, <program>, <args>...], [CMD-SHELL, <command>] or [NONE]. Write [CMD, ${test.join(", ")}], or give the command as one string.`);
  } else if (kind === "CMD-SHELL" && test.length !== 2) {
    out.error(["services", name, "healthcheck", "test"], `[CMD-SHELL, ...] takes exactly one command string; give it as one string.`);
  } else if (kind === "CMD" && test.length < 2) {
    out.error(["services", name, "healthcheck", "test"], `[CMD] needs a program to run: [CMD, <program>, <args>...].`);
  }
}
