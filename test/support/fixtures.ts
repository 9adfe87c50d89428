// Config documents for tests: a small valid fleet, and a way to change one part of it.

import type { ConfigDocument } from "../../components/core/schema";
import { SECRET_PLACEHOLDER } from "../../components/core/stack-file";

export type Values = Record<string, unknown>;

export function baseValues(): Values {
  return {
    redis: { host: "redis-vps", port: 6379 },
    redisUrl: SECRET_PLACEHOLDER,
    sshPrivateKey: SECRET_PLACEHOLDER,
    tailnet: { admins: ["group:ops"] },
    hcloud: { sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ops@fleet" },
    services: {
      kokoro: { image: "ghcr.io/example/kokoro-gpu:1.4.0", device: "cuda", threads: 2, vramMiB: 600, ramMiB: 2500 },
      "kokoro-cpu": { image: "ghcr.io/example/kokoro-cpu:1.4.0", device: "cpu", threads: 2, ramMiB: 2500 },
      yolo: { image: "ghcr.io/example/yolo-gpu:2.0.1", device: "cuda", threads: 2, vramMiB: 300, ramMiB: 600 },
    },
    hosts: {
      "gex44-1": {
        ssh: { address: "203.0.113.10" },
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
