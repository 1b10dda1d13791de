import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type pg from 'pg';
import { listEnabledEndpointFilters } from '../src/modules/webhooks/webhooks.repo.ts';
import {
  appendLedgerEntries,
  appendLedgerEntry,
  listOpenLotsByWalletId,
  lockWalletForWrite,
  lockWalletsForBatch,
  type WalletTransactionRow,
} from '../src/modules/wallets/wallets.repo.ts';
import { type DatabaseHandle, openDatabase, withTransaction } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrate.ts';
import { staleStatisticsTask } from '../src/platform/db/statistics.ts';
import { Dec, type Money } from '../src/platform/money.ts';
import {
  BENCH_DATABASE_URL,
  BENCH_SECONDS,
  type BenchServer,
  call,
  ENGINES,
  type Engine,
  formatRow,
  freshPostgresDatabase,
  type LoadResult,
  print,
  printHeader,
  runLoad,
  startServer,
} from './support.ts';

/**
 * Wallets: top-up and debit over HTTP at 1/16/64 clients, on one hot wallet and spread over 1,000 wallets, beside
 * the same ledger write done directly in SQL: the very statements the HTTP path runs (the wallets repository's
 * locking read — with the first lots for a debit —, the append statement, and on PostgreSQL the outbox's
 * subscription read), in one transaction, without HTTP, validation, views or events. Statements per operation are
 * counted on both sides. Then `GET /v1/customers/wallets?include_real_time_balance=true` on a wallet with 10,000
 * ledger entries.
 */
const SPREAD_WALLETS = Number(process.env.BENCH_WALLETS ?? 1000);
const CONCURRENCY = [1, 16, 64];
/** Unrecorded load before each measured phase (JIT, caches, batch sizes settling). */
const WARMUP_MS = 1000;
const ENTRIES_FOR_READ = 10_000;

interface Fixture {
  hot: string;
  spread: string[];
}

async function setUpHttp(server: BenchServer): Promise<Fixture> {
  const create = async (externalId: string) => {
    const customer = await call(server, 'POST', '/v1/customers', { external_id: externalId, name: externalId });
    if (customer.status !== 201) throw new Error(`customer: ${JSON.stringify(customer.json)}`);
    const wallet = await call(server, 'POST', '/v1/wallets', {
      customer_id: (customer.json as { id: string }).id,
      currency: 'usd',
      initial_credits_to_load: '1000000000',
    });
    if (wallet.status !== 200) throw new Error(`wallet: ${JSON.stringify(wallet.json)}`);
    return (wallet.json as { id: string }).id;
  };
  const hot = await create('hot');
  const spread: string[] = [];
  for (let i = 0; i < SPREAD_WALLETS; i += 16) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(16, SPREAD_WALLETS - i) }, (_, k) => create(`spread-${i + k}`)),
    );
    spread.push(...batch);
  }
  return { hot, spread };
}

/** The same wallets in a separate database, written by SQL only. */
async function setUpSql(database: DatabaseHandle): Promise<Fixture> {
  const now = new Date();
  const ids = ['sql-hot', ...Array.from({ length: SPREAD_WALLETS }, (_, i) => `sql-${i}`)];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    await database.db
      .insertInto('wallets')
      .values(
        chunk.map((id) => ({
          id,
          tenant_id: 't',
          environment_id: 'e',
          customer_id: `c-${id}`,
          currency: 'usd',
          wallet_type: 'PRE_PAID',
          credit_balance: '1000000000',
          balance: '1000000000',
          conversion_rate: '1',
          topup_conversion_rate: '1',
          config: '{}',
          auto_topup: null,
          alert_settings: null,
          metadata: '{}',
          name: '',
          description: '',
          wallet_status: 'active',
          alert_state: 'ok',
          credit_alert_state: 'ok',
          auto_topup_armed: true,
          last_auto_topup_at: null,
          status: 'published',
          created_by: '',
          updated_by: '',
          created_at: now,
          updated_at: now,
        })),
      )
      .execute();
    await database.db
      .insertInto('wallet_transactions')
      .values(
        chunk.map((id) => ({
          id: `lot-${id}`,
          tenant_id: 't',
          environment_id: 'e',
          wallet_id: id,
          customer_id: `c-${id}`,
          type: 'credit' as const,
          amount: '1000000000',
          credit_amount: '1000000000',
          credit_balance_before: '0',
          credit_balance_after: '1000000000',
          credits_available: '1000000000',
          transaction_status: 'completed',
          reference_type: 'EXTERNAL',
          transaction_reason: 'FREE_CREDIT_GRANT',
          currency: 'usd',
          idempotency_key: `lot-${id}`,
          metadata: '{}',
          reference_id: '',
          description: '',
          expiry_date: null,
          priority: null,
          parent_transaction_id: null,
          conversion_rate: null,
          topup_conversion_rate: '1',
          request_hash: '',
          status: 'published',
          created_by: '',
          updated_by: '',
          created_at: now,
          updated_at: now,
        })),
      )
      .execute();
  }
  return { hot: 'sql-hot', spread: ids.slice(1) };
}

