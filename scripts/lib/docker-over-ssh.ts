// The docker CLI on a fleet host over SSH, with the host key the stack pins. Docker's ssh transport
// (DOCKER_HOST=ssh://…) runs `ssh … <host> docker system dial-stdio` with whatever `ssh` is first on
// PATH (docker/cli cli/connhelper/ssh), and takes no ssh options of its own: so a private `ssh` on
// PATH runs the real one with our strict options (scripts/lib/ssh.ts: only the pinned keys,
// BatchMode, short timeouts, a jump host with the same) and ignores the arguments docker adds.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { spawnSync } from "node:child_process";
import { shellWord, sshArgs, type SshOptions, type SshTarget } from "./ssh";

export interface DockerOverSsh {
  /** The environment to run `docker` in: DOCKER_HOST and PATH set, the rest as given. */
  readonly env: NodeJS.ProcessEnv;
  /** Removes the private ssh and known_hosts files. */
  readonly cleanup: () => void;
}

/** The real ssh on PATH, before ours is put in front of it. */
function realSsh(env: NodeJS.ProcessEnv): string {
  const found = spawnSync("sh", ["-c", "command -v ssh"], { env, encoding: "utf8" });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === "") throw new Error("ssh is not installed on this machine (Debian: apt-get install openssh-client)");
  return path;
}

/** The text of the private `ssh`: the real one, pinned to the target, running docker's stdio bridge. */
export function sshShim(ssh: string, target: SshTarget, knownHostsFile: string, options: SshOptions): { script: string; knownHosts: string } {
  if (target.hostKeys.length === 0) throw new Error(`${target.name}: no pinned host key to check it against; pin ssh.hostKey in the stack or pass --known-hosts`);
  const { args, knownHosts } = sshArgs(target, knownHostsFile, options);
  const words = [ssh, ...args, "docker", "system", "dial-stdio"].map(shellWord).join(" ");
  return { script: `#!/bin/sh\n# gpu-fleet: docker's ssh transport to ${target.name}, with its pinned host key; docker's own arguments are ignored.\nexec ${words}\n`, knownHosts };
}

export function dockerOverSsh(target: SshTarget, options: SshOptions, base: NodeJS.ProcessEnv = process.env): DockerOverSsh {
  const ssh = realSsh(base);
  const dir = mkdtempSync(join(tmpdir(), "gpu-fleet-docker-ssh-"));
  try {
    const knownHostsFile = join(dir, "known_hosts");
    const { script, knownHosts } = sshShim(ssh, target, knownHostsFile, options);
    writeFileSync(knownHostsFile, knownHosts, { mode: 0o600 });
    writeFileSync(join(dir, "ssh"), script, { mode: 0o700 });
    chmodSync(join(dir, "ssh"), 0o700);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    // The URL only has to parse: the private ssh decides where it goes.
    env: { ...base, PATH: `${dir}${delimiter}${base.PATH ?? ""}`, DOCKER_HOST: `ssh://${target.user}@${target.name}` },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The SSH options of `check-image --host` and `tune`, as `gpu-fleet status` takes them. */
export interface RemoteOptions {
  readonly via: "tailnet" | "address";
  readonly identity?: string;
  readonly sshConfig?: string;
  /** known_hosts lines for hosts the stack pins no key for (Hetzner Cloud servers). */
  readonly knownHosts?: string;
}

/** The usage lines of those options, one text for both commands. */
export const REMOTE_USAGE = `  --via          tailnet (default) or address: reach the host by its tailnet name or ssh.address
  -i             a private key file for SSH (default: the runner's agent and ssh config)
  --ssh-config   an ssh_config file (ssh -F), e.g. for a ProxyCommand
  --known-hosts  a known_hosts file with the keys of hosts the stack does not pin (Hetzner Cloud servers)`;

/** Reads those options; throws a message for a bad --via. */
export function remoteOptions(options: ReadonlyMap<string, string>): RemoteOptions | string {
  const via = options.get("--via") ?? "tailnet";
  if (via !== "tailnet" && via !== "address") return `--via '${via}' is not tailnet or address`;
  return { via, identity: options.get("-i"), sshConfig: options.get("--ssh-config"), knownHosts: options.get("--known-hosts") };
}

/**
 * Points this process's docker CLI at the host over SSH (DOCKER_HOST and PATH in process.env, which
 * every docker call of the contract bench reads), or says why it cannot. The caller runs cleanup().
 */
export function useHostDocker(target: SshTarget | string, options: RemoteOptions): DockerOverSsh | string {
  if (typeof target === "string") return target;
  try {
    const transport = dockerOverSsh(target, { connectTimeoutSeconds: 10, deadlineMs: 0, identityFile: options.identity, configFile: options.sshConfig });
    process.env.DOCKER_HOST = transport.env.DOCKER_HOST;
    process.env.PATH = transport.env.PATH;
    return transport;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
