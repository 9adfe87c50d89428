// README's config reference, generated from the schema: every key with its default, its limits and
// what it is for, as `.meta(doc(...))` in schema.ts says. `npm run docs` writes it between the
// markers in README.md; a test fails when README holds anything else. Pure: no I/O.

import { z } from "zod";
import { DEDICATED_MACHINES, GPU_MODELS, HCLOUD_LOCATIONS, HCLOUD_SERVER_TYPES } from "./catalog";
import { CONFIG_NAMESPACE, CONFIG_SECTIONS, SECRET_KEY_DOCS, type FieldDoc } from "./schema";

export const REFERENCE_BEGIN = "<!-- config-reference:begin: generated from components/core/schema.ts by `npm run docs`; do not edit by hand -->";
export const REFERENCE_END = "<!-- config-reference:end -->";

export interface ReferenceRow {
  readonly key: string;
  readonly default: string;
  readonly allowed: string;
  readonly what: string;
}

interface Layers {
  /** The innermost schema, without optional/default/pipe wrappers. */
  readonly core: z.ZodType;
  readonly doc: Partial<FieldDoc>;
  readonly optional: boolean;
  readonly hasDefault: boolean;
  readonly defaultValue: unknown;
}

/** Peels optional, default, prefault and pipe wrappers, merging the documentation found on each layer (outer wins). */
function peel(schema: z.ZodType): Layers {
  let current: z.ZodType = schema;
  const docs: Partial<FieldDoc>[] = [];
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  for (let depth = 0; depth < 10; depth++) {
    const meta = current.meta() as Partial<FieldDoc> | undefined;
    if (meta !== undefined) docs.push(meta);
    if (current instanceof z.ZodOptional) {
      optional = true;
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault) {
      // A prefault is an input default (`{}` for an object whose fields have theirs): the fields say what it is.
      if (!hasDefault) defaultValue = (current._zod.def as { defaultValue: unknown }).defaultValue;
      hasDefault = true;
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
    } else {
      break;
    }
  }
  const doc = Object.assign({}, ...docs.reverse()) as Partial<FieldDoc>;
  return { core: current, doc, optional, hasDefault, defaultValue };
}

/** A value as it is written in a stack file (YAML flow style). */
function yamlValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(yamlValue).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value);
    return entries.length === 0 ? "{}" : `{ ${entries.map(([k, v]) => `${k}: ${yamlValue(v)}`).join(", ")} }`;
  }
  return String(value);
}

function finite(n: number | null | undefined): n is number {
  return typeof n === "number" && Number.isFinite(n) && Math.abs(n) < Number.MAX_SAFE_INTEGER;
}

/** What the schema itself allows: options, number bounds, list lengths. */
function limitsOf(core: z.ZodType): string {
  if (core instanceof z.ZodEnum) return core.options.map((o) => `\`${String(o)}\``).join(", ");
  if (core instanceof z.ZodBoolean) return "`true`, `false`";
  if (core instanceof z.ZodNumber) {
    const parts = [core.isInt ? "whole number" : "number"];
    if (finite(core.minValue)) parts.push(`≥ ${core.minValue}`);
    if (finite(core.maxValue)) parts.push(`≤ ${core.maxValue}`);
    return parts.join(", ");
  }
  if (core instanceof z.ZodArray) {
    const checks = (core._zod.def.checks ?? []).map((c) => c._zod.def as { check?: string; minimum?: number; maximum?: number });
    const min = checks.find((c) => c.check === "min_length")?.minimum;
    const max = checks.find((c) => c.check === "max_length")?.maximum;
    const parts = ["list"];
    if (min !== undefined) parts.push(`at least ${min}`);
    if (max !== undefined) parts.push(`at most ${max}`);
    return parts.join(", ");
  }
  return "";
}

function defaultOf(layers: Layers): string {
  if (layers.doc.defaultText !== undefined) return layers.doc.defaultText;
  if (layers.hasDefault) return `\`${yamlValue(layers.defaultValue)}\``;
  return layers.optional ? "" : "required";
}

