// dockerRunFlags: the one mapping of a worker's settings to `docker run` flags, used by join-fleet.sh
// (through the join plan), check-image and tune. Expected flags written by hand from the settings.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { dockerRunFlags } from "../../components/core/worker-container";
import { accepted, box, cpuService, cudaService, plan } from "../support/plan";

describe("dockerRunFlags", () => {
  it("maps a CPU worker's settings, in order", () => {
    const a = accepted(plan({ a: box({ workers: { s: { replicas: 1 } } }) }, { s: { ...cpuService(128, 2), drainSeconds: 7, stopSignal: "SIGINT" } }));
    assert.deepEqual(dockerRunFlags(a.workers[0], a), [
      "--init", "--stop-signal", "SIGINT", "--stop-timeout", "7",
      "--user", "10001:10001", "--cap-drop", "ALL", "--memory", "128m", "--memory-swap", "128m", "--cpus", "2",
      "--security-opt", "no-new-privileges:true", "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777,uid=10001,gid=10001",
    ]);
  });

  it("adds the GPU, the MPS pipe and host IPC, pinned cores and capabilities", () => {
    const a = accepted(plan({ a: box({ pinCpus: true, gpus: [{ model: "rtx-4090" }], mps: "on", workers: { g: { replicas: 1 } } }) }, { g: cudaService(1000, { capAdd: ["NET_BIND_SERVICE"], readOnlyRootFs: false, writablePaths: [] }) }));
    assert.deepEqual(dockerRunFlags(a.workers[0], a), [
      "--init", "--stop-signal", "SIGTERM", "--stop-timeout", "30", "--gpus", "device=0",
      "--user", "10001:10001", "--cap-drop", "ALL", "--memory", "10m", "--memory-swap", "10m", "--cpus", "1",
      "--security-opt", "no-new-privileges:true", "--cap-add", "NET_BIND_SERVICE",
      "--mount", "type=bind,source=/run/gpu-fleet/mps,target=/run/gpu-fleet/mps", "--ipc", "host", "--cpuset-cpus", "1",
    ]);
  });

  it("gives the health check in docker run's shell form: CMD words quoted for /bin/sh, CMD-SHELL as is, NONE off", () => {
    const flags = (test: unknown): string[] => {
      const a = accepted(plan({ a: box({ workers: { s: { replicas: 1 } } }) }, { s: { ...cpuService(), healthcheck: { test, intervalSeconds: 5, timeoutSeconds: 2, retries: 4, startPeriodSeconds: 9 } } }));
      const all = dockerRunFlags(a.workers[0], a);
      const at = all.findIndex((f) => f === "--health-cmd" || f === "--no-healthcheck");
      return at < 0 ? [] : all.slice(at);
    };
    assert.deepEqual(flags(["CMD", "python3", "-c", "print('ok')"]), ["--health-cmd", `'python3' '-c' 'print('\\''ok'\\'')'`, "--health-interval", "5s", "--health-timeout", "2s", "--health-retries", "4", "--health-start-period", "9s"]);
    assert.deepEqual(flags(["CMD-SHELL", "test -f /tmp/ok"]).slice(0, 2), ["--health-cmd", "test -f /tmp/ok"]);
    assert.deepEqual(flags("test -f /tmp/ok").slice(0, 2), ["--health-cmd", "test -f /tmp/ok"]);
    assert.deepEqual(flags(["NONE"]), ["--no-healthcheck"]);
  });
});
