// The stack the contract host tests run check-image and tune on: the reference worker and its broken
// variants, each on its own `join: {}` host (no SSH), a host as large as this machine.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** Products of 128×128 matrices per sample job: about a second on one thread of this machine. */
export const SAMPLE_WORK = 400;

/**
 * The reference worker's job is three times that: check-image stops it with a job in hand, and on a
 * loaded machine `docker stop` can take longer to send the signal than a one-second job takes to
 * finish (the check then says "the job was too short to be stopped in", seen in CI under load).
 */
const REFERENCE_WORK = 3 * SAMPLE_WORK;

const WORKER = "/opt/reference/worker.py";

/** One service of the reference worker, as YAML under `gpu-fleet:services.<name>:`. */
export function referenceService(image: string, command: string[] | null, ramMiB: number, threads: number, work = SAMPLE_WORK): string {
  return `
      image: ${image}
      device: cpu
      threads: ${threads}
      ramMiB: ${ramMiB}
      drainSeconds: 5
      ${command === null ? "" : `command: ${JSON.stringify(command)}`}
      healthcheck: { test: [CMD, python3, ${WORKER}, --health], intervalSeconds: 2, timeoutSeconds: 5, retries: 3, startPeriodSeconds: 5 }
      sampleJob: { queue: jobs, payload: '{"id":"{id}","work":${work}}', results: results, answer: '"id": "{id}"', timeoutSeconds: 30 }`;
}

export function referenceStack(dir: string, image: string, hostCores: number, hostRamMiB: number, extraHostYaml = ""): string {
  const service = (command: string[] | null, ramMiB: number, threads: number, work = SAMPLE_WORK): string => referenceService(image, command, ramMiB, threads, work);
  const host = (name: string, workers: string) => `
    ${name}:
      join: {}
      cpu: { cores: ${hostCores} }
      ramMiB: ${hostRamMiB}
      reserve: { cores: 0, ramMiB: 0 }
      workers: ${workers}${extraHostYaml}`;
  const text = `config:
  gpu-fleet:redis: { host: redis-test }
  gpu-fleet:redisUrl: { secure: AAABAPLACEHOLDERredisUrl }
  gpu-fleet:tailnet: { admins: ["group:ops"] }
  gpu-fleet:services:
    ref:${service(null, 192, 1, REFERENCE_WORK)}
    ref-threads:${service(["python3", WORKER, "--broken", "threads"], 192, 1)}
    ref-sigterm:${service(["python3", WORKER, "--broken", "sigterm"], 192, 1)}
    ref-leak:${service(["python3", WORKER, "--broken", "leak"], 128, 1)}
  gpu-fleet:hosts:${host("bench", "{ ref: { replicas: auto } }")}${host("bench-threads", "{ ref-threads: { replicas: 1 } }")}${host("bench-sigterm", "{ ref-sigterm: { replicas: 1 } }")}${host("bench-leak", "{ ref-leak: { replicas: 1 } }")}
`;
  const path = join(dir, "Pulumi.contract.yaml");
  writeFileSync(path, text);
  return path;
}
