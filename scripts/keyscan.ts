// gpu-fleet keyscan [-s] <stack> <host> [--jump] [--timeout <seconds>] (npm run keyscan -- <stack> <host>)
// Asks an SSH host for its public host keys (ssh-keyscan), prints each with its SHA256 fingerprint
// (as `ssh-keygen -lf` prints it) to compare out of band, and the hostKey YAML to paste.

import { execFile } from "node:child_process";
import { relative } from "node:path";
import { addressProblem } from "../components/core/checks";
import { keygenLine, parseHostKeyLine, type PinnedHostKey } from "../components/core/ssh-keys";
import { loadStack, REPO_ROOT, UsageError } from "./lib/stack";

export const USAGE = `usage: gpu-fleet keyscan [-s] <stack> <host> [--jump] [--timeout <seconds>]
       npm run keyscan -- <stack> <host> [--jump] [--timeout <seconds>]

Reads hosts.<host>.ssh (address, port) from the stack, asks that address for its SSH host keys with
ssh-keyscan, and prints each key's SHA256 fingerprint and the hostKey to paste into the stack.
Compare the fingerprints with the machine's own (on its console: ssh-keygen -lf
/etc/ssh/ssh_host_ed25519_key.pub) before you paste: ssh-keyscan trusts whatever answers.
  --jump        scan the host's ssh.jumpHost instead
  --timeout N   seconds to wait for the host (default 10)`;

const TYPE_ORDER = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];

interface Endpoint {
  readonly address: string;
  readonly port: number;
  /** Config path of the endpoint, e.g. hosts.box-1.ssh. */
  readonly path: string;
}

/** Runs ssh-keyscan; resolves with its stdout and stderr, never throws on a non-zero exit. */
function sshKeyscan(endpoint: Endpoint, timeoutSeconds: number): Promise<{ stdout: string; stderr: string; error?: string }> {
  const args = ["-T", String(timeoutSeconds), "-p", String(endpoint.port), "-t", "ed25519,ecdsa,rsa", "--", endpoint.address];
  return new Promise((resolve) => {
    execFile("ssh-keyscan", args, { timeout: (timeoutSeconds + 5) * 1000, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = (error as NodeJS.ErrnoException | null)?.code;
      resolve({ stdout, stderr, error: code === "ENOENT" ? "ssh-keyscan is not installed (apt-get install openssh-client)" : error?.killed ? `ssh-keyscan did not finish within ${timeoutSeconds + 5}s` : undefined });
    });
  });
}

function endpointOf(stackName: string, hosts: unknown, host: string, jump: boolean): Endpoint {
  const entry = typeof hosts === "object" && hosts !== null ? (hosts as Record<string, unknown>)[host] : undefined;
  if (typeof entry !== "object" || entry === null) throw new UsageError(`stack ${stackName} has no host '${host}'.`);
  const ssh = (entry as { ssh?: unknown }).ssh;
  if (typeof ssh !== "object" || ssh === null) throw new UsageError(`hosts.${host} has no ssh: keyscan is for SSH hosts (Hetzner Cloud servers get their key from the program).`);
  const target = jump ? (ssh as { jumpHost?: unknown }).jumpHost : ssh;
  if (typeof target !== "object" || target === null) throw new UsageError(`hosts.${host}.ssh has no jumpHost.`);
  const { address, port } = target as { address?: unknown; port?: unknown };
  const path = `hosts.${host}.ssh${jump ? ".jumpHost" : ""}`;
  if (typeof address !== "string") throw new UsageError(`${path}.address is missing.`);
  const problem = addressProblem(address);
  if (problem !== undefined) throw new UsageError(`${path}.address: ${problem}.`);
  const portNumber = port === undefined ? 22 : port;
  if (typeof portNumber !== "number" || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) throw new UsageError(`${path}.port must be a TCP port.`);
  return { address, port: portNumber, path };
}

export async function run(argv: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    out(`${USAGE}\n`);
    return 0;
  }
  const positional: string[] = [];
  let jump = false;
  let timeout = 10;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--jump") jump = true;
    else if (arg === "-s" || arg === "--stack") {
      const stack = argv[++i];
      if (stack === undefined) throw new UsageError(`${arg} takes a stack name\n${USAGE}`);
      positional.unshift(stack);
    }
    else if (arg === "--timeout") {
      timeout = Number(argv[++i]);
      if (!Number.isInteger(timeout) || timeout < 1 || timeout > 600) throw new UsageError(`--timeout takes whole seconds from 1 to 600\n${USAGE}`);
    } else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}\n${USAGE}`);
    else positional.push(arg);
  }
  if (positional.length !== 2) throw new UsageError(`name a stack and a host\n${USAGE}`);
  const [stackArg, host] = positional;
  const stack = loadStack(stackArg);
  const endpoint = endpointOf(stack.name, stack.document.values.hosts, host, jump);

  const scan = await sshKeyscan(endpoint, timeout);
  if (scan.error !== undefined) {
    process.stderr.write(`keyscan: ${scan.error}\n`);
    return 1;
  }
  const keys: PinnedHostKey[] = [];
  for (const line of scan.stdout.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const key = parseHostKeyLine(line);
    // A key that does not decode is not pinned; say so rather than print it.
    if (typeof key === "string") process.stderr.write(`keyscan: skipped a line from ${endpoint.address}: ${key}\n`);
    else keys.push(key);
  }
  if (keys.length === 0) {
    const said = scan.stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#")).join("; ");
    process.stderr.write(`keyscan: no host key from ${endpoint.address} port ${endpoint.port}${said ? ` (ssh-keyscan: ${said})` : ""}. Is sshd listening there, and is the address right in ${endpoint.path}?\n`);
    return 1;
  }
  keys.sort((a, b) => TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type));
  const label = endpoint.port === 22 ? endpoint.address : `[${endpoint.address}]:${endpoint.port}`;
  const lines = keys.map((k) => `${k.hosts.join(",") || label} ${k.type} ${k.base64}`);
  out(`${endpoint.path}: ${endpoint.address} port ${endpoint.port} answered with ${keys.length} host key${keys.length === 1 ? "" : "s"}:\n\n`);
  for (const key of keys) out(`  ${keygenLine(key, key.hosts.join(",") || label)}\n`);
  out(
    `\nssh-keyscan trusts whatever answered. Compare these fingerprints with the machine's own, read out of band\n` +
      `(its console, or the provider's rescue or KVM console):\n\n  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\n\n` +
      `Only if they match, set this under ${endpoint.path} in ${relative(REPO_ROOT, stack.path) || stack.path}:\n\n`,
  );
  out(`hostKey:\n${lines.map((l) => `  - "${l}"`).join("\n")}\n`);
  return 0;
}

if (require.main === module) void import("../cli/main").then((cli) => cli.runAsScript("keyscan"));
