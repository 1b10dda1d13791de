import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { buildApp } from '../src/app.ts';
import type { InvoiceDraft } from '../src/modules/billing/draft.ts';
import { rebuildRollups } from '../src/modules/events/events.repo.ts';
import { TestClock } from '../src/platform/clock.ts';
import { type Db, openDatabase, withTransaction } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrate.ts';
import {
  BENCH_DATABASE_URL,
  BENCH_SECONDS,
  ENGINES,
  type Engine,
  freshPostgresDatabase,
  type LoadResult,
  postgresReachable,
  print,
  runLoad,
} from './support.ts';

/**
 * Billing, in process (the period job is a background task, not an HTTP route; the preview goes through the app's
 * HTTP layer with `inject`, without a socket):
 * 1. invoices generated per second by the period job for BENCH_SUBSCRIPTIONS subscriptions (default 200; set 10000
 *    for the issue's figure), each with a fixed ADVANCE fee and two usage prices over BENCH_EVENTS_PER_CUSTOMER
 *    events (default 20). One customer and subscription are created through the API; the others are SQL copies of
 *    every row that creation wrote (customer, subscription, line items, creation invoice, …) with fresh ids, checked
 *    against the API's view of the original before the job runs;
 * 2. latency of the invoice preview (and of subscription usage) for one subscription with 10 usage prices over
 *    BENCH_PREVIEW_EVENTS events (default 100,000) in the period, at 1 and 4 concurrent requests.
 *
 * Besides wall-clock figures (which move with the machine's load) it prints load-independent ones: SQL statements
 * per invoice / per request (counted at the driver, BEGIN/COMMIT included) and CPU time per operation of this
 * process (embedded: includes the database) and, on PostgreSQL, of the benchmark database's server backends.
 */
const SUBSCRIPTIONS = Number(process.env.BENCH_SUBSCRIPTIONS ?? 200);
const EVENTS_PER_CUSTOMER = Number(process.env.BENCH_EVENTS_PER_CUSTOMER ?? 20);
const PREVIEW_EVENTS = Number(process.env.BENCH_PREVIEW_EVENTS ?? 100_000);
const PERIOD_START = '2026-03-01T00:00:00Z';

// ---- load-independent counters -----------------------------------------------------------------------------------

/** Statements sent through `pg` (both engines go through it); patched before any pool connects. */
let statements = 0;
const clientPrototype = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const originalQuery = clientPrototype.query;
clientPrototype.query = function (this: unknown, ...args: unknown[]) {
  statements++;
  return originalQuery.apply(this, args);
};

const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ

/** CPU ms (user + system) of PostgreSQL server processes by pid, read from /proc (0 where unreadable). */
function processCpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

interface Meter {
  /** statements, this process's CPU ms, database server CPU ms (PostgreSQL backends of the bench database) */
  stop(): Promise<{ statements: number; cpuMs: number; serverCpuMs: number | null }>;
}

async function startMeter(env: Env): Promise<Meter> {
  const backends = async () => {
    if (env.database.engine !== 'postgres') return null;
    const result = await sql<{ pid: number }>`
      select pid from pg_stat_activity where datname = current_database()`.execute(env.database.db);
    return new Map(result.rows.map((r) => [r.pid, processCpuMs(r.pid)]));
  };
  const before = await backends();
  const statements0 = statements;
  const cpu0 = process.cpuUsage();
  return {
    async stop() {
      const cpu = process.cpuUsage(cpu0);
      const count = statements - statements0;
      const after = await backends();
      let serverCpuMs: number | null = null;
      if (after && before) {
        serverCpuMs = 0;
        for (const [pid, ms] of after) serverCpuMs += ms - (before.get(pid) ?? 0);
      }
      return { statements: count, cpuMs: (cpu.user + cpu.system) / 1000, serverCpuMs };
    },
  };
}

// ---- environment --------------------------------------------------------------------------------------------------

