// How the runner reaches a fleet host over SSH, with the host keys it must present: for
// `gpu-fleet status`, `check-image --host` and `tune`.

import type { HostPlan } from "../../components/core/planner";
import type { FleetSpec } from "../../components/core/schema";
import type { HostKeySetting } from "../../components/core/ssh-keys";
import { parseKnownHosts, type KnownHostKey, type SshTarget } from "./ssh";

/** How to reach a host, or why it cannot be reached. */
export function targetOf(host: HostPlan, spec: FleetSpec, extraKeys: ReturnType<typeof parseKnownHosts>, via: "tailnet" | "address"): SshTarget | string {
  const ssh = spec.hosts[host.name]?.ssh;
  const keysFor = (names: string[], pinned: HostKeySetting | undefined): KnownHostKey[] => [
    ...pinnedKeys(pinned),
    ...extraKeys.filter((e) => e.hosts.some((h) => names.includes(h) || names.some((n) => h === `[${n}]:22`))).map((e) => e.key),
  ];
  if (via === "address") {
    if (ssh === undefined) return `has no address in the stack (${host.kind === "hcloud" ? "Hetzner assigns it" : "it joins by itself"}); use --via tailnet`;
    const jump = ssh.jumpHost;
    return {
      name: host.name,
      address: ssh.address,
      port: ssh.port,
      user: ssh.user,
      hostKeys: keysFor([host.name, ssh.address], ssh.hostKey),
      jump: jump === undefined ? undefined : { name: `${host.name}-jump`, address: jump.address, port: jump.port, user: jump.user, hostKeys: keysFor([jump.address], jump.hostKey) },
    };
  }
  // On the tailnet the host is its MagicDNS name, with the same host key.
  return { name: host.name, address: host.name, port: ssh?.port ?? 22, user: ssh?.user ?? "root", hostKeys: keysFor([host.name, ...(ssh ? [ssh.address] : [])], ssh?.hostKey) };
}

/** The keys the stack pins (ssh.hostKey); trust-on-first-use pins none, so status will not connect. */
function pinnedKeys(setting: HostKeySetting | undefined): KnownHostKey[] {
  return setting?.mode === "pinned" ? setting.keys.map((k) => ({ type: k.type, key: k.base64 })) : [];
}

