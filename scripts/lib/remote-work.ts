// What a `pulumi up` does on each host over SSH, counted from a synth: how many SSH sessions the
// runner opens and how many commands run on the host. Pure. See docs/scale.md for the rules.
//
// - remote.Command (roles and each container's health gate): the provider dials one SSH connection
//   per operation and runs one command
//   (@pulumi/command 1.2.1, provider/pkg/provider/remote/commandOutputs.go: Dial, then NewSession).
// - remote.CopyToRemote: one SSH connection, an SFTP session, no command.
// - The reboot wait (local.Command running scripts/await-reboot.sh) is a no-op unless the driver
//   role scheduled a reboot; then at least one ssh poll for the new boot id and one settle command.
// - Docker: every image pull and container operation of a host goes through one shared ssh
//   connection (ControlMaster in the provider's sshOpts); those are Docker API calls, not commands.

import type { SynthResource } from "./synth";

export interface RemoteWork {
  /** SSH sessions the runner opens to the host (the Docker connection counts once). */
  readonly sshSessions: number;
  /** Shell commands run on the host. */
  readonly remoteCommands: number;
  /** Docker API operations (image pulls, container creates), over the shared connection. */
  readonly dockerOperations: number;
  /** Extra SSH sessions and commands if the driver install reboots the host (at least this many). */
  readonly ifRebooted: { readonly sshSessions: number; readonly remoteCommands: number };
}

const NONE: RemoteWork = { sshSessions: 0, remoteCommands: 0, dockerOperations: 0, ifRebooted: { sshSessions: 0, remoteCommands: 0 } };

/** Remote work per host for creating (or changing) the given resources. Hosts without work are absent. */
export function remoteWork(resources: readonly SynthResource[]): Map<string, RemoteWork> {
  const byHost = new Map<string, { sessions: number; commands: number; docker: number; reboots: number }>();
  for (const r of resources) {
    if (r.host === null) continue;
    const w = byHost.get(r.host) ?? { sessions: 0, commands: 0, docker: 0, reboots: 0 };
    byHost.set(r.host, w);
    switch (r.type) {
      case "command:remote:Command":
        w.sessions += 1;
        w.commands += 1;
        break;
      case "command:remote:CopyToRemote":
        w.sessions += 1;
        break;
      case "command:local:Command":
        w.reboots += 1;
        break;
      case "docker:index/remoteImage:RemoteImage":
      case "docker:index/container:Container":
        w.docker += 1;
        break;
      default:
        break;
    }
  }
  const out = new Map<string, RemoteWork>();
  for (const [host, w] of byHost) {
    if (w.sessions + w.docker + w.reboots === 0) continue;
    out.set(host, {
      // The Docker provider's ssh connection is shared by all of the host's Docker operations.
      sshSessions: w.sessions + (w.docker > 0 ? 1 : 0),
      remoteCommands: w.commands,
      dockerOperations: w.docker,
      ifRebooted: { sshSessions: 2 * w.reboots, remoteCommands: w.reboots },
    });
  }
  return out;
}

/** The sum over hosts. */
export function totalRemoteWork(work: ReadonlyMap<string, RemoteWork>): RemoteWork {
  let total = NONE;
  for (const w of work.values()) {
    total = {
      sshSessions: total.sshSessions + w.sshSessions,
      remoteCommands: total.remoteCommands + w.remoteCommands,
      dockerOperations: total.dockerOperations + w.dockerOperations,
      ifRebooted: { sshSessions: total.ifRebooted.sshSessions + w.ifRebooted.sshSessions, remoteCommands: total.ifRebooted.remoteCommands + w.ifRebooted.remoteCommands },
    };
  }
  return total;
}
