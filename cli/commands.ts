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
import { status } from "./status";
import { synth } from "./synth";

export const COMMANDS: readonly CliCommand[] = [
  plan,
  external("plan-fleet", "plan a fleet split over several stacks and check it across them", () => import("../scripts/plan-fleet")),
  synth,
  diff,
  status,
  joinPlan,
  external("keyscan", "read an SSH host's keys and print the hostKey to pin", () => import("../scripts/keyscan")),
  external("docs", "regenerate README's config reference from the schema (--check: fail when it is stale)", () => import("../scripts/docs")),
  external("rollout", "simulate a rollout: each service's running workers over time, blocked hosts, total time", () => import("../scripts/rollout")),
  external("service", "start or stop a manual service's workers on one host, checking its VRAM lease", () => import("../scripts/service")),
  external("check-image", "run a service's image as the fleet would, next to a real Redis, and check the worker contract point by point", () => import("../scripts/check-image")),
  external("tune", "measure throughput and p95 of the replicas × threads the planner allows on a host, and record the best", () => import("../scripts/tune")),
];
