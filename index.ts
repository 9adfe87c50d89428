// gpu-fleet: `pulumi up -s <stack>` runs the one pipeline — stack config → schema → planner →
// components → resources. Nothing is created unless the whole config is valid.

import * as pulumi from "@pulumi/pulumi";
import { loadProgramConfig } from "./components/config";
import { formatDiagnostic, planConfig } from "./components/core/pipeline";

const config = loadProgramConfig();
const result = planConfig(config.document, config.diagnostics);
for (const warning of result.warnings) pulumi.log.warn(formatDiagnostic(warning));
if (result.spec === undefined) {
  // RunError ends the program with this message only: no stack trace, no resource touched.
  throw new pulumi.RunError(
    `the stack config has ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}; nothing was changed. ` +
      `\`npm run plan -- ${pulumi.getStack()}\` shows them offline.\n` +
      result.errors.map((e) => `  ${formatDiagnostic(e)}`).join("\n"),
  );
}

/** What each host runs, as planned: no secrets. */
export const plan = result.plan.hosts.map((h) => ({
  host: h.name,
  kind: h.kind,
  gpus: h.gpus.map((g) => `${g.index}: ${g.name} ${g.usedMiB}/${g.vramMiB} MiB${g.mps ? " MPS" : ""}`),
  workers: h.workers.map((w) => w.name),
}));
