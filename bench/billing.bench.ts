import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import type { InvoiceDraft } from '../src/modules/billing/draft.ts';
import { rebuildRollups } from '../src/modules/events/events.repo.ts';
import { TestClock } from '../src/platform/clock.ts';
import { openDatabase, withTransaction } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrate.ts';
import {
  BENCH_DATABASE_URL,
  BENCH_SECONDS,
  ENGINES,
  type Engine,
  formatRow,
  freshPostgresDatabase,
  postgresReachable,
  print,
  printHeader,
  runLoad,
} from './support.ts';

/**
 * Billing, in process (the period job is a background task, not an HTTP route; the preview goes through the app's
 * HTTP layer with `inject`, without a socket):
 * 1. invoices generated per second by the period job for BENCH_SUBSCRIPTIONS subscriptions (default 200; set 10000
 *    for the figure), each with a fixed ADVANCE fee and two usage prices over BENCH_EVENTS_PER_CUSTOMER
 *    events (default 20);
 * 2. latency of the invoice preview (and of subscription usage) for one subscription with 10 usage prices over
 *    BENCH_PREVIEW_EVENTS events (default 100,000) in the period.
 */
const SUBSCRIPTIONS = Number(process.env.BENCH_SUBSCRIPTIONS ?? 200);
const EVENTS_PER_CUSTOMER = Number(process.env.BENCH_EVENTS_PER_CUSTOMER ?? 20);
const PREVIEW_EVENTS = Number(process.env.BENCH_PREVIEW_EVENTS ?? 100_000);
const PERIOD_START = '2026-03-01T00:00:00Z';

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

async function invoiceThroughput(engine: Engine) {
  printHeader(`period job: ${SUBSCRIPTIONS} subscriptions × (1 fixed + 2 usage prices), ${engine}`);
  const env = await openEngine(engine);
  try {
    const p = await plan(env, 2);
    const t0 = performance.now();
    for (let i = 0; i < SUBSCRIPTIONS; i++) {
      const customer = await env.request('POST', '/v1/customers', { external_id: `bench-${i}`, name: `c${i}` });
      await env.request('POST', '/v1/subscriptions', {
        plan_id: p.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
      });
    }
    print(`created ${SUBSCRIPTIONS} subscriptions in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await seedEvents(env, SUBSCRIPTIONS, EVENTS_PER_CUSTOMER, 2);
    const cycle: InvoiceDraft[] = [];
    env.services.billing.onPeriodInvoice(async (_tx, _scope, draft) => {
      if (draft.billing_reason === 'SUBSCRIPTION_CYCLE') cycle.push(draft);
    });
    env.clock.set('2026-04-01T00:00:00Z');
    const t1 = performance.now();
    for (let more = true; more;) more = (await env.services.billing.advancePeriods({ limit: 500 })).more;
    const seconds = (performance.now() - t1) / 1000;
    print(
      `${cycle.length} period invoices (${SUBSCRIPTIONS * EVENTS_PER_CUSTOMER} events) in ${seconds.toFixed(2)} s: ` +
        `${(cycle.length / seconds).toFixed(0)} invoices/s, ${((seconds * 1000) / Math.max(cycle.length, 1)).toFixed(2)} ms each`,
    );
  } finally {
    await env.close();
  }
}

async function previewLatency(engine: Engine) {
  printHeader(
    `one subscription, 10 usage prices, ${PREVIEW_EVENTS.toLocaleString('en')} events in the period, ${engine}`,
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
    const routes = env.app.printRoutes();
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ['POST /v1/subscriptions/usage', '/v1/subscriptions/usage', { subscription_id: sub.id }],
    ];
    if (routes.includes('preview')) {
      cases.unshift(['POST /v1/invoices/preview', '/v1/invoices/preview', { subscription_id: sub.id }]);
    }
    for (const [label, url, body] of cases) {
      for (const concurrency of [1, 4]) {
        const result = await runLoad(
          concurrency,
          BENCH_SECONDS * 1000,
          async () =>
            (await env.app.inject({ method: 'POST', url, payload: body, headers: { 'x-api-key': env.tenant.apiKey } }))
              .statusCode === 200,
          { maxOps: 2000 },
        );
        print(formatRow(label, result));
      }
    }
  } finally {
    await env.close();
  }
}

for (const engine of ENGINES) {
  if (engine === 'postgres' && !(await postgresReachable())) {
    print('\n(PostgreSQL not reachable: skipping the postgres engine)');
    continue;
  }
  await invoiceThroughput(engine);
  await previewLatency(engine);
}
