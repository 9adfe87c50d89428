// HetznerServer: a new Hetzner Cloud server (a CPU worker box) that joins the tailnet at first boot through
// cloud-init. Hetzner's GPU machines are dedicated Robot servers and join as SSH hosts; they are not created here.
// The cloud-init text comes from the pure renderer in core/cloud-init.ts. See docs/hetzner.md.

import * as pulumi from "@pulumi/pulumi";
import * as hcloud from "@pulumi/hcloud";
import * as tls from "@pulumi/tls";

import { coversWholeFamily, hcloudLabelProblems, parseCidr } from "./core/checks";
import { renderCloudInit, validateEnrollment } from "./core/cloud-init";

/** A server's identity (hcloudServerIdentity), with its placement group's id when it has one; a new value replaces it. */
export type ServerIdentity = pulumi.Input<string> | { readonly identity: string; readonly placementGroup: pulumi.Input<string> };

export interface HetznerServerArgs {
  /** Fleet host name = server name = tailnet hostname. */
  readonly hostName: string;
  /** e.g. ccx33. Changing it resizes the server in place (the provider powers it off and on). */
  readonly serverType: string;
  /** e.g. fsn1. Changing it replaces the server (a new one in the new location). */
  readonly location: string;
  /** e.g. debian-12; used when no snapshotSelector is given. Read at creation only (docs/hetzner.md). */
  readonly image: string;
  /** Boot from the newest snapshot with this label selector instead, e.g. `role=gpu-fleet-base`. Read at creation only. */
  readonly snapshotSelector?: string;
  /** Your labels; the fleet adds gpu-fleet/host and gpu-fleet/fleet (keys under gpu-fleet/ are reserved). */
  readonly labels: Readonly<Record<string, string>>;
  /** "<project>-<stack>", for labels and resource names. */
  readonly fleet: string;
  /** Hetzner delete and rebuild protection (both: the API wants them equal). */
  readonly deleteProtection: boolean;
  /**
   * An hcloud SSH key (id or name) installed for root at creation. Create it once per fleet with
   * `createFleetSshKey`: Hetzner refuses a second key with the same fingerprint in a project, so one key per server
   * fails from the second server on. Without a key Hetzner generates a root password (and e-mails it).
   */
  readonly sshKeyId?: pulumi.Input<string | number>;
  readonly firewall: {
    /** Inbound TCP 22 from these CIDRs only. Empty: no inbound SSH from the internet (SSH goes over the tailnet). */
    readonly sshSourceCidrs: readonly string[];
    /** Inbound UDP 41641 from anywhere, so peers behind hard NAT can connect directly. Not needed to work. */
    readonly tailscaleUdp: boolean;
  };
  /** A fleet-wide spread placement group (`createSpreadPlacementGroup`), id as string or number. */
  readonly placementGroupId?: pulumi.Input<string | number>;
  /**
   * What this server is (core/cloud-init.ts hcloudServerIdentity): a new value makes a new host key,
   * and the Fleet gives the tailnet key the same trigger, so a replaced server gets new ones of both.
   */
  readonly identity: ServerIdentity;
  readonly tailscale: {
    /** The host's single-use auth key, replaced with the server. Secret; it ends up in the user data, which is therefore secret too. */
    readonly authKey: pulumi.Input<string>;
    /** Tags the node requests; the key must carry them. */
    readonly tags: readonly string[];
  };
}

/** Label keys the fleet sets on everything it creates in Hetzner Cloud. */
export const FLEET_LABEL_HOST = "gpu-fleet/host";
export const FLEET_LABEL_FLEET = "gpu-fleet/fleet";
/** Tailscale's default WireGuard port. */
export const TAILSCALE_UDP_PORT = "41641";
/**
 * Server inputs whose changes are ignored. Root's SSH key (`sshKeys`, ForceNew) is only injected at creation: a new
 * fleet key must not replace every server at once. The engine substitutes the stored value of an ignored input
 * whenever the resource has state (pulumi/pulumi pkg/resource/deploy/step_generator.go, processIgnoreChanges), even
 * for a replacement, so `userData` and `image` are NOT ignored: a replaced server must boot with its new keys and
 * the image the config names. They change only with the server's identity (location, image or snapshot selector,
 * keyGeneration): the tailnet key never changes behind the program's back (recreateIfInvalid: never), and the
 * host key only with the identity. A snapshot selector resolves to an id at every run, so with one, `image` is
 * ignored too (a newer snapshot is for new servers).
 */
export function serverIgnoredInputs(snapshot: boolean): string[] {
  return snapshot ? ["sshKeys", "image"] : ["sshKeys"];
}

/**
 * Inputs the provider would update in place but that need a new server: hcloud's update of `placement_group_id`
 * refuses a running server (hetznercloud/terraform-provider-hcloud internal/server/resource.go, setPlacementGroup).
 */
