// Reads a Pulumi stack file (stacks/Pulumi.<stack>.yaml) into a ConfigDocument, the way the engine
// would hand it to the program, for the offline tools. Pure: it parses text, the caller reads the file.
//
// `secure:` values stay opaque: the document records that the key is secret and holds a placeholder,
// never the ciphertext, so nothing downstream can print or decrypt it.

import { parseDocument, type YAMLError } from "yaml";
import { CONFIG_NAMESPACE, type ConfigDocument } from "./schema";
import { DiagnosticList, formatPath, type Diagnostic, type PathSegment } from "./diagnostics";

/** What a secret key's value reads as offline. */
export const SECRET_PLACEHOLDER = "[secret]";

export interface StackFile {
  readonly document: ConfigDocument;
  /** Keys of other namespaces (hcloud:token, tailscale:apiKey ...), with whether each is secret. */
  readonly providerKeys: Readonly<Record<string, { secret: boolean }>>;
  readonly diagnostics: readonly Diagnostic[];
  /** The file is not valid YAML: diagnostics holds the first problem only, and nothing else was read. */
  readonly syntaxError?: true;
}

export function parseStackFile(text: string, fileName: string): StackFile {
  const out = new DiagnosticList();
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  const providerKeys: Record<string, { secret: boolean }> = {};

  const yaml = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (yaml.errors.length > 0) {
    // Only the first: after a syntax error the parser's later complaints are mostly its consequences.
    out.error([], syntaxError(text, fileName, yaml.errors[0]));
    return { document: { values, secretKeys }, providerKeys, diagnostics: out.all, syntaxError: true };
  }
  const root: unknown = yaml.toJS();
  if (root === null || root === undefined) {
    out.error([], `${fileName} is empty; it needs a config: map.`);
    return { document: { values, secretKeys }, providerKeys, diagnostics: out.all };
  }
  if (!isMap(root) || (root.config !== undefined && !isMap(root.config))) {
    out.error([], `${fileName}: expected a map with a config: map inside.`);
    return { document: { values, secretKeys }, providerKeys, diagnostics: out.all };
  }

  for (const [fullKey, value] of Object.entries(root.config ?? {})) {
    const colon = fullKey.indexOf(":");
    const namespace = colon < 0 ? "" : fullKey.slice(0, colon);
    const key = fullKey.slice(colon + 1);
    if (namespace !== CONFIG_NAMESPACE) {
      if (namespace === "") out.error([fullKey], `config keys need their namespace: write ${CONFIG_NAMESPACE}:${fullKey}.`);
      else providerKeys[fullKey] = { secret: isSecure(value) };
      continue;
    }
    if (isSecure(value)) {
      secretKeys.add(key);
      values[key] = SECRET_PLACEHOLDER;
      continue;
    }
    values[key] = scrubNestedSecrets(value, [key], out);
  }
  return { document: { values, secretKeys }, providerKeys, diagnostics: out.all };
}

/** `file:line:column: problem`, then the offending line with a caret under the column. */
function syntaxError(text: string, fileName: string, error: YAMLError): string {
  const problem = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
  const at = error.linePos?.[0];
  if (at === undefined) return `${fileName}: ${problem}`;
  const line = text.split(/\r?\n/)[at.line - 1] ?? "";
  const gutter = String(at.line).length;
  return `${fileName}:${at.line}:${at.col}: ${problem}\n  ${at.line} | ${line}\n  ${" ".repeat(gutter)} | ${" ".repeat(Math.max(0, at.col - 1))}^`;
}

/**
 * A value encrypted inside a larger key (`pulumi config set --secret --path services.x.env.Y`) is
 * revealed to the program as part of a plain object: the program cannot keep it secret. Refuse it,
 * and return the value with such leaves replaced by the placeholder.
 */
function scrubNestedSecrets(value: unknown, path: PathSegment[], out: DiagnosticList): unknown {
  if (isSecure(value)) {
    const suggested = String(path[path.length - 1]).toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    out.error(
      path,
      `is encrypted inside ${CONFIG_NAMESPACE}:${path[0]}; Pulumi only keeps whole keys secret, so the program would see it as plain text. Move it to its own key: \`pulumi config set --secret ${suggested} ...\`, and write { secret: ${suggested} } at ${formatPath(path)}.`,
    );
    return SECRET_PLACEHOLDER;
  }
  if (Array.isArray(value)) return value.map((item, i) => scrubNestedSecrets(item, [...path, i], out));
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubNestedSecrets(v, [...path, k], out)]));
  return value;
}

function isSecure(value: unknown): boolean {
  return isMap(value) && Object.keys(value).length === 1 && typeof value.secure === "string";
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
