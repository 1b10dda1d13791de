import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type Db, type Tx, withTransaction } from '../../src/platform/db/database.ts';
import { type Harness, openIsolatedDatabase, startHarness } from '../support/harness.ts';
import { buildApp } from '../../src/app.ts';
import * as repo from '../../src/modules/wallets/wallets.repo.ts';
import { systemClock } from '../../src/platform/clock.ts';

/**
 * Migration 0018: draining a credit lot that stays open updates no indexed column, so PostgreSQL makes it a HOT
 * update (no new index entries); the lot's last drain closes it (`lot_open` false) and leaves the open-lot index.
 * And the ledger statements of a write read a wallet's first lots in index order, never all of its entries, even
 * before the database has planner statistics. Counted with pg_stat_xact_user_tables inside the write's own
 * transaction, on both engines.
 */
let h: Harness;
before(async () => {
  // A database of its own: on a shared one, other test files' writes could fill the free space of the lot's page,
  // which a HOT update needs.
  h = await startHarness({ isolated: true });
});
after(async () => {
  await h.close();
});

/**
 * What `work` did to the ledger table, counted inside the one transaction it runs in: rows updated, of which HOT,
 * and rows read (index fetches and sequential reads). The view also holds counts of this connection's earlier
 * transactions not yet flushed, so it is read before and after.
 */
async function ledgerActivity(db: Db, work: (tx: Tx) => Promise<unknown>) {
  return withTransaction(db, async (tx) => {
    const counts = async () => {
      const { rows } = await sql<{ updates: string; hot: string; read: string }>`
        select n_tup_upd::text as updates, n_tup_hot_upd::text as hot,
               (coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0))::text as read
          from pg_stat_xact_user_tables where relname = 'wallet_transactions'`.execute(tx);
      return {
        updates: Number(rows[0]?.updates ?? 0),
        hot: Number(rows[0]?.hot ?? 0),
        read: Number(rows[0]?.read ?? 0),
      };
    };
    const before = await counts();
    await work(tx);
    const after = await counts();
    return { updates: after.updates - before.updates, hot: after.hot - before.hot, read: after.read - before.read };
  });
}

