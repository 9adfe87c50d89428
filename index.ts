// gpu-fleet: `pulumi up -s <stack>` runs the one pipeline — stack config → schema → planner →
// components → resources. Nothing is created unless the whole config is valid and every component
// would accept it.

import * as pulumi from "@pulumi/pulumi";
import { loadAssets } from "./components/assets";
import { agentProblems, loadProgramConfig, secretValue } from "./components/config";
import { formatDiagnostic, planConfig } from "./components/core/pipeline";
import { Fleet, fleetProblems, type FleetArgs } from "./components/Fleet";
import { sharedContract } from "./components/core/split";

const config = loadProgramConfig();
const planned = planConfig(config.document, config.diagnostics);
// Hosts that Pulumi reaches over SSH without a private key of their own or the fleet's.
const needsAgent = planned.spec === undefined || planned.spec.sshPrivateKey !== undefined ? [] : planned.plan.hosts.filter((h) => h.kind !== "join" && planned.spec?.hosts[h.name].ssh?.privateKey === undefined).map((h) => h.name);
const result = planConfig(config.document, [...config.diagnostics, ...agentProblems(process.env, needsAgent)]);
for (const warning of result.warnings) pulumi.log.warn(formatDiagnostic(warning));
if (result.spec === undefined) {
  // RunError ends the program with this message only: no stack trace, no resource touched.
  throw new pulumi.RunError(
    `the stack config has ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}; nothing was changed. ` +
      `\`npm run plan -- ${pulumi.getStack()}\` shows them offline.\n` +
      result.errors.map((e) => `  ${formatDiagnostic(e)}`).join("\n"),
  );
}

const fleetName = `${pulumi.getProject()}-${pulumi.getStack()}`;
const fleetArgs: FleetArgs = { spec: result.spec, plan: result.plan, fleet: fleetName, secret: secretValue, ...loadAssets() };
// What the components would refuse (the stack name in labels, the base policy file, a missing role
// script) is refused here too, before the first resource: `pulumi up` never half-applies.
const problems = fleetProblems(fleetArgs);
if (problems.length > 0) {
  throw new pulumi.RunError(
    `the stack cannot be deployed: ${problems.length} problem${problems.length === 1 ? "" : "s"}; nothing was changed.\n` + problems.map((p) => `  error: ${p}`).join("\n"),
  );
}
const fleet = new Fleet("fleet", fleetArgs);

/** What each host runs, as planned: no secrets. */
export const plan = result.plan.hosts.map((h) => ({
  host: h.name,
  kind: h.kind,
  gpus: h.gpus.map((g) => `${g.index}: ${g.name} ${g.usedMiB}/${g.vramMiB} MiB${g.mps ? " MPS" : ""}`),
  workers: h.workers.map((w) => w.name),
}));
/** Each host's tailnet name and tailnet IPv4. */
export const hosts = fleet.hostAddresses;
/** The tailnet policy's tests: what the policy is proven to allow and deny. */
export const policyTests = fleet.tailnet.testNames;
/** Auth keys of `join` hosts, for scripts/join-fleet.sh: `pulumi stack output joinKeys --show-secrets`. */
export const joinKeys = fleet.joinKeys;
/** In external policy mode, the fragment to merge into your own tailnet policy. */
export const policyFragment = fleet.tailnet.fragment;
/** In the shared stack of a split fleet, what its group stacks read (components/Fleet.ts SHARED_OUTPUT). */
export const fleetShared = result.spec.split?.role === "shared" ? sharedContract(result.spec) : undefined;
