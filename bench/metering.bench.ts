import fs from 'node:fs';
import pg from 'pg';
import {
  BENCH_SECONDS,
  type BenchServer,
  call,
  ENGINES,
  type Engine,
  formatRow,
  postgresReachable,
  print,
  printHeader,
  runLoad,
  startServer,
} from './support.ts';

/**
 * Metering reads: GET /v1/customers/{id}/entitlements (target p99 < 10 ms) and GET /v1/customers/usage (the usage
 * summary: entitlements plus one usage aggregation per metered feature), and POST /v1/events/analytics, over
 * CUSTOMERS customers each subscribed to two plans granting METERED metered features (limits summed across the
 * plans), 3 boolean and 2 static features, with EVENTS_PER_CUSTOMER events each in the current period. Requests
 * rotate over the customers.
 */
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 50);
const METERED = 10;
const EVENTS_PER_CUSTOMER = Number(process.env.BENCH_EVENTS_PER_CUSTOMER ?? 2000);

async function ok(server: BenchServer, method: string, path: string, body?: unknown) {
  const response = await call(server, method, path, body);
  if (response.status >= 300)
    throw new Error(`${method} ${path} → ${response.status}: ${JSON.stringify(response.json)}`);
  return response.json as Record<string, unknown> & { id: string };
}

/** CPU time (user + system, ms) the server process has used so far; Linux /proc, USER_HZ = 100. */
function serverCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function seed(server: BenchServer) {
  const metered = [];
  for (let i = 0; i < METERED; i++) {
    metered.push(
      await ok(server, 'POST', '/v1/features', {
        name: `Metered ${i}`,
        type: 'metered',
        meter: {
          name: `Meter ${i}`,
          event_name: `event_${i}`,
          aggregation: i % 2 ? { type: 'SUM', field: 'amount' } : { type: 'COUNT' },
        },
      }),
    );
  }
  const others = [];
  for (let i = 0; i < 3; i++)
    others.push(await ok(server, 'POST', '/v1/features', { name: `Flag ${i}`, type: 'boolean' }));
  for (let i = 0; i < 2; i++)
    others.push(await ok(server, 'POST', '/v1/features', { name: `Static ${i}`, type: 'static' }));
  const plans = [];
  for (const name of ['Basic', 'Extra']) {
    const plan = await ok(server, 'POST', '/v1/plans', { name });
    await ok(server, 'POST', '/v1/prices', {
      entity_type: 'PLAN',
      entity_id: plan.id,
      type: 'FIXED',
      billing_model: 'FLAT_FEE',
      billing_cadence: 'RECURRING',
      billing_period: 'MONTHLY',
      invoice_cadence: 'ADVANCE',
      price_unit_type: 'FIAT',
      currency: 'usd',
      amount: '10',
    });
    for (const feature of metered) {
      await ok(server, 'POST', '/v1/entitlements', {
        plan_id: plan.id,
        feature_id: feature.id,
        feature_type: 'metered',
        usage_limit: 1000,
        usage_reset_period: 'MONTHLY',
      });
    }
    if (name === 'Basic') {
      for (const feature of others) {
        await ok(server, 'POST', '/v1/entitlements', {
          plan_id: plan.id,
          feature_id: feature.id,
          feature_type: feature.type,
          ...(feature.type === 'static' ? { static_value: '5' } : { is_enabled: true }),
        });
      }
    }
    plans.push(plan);
  }
  const start = new Date(Date.now() - 2 * 86_400_000);
  const customers = [];
  for (let c = 0; c < CUSTOMERS; c++) {
    const customer = await ok(server, 'POST', '/v1/customers', { external_id: `bench-${c}`, name: `Bench ${c}` });
    for (const plan of plans) {
      await ok(server, 'POST', '/v1/subscriptions', {
        plan_id: plan.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
        billing_cadence: 'RECURRING',
        start_date: start.toISOString(),
      });
    }
    for (let offset = 0; offset < EVENTS_PER_CUSTOMER; offset += 1000) {
      const events = Array.from({ length: Math.min(1000, EVENTS_PER_CUSTOMER - offset) }, (_, k) => ({
        event_name: `event_${(offset + k) % METERED}`,
        external_customer_id: `bench-${c}`,
        timestamp: new Date(start.getTime() + 60_000 + (((offset + k) * 37_000) % (40 * 3_600_000))).toISOString(),
        properties: { amount: String((k % 7) + 0.5) },
      }));
      await ok(server, 'POST', '/v1/events/bulk', { events });
    }
    customers.push(customer);
  }
  return { customers };
}

async function bench(engine: Engine) {
  printHeader(
    `metering reads (${engine}): ${CUSTOMERS} customers × 2 subscriptions, ${METERED} metered + 5 other features, ` +
      `${EVENTS_PER_CUSTOMER} events per customer`,
  );
  const server = await startServer(engine);
  try {
    const t0 = performance.now();
    const { customers } = await seed(server);
    print(`seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // Steady state: planner statistics of the freshly filled tables. PostgreSQL's autovacuum would gather them
    // within a minute or so (run ANALYZE now instead of waiting); embedded, the server's statistics task does it
    // every 10 s.
    if (server.databaseUrl) {
      const client = new pg.Client({ connectionString: server.databaseUrl });
      await client.connect();
      await client.query('analyze');
      await client.end();
    } else {
      await new Promise((resolve) => setTimeout(resolve, 12_000));
    }
    const pick = (w: number, i: number) => customers[(w * 7 + i) % customers.length]!;
    const scenarios: Array<[string, (w: number, i: number) => Promise<boolean>]> = [
      [
        'GET /v1/customers/{id}/entitlements',
        async (w, i) => (await call(server, 'GET', `/v1/customers/${pick(w, i).id}/entitlements`)).status === 200,
      ],
      [
        'GET /v1/customers/usage (15 features)',
        async (w, i) => (await call(server, 'GET', `/v1/customers/usage?customer_id=${pick(w, i).id}`)).status === 200,
      ],
      [
        'POST /v1/events/analytics (10 features, DAY)',
        async (w, i) =>
          (
            await call(server, 'POST', '/v1/events/analytics', {
              external_customer_id: pick(w, i).external_id,
              window_size: 'DAY',
            })
          ).status === 200,
      ],
    ];
    for (const [label, operation] of scenarios) {
      // warm-up (JIT, plan caches)
      await runLoad(1, 500, operation, { maxOps: 50 });
      for (const concurrency of [1, 16]) {
        const cpuBefore = serverCpuMs(server.pid);
        const result = await runLoad(concurrency, BENCH_SECONDS * 1000, operation, { maxOps: 20_000 });
        const cpuMsPerOp = (serverCpuMs(server.pid) - cpuBefore) / Math.max(1, result.ops);
        // Embedded, the database runs inside the server process, so this is the whole cost of a request.
        const cpu = Number.isNaN(cpuMsPerOp) ? '' : `  server cpu ${cpuMsPerOp.toFixed(2)} ms/op`;
        print(formatRow(label, result) + cpu);
      }
    }
  } finally {
    await server.stop();
  }
}

for (const engine of ENGINES) {
  if (engine === 'postgres' && !(await postgresReachable())) {
    print('\nPostgreSQL is not reachable (BENCH_DATABASE_URL): skipped');
    continue;
  }
  await bench(engine);
}
