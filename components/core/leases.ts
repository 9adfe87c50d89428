// VRAM leases as a host reports them (`gpu-lease.sh list`, `gpu_lease.py list`, docs/timeshare.md):
// one line per lease file, `gpu=0 holder=studio-whisper-1 mib=3584 since=1764640000.123456 pid=12 state=live`.
// Pure: parses text and summarizes it per GPU, for `status` and `service start`.

export interface LeaseEntry {
  readonly gpu: number;
  /** The worker that holds (or held) the lease: `<host>-<service>-<replica>`. */
  readonly holder: string;
  readonly mib: number;
  /** Unix seconds (with microseconds) when the lease was taken. */
  readonly since: number;
  /** The holder's pid in its own PID namespace (its container), for reading, not for signals. */
  readonly pid: number | null;
  /** live: its holder has the file locked; stale: a released or dead holder's file, counting nothing. */
  readonly state: "live" | "stale";
}

export interface LeaseListing {
  readonly leases: readonly LeaseEntry[];
  /** Lines that are not lease lines, with why; a listing from a newer client may add fields, never lose these. */
  readonly problems: readonly string[];
}

/** Parses a lease listing. Lines without `state=` are live (the `check` output lists live leases only). */
export function parseLeaseListing(text: string): LeaseListing {
  const leases: LeaseEntry[] = [];
  const problems: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const fields = new Map<string, string>();
    for (const word of line.split(/\s+/)) {
      const eq = word.indexOf("=");
      if (eq > 0) fields.set(word.slice(0, eq), word.slice(eq + 1));
    }
    const gpu = wholeNumber(fields.get("gpu"));
    const mib = wholeNumber(fields.get("mib"));
    const since = seconds(fields.get("since"));
    const holder = fields.get("holder") ?? "";
    const state = fields.get("state") ?? "live";
    const missing = [gpu === null ? "gpu" : "", holder === "" ? "holder" : "", mib === null ? "mib" : "", since === null ? "since" : ""].filter((f) => f !== "");
    if (missing.length > 0 || (state !== "live" && state !== "stale")) {
      problems.push(`'${line}': ${missing.length > 0 ? `no valid ${missing.join(", ")}` : `unknown state '${state}'`}`);
      continue;
    }
    leases.push({ gpu: gpu ?? 0, holder, mib: mib ?? 0, since: since ?? 0, pid: wholeNumber(fields.get("pid")), state: state as LeaseEntry["state"] });
  }
  return { leases, problems };
}

export interface GpuLeases {
  readonly gpu: number;
  /** Live leases, oldest first. */
  readonly holders: readonly LeaseEntry[];
  readonly leasedMiB: number;
}

/** Live leases grouped per GPU (stale files count nothing), GPUs in order. */
export function leasesByGpu(listing: LeaseListing): GpuLeases[] {
  const byGpu = new Map<number, LeaseEntry[]>();
  for (const lease of listing.leases) {
    if (lease.state !== "live") continue;
    byGpu.set(lease.gpu, [...(byGpu.get(lease.gpu) ?? []), lease]);
  }
  return [...byGpu.entries()]
    .sort(([a], [b]) => a - b)
    .map(([gpu, holders]) => {
      const sorted = [...holders].sort((a, b) => a.since - b.since || a.holder.localeCompare(b.holder));
      return { gpu, holders: sorted, leasedMiB: sorted.reduce((n, l) => n + l.mib, 0) };
    });
}

/** "studio-qwen3-tts-1 holds 4403 MiB since 02:31:07 UTC (3 min)", for messages. */
export function describeLease(lease: LeaseEntry, nowSeconds: number): string {
  const since = new Date(lease.since * 1000).toISOString().slice(11, 19);
  return `${lease.holder} holds ${lease.mib} MiB since ${since} UTC (${duration(Math.max(0, Math.floor(nowSeconds - lease.since)))})`;
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

function seconds(value: string | undefined): number | null {
  return value !== undefined && /^\d+(\.\d+)?$/.test(value) ? Number(value) : null;
}

function wholeNumber(value: string | undefined): number | null {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
}
