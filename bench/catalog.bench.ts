import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createCatalogServices } from '../src/modules/catalog/catalog.ts';
import { chargeFor, type PricingSpec } from '../src/modules/catalog/pricing.ts';
import { systemClock } from '../src/platform/clock.ts';
import { type Db, openDatabase } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrate.ts';
import { dec } from '../src/platform/money.ts';
import {
  BENCH_SECONDS,
  type BenchServer,
  call,
  ENGINES,
  type Engine,
  formatRow,
  freshPostgresDatabase,
  print,
  printHeader,
  runLoad,
  startServer,
} from './support.ts';

/**
 * Catalog: (1) the pure pricing engine per billing model, beside a plain decimal multiplication (the floor);
 * (2) reading a fully expanded plan (8 prices with meters, 8 entitlements with features and meters, 2 credit grants)
 * over HTTP, beside the same rows read with direct SQL (one query per table, as the service does).
 */
const PRICES = 8;

async function pricingEngine() {
  printHeader('pricing engine, in process (ops/s = charges computed per second)');
  const tiers = [
    { up_to: 1000, unit_amount: '0.01', flat_amount: '5' },
    { up_to: 10_000, unit_amount: '0.008', flat_amount: '2' },
    { up_to: 100_000, unit_amount: '0.005' },
    { up_to: 1_000_000, unit_amount: '0.002' },
    { up_to: null, unit_amount: '0.001' },
  ];
  const specs: Array<[string, PricingSpec]> = [
    ['FLAT_FEE', { billing_model: 'FLAT_FEE', amount: '0.000015', currency: 'usd' }],
    ['PACKAGE', { billing_model: 'PACKAGE', amount: '2', transform_quantity: { divide_by: 1000 }, currency: 'usd' }],
    ['TIERED VOLUME, 5 tiers', { billing_model: 'TIERED', tier_mode: 'VOLUME', tiers, currency: 'usd' }],
    ['TIERED SLAB, 5 tiers', { billing_model: 'TIERED', tier_mode: 'SLAB', tiers, currency: 'usd' }],
  ];
  const quantities = Array.from({ length: 1024 }, (_, i) => dec(i * 2311 + 0.5));
  const floor = await runLoad(1, BENCH_SECONDS * 1000, async (_w, i) =>
    quantities[i % 1024]!.mul('0.000015').toDecimalPlaces(2),
  );
  for (const [label, spec] of specs) {
    const result = await runLoad(1, BENCH_SECONDS * 1000, async (_w, i) => chargeFor(spec, quantities[i % 1024]!));
    print(formatRow(label, result, floor));
  }
  print(formatRow('floor: one Decimal multiply + round', floor));
}

/** The same catalog through any executor of the API (HTTP on the server, services on the SQL baseline). */
async function seedCatalog(post: (path: string, body: unknown) => Promise<{ id: string; meter_id?: string }>) {
  const plan = await post('/v1/plans', { name: 'Bench plan', lookup_key: 'bench' });
  for (let i = 0; i < PRICES; i++) {
    const feature = await post('/v1/features', {
      name: `Feature ${i}`,
      type: 'metered',
      meter: {
        name: `m${i}`,
        event_name: `e${i}`,
        aggregation: { type: 'SUM', field: 'v' },
        reset_usage: 'BILLING_PERIOD',
      },
    });
    await post('/v1/prices', {
      entity_type: 'PLAN',
      entity_id: plan.id,
      type: 'USAGE',
      meter_id: feature.meter_id,
      billing_model: 'TIERED',
      tier_mode: 'SLAB',
      tiers: [{ up_to: 100, unit_amount: '0.1' }, { unit_amount: '0.05' }],
      currency: 'usd',
      billing_period: 'MONTHLY',
      invoice_cadence: 'ARREAR',
      price_unit_type: 'FIAT',
    });
    await post('/v1/entitlements', {
      plan_id: plan.id,
      feature_id: feature.id,
      feature_type: 'metered',
      usage_limit: 1000,
    });
  }
  for (let i = 0; i < 2; i++) {
    await post('/v1/creditgrants', {
      name: `g${i}`,
      scope: 'PLAN',
      plan_id: plan.id,
      credits: '10',
      cadence: 'ONETIME',
    });
  }
  return plan.id;
}

