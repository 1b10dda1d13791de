#!/usr/bin/env node
// Extracts from the reference OpenAPI document (the wire contract) the schemas webhook payloads are checked
// against: every `/webhook-events/<event>` payload schema, the response schemas the documented wallet payloads
// embed (CustomerResponse, WalletResponse), and everything they reference. Writes test/fixtures/.
// Usage: node scripts/extract-webhook-schemas.mjs /path/to/flexprice-openapi.json
import fs from 'node:fs';
import path from 'node:path';

const source = process.argv[2];
if (!source) throw new Error('usage: extract-webhook-schemas.mjs <flexprice-openapi.json>');
const spec = JSON.parse(fs.readFileSync(source, 'utf8'));
const all = spec.components.schemas;

const events = {};
for (const [route, item] of Object.entries(spec.paths)) {
  if (!route.startsWith('/webhook-events/')) continue;
  const ref = item.post?.responses?.['200']?.content?.['application/json']?.schema?.$ref;
  if (ref) events[route.slice('/webhook-events/'.length)] = ref.replace('#/components/schemas/', '');
}

const wanted = new Set([...Object.values(events), 'CustomerResponse', 'WalletResponse']);
const schemas = {};
const visit = (name) => {
  if (schemas[name]) return;
  if (!all[name]) throw new Error(`schema ${name} not in the document`);
  schemas[name] = all[name];
  JSON.stringify(all[name], (key, value) => {
    if (key === '$ref' && typeof value === 'string') visit(value.replace('#/components/schemas/', ''));
    return value;
  });
};
for (const name of wanted) visit(name);

const target = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  '../test/fixtures/flexprice-webhook-schemas.json',
);
fs.writeFileSync(
  target,
  `${JSON.stringify({ source: 'flexprice-openapi.json (components.schemas, /webhook-events/*)', events, schemas }, null, 2)}\n`,
);
process.stdout.write(`${Object.keys(events).length} events, ${Object.keys(schemas).length} schemas → ${target}\n`);
