#!/usr/bin/env node
// Runs the whole suite with node's test runner, on PGlite by default or on the PostgreSQL in DATABASE_URL.
// With DATABASE_URL, a fresh database is created on that server for this run and dropped afterwards, so runs
// never see each other's data. Extra arguments are test files or directories to run instead of all.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

function findTests(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(full));
    else if (entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const requested = process.argv.slice(2);
const files = (requested.length ? requested : ['src', 'test'])
  .map((p) => path.resolve(root, p))
  .flatMap((p) => (fs.statSync(p).isDirectory() ? findTests(p) : [p]))
  .sort();

const env = { ...process.env };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-test-'));
let dropDatabase;

if (process.env.DATABASE_URL) {
  const base = new URL(process.env.DATABASE_URL);
  const name = `tally_test_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: base.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  env.DATABASE_URL = url.toString();
  process.stdout.write(`test database: ${name} on ${base.host}\n`);
  dropDatabase = async () => {
    const client = new pg.Client({ connectionString: base.toString() });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
  };
} else {
  env.TALLY_TEST_PGLITE_DUMP = path.join(tmp, 'migrated.tar');
}

const tsx = ['--import', 'tsx'];
const prepared = spawnSync(process.execPath, [...tsx, 'scripts/prepare-test-db.ts', env.TALLY_TEST_PGLITE_DUMP ?? ''], {
  cwd: root,
  env,
  stdio: 'inherit',
});
if (prepared.status !== 0) process.exit(prepared.status ?? 1);

const concurrency = env.TEST_CONCURRENCY ?? '2';
const run = spawnSync(
  process.execPath,
  [...tsx, '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { cwd: root, env, stdio: 'inherit' },
);
if (dropDatabase) await dropDatabase().catch(() => {});
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(run.status ?? 1);