/** What GET /v1/plans/{id} reads, as direct SQL. */
async function readPlanSql(db: Db, tenantId: string, environmentId: string, planId: string) {
  const scoped = sql`tenant_id = ${tenantId} and environment_id = ${environmentId} and status = 'published'`;
  await sql`select * from plans where ${scoped} and id = ${planId}`.execute(db);
  const prices = await sql<{ meter_id: string }>`select * from prices where ${scoped} and entity_type = 'PLAN'
    and entity_id = ${planId} order by created_at, id`.execute(db);
  await sql`select * from meters where ${scoped} and id = any(${prices.rows.map((p) => p.meter_id)})`.execute(db);
  const entitlements = await sql<{ feature_id: string }>`select * from entitlements where ${scoped}
    and entity_type = 'PLAN' and entity_id = ${planId} order by created_at, id`.execute(db);
  const features = await sql<{ meter_id: string }>`select * from features where ${scoped}
    and id = any(${entitlements.rows.map((e) => e.feature_id)})`.execute(db);
  await sql`select * from meters where ${scoped} and id = any(${features.rows.map((f) => f.meter_id)})`.execute(db);
  await sql`select * from credit_grants where ${scoped} and plan_id = ${planId} and scope = 'PLAN'
    order by created_at, id`.execute(db);
}

async function planReads(engine: Engine) {
  printHeader(`GET /v1/plans/{id} fully expanded (${engine})`);
  const server: BenchServer = await startServer(engine);
  const baselineDb =
    engine === 'postgres'
      ? await freshPostgresDatabase(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
      : undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-sql-'));
  const database = await openDatabase({ databaseUrl: baselineDb?.url, dataDir });
  await migrateToLatest(database.db);
  try {
    const planId = await seedCatalog(async (urlPath, body) => {
      const response = await call(server, 'POST', urlPath, body);
      if (response.status !== 201) throw new Error(`${urlPath}: ${response.status} ${JSON.stringify(response.json)}`);
      return response.json as { id: string; meter_id?: string };
    });
    // the same catalog, written by the services, in the baseline database
    const catalog = createCatalogServices({ db: database.db, clock: systemClock });
    const scope = { tenantId: 'bench-tenant', environmentId: 'bench-env' };
    const byPath: Record<string, (body: never) => Promise<{ id: string; meter_id?: string }>> = {
      '/v1/plans': (body) => catalog.plans.create(scope, body),
      '/v1/features': (body) => catalog.features.createFeature(scope, body),
      '/v1/prices': (body) => catalog.prices.createPrice(scope, body),
      '/v1/entitlements': (body) => catalog.entitlements.createEntitlement(scope, body),
      '/v1/creditgrants': (body) => catalog.creditGrants.createCreditGrant(scope, body),
    };
    const sqlPlanId = await seedCatalog((urlPath, body) => byPath[urlPath]!(body as never));
    for (const concurrency of [1, 16]) {
      const floor = await runLoad(concurrency, BENCH_SECONDS * 1000, () =>
        readPlanSql(database.db, scope.tenantId, scope.environmentId, sqlPlanId),
      );
      const http = await runLoad(concurrency, BENCH_SECONDS * 1000, async () => {
        const response = await call(server, 'GET', `/v1/plans/${planId}`);
        return response.status === 200 && (response.json as { prices: unknown[] }).prices.length === PRICES;
      });
      print(formatRow('HTTP GET /v1/plans/{id}', http, floor));
      print(formatRow('SQL: the same 7 queries', floor));
    }
  } finally {
    await server.stop();
    await database.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await baselineDb?.drop();
  }
}

await pricingEngine();
for (const engine of ENGINES) await planReads(engine);
