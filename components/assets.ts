// Files the program ships to hosts or reads at start: the role scripts and the base tailnet policy.
// Read once, at the edge of the program, and handed to components as values.

import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(__dirname, "..");
export const ROLES_DIR = join(REPO_ROOT, "scripts", "roles");
/** Relative to the project directory, where Pulumi runs local commands: the same on every checkout. */
export const AWAIT_REBOOT_SCRIPT = "scripts/await-reboot.sh";
/** The rollout's health gate, run on a host over SSH (its text goes on stdin). */
export const HEALTH_GATE_FILE = join(REPO_ROOT, "scripts", "health-gate.sh");
export const BASE_POLICY_FILE = join(REPO_ROOT, "tailnet", "policy.base.hujson");

export interface FleetAssets {
  /** scripts/roles/*.sh by file name. */
  readonly scripts: Record<string, string>;
  /** scripts/roles relative to the project directory (where Pulumi runs): the same on every checkout. */
  readonly rolesDir: string;
  readonly basePolicy: string;
  readonly awaitRebootScript: string;
  /** Text of scripts/health-gate.sh. */
  readonly healthGateScript: string;
}

export function loadAssets(): FleetAssets {
  const scripts: Record<string, string> = {};
  for (const file of readdirSync(ROLES_DIR).filter((f) => f.endsWith(".sh")).sort()) {
    scripts[file] = readFileSync(join(ROLES_DIR, file), "utf8");
  }
  return {
    scripts,
    rolesDir: "scripts/roles",
    basePolicy: readFileSync(BASE_POLICY_FILE, "utf8"),
    awaitRebootScript: AWAIT_REBOOT_SCRIPT,
    healthGateScript: readFileSync(HEALTH_GATE_FILE, "utf8"),
  };
}
