// One synth in its own process (the Pulumi runtime is global): `synth-child <program dir> <stack file>`
// prints the full SynthResult as JSON. Used by `npm run diff` for each side.

import { loadStack, runCli } from "./stack";
import { synthesize } from "./synth";

runCli("synth", async ([programDir, stackFile]) => {
  const result = await synthesize(loadStack(stackFile), programDir);
  process.stdout.write(JSON.stringify(result));
  return 0;
});
