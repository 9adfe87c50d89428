// Vendor apt keys are checked by full fingerprint before apt trusts them (docs/roles.md, "Apt keys"),
// on a real Debian 12 host with a local test key: a signed local copy of the Tailscale repository
// (the stand-in package, an InRelease signed with the test key, no `trusted=yes`). With the pinned
// Tailscale fingerprint the test key is refused and nothing is installed; with the test key's
// fingerprint given as a mirror's, apt installs from the signed repository. Run: FLEET_HOST_TESTS=1.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { checkPrerequisites, enabled, HOW_TO_RUN, REMOTE_REPOS, show, TestHost, type RunResult } from "./harness";
import { fakeAuthKey } from "../support/fixtures";

const HOST = "keys-box";
const REPO = "/srv/fleet-signed";
const TAILSCALE_PINNED = "2596A99EAAB33821893C0A79458CA832957F5868";
const CUDA_PINNED = "EB693B3035CD5710E231E123A4B469963BF863CC";

function refused(r: RunResult, role: string, expected: string, have: RegExp): void {
  assert.equal(r.code, 1, show(r));
  assert.match(r.stderr, new RegExp(`failed: ${role} on ${HOST}: the signing key from \\S+ has fingerprint ${have.source}, expected ${expected}; nothing was installed from it\\. hint: `));
  assert.doesNotMatch(r.last, /^(changed|ok): /);
}

describe("vendor apt keys pinned by fingerprint", { skip: enabled ? false : HOW_TO_RUN, timeout: 900_000 }, () => {
  const host = new TestHost(HOST);
  let testKey = "";

  before(async () => {
    checkPrerequisites();
    await host.start();
    const base = await host.role("base");
    assert.equal(base.code, 0, show(base));
    // A local test key, and the Tailscale stand-in package in a repository signed with it.
    const setup = await host.sh(`set -euo pipefail
export GNUPGHOME=/root/test-gnupg; install -d -m 0700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'gpu-fleet test repository <test@example.invalid>' ed25519 sign never 2>/dev/null
fpr="$(gpg --batch --with-colons --list-keys | awk -F: '$1 == "fpr" { print $10; exit }')"
mkdir -p ${REPO}/debian/pool ${REPO}/debian/dists/bookworm/main/binary-amd64 ${REPO}/garbage/debian
cp ${REMOTE_REPOS}/tailscale/tailscale_*_all.deb ${REPO}/debian/pool/
sed 's|^Filename: .*/|Filename: pool/|' ${REMOTE_REPOS}/tailscale/Packages > ${REPO}/debian/dists/bookworm/main/binary-amd64/Packages
cd ${REPO}/debian/dists/bookworm
{ echo "Origin: gpu-fleet-test"; echo "Suite: bookworm"; echo "Codename: bookworm"; echo "Components: main"
  echo "Architectures: amd64 all"; echo "Date: $(date -Ru)"; echo "SHA256:"
  printf ' %s %s main/binary-amd64/Packages\\n' "$(sha256sum < main/binary-amd64/Packages | cut -d' ' -f1)" "$(stat -c %s main/binary-amd64/Packages)"; } > Release
gpg --batch --yes --clearsign -o InRelease Release
gpg --batch --export "$fpr" > ${REPO}/debian/bookworm.noarmor.gpg
cp ${REPO}/debian/bookworm.noarmor.gpg ${REPO}/debian/3bf863cc.pub
echo 'this is not a key' > ${REPO}/garbage/debian/bookworm.noarmor.gpg
chmod -R a+rX ${REPO}
echo "$fpr"`);
    assert.equal(setup.code, 0, show(setup));
    testKey = setup.stdout.trim().split("\n").pop() ?? "";
    assert.match(testKey, /^[0-9A-F]{40}$/);
  });
  after(async () => {
    await host.stop();
  });

  const nothingInstalled = async (): Promise<void> => {
    const left = await host.sh("ls /usr/share/keyrings/tailscale-archive-keyring.gpg /usr/share/keyrings/gpu-fleet-cuda-archive-keyring.gpg /etc/apt/sources.list.d/gpu-fleet-* 2>/dev/null; dpkg-query -W -f='${db:Status-Status}' tailscale 2>/dev/null");
    assert.equal(left.stdout.trim(), "", `something was installed from a refused key:\n${left.stdout}`);
  };

  it("tailscale: a repository key that is not Tailscale's stops the role; nothing is installed", async () => {
    const r = await host.role("tailscale", { FLEET_TAILSCALE_APT_REPO: `file://${REPO}`, FLEET_TS_TAGS: "tag:gpu-worker" }, `${fakeAuthKey("KEYS0000")}\n`);
    refused(r, "tailscale", TAILSCALE_PINNED, new RegExp(testKey));
    await nothingInstalled();
  });

  it("tailscale: a download that is no key stops the role", async () => {
    const r = await host.role("tailscale", { FLEET_TAILSCALE_APT_REPO: `file://${REPO}/garbage`, FLEET_TS_TAGS: "tag:gpu-worker" });
    refused(r, "tailscale", TAILSCALE_PINNED, /<none: not an OpenPGP key>/);
    await nothingInstalled();
  });

  it("nvidia-driver: a CUDA repository key that is not NVIDIA's stops the role before apt", async () => {
    const r = await host.role("nvidia-driver", { FLEET_NVIDIA_DRIVER: "managed", FLEET_NVIDIA_BRANCH: "580", FLEET_NVIDIA_APT_REPO: `file://${REPO}/debian` });
    refused(r, "nvidia-driver", CUDA_PINNED, new RegExp(testKey));
    await nothingInstalled();
  });

  it("tailscale: with the key's own fingerprint (a mirror), apt verifies the signed repository and installs", async () => {
    const vars = { FLEET_TAILSCALE_APT_REPO: `file://${REPO}`, FLEET_TAILSCALE_APT_KEY_FINGERPRINT: testKey, FLEET_TS_TAGS: "tag:gpu-worker" };
    const r = await host.role("tailscale", vars, `${fakeAuthKey("KEYS0000")}\n`);
    assert.equal(r.code, 0, show(r));
    assert.match(r.last, /^changed: Tailscale signing key; Tailscale apt source; installed tailscale;.* enrolled in the tailnet/);
    assert.equal(await host.out("cat /etc/apt/sources.list.d/gpu-fleet-tailscale.list"), `deb [signed-by=/usr/share/keyrings/tailscale-archive-keyring.gpg] file://${REPO}/debian bookworm main`);
    assert.match(await host.out("gpg --show-keys --with-colons /usr/share/keyrings/tailscale-archive-keyring.gpg | grep ^fpr | head -1"), new RegExp(testKey));
    // apt really checked the signature: a tampered InRelease is refused.
    const tampered = await host.sh(`sed -i 's/^Origin: gpu-fleet-test$/Origin: gpu-fleet-tampered/' ${REPO}/debian/dists/bookworm/InRelease && apt-get update 2>&1`);
    assert.match(tampered.stdout, /(BADSIG|NOSPLIT|not signed|signature|is not valid)/i, show(tampered));
  });
});
