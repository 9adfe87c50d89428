// Plans a fleet of the fixture services and the given hosts, for planner tests.
import assert from "node:assert/strict";
import { planConfig, type PipelineResult } from "../../components/core/pipeline";
import type { HostPlan } from "../../components/core/planner";
import { EXAMPLE_KEYS, withHosts, type Values } from "./fixtures";

export function plan(hosts: Values, services?: Values): PipelineResult {
  return planConfig(withHosts(hosts, services));
}

export function hostOf(result: PipelineResult, name = "a"): HostPlan {
  const found = result.plan.hosts.find((h) => h.name === name);
  assert.ok(found, `host ${name} planned; errors: ${JSON.stringify(result.errors)}`);
  return found;
}

export function onlyError(result: PipelineResult): { host: string | null; path: string; message: string } {
  assert.equal(result.errors.length, 1, `exactly one error, got ${JSON.stringify(result.errors, null, 1)}`);
  return result.errors[0];
}

export function accepted(result: PipelineResult): HostPlan {
  assert.deepEqual(result.errors, [], "no errors");
  return hostOf(result);
}

/** An SSH host with a pinned key, the given facts: 8 cores and 32 GiB unless overridden. Each box has
 * its own address (two hosts at one address are refused). */
let boxes = 0;
export const box = (extra: Values): Values => ({ ssh: { address: `198.51.100.${(boxes++ % 200) + 1}`, hostKey: EXAMPLE_KEYS.host }, cpu: { cores: 8 }, ramMiB: 32768, ...extra });

/** An SSH host at `address` with a pinned key. */
export const sshAt = (address: string): Values => ({ address, hostKey: EXAMPLE_KEYS.host });

/** A CPU service: one thread, `ramMiB` RAM. */
export const cpuService = (ramMiB = 100, threads = 1): Values => ({ image: "x/cpu:1", device: "cpu", ramMiB, threads });
/** A CUDA service: one thread, `vramMiB` VRAM, little RAM. */
export const cudaService = (vramMiB: number, extra: Values = {}): Values => ({ image: "x/gpu:1", device: "cuda", vramMiB, ramMiB: 10, threads: 1, ...extra });
