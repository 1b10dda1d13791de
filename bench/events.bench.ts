import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { rebuildRollups } from '../src/modules/events/events.repo.ts';
import { openDatabase, withTransaction } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrate.ts';
import {
  BENCH_SECONDS,
  call,
  ENGINES,
  type Engine,
  formatRow,
  freshPostgresDatabase,
  print,
  printHeader,
  processCpuMs,
  runLoad,
  startServer,
} from './support.ts';

/**
 * Events: bulk ingestion over HTTP (1,000 events per request) beside a raw multi-row
 * `INSERT … ON CONFLICT DO NOTHING` of the same rows (the floor), and usage queries over 1,000,000 stored events.
 */
const BATCH = 1000;
const STORED_EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);

function batchOf(worker: number, iteration: number, prefix: string) {
  return Array.from({ length: BATCH }, (_, k) => ({
    event_id: `${prefix}-${worker}-${iteration}-${k}`,
    event_name: 'api_call',
    external_customer_id: `cust-${k % 100}`,
    timestamp: new Date(Date.UTC(2026, 2, 1) + ((iteration * BATCH + k) % 2_592_000) * 1000).toISOString(),
    properties: { tokens: String(k % 50), model: k % 2 ? 'a' : 'b' },
  }));
}

async function ingestion(engine: Engine) {
  printHeader(`bulk ingestion, ${BATCH} events per request (${engine}); ops/s = events/s`);
  const server = await startServer(engine);
  // SQL floor: the same rows, one multi-row INSERT … ON CONFLICT DO NOTHING per batch, on a separate database
  const baselineDb =
    engine === 'postgres'
      ? await freshPostgresDatabase(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
      : undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-sql-'));
  const database = await openDatabase({ databaseUrl: baselineDb?.url, dataDir });
  await migrateToLatest(database.db);
  try {
    for (const concurrency of [1, 4, 16]) {
      const cpuBefore = processCpuMs(server.pid);
      const http = await runLoad(concurrency, BENCH_SECONDS * 1000, async (w, i) => {
        const response = await call(server, 'POST', '/v1/events/bulk', { events: batchOf(w, i, `h${concurrency}`) });
        return response.status === 202;
      });
      // Embedded, the database runs inside the server process, so this is the whole cost of a request.
      const cpuPerRequest = (processCpuMs(server.pid) - cpuBefore) / Math.max(1, http.ops);
      const floor = await runLoad(concurrency, BENCH_SECONDS * 1000, async (w, i) => {
        const rows = batchOf(w, i, `s${concurrency}`);
        await database.db
          .insertInto('events')
          .values(
            rows.map((r) => ({
              tenant_id: 't',
              environment_id: 'e',
              id: r.event_id,
              event_name: r.event_name,
              external_customer_id: r.external_customer_id,
              customer_id: null,
              timestamp: r.timestamp,
              source: '',
              properties: JSON.stringify(r.properties),
              ingested_at: new Date(),
            })),
          )
          .onConflict((oc) => oc.doNothing())
          .execute();
      });
      const scale = (r: typeof http) => ({ ...r, opsPerSecond: r.opsPerSecond * BATCH });
      const cpu = Number.isNaN(cpuPerRequest) ? '' : `  server cpu ${cpuPerRequest.toFixed(1)} ms/request`;
      print(formatRow('HTTP POST /v1/events/bulk', scale(http), scale(floor)) + cpu);
      print(formatRow('SQL INSERT … ON CONFLICT DO NOTHING', scale(floor)));
    }
  } finally {
    await server.stop();
    await database.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await baselineDb?.drop();
  }
}

/** Loads STORED_EVENTS events straight into a database over one month. */
async function seedEvents(db: Awaited<ReturnType<typeof openDatabase>>['db'], tenantId: string, environmentId: string) {
  // 1,000 light customers share 90% of the events; one heavy customer ('heavy') has the other 10%.
  await sql`
    insert into events (tenant_id, environment_id, id, event_name, external_customer_id, "timestamp", properties)
    select ${tenantId}, ${environmentId}, 'seed-' || g, 'api_call',
           case when g % 10 = 0 then 'heavy' else 'light-' || (g % 1000) end,
           timestamptz '2026-03-01 00:00:00+00' + (g % 2592000) * interval '1 second',
           jsonb_build_object('tokens', (g % 50)::text, 'model', case when g % 2 = 0 then 'a' else 'b' end)
    from generate_series(1, ${STORED_EVENTS}) as g`.execute(db);
  await sql`analyze events`.execute(db);
}

async function usageQueries(engine: Engine) {
  printHeader(`usage over one month with ${STORED_EVENTS.toLocaleString('en')} events stored (${engine})`);
  // Seed the server's own database before it starts: a data dir (embedded) or a database (PostgreSQL).
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-usage-'));
  const pgDatabase =
    engine === 'postgres'
      ? await freshPostgresDatabase(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
      : undefined;
  const seedDb = await openDatabase({ databaseUrl: pgDatabase?.url, dataDir });
  await migrateToLatest(seedDb.db);
  const { createTenancyService } = await import('../src/modules/tenancy/tenancy.service.ts');
  const { systemClock } = await import('../src/platform/clock.ts');
  const tenancy = createTenancyService({ db: seedDb.db, clock: systemClock });
  const apiKey = `sk_bench_usage_${Date.now()}`;
  await tenancy.bootstrap({ apiKey });
  const environment = await seedDb.db
    .selectFrom('environments')
    .selectAll()
    .where('is_default', '=', true)
    .executeTakeFirstOrThrow();
  const t0 = performance.now();
  await seedEvents(seedDb.db, environment.tenant_id, environment.id);
  print(`seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const t1 = performance.now();
  const rollupRows = await withTransaction(seedDb.db, (tx) => rebuildRollups(tx));
  print(`rollups rebuilt from raw events (${rollupRows} rows) in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  await seedDb.close();

  const server = await startServer(engine, {
    DATA_DIR: dataDir,
    API_KEY: apiKey,
    ...(pgDatabase ? { DATABASE_URL: pgDatabase.url } : {}),
  });
  server.apiKey = apiKey;
  const month = { start_time: '2026-03-01T00:00:00Z', end_time: '2026-04-01T00:00:00Z' };
  try {
    const cases: Array<[string, Record<string, unknown>]> = [
      [
        `light customer (${(STORED_EVENTS * 0.0009).toFixed(0)} events) SUM`,
        { external_customer_id: 'light-7', aggregation_type: 'SUM' },
      ],
      [
        'light customer SUM by DAY windows',
        { external_customer_id: 'light-7', aggregation_type: 'SUM', window_size: 'DAY' },
      ],
      [
        `heavy customer (${(STORED_EVENTS / 10).toFixed(0)} events) SUM`,
        { external_customer_id: 'heavy', aggregation_type: 'SUM' },
      ],
      [
        'heavy customer SUM by DAY windows',
        { external_customer_id: 'heavy', aggregation_type: 'SUM', window_size: 'DAY' },
      ],
      [
        'heavy customer SUM, range not on whole hours',
        {
          external_customer_id: 'heavy',
          aggregation_type: 'SUM',
          start_time: '2026-03-01T00:17:00Z',
          end_time: '2026-03-31T23:41:00Z',
        },
      ],
      [
        'heavy customer COUNT_UNIQUE model (raw events, no rollup)',
        { external_customer_id: 'heavy', aggregation_type: 'COUNT_UNIQUE', property_name: 'model' },
      ],
    ];
    for (const [label, body] of cases) {
      for (const concurrency of [1, 16]) {
        const result = await runLoad(
          concurrency,
          BENCH_SECONDS * 1000,
          async () => {
            const response = await call(server, 'POST', '/v1/events/usage', {
              event_name: 'api_call',
              property_name: 'tokens',
              ...month,
              ...body,
            });
            return response.status === 200;
          },
          { maxOps: 5000 },
        );
        print(formatRow(label, result));
      }
    }
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await pgDatabase?.drop();
  }
}

// BENCH_PARTS=ingestion (or usage) runs one half.
const PARTS = (process.env.BENCH_PARTS ?? 'ingestion,usage').split(',');
for (const engine of ENGINES) {
  if (PARTS.includes('ingestion')) await ingestion(engine);
  if (PARTS.includes('usage')) await usageQueries(engine);
}
