import fs from 'node:fs';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { buildApp, type Services } from '../../src/app.ts';
import type { WebhooksOptions } from '../../src/modules/webhooks/webhooks.service.ts';
import { type Clock, systemClock } from '../../src/platform/clock.ts';
import { type DatabaseHandle, openDatabase } from '../../src/platform/db/database.ts';
import { migrateToLatest } from '../../src/platform/db/migrate.ts';
import type { App } from '../../src/platform/http/app-types.ts';
import { newUlid } from '../../src/platform/ids.ts';

/**
 * One database per test file (PGlite loaded from the run's migrated dump, or the run's PostgreSQL database),
 * and a fresh tenant per test: tests never truncate and never share state.
 */
export async function openTestDatabase(): Promise<DatabaseHandle> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    const database = await openDatabase({ databaseUrl, dataDir: '', poolMax: 20 });
    await migrateToLatest(database.db);
    return database;
  }
  const database = await openDatabase({ dataDir: 'memory://', ...pgliteDump() });
  await migrateToLatest(database.db);
  return database;
}

/**
 * A database of its own, for tests of process-wide state (bootstrap's default tenant, a server process): a fresh
 * PGlite, or a new database on the run's PostgreSQL server that `drop()` removes. `url` is set on PostgreSQL.
 */
export async function createIsolatedDatabase(): Promise<{ url: string | undefined; drop(): Promise<void> }> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) return { url: undefined, drop: async () => {} };
  const name = `tally_iso_${newUlid().toLowerCase()}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/**
 * A database of its own (see createIsolatedDatabase), migrated unless `migrated: false` (then empty: on PGlite that
 * costs a full initdb); close() also drops it on PostgreSQL. `url` lets a test open a second handle on PostgreSQL.
 */
export async function openIsolatedDatabase(
  options: { migrated?: boolean } = {},
): Promise<DatabaseHandle & { url?: string | undefined }> {
  const migrated = options.migrated ?? true;
  const isolated = await createIsolatedDatabase();
  if (!isolated.url) {
    const database = await openDatabase({ dataDir: 'memory://', ...(migrated ? pgliteDump() : {}) });
    if (migrated) await migrateToLatest(database.db);
    return database;
  }
  const database = await openDatabase({ databaseUrl: isolated.url, dataDir: '', poolMax: 5 });
  if (migrated) await migrateToLatest(database.db);
  return {
    ...database,
    url: isolated.url,
    async close() {
      await database.close();
      await isolated.drop();
    },
  };
}

/** PGlite options that start from the run's migrated dump, when the runner made one (else an empty initdb). */
export function pgliteDump(): { loadDataDir?: Blob } {
  const dumpPath = process.env.TALLY_TEST_PGLITE_DUMP;
  return dumpPath && fs.existsSync(dumpPath) ? { loadDataDir: new Blob([fs.readFileSync(dumpPath)]) } : {};
}

export interface TestTenant {
  tenantId: string;
  environmentId: string;
  apiKey: string;
  headers: Record<string, string>;
}

export interface Harness {
  app: App;
  services: Services;
  /** `url`: set for an isolated database on PostgreSQL (a test can open a second handle on it). */
  database: DatabaseHandle & { url?: string | undefined };
  clock: Clock;
  newTenant(): Promise<TestTenant>;
  /** app.inject with the tenant's key and JSON body. */
  request(
    tenant: TestTenant | null,
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/**
 * `isolated`: a database of its own (openIsolatedDatabase) for tests of process-wide work such as the billing job,
 * which serves every tenant and would otherwise see the subscriptions of test files running beside it on PostgreSQL.
 */
/**
 * Waits until the clock has moved to a later millisecond (timestamps on the wire have millisecond precision): two
 * records created either side of it never share a created_at.
 */
export function nextMillisecond(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 2));
}

export async function startHarness(
  options: { clock?: Clock; webhooks?: WebhooksOptions; isolated?: boolean } = {},
): Promise<Harness> {
  const database = options.isolated ? await openIsolatedDatabase() : await openTestDatabase();
  const clock = options.clock ?? systemClock;
  const { app, services } = await buildApp({
    database,
    clock,
    ...(options.webhooks ? { webhooks: options.webhooks } : {}),
  });
  return {
    app,
    services,
    database,
    clock,
    async newTenant() {
      const created = await services.tenancy.createTenant(`test-${newUlid()}`);
      return { ...created, headers: { 'x-api-key': created.apiKey } };
    },
    request(tenant, method, url, body, headers = {}) {
      return app.inject({
        method,
        url,
        headers: { ...(tenant ? tenant.headers : {}), ...headers },
        ...(body !== undefined ? { payload: body as InjectOptions['payload'] } : {}),
      });
    },
    async close() {
      await app.close();
      await database.close();
    },
  };
}

/** The error envelope every 4xx/5xx must carry. */
export function assertEnvelope(
  response: LightMyRequestResponse,
  status: number,
  code?: string,
): { code: string; message: string } {
  const body = response.json();
  if (response.statusCode !== status) {
    throw new Error(`expected ${status}, got ${response.statusCode}: ${response.body}`);
  }
  for (const field of ['code', 'message', 'http_status_code', 'success', 'error']) {
    if (!(field in body)) throw new Error(`error envelope lacks '${field}': ${response.body}`);
  }
  if (body.http_status_code !== status || body.success !== false || typeof body.error?.message !== 'string') {
    throw new Error(`malformed error envelope: ${response.body}`);
  }
  if (code && body.code !== code) throw new Error(`expected code ${code}, got ${body.code}: ${response.body}`);
  return body;
}