let sequence = 0;

/** CPU time (user + system, ms) a process has used so far; Linux /proc. */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000;
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ = 100
}

/**
 * Runs a load phase and also reports the CPU milliseconds one operation costs in `pid` (the server, or this process
 * for direct SQL). On a shared, oversubscribed machine wall-clock ops/s mostly measure the neighbours; CPU per
 * operation does not, and 1000 ÷ it is the throughput one idle core would give.
 */
async function measured(pid: number | undefined, phase: () => Promise<LoadResult>) {
  const before = processCpuMs(pid);
  const result = await phase();
  const cpuMsPerOp = (processCpuMs(pid) - before) / Math.max(1, result.ops);
  return { result, cpuMsPerOp };
}

/** Counts the statements sent on a pool's connections (install before the first connection is made). */
function countStatements(pool: pg.Pool): { count: number } {
  const counter = { count: 0 };
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      counter.count++;
      return original(...args);
    };
  });
  return counter;
}

const SQL_SCOPE = { tenantId: 't', environmentId: 'e' };
/** The size of the first lot page a debit reads with its lock (FIRST_LOT_PAGE in wallets.service.ts). */
const FIRST_LOT_PAGE = 4;

/** The entry row a 1-credit write appends, as the service builds it. */
function ledgerRow(
  id: string,
  walletId: string,
  customerId: string,
  kind: 'credit' | 'debit',
  before: Money,
  lotId: string | undefined,
  now: Date,
): WalletTransactionRow {
  const after = kind === 'credit' ? before.plus(1) : before.minus(1);
  return {
    id,
    tenant_id: SQL_SCOPE.tenantId,
    environment_id: SQL_SCOPE.environmentId,
    wallet_id: walletId,
    customer_id: customerId,
    type: kind,
    amount: '1',
    credit_amount: '1',
    credit_balance_before: before.toFixed(),
    credit_balance_after: after.toFixed(),
    credits_available: kind === 'credit' ? '1' : '0',
    transaction_status: 'completed',
    reference_type: kind === 'credit' ? 'EXTERNAL' : 'REQUEST',
    reference_id: id,
    description: '',
    metadata: kind === 'debit' && lotId ? { consumed_credit_tx_ids: lotId } : {},
    expiry_date: null,
    expiry_recheck_at: null,
    priority: null,
    transaction_reason: kind === 'credit' ? 'PURCHASED_CREDIT_DIRECT' : 'MANUAL_BALANCE_DEBIT',
    currency: 'usd',
    parent_transaction_id: null,
    conversion_rate: kind === 'debit' ? '1' : null,
    topup_conversion_rate: kind === 'credit' ? '1' : null,
    idempotency_key: id,
    request_hash: '',
    status: 'published',
    created_at: now,
    updated_at: now,
    created_by: '',
    updated_by: '',
  };
}

/**
 * One ledger write in plain SQL: the statements the service runs for a lone top-up or debit of 1 credit (same
 * text, same parameters), in one transaction — without HTTP, validation, idempotency hashing, views or events.
 */
