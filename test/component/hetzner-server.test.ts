import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

import { installPulumiMocks, isSecretValue, resolveOutput, type RecordedResource } from "../support/pulumi-mocks";
import type * as HetznerModule from "../../components/HetznerServer";
import { fakeAuthKey } from "../support/fixtures";

const SNAPSHOT_ID = 424242;
const GET_IMAGE = "hcloud:index/getImage:getImage";

const mocks = installPulumiMocks({
  project: "gpu-fleet",
  stack: "test",
  calls: {
    [GET_IMAGE]: (args) => ({ ...(args.inputs as Record<string, unknown>), id: SNAPSHOT_ID, type: "snapshot", labels: { role: "base" } }),
  },
});

const SERVER = "hcloud:index/server:Server";
const FIREWALL = "hcloud:index/firewall:Firewall";
const COMPONENT = "gpu-fleet:index:HetznerServer";
const KEY = fakeAuthKey("XXXX");

let mod: typeof HetznerModule;
let plain: HetznerModule.HetznerServer;
let fromSnapshot: HetznerModule.HetznerServer;
let plainStringKey: HetznerModule.HetznerServer;

function baseArgs(overrides: Partial<HetznerModule.HetznerServerArgs> = {}): HetznerModule.HetznerServerArgs {
  return {
    hostName: "cpu-1",
    serverType: "ccx33",
    location: "fsn1",
    image: "debian-12",
    labels: { team: "ml" },
    fleet: "gpu-fleet-test",
    deleteProtection: false,
    firewall: { sshSourceCidrs: [], tailscaleUdp: false },
    identity: "location=fsn1 image=debian-12",
    tailscale: { authKey: pulumi.secret(KEY), tags: ["tag:gpu-worker", "tag:cpu"] },
    ...overrides,
  };
}

function childrenOf(componentName: string): RecordedResource[] {
  const component = mocks.named(componentName);
  return mocks.resources.filter((r) => r.parentUrn !== undefined && r.parentUrn === component.urn);
}

interface Rule {
  direction: string;
  protocol: string;
  port?: string;
  sourceIps?: string[];
}
const rulesOf = (name: string): Rule[] => (mocks.named(name).inputs.rules as Rule[] | undefined) ?? [];