/** The rows of one section: every field, nested objects flattened to dotted keys. */
export function referenceRows(schema: z.ZodType): ReferenceRow[] {
  const rows: ReferenceRow[] = [];
  const visit = (field: z.ZodType, key: string): void => {
    const layers = peel(field);
    const { core, doc } = layers;
    const isObject = core instanceof z.ZodObject;
    const isRecordOfObjects = core instanceof z.ZodRecord && peel(core.valueType as z.ZodType).core instanceof z.ZodObject;
    const isListOfObjects = core instanceof z.ZodArray && peel(core.element as z.ZodType).core instanceof z.ZodObject;
    const expands = !doc.inline && (isObject || isRecordOfObjects || isListOfObjects);
    // A container gets its own row only when it says something; its fields have theirs.
    if (!expands || doc.description !== undefined) {
      rows.push({
        key,
        default: defaultOf(layers),
        allowed: doc.allowed ?? (expands ? "" : limitsOf(core)),
        what: doc.description ?? "",
      });
    }
    if (!expands) return;
    if (core instanceof z.ZodObject) {
      for (const [name, child] of Object.entries(core.shape as Record<string, z.ZodType>)) visit(child, `${key}.${name}`);
    } else if (core instanceof z.ZodRecord) {
      visit(core.valueType as z.ZodType, `${key}.${doc.keyName ?? "<name>"}`);
    } else if (core instanceof z.ZodArray) {
      visit(core.element as z.ZodType, `${key}[]`);
    }
  };
  const { core } = peel(schema);
  if (!(core instanceof z.ZodObject)) throw new Error("a config section must be an object schema");
  for (const [name, child] of Object.entries(core.shape as Record<string, z.ZodType>)) visit(child, name);
  return rows;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

function table(rows: readonly ReferenceRow[]): string {
  const lines = ["| key | default | allowed | what |", "| --- | --- | --- | --- |"];
  for (const row of rows) lines.push(`| \`${row.key}\` | ${cell(row.default)} | ${cell(row.allowed)} | ${cell(row.what)} |`);
  return lines.join("\n");
}

/** README's config reference, between (and including) the markers. */
export function renderConfigReference(): string {
  const parts: string[] = [REFERENCE_BEGIN, ""];
  parts.push(
    `All keys are in the \`${CONFIG_NAMESPACE}:\` namespace of \`stacks/Pulumi.<stack>.yaml\`. Sizes are MiB; cores are`,
    "logical CPUs as `nproc` prints them. A key with no default is optional.",
    "",
    "### Secrets",
    "",
    "Each secret is its own key, set with `pulumi config set --secret <key>`. Pulumi keeps whole keys",
    "secret, not parts of a map, so a value encrypted inside `services` or `hosts` is refused with the",
    "command that moves it.",
    "",
    "| key | what |",
    "| --- | --- |",
    ...SECRET_KEY_DOCS.map((s) => `| \`${s.key}\` | ${cell(s.description)} |`),
    "| any other key | a secret a service's `env` references as `{ secret: <key> }`. |",
    "",
  );
  for (const section of CONFIG_SECTIONS) {
    const description = (peel(section.schema).doc.description ?? "").trim();
    parts.push(`### \`${section.key}\``, "");
    if (description !== "") parts.push(description, "");
    parts.push(table(referenceRows(section.schema)), "");
  }
  parts.push(
    "### Catalog",
    "",
    `GPUs: ${Object.keys(GPU_MODELS).map((id) => `\`${id}\``).join(", ")}.`,
    "",
    `Dedicated servers: ${Object.keys(DEDICATED_MACHINES).map((id) => `\`${id}\``).join(", ")}.`,
    "",
    `Hetzner Cloud server types: ${Object.keys(HCLOUD_SERVER_TYPES).map((id) => `\`${id}\``).join(", ")}.`,
    "",
    `Hetzner Cloud locations (the server-type lines each offers): ${Object.entries(HCLOUD_LOCATIONS)
      .map(([id, l]) => `\`${id}\` (${l.families.join(", ")})`)
      .join(", ")}. A server type or location outside the catalog is refused: add it there, with its source.`,
    "",
    "See `components/core/catalog.ts` for the numbers and their sources.",
    "",
    REFERENCE_END,
  );
  return parts.join("\n");
}

export type ReferenceCheck =
  | { readonly state: "current" }
  | { readonly state: "stale"; readonly updated: string }
  | { readonly state: "no-markers" };

/** Compares README text with the generated reference; `updated` is README with it regenerated. */
export function checkConfigReference(readme: string): ReferenceCheck {
  const begin = readme.indexOf(REFERENCE_BEGIN);
  const end = readme.indexOf(REFERENCE_END);
  if (begin < 0 || end < begin) return { state: "no-markers" };
  const updated = `${readme.slice(0, begin)}${renderConfigReference()}${readme.slice(end + REFERENCE_END.length)}`;
  return updated === readme ? { state: "current" } : { state: "stale", updated };
}
