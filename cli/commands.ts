// Every gpu-fleet command, in the order `gpu-fleet --help` lists them.
//
// To add a command, write a module exporting `run(argv: string[]): Promise<number>` (0 ok, 1 problems,
// 2 usage; it parses its own arguments and answers --help) and add one line here:
//   external("keyscan", "read and pin the SSH host keys of the stack's hosts", () => import("../scripts/keyscan")),
// or, for commander options and help like plan's, a CliCommand in cli/<name>.ts.

import { external, type CliCommand } from "./command";
import { diff } from "./diff";
import { joinPlan } from "./join-plan";
import { plan } from "./plan";
import { synth } from "./synth";

export const COMMANDS: readonly CliCommand[] = [
  plan,
  external("plan-fleet", "plan a fleet split over several stacks and check it across them", () => import("../scripts/plan-fleet")),
  synth,
  diff,
  joinPlan,
];
