// One synth in its own process (the Pulumi runtime is global): `synth-child <program dir> <stack file>
// [<stack name>]` prints the full SynthResult as JSON. Used by `npm run diff` for each side, and by
// `npm run rollout` (which synthesizes an older stack file under the stack's own name).

import { loadStack, runCli } from "./stack";
import { synthesize } from "./synth";

runCli("synth", async ([programDir, stackFile, stackName]) => {
  const stack = loadStack(stackFile);
  const result = await synthesize(stackName === undefined ? stack : { ...stack, name: stackName }, programDir);
  process.stdout.write(JSON.stringify(result));
  return 0;
});