export const SERVER_REPLACE_ON_CHANGES: readonly string[] = ["placementGroupId"];

export class HetznerServerError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`HetznerServer: ${problems.join("; ")}`);
    this.name = "HetznerServerError";
  }
}

export type FirewallRule = hcloud.types.input.FirewallRule;

/** The firewall's rules: none by default (Hetzner Cloud firewalls are stateful: no inbound rule drops all inbound). */
export function firewallRules(firewall: HetznerServerArgs["firewall"]): FirewallRule[] {
  const rules: FirewallRule[] = [];
  if (firewall.sshSourceCidrs.length > 0) {
    rules.push({ direction: "in", protocol: "tcp", port: "22", sourceIps: [...firewall.sshSourceCidrs], description: "SSH from admin networks" });
  }
  if (firewall.tailscaleUdp) {
    rules.push({ direction: "in", protocol: "udp", port: TAILSCALE_UDP_PORT, sourceIps: ["0.0.0.0/0", "::/0"], description: "Tailscale direct connections" });
  }
  return rules;
}

function cidrProblem(cidr: string): string | undefined {
  const parsed = parseCidr(cidr);
  if (typeof parsed === "string") return `firewall.sshSourceCidrs: ${parsed}`;
  if (parsed.prefix === 0) return `firewall.sshSourceCidrs: '${cidr}' opens SSH to the whole internet; list your admin networks (SSH over the tailnet needs no rule)`;
  return undefined;
}

/** Whether the networks leave some address of each family out (a set covering all is the same as /0). */
function coversNoWholeFamily(cidrs: readonly string[]): boolean {
  const parsed = cidrs.map(parseCidr).filter((c): c is Exclude<ReturnType<typeof parseCidr>, string> => typeof c !== "string");
  return !coversWholeFamily(parsed, 4) && !coversWholeFamily(parsed, 6);
}

/** What the component derives from its args without creating anything. */
export interface PreparedHetznerServer {
  /** Your labels plus the fleet's. */
  readonly labels: Record<string, string>;
  readonly firewallRules: FirewallRule[];
}

/** The pure half: validates (throwing HetznerServerError with every problem) and derives labels and rules. */
export function prepareHetznerServer(args: HetznerServerArgs): PreparedHetznerServer {
  const problems: string[] = [...validateEnrollment({ hostName: args.hostName, tags: args.tailscale.tags })];
  if (!args.serverType) problems.push("serverType: required, e.g. ccx33");
  if (!args.location) problems.push("location: required, e.g. fsn1");
  if (!args.image && args.snapshotSelector === undefined) problems.push("image: required unless snapshotSelector is given, e.g. debian-12");
  if (args.snapshotSelector !== undefined && args.snapshotSelector.trim() === "") problems.push("snapshotSelector: empty; leave it out to boot from image");
  for (const cidr of args.firewall.sshSourceCidrs) {
    const problem = cidrProblem(cidr);
    if (problem !== undefined) problems.push(problem);
  }
  // The same checks plan makes (core/checks.ts); the host label's value is the host name, validated above.
  problems.push(...hcloudLabelProblems(args.labels), ...hcloudLabelProblems({ [FLEET_LABEL_FLEET]: args.fleet }, true));
  // A set that covers everything is /0 too (reported above when one of them is /0 itself).
  if (!coversNoWholeFamily(args.firewall.sshSourceCidrs) && !problems.some((p) => p.includes("opens SSH to the whole internet"))) {
    problems.push("firewall.sshSourceCidrs: together they open SSH to the whole internet; list your admin networks");
  }
  const labels: Record<string, string> = { ...args.labels, [FLEET_LABEL_HOST]: args.hostName, [FLEET_LABEL_FLEET]: args.fleet };
  if (problems.length > 0) throw new HetznerServerError(problems);
  return { labels, firewallRules: firewallRules(args.firewall) };
}

/** Hetzner ids are integers; Pulumi ids are strings. */
export function toHcloudId(id: string | number): number {
  const n = typeof id === "number" ? id : Number(id);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`not a Hetzner Cloud id: '${String(id)}'`);
  return n;
}

export class HetznerServer extends pulumi.ComponentResource {
  readonly server: hcloud.Server;
  readonly firewall: hcloud.Firewall;
  /** The public IPv4 address (outbound internet; inbound only what the firewall allows). */
  readonly ipv4Address: pulumi.Output<string>;
  readonly ipv6Address: pulumi.Output<string>;
  /** The server's Hetzner id, as a number (the form hcloud inputs such as volumes and attachments take). */
  readonly serverId: pulumi.Output<number>;
  /** The rendered cloud-init user data, as the server was (or would be) created with it. Secret: it holds the auth key. */
  readonly userData: pulumi.Output<string>;
  /** The server's SSH host key, made here and installed by cloud-init; its private half is a secret in state. */
  readonly hostKey: tls.PrivateKey;
  /** `ssh-ed25519 AAAA...`: what every connection to this server pins. */
  readonly hostPublicKey: pulumi.Output<string>;

