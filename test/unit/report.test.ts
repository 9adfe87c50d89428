import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { diagnosticLines, SCREENFUL } from "../../components/core/report";
import type { Diagnostic } from "../../components/core/diagnostics";

const error = (host: string | null, path: string, message = "wrong"): Diagnostic => ({ severity: "error", host, path, message });
const warning = (host: string | null, path: string, message = "odd"): Diagnostic => ({ severity: "warning", host, path, message });

describe("diagnostic lines", () => {
  it("groups fleet-wide problems first, then each host under a heading, errors before warnings", () => {
    const lines = diagnosticLines(
      [error("b", "hosts.b.cpu"), error(null, "redisUrl"), error("a", "hosts.a.gpus"), error("b", "hosts.b.ramMiB")],
      [warning("a", "hosts.a.reserve"), warning(null, "tailnet")],
    );
    assert.deepEqual(lines, [
      "✗ redisUrl: wrong",
      "! tailnet: odd",
      "host b: 2 errors",
      "✗ hosts.b.cpu: wrong",
      "✗ hosts.b.ramMiB: wrong",
      "host a: 1 error, 1 warning",
      "✗ hosts.a.gpus: wrong",
      "! hosts.a.reserve: odd",
    ]);
  });

  it("shows a screenful (20) and counts the rest", () => {
    assert.equal(SCREENFUL, 20);
    const errors = Array.from({ length: 25 }, (_, i) => error(`h${i % 3}`, `hosts.h${i % 3}.workers.s${i}`));
    const atCapacity = diagnosticLines(errors.slice(0, 20), []);
    assert.equal(atCapacity.filter((l) => l.startsWith("✗ ")).length, 20);
    assert.ok(!atCapacity.some((l) => l.startsWith("…")));
    const oneOver = diagnosticLines(errors.slice(0, 21), [warning(null, "tailnet")]);
    // The fleet-wide warning comes first, so 19 of the 21 errors fit.
    assert.equal(oneOver.filter((l) => l.startsWith("✗ ") || l.startsWith("! ")).length, 20);
    assert.equal(oneOver[oneOver.length - 1], "… and 2 more errors not shown; --json lists them all.");
    const many = diagnosticLines(errors, [warning("h9", "hosts.h9.x")]);
    assert.equal(many[many.length - 1], "… and 5 more errors and 1 more warning not shown; --json lists them all.");
  });
});
