// The one pipeline every entry point runs: config document → schema → planner. The Pulumi program,
// the offline plan and synth all call this, so they cannot disagree.

import type { Diagnostic } from "./diagnostics";
import { planFleet, type FleetPlan } from "./planner";
import { parseFleet, type ConfigDocument, type FleetSpec } from "./schema";

export interface PipelineResult {
  /** Present only when the config is valid and plans without errors. */
  readonly spec?: FleetSpec;
  readonly plan: FleetPlan;
  readonly errors: readonly Diagnostic[];
  readonly warnings: readonly Diagnostic[];
}

/** Validates and plans; the plan covers every host that is valid, so all errors show at once. */
export function planConfig(doc: ConfigDocument, earlier: readonly Diagnostic[] = []): PipelineResult {
  const parsed = parseFleet(doc);
  const plan = planFleet(parsed.plannable);
  const all = [...earlier, ...parsed.diagnostics, ...plan.diagnostics];
  const errors = all.filter((d) => d.severity === "error");
  const warnings = all.filter((d) => d.severity === "warning");
  return { spec: errors.length === 0 ? parsed.spec : undefined, plan, errors, warnings };
}

/** One line per diagnostic: `error: hosts.a.cpu.cores: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.path === "" ? "" : `${d.path}: `;
  return `${d.severity}: ${where}${d.message}`;
}
