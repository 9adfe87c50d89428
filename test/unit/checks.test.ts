// The cross-field checks: addresses, firewall networks, credentials in plain env. Expected values are
// written by hand from the rules (RFC 1123, CIDR arithmetic, the credential shapes).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { addressProblem, coversWholeFamily, credentialShape, parseCidr } from "../../components/core/checks";
import { planConfig } from "../../components/core/pipeline";
import { baseValues, configDoc, type Values } from "../support/fixtures";

describe("ssh addresses", () => {
  it("takes IP literals and DNS names", () => {
    for (const address of ["10.0.0.7", "2001:db8::7", "::1", "box-1", "box-1.lan", "gex44-1.example.com.", "a".repeat(63) + ".example"]) {
      assert.equal(addressProblem(address), undefined, address);
    }
  });

  it("refuses what is neither", () => {
    for (const address of ["10.0.0.300", "256.1.1.1", "10.0.0", "[2001:db8::7]", "10.0.0.7:2222", "root@10.0.0.7", "box_1.lan", "-box.lan", "box-.lan", "a..b", "a".repeat(64) + ".example", "host.123"]) {
      assert.notEqual(addressProblem(address), undefined, address);
    }
  });
});

describe("firewall networks", () => {
  const cidrs = (...texts: string[]) => texts.map((t) => {
    const c = parseCidr(t);
    assert.notEqual(typeof c, "string", `${t}: ${String(c)}`);
    return c as Exclude<ReturnType<typeof parseCidr>, string>;
  });

  it("wants network addresses, as Hetzner does", () => {
    assert.match(String(parseCidr("198.51.100.7/24")), /host bits set: Hetzner takes the network address, 198\.51\.100\.0\/24/);
    assert.match(String(parseCidr("2001:db8::1/64")), /2001:db8::\/64/);
    assert.match(String(parseCidr("::ffff:192.0.2.1/120")), /::ffff:c000:200\/120/);
    assert.match(String(parseCidr("198.51.100.0/33")), /at most \/32/);
    assert.match(String(parseCidr("office")), /not a CIDR/);
    assert.equal(typeof parseCidr("198.51.100.7/32"), "object");
  });

  it("treats networks that together cover a family like /0", () => {
    assert.ok(coversWholeFamily(cidrs("0.0.0.0/0"), 4));
    assert.ok(coversWholeFamily(cidrs("0.0.0.0/1", "128.0.0.0/1"), 4));
    assert.ok(coversWholeFamily(cidrs("128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/3", "96.0.0.0/3"), 4));
    assert.ok(coversWholeFamily(cidrs("::/1", "8000::/1"), 6));
    assert.ok(!coversWholeFamily(cidrs("0.0.0.0/1", "128.0.0.0/2"), 4), "192.0.0.0/2 is missing");
    assert.ok(!coversWholeFamily(cidrs("0.0.0.0/1", "128.0.0.0/1"), 6), "IPv4 networks cover no IPv6");
    assert.ok(!coversWholeFamily(cidrs("::/1", "8000::/2", "c000::/3", "e000::/4"), 6), "f000::/4 is missing");
  });
});

describe("credentials in plain env", () => {
  // Built at run time: the repository holds nothing shaped like a credential.
  const shaped = {
    hf: ["hf", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb"].join("_"),
    ghp: ["ghp", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"].join("_"),
    pat: ["github", "pat", "11ABCDEFG0123456789_abcdefghijklmnop"].join("_"),
    sk: ["sk", "proj", "Abcdefghijklmnopqrstuvwx123456"].join("-"),
    tskey: ["tskey", "auth", "kExample1CNTRL", "AbcdefGhijk"].join("-"),
    aws: ["AKIA", "IOSFODNN7EXAMPLE"].join(""),
    pem: ["-----BEGIN", "RSA", "PRIVATE", "KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"].join(" "),
  };

  it("recognises each shape, and a name that says secret", () => {
    assert.equal(credentialShape("X", shaped.hf), "a Hugging Face token");
    assert.equal(credentialShape("X", shaped.ghp), "a GitHub token");
    assert.equal(credentialShape("X", shaped.pat), "a GitHub token");
    assert.equal(credentialShape("X", shaped.sk), "an API secret key (sk-...)");
    assert.equal(credentialShape("X", shaped.tskey), "a Tailscale key");
    assert.equal(credentialShape("X", shaped.aws), "an AWS access key id");
    assert.equal(credentialShape("X", shaped.pem), "a PEM block (a key or certificate)");
    assert.equal(credentialShape("DB_PASSWORD", "correct-horse"), "a secret (its name says so)");
    for (const [name, value] of [["MODEL", "hexgrad/Kokoro-82M"], ["LOG_LEVEL", "info"], ["TASK", "sk-"], ["HF_HOME", "/cache/hf_models"], ["TOKEN_LIMIT", "4096"]]) {
      assert.equal(credentialShape(name, value), undefined, `${name}=${value}`);
    }
  });

  it("plan warns naming the service and key, says how to make it a secret, never prints the value, and succeeds", () => {
    const values = baseValues() as Values & { services: Record<string, Values> };
    values.services.kokoro.env = { HF_TOKEN: shaped.hf, GH: shaped.ghp, CERT: shaped.pem, MODEL: "hexgrad/Kokoro-82M" };
    const result = planConfig(configDoc(values));
    assert.deepEqual(result.errors, []);
    const warnings = result.warnings.filter((w) => w.path.startsWith("services.kokoro.env."));
    assert.deepEqual(warnings.map((w) => w.path).sort(), ["services.kokoro.env.CERT", "services.kokoro.env.GH", "services.kokoro.env.HF_TOKEN"]);
    const hf = warnings.find((w) => w.path.endsWith("HF_TOKEN"));
    assert.match(hf?.message ?? "", /looks like a Hugging Face token.*pulumi config set --secret hfToken.*env: \{ HF_TOKEN: \{ secret: hfToken \} \}/s);
    const everything = JSON.stringify(result);
    for (const value of [shaped.hf, shaped.ghp, shaped.pem, "MIIEpAIBAAKCAQEA"]) assert.ok(!JSON.stringify(result.warnings).includes(value), "a warning printed the value");
    assert.ok(everything.length > 0);
  });
});