  constructor(name: string, args: HetznerServerArgs, opts?: pulumi.ComponentResourceOptions) {
    // Pure work first: every input problem is reported before any resource, this one included, exists.
    const prepared = prepareHetznerServer(args);
    super("gpu-fleet:index:HetznerServer", name, {}, opts);

    this.firewall = new hcloud.Firewall(
      `${name}-firewall`,
      { name: `${args.fleet}-${args.hostName}`, labels: prepared.labels, rules: prepared.firewallRules },
      { parent: this },
    );

    const image: pulumi.Input<string> =
      args.snapshotSelector !== undefined
        ? hcloud
            .getImageOutput(
              // The fleet's worker images are amd64, and only finished snapshots can boot a server.
              { withSelector: args.snapshotSelector, mostRecent: true, withArchitecture: "x86", withStatuses: ["available"] },
              { parent: this },
            )
            .apply((found) => {
              if (found.id === undefined) throw new Error(`${args.hostName}: no snapshot matches '${args.snapshotSelector ?? ""}'`);
              return String(found.id);
            })
        : args.image;

    // A new host key with every new server (same identity as the server's replacing inputs).
    this.hostKey = new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, { parent: this, replacementTrigger: args.identity });
    this.hostPublicKey = this.hostKey.publicKeyOpenssh.apply((k) => k.trim());

    const tags = args.tailscale.tags;
    // Derived from the (secret) keys, so secret already; wrapped again so that stays true even for a plain-string key.
    this.userData = pulumi.secret(
      pulumi
        .all([args.tailscale.authKey, this.hostKey.privateKeyOpenssh, this.hostPublicKey])
        .apply(([authKey, privateKey, publicKey]) => renderCloudInit({ hostName: args.hostName, tags, authKey, sshHostKey: { privateKey, publicKey } })),
    );

    this.server = new hcloud.Server(
      `${name}-server`,
      {
        name: args.hostName,
        serverType: args.serverType,
        location: args.location,
        image,
        labels: prepared.labels,
        sshKeys: args.sshKeyId !== undefined ? [pulumi.output(args.sshKeyId).apply(String)] : undefined,
        placementGroupId: args.placementGroupId !== undefined ? pulumi.output(args.placementGroupId).apply(toHcloudId) : undefined,
        // Attached in the create call: the server is never reachable without it.
        firewallIds: [this.firewall.id.apply(toHcloudId)],
        publicNets: [{ ipv4Enabled: true, ipv6Enabled: true }],
        deleteProtection: args.deleteProtection,
        rebuildProtection: args.deleteProtection,
        // A last resort: the containers have already drained (their deletes run before the server's, Host.ts);
        // this shuts the OS down cleanly before Hetzner deletes the server.
        shutdownBeforeDeletion: true,
        userData: this.userData,
      },
      {
        parent: this,
        ignoreChanges: serverIgnoredInputs(args.snapshotSelector !== undefined),
        replaceOnChanges: [...SERVER_REPLACE_ON_CHANGES],
        // The server name (= host name) is unique in the Hetzner project: a replacement (e.g. a new location)
        // can only be created once the old server is gone.
        deleteBeforeReplace: true,
      },
    );

    this.ipv4Address = this.server.ipv4Address;
    this.ipv6Address = this.server.ipv6Address;
    this.serverId = this.server.id.apply(toHcloudId);

    this.registerOutputs({
      ipv4Address: this.ipv4Address,
      ipv6Address: this.ipv6Address,
      serverId: this.serverId,
      firewallId: this.firewall.id,
      hostPublicKey: this.hostPublicKey,
    });
  }
}

/** The fleet's root SSH key in Hetzner Cloud, created once and passed to every server as `sshKeyId: key.id`. */
export function createFleetSshKey(
  name: string,
  args: { readonly fleet: string; readonly publicKey: pulumi.Input<string> },
  opts?: pulumi.CustomResourceOptions,
): hcloud.SshKey {
  return new hcloud.SshKey(name, { name: `${args.fleet}-root`, publicKey: args.publicKey, labels: { [FLEET_LABEL_FLEET]: args.fleet } }, opts);
}

/**
 * A spread placement group: its servers run on different physical hosts. Created once per fleet; pass its `id` as
 * `placementGroupId`. Holds at most HCLOUD_SPREAD_GROUP_MAX_SERVERS servers (the planner enforces it).
 */
export function createSpreadPlacementGroup(
  name: string,
  args: { readonly fleet: string },
  opts?: pulumi.CustomResourceOptions,
): hcloud.PlacementGroup {
  return new hcloud.PlacementGroup(name, { name: `${args.fleet}-spread`, type: "spread", labels: { [FLEET_LABEL_FLEET]: args.fleet } }, opts);
}
