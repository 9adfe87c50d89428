// The program's side of the config: reads the live stack config into the same ConfigDocument the
// offline tools read from the stack file, and resolves SecretRefs to secret Outputs.
//
// Secret values never reach the pure modules: they see a placeholder, and components ask Pulumi for
// the value with requireSecret, which keeps it a secret in state and logs.

import { statSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { DiagnosticList, type Diagnostic } from "./core/diagnostics";
import { CONFIG_NAMESPACE, MAP_KEYS, type ConfigDocument, type SecretRef } from "./core/schema";
import { SECRET_PLACEHOLDER } from "./core/stack-file";

const OBJECT_KEYS: ReadonlySet<string> = new Set(MAP_KEYS);

export interface ProgramConfig {
  readonly document: ConfigDocument;
  readonly diagnostics: readonly Diagnostic[];
}

export function loadProgramConfig(): ProgramConfig {
  const out = new DiagnosticList();
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  const isSecret = secretProbe();
  const prefix = `${CONFIG_NAMESPACE}:`;

  for (const [fullKey, raw] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    const secret = isSecret(fullKey);
    if (OBJECT_KEYS.has(key)) {
      if (secret === true) {
        // Set with `pulumi config set --secret --path ...`: Pulumi marks the whole key secret and the
        // program cannot tell which part is; refuse rather than treat the whole map as secret.
        out.error([key], `holds a value encrypted inside it (pulumi config set --secret --path ...); Pulumi only keeps whole keys secret. Move each secret to its own key (pulumi config set --secret hfToken ...) and reference it as { secret: hfToken }.`);
      }
      try {
        values[key] = JSON.parse(raw);
      } catch {
        out.error([key], `must be a map; set it in the stack file (stacks/Pulumi.<stack>.yaml) or with \`pulumi config set --path\`.`);
      }
      continue;
    }
    // Strings: secrets stay out of the document. When the SDK cannot say, assume secret.
    if (secret !== false) {
      secretKeys.add(key);
      values[key] = SECRET_PLACEHOLDER;
    } else {
      values[key] = raw;
    }
  }
  return { document: { values, secretKeys }, diagnostics: out.all };
}

/**
 * Whether a config key is secret. The SDK knows (the engine passes the list of secret keys) but only
 * exposes it as `isConfigSecret`, marked internal; where it is missing we answer "unknown".
 */
function secretProbe(): (fullKey: string) => boolean | undefined {
  const probe = (runtimeConfig as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
  return typeof probe === "function" ? (key) => probe(key) : () => undefined;
}

/** The secret value a SecretRef names, as a secret Output. */
export function secretValue(ref: SecretRef): pulumi.Output<string> {
  return new pulumi.Config(CONFIG_NAMESPACE).requireSecret(ref.secret);
}

/** Set by the offline tools (synth, diff, rollout): no SSH ever runs, so the runner's agent does not matter. */
export const OFFLINE_ENV = "GPU_FLEET_OFFLINE";

/**
 * The runner's ssh-agent, checked before anything runs. pulumi-command dials SSH_AUTH_SOCK whenever it
 * is set, even when a private key is given, and a failed agent dial fails the whole connection
 * (pulumi/pulumi-command provider/pkg/provider/remote/connection.go SSHConfig, connection_unix.go
 * tryGetDefaultAgentSocket): a stale socket would break every role. The fleet uses the agent only
 * when a host has no private key.
 */
export function agentProblems(env: NodeJS.ProcessEnv, needsAgent: readonly string[], isSocket: (path: string) => boolean = socketExists): readonly Diagnostic[] {
  const out = new DiagnosticList();
  if (env[OFFLINE_ENV] === "1") return out.all;
  const sock = env.SSH_AUTH_SOCK;
  if (sock !== undefined && sock !== "" && !isSocket(sock)) {
    out.error(["sshPrivateKey"], `SSH_AUTH_SOCK is ${sock}, which is not a live agent socket. pulumi-command dials it for every SSH connection, even with a private key, and the dial fails: run \`env -u SSH_AUTH_SOCK npx pulumi up\`, or start the agent.`);
  }
  if ((sock === undefined || sock === "") && needsAgent.length > 0) {
    out.error(["sshPrivateKey"], `is not set, and ${needsAgent.join(", ")} ${needsAgent.length === 1 ? "has" : "have"} no ssh.privateKey, so SSH would need the runner's ssh-agent, but SSH_AUTH_SOCK is not set. Set sshPrivateKey (pulumi config set --secret sshPrivateKey < key), or start an agent with the key.`);
  }
  return out.all;
}

function socketExists(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}