async function sqlWrite(database: DatabaseHandle, walletId: string, kind: 'credit' | 'debit') {
  await withTransaction(database.db, async (tx) => {
    const id = `s-${process.pid}-${sequence++}`;
    const now = new Date();
    const locked = await lockWalletForWrite(
      tx,
      SQL_SCOPE,
      walletId,
      id,
      kind === 'debit' ? { eligibleAt: now, limit: FIRST_LOT_PAGE } : undefined,
    );
    if (!locked) throw new Error(`no wallet ${walletId}`);
    const before = new Dec(locked.wallet.credit_balance);
    let lots: Array<{ id: string; credits_available: string }> = [];
    if (kind === 'debit') {
      const open =
        locked.openLots ??
        (await listOpenLotsByWalletId(tx, walletId, { eligibleAt: now, limit: FIRST_LOT_PAGE, offset: 0 }));
      const lot = open[0];
      if (lot) lots = [{ id: lot.id, credits_available: new Dec(lot.credits_available).minus(1).toFixed() }];
    }
    // The outbox asks for the environment's subscribed endpoints on every event with PostgreSQL (embedded, it
    // keeps them in memory).
    if (database.engine === 'postgres') await listEnabledEndpointFilters(tx, SQL_SCOPE);
    const row = ledgerRow(id, walletId, locked.wallet.customer_id, kind, before, lots[0]?.id, now);
    const after = new Dec(row.credit_balance_after).toFixed();
    await appendLedgerEntry(tx, SQL_SCOPE, {
      row: { ...row, metadata: JSON.stringify(row.metadata) },
      lots,
      balances: { credit_balance: after, balance: after, updated_at: now },
    });
  });
}

/**
 * The direct-SQL side of group commit, as the service does it (see the wallets service's batching): writes that
 * arrive while a batch runs wait and go together into the next one — one locking read for all their wallets
 * (repo.lockWalletsForBatch), one append (repo.appendLedgerEntries), and on PostgreSQL one endpoint read per
 * transaction. A lone write runs sqlWrite. At most `maxRunning` batches at once, on disjoint wallets, at most 64
 * writes each: the service's limits.
 */
function sqlGroupCommit(database: DatabaseHandle, maxRunning: number) {
  interface Item {
    walletId: string;
    kind: 'credit' | 'debit';
    resolve(): void;
    reject(error: unknown): void;
  }
  const queue: Item[] = [];
  const busy = new Set<string>();
  let running = 0;
  let scheduled = false;
  const schedule = () => {
    if (scheduled || running >= maxRunning || queue.length === 0) return;
    scheduled = true;
    setImmediate(pump);
  };
  const take = () => {
    const batch: Item[] = [];
    const rest: Item[] = [];
    for (const item of queue) (batch.length < 64 && !busy.has(item.walletId) ? batch : rest).push(item);
    queue.length = 0;
    queue.push(...rest);
    return batch;
  };
  function pump() {
    scheduled = false;
    while (running < maxRunning) {
      const batch = take();
      if (batch.length === 0) return;
      running++;
      for (const item of batch) busy.add(item.walletId);
      run(batch)
        .then(
          () => batch.forEach((item) => item.resolve()),
          (error: unknown) => batch.forEach((item) => item.reject(error)),
        )
        .finally(() => {
          running--;
          for (const item of batch) busy.delete(item.walletId);
          schedule();
        });
    }
  }
  async function run(batch: Item[]) {
    const first = batch[0] as Item;
    if (batch.length === 1) return sqlWrite(database, first.walletId, first.kind);
    await withTransaction(database.db, async (tx) => {
      const now = new Date();
      const ids = batch.map(() => `s-${process.pid}-${sequence++}`);
      const walletIds = [...new Set(batch.map((item) => item.walletId))].sort();
      const locked = await lockWalletsForBatch(
        tx,
        SQL_SCOPE,
        walletIds,
        ids,
        {
          eligibleAt: now,
          limit: FIRST_LOT_PAGE,
          walletIds: [...new Set(batch.filter((item) => item.kind === 'debit').map((item) => item.walletId))],
        },
        { genericPlan: database.engine === 'pglite' },
      );
      if (database.engine === 'postgres') await listEnabledEndpointFilters(tx, SQL_SCOPE);
      const state = new Map(
        [...locked.wallets].map(([id, { wallet, openLots }]) => {
          const lot = openLots?.[0];
          return [
            id,
            {
              customerId: wallet.customer_id,
              balance: new Dec(wallet.credit_balance),
              lot: lot ? { id: lot.id, available: new Dec(lot.credits_available) } : undefined,
            },
          ];
        }),
      );
      const rows = batch.map((item, i) => {
        const wallet = state.get(item.walletId);
        if (!wallet) throw new Error(`no wallet ${item.walletId}`);
        const row = ledgerRow(
          ids[i] as string,
          item.walletId,
          wallet.customerId,
          item.kind,
          wallet.balance,
          wallet.lot?.id,
          now,
        );
        wallet.balance = new Dec(row.credit_balance_after);
        if (item.kind === 'debit' && wallet.lot) wallet.lot.available = wallet.lot.available.minus(1);
        return { ...row, metadata: JSON.stringify(row.metadata) };
      });
      await appendLedgerEntries(tx, SQL_SCOPE, {
        rows,
        lots: [...state.values()].flatMap((w) =>
          w.lot ? [{ id: w.lot.id, credits_available: w.lot.available.toFixed() }] : [],
        ),
        balances: [...state].map(([id, w]) => ({
          id,
          credit_balance: w.balance.toFixed(),
          balance: w.balance.toFixed(),
        })),
        now,
      });
    });
  }
  return (walletId: string, kind: 'credit' | 'debit') =>
    new Promise<void>((resolve, reject) => {
      queue.push({ walletId, kind, resolve, reject });
      schedule();
    });
}

