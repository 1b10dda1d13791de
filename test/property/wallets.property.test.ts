import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { TestClock } from '../../src/platform/clock.ts';
import { AppError } from '../../src/platform/errors.ts';
import { type Harness, startHarness } from '../support/harness.ts';
import { checkWallet, DAY, drain, EXPIRY_GRACE_MS, type ModelWallet } from './wallet-model.ts';

/**
 * Random sequences of create, top-up (expiry, priority), debit, manual overdraw, expiry and terminate, checked
 * after every step against the database and against an independent model of the ledger.
 */

const clock = new TestClock('2026-01-01T00:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

type Op =
  | { kind: 'topup'; wallet: number; credits: string; priority: number | null; expiryDays: number | null }
  | { kind: 'debit'; wallet: number; credits: string }
  | { kind: 'manual'; wallet: number; credits: string }
  | { kind: 'expire'; days: number }
  | { kind: 'terminate'; wallet: number }
  | { kind: 'recreate'; wallet: number };

const credits = fc
  .tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom(0, 1, 2))
  .map(([n, scale]) => new Decimal(n).dividedBy(10 ** scale).toFixed());
const walletIndex = fc.integer({ min: 0, max: 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('topup' as const),
      wallet: walletIndex,
      credits,
      priority: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null }),
      expiryDays: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('debit' as const), wallet: walletIndex, credits }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('manual' as const), wallet: walletIndex, credits }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), days: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('terminate' as const), wallet: walletIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('recreate' as const), wallet: walletIndex }) },
);

async function expectRejected(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (e: unknown) => e instanceof AppError && e.code === code);
}

describe('wallet ledger properties', () => {
  it('keeps every invariant over random operation sequences', async () => {
    const { wallets } = h.services;
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 5, maxLength: 25 }),
        fc.constantFrom('1', '2.5', '0.01'),
        async (ops, rate) => {
          clock.set('2026-01-01T00:00:00Z');
          const tenant = await h.newTenant();
          const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
          const customer = await h.services.customers.createCustomer(scope, { external_id: 'c', name: 'c' });
          let seq = 0;
          const models: ModelWallet[] = [];
          for (const currency of ['usd', 'eur']) {
            const w = await wallets.createWallet(scope, { customer_id: customer.id, currency, conversion_rate: rate });
            models.push({ id: w.id, currency, rate, closed: false, balance: new Decimal(0), lots: [] });
          }
          let step = 0;
          for (const o of ops) {
            step++;
            const model = 'wallet' in o ? (models[o.wallet] as ModelWallet) : undefined;
            switch (o.kind) {
              case 'topup': {
                const m = model as ModelWallet;
                const input = {
                  credits_to_add: o.credits,
                  transaction_reason: 'PURCHASED_CREDIT_DIRECT',
                  ...(o.priority !== null ? { priority: o.priority } : {}),
                  ...(o.expiryDays !== null
                    ? { expiry_date_utc: new Date(clock.now().getTime() + o.expiryDays * DAY).toISOString() }
                    : {}),
                };
                if (m.closed) {
                  await expectRejected(wallets.topUpWallet(scope, m.id, input), 'invalid_operation');
                  break;
                }
                const result = await wallets.topUpWallet(scope, m.id, input);
                const amount = new Decimal(o.credits);
                m.lots.push({
                  id: result.wallet_transaction.id,
                  seq: seq++,
                  priority: o.priority,
                  expiry: o.expiryDays !== null ? clock.now().getTime() + o.expiryDays * DAY : null,
                  amount,
                  available: m.balance.gte(0) ? amount : Decimal.max(0, m.balance.plus(amount)),
                });
                m.balance = m.balance.plus(amount);
                break;
              }
              case 'debit':
              case 'manual': {
                const m = model as ModelWallet;
                const input = {
                  credits: o.credits,
                  transaction_reason:
                    o.kind === 'manual' ? ('MANUAL_BALANCE_DEBIT' as const) : ('CREDIT_ADJUSTMENT' as const),
                  idempotency_key: `k-${step}`,
                };
                if (m.closed) {
                  await expectRejected(wallets.debitWallet(scope, m.id, input), 'invalid_operation');
                  break;
                }
                const now = clock.now().getTime();
                const eligible = m.lots.filter((l) => l.available.gt(0) && (l.expiry === null || l.expiry >= now));
                const usable = eligible.reduce((s, l) => s.plus(l.available), new Decimal(0));
                const amount = new Decimal(o.credits);
                if (o.kind === 'debit' && usable.lt(amount)) {
                  await expectRejected(wallets.debitWallet(scope, m.id, input), 'invalid_operation');
                  break;
                }
                await wallets.debitWallet(scope, m.id, input);
                drain(eligible, amount);
                m.balance = m.balance.minus(amount);
                break;
              }
              case 'expire': {
                clock.advance(o.days * DAY);
                while ((await wallets.expireCredits({ limit: 3, scope })).more) {
                  // bounded batches until nothing is due
                }
                const now = clock.now().getTime();
                for (const m of models) {
                  for (const lot of m.lots) {
                    // The job expires a lot once the 6 h grace after its expiry has passed.
                    if (lot.expiry !== null && lot.expiry < now - EXPIRY_GRACE_MS && lot.available.gt(0)) {
                      m.balance = m.balance.minus(lot.available);
                      lot.available = new Decimal(0);
                    }
                  }
                }
                break;
              }
              case 'terminate': {
                const m = model as ModelWallet;
                if (m.closed) {
                  await expectRejected(wallets.terminateWallet(scope, m.id), 'invalid_operation');
                  break;
                }
                await wallets.terminateWallet(scope, m.id);
                if (m.balance.gt(0)) {
                  drain(m.lots, m.balance);
                  m.balance = new Decimal(0);
                }
                m.closed = true;
                break;
              }
              case 'recreate': {
                const m = model as ModelWallet;
                const create = wallets.createWallet(scope, {
                  customer_id: customer.id,
                  currency: m.currency,
                  conversion_rate: rate,
                });
                if (!m.closed) {
                  await expectRejected(create, 'already_exists');
                  break;
                }
                const w = await create;
                models[o.wallet] = {
                  id: w.id,
                  currency: m.currency,
                  rate,
                  closed: false,
                  balance: new Decimal(0),
                  lots: [],
                };
                break;
              }
            }
            for (const m of models) await checkWallet(h.database, wallets, scope, m);
          }
        },
      ),
      // Shrinking replays sequences against the database; bound the whole run so a failure reports promptly. A loaded
      // machine that reaches the bound before all runs is not a failure: a counterexample found is still reported.
      {
        numRuns: Number(process.env.PROPERTY_RUNS ?? 40),
        interruptAfterTimeLimit: 90_000,
        markInterruptAsFailure: false,
      },
    );
  });
});
