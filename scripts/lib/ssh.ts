// SSH from the runner to a fleet host, for the commands that look at hosts (status, keyscan, ...).
// Always the system OpenSSH client, always against pinned host keys: the keys come in as parsed
// known_hosts entries, are written to a private known_hosts file under a per-host alias, and ssh runs
// with StrictHostKeyChecking=yes, so an unknown or changed key fails the connection. No password
// prompts (BatchMode), a connect timeout and a hard deadline, so a down host fails alone and fast.
// The private key is the runner's: its ssh-agent or ~/.ssh config, or --identity; never a secret
// of the stack (those stay in Pulumi).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One public host key, as in a known_hosts line: `ssh-ed25519 AAAA...`. */
export interface KnownHostKey {
  readonly type: string;
  readonly key: string;
}

/** Where and as whom to connect, and the keys the host (and its jump host) must present. */
export interface SshTarget {
  /** The fleet's name for the host, for messages and the known_hosts alias. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** Accepted host keys; none means the connection is refused before it starts (fail closed). */
  readonly hostKeys: readonly KnownHostKey[];
  readonly jump?: Omit<SshTarget, "jump">;
}

export interface SshOptions {
  /** Seconds for the TCP connect and the key exchange. */
  readonly connectTimeoutSeconds: number;
  /** Hard deadline for the whole session, in milliseconds. */
  readonly deadlineMs: number;
  /** A private key file (ssh -i); otherwise the runner's agent and ssh config choose. */
  readonly identityFile?: string;
  /** An ssh_config file (ssh -F), e.g. for a ProxyCommand; the host key options here still win. */
  readonly configFile?: string;
}

export interface SshResult {
  /** ssh's exit code (255: ssh itself failed), or null when the deadline killed it. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

const KEY_TYPES = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** The keys of known_hosts text or of bare `type key` lines; markers (@revoked ...) and comments are skipped. */
export function parseKnownHosts(text: string): { hosts: string[]; key: KnownHostKey }[] {
  const entries: { hosts: string[]; key: KnownHostKey }[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("@")) continue;
    const words = line.split(/\s+/);
    // `type key [comment]` (a bare key) or `hosts type key [comment]` (a known_hosts line).
    const at = KEY_TYPES.test(words[0] ?? "") ? 0 : KEY_TYPES.test(words[1] ?? "") ? 1 : -1;
    if (at < 0 || words[at + 1] === undefined) continue;
    entries.push({ hosts: at === 1 ? (words[0] ?? "").split(",") : [], key: { type: words[at] ?? "", key: words[at + 1] ?? "" } });
  }
  return entries;
}

/** The known_hosts alias a target's keys are pinned under: independent of address and port. */
function alias(target: { name: string }, role: "host" | "jump"): string {
  return `gpu-fleet-${role}-${target.name.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
}

/** `-o` options that make ssh check the pinned key only, never ask, never wait long. */
function strictOptions(knownHostsFile: string, hostAlias: string, options: SshOptions): string[] {
  const o = (setting: string): string[] => ["-o", setting];
  return [
    ...o("BatchMode=yes"),
    ...o("StrictHostKeyChecking=yes"),
    ...o(`UserKnownHostsFile=${knownHostsFile}`),
    ...o("GlobalKnownHostsFile=/dev/null"),
    ...o(`HostKeyAlias=${hostAlias}`),
    ...o("UpdateHostKeys=no"),
    ...o(`ConnectTimeout=${options.connectTimeoutSeconds}`),
    ...o("ServerAliveInterval=5"),
    ...o("ServerAliveCountMax=2"),
    ...o("LogLevel=ERROR"),
    ...(options.identityFile === undefined ? [] : ["-i", options.identityFile, ...o("IdentitiesOnly=yes")]),
    ...(options.configFile === undefined ? [] : ["-F", options.configFile]),
  ];
}

/** One word for a POSIX shell, in single quotes. */
export function shellWord(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The ssh argv (without the remote command) for a target, and the known_hosts text it relies on. */
export function sshArgs(target: SshTarget, knownHostsFile: string, options: SshOptions): { args: string[]; knownHosts: string } {
  const lines = target.hostKeys.map((k) => `${alias(target, "host")} ${k.type} ${k.key}`);
  const args = [...strictOptions(knownHostsFile, alias(target, "host"), options), "-p", String(target.port), "-l", target.user];
  if (target.jump !== undefined) {
    const jump = target.jump;
    lines.push(...jump.hostKeys.map((k) => `${alias(jump, "jump")} ${k.type} ${k.key}`));
    // ProxyCommand, not ProxyJump: the jump's ssh must get the same strict options, which ProxyJump does not pass on.
    const inner = ["ssh", ...strictOptions(knownHostsFile, alias(jump, "jump"), options), "-p", String(jump.port), "-l", jump.user, "-W", "%h:%p", jump.address];
    args.push("-o", `ProxyCommand=${inner.map(shellWord).join(" ")}`);
  }
  args.push(target.address);
  return { args, knownHosts: `${lines.join("\n")}\n` };
}

/**
 * Runs `script` with bash on the target (sent on stdin, so nothing of it shows in a process list),
 * with `args` as its positional parameters. Never throws for a failed connection: see SshResult.
 */
export async function runOverSsh(target: SshTarget, script: string, args: readonly string[], options: SshOptions): Promise<SshResult> {
  const missing = [target, ...(target.jump === undefined ? [] : [target.jump])].find((t) => t.hostKeys.length === 0);
  if (missing !== undefined) {
    return { code: 255, stdout: "", stderr: `no pinned host key for ${missing.name}: pin its ssh.hostKey (gpu-fleet keyscan prints it), or pass its key with --known-hosts`, timedOut: false };
  }
  const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-ssh-"));
  try {
    const knownHostsFile = join(dir, "known_hosts");
    const { args: sshArgv, knownHosts } = sshArgs(target, knownHostsFile, options);
    writeFileSync(knownHostsFile, knownHosts, { mode: 0o600 });
    const remote = ["bash", "-s", "--", ...args].map(shellWord).join(" ");
    return await new Promise<SshResult>((resolve) => {
      const child = spawn("ssh", [...sshArgv, remote], { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, options.deadlineMs);
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.stdin.on("error", () => undefined);
      child.on("error", (error) => {
        clearTimeout(timer);
        resolve({ code: 255, stdout, stderr: `cannot run ssh: ${error.message}`, timedOut });
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code: timedOut ? null : code, stdout, stderr, timedOut });
      });
      child.stdin.end(script);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The one-line reason an SSH session failed, from ssh's own stderr. */
export function sshFailure(result: SshResult, deadlineMs: number): string {
  if (result.timedOut) return `no answer within ${Math.round(deadlineMs / 1000)} s`;
  const lines = result.stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("**") && !l.startsWith("Warning: Permanently"));
  const hostKey = lines.find((l) => /host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(l));
  if (hostKey !== undefined) return "host key verification failed: the host did not present its pinned ssh.hostKey";
  return lines[lines.length - 1] ?? `ssh exited ${String(result.code)}`;
}