before(async () => {
  mod = await import("../../components/HetznerServer");
  const group = mod.createSpreadPlacementGroup("spread", { fleet: "gpu-fleet-test" });
  const sshKey = mod.createFleetSshKey("root-key", { fleet: "gpu-fleet-test", publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake ops" });
  plain = new mod.HetznerServer("plain", baseArgs({ deleteProtection: true, placementGroupId: group.id, sshKeyId: sshKey.id }));
  new mod.HetznerServer("ssh", baseArgs({ hostName: "cpu-2", firewall: { sshSourceCidrs: ["198.51.100.0/24", "2001:db8::/48"], tailscaleUdp: false } }));
  new mod.HetznerServer("udp", baseArgs({ hostName: "cpu-3", firewall: { sshSourceCidrs: [], tailscaleUdp: true } }));
  fromSnapshot = new mod.HetznerServer("snap", baseArgs({ hostName: "cpu-4", snapshotSelector: "role=gpu-fleet-base" }));
  plainStringKey = new mod.HetznerServer("plainkey", baseArgs({ hostName: "cpu-5", tailscale: { authKey: KEY, tags: ["tag:gpu-worker"] } }));
  // Same as "plain" but for the auth key (a rotated key).
  new mod.HetznerServer("rotated", baseArgs({ deleteProtection: true, placementGroupId: group.id, sshKeyId: sshKey.id, tailscale: { authKey: pulumi.secret(fakeAuthKey("NEWKEY")), tags: ["tag:gpu-worker", "tag:cpu"] } }));
  await mocks.settle();
});

describe("HetznerServer resources", () => {
  it("registers the component with its type token, and a firewall, a host key and a server under it", () => {
    const component = mocks.named("plain");
    assert.equal(component.type, COMPONENT);
    assert.equal(component.custom, false);
    assert.deepEqual(
      childrenOf("plain").map((r) => `${r.type} ${r.name}`).sort(),
      [`${FIREWALL} plain-firewall`, `${SERVER} plain-server`, `tls:index/privateKey:PrivateKey plain-host-key`],
    );
  });

  it("creates the server with name, type, location, image, public IPv4 and IPv6, and both protections", () => {
    const server = mocks.named("plain-server").inputs;
    assert.equal(server.name, "cpu-1");
    assert.equal(server.serverType, "ccx33");
    assert.equal(server.location, "fsn1");
    assert.equal(server.image, "debian-12");
    assert.deepEqual(server.publicNets, [{ ipv4Enabled: true, ipv6Enabled: true }]);
    assert.equal(server.deleteProtection, true);
    assert.equal(server.rebuildProtection, true);
    const unprotected = mocks.named("ssh-server").inputs;
    assert.equal(unprotected.deleteProtection, false);
    assert.equal(unprotected.rebuildProtection, false);
  });

  it("labels the server and the firewall with the caller's labels and the fleet's", () => {
    const expected = { team: "ml", "gpu-fleet/host": "cpu-1", "gpu-fleet/fleet": "gpu-fleet-test" };
    assert.deepEqual(mocks.named("plain-server").inputs.labels, expected);
    assert.deepEqual(mocks.named("plain-firewall").inputs.labels, expected);
  });

  it("attaches the firewall by numeric id, and passes the placement group and SSH key", () => {
    const server = mocks.named("plain-server");
    const firewall = mocks.named("plain-firewall");
    assert.deepEqual(server.inputs.firewallIds, [Number(firewall.id)]);
    assert.equal(server.inputs.placementGroupId, Number(mocks.named("spread").id));
    assert.deepEqual(server.inputs.sshKeys, [mocks.named("root-key").id]);
    assert.equal(mocks.named("ssh-server").inputs.sshKeys, undefined);
    assert.equal(mocks.named("ssh-server").inputs.placementGroupId, undefined);
  });

  it("exposes the server, its addresses and its numeric id", async () => {
    assert.equal((await resolveOutput(plain.serverId)).value, Number(mocks.named("plain-server").id));
    assert.match((await resolveOutput(plain.ipv4Address)).value, /^192\.0\.2\.\d+$/);
    assert.match((await resolveOutput(plain.ipv6Address)).value, /^2001:db8::/);
    assert.equal((await resolveOutput(plain.firewall.id)).value, mocks.named("plain-firewall").id);
    assert.equal((await resolveOutput(plain.server.name)).value, "cpu-1");
  });

  it("creates the fleet-wide helpers: a spread placement group and one SSH key", () => {
    assert.deepEqual(mocks.named("spread").inputs, { name: "gpu-fleet-test-spread", type: "spread", labels: { "gpu-fleet/fleet": "gpu-fleet-test" } });
    assert.equal(mocks.named("root-key").inputs.name, "gpu-fleet-test-root");
  });
});

describe("HetznerServer firewall", () => {
  it("has no inbound rule at all by default (stateful: everything inbound is dropped)", () => {
    assert.deepEqual(rulesOf("plain-firewall"), []);
    assert.ok(!rulesOf("plain-firewall").some((r) => r.direction === "in" && r.protocol === "tcp"));
  });

  it("opens TCP 22 to exactly the configured CIDRs, and nothing else", () => {
    const rules = rulesOf("ssh-firewall");
    assert.equal(rules.length, 1);
    const rule = rules[0] as Rule;
    assert.equal(rule.direction, "in");
    assert.equal(rule.protocol, "tcp");
    assert.equal(rule.port, "22");
    assert.deepEqual(rule.sourceIps, ["198.51.100.0/24", "2001:db8::/48"]);
  });

  it("opens UDP 41641 from anywhere only when tailscaleUdp is set, and no TCP port", () => {
    const rules = rulesOf("udp-firewall");
    assert.deepEqual(rules.map((r) => `${r.direction} ${r.protocol} ${r.port ?? ""}`), ["in udp 41641"]);
    assert.deepEqual(rules[0]?.sourceIps, ["0.0.0.0/0", "::/0"]);
    assert.ok(!rulesOf("ssh-firewall").some((r) => r.protocol === "udp"));
  });
});

describe("HetznerServer user data", () => {
  it("is secret, and the server receives it as a secret", async () => {
    const userData = await resolveOutput(plain.userData);
    assert.equal(userData.secret, true);
    const recorded = mocks.named("plain-server").inputs.userData;
    assert.ok(isSecretValue(recorded), "the server's userData input is marked secret");
    assert.equal(recorded.value, userData.value);
  });

  it("stays secret when the key is a plain string", async () => {
    const userData = await resolveOutput(plainStringKey.userData);
    assert.equal(userData.secret, true);
    assert.ok(userData.value.includes(KEY));
  });

  it("enrolls with the host name, the tags and --ssh, reading the key from a file, never from argv", async () => {
    const text = (await resolveOutput(plain.userData)).value;
    assert.ok(text.startsWith("#cloud-config\n"));
    const doc = parse(text) as { write_files: { path: string; content: string; permissions: string }[]; runcmd: unknown[] };
    const script = doc.write_files.find((f) => f.path.endsWith("gpu-fleet-tailscale-enroll"))?.content ?? "";
    assert.match(script, /^TS_HOSTNAME='cpu-1'$/m);
    assert.match(script, /^TS_TAGS='tag:gpu-worker,tag:cpu'$/m);
    const up = script.split("\n").find((l) => l.includes("tailscale up")) ?? "";
    assert.match(up, /--auth-key="file:\$\{KEY_FILE\}"/);
    assert.match(up, /--hostname="\$TS_HOSTNAME"/);
    assert.match(up, /--advertise-tags="\$TS_TAGS"/);
    assert.match(up, / --ssh /);
    assert.ok(!script.includes(KEY), "the script must not contain the key");
    assert.ok(!JSON.stringify(doc.runcmd).includes(KEY), "runcmd must not contain the key");
    const keyFile = doc.write_files.find((f) => f.content.trim() === KEY);
    assert.equal(keyFile?.permissions, "0600");
    assert.equal(text.split(KEY).length - 1, 1, "the key appears exactly once, in the key file");
  });

  it("ignores only sshKeys (and image with a snapshot selector): a replacement boots with its new user data; deletes first (unique name)", () => {
    const options = mocks.named("plain-server");
    // The engine puts an ignored input's old value back even for a replacement (step_generator.go processIgnoreChanges).
    assert.deepEqual([...options.ignoreChanges], ["sshKeys"]);
    assert.deepEqual([...mocks.named("snap-server").ignoreChanges].sort(), ["image", "sshKeys"]);
    assert.equal(options.deleteBeforeReplace, true);
  });

  it("replaces the server on a placement group change (hcloud refuses it on a running server)", () => {
    assert.deepEqual([...mocks.named("plain-server").replaceOnChanges], ["placementGroupId"]);
  });

  it("makes an Ed25519 host key replaced with the server's identity, and installs it with cloud-init", async () => {
    const key = mocks.named("plain-host-key");
    assert.equal(key.type, "tls:index/privateKey:PrivateKey");
    assert.deepEqual(key.inputs, { algorithm: "ED25519" });
    assert.equal(key.replacementTrigger, "location=fsn1 image=debian-12");
    const doc = parse((await resolveOutput(plain.userData)).value.replace(/^#cloud-config\n/, "")) as Record<string, unknown>;
    const publicKey = (await resolveOutput(plain.hostPublicKey)).value;
    assert.match(publicKey, /^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
    assert.equal(doc.ssh_deletekeys, true);
    assert.deepEqual(doc.ssh_genkeytypes, []);
    const sshKeys = doc.ssh_keys as { ed25519_public: string; ed25519_private: string };
    assert.equal(sshKeys.ed25519_public, publicKey);
    assert.match(sshKeys.ed25519_private, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
  });

  it("changing only the auth key changes only userData, which replaces the server (the Fleet changes the key only with the identity)", () => {
    const a = mocks.named("plain-server").inputs;
    const b = mocks.named("rotated-server").inputs;
    const changed = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    // firewallIds differ only because the two test servers have separate firewalls (mock ids follow the name).
    assert.deepEqual(changed.sort(), ["firewallIds", "userData"]);
    assert.deepEqual(rulesOf("plain-firewall"), rulesOf("rotated-firewall"));
    assert.deepEqual(mocks.named("plain-firewall").inputs, mocks.named("rotated-firewall").inputs);
    assert.ok(!mocks.named("rotated-server").ignoreChanges.includes("userData"));
  });
});

describe("HetznerServer snapshots", () => {
  it("looks up the newest available x86 snapshot matching the selector and boots from its id", () => {
    const lookups = mocks.calls.filter((c) => c.token === GET_IMAGE);
    assert.equal(lookups.length, 1);
    assert.deepEqual(lookups[0]?.inputs, { withSelector: "role=gpu-fleet-base", mostRecent: true, withArchitecture: "x86", withStatuses: ["available"] });
    assert.equal(mocks.named("snap-server").inputs.image, String(SNAPSHOT_ID));
    return resolveOutput(fromSnapshot.server.image).then((image) => assert.equal(image.value, String(SNAPSHOT_ID)));
  });

  it("does not look anything up without a selector", () => {
    assert.equal(mocks.named("plain-server").inputs.image, "debian-12");
  });
});

describe("HetznerServer argument errors (no resource is created)", () => {
  function problems(args: HetznerModule.HetznerServerArgs): readonly string[] {
    const before = mocks.resources.length;
    try {
      new mod.HetznerServer("bad", args);
    } catch (err) {
      assert.ok(err instanceof mod.HetznerServerError, String(err));
      assert.equal(mocks.resources.length, before, "no resource may be registered for bad args");
      return err.problems;
    }
    assert.fail("expected HetznerServerError");
  }

  it("rejects a bad host name, bad tags, reserved or invalid labels and bad CIDRs, all at once", () => {
    const found = problems(
      baseArgs({
        hostName: "-cpu_1",
        labels: { "gpu-fleet/host": "x", "bad key!": "v", ok: "-bad-value" },
        firewall: { sshSourceCidrs: ["198.51.100.0/24", "10.0.0.1", "0.0.0.0/0", "300.1.1.1/8"], tailscaleUdp: false },
        tailscale: { authKey: KEY, tags: [] },
      }),
    );
    const text = found.join("\n");
    assert.match(text, /^hostName: '-cpu_1'/m);
    assert.match(text, /^tags: at least one tag/m);
    assert.match(text, /'gpu-fleet\/host' is reserved/);
    assert.match(text, /key 'bad key!'/);
    assert.match(text, /value '-bad-value'/);
    assert.match(text, /'10\.0\.0\.1' is not a CIDR/);
    assert.match(text, /'0\.0\.0\.0\/0' opens SSH to the whole internet/);
    assert.match(text, /'300\.1\.1\.1\/8' is not a CIDR/);
    assert.ok(!text.includes("'198.51.100.0/24'"), "a valid CIDR is not reported");
    assert.equal(found.length, 8);
  });

  it("rejects networks that together cover the internet, like /0", () => {
    const found = problems(baseArgs({ firewall: { sshSourceCidrs: ["::/1", "8000::/1"], tailscaleUdp: false } }));
    assert.deepEqual(found, ["firewall.sshSourceCidrs: together they open SSH to the whole internet; list your admin networks"]);
  });

  it("rejects a tag without the tag: prefix", () => {
    assert.match(problems(baseArgs({ tailscale: { authKey: KEY, tags: ["gpu-worker"] } })).join("\n"), /'gpu-worker' must look like tag:name/);
  });
});
