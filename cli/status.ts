// gpu-fleet status: every host's GPUs, processes, MPS, workers and drift from the plan (scripts/status.ts).

import { InvalidArgumentError, Option } from "commander";
import type { CliCommand } from "./command";
import { pickStack, stackOption } from "./command";

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a number of seconds above 0");
  return n;
}

export const status: CliCommand = {
  name: "status",
  define: (program, done) => {
    program
      .command("status")
      .summary("what every host runs now, and where it drifts from the plan")
      .description(
        "Looks at every host of the stack at once, over SSH with its pinned host key (ssh.hostKey), each with a short " +
          "deadline so a down host fails alone and fast. Shows the driver and CUDA versions, each GPU's memory and " +
          "utilization with its processes mapped to services and containers, the MPS daemon, each service's planned, " +
          "running and healthy workers, and drift: containers missing, unplanned, or with another image, env or thread " +
          "setting; roles not set up or of another version; driver branch; Tailscale down or untagged; Redis unreachable. " +
          "Exits 0 when every host is as planned, 1 when one is down or drifts. Never prints a secret: only the env " +
          "variables the plan sets leave the host. SSH uses the runner's agent or ~/.ssh config (or --identity).",
      )
      .argument("[stack]", "the stack, as with -s")
      .addOption(stackOption())
      .addOption(new Option("--via <how>", "reach hosts by tailnet name or by ssh.address").choices(["tailnet", "address"]).default("tailnet"))
      .option("--json", "print {hosts: [{name, reachable, error, gpus, mps, services, drift}]} on stdout")
      .addOption(new Option("--watch [seconds]", "refresh every few seconds until interrupted").argParser(positiveNumber).preset(5))
      .addOption(new Option("--timeout <seconds>", "deadline per host").argParser(positiveNumber).default(10))
      .option("-i, --identity <file>", "SSH private key file (default: the agent and ~/.ssh config)")
      .option("--ssh-config <file>", "ssh_config file to use (ssh -F)")
      .option("--known-hosts <file>", "known_hosts file with keys of hosts the stack does not pin (Hetzner Cloud servers)")
      .action(
        async (
          positional: string | undefined,
          opts: { stack?: string; via: "tailnet" | "address"; json?: boolean; watch?: number; timeout: number; identity?: string; sshConfig?: string; knownHosts?: string },
        ) => {
          const { status: run } = await import("../scripts/status");
          done(
            await run({
              stack: pickStack(opts.stack, positional),
              via: opts.via,
              json: opts.json === true,
              watch: opts.watch,
              timeout: opts.timeout,
              identity: opts.identity,
              sshConfig: opts.sshConfig,
              knownHosts: opts.knownHosts,
            }),
          );
        },
      );
  },
};
