// Config documents for tests: a small valid fleet, and a way to change one part of it.

import type { ConfigDocument } from "../../components/core/schema";
import { SECRET_PLACEHOLDER } from "../../components/core/stack-file";

export type Values = Record<string, unknown>;

/**
 * Example public keys, generated for the tests with ssh-keygen (the private halves were deleted).
 * Public keys are not secrets; they are real keys so that the key checks accept them.
 */
export const EXAMPLE_KEYS = {
  host: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJna0KfWeocXYeF8y3L9nZj0YbKAb6uPUJ3V9Hy5yRqn",
  jump: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEz03T22w2Om3DLj9/hjFGzGckvfSRUB2wBZFAH7/NvX",
  user: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAXvJQy2fXrQEoI2jU2muebZ8l06ibfFs7Tiat4Qp1w2",
  ecdsa: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNrpVS/ERFlRNPauGc1Ol0/iRBl1zFiwAFem6DJzgKnYbMC4Sj2CL5FHI3+17GLzCYI3uQFVWKndRf9j0BP4Zhw=",
  rsa: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDXLDDuUisKDz00nNeW06BXBttrauhY543+yl2LJcw5/FOEza7B4i5fNCmK8y/fAcb3nx1cnOTJYctggtPHiTtu2nnOTvQvTwAdGYLDRPl0EzYFVZW4oaLiwfmeWnoUH9nNNfMbIzQLcg5Picz7PNyftr2F7+a6krOovEWsfVRseg7XI/pPldMaxJZ/VbthRVhDX+LeCGunan3UIeePWpc6UHKg4Rh586SGmNsxUSfzjF8p+hQhRml1Hkw7c15EBHgTvYBo047A6qQK3chQ2yrfFDaGjxr+dalkQaJ4YVgPIfv9nDZZycgRAeCuJyhNcYHHpIBPbafITw0oL7HsC9Nl",
} as const;

export function baseValues(): Values {
  return {
    redis: { host: "redis-vps", port: 6379 },
    redisUrl: SECRET_PLACEHOLDER,
    sshPrivateKey: SECRET_PLACEHOLDER,
    tailnet: { admins: ["group:ops"] },
    hcloud: { sshPublicKey: `${EXAMPLE_KEYS.user} ops@fleet` },
    services: {
      kokoro: { image: "ghcr.io/example/kokoro-gpu:1.4.0", device: "cuda", threads: 2, vramMiB: 600, ramMiB: 2500 },
      "kokoro-cpu": { image: "ghcr.io/example/kokoro-cpu:1.4.0", device: "cpu", threads: 2, ramMiB: 2500 },
      yolo: { image: "ghcr.io/example/yolo-gpu:2.0.1", device: "cuda", threads: 2, vramMiB: 300, ramMiB: 600 },
    },
    hosts: {
      "gex44-1": {
        ssh: { address: "203.0.113.10", hostKey: EXAMPLE_KEYS.host },
        hardware: "gex44",
        nvidia: { driver: "managed", branch: "570" },
        workers: { kokoro: { replicas: 3 }, yolo: { replicas: 2 } },
      },
    },
  };
}

/** A config document; keys listed in `secret` (default redisUrl and sshPrivateKey) are secret. */
export function configDoc(values: Values, secret: string[] = ["redisUrl", "sshPrivateKey"]): ConfigDocument {
  return { values, secretKeys: new Set(secret) };
}

/** A fleet of the base services and exactly these hosts. */
export function withHosts(hosts: Values, services?: Values): ConfigDocument {
  const values = baseValues();
  values.hosts = hosts;
  if (services !== undefined) values.services = { ...(values.services as Values), ...services };
  return configDoc(values);
}

/** An auth-key-shaped test value, built at run time so the repository holds nothing key-shaped. */
export function fakeAuthKey(id: string): string {
  return ["tskey", "auth", `k${id}CNTRL`, "NotARealSecretButTreatedAsOne"].join("-");
}
