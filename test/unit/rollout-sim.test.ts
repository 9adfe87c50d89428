// The rollout simulator on small graphs built by hand. Every expected number is worked out by hand
// in the comment above it, from the step times below and the engine rules in rollout-sim.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { simulateRollout, type RolloutTimes, type SimulationOptions } from "../../scripts/lib/rollout-sim";
import type { SynthResource } from "../../scripts/lib/synth";

// pull 60 s, start 5 s, start-to-healthy 30 s, role 20 s, boot 90 s, server delete 30 s; drain = stopTimeout 10 s.
const TIMES: RolloutTimes = { imagePullSeconds: 60, containerStartSeconds: 5, healthySeconds: 30, roleSeconds: 20, serverBootSeconds: 90, serverDeleteSeconds: 30 };
const options = (o: Partial<SimulationOptions> = {}): SimulationOptions => ({ down: [], parallel: 100, continueOnError: true, times: TIMES, ...o });

function res(name: string, type: string, host: string, o: Partial<SynthResource> = {}): SynthResource {
  return {
    type, name, parent: null, host, inputs: {}, ignoreChanges: [], deleteBeforeReplace: false, replaceOnChanges: [],
    replacementTrigger: null, deletedWith: null, dependsOn: [], inputDependencies: {}, id: `${name}-id`, ...o,
  };
}

// A dial to a down host fails after perDialTimeout × dialErrorLimit = 10 × 3 = 30 s.
const connection = { host: "x", perDialTimeout: 10, dialErrorLimit: 3 };

/** One host's image, two containers of service s in one lane, each with its health gate. */
function host(h: string, crossHostAfter?: string): SynthResource[] {
  const labels = (r: number) => [{ label: "gpu-fleet.service", value: "s" }, { label: "gpu-fleet.replica", value: String(r) }];
  return [
    res(`${h}-image`, "docker:index/remoteImage:RemoteImage", h),
    res(`${h}-s-1`, "docker:index/container:Container", h, { deleteBeforeReplace: true, inputs: { labels: labels(1), stopTimeout: 10 }, inputDependencies: { image: [`${h}-image`] }, dependsOn: crossHostAfter === undefined ? [] : [crossHostAfter] }),
    res(`${h}-s-1-healthy`, "command:remote:Command", h, { inputs: { connection }, inputDependencies: { triggers: [`${h}-s-1`] } }),
    res(`${h}-s-2`, "docker:index/container:Container", h, { deleteBeforeReplace: true, inputs: { labels: labels(2), stopTimeout: 10 }, inputDependencies: { image: [`${h}-image`] }, dependsOn: [`${h}-s-1-healthy`] }),
    res(`${h}-s-2-healthy`, "command:remote:Command", h, { inputs: { connection }, inputDependencies: { triggers: [`${h}-s-2`] } }),
  ];
}

