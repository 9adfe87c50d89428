// The diff's update/replace table, one change per entry, each checked against the schema file the
// entry names (read at the commit it names; the comments quote the schema line).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { diffResources, REPLACEMENT_RULES, type ChangeKind } from "../../scripts/lib/resource-diff";
import type { SynthResource } from "../../scripts/lib/synth";

function res(type: string, inputs: Record<string, unknown>, o: Partial<SynthResource> = {}): SynthResource {
  return {
    type, name: "r", parent: null, host: "h", inputs, ignoreChanges: [], deleteBeforeReplace: false, replaceOnChanges: [],
    replacementTrigger: null, deletedWith: null, dependsOn: [], inputDependencies: {}, id: "r-id", ...o,
  };
}

/** The kind of change when only `key` goes from 1 to 2. */
function kindOf(type: string, key: string, o: Partial<SynthResource> = {}): ChangeKind | undefined {
  return diffResources([res(type, { [key]: 1 }, o)], [res(type, { [key]: 2 }, o)])[0]?.kind;
}

const CASES: [type: string, key: string, expected: ChangeKind, why: string][] = [
  // kreuzwerker/terraform-provider-docker internal/provider/resource_docker_container.go
  ["docker:index/container:Container", "image", "replace", `"image": { ... ForceNew: true`],
  ["docker:index/container:Container", "envs", "replace", `"env": { ... ForceNew: true`],
  ["docker:index/container:Container", "labels", "replace", `"labels": { ... ForceNew: true`],
  ["docker:index/container:Container", "stopTimeout", "replace", `"stop_timeout": { ... ForceNew: true`],
  ["docker:index/container:Container", "memory", "update", `"memory": no ForceNew; resourceDockerContainerUpdate applies it`],
  ["docker:index/container:Container", "restart", "update", `"restart": no ForceNew; ContainerUpdate RestartPolicy`],
  ["docker:index/container:Container", "cpuSet", "update", `"cpu_set": no ForceNew; Resources.CpusetCpus`],
  ["docker:index/container:Container", "destroyGraceSeconds", "update", `"destroy_grace_seconds": no ForceNew (read at delete)`],
  ["docker:index/container:Container", "healthcheck", "update", `"healthcheck": Optional, Computed, no ForceNew (Workers adds replaceOnChanges)`],
  ["docker:index/container:Container", "init", "update", `"init": Optional, Computed, no ForceNew (Workers adds replaceOnChanges)`],
  ["docker:index/container:Container", "wait", "update", `"wait": no ForceNew`],
  ["docker:index/container:Container", "rm", "update", `"rm": no ForceNew`],
  ["docker:index/container:Container", "start", "update", `"start": no ForceNew`],
  ["docker:index/container:Container", "waitTimeout", "update", `"wait_timeout": no ForceNew`],
  ["docker:index/container:Container", "attach", "update", `"attach": no ForceNew`],
  ["docker:index/container:Container", "logs", "update", `"logs": no ForceNew`],
  ["docker:index/container:Container", "mustRun", "update", `"must_run": no ForceNew`],
  ["docker:index/container:Container", "maxRetryCount", "update", `"max_retry_count": no ForceNew`],
  ["docker:index/container:Container", "removeVolumes", "update", `"remove_volumes": no ForceNew`],
  ["docker:index/container:Container", "tmpfs", "update", `"tmpfs": no ForceNew`],
  ["docker:index/container:Container", "deviceReadBps", "update", `"device_read_bps": no ForceNew`],
  ["docker:index/container:Container", "deviceReadIops", "update", `"device_read_iops": no ForceNew`],
  ["docker:index/container:Container", "deviceWriteBps", "update", `"device_write_bps": no ForceNew`],
  ["docker:index/container:Container", "deviceWriteIops", "update", `"device_write_iops": no ForceNew`],
  ["docker:index/container:Container", "memoryReservation", "update", `"memory_reservation": no ForceNew`],
  ["docker:index/container:Container", "memorySwap", "update", `"memory_swap": no ForceNew`],
  ["docker:index/container:Container", "cpuShares", "update", `"cpu_shares": no ForceNew`],
  ["docker:index/container:Container", "containerReadRefreshTimeoutMilliseconds", "update", `"container_read_refresh_timeout_milliseconds": no ForceNew`],
  ["docker:index/container:Container", "cpuPeriod", "update", `"cpu_period": no ForceNew`],
  ["docker:index/container:Container", "cpuQuota", "update", `"cpu_quota": no ForceNew`],
  // kreuzwerker/terraform-provider-docker internal/provider/resource_docker_image.go
  ["docker:index/remoteImage:RemoteImage", "name", "replace", `"name": { ... ForceNew: true`],
  ["docker:index/remoteImage:RemoteImage", "triggers", "replace", `"triggers": { ... ForceNew: true`],
  ["docker:index/remoteImage:RemoteImage", "pullTriggers", "replace", `"pull_triggers": { ... ForceNew: true`],
  ["docker:index/remoteImage:RemoteImage", "platform", "replace", `"platform": { ... ForceNew: true`],
  ["docker:index/remoteImage:RemoteImage", "keepLocally", "update", `"keep_locally": no ForceNew`],
  // pulumi/pulumi-command provider/cmd/pulumi-resource-command/schema.json: "replaceOnChanges": true on triggers only
  ["command:remote:Command", "triggers", "replace", "triggers: replaceOnChanges"],
  ["command:remote:Command", "create", "update", "create: no replaceOnChanges (Update runs the new create)"],
  ["command:remote:Command", "delete", "update", "delete: no replaceOnChanges"],
  ["command:local:Command", "triggers", "replace", "triggers: replaceOnChanges"],
  ["command:remote:CopyToRemote", "triggers", "replace", "triggers: replaceOnChanges"],
  ["command:remote:CopyToRemote", "remotePath", "update", "remotePath: no replaceOnChanges"],
  // hetznercloud/terraform-provider-hcloud internal/server/resource.go
  ["hcloud:index/server:Server", "location", "replace", `"location": { ... ForceNew: true`],
  ["hcloud:index/server:Server", "image", "replace", `"image": { ... ForceNew: true`],
  ["hcloud:index/server:Server", "userData", "replace", `"user_data": { ... ForceNew: true`],
  ["hcloud:index/server:Server", "sshKeys", "replace", `"ssh_keys": { ... ForceNew: true`],
  ["hcloud:index/server:Server", "serverType", "update", `"server_type": no ForceNew (resize)`],
  ["hcloud:index/server:Server", "placementGroupId", "update", `"placement_group_id": no ForceNew (setPlacementGroup)`],
  // hetznercloud/terraform-provider-hcloud internal/sshkey/resource.go
  ["hcloud:index/sshKey:SshKey", "publicKey", "replace", `"public_key": stringplanmodifier.RequiresReplace()`],
  ["hcloud:index/sshKey:SshKey", "name", "update", `"name": no RequiresReplace`],
  // hetznercloud/terraform-provider-hcloud internal/placementgroup/resource.go
  ["hcloud:index/placementGroup:PlacementGroup", "type", "update", `"type": Required, no ForceNew`],
  // hetznercloud/terraform-provider-hcloud internal/firewall/resource.go
  ["hcloud:index/firewall:Firewall", "rules", "update", "no ForceNew in the firewall schema"],
  // tailscale/terraform-provider-tailscale tailscale/resource_tailnet_key.go
  ["tailscale:index/tailnetKey:TailnetKey", "tags", "replace", "setplanmodifier.RequiresReplace()"],
  ["tailscale:index/tailnetKey:TailnetKey", "expiry", "replace", "int64planmodifier.RequiresReplace()"],
  ["tailscale:index/tailnetKey:TailnetKey", "description", "replace", "stringplanmodifier.RequiresReplace()"],
  ["tailscale:index/tailnetKey:TailnetKey", "reusable", "replace", "boolplanmodifier.RequiresReplace()"],
  ["tailscale:index/tailnetKey:TailnetKey", "ephemeral", "replace", "boolplanmodifier.RequiresReplace()"],
  ["tailscale:index/tailnetKey:TailnetKey", "preauthorized", "replace", "boolplanmodifier.RequiresReplace()"],
  ["tailscale:index/tailnetKey:TailnetKey", "recreateIfInvalid", "update", "no RequiresReplace"],
  // hashicorp/terraform-provider-tls internal/provider/resource_private_key.go
  ["tls:index/privateKey:PrivateKey", "algorithm", "replace", "stringplanmodifier.RequiresReplace()"],
  ["tls:index/privateKey:PrivateKey", "rsaBits", "replace", "int64planmodifier.RequiresReplace()"],
  ["tls:index/privateKey:PrivateKey", "ecdsaCurve", "replace", "stringplanmodifier.RequiresReplace()"],
];

