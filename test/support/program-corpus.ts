// `program-corpus <stack file>...`: runs the real program (index.ts) under Pulumi's mocks once per
// stack file, in this one process, and prints one JSON line per file: whether it stopped with a
// RunError, its message, and the resources it registered before that. The corpus test asserts
// that every bad stack stops before registering anything. (One process for all: a process per
// stack would cost seconds each.)

import { readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parseStackFile } from "../../components/core/stack-file";
import { engineConfig } from "../../scripts/lib/engine-config";

const INDEX = resolve(__dirname, "..", "..", "index.ts");

async function runOne(file: string): Promise<{ file: string; runError: boolean; message: string; registered: string[] }> {
  const stack = parseStackFile(readFileSync(file, "utf8"), basename(file));
  const { config, secretKeys } = engineConfig(stack);
  pulumi.runtime.setAllConfig(config, secretKeys);
  const registered: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push(`${args.type}::${args.name}`);
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "gpu-fleet",
    basename(file).replace(/\.ya?ml$/, ""),
    true,
  );
  // The program runs at import: load it afresh for each stack.
  delete require.cache[require.resolve(INDEX)];
  try {
    require(INDEX);
    return { file, runError: false, message: "", registered };
  } catch (error) {
    return { file, runError: error instanceof pulumi.RunError, message: error instanceof Error ? error.message : String(error), registered };
  }
}

void (async () => {
  Error.stackTraceLimit = 0;
  for (const file of process.argv.slice(2)) process.stdout.write(`${JSON.stringify(await runOne(file))}\n`);
})();