async function openEngine(engine: Engine) {
  const pgDatabase = engine === 'postgres' ? await freshPostgresDatabase(BENCH_DATABASE_URL) : undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-billing-'));
  const database = await openDatabase({ databaseUrl: pgDatabase?.url, dataDir });
  await migrateToLatest(database.db);
  const clock = new TestClock(PERIOD_START);
  const { app, services } = await buildApp({ database, clock });
  const tenant = await services.tenancy.createTenant(`bench-${Date.now()}`);
  const headers = { 'x-api-key': tenant.apiKey };
  const request = async (method: 'POST' | 'GET', url: string, body?: unknown) => {
    const response = await app.inject({
      method,
      url,
      headers,
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    if (response.statusCode >= 300) throw new Error(`${method} ${url} → ${response.statusCode}: ${response.body}`);
    return response.json();
  };
  return {
    app,
    services,
    database,
    clock,
    tenant,
    request,
    async close() {
      await app.close();
      await database.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      await pgDatabase?.drop();
    },
  };
}

type Env = Awaited<ReturnType<typeof openEngine>>;

async function plan(env: Env, usageMeters: number) {
  const plan = await env.request('POST', '/v1/plans', { name: 'Bench' });
  const base = { entity_type: 'PLAN', entity_id: plan.id, billing_model: 'FLAT_FEE', price_unit_type: 'FIAT' };
  await env.request('POST', '/v1/prices', {
    ...base,
    type: 'FIXED',
    amount: '20',
    currency: 'usd',
    billing_period: 'MONTHLY',
    invoice_cadence: 'ADVANCE',
  });
  for (let m = 0; m < usageMeters; m++) {
    const feature = await env.request('POST', '/v1/features', {
      name: `Meter ${m}`,
      type: 'metered',
      meter: {
        name: `Meter ${m}`,
        event_name: `ev_${m}`,
        aggregation: m % 2 ? { type: 'SUM', field: 'units' } : { type: 'COUNT' },
        reset_usage: 'BILLING_PERIOD',
      },
    });
    await env.request('POST', '/v1/prices', {
      ...base,
      ...(m % 3 === 2
        ? {
            billing_model: 'TIERED',
            tier_mode: 'SLAB',
            tiers: [
              { up_to: 1000, unit_amount: '0.01' },
              { up_to: null, unit_amount: '0.005' },
            ],
          }
        : { amount: '0.002' }),
      type: 'USAGE',
      meter_id: feature.meter_id,
      currency: 'usd',
      billing_period: 'MONTHLY',
      invoice_cadence: 'ARREAR',
    });
  }
  return plan;
}

/** `count` events per customer `bench-<i>` (i < customers) over event names ev_0..ev_<meters-1>, in March. */
async function seedEvents(env: Env, customers: number, count: number, meters: number) {
  await sql`
    insert into events (tenant_id, environment_id, id, event_name, external_customer_id, "timestamp", properties)
    select ${env.tenant.tenantId}, ${env.tenant.environmentId}, 'seed-' || c || '-' || g, 'ev_' || (g % ${meters}),
           'bench-' || c,
           timestamptz '2026-03-01 00:00:00+00' + ((g * 7919 + c) % 2678400) * interval '1 second',
           jsonb_build_object('units', (g % 10)::text)
    from generate_series(0, ${customers - 1}) as c, generate_series(1, ${count}) as g`.execute(env.database.db);
  await withTransaction(env.database.db, (tx) => rebuildRollups(tx));
  await sql`analyze`.execute(env.database.db);
}

// ---- fast seeding: SQL copies of what the API wrote for one subscription ---------------------------------------

type Snapshot = Map<string, Set<string>>;

/** Ids of every table with an `id` column, and row counts of those without one. */
async function snapshot(db: Db): Promise<{ ids: Snapshot; counts: Map<string, number> }> {
  const tables = await sql<{ table_name: string; has_id: boolean }>`
    select table_name, bool_or(column_name = 'id') as has_id
    from information_schema.columns where table_schema = 'public' group by table_name order by table_name`.execute(db);
  const ids: Snapshot = new Map();
  const counts = new Map<string, number>();
  for (const { table_name: table, has_id: hasId } of tables.rows) {
    if (hasId) {
      const rows = await sql<{ id: string }>`select id::text as id from ${sql.table(table)}`.execute(db);
      ids.set(table, new Set(rows.rows.map((r) => r.id)));
    } else {
      const row = await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(db);
      counts.set(table, Number(row.rows[0]!.n));
    }
  }
  return { ids, counts };
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Creates `total - 1` copies of customer `bench-0` and its subscription (created through the API before): every row
 * the API wrote between the two snapshots is copied `total - 1` times in SQL, with each new id replaced everywhere in
 * the row (columns and JSON documents) by a copy-specific id of the same length and alphabet, and the customer's
 * external id `bench-0` by `bench-<n>`. Returns the tables copied and rows per copy.
 */
async function cloneTemplate(
  db: Db,
  before: Awaited<ReturnType<typeof snapshot>>,
  after: Awaited<ReturnType<typeof snapshot>>,
  total: number,
) {
  const created = new Map<string, string[]>();
  for (const [table, ids] of after.ids) {
    const fresh = [...ids].filter((id) => !before.ids.get(table)?.has(id));
    if (fresh.length) created.set(table, fresh);
  }
  for (const [table, count] of after.counts) {
    if (count !== before.counts.get(table)) throw new Error(`table ${table} (no id column) changed: cannot copy it`);
  }
  const allIds = [...created.values()].flat();
  if (allIds.length > CROCKFORD.length) throw new Error('too many rows to copy');
  // id → left(id, len - 7) || lpad(n, 6, '0') || <the id's own letter>: same length, distinct per id and copy
  const replaced = (column: ReturnType<typeof sql>) =>
    allIds.reduce(
      (text, id, k) => sql`replace(${text}, ${id}, ${id.slice(0, -7)} || lpad(n::text, 6, '0') || ${CROCKFORD[k]!})`,
      sql`replace(${column}, '"bench-0"', '"bench-' || n || '"')`,
    );
  // Referenced tables first (foreign keys).
  const references = await sql<{ child: string; parent: string }>`
    select conrelid::regclass::text as child, confrelid::regclass::text as parent
    from pg_constraint where contype = 'f' and connamespace = 'public'::regnamespace`.execute(db);
  const order: string[] = [];
  const visit = (table: string, path: string[]) => {
    if (order.includes(table) || path.includes(table)) return;
    for (const r of references.rows) if (r.child === table && created.has(r.parent)) visit(r.parent, [...path, table]);
    order.push(table);
  };
  for (const table of created.keys()) visit(table, []);
  await withTransaction(db, async (tx) => {
    for (const table of order) {
      const ids = created.get(table)!;
      const t0 = performance.now();
      // jsonb_populate_record is called LATERAL: `(f(x)).*` would evaluate it once per column.
      await sql`
        insert into ${sql.table(table)}
        select copy.*
        from ${sql.table(table)} t
        cross join generate_series(1, ${total - 1}) as n
        cross join lateral jsonb_populate_record(null::${sql.table(table)}, ${replaced(sql`to_jsonb(t)::text`)}::jsonb) as copy
        where t.id in (${sql.join(ids)})`.execute(tx);
      if (process.env.BENCH_VERBOSE) print(`copied ${table} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  });
  return {
    tables: [...created].map(([table, ids]) => `${table} ×${ids.length}`),
    copyId: (id: string, n: number) => {
      const k = allIds.indexOf(id);
      return `${id.slice(0, -7)}${String(n).padStart(6, '0')}${CROCKFORD[k]}`;
    },
  };
}

/** Customers `bench-0..n-1`, each with a subscription to `planId` created as the API creates it. */
async function seedSubscriptions(env: Env, planId: string, n: number) {
  const t0 = performance.now();
  const before = await snapshot(env.database.db);
  const customer = await env.request('POST', '/v1/customers', { external_id: 'bench-0', name: 'c0' });
  const subscription = await env.request('POST', '/v1/subscriptions', {
    plan_id: planId,
    customer_id: customer.id,
    currency: 'usd',
    billing_period: 'MONTHLY',
  });
  if (n > 1) {
    const after = await snapshot(env.database.db);
    const { tables, copyId } = await cloneTemplate(env.database.db, before, after, n);
    if (process.env.BENCH_VERBOSE) print(`copies done at ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await sql`analyze`.execute(env.database.db);
    if (process.env.BENCH_VERBOSE) print(`analyzed at ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // The copy must read back through the API exactly as the original does, ids aside.
    const last = copyId(subscription.id, n - 1);
    const original = JSON.stringify(await env.request('GET', `/v1/subscriptions/${subscription.id}`));
    const copy = JSON.stringify(await env.request('GET', `/v1/subscriptions/${last}`));
    const ids = [...after.ids].flatMap(([table, set]) => [...set].filter((id) => !before.ids.get(table)?.has(id)));
    const expected = ids.reduce((text, id) => text.split(id).join(copyId(id, n - 1)), original);
    assert.equal(copy, expected, 'a copied subscription reads back differently from the original');
    print(
      `seeded ${n} customers + subscriptions: 1 through the API, ${n - 1} SQL copies of its rows (${tables.join(', ')})`,
    );
  }
  print(`seeding took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// ---- scenarios ----------------------------------------------------------------------------------------------------

const fmt = (value: number, digits = 1) => value.toFixed(digits);

async function invoiceThroughput(engine: Engine) {
  print(`\n## period job: ${SUBSCRIPTIONS} subscriptions × (1 fixed + 2 usage prices), ${engine}`);
  const env = await openEngine(engine);
  try {
    const p = await plan(env, 2);
    await seedSubscriptions(env, p.id, SUBSCRIPTIONS);
    await seedEvents(env, SUBSCRIPTIONS, EVENTS_PER_CUSTOMER, 2);
    const cycle: InvoiceDraft[] = [];
    env.services.billing.onPeriodInvoice(async (_tx, _scope, draft) => {
      if (draft.billing_reason === 'SUBSCRIPTION_CYCLE') cycle.push(draft);
    });
    env.clock.set('2026-04-01T00:00:00Z');
    const meter = await startMeter(env);
    const t1 = performance.now();
    for (let more = true; more;) more = (await env.services.billing.advancePeriods({ limit: 500 })).more;
    const seconds = (performance.now() - t1) / 1000;
    const used = await meter.stop();
    const n = Math.max(cycle.length, 1);
    assert.equal(cycle.length, SUBSCRIPTIONS, 'one period invoice per subscription');
    print(
      `${cycle.length} period invoices (${(SUBSCRIPTIONS * EVENTS_PER_CUSTOMER).toLocaleString('en')} events) in ` +
        `${fmt(seconds, 2)} s: ${fmt(cycle.length / seconds, 0)} invoices/s, ${fmt((seconds * 1000) / n, 2)} ms each`,
    );
    print(
      `per invoice: ${fmt(used.statements / n)} statements, ${fmt(used.cpuMs / n, 2)} ms CPU of this process` +
        (used.serverCpuMs !== null ? `, ${fmt(used.serverCpuMs / n, 2)} ms CPU of PostgreSQL` : ' (database included)'),
    );
  } finally {
    await env.close();
  }
}

function loadRow(label: string, result: LoadResult, used: Awaited<ReturnType<Meter['stop']>>) {
  const per = (value: number) => value / Math.max(result.ops, 1);
  return [
    label.padEnd(30),
    String(result.concurrency).padStart(4),
    fmt(result.opsPerSecond).padStart(7),
    fmt(result.p50Ms, 2).padStart(8),
    fmt(result.p99Ms, 2).padStart(8),
    String(result.errors).padStart(6),
    fmt(per(used.statements)).padStart(8),
    fmt(per(used.cpuMs), 2).padStart(9),
    (used.serverCpuMs === null ? '-' : fmt(per(used.serverCpuMs), 2)).padStart(9),
  ].join(' ');
}

async function previewLatency(engine: Engine) {
  print(
    `\n## one subscription, 10 usage prices, ${PREVIEW_EVENTS.toLocaleString('en')} events in the period, ${engine}`,
  );
  const env = await openEngine(engine);
  try {
    const p = await plan(env, 10);
    const customer = await env.request('POST', '/v1/customers', { external_id: 'bench-0', name: 'c' });
    const sub = await env.request('POST', '/v1/subscriptions', {
      plan_id: p.id,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
    });
    await seedEvents(env, 1, PREVIEW_EVENTS, 10);
    env.clock.set('2026-03-20T12:34:56Z');
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ['POST /v1/invoices/preview', '/v1/invoices/preview', { subscription_id: sub.id }],
      ['POST /v1/subscriptions/usage', '/v1/subscriptions/usage', { subscription_id: sub.id }],
    ];
    print(
      `${'request'.padEnd(30)} ${'conc'.padStart(4)} ${'ops/s'.padStart(7)} ${'p50 ms'.padStart(8)} ` +
        `${'p99 ms'.padStart(8)} ${'errors'.padStart(6)} ${'stmts/op'.padStart(8)} ${'cpu ms/op'.padStart(9)} ` +
        `${'db cpu/op'.padStart(9)}`,
    );
    for (const [label, url, body] of cases) {
      for (const concurrency of [1, 4]) {
        const meter = await startMeter(env);
        const result = await runLoad(
          concurrency,
          BENCH_SECONDS * 1000,
          async () =>
            (await env.app.inject({ method: 'POST', url, payload: body, headers: { 'x-api-key': env.tenant.apiKey } }))
              .statusCode === 200,
          { maxOps: 2000 },
        );
        print(loadRow(label, result, await meter.stop()));
      }
    }
    print(
      `(cpu ms/op: this process${engine === 'pglite' ? ', database included' : '; db cpu/op: PostgreSQL backends'})`,
    );
  } finally {
    await env.close();
  }
}

print(
  `load average at start: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const engine of ENGINES) {
  if (engine === 'postgres' && !(await postgresReachable())) {
    print('\n(PostgreSQL not reachable: skipping the postgres engine)');
    continue;
  }
  await invoiceThroughput(engine);
  await previewLatency(engine);
}
print(
  `\nload average at end: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