/**
 * Statements per HTTP top-up and debit, counted in-process: the app on a counting pool, driven through Fastify's
 * inject (every hook, validation and serialization runs; only the socket is skipped).
 */
async function httpStatementsPerOp(engine: Engine) {
  const baselineDb = engine === 'postgres' ? await freshPostgresDatabase(BENCH_DATABASE_URL) : undefined;
  const database = await openDatabase({ databaseUrl: baselineDb?.url, dataDir: 'memory://' });
  const counter = countStatements(database.pool as pg.Pool);
  try {
    await migrateToLatest(database.db);
    const { buildApp } = await import('../src/app.ts');
    const { systemClock } = await import('../src/platform/clock.ts');
    const { app, services } = await buildApp({ database, clock: systemClock });
    const apiKey = `sk_bench_count_${Date.now()}`;
    await services.tenancy.bootstrap({ apiKey });
    const post = async (url: string, payload: Record<string, unknown>) => {
      const response = await app.inject({ method: 'POST', url, headers: { 'x-api-key': apiKey }, payload });
      if (response.statusCode !== 200 && response.statusCode !== 201) throw new Error(response.body);
      return response.json() as { id: string };
    };
    const customer = await post('/v1/customers', { external_id: 'counted', name: 'counted' });
    const wallet = await post('/v1/wallets', {
      customer_id: customer.id,
      currency: 'usd',
      initial_credits_to_load: '1000000',
    });
    const body = (kind: 'top-up' | 'debit', key: string) =>
      kind === 'top-up'
        ? { credits_to_add: '1', transaction_reason: 'PURCHASED_CREDIT_DIRECT', idempotency_key: key }
        : { credits: '1', transaction_reason: 'MANUAL_BALANCE_DEBIT', idempotency_key: key };
    /** One write at a time (the unbatched path), then bursts of 16 at once (group commit). */
    const per = async (kind: 'top-up' | 'debit') => {
      const n = 200;
      let start = counter.count;
      for (let i = 0; i < n; i++) await post(`/v1/wallets/${wallet.id}/${kind}`, body(kind, `c-${kind}-${i}`));
      const alone = (counter.count - start) / n;
      start = counter.count;
      for (let round = 0; round < 20; round++) {
        await Promise.all(
          Array.from({ length: 16 }, (_, k) =>
            post(`/v1/wallets/${wallet.id}/${kind}`, body(kind, `c-${kind}-burst-${round}-${k}`)),
          ),
        );
      }
      return { alone, burst: (counter.count - start) / (20 * 16) };
    };
    const topUp = await per('top-up');
    const debit = await per('debit');
    await app.close();
    return { topUp, debit };
  } finally {
    await database.close();
    await baselineDb?.drop();
  }
}

