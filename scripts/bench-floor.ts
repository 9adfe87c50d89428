// The SDK's floor for a synth: registers the resources of a `gpu-fleet synth --json` output again,
// with the same provider classes, the same inputs as plain values and the same parents, one host at a
// time, under plain mocks, and none of gpu-fleet's program, and prints the CPU time and peak RSS it
// took. What a synth costs beyond this is gpu-fleet's own work (docs/scale.md, "Where synth's time goes").
//
//   npx gpu-fleet synth -s <stack> --json > /tmp/synth.json    (or a bench stack, see scripts/bench.ts)
//   npx tsx scripts/bench-floor.ts /tmp/synth.json
//
// Not part of the tests: a measurement tool. Stack traces off, as synth has them (scripts/lib/synth.ts).
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as hcloud from "@pulumi/hcloud";
import * as tailscale from "@pulumi/tailscale";
import * as tls from "@pulumi/tls";

/** A resource as `gpu-fleet synth --json` prints it (the fields used here). */
interface Registered {
  readonly type: string;
  readonly name: string;
  readonly parent: string | null;
  readonly inputs: Inputs;
}

type Inputs = Record<string, unknown>;
type Make = (name: string, inputs: Inputs, opts: pulumi.CustomResourceOptions) => pulumi.Resource;

// The synth's inputs are the program's, read back as plain JSON: each class gets them as its own args.
const CLASSES: Readonly<Record<string, Make>> = {
  "command:remote:Command": (n, i, o) => new command.remote.Command(n, i as unknown as command.remote.CommandArgs, o),
  "command:remote:CopyToRemote": (n, i, o) => new command.remote.CopyToRemote(n, { ...(i as unknown as command.remote.CopyToRemoteArgs), source: new pulumi.asset.FileArchive("scripts/roles") }, o),
  "command:local:Command": (n, i, o) => new command.local.Command(n, i as unknown as command.local.CommandArgs, o),
  "docker:index/container:Container": (n, i, o) => new docker.Container(n, i as unknown as docker.ContainerArgs, o),
  "docker:index/remoteImage:RemoteImage": (n, i, o) => new docker.RemoteImage(n, i as unknown as docker.RemoteImageArgs, o),
  "pulumi:providers:docker": (n, i, o) => new docker.Provider(n, i as unknown as docker.ProviderArgs, o),
  "tailscale:index/tailnetKey:TailnetKey": (n, i, o) => new tailscale.TailnetKey(n, i as unknown as tailscale.TailnetKeyArgs, o),
  "tailscale:index/acl:Acl": (n, i, o) => new tailscale.Acl(n, i as unknown as tailscale.AclArgs, o),
  "tls:index/privateKey:PrivateKey": (n, i, o) => new tls.PrivateKey(n, i as unknown as tls.PrivateKeyArgs, o),
  "hcloud:index/server:Server": (n, i, o) => new hcloud.Server(n, i as unknown as hcloud.ServerArgs, o),
  "hcloud:index/firewall:Firewall": (n, i, o) => new hcloud.Firewall(n, i as unknown as hcloud.FirewallArgs, o),
  "hcloud:index/sshKey:SshKey": (n, i, o) => new hcloud.SshKey(n, i as unknown as hcloud.SshKeyArgs, o),
  "hcloud:index/placementGroup:PlacementGroup": (n, i, o) => new hcloud.PlacementGroup(n, i as unknown as hcloud.PlacementGroupArgs, o),
};

/** A component of the program (Host, HostSetup, Workers, ...): only its place in the tree matters here. */
class Component extends pulumi.ComponentResource {
  constructor(type: string, name: string, opts: pulumi.ComponentResourceOptions) {
    super(type, name, {}, opts);
  }
}

async function main(file: string): Promise<void> {
  // As synth runs (scripts/lib/synth.ts): the SDK captures a stack trace for every resource
  // (resource.js, Resource.callsites, which raises the limit itself); format none of it.
  Error.stackTraceLimit = 0;
  Error.prepareStackTrace = (error: Error) => `${error.name}: ${error.message}`;
  process.setSourceMapsEnabled(false);
  await pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.custom ? `${a.name}-id` : undefined, state: a.inputs }), call: (a) => a.inputs }, "gpu-fleet", "floor", true);
  const all = (JSON.parse(readFileSync(file, "utf8")) as { resources: Registered[] }).resources;
  const byName = new Map(all.map((r) => [r.name, r]));
  // A resource's host: its nearest gpu-fleet:index:Host ancestor (none: fleet-wide).
  const hostOf = (r: Registered): string | null => {
    for (let at: Registered | undefined = r; at !== undefined; at = at.parent === null ? undefined : byName.get(at.parent)) {
      if (at.type === "gpu-fleet:index:Host") return at.name;
    }
    return null;
  };
  const byHost = new Map<string | null, Registered[]>();
  for (const r of all) {
    const host = hostOf(r);
    const list = byHost.get(host);
    if (list === undefined) byHost.set(host, [r]);
    else list.push(r);
  }
  const made = new Map<string, pulumi.Resource>();
  const make = (r: Registered): pulumi.Resource => {
    const existing = made.get(r.name);
    if (existing !== undefined) return existing;
    const parentRecord = r.parent === null ? undefined : byName.get(r.parent);
    const parent = parentRecord === undefined ? undefined : make(parentRecord);
    const create = CLASSES[r.type];
    const resource = create === undefined ? new Component(r.type, r.name, { parent }) : create(r.name, r.inputs, { parent });
    made.set(r.name, resource);
    return resource;
  };
  const start = process.cpuUsage();
  for (const resources of byHost.values()) {
    for (const r of resources) make(r);
    // One host at a time, as the program registers them (components/Fleet.ts, registerInTurns).
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  // Until every registration has been answered (not in the SDK's typings: runtime/settings.js).
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> };
  await settings.waitForRPCs();
  const used = process.cpuUsage(start);
  const usage = process.resourceUsage();
  process.stdout.write(`${JSON.stringify({ resources: made.size, registrationCpuMs: Math.round((used.user + used.system) / 1000), totalCpuMs: Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000), peakRssMiB: Math.round(usage.maxRSS / 1024) })}\n`);
}

const [file] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write("usage: npx tsx scripts/bench-floor.ts <synth.json>  (from gpu-fleet synth --json)\n");
  process.exit(2);
}
void main(file);