describe('ledger storage: draining a lot', () => {
  it('is a HOT update while the lot stays open, and takes the lot off the open-lot index when it closes', async () => {
    const tenant = await h.newTenant();
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    const customer = await h.services.customers.createCustomer(scope, { external_id: 'hot', name: 'hot' });
    const wallet = await h.services.wallets.createWallet(scope, {
      customer_id: customer.id,
      currency: 'usd',
      initial_credits_to_load: '10',
    });
    const debit = async (credits: string, key: string) => {
      const { updates, hot } = await ledgerActivity(h.database.db, (tx) =>
        h.services.wallets.debitWalletInTransaction(tx, scope, wallet.id, {
          credits,
          transaction_reason: 'MANUAL_BALANCE_DEBIT',
          idempotency_key: key,
        }),
      );
      return { updates, hot };
    };
    const openLots = async () =>
      (
        await sql<{
          id: string;
        }>`select id from wallet_transactions where wallet_id = ${wallet.id} and lot_open`.execute(h.database.db)
      ).rows.length;

    // The lot stays open (10 → 4): one update of the ledger, made HOT.
    assert.deepEqual(await debit('6', 'hot-1'), { updates: 1, hot: 1 });
    assert.equal(await openLots(), 1);
    // The last drain (4 → 0) changes lot_open, an indexed value: not HOT, and the lot is no longer open.
    assert.deepEqual(await debit('4', 'hot-2'), { updates: 1, hot: 0 });
    assert.equal(await openLots(), 0);
    const balance = await h.services.wallets.getWallet(scope, wallet.id);
    assert.equal(balance.credit_balance, '0');
  });

  it('reads only the first lots of a wallet with 15,000 open lots, on a database without statistics', async () => {
    // A new database has no planner statistics until autovacuum (PostgreSQL) or the statistics task (embedded) first
    // analyzes it; the debit's lot read must not depend on them.
    const database = await openIsolatedDatabase();
    const { app, services } = await buildApp({ database, clock: systemClock });
    try {
      const { tenantId, environmentId } = await services.tenancy.bootstrap({ apiKey: 'sk_lots_without_statistics' });
      const scope = { tenantId, environmentId };
      const customer = await services.customers.createCustomer(scope, { external_id: 'many', name: 'many' });
      const wallet = await services.wallets.createWallet(scope, { customer_id: customer.id, currency: 'usd' });
      await sql`
        insert into wallet_transactions (id, tenant_id, environment_id, wallet_id, customer_id, type, amount,
          credit_amount, credit_balance_before, credit_balance_after, credits_available, transaction_status,
          reference_type, transaction_reason, currency, idempotency_key)
        select 'lot-' || lpad(g::text, 5, '0'), ${tenantId}, ${environmentId}, ${wallet.id}, ${customer.id}, 'credit',
               1, 1, g - 1, g, 1, 'completed', 'REQUEST', 'PURCHASED_CREDIT_DIRECT', 'usd', 'lot-' || g
          from generate_series(1, 15000) g`.execute(database.db);
      await sql`update wallets set credit_balance = 15000, balance = 15000 where id = ${wallet.id}`.execute(
        database.db,
      );
      const rowsRead = async (work: (tx: Tx) => Promise<unknown>) => (await ledgerActivity(database.db, work)).read;
      const lots = { eligibleAt: new Date(), limit: 8 };
      const reads = {
        // The locking read of a lone debit, with its first lots.
        lock: await rowsRead((tx) => repo.lockWalletForWrite(tx, scope, wallet.id, 'k-1', lots)),
        // The locking read of a batch (group commit).
        batchLock: await rowsRead((tx) =>
          repo.lockWalletsForBatch(tx, scope, [wallet.id], ['k-2'], { ...lots, walletIds: [wallet.id] }),
        ),
        // The same with a generic plan, as the embedded engine runs it (planned once for arrays of any length).
        batchLockGeneric: await rowsRead((tx) =>
          repo.lockWalletsForBatch(
            tx,
            scope,
            [wallet.id],
            ['k-3'],
            { ...lots, walletIds: [wallet.id] },
            { genericPlan: true },
          ),
        ),
        // A whole debit that drains two lots, in the caller's transaction.
        debit: await rowsRead((tx) =>
          services.wallets.debitWalletInTransaction(tx, scope, wallet.id, {
            credits: '2',
            transaction_reason: 'MANUAL_BALANCE_DEBIT',
            idempotency_key: 'many-1',
          }),
        ),
      };
      for (const [read, rows] of Object.entries(reads)) assert.ok(rows < 100, `${read}: ${rows} ledger rows read`);
    } finally {
      await app.close();
      await database.close();
    }
  });

  it(
    'runs the batch lock on a generic plan on the embedded engine, instead of planning it for every batch',
    {
      skip: Boolean(process.env.DATABASE_URL) && 'asked for on the embedded engine only',
    },
    async () => {
      const tenant = await h.newTenant();
      const customer = await h.request(tenant, 'POST', '/v1/customers', { external_id: 'plans', name: 'plans' });
      const wallet = await h.request(tenant, 'POST', '/v1/wallets', {
        customer_id: customer.json().id,
        currency: 'usd',
        initial_credits_to_load: '1000',
      });
      const before = h.services.wallets.ledgerBatchStats().batches;
      let key = 0;
      for (let round = 0; round < 8; round++) {
        const responses = await Promise.all(
          Array.from({ length: 6 }, () =>
            h.request(tenant, 'POST', `/v1/wallets/${wallet.json().id}/debit`, {
              credits: '1',
              transaction_reason: 'MANUAL_BALANCE_DEBIT',
              idempotency_key: `plans-${key++}`,
            }),
          ),
        );
        assert.deepEqual(
          responses.map((r) => r.statusCode),
          Array(6).fill(200),
        );
      }
      assert.ok(h.services.wallets.ledgerBatchStats().batches - before >= 8, 'the rounds ran as batches');
      // The embedded engine has one connection: this session holds the batch lock's prepared statement.
      const { rows } = await sql<{ generic: string; custom: string }>`
      select generic_plans::text as generic, custom_plans::text as custom from pg_prepared_statements
       where statement like '%as in_scope%'`.execute(h.database.db);
      assert.equal(rows.length, 1);
      assert.ok(Number(rows[0]?.generic) >= 8, `generic plans: ${rows[0]?.generic}`);
      assert.equal(rows[0]?.custom, '0');
    },
  );
});
