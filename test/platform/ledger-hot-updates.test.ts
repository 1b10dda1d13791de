import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type Tx, withTransaction } from '../../src/platform/db/database.ts';
import { type Harness, startHarness } from '../support/harness.ts';

/**
 * Migration 0018: draining a credit lot that stays open updates no indexed column, so PostgreSQL makes it a HOT
 * update (no new index entries); the lot's last drain closes it (`lot_open` false) and leaves the open-lot index.
 * Counted with pg_stat_xact_user_tables inside the debit's own transaction, on both engines.
 */
let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

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
    // The view also holds counts of this connection's earlier transactions not yet flushed: read it before and after.
    const counts = async (tx: Tx) => {
      const { rows } = await sql<{ updates: string; hot: string }>`
        select n_tup_upd::text as updates, n_tup_hot_upd::text as hot
          from pg_stat_xact_user_tables where relname = 'wallet_transactions'`.execute(tx);
      return { updates: Number(rows[0]?.updates), hot: Number(rows[0]?.hot) };
    };
    const debit = (credits: string, key: string) =>
      withTransaction(h.database.db, async (tx) => {
        const before = await counts(tx);
        await h.services.wallets.debitWalletInTransaction(tx, scope, wallet.id, {
          credits,
          transaction_reason: 'MANUAL_BALANCE_DEBIT',
          idempotency_key: key,
        });
        const after = await counts(tx);
        return { updates: after.updates - before.updates, hot: after.hot - before.hot };
      });
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
});