async function writes(engine: Engine) {
  printHeader(`wallet writes (${engine}); ratio = HTTP ops/s ÷ direct SQL ops/s`);
  const server = await startServer(engine);
  const baselineDb = engine === 'postgres' ? await freshPostgresDatabase(BENCH_DATABASE_URL) : undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-wallet-sql-'));
  const database = await openDatabase({ databaseUrl: baselineDb?.url, dataDir, poolMax: 64 });
  const sqlStatements = countStatements(database.pool as pg.Pool);
  await migrateToLatest(database.db);
  try {
    const counted = await httpStatementsPerOp(engine);
    const f = (n: number) => n.toFixed(2);
    print(
      `statements per HTTP write (in-process count), one at a time: top-up ${f(counted.topUp.alone)}, debit ${f(counted.debit.alone)}; ` +
        `16 at once (group commit): top-up ${f(counted.topUp.burst)}, debit ${f(counted.debit.burst)}`,
    );
    const t0 = performance.now();
    const http = await setUpHttp(server);
    const direct = await setUpSql(database);
    print(`set up ${SPREAD_WALLETS + 1} wallets per side in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const pick = (fixture: Fixture, target: 'hot' | 'spread', w: number, i: number) =>
      target === 'hot' ? fixture.hot : (fixture.spread[(w * 7919 + i * 104729) % fixture.spread.length] as string);
    let key = 0;
    const grouped = sqlGroupCommit(database, engine === 'pglite' ? 1 : 2);
    const statistics = staleStatisticsTask(database.db);
    for (const target of ['hot', 'spread'] as const) {
      for (const kind of ['top-up', 'debit'] as const) {
        for (const concurrency of CONCURRENCY) {
          // Embedded, the database runs inside the measured process (the server's, or this one for direct SQL), so CPU
          // per op covers everything; with PostgreSQL it is the Node side only (the "js" figure), without the backends.
          const embedded = engine === 'pglite';
          const viaHttpOp = async (w: number, i: number) => {
            const walletId = pick(http, target, w, i);
            const response =
              kind === 'top-up'
                ? await call(server, 'POST', `/v1/wallets/${walletId}/top-up`, {
                    credits_to_add: '1',
                    transaction_reason: 'PURCHASED_CREDIT_DIRECT',
                    idempotency_key: `b-${key++}`,
                  })
                : await call(server, 'POST', `/v1/wallets/${walletId}/debit`, {
                    credits: '1',
                    transaction_reason: 'MANUAL_BALANCE_DEBIT',
                    idempotency_key: `b-${key++}`,
                  });
            return response.status === 200;
          };
          const viaSqlOp = (w: number, i: number) =>
            grouped(pick(direct, target, w, i), kind === 'top-up' ? 'credit' : 'debit');
          // Warm-up (unrecorded: not in ops, latencies, CPU or statement counts), then the measured phase.
          await runLoad(concurrency, WARMUP_MS, viaHttpOp);
          const viaHttp = await measured(server.pid, () => runLoad(concurrency, BENCH_SECONDS * 1000, viaHttpOp));
          // The server vacuums and analyzes changed tables every 10 s on the embedded engine (PostgreSQL's
          // autovacuum does it for both sides); the direct-SQL database gets the same before each of its phases.
          if (embedded) while (await statistics.run());
          await runLoad(concurrency, WARMUP_MS, viaSqlOp);
          const statementsBefore = sqlStatements.count;
          const viaSql = await measured(undefined, () => runLoad(concurrency, BENCH_SECONDS * 1000, viaSqlOp));
          const sqlPerOp = (sqlStatements.count - statementsBefore) / Math.max(1, viaSql.result.ops);
          const where = target === 'hot' ? 'one hot wallet' : `${SPREAD_WALLETS} wallets`;
          const cpu = (m: { cpuMsPerOp: number }) =>
            embedded
              ? `  cpu ${m.cpuMsPerOp.toFixed(2)} ms/op ≈ ${(1000 / m.cpuMsPerOp).toFixed(0)}/s per core`
              : `  js cpu ${m.cpuMsPerOp.toFixed(2)} ms/op`;
          print(formatRow(`HTTP ${kind}, ${where}`, viaHttp.result, viaSql.result) + cpu(viaHttp));
          print(formatRow(`SQL ${kind}, ${where}`, viaSql.result) + cpu(viaSql) + `  ${sqlPerOp.toFixed(2)} stmts/op`);
        }
      }
    }
  } finally {
    await server.stop();
    await database.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await baselineDb?.drop();
  }
}

/**
 * `GET /v1/customers/wallets?include_real_time_balance=true` for a customer whose wallet has ENTRIES_FOR_READ
 * ledger entries (seeded in SQL before the server starts: half open credit lots, half debits).
 */
async function realTimeRead(engine: Engine) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-wallet-read-'));
  const pgDatabase = engine === 'postgres' ? await freshPostgresDatabase(BENCH_DATABASE_URL) : undefined;
  const seedDb = await openDatabase({ databaseUrl: pgDatabase?.url, dataDir });
  await migrateToLatest(seedDb.db);
  const { createServices } = await import('../src/app.ts');
  const { systemClock } = await import('../src/platform/clock.ts');
  const services = createServices(seedDb, systemClock);
  const apiKey = `sk_bench_wallets_${Date.now()}`;
  await services.tenancy.bootstrap({ apiKey });
  const environment = await seedDb.db
    .selectFrom('environments')
    .selectAll()
    .where('is_default', '=', true)
    .executeTakeFirstOrThrow();
  const scope = { tenantId: environment.tenant_id, environmentId: environment.id };
  const customer = await services.customers.createCustomer(scope, { external_id: 'reader', name: 'reader' });
  const wallet = await services.wallets.createWallet(scope, { customer_id: customer.id, currency: 'usd' });
  const half = ENTRIES_FOR_READ / 2;
  await sql`
    insert into wallet_transactions (id, tenant_id, environment_id, wallet_id, customer_id, type, amount,
      credit_amount, credit_balance_before, credit_balance_after, credits_available, transaction_status,
      reference_type, transaction_reason, currency, idempotency_key, created_at)
    select 'seed-' || g, ${scope.tenantId}, ${scope.environmentId}, ${wallet.id}, ${customer.id},
           case when g <= ${half} then 'credit' else 'debit' end,
           case when g <= ${half} then 2 else 1 end, case when g <= ${half} then 2 else 1 end,
           case when g <= ${half} then (g - 1) * 2 else ${half} * 2 - (g - ${half} - 1) end,
           case when g <= ${half} then g * 2 else ${half} * 2 - (g - ${half}) end,
           case when g <= ${half} then 1 else 0 end, 'completed', 'REQUEST',
           case when g <= ${half} then (case when g % 2 = 0 then 'FREE_CREDIT_GRANT' else 'PURCHASED_CREDIT_DIRECT' end)
                else 'MANUAL_BALANCE_DEBIT' end,
           'usd', 'seed-' || g, now() - (${ENTRIES_FOR_READ} - g) * interval '1 second'
      from generate_series(1, ${ENTRIES_FOR_READ}) as g`.execute(seedDb.db);
  const balance = String(half);
  await sql`update wallets set credit_balance = ${balance}::numeric, balance = ${balance}::numeric
             where id = ${wallet.id}`.execute(seedDb.db);
  await sql`analyze wallet_transactions`.execute(seedDb.db);
  await seedDb.close();

  const server = await startServer(engine, {
    DATA_DIR: dataDir,
    API_KEY: apiKey,
    ...(pgDatabase ? { DATABASE_URL: pgDatabase.url } : {}),
  });
  server.apiKey = apiKey;
  try {
    const check = await call(server, 'GET', `/v1/wallets/${wallet.id}/transactions?limit=1`);
    const entries = (check.json as { pagination: { total: number } }).pagination.total;
    printHeader(
      `GET /v1/customers/wallets?include_real_time_balance=true, ${entries} entries on the wallet (${engine})`,
    );
    const variants: Array<[string, string]> = [
      ['customer wallets, real-time', '&include_real_time_balance=true'],
      ['customer wallets, real-time + breakdown', '&include_real_time_balance=true&expand=credits_available_breakdown'],
    ];
    for (const [label, query] of variants) {
      for (const concurrency of [1, 16]) {
        const read = async () =>
          (await call(server, 'GET', `/v1/customers/wallets?lookup_key=reader${query}`)).status === 200;
        await runLoad(concurrency, 1000, read, { maxOps: 2_000 });
        const result = await runLoad(concurrency, BENCH_SECONDS * 1000, read, { maxOps: 20_000 });
        print(formatRow(label, result));
      }
    }
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await pgDatabase?.drop();
  }
}

/** BENCH_WALLET_PARTS=writes,read (default both) runs one part alone. */
const PARTS = (process.env.BENCH_WALLET_PARTS ?? 'writes,read').split(',');
for (const engine of ENGINES) {
  if (PARTS.includes('writes')) await writes(engine);
  if (PARTS.includes('read')) await realTimeRead(engine);
}
