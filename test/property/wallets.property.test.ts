import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { sql } from 'kysely';
import type { WalletsService } from '../../src/modules/wallets/wallets.service.ts';
import { TestClock } from '../../src/platform/clock.ts';
import { AppError } from '../../src/platform/errors.ts';
import type { Scope } from '../../src/platform/http/context.ts';
import { type Harness, startHarness } from '../support/harness.ts';

/**
 * Random sequences of create, top-up (expiry, priority), debit, manual overdraw, expiry and terminate, checked
 * after every step against the database and against an independent model of the ledger.
 */

const DAY = 86_400_000;
/** The expiry job's default grace (the reference's 6 h, WALLET_EXPIRY_GRACE_SECONDS). */
const EXPIRY_GRACE_MS = 6 * 3_600_000;
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

interface ModelLot {
  id: string;
  seq: number;
  priority: number | null;
  expiry: number | null;
  amount: Decimal;
  available: Decimal;
}
interface ModelWallet {
  id: string;
  currency: string;
  rate: string;
  closed: boolean;
  balance: Decimal;
  lots: ModelLot[];
}

/** The reference's drain order, written independently of ledger.ts. */
function drainOrder(lots: ModelLot[]): ModelLot[] {
  const key = (l: ModelLot) => [l.priority ?? Number.MAX_SAFE_INTEGER, l.expiry ?? Number.MAX_SAFE_INTEGER];
  return [...lots].sort((a, b) => {
    const [ap, ae] = key(a) as [number, number];
    const [bp, be] = key(b) as [number, number];
    if (ap !== bp) return ap - bp;
    if (ae !== be) return ae - be;
    const size = b.amount.comparedTo(a.amount);
    return size !== 0 ? size : a.seq - b.seq;
  });
}

function drain(lots: ModelLot[], amount: Decimal): Decimal {
  let left = amount;
  for (const lot of drainOrder(lots)) {
    if (left.isZero()) break;
    const take = Decimal.min(lot.available, left);
    lot.available = lot.available.minus(take);
    left = left.minus(take);
  }
  return left;
}

async function expectRejected(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (e: unknown) => e instanceof AppError && e.code === code);
}

async function checkWallet(wallets: WalletsService, scope: Scope, model: ModelWallet) {
  const { db } = h.database;
  const wallet = await wallets.getWallet(scope, model.id);
  assert.equal(wallet.credit_balance, model.balance.toFixed(), 'credit_balance follows the model');
  assert.equal(wallet.wallet_status, model.closed ? 'closed' : 'active');
  assert.equal(
    new Decimal(wallet.balance).toFixed(),
    model.balance.times(model.rate).toDecimalPlaces(9, Decimal.ROUND_HALF_UP).toFixed(),
    'balance = credit_balance × conversion_rate',
  );
  const sums = await sql<{ net: string; lots_min_ok: boolean; lots_max_ok: boolean; open: string }>`
    select coalesce(sum(case when type = 'credit' then credit_amount else -credit_amount end), 0) as net,
           bool_and(credits_available >= 0) as lots_min_ok,
           bool_and(credits_available <= credit_amount) as lots_max_ok,
           coalesce(sum(credits_available) filter (where type = 'credit'), 0) as open
      from wallet_transactions
     where wallet_id = ${model.id} and transaction_status = 'completed'`.execute(db);
  const row = sums.rows[0];
  assert.ok(row);
  assert.equal(new Decimal(row.net).toFixed(), model.balance.toFixed(), 'sum of entries = credit_balance');
  assert.notEqual(row.lots_min_ok, false, 'no lot below zero');
  assert.notEqual(row.lots_max_ok, false, 'no lot above its amount');
  assert.equal(new Decimal(row.open).toFixed(), Decimal.max(0, model.balance).toFixed(), 'open lots = max(0, balance)');
  const lots = await sql<{ id: string; credits_available: string }>`
    select id, credits_available from wallet_transactions where wallet_id = ${model.id} and type = 'credit'`.execute(
    db,
  );
  const actual = new Map(lots.rows.map((l) => [l.id, new Decimal(l.credits_available).toFixed()]));
  for (const lot of model.lots) {
    assert.equal(actual.get(lot.id), lot.available.toFixed(), `lot ${lot.id} drained in the reference order`);
  }
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
            for (const m of models) await checkWallet(wallets, scope, m);
          }
        },
      ),
      // Shrinking replays sequences against the database; bound the whole run so a failure reports promptly.
      {
        numRuns: Number(process.env.PROPERTY_RUNS ?? 40),
        interruptAfterTimeLimit: 90_000,
        markInterruptAsFailure: true,
      },
    );
  });
});
