import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Decimal } from 'decimal.js';
import { sql } from 'kysely';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';

/**
 * Concurrent ledger writes on real PostgreSQL (PGlite has one connection, so nothing there runs concurrently).
 */
const skip = process.env.DATABASE_URL
  ? false
  : 'needs PostgreSQL: set DATABASE_URL to run the wallet concurrency tests';

let h: Harness;
before(async () => {
  if (!skip) h = await startHarness();
});
after(async () => {
  if (!skip) await h.close();
});

async function newWallet(tenant: TestTenant, initial: string) {
  const customer = await h.request(tenant, 'POST', '/v1/customers', {
    external_id: `c-${Math.random().toString(36).slice(2)}`,
    name: 'c',
  });
  const wallet = await h.request(tenant, 'POST', '/v1/wallets', {
    customer_id: customer.json().id,
    currency: 'usd',
    initial_credits_to_load: initial,
  });
  assert.equal(wallet.statusCode, 200, wallet.body);
  return wallet.json() as { id: string };
}

/** Ledger sums straight from storage: entries, open lots, the cached balance and any negative lot. */
async function ledgerOf(walletId: string) {
  const result = await sql<{ net: string; open: string; negative_lots: string; balance: string; credits: string }>`
    select coalesce(sum(case when t.type = 'credit' then t.credit_amount else -t.credit_amount end), 0) as net,
           coalesce(sum(t.credits_available) filter (where t.type = 'credit'), 0) as open,
           count(*) filter (where t.credits_available < 0) as negative_lots,
           max(w.balance) as balance, max(w.credit_balance) as credits
      from wallets w join wallet_transactions t on t.wallet_id = w.id and t.transaction_status = 'completed'
     where w.id = ${walletId}`.execute(h.database.db);
  return result.rows[0] as { net: string; open: string; negative_lots: string; balance: string; credits: string };
}

/** 3/4 debits of 3 credits (CREDIT_ADJUSTMENT: may not overdraw), 1/4 top-ups of 2, fired at once. */
function mixedOps(tenant: TestTenant, walletIds: string[], count: number) {
  return Array.from({ length: count }, (_, i) => {
    const walletId = walletIds[i % walletIds.length] as string;
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    if (i % 4 === 3) {
      return h
        .request(tenant, 'POST', `/v1/wallets/${walletId}/top-up`, {
          credits_to_add: '2',
          transaction_reason: 'PURCHASED_CREDIT_DIRECT',
          idempotency_key: `t-${walletId}-${i}`,
        })
        .then((r) => ({ walletId, kind: 'credit' as const, ok: r.statusCode === 200, status: r.statusCode }));
    }
    return h.services.wallets
      .debitWallet(scope, walletId, {
        credits: '3',
        transaction_reason: 'CREDIT_ADJUSTMENT',
        idempotency_key: `d-${i}`,
      })
      .then(
        () => ({ walletId, kind: 'debit' as const, ok: true, status: 200 }),
        (e: { code?: string }) => {
          if (e.code !== 'invalid_operation') throw e;
          return { walletId, kind: 'debit' as const, ok: false, status: 400 };
        },
      );
  });
}

async function checkExact(walletId: string, initial: number, outcomes: Awaited<ReturnType<typeof mixedOps>[number]>[]) {
  const mine = outcomes.filter((o) => o.walletId === walletId);
  assert.ok(
    mine.every((o) => o.kind === 'debit' || o.ok),
    'every top-up succeeds',
  );
  const credits = mine.filter((o) => o.kind === 'credit').length * 2;
  const debits = mine.filter((o) => o.kind === 'debit' && o.ok).length * 3;
  const ledger = await ledgerOf(walletId);
  const expected = new Decimal(initial + credits - debits);
  assert.equal(new Decimal(ledger.credits).toFixed(), expected.toFixed(), 'credit_balance is exact');
  assert.equal(new Decimal(ledger.net).toFixed(), expected.toFixed(), 'sum of entries = credit_balance');
  assert.equal(new Decimal(ledger.open).toFixed(), expected.toFixed(), 'open lots = credit_balance');
  assert.equal(new Decimal(ledger.balance).toFixed(), expected.toFixed(), 'balance = credit_balance × 1');
  assert.ok(expected.gte(0), 'a non-manual debit never overdraws');
  assert.equal(ledger.negative_lots, '0');
  return { debits, credits };
}

describe('wallet concurrency on PostgreSQL', { skip }, () => {
  it('64 concurrent debits and top-ups on one wallet leave an exact balance and never overdraw', async () => {
    const tenant = await h.newTenant();
    const wallet = await newWallet(tenant, '60');
    const outcomes = await Promise.all(mixedOps(tenant, [wallet.id], 64));
    const { debits } = await checkExact(wallet.id, 60, outcomes);
    // 60 + 32 credits available; 48 debits of 3 want 144: some must have been refused.
    assert.ok(debits <= 92 && outcomes.some((o) => !o.ok));
  });

  it('64 concurrent operations spread over 8 wallets leave every balance exact', async () => {
    const tenant = await h.newTenant();
    const wallets = [];
    for (let i = 0; i < 8; i++) wallets.push(await newWallet(tenant, '10'));
    const outcomes = await Promise.all(
      mixedOps(
        tenant,
        wallets.map((w) => w.id),
        64,
      ),
    );
    for (const wallet of wallets) await checkExact(wallet.id, 10, outcomes);
  });

  it('the same idempotency key sent 20 times at once writes once and answers the same entry', async () => {
    const tenant = await h.newTenant();
    const wallet = await newWallet(tenant, '0');
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
          credits_to_add: '7',
          transaction_reason: 'PURCHASED_CREDIT_DIRECT',
          idempotency_key: 'once',
        }),
      ),
    );
    assert.ok(responses.every((r) => r.statusCode === 200));
    assert.equal(new Set(responses.map((r) => r.json().wallet_transaction.id)).size, 1);
    const debits = await Promise.all(
      Array.from({ length: 20 }, () =>
        h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/debit`, {
          credits: '5',
          transaction_reason: 'MANUAL_BALANCE_DEBIT',
          idempotency_key: 'once-debit',
        }),
      ),
    );
    assert.ok(debits.every((r) => r.statusCode === 200));
    const ledger = await ledgerOf(wallet.id);
    assert.equal(new Decimal(ledger.credits).toFixed(), '2');
  });

  it('one key raced on two wallets is written once; the loser gets 409 or the replay', async () => {
    const tenant = await h.newTenant();
    const a = await newWallet(tenant, '0');
    const b = await newWallet(tenant, '0');
    const responses = await Promise.all(
      [a, b, a, b].map((w) =>
        h.request(tenant, 'POST', `/v1/wallets/${w.id}/top-up`, {
          credits_to_add: '1',
          transaction_reason: 'FREE_CREDIT_GRANT',
          idempotency_key: 'shared',
        }),
      ),
    );
    const statuses = responses.map((r) => r.statusCode);
    assert.ok(statuses.every((s) => s === 200 || s === 409));
    assert.ok(statuses.includes(409), 'the wallet that lost the race answers 409');
    const total = await sql<{ n: string }>`
      select count(*) as n from wallet_transactions
       where tenant_id = ${tenant.tenantId} and idempotency_key = 'shared'`.execute(h.database.db);
    assert.equal(total.rows[0]?.n, '1');
  });
});
