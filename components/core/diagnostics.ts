// What the schema and the planner tell the user. Every diagnostic names the host (when there is
// one), the config path it is about, and says what to change.

export type Severity = "error" | "warning";

export interface Diagnostic {
  readonly severity: Severity;
  /** The host the problem is on, or null for fleet-wide settings (services, redis, tailnet). */
  readonly host: string | null;
  /** Dotted config path without the project namespace, e.g. `hosts.gex44-1.workers.kokoro.replicas`. */
  readonly path: string;
  /** What is wrong and what to change. */
  readonly message: string;
}

export type PathSegment = string | number;

/** `["hosts", "a", "gpus", 0, "model"]` → `hosts.a.gpus[0].model`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = "";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out === "" ? segment : `.${segment}`;
  }
  return out;
}

/** The host a config path belongs to: `hosts.<name>...` → `<name>`. */
export function hostOfPath(segments: readonly PathSegment[]): string | null {
  return segments[0] === "hosts" && typeof segments[1] === "string" ? segments[1] : null;
}

/** Collects diagnostics in the order they are found. */
export class DiagnosticList {
  private readonly items: Diagnostic[] = [];

  error(path: readonly PathSegment[], message: string): void {
    this.items.push({ severity: "error", host: hostOfPath(path), path: formatPath(path), message });
  }

  warning(path: readonly PathSegment[], message: string): void {
    this.items.push({ severity: "warning", host: hostOfPath(path), path: formatPath(path), message });
  }

  addAll(diagnostics: readonly Diagnostic[]): void {
    this.items.push(...diagnostics);
  }

  get all(): readonly Diagnostic[] {
    return this.items;
  }

  get errors(): Diagnostic[] {
    return this.items.filter((d) => d.severity === "error");
  }

  get warnings(): Diagnostic[] {
    return this.items.filter((d) => d.severity === "warning");
  }
}

/** The closest known name to a misspelt one, for "did you mean" hints. */
export function closestName(wanted: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(wanted.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // Only suggest what is plausibly a typo: at most a third of the word differs.
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(wanted.length / 3)) ? best : undefined;
}

export function didYouMean(wanted: string, known: Iterable<string>): string {
  const suggestion = closestName(wanted, known);
  return suggestion === undefined ? "" : ` Did you mean '${suggestion}'?`;
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0];
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j];
      previous[j] = Math.min(previous[j] + 1, previous[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length];
}
