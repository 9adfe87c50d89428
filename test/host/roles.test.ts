// Each role on a real, fresh Debian 12 system (systemd as PID 1), run twice: the first run converges
// (`changed:`), the second changes nothing (`ok:`). Then the failure paths. The roles run in the
// deployment's order on one host, like HostSetup does. Run: FLEET_HOST_TESTS=1 (docs/roles.md).
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { enabled, HOW_TO_RUN, TestHost, checkPrerequisites, repoLine, show, CALL_LOG, REMOTE_ROLES, type RunResult } from "./harness";
import { fakeAuthKey } from "../support/fixtures";

const AUTH_KEY = fakeAuthKey("TEST0000");

function changedRun(r: RunResult, role: string): void {
  assert.equal(r.code, 0, `${role} first run failed:\n${show(r)}`);
  assert.match(r.last, /^changed: /, `${role} first run must report changed:\n${show(r)}`);
}
function okRun(r: RunResult, role: string): void {
  assert.equal(r.code, 0, `${role} failed:\n${show(r)}`);
  assert.match(r.last, /^ok: /, `${role} must report ok (nothing to change):\n${show(r)}`);
}
function failedRun(r: RunResult, role: string, host: string, reason: RegExp): void {
  assert.notEqual(r.code, 0, `${role} must fail:\n${show(r)}`);
  assert.match(r.stderr, new RegExp(`failed: ${role} on ${host}: .*\\. hint: .+`), `${role} failure line:\n${show(r)}`);
  assert.match(r.stderr, reason, `${role} failure reason:\n${show(r)}`);
  assert.doesNotMatch(r.last, /^(changed|ok): /, `a failed ${role} must not print a success status:\n${show(r)}`);
}

