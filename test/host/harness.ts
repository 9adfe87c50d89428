// Real-host harness for the role scripts: a fresh Debian 12 system (debootstrap image, systemd as
// PID 1) in a container of a private Docker daemon, with stand-in apt repositories for NVIDIA and
// Tailscale. See docs/roles.md, "Host tests".
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

export const repoRoot = path.resolve(__dirname, "..", "..");
export const rolesDir = path.join(repoRoot, "scripts", "roles");
const hostDir = __dirname;

/** Where the roles live on the test host (the deployment copies the folder the same way). */
export const REMOTE_ROLES = "/var/lib/gpu-fleet/roles";
/** Where the stand-in apt repositories live on the test host. */
export const REMOTE_REPOS = "/srv/fleet-test-repos";
export const CALL_LOG = "/var/log/fleet-fake-calls.log";

export function repoLine(name: "nvidia" | "nvidia-broken" | "ctk" | "tailscale"): string {
  return `deb [trusted=yes] file:${REMOTE_REPOS}/${name} ./`;
}

export const HOW_TO_RUN =
  "host tests skipped: set FLEET_HOST_TESTS=1 (needs root, apt packages docker.io debootstrap dpkg-dev shellcheck, " +
  "and a Docker daemon: `bash test/host/dockerd.sh start` then DOCKER_HOST=unix:///tmp/fleet-docker/docker.sock); " +
  "see docs/roles.md";

export const enabled = process.env.FLEET_HOST_TESTS === "1";

/** openssh-server and what a minbase Debian 12 lacks of its dependencies (apt-get download, then dpkg -i on a test host). */
export const SSH_PACKAGES = [
  "openssh-server", "openssh-client", "openssh-sftp-server", "ucf", "runit-helper", "libwrap0", "libnsl2", "libtirpc3",
  "libtirpc-common", "sensible-utils", "libcbor0.8", "libfido2-1", "libedit2", "libgssapi-krb5-2", "libkrb5-3",
  "libk5crypto3", "libkrb5support0", "libkeyutils1", "libbsd0", "libmd0",
];

export function dockerHost(): string {
  return process.env.DOCKER_HOST || "unix:///tmp/fleet-docker/docker.sock";
}

function env(): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_HOST: dockerHost() };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The last non-empty line of stdout: the role's status line. */
  last: string;
}

function lastLine(s: string): string {
  const lines = s.split("\n").filter((l) => l.trim() !== "");
  return lines.length ? lines[lines.length - 1]! : "";
}

/** Runs a command, feeding `input` on stdin; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], input = "", timeoutMs = 1_800_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env(), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      stderr += `\nharness: killed after ${timeoutMs / 1000}s\n`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr, last: lastLine(stdout) });
    });
    child.stdin.end(input);
  });
}

function must(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { env: env(), encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Throws with a clear message when Docker, debootstrap or dpkg-deb cannot be used. */
export function checkPrerequisites(): void {
  for (const tool of ["docker", "debootstrap", "dpkg-deb", "dpkg-scanpackages"]) {
    const r = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
    if (r.status !== 0) {
      throw new Error(`FLEET_HOST_TESTS=1 but ${tool} is missing (apt-get install docker.io debootstrap dpkg-dev)`);
    }
  }
  const v = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { env: env(), encoding: "utf8" });
  if (v.status !== 0) {
    throw new Error(
      `FLEET_HOST_TESTS=1 but no Docker daemon answers at ${dockerHost()}: start one with ` +
        `'bash test/host/dockerd.sh start' or set DOCKER_HOST.\n${v.stderr}`,
    );
  }
}

let imageTag: string | undefined;
/** Builds (or reuses) the cached Debian 12 + systemd image; returns its tag. */
export function buildImage(): string {
  if (!imageTag) {
    imageTag = must("bash", [path.join(hostDir, "build-image.sh")]).trim().split("\n").pop()!;
  }
  return imageTag;
}

