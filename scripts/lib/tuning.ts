// The arithmetic of `gpu-fleet tune`, pure: statistics of one candidate's jobs, the early-stop rule,
// which row is best, the table and the YAML to paste. scripts/tune.ts measures; this decides.

/** Thread counts tune tries (the seeds' table: 1/2/4/6/8), those the host's usable cores allow. */
export const THREAD_CANDIDATES = [1, 2, 4, 6, 8] as const;

/** A candidate is clearly worse, and stopped early, below this share of the best finished throughput. */
export const EARLY_STOP_SHARE = 0.5;

/** One measured job: server times (seconds) of its push and its answer. */
export interface JobTiming {
  readonly pushedAt: number;
  readonly answeredAt: number;
}

export type CandidateStatus = "measured" | "stopped early" | "out of budget" | "failed";

export interface CandidateRow {
  readonly replicas: number;
  readonly threads: number;
  readonly status: CandidateStatus;
  /** Why it stopped or failed, for people. */
  readonly note: string;
  /** The answered jobs, raw. */
  readonly jobs: readonly JobTiming[];
  readonly jobsPerSecond: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}

/** Throughput: answered jobs over the time from the first push to the last answer. */
export function throughput(jobs: readonly JobTiming[]): number {
  if (jobs.length === 0) return 0;
  const start = Math.min(...jobs.map((j) => j.pushedAt));
  const end = Math.max(...jobs.map((j) => j.answeredAt));
  return end > start ? jobs.length / (end - start) : 0;
}

/** The p-th percentile (nearest rank) of the jobs' latencies, in ms. */
export function percentileMs(jobs: readonly JobTiming[], p: number): number {
  if (jobs.length === 0) return 0;
  const sorted = jobs.map((j) => (j.answeredAt - j.pushedAt) * 1000).sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function row(replicas: number, threads: number, status: CandidateStatus, note: string, jobs: readonly JobTiming[]): CandidateRow {
  return { replicas, threads, status, note, jobs, jobsPerSecond: throughput(jobs), p50Ms: percentileMs(jobs, 50), p95Ms: percentileMs(jobs, 95) };
}

/**
 * Clearly worse: at least half its jobs answered and a throughput below EARLY_STOP_SHARE of the best
 * finished candidate's so far. Half the jobs first, so a slow start alone does not stop it.
 */
export function clearlyWorse(answered: readonly JobTiming[], planned: number, bestSoFar: number | undefined): boolean {
  if (bestSoFar === undefined || answered.length * 2 < planned) return false;
  return throughput(answered) < EARLY_STOP_SHARE * bestSoFar;
}

/** The best finished candidate: highest throughput; a tie goes to the lower p95, then fewer replicas. */
export function best(rows: readonly CandidateRow[]): CandidateRow | undefined {
  return rows
    .filter((r) => r.status === "measured")
    .sort((a, b) => b.jobsPerSecond - a.jobsPerSecond || a.p95Ms - b.p95Ms || a.replicas - b.replicas)[0];
}

export function table(rows: readonly CandidateRow[]): string {
  const winner = best(rows);
  const head = ["replicas", "threads", "jobs", "jobs/s", "p50 ms", "p95 ms", ""];
  const body = rows.map((r) => [
    String(r.replicas),
    String(r.threads),
    String(r.jobs.length),
    r.jobsPerSecond.toFixed(2),
    r.jobs.length === 0 ? "-" : r.p50Ms.toFixed(0),
    r.jobs.length === 0 ? "-" : r.p95Ms.toFixed(0),
    r === winner ? "best" : r.status === "measured" ? "" : `${r.status}${r.note === "" ? "" : `: ${r.note}`}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]))).join("  ").trimEnd();
  return [line(head), ...body.map(line)].join("\n");
}

/** What to paste into the stack: the host's worker entry with the measured best. */
export function yamlSnippet(host: string, service: string, winner: Pick<CandidateRow, "replicas" | "threads">): string {
  return `gpu-fleet:hosts:\n  ${host}:\n    workers:\n      ${service}: { replicas: ${winner.replicas}, threads: ${winner.threads} }\n`;
}