describe("role scripts on a fresh Debian 12 host", { skip: enabled ? false : HOW_TO_RUN, timeout: 1_500_000 }, () => {
  const host = new TestHost("gpu-box-1");
  const nvidia = {
    FLEET_NVIDIA_DRIVER: "managed",
    FLEET_NVIDIA_BRANCH: "580",
    FLEET_NVIDIA_MODULES: "open",
    FLEET_NVIDIA_APT_REPO: repoLine("nvidia"),
    // The test cancels the scheduled reboot long before it would fire.
    FLEET_REBOOT_DELAY_SECONDS: "900",
  };

  before(async () => {
    checkPrerequisites();
    await host.start();
  });
  after(async () => {
    await host.stop();
  });

  it("refuses an unsupported OS, naming it", async () => {
    const r = await host.sh(
      `printf 'PRETTY_NAME="Fedora Linux 40"\\nID=fedora\\nVERSION_ID=40\\n' > /tmp/os-release.fake && ` +
        `unshare --mount bash -c 'mount --bind /tmp/os-release.fake /etc/os-release && FLEET_HOST=gpu-box-1 bash ${REMOTE_ROLES}/base.sh'`,
    );
    failedRun(r, "base", "gpu-box-1", /unsupported operating system 'Fedora Linux 40' \(ID=fedora, VERSION_ID=40\)/);
    assert.equal(await host.out("grep -c '^ID=debian' /etc/os-release"), "1");
  });

  it("facts: reports the host as JSON, checks declared sizes, changes nothing", async () => {
    // Declared GPUs but no driver yet: facts must not fail (the driver role installs nvidia-smi).
    const vars = { FLEET_EXPECT_CORES: "1", FLEET_EXPECT_RAM_MIB: "1024", FLEET_EXPECT_GPU_VRAM_MIB: "20480" };
    const r1 = await host.role("facts", vars);
    okRun(r1, "facts");
    const lines = r1.stdout.trim().split("\n");
    const facts = JSON.parse(lines[lines.length - 2]!);
    assert.equal(facts.os.id, "debian");
    assert.equal(facts.os.version, "12");
    assert.ok(facts.cores >= 1 && facts.ramMiB > 0);
    assert.deepEqual(facts.gpus, []);
    okRun(await host.role("facts", vars), "facts");

    const tooMany = await host.role("facts", { FLEET_EXPECT_CORES: "512" });
    failedRun(tooMany, "facts", "gpu-box-1", /declared 512 cores, found \d+/);
    const tooMuchRam = await host.role("facts", { FLEET_EXPECT_RAM_MIB: String(facts.ramMiB * 2) });
    failedRun(tooMuchRam, "facts", "gpu-box-1", new RegExp(`declared ${facts.ramMiB * 2} MiB RAM, found ${facts.ramMiB} MiB`));
  });

  it("base: packages, time sync, drop-ins; second run changes nothing", async () => {
    const r1 = await host.role("base");
    changedRun(r1, "base");
    assert.match(r1.last, /installed .*jq/);
    const mtime = await host.out("stat -c %Y /etc/sysctl.d/90-gpu-fleet.conf /etc/security/limits.d/90-gpu-fleet.conf");
    assert.equal(await host.out("dpkg-query -W -f='${db:Status-Status}' jq curl gnupg ca-certificates"), "installedinstalledinstalledinstalled");
    // The fleet's runtime directory exists from boot on (tmpfiles); the roles that own what is in it
    // (mps, container-toolkit) make their own directories.
    assert.equal(await host.out("stat -c '%U:%a' /run/gpu-fleet"), "root:755");
    okRun(await host.role("base"), "base");
    assert.equal(await host.out("stat -c %Y /etc/sysctl.d/90-gpu-fleet.conf /etc/security/limits.d/90-gpu-fleet.conf"), mtime);
  });

  it("docker: docker.io from Debian, log rotation merged into daemon.json, restart only on change", async () => {
    // A key someone else set must survive the merge.
    await host.out(`mkdir -p /etc/docker && echo '{"live-restore": true}' > /etc/docker/daemon.json`);
    const r1 = await host.role("docker");
    changedRun(r1, "docker");
    assert.match(r1.last, /installed docker\.io/);
    const conf = JSON.parse(await host.read("/etc/docker/daemon.json"));
    assert.equal(conf["live-restore"], true);
    assert.equal(conf["log-driver"], "json-file");
    assert.deepEqual(conf["log-opts"], { "max-size": "50m", "max-file": "5" });
    assert.equal(await host.out("systemctl is-active docker"), "active");
    assert.equal(await host.out("systemctl is-enabled docker"), "enabled");
    assert.match(await host.out("docker info --format '{{.LoggingDriver}}'"), /json-file/);
    const pid = await host.out("systemctl show -p MainPID --value docker");
    const mtime = await host.out("stat -c %Y /etc/docker/daemon.json");

    okRun(await host.role("docker"), "docker");
    assert.equal(await host.out("systemctl show -p MainPID --value docker"), pid, "docker restarted on the second run");
    assert.equal(await host.out("stat -c %Y /etc/docker/daemon.json"), mtime);

    // A changed setting rewrites the file and restarts docker once.
    const r3 = await host.role("docker", { FLEET_DOCKER_LOG_MAX_SIZE: "20m" });
    changedRun(r3, "docker");
    assert.match(r3.last, /docker restarted/);
    assert.notEqual(await host.out("systemctl show -p MainPID --value docker"), pid);
    okRun(await host.role("docker", { FLEET_DOCKER_LOG_MAX_SIZE: "20m" }), "docker");
    changedRun(await host.role("docker"), "docker"); // back to the default
  });

  it("docker: a non-root SSH user gets Docker access through the docker group, once", async () => {
    await host.out("useradd -m -s /bin/bash fleetops");
    const denied = await host.sh("runuser -u fleetops -- docker info");
    assert.notEqual(denied.code, 0, "a user outside the docker group reached dockerd");
    const r = await host.role("docker", { FLEET_DOCKER_USERS: "fleetops" });
    changedRun(r, "docker");
    assert.match(r.last, /^changed: fleetops added to the docker group \(Docker over ssh:\/\/ as fleetops\)$/);
    // A new login session, as each SSH connection of the Docker provider is.
    const info = await host.sh("runuser -l fleetops -c 'docker info --format {{.ServerVersion}}'");
    assert.equal(info.code, 0, show(info));
    okRun(await host.role("docker", { FLEET_DOCKER_USERS: "fleetops" }), "docker");
    failedRun(await host.role("docker", { FLEET_DOCKER_USERS: "nosuchuser" }), "docker", "gpu-box-1", /user nosuchuser does not exist/);
  });

  it("nvidia-driver: none and preinstalled modes", async () => {
    okRun(await host.role("nvidia-driver", { FLEET_NVIDIA_DRIVER: "none" }), "nvidia-driver");
    const pre = await host.role("nvidia-driver", { FLEET_NVIDIA_DRIVER: "preinstalled" });
    failedRun(pre, "nvidia-driver", "gpu-box-1", /preinstalled but nvidia-smi does not work/);
  });

  it("nvidia-driver: managed install from the apt repo, reboot scheduled, then ok", async () => {
    const bootId = await host.out("cat /proc/sys/kernel/random/boot_id");
    const r1 = await host.role("nvidia-driver", nvidia);
    changedRun(r1, "nvidia-driver");
    assert.match(r1.last, /installed nvidia-driver-pinning-580/);
    assert.match(r1.last, /installed nvidia-driver-cuda nvidia-kernel-open-dkms/);
    assert.match(r1.last, /nouveau blacklisted/);
    assert.match(r1.last, new RegExp(`reboot scheduled in 900s \\(boot id ${bootId}\\)`));
    assert.ok(r1.stdout.includes(`previous boot id: ${bootId}\n`), show(r1));
    assert.equal(await host.out("systemctl is-active gpu-fleet-reboot.timer"), "active");
    assert.match(await host.read("/etc/modprobe.d/gpu-fleet-blacklist-nouveau.conf"), /^blacklist nouveau$/m);
    assert.equal(await host.out("systemctl is-enabled nvidia-persistenced"), "enabled");
    // The reboot is not synchronous: cancel it, as if the host had come back.
    await host.out("systemctl stop gpu-fleet-reboot.timer");
    const installs = (await host.calls(/^dpkg postinst/)).length;

    const r2 = await host.role("nvidia-driver", nvidia);
    okRun(r2, "nvidia-driver");
    assert.match(r2.last, /580\.95\.05 \(branch 580, open modules\)/);
    assert.equal((await host.calls(/^dpkg postinst/)).length, installs, "second run installed packages");
    assert.equal(await host.sh("systemctl is-active gpu-fleet-reboot.timer").then((r) => r.stdout.trim()), "inactive");
    okRun(await host.role("nvidia-driver", { FLEET_NVIDIA_DRIVER: "preinstalled" }), "nvidia-driver");
  });

  it("nvidia-driver: with the pinned driver running, a missing nouveau blacklist is written without a reboot", async () => {
    await host.out("rm /etc/modprobe.d/gpu-fleet-blacklist-nouveau.conf");
    // This stand-in host's kernel has no nouveau loaded (the reboot rule's other reason).
    assert.equal((await host.sh("test -d /sys/module/nouveau")).code, 1);
    const r = await host.role("nvidia-driver", nvidia);
    changedRun(r, "nvidia-driver");
    assert.match(r.last, /^changed: nouveau blacklisted$/);
    assert.doesNotMatch(r.stdout, /reboot scheduled|previous boot id/);
    assert.equal((await host.sh("systemctl is-active gpu-fleet-reboot.timer")).stdout.trim(), "inactive");
    assert.match(await host.read("/etc/modprobe.d/gpu-fleet-blacklist-nouveau.conf"), /^blacklist nouveau$/m);
    okRun(await host.role("nvidia-driver", nvidia), "nvidia-driver");
  });

  it("nvidia-driver: a different installed branch fails with a hint instead of swapping drivers", async () => {
    const r = await host.role("nvidia-driver", { ...nvidia, FLEET_NVIDIA_BRANCH: "570" });
    failedRun(r, "nvidia-driver", "gpu-box-1", /driver 580\.95\.05 \(branch 580\) is installed, the stack pins branch 570/);
  });

  it("await-boot: ok without a scheduled reboot, clear failure when the reboot never comes", async () => {
    okRun(await host.role("await-boot", { FLEET_PREVIOUS_BOOT_ID: "" }), "await-boot");
    const bootId = await host.out("cat /proc/sys/kernel/random/boot_id");
    const r = await host.role("await-boot", { FLEET_PREVIOUS_BOOT_ID: bootId, FLEET_TIMEOUT_SECONDS: "20" });
    failedRun(r, "await-boot", "gpu-box-1", /still runs boot .* and no reboot is pending/);
  });

  it("facts: VRAM checked once the driver works", async () => {
    okRun(await host.role("facts", { FLEET_EXPECT_GPU_VRAM_MIB: "20480" }), "facts");
    await host.out("mkdir -p /etc/fleet-fake && echo '0, NVIDIA GeForce RTX 4060, 8192, 8.9' > /etc/fleet-fake/gpus.csv");
    try {
      const r = await host.role("facts", { FLEET_EXPECT_GPU_VRAM_MIB: "20480" });
      failedRun(r, "facts", "gpu-box-1", /declared 20480 MiB on GPU 0, found 8192 MiB/);
      assert.match(r.stderr, /fix hosts\.gpu-box-1\.gpus in the stack config/);
      const two = await host.role("facts", { FLEET_EXPECT_GPU_VRAM_MIB: "8192,8192" });
      failedRun(two, "facts", "gpu-box-1", /declared 2 GPU\(s\), found 1/);
    } finally {
      await host.out("rm -f /etc/fleet-fake/gpus.csv");
    }
  });

  it("container-toolkit: installs, adds the nvidia runtime, restarts docker once, no daemon-reload", async () => {
    okRun(await host.role("container-toolkit", { FLEET_GPU_COUNT: "0" }), "container-toolkit");
    const vars = { FLEET_GPU_COUNT: "1", FLEET_NVIDIA_CTK_APT_REPO: repoLine("ctk") };
    const pid0 = await host.out("systemctl show -p MainPID --value docker");
    const r1 = await host.role("container-toolkit", vars);
    changedRun(r1, "container-toolkit");
    assert.match(r1.last, /nvidia runtime added .*docker restarted/);
    const pid1 = await host.out("systemctl show -p MainPID --value docker");
    assert.notEqual(pid1, pid0);
    const conf = JSON.parse(await host.read("/etc/docker/daemon.json"));
    assert.equal(conf.runtimes.nvidia.path, "nvidia-container-runtime");
    assert.equal(conf["live-restore"], true);
    assert.equal(conf["log-opts"]["max-size"], "50m");

    const reloads = await host.daemonReloads();
    okRun(await host.role("container-toolkit", vars), "container-toolkit");
    assert.equal(await host.out("systemctl show -p MainPID --value docker"), pid1, "docker restarted on the second run");
    assert.equal((await host.calls(/^nvidia-ctk runtime configure/)).length, 1);
    assert.equal(await host.daemonReloads(), reloads, "the second run reloaded systemd");
    // The docker role keeps the runtime nvidia-ctk added and does not restart docker for formatting.
    okRun(await host.role("docker"), "docker");
    assert.equal(await host.out("systemctl show -p MainPID --value docker"), pid1);
  });

  it("container-toolkit: NVIDIA's daemon-reload fix (udev rule, /dev/char symlinks) and the lease directory; idempotent", async () => {
    const vars = { FLEET_GPU_COUNT: "1", FLEET_NVIDIA_CTK_APT_REPO: repoLine("ctk") };
    // The rule as NVIDIA documents it (nvidia-docker#1730, nvidia-container-toolkit#48).
    const rule = await host.read("/lib/udev/rules.d/71-nvidia-dev-char.rules");
    assert.ok(
      rule.split("\n").includes('ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", RUN+="/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all"'),
      rule,
    );
    assert.equal(await host.out("stat -c '%a %U' /run/gpu-fleet/leases"), "1777 root");
    assert.match(await host.read("/etc/tmpfiles.d/gpu-fleet-leases.conf"), /^d \/run\/gpu-fleet\/leases 1777 root root -$/m);

    // The driver's device nodes, with their real numbers (no GPU here, so made by hand).
    await host.out("mknod -m 666 /dev/nvidia0 c 195 0 && mknod -m 666 /dev/nvidiactl c 195 255 && mkdir -p /dev/nvidia-caps && mknod -m 400 /dev/nvidia-caps/nvidia-cap1 c 234 1");
    const links = "readlink /dev/char/195:0 /dev/char/195:255 /dev/char/234:1";
    const r1 = await host.role("container-toolkit", vars);
    changedRun(r1, "container-toolkit");
    assert.match(r1.last, /^changed: \/dev\/char symlinks for 3 NVIDIA device\(s\)$/);
    assert.equal(await host.out(links), "/dev/nvidia0\n/dev/nvidiactl\n/dev/nvidia-caps/nvidia-cap1");
    const creates = /^nvidia-ctk system create-dev-char-symlinks --create-all$/;
    assert.equal((await host.calls(creates)).length, 1);

    const reloads = await host.daemonReloads();
    const second = await host.role("container-toolkit", vars);
    okRun(second, "container-toolkit");
    assert.match(second.last, /\/dev\/char symlinks and udev rule in place, lease directory \/run\/gpu-fleet\/leases/);
    assert.equal((await host.calls(creates)).length, 1, "the second run ran nvidia-ctk again");
    assert.equal(await host.daemonReloads(), reloads);

    // A link that went missing is made again; then nothing to do.
    await host.out("rm /dev/char/195:0");
    const r3 = await host.role("container-toolkit", vars);
    changedRun(r3, "container-toolkit");
    assert.match(r3.last, /\/dev\/char symlinks for 1 NVIDIA device\(s\)/);
    assert.equal(await host.out("readlink /dev/char/195:0"), "/dev/nvidia0");
    okRun(await host.role("container-toolkit", vars), "container-toolkit");

    // After a reboot /run is empty: systemd-tmpfiles (as at boot) brings the lease directory back.
    await host.out("rmdir /run/gpu-fleet/leases && systemd-tmpfiles --create /etc/tmpfiles.d/gpu-fleet-leases.conf");
    assert.equal(await host.out("stat -c %a /run/gpu-fleet/leases"), "1777");
    okRun(await host.role("container-toolkit", vars), "container-toolkit");
  });

  it("mps: unit written, verified, started; second run changes nothing; off removes it", async () => {
    const vars = {
      FLEET_MPS: "on",
      FLEET_MPS_GPUS: "0",
      FLEET_MPS_UID: "10001",
      FLEET_MPS_PINNED_MEM_LIMIT: "0=2400M",
      FLEET_MPS_ACTIVE_THREAD_PERCENTAGE: "50",
    };
    okRun(await host.role("mps", { FLEET_MPS: "off" }), "mps");
    const r1 = await host.role("mps", vars);
    changedRun(r1, "mps");
    const unitPath = "/etc/systemd/system/gpu-fleet-mps.service";
    const unit = await host.read(unitPath);
    for (const line of [
      "Type=forking",
      "Before=docker.service",
      "User=10001",
      "Group=10001",
      "Environment=CUDA_VISIBLE_DEVICES=0",
      "Environment=CUDA_MPS_PIPE_DIRECTORY=/run/gpu-fleet/mps",
      "Environment=CUDA_MPS_LOG_DIRECTORY=/var/log/gpu-fleet/mps",
      "LimitNOFILE=65536",
      "ExecStartPre=-+/usr/bin/nvidia-smi -i 0 -c EXCLUSIVE_PROCESS",
      "ExecStart=/usr/bin/nvidia-cuda-mps-control -d",
      "ExecStartPost=/bin/sh -c 'echo set_default_device_pinned_mem_limit 0 2400M | /usr/bin/nvidia-cuda-mps-control'",
      "ExecStartPost=/bin/sh -c 'echo set_default_active_thread_percentage 50 | /usr/bin/nvidia-cuda-mps-control'",
      "ExecStop=/bin/sh -c 'echo quit | /usr/bin/nvidia-cuda-mps-control'",
      "Restart=on-failure",
    ]) {
      assert.ok(unit.split("\n").includes(line), `unit lacks '${line}':\n${unit}`);
    }
    const verify = await host.sh(`systemd-analyze verify ${unitPath}`);
    assert.equal(verify.code, 0, `systemd-analyze verify:\n${show(verify)}`);
    assert.equal(verify.stderr.trim(), "", `systemd-analyze verify warned:\n${verify.stderr}`);
    assert.equal(await host.out("systemctl is-active gpu-fleet-mps"), "active");
    assert.equal(await host.out("cat /var/lib/fleet-fake/compute-mode-0"), "EXCLUSIVE_PROCESS");
    assert.deepEqual(await host.calls(/^nvidia-cuda-mps-control cmd: set_default/), [
      "nvidia-cuda-mps-control cmd: set_default_device_pinned_mem_limit 0 2400M",
      "nvidia-cuda-mps-control cmd: set_default_active_thread_percentage 50",
    ]);
    const [started] = await host.calls(/^nvidia-cuda-mps-control -d/);
    assert.match(started!, /uid=10001 pipe=\/run\/gpu-fleet\/mps log=\/var\/log\/gpu-fleet\/mps visible=0/);
    // The directories exist from boot on (tmpfiles), belong to the clients' uid, and only to it.
    assert.equal(await host.read("/etc/tmpfiles.d/gpu-fleet-mps.conf"), "# Managed by gpu-fleet (scripts/roles/mps.sh); changes are overwritten.\nd /run/gpu-fleet/mps 0700 10001 10001 -\nd /var/log/gpu-fleet/mps 0750 10001 10001 -\n");
    assert.equal(await host.out("stat -c '%u:%g:%a' /run/gpu-fleet/mps /var/log/gpu-fleet/mps"), "10001:10001:700\n10001:10001:750");
    const tmpfiles = await host.sh("systemd-tmpfiles --create --dry-run /etc/tmpfiles.d/gpu-fleet-mps.conf 2>&1 || systemd-tmpfiles --create /etc/tmpfiles.d/gpu-fleet-mps.conf 2>&1");
    assert.equal(tmpfiles.code, 0, show(tmpfiles));

    const reloads = await host.daemonReloads();
    const mtime = await host.out(`stat -c %Y ${unitPath}`);
    okRun(await host.role("mps", vars), "mps");
    assert.equal(await host.daemonReloads(), reloads, "the second run reloaded systemd");
    assert.equal(await host.out(`stat -c %Y ${unitPath}`), mtime);
    assert.equal((await host.calls(/^nvidia-cuda-mps-control -d/)).length, 1, "MPS restarted on the second run");

    const off = await host.role("mps", { FLEET_MPS: "off" });
    changedRun(off, "mps");
    assert.equal((await host.sh(`test -e ${unitPath}`)).code, 1, "unit file left behind");
    assert.equal((await host.sh("test -e /etc/tmpfiles.d/gpu-fleet-mps.conf")).code, 1, "tmpfiles entry left behind");
    assert.deepEqual(await host.calls(/^nvidia-cuda-mps-control cmd: quit/), ["nvidia-cuda-mps-control cmd: quit"]);
    assert.equal(await host.out("cat /var/lib/fleet-fake/compute-mode-0"), "DEFAULT");
    okRun(await host.role("mps", { FLEET_MPS: "off" }), "mps");
  });

  it("tailscale: enrolls once with the key from stdin, never again; settings via tailscale set", async () => {
    const vars = {
      FLEET_TS_HOSTNAME: "gpu-box-1",
      FLEET_TS_TAGS: "gpu-worker,tag:fleet",
      FLEET_TAILSCALE_APT_REPO: repoLine("tailscale"),
    };
    const noKey = await host.role("tailscale", vars, "");
    failedRun(noKey, "tailscale", "gpu-box-1", /needs login and no auth key came on stdin/);

    const r1 = await host.role("tailscale", vars, `${AUTH_KEY}\n`);
    changedRun(r1, "tailscale");
    assert.match(r1.last, /enrolled in the tailnet as gpu-box-1 with tag:gpu-worker,tag:fleet/);
    assert.match(r1.last, /100\.64\.0\.7/);
    const ups = await host.calls(/^tailscale up/);
    assert.equal(ups.length, 1);
    assert.match(ups[0]!, /--auth-key=file:\/run\/gpu-fleet-ts-key\.\S+ --hostname=gpu-box-1 .*--advertise-tags=tag:gpu-worker,tag:fleet/);
    const keyHash = (await host.out(`printf %s '${AUTH_KEY}' | sha256sum | cut -c1-12`)).trim();
    assert.deepEqual(await host.calls(/^enrolled with key/), [`enrolled with key sha256 ${keyHash}`]);
    // The key is in no log, no output, no file left behind.
    assert.equal((await host.sh(`grep -rl -- '${AUTH_KEY}' ${CALL_LOG} /run /tmp /var/lib/tailscale 2>/dev/null`)).stdout, "");
    assert.ok(!r1.stdout.includes(AUTH_KEY) && !r1.stderr.includes(AUTH_KEY));
    assert.equal((await host.sh("ls /run/gpu-fleet-ts-key.* 2>/dev/null")).stdout, "");

    // Logged in: the key is not read, not sent; the second run changes nothing.
    const r2 = await host.role("tailscale", vars, `${AUTH_KEY}\n`);
    okRun(r2, "tailscale");
    assert.match(r2.last, /running as gpu-box-1 at 100\.64\.0\.7/);
    assert.equal((await host.calls(/^tailscale up/)).length, 1, "tailscale up ran again");

    const renamed = await host.role("tailscale", { ...vars, FLEET_TS_HOSTNAME: "gpu-box-renamed" }, "");
    changedRun(renamed, "tailscale");
    assert.deepEqual(await host.calls(/^tailscale set/), ["tailscale set --hostname=gpu-box-renamed"]);
    assert.equal((await host.calls(/^tailscale up/)).length, 1);
    okRun(await host.role("tailscale", { ...vars, FLEET_TS_HOSTNAME: "gpu-box-renamed" }, ""), "tailscale");

    const retag = await host.role("tailscale", { ...vars, FLEET_TS_HOSTNAME: "gpu-box-renamed", FLEET_TS_TAGS: "cpu-worker" });
    failedRun(retag, "tailscale", "gpu-box-1", /carries tags 'tag:fleet,tag:gpu-worker', the stack wants 'tag:cpu-worker'/);
  });

  describe("verify against a real redis-server", () => {
    before(async () => {
      // The Redis host stand-in: Debian's redis-server on 6379, a password-protected one on 6380,
      // and a listener on the port the policy must deny.
      await host.out(
        "systemctl start redis-server && " +
          "printf 'port 6380\\nrequirepass only-in-this-test\\ndaemonize yes\\n' > /tmp/redis-auth.conf && " +
          "redis-server /tmp/redis-auth.conf >/dev/null && " +
          "systemd-run --unit=fleet-denied-port nc -lk -p 2222 && sleep 1",
      );
    });
    const base = { FLEET_REDIS_HOST: "127.0.0.1", FLEET_TIMEOUT_SECONDS: "5" };

    it("ok when Redis answers +PONG and the denied port is closed; twice", async () => {
      const vars = { ...base, FLEET_REDIS_PORT: "6379", FLEET_DENIED_PORT: "2223" };
      const r = await host.role("verify", vars);
      okRun(r, "verify");
      assert.match(r.last, /answers PING with \+PONG; 127\.0\.0\.1:2223 is closed/);
      okRun(await host.role("verify", vars), "verify");
    });

    it("ok when Redis wants a password (-NOAUTH proves reachability)", async () => {
      const r = await host.role("verify", { ...base, FLEET_REDIS_PORT: "6380", FLEET_DENIED_PORT: "2223" });
      okRun(r, "verify");
      assert.match(r.last, /-NOAUTH/);
    });

    it("fails when a denied port answers", async () => {
      const r = await host.role("verify", { ...base, FLEET_REDIS_PORT: "6379", FLEET_DENIED_PORT: "2222" });
      failedRun(r, "verify", "gpu-box-1", /the tailnet policy lets this worker reach 127\.0\.0\.1:2222; it must not/);
    });

    it("fails with a hint when Redis is unreachable", async () => {
      const r = await host.role("verify", { ...base, FLEET_REDIS_PORT: "6390", FLEET_DENIED_PORT: "2223" });
      failedRun(r, "verify", "gpu-box-1", /Redis at 127\.0\.0\.1:6390 is unreachable/);
      assert.match(r.stderr, /tailscale status/);
      assert.match(r.stderr, /policy grants/);
      assert.match(r.stderr, /bind/);
    });

    it("fails when something other than Redis answers", async () => {
      const r = await host.role("verify", { ...base, FLEET_REDIS_PORT: "2222", FLEET_DENIED_PORT: "2223", FLEET_TIMEOUT_SECONDS: "2" });
      failedRun(r, "verify", "gpu-box-1", /Redis at 127\.0\.0\.1:2222 is unreachable \((connected but no reply|no answer within)/);
    });
  });
});

describe("driver install failure on a second fresh host", { skip: enabled ? false : HOW_TO_RUN, timeout: 900_000 }, () => {
  const host = new TestHost("gpu-box-2");
  before(async () => {
    checkPrerequisites();
    await host.start();
  });
  after(async () => {
    await host.stop();
  });

  it("nvidia-driver: a package that fails to install fails the role, no reboot scheduled", async () => {
    const r = await host.role("nvidia-driver", {
      FLEET_NVIDIA_DRIVER: "managed",
      FLEET_NVIDIA_BRANCH: "580",
      FLEET_NVIDIA_MODULES: "proprietary",
      FLEET_NVIDIA_APT_REPO: repoLine("nvidia-broken"),
    });
    failedRun(r, "nvidia-driver", "gpu-box-2", /apt-get install .*nvidia-driver-cuda.* failed/);
    assert.match(r.stderr, /dpkg --audit/);
    assert.match(r.stderr, /fake DKMS/);
    assert.equal((await host.sh("systemctl is-active gpu-fleet-reboot.timer")).stdout.trim(), "inactive");
    assert.equal((await host.sh("test -e /etc/modprobe.d/gpu-fleet-blacklist-nouveau.conf")).code, 1);
  });
});
