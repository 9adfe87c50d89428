// The config a stack file gives the program, in the form the Pulumi engine passes it
// (`pulumi.runtime.setAllConfig`): namespaced keys, objects as JSON, and the list of secret keys.
// Offline there is no decryption: a secret's value is a recognisable stand-in, so tests can prove it
// never shows up in plain text.

import type { StackFile } from "../../components/core/stack-file";
import { CONFIG_NAMESPACE } from "../../components/core/schema";

export interface EngineConfig {
  readonly config: Record<string, string>;
  readonly secretKeys: string[];
}

/** What the program sees as the "decrypted" value of a secret key offline. */
export function standInSecret(fullKey: string): string {
  return `plaintext-of-${fullKey}`;
}

export function engineConfig(stack: StackFile): EngineConfig {
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(stack.document.values)) {
    const fullKey = `${CONFIG_NAMESPACE}:${key}`;
    if (stack.document.secretKeys.has(key)) {
      config[fullKey] = standInSecret(fullKey);
      secretKeys.push(fullKey);
    } else {
      config[fullKey] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  for (const [fullKey, { secret }] of Object.entries(stack.providerKeys)) {
    config[fullKey] = secret ? standInSecret(fullKey) : `offline-value-of-${fullKey}`;
    if (secret) secretKeys.push(fullKey);
  }
  return { config, secretKeys };
}
