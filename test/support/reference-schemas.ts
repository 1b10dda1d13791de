import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/**
 * Webhook payload schemas of the reference (extracted from flexprice-openapi.json by
 * scripts/extract-webhook-schemas.mjs), compiled with ajv. Stricter than the document: an object schema that lists
 * its properties admits no others, so a payload cannot carry undocumented keys.
 */
interface Fixture {
  events: Record<string, string>;
  schemas: Record<string, unknown>;
}

const fixturePath = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/flexprice-webhook-schemas.json',
);
export const referenceWebhooks: Fixture = JSON.parse(fs.readFileSync(fixturePath, 'utf8'));

type JsonSchema = Record<string, unknown>;

function tighten(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tighten);
  if (!node || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node as JsonSchema)) {
    if (key === 'properties' && value && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value as JsonSchema).map(([k, v]) => [k, tighten(v)]));
    } else if (!key.startsWith('x-') && key !== 'example') {
      out[key] = tighten(value);
    }
  }
  if (out.type === 'object' && out.properties && out.additionalProperties === undefined)
    out.additionalProperties = false;
  if (out.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  delete out.nullable;
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'reference', components: { schemas: tighten(referenceWebhooks.schemas) } });

const cache = new Map<string, ValidateFunction>();

/** Validates against `#/components/schemas/<name>` (with `overrides` replacing some of its top-level properties). */
export function schemaValidator(name: string, overrides: Record<string, string> = {}): ValidateFunction {
  const key = `${name} ${JSON.stringify(overrides)}`;
  let validate = cache.get(key);
  if (!validate) {
    const base = tighten(referenceWebhooks.schemas[name]) as JsonSchema;
    if (!base) throw new Error(`no schema ${name} in the reference`);
    const properties = { ...(base.properties as JsonSchema) };
    for (const [property, schema] of Object.entries(overrides)) {
      properties[property] = { $ref: `reference#/components/schemas/${schema}` };
    }
    const resolved = JSON.parse(
      JSON.stringify({ ...base, properties }).replaceAll('"#/components/schemas/', '"reference#/components/schemas/'),
    );
    validate = ajv.compile(resolved);
    cache.set(key, validate);
  }
  return validate;
}

/** Throws with ajv's errors when `payload` does not match the schema. */
export function assertMatchesSchema(payload: unknown, name: string, overrides: Record<string, string> = {}): void {
  const validate = schemaValidator(name, overrides);
  if (!validate(payload)) {
    throw new Error(`payload does not match ${name}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(payload)}`);
  }
}
