import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrate.ts';
import { newId } from '../src/platform/ids.ts';
import {
  BENCH_DATABASE_URL,
  BENCH_SECONDS,
  call,
  ENGINES,
  type Engine,
  formatRow,
  freshPostgresDatabase,
  print,
  printHeader,
  postgresReachable,
  runLoad,
  startServer,
} from './support.ts';

/**
 * Customers: one operation = create a customer and read it back by id. Over HTTP against a started server
 * (auth, validation, idempotency hooks, one transaction, JSON both ways), beside the same two statements run
 * directly in SQL through Kysely on a database of the same engine (one INSERT … RETURNING in a transaction, one
 * SELECT scoped by tenant and environment): the ratio is what the whole HTTP stack costs on top of the database.
 */
const CONCURRENCIES = [1, 16, 64];

function customerBody(tag: string, worker: number, iteration: number) {
  return {
    external_id: `${tag}-${worker}-${iteration}`,
    name: `Customer ${worker}-${iteration}`,
    email: `c${worker}.${iteration}@example.com`,
    address_country: 'US',
    metadata: { plan: 'pro' },
  };
}

async function customers(engine: Engine) {
  printHeader(`customer create + get by id (${engine}); one op = POST then GET`);
  const server = await startServer(engine);
  const baselineDb = engine === 'postgres' ? await freshPostgresDatabase(BENCH_DATABASE_URL) : undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-customers-sql-'));
  const database = await openDatabase({ databaseUrl: baselineDb?.url, dataDir });
  await migrateToLatest(database.db);
  const scope = { tenant_id: 'tenant_bench', environment_id: 'env_bench' };
  try {
    for (const concurrency of CONCURRENCIES) {
      const http = await runLoad(concurrency, BENCH_SECONDS * 1000, async (w, i) => {
        const created = await call(server, 'POST', '/v1/customers', customerBody(`h${concurrency}`, w, i));
        if (created.status !== 201) return false;
        const { id } = created.json as { id: string };
        const read = await call(server, 'GET', `/v1/customers/${id}`);
        return read.status === 200;
      });
      const direct = await runLoad(concurrency, BENCH_SECONDS * 1000, async (w, i) => {
        const body = customerBody(`s${concurrency}`, w, i);
        const now = new Date();
        const row = await database.db.transaction().execute((tx) =>
          tx
            .insertInto('customers')
            .values({
              id: newId('customer'),
              ...scope,
              external_id: body.external_id,
              name: body.name,
              email: body.email,
              contact: '',
              address_line1: '',
              address_line2: '',
              address_city: '',
              address_state: '',
              address_postal_code: '',
              address_country: body.address_country,
              timezone: 'UTC',
              metadata: JSON.stringify(body.metadata),
              status: 'published',
              created_at: now,
              updated_at: now,
              created_by: '',
              updated_by: '',
            })
            .returningAll()
            .executeTakeFirstOrThrow(),
        );
        const read = await database.db
          .selectFrom('customers')
          .selectAll()
          .where('tenant_id', '=', scope.tenant_id)
          .where('environment_id', '=', scope.environment_id)
          .where('id', '=', row.id)
          .where('status', '=', 'published')
          .executeTakeFirst();
        return read !== undefined;
      });
      print(formatRow('HTTP POST + GET /v1/customers', http, direct));
      print(formatRow('SQL INSERT … RETURNING + SELECT by id', direct));
    }
  } finally {
    await server.stop();
    await database.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await baselineDb?.drop();
  }
}

// Figures from a shared machine mean little without its load: print it beside them.
print(
  `machine: ${os.cpus().length} cores, load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')} (1/5/15 min), ${BENCH_SECONDS} s per phase`,
);
for (const engine of ENGINES) {
  if (engine === 'postgres' && !(await postgresReachable())) {
    print(`\nPostgreSQL at ${BENCH_DATABASE_URL} is not reachable: skipping the postgres engine`);
    continue;
  }
  await customers(engine);
}