describe("the replace/update table, from the providers' schemas", () => {
  for (const [type, key, expected, why] of CASES) {
    it(`${type} ${key}: ${expected} (${why})`, () => {
      assert.equal(kindOf(type, key), expected);
    });
  }

  it("covers every entry of the table, and every entry names its schema file and commit", () => {
    assert.deepEqual([...new Set(CASES.map(([type]) => type))].sort(), Object.keys(REPLACEMENT_RULES).sort());
    for (const [type, rule] of Object.entries(REPLACEMENT_RULES)) assert.match(rule.source, /^[\w-]+\/[\w.-]+ \S+\.(go|json) @[0-9a-f]{7}$/, type);
  });
});

describe("resource options in the diff", () => {
  it("replaceOnChanges turns an update into a replacement (a healthcheck change reaches the container)", () => {
    assert.equal(kindOf("docker:index/container:Container", "healthcheck", { replaceOnChanges: ["healthcheck"] }), "replace");
  });

  it("replaceOnChanges paths name their top-level input (the command SDK sends triggers[*])", () => {
    assert.equal(kindOf("some:unknown:Type", "triggers", { replaceOnChanges: ["triggers[*]"] }), "replace");
  });

  it("a changed replacementTrigger replaces, even with no input change", () => {
    const [change] = diffResources([res("tls:index/privateKey:PrivateKey", { algorithm: "ED25519" }, { replacementTrigger: "a" })], [res("tls:index/privateKey:PrivateKey", { algorithm: "ED25519" }, { replacementTrigger: "b" })]);
    assert.equal(change?.kind, "replace");
  });

  it("an ignored input is no change", () => {
    assert.equal(kindOf("hcloud:index/server:Server", "sshKeys", { ignoreChanges: ["sshKeys"] }), undefined);
  });
});