describe("rollout simulator, two hosts with two replicas each (one lane per host)", () => {
  const fleet = [...host("a"), ...host("b")];

  it("an image change: each host pulls (0-60), drains and restarts worker 1 (60-105), then worker 2 (105-150)", () => {
    // t=60: a-s-1 and b-s-1 drain (10 s), start (5 s), gate (30 s): healthy at 105, 2 of 4 running meanwhile.
    // t=105: worker 2 of each host the same: healthy at 150. Old images and gates go at the end, in 0 s.
    const r = simulateRollout(null, fleet, options());
    assert.deepEqual(r.services.s, { workers: 4, minRunning: 2, maxUnavailable: 2, points: [[0, 4], [60, 2], [150, 4]] });
    assert.deepEqual(r.blocked, []);
    assert.deepEqual(r.hosts, { a: { completed: true, finishedAt: 150 }, b: { completed: true, finishedAt: 150 } });
    assert.equal(r.durationSeconds, 150);
  });

  it("with --parallel 1, one step at a time: the first ready step in program order goes first", () => {
    // a-image 0-60; a-s-1 drain 60-70 (3 running), start 70-75, gate 75-105 (4), and at once a-s-2
    // drain 105-115 (3), start 115-120, gate 120-150 (4). Then b the same, 150 later: pull 150-210,
    // b-s-1 down 210-255, b-s-2 down 255-300.
    const r = simulateRollout(null, fleet, options({ parallel: 1 }));
    assert.deepEqual(r.services.s?.points, [[0, 4], [60, 3], [150, 4], [210, 3], [300, 4]]);
    assert.equal(r.services.s?.minRunning, 3);
    assert.equal(r.durationSeconds, 300);
  });

  it("--down b: b fails alone after its dial timeout, a completes, b's workers count as down", () => {
    // b's image pull fails at 30 s (10 s × 3); its containers are skipped. a rolls as before (done at 150).
    // Running: a's two from 0; a-s-1 down 60-105, a-s-2 down 105-150.
    const r = simulateRollout(null, fleet, options({ down: ["b"] }));
    assert.deepEqual(r.services.s, { workers: 4, minRunning: 1, maxUnavailable: 3, points: [[0, 2], [60, 1], [150, 2]] });
    assert.deepEqual(r.blocked, []);
    assert.deepEqual([r.hosts.a?.completed, r.hosts.b?.completed], [true, false]);
    assert.equal(r.durationSeconds, 150);
  });

  it("--down b without --continue-on-error: nothing starts after b fails at 30 s, so a is blocked", () => {
    // a's pull (0-60) was already running and finishes; no container step ever starts.
    const r = simulateRollout(null, fleet, options({ down: ["b"], continueOnError: false }));
    assert.deepEqual(r.services.s?.points, [[0, 2]]);
    assert.deepEqual(r.blocked, ["a"]);
    assert.deepEqual([r.hosts.a?.completed, r.hosts.b?.completed], [false, false]);
    assert.equal(r.durationSeconds, 60);
  });

  it("a lane that crosses hosts (b waits for a's gate): a down host blocks the other", () => {
    // a's pull fails at 30 s; a-s-1 is skipped, so its gate, and so b-s-1 (dependsOn a-s-2-healthy) and b-s-2.
    const crossing = [...host("a"), ...host("b", "a-s-2-healthy")];
    const r = simulateRollout(null, crossing, options({ down: ["a"] }));
    assert.deepEqual(r.blocked, ["b"]);
    assert.equal(r.hosts.b?.completed, false);
  });
});

describe("rollout simulator, a replaced server (delete-before-replace)", () => {
  const labels = [{ label: "gpu-fleet.service", value: "s" }];
  const side = (location: string, serverId: string): SynthResource[] => [
    res("srv", "hcloud:index/server:Server", "h", { deleteBeforeReplace: true, inputs: { location } }),
    res("role", "command:remote:Command", "h", { inputs: { connection, triggers: [serverId], delete: "undo" }, inputDependencies: { triggers: ["srv"] } }),
    res("c", "docker:index/container:Container", "h", { deleteBeforeReplace: true, inputs: { labels: [...labels, { label: "gpu-fleet.server", value: serverId }], stopTimeout: 10 }, inputDependencies: { labels: ["srv"] }, dependsOn: ["role"] }),
  ];

  it("drains the container and undoes the role on the old server before deleting it, then rebuilds in order", () => {
    // One chain from t=0: delete c (drain 10) → delete role (undo 5) → delete srv (30) → create srv (boot 90)
    // = 135; role 135-155; container 155-160 (no gate: running at 160).
    const r = simulateRollout(side("fsn1", "1"), side("nbg1", "2"), options());
    assert.deepEqual(r.services.s, { workers: 1, minRunning: 0, maxUnavailable: 1, points: [[0, 0], [160, 1]] });
    assert.equal(r.durationSeconds, 160);
    assert.deepEqual(r.hosts, { h: { completed: true, finishedAt: 160 } });
  });
});
