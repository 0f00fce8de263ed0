/**
 * A config as commented JSON: every field preceded by its schema description as a `//` comment
 * (the CLI reads configs with comments). `kdgpu init` writes examples with it, and
 * `kdgpu train CONFIG --print-config` shows a config with every default filled in.
 * @module
 */

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The schema node of a child key (through `properties`, `additionalProperties` or an object branch of `anyOf`). */
function child(schema: unknown, key: string): unknown {
  if (!isObject(schema)) return undefined;
  const props = isObject(schema.properties) ? schema.properties : {};
  if (Object.hasOwn(props, key)) return props[key];
  if (Array.isArray(schema.anyOf)) for (const b of schema.anyOf) if (isObject(b) && isObject(b.properties) && Object.hasOwn(b.properties, key)) return b.properties[key];
  return isObject(schema.additionalProperties) ? schema.additionalProperties : undefined;
}

/** Pretty JSON of `value` with each field's `description` from `schema` as a comment above it. */
export function commentedJson(value: unknown, schema: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    const flat = JSON.stringify(value);
    if (flat.length <= 80 && value.every((x) => !isObject(x))) return flat;
    const items = isObject(schema) ? schema.items : undefined;
    return `[\n${value.map((x) => `${indent}  ${commentedJson(x, items, `${indent}  `)}`).join(',\n')}\n${indent}]`;
  }
  if (!isObject(value)) return JSON.stringify(value);
  const keys = Object.keys(value);
  if (keys.length === 0) return '{}';
  const lines = keys.map((k) => {
    const s = child(schema, k);
    const desc = isObject(s) && typeof s.description === 'string' ? `${indent}  // ${s.description}\n` : '';
    return `${desc}${indent}  ${JSON.stringify(k)}: ${commentedJson(value[k], s, `${indent}  `)}`;
  });
  return `{\n${lines.join(',\n')}\n${indent}}`;
}
