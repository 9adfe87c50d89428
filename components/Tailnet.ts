// The fleet's tailnet: the policy (managed: the whole tailnet policy file; external: a fragment for the
// team's policy repository) and one single-use auth key per host. Policy content comes from the pure
// builder in core/tailnet-policy.ts; this component only maps it to resources. See docs/tailnet.md.

import * as pulumi from "@pulumi/pulumi";
import * as tailscale from "@pulumi/tailscale";

import {
  buildTailnetPolicy,
  describePolicyTests,
  externalPolicyProblem,
  mergeIntoBasePolicy,
  renderPolicyFragment,
  renderPolicyJson,
  TailnetPolicyError,
  type JsonObject,
  type TailnetPolicy,
  type TailnetPolicyInput,
} from "./core/tailnet-policy";

export interface TailnetHost {
  /** Host name, unique in the fleet; keys the `authKeys` output. */
  name: string;
  /** Tags the host joins with, e.g. `["tag:gpu-worker"]`. At least one: an untagged key would make the host a device of whoever owns the API credential. */
  tags: string[];
  /**
   * Bump (any new value) to mint a new auth key for this host, e.g. to re-enroll a rebuilt machine. On an SSH
   * host nothing else is replaced (the key goes on stdin); an hcloud server is replaced with its key (docs/tailnet.md).
   */
  keyGeneration?: string | number;
  /**
   * Replaces the key whenever it changes, instead of keyGeneration: a Hetzner Cloud host's server
   * identity (which includes its keyGeneration), so a replaced server gets a new key in its user data.
   */
  replacementTrigger?: unknown;
}

export interface TailnetArgs {
  policy: TailnetPolicyInput;
  /** managed: the stack owns the whole tailnet policy file. external: the stack only renders a fragment. */
  mode: "managed" | "external";
  /** HuJSON text of the base policy (managed mode; the caller reads tailnet/policy.base.hujson). Defaults to `{}`. */
  basePolicy?: string;
  /** One auth key per host. */
  hosts: TailnetHost[];
  /** Lifetime of each auth key in seconds (it is only needed at enrollment). Defaults to DEFAULT_KEY_EXPIRY_SECONDS. */
  keyExpirySeconds?: number;
  /** Keys are created only once this resolves (a group stack's check of its shared stack); a failure stops them. */
  keysAfter?: pulumi.Output<unknown>;
}

/**
 * One day. Long enough that a first `pulumi up` that fails half way (a driver build, a reboot, a big image
 * pull) can be fixed and re-run the same day with the same keys; short enough that a key copied out of a
 * state backup or a log is useless by the next day. A used or expired key is harmless (see docs/tailnet.md).
 */
export const DEFAULT_KEY_EXPIRY_SECONDS = 24 * 3600;
/** The limits of an auth key's expiry, the same as the schema's (tailnet.keyExpirySeconds): at least 5 minutes to enroll, at most Tailscale's 90 days. */
export const MAX_KEY_EXPIRY_SECONDS = 90 * 24 * 3600;
export const MIN_KEY_EXPIRY_SECONDS = 300;

/** Key descriptions: Tailscale allows alphanumerics (and, in practice, spaces), at most 50 characters. */
function keyDescription(host: string): string {
  return `gpufleet ${host.replace(/[^A-Za-z0-9]/g, "")}`.slice(0, 50);
}

function validateArgs(args: TailnetArgs, policy: TailnetPolicy, merged: JsonObject | undefined): string[] {
  const problems: string[] = [];
  if (args.mode !== "managed" && args.mode !== "external") problems.push(`mode: '${String(args.mode)}' must be managed or external`);
  if (args.mode === "external" && args.basePolicy !== undefined) {
    problems.push("basePolicy: only used in managed mode; in external mode your policy repository holds the rest of the policy");
  }
  const expiry = args.keyExpirySeconds;
  if (expiry !== undefined && (!Number.isInteger(expiry) || expiry < MIN_KEY_EXPIRY_SECONDS || expiry > MAX_KEY_EXPIRY_SECONDS)) {
    problems.push(`keyExpirySeconds: ${String(expiry)} must be an integer from ${MIN_KEY_EXPIRY_SECONDS} to ${MAX_KEY_EXPIRY_SECONDS} (90 days)`);
  }
  // In managed mode every tag a key carries must be declared in the uploaded policy, or key creation fails.
  const declared = merged !== undefined && typeof merged.tagOwners === "object" && merged.tagOwners !== null ? Object.keys(merged.tagOwners) : undefined;
  const names = new Set<string>();
  args.hosts.forEach((host, i) => {
    const field = `hosts[${i}]${host.name ? ` (${host.name})` : ""}`;
    if (!host.name) problems.push(`${field}: needs a name`);
    else if (names.has(host.name)) problems.push(`${field}: host name '${host.name}' is used twice`);
    names.add(host.name);
    if (host.tags.length === 0) problems.push(`${field}: needs at least one tag, e.g. ${policy.grants[0]?.src[0] ?? "tag:gpu-worker"}`);
    for (const tag of host.tags) {
      if (!tag.startsWith("tag:")) problems.push(`${field}: tag '${tag}' must start with 'tag:'`);
      else if (declared !== undefined && !declared.includes(tag)) {
        problems.push(`${field}: tag '${tag}' is not in the policy's tagOwners; declare it in tailnet/policy.base.hujson or use ${Object.keys(policy.tagOwners).join(" / ")}`);
      }
    }
  });
  return problems;
}