let reposDir: string | undefined;
function buildRepos(): string {
  if (!reposDir) {
    reposDir = mkdtempSync(path.join(tmpdir(), "fleet-repos-"));
    must("bash", [path.join(hostDir, "build-repos.sh"), reposDir]);
    process.on("exit", () => rmSync(reposDir!, { recursive: true, force: true }));
  }
  return reposDir;
}

export class TestHost {
  readonly container: string;
  constructor(readonly hostName: string) {
    this.container = `gpu-fleet-test-${hostName}-${process.pid}`;
  }

  async start(): Promise<void> {
    const image = buildImage();
    const repos = buildRepos();
    spawnSync("docker", ["rm", "-f", this.container], { env: env() });
    // --privileged is not used: this sandbox withholds CAP_SYS_RESOURCE, which --privileged asks for.
    must("docker", [
      "run", "-d", "--name", this.container, "--hostname", this.hostName,
      "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
      "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
      "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
      "--tmpfs", "/run", "--tmpfs", "/run/lock",
      // The docker role runs a real dockerd inside: its data must not sit on overlayfs.
      "-v", "/var/lib/docker",
      "--stop-signal", "SIGRTMIN+3",
      image,
    ]);
    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = await this.sh("systemctl is-system-running 2>/dev/null || true");
      const state = r.stdout.trim();
      if (state === "running" || state === "degraded") break;
      if (Date.now() > deadline) throw new Error(`test host ${this.hostName} did not boot (state '${state}')`);
      await new Promise((res) => setTimeout(res, 500));
    }
    must("docker", ["exec", this.container, "mkdir", "-p", path.dirname(REMOTE_ROLES), REMOTE_REPOS]);
    // The stand-ins also run as the MPS clients' uid (the MPS daemon does): all may append to the log.
    must("docker", ["exec", this.container, "install", "-m", "0666", "/dev/null", CALL_LOG]);
    must("docker", ["cp", rolesDir, `${this.container}:${REMOTE_ROLES}`]);
    must("docker", ["cp", `${repos}/.`, `${this.container}:${REMOTE_REPOS}`]);
  }

  async stop(): Promise<void> {
    spawnSync("docker", ["rm", "-f", "-v", this.container], { env: env() });
  }

  /** Runs a shell command on the test host as root. */
  sh(script: string, input = ""): Promise<RunResult> {
    return run("docker", ["exec", "-i", this.container, "bash", "-c", script], input);
  }

  /** Runs a role the way the deployment does: env vars only, secrets on stdin. */
  role(name: string, vars: Record<string, string> = {}, stdin = ""): Promise<RunResult> {
    const args = ["exec", "-i", "-e", `FLEET_HOST=${this.hostName}`];
    for (const [k, v] of Object.entries(vars)) args.push("-e", `${k}=${v}`);
    args.push(this.container, "bash", `${REMOTE_ROLES}/${name}.sh`);
    return run("docker", args, stdin);
  }

  async read(file: string): Promise<string> {
    const r = await this.sh(`cat ${file}`);
    if (r.code !== 0) throw new Error(`cannot read ${file} on ${this.hostName}: ${r.stderr}`);
    return r.stdout;
  }

  async out(script: string): Promise<string> {
    const r = await this.sh(script);
    if (r.code !== 0) throw new Error(`'${script}' failed on ${this.hostName}: ${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  }

  /** Lines of the stand-in call log that match a pattern. */
  async calls(pattern: RegExp): Promise<string[]> {
    const r = await this.sh(`cat ${CALL_LOG} 2>/dev/null || true`);
    return r.stdout.split("\n").filter((l) => pattern.test(l));
  }

  /** How many times systemd (PID 1) has reloaded its units since boot. */
  async daemonReloads(): Promise<number> {
    const r = await this.sh("journalctl _PID=1 --no-pager -o cat | grep -c '^Reloading' || true");
    return Number(r.stdout.trim() || "0");
  }
}

/** A short description of a run for assertion messages. */
export function show(r: RunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr (tail)\n${r.stderr.split("\n").slice(-15).join("\n")}`;
}