/** Everything the component derives from its args without creating a resource. */
export interface PreparedTailnet {
  policy: TailnetPolicy;
  /** Managed mode: the whole policy document (base + fleet) as uploaded. */
  policyJson: string | undefined;
  /** External mode: the fragment text. */
  fragment: string | undefined;
  testNames: string[];
  keyExpirySeconds: number;
}

/**
 * The pure half of the component: builds, merges and validates, throwing TailnetPolicyError (every problem,
 * each naming its field) before any resource exists. Offline tools can call it to show the policy.
 */
export function prepareTailnet(args: TailnetArgs): PreparedTailnet {
  const policy = buildTailnetPolicy(args.policy);
  const merged = args.mode === "managed" ? mergeIntoBasePolicy(args.basePolicy ?? "{}", policy) : undefined;
  const problems = validateArgs(args, policy, merged);
  if (problems.length > 0) throw new TailnetPolicyError(problems);
  return {
    policy,
    policyJson: merged !== undefined ? renderPolicyJson(merged) : undefined,
    fragment: args.mode === "external" ? renderPolicyFragment(policy) : undefined,
    testNames: describePolicyTests(policy),
    keyExpirySeconds: args.keyExpirySeconds ?? DEFAULT_KEY_EXPIRY_SECONDS,
  };
}

export class Tailnet extends pulumi.ComponentResource {
  /** Each host's auth key, by host name. Secret. Pass it on stdin, never in a command line or environment. */
  readonly authKeys: Record<string, pulumi.Output<string>>;
  /** The key resources, by host name (for dependsOn / deletedWith). */
  readonly keys: Record<string, tailscale.TailnetKey>;
  /** Managed mode: the policy file resource. */
  readonly acl: tailscale.Acl | undefined;
  /** The rules the fleet generated. */
  readonly policy: TailnetPolicy;
  /** Managed mode: the whole policy document uploaded (base + fleet), as JSON text. */
  readonly policyJson: string | undefined;
  /** External mode: the HuJSON fragment for the team's policy repository (the Fleet writes it to a file). */
  readonly fragment: string | undefined;
  /** One line per assertion the generated policy tests make; Tailscale runs them on every upload. */
  readonly testNames: string[];

  constructor(name: string, args: TailnetArgs, opts?: pulumi.ComponentResourceOptions) {
    // Pure work first: every input problem is reported before any resource, this one included, exists.
    const prepared = prepareTailnet(args);
    super("gpu-fleet:index:Tailnet", name, {}, opts);

    this.policy = prepared.policy;
    this.testNames = prepared.testNames;
    this.policyJson = prepared.policyJson;
    this.fragment = prepared.fragment;

    this.acl =
      this.policyJson !== undefined
        ? new tailscale.Acl(
            `${name}-policy`,
            {
              acl: this.policyJson,
              // The policy file is one document per tailnet and this stack owns it: without this, the first
              // create fails with 412 on any tailnet whose policy is not the default. Adopting a tailnet:
              // copy its current policy into tailnet/policy.base.hujson first (docs/tailnet.md).
              overwriteExistingContent: true,
              // Destroying the stack leaves the last policy in place rather than restoring Tailscale's
              // allow-all default.
              resetAclOnDestroy: false,
            },
            { parent: this },
          )
        : undefined;

    // External mode: the team's policy repository owns the policy; keys wait until the live policy
    // declares every tag they carry, and fail with what to do if it does not.
    const liveChecked =
      args.mode === "external"
        ? tailscale.getAclOutput({ parent: this }).apply((live) => {
            const problem = externalPolicyProblem(live.json, args.hosts.flatMap((h) => h.tags));
            if (problem !== undefined) throw new TailnetPolicyError([problem]);
            return true;
          })
        : undefined;
    const gates = [liveChecked, args.keysAfter].filter((g): g is pulumi.Output<unknown> => g !== undefined);
    const tagsChecked = gates.length === 0 ? undefined : pulumi.all(gates);

    const expiry = prepared.keyExpirySeconds;
    this.keys = {};
    this.authKeys = {};
    for (const host of args.hosts) {
      const key = new tailscale.TailnetKey(
        `${name}-key-${host.name}`,
        {
          reusable: false,
          ephemeral: false,
          preauthorized: true,
          tags: tagsChecked === undefined ? [...host.tags] : tagsChecked.apply(() => [...host.tags]),
          expiry,
          // A used or expired single-use key stays in state as it is: never recreated behind the
          // consumer's back, so nothing downstream sees a new key and re-runs or replaces.
          recreateIfInvalid: "never",
          description: keyDescription(host.name),
        },
        {
          parent: this,
          // In managed mode the tags must exist in the uploaded policy before a key can carry them.
          dependsOn: this.acl !== undefined ? [this.acl] : [],
          ...(host.replacementTrigger !== undefined
            ? { replacementTrigger: host.replacementTrigger }
            : host.keyGeneration !== undefined
              ? { replacementTrigger: host.keyGeneration }
              : {}),
        },
      );
      this.keys[host.name] = key;
      this.authKeys[host.name] = pulumi.secret(key.key);
    }

    this.registerOutputs({
      authKeys: this.authKeys,
      policyJson: this.policyJson,
      fragment: this.fragment,
      testNames: this.testNames,
    });
  }
}
