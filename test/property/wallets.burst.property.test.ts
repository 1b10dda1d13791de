import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import type { DebitInput, DebitReason, TopUpInput, WalletsService } from '../../src/modules/wallets/wallets.service.ts';
import { TestClock } from '../../src/platform/clock.ts';
import { AppError } from '../../src/platform/errors.ts';
import { type Harness, startHarness } from '../support/harness.ts';
import { checkWallet, DAY, drain, EXPIRY_GRACE_MS, type ModelWallet } from './wallet-model.ts';

/** A model wallet that also counts its entries (failures and replays must write none). */
type CountedWallet = ModelWallet & { entries: number };

/**
 * Bursts of concurrent top-ups and debits: each round fires 1–20 calls over 2–3 wallets with no await between them,
 * then awaits them all. Every result and the database after the round must equal applying the calls one by one, in
 * call order, to an independent model of the ledger (the contract of the group-committed write path). Between rounds
 * the clock may move and the expiry job run, or a wallet is terminated or replaced.
 */

const CURRENCIES = ['usd', 'eur', 'gbp'];
const TOP_UP_REASON = 'PURCHASED_CREDIT_DIRECT';
/** The debit reasons a caller may send that this test uses; anything else is a validation error. */
const DEBIT_REASONS_USED = ['CREDIT_ADJUSTMENT', 'INVOICE_PAYMENT', 'MANUAL_BALANCE_DEBIT'];
const clock = new TestClock('2026-01-01T00:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

// ---- generators --------------------------------------------------------------------------------------------------

type Invalid =
  | 'topup-zero'
  | 'topup-reason'
  | 'topup-past-expiry'
  | 'topup-bonus-zero'
  | 'debit-zero'
  | 'debit-negative'
  | 'debit-reason'
  | 'debit-no-key';

type Op =
  | {
      kind: 'topup';
      wallet: number;
      credits: string;
      priority: number | null;
      expiryDays: number | null;
      bonus: string | null;
      keyed: boolean;
    }
  | { kind: 'debit'; wallet: number; credits: string; reason: 'CREDIT_ADJUSTMENT' | 'INVOICE_PAYMENT' }
  | { kind: 'manual'; wallet: number; credits: string }
  | { kind: 'invalid'; wallet: number; variant: Invalid }
  /** The key of an earlier call (`back` counts from the latest), with the same or with other parameters. */
  | { kind: 'repeat'; back: number; change: 'none' | 'credits' | 'wallet' | 'kind' };

type Between = { kind: 'none' } | { kind: 'expire'; days: number } | { kind: 'terminate' | 'recreate'; wallet: number };

interface Round {
  ops: Op[];
  between: Between;
}

const credits = fc
  .tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom(0, 1, 2))
  .map(([n, scale]) => new Decimal(n).dividedBy(10 ** scale).toFixed());
const walletIndex = fc.integer({ min: 0, max: 2 });
const priority = fc.option(fc.integer({ min: 0, max: 2 }), { nil: null });
const expiryDays = fc.option(fc.integer({ min: 1, max: 4 }), { nil: null });

const topUp = (amount: fc.Arbitrary<string>) =>
  fc.record({
    kind: fc.constant('topup' as const),
    wallet: walletIndex,
    credits: amount,
    priority,
    expiryDays,
    bonus: fc.option(
      fc.integer({ min: 1, max: 500 }).map((n) => new Decimal(n).dividedBy(10).toFixed()),
      { nil: null, freq: 4 },
    ),
    keyed: fc.boolean(),
  });

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: topUp(credits) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('debit' as const),
      wallet: walletIndex,
      credits,
      reason: fc.constantFrom('CREDIT_ADJUSTMENT' as const, 'INVOICE_PAYMENT' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('manual' as const), wallet: walletIndex, credits }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('invalid' as const),
      wallet: walletIndex,
      variant: fc.constantFrom<Invalid>(
        'topup-zero',
        'topup-reason',
        'topup-past-expiry',
        'topup-bonus-zero',
        'debit-zero',
        'debit-negative',
        'debit-reason',
        'debit-no-key',
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('repeat' as const),
      back: fc.nat({ max: 4 }),
      change: fc.constantFrom('none' as const, 'none' as const, 'credits' as const, 'wallet' as const, 'kind' as const),
    }),
  },
);

/**
 * Many small lots on one wallet, then a large debit that has to drain well past the first page of lots. The lots
 * often share priority and expiry, so equal sizes tie and the drain order falls to creation order.
 */
const smallLots: fc.Arbitrary<Op[]> = fc
  .tuple(
    walletIndex,
    fc.array(topUp(fc.integer({ min: 1, max: 3 }).map(String)), { minLength: 6, maxLength: 10 }),
    fc.option(fc.record({ priority, expiryDays }), { nil: null }),
    fc.tuple(fc.integer({ min: 5, max: 30 }), fc.constantFrom('', '.5')).map(([n, half]) => `${n}${half}`),
    fc.constantFrom('debit' as const, 'manual' as const, 'none' as const),
    fc.array(op, { maxLength: 4 }),
  )
  .map(([wallet, lots, shared, debit, then, rest]): Op[] => [
    ...lots.map((l) => ({ ...l, ...(shared ?? {}), wallet, bonus: null })),
    ...(then === 'manual'
      ? [{ kind: 'manual' as const, wallet, credits: debit }]
      : then === 'debit'
        ? [{ kind: 'debit' as const, wallet, credits: debit, reason: 'CREDIT_ADJUSTMENT' as const }]
        : []),
    ...rest,
  ]);

/**
 * Large debits in a later burst than the lots they drain: the lots are in the database, beyond the first page the
 * batch reads with its lock, so the batch must read further (after writing what it has pending).
 */
const largeDebits: fc.Arbitrary<Op[]> = fc.array(
  fc.record({
    kind: fc.constant('debit' as const),
    wallet: walletIndex,
    credits: fc.integer({ min: 3, max: 25 }).map(String),
    reason: fc.constant('CREDIT_ADJUSTMENT' as const),
  }),
  { minLength: 2, maxLength: 5 },
);

const between: fc.Arbitrary<Between> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('expire' as const), days: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('terminate' as const), wallet: walletIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('recreate' as const), wallet: walletIndex }) },
);

const round: fc.Arbitrary<Round> = fc.record({
  ops: fc.oneof(
    { weight: 3, arbitrary: fc.array(op, { minLength: 1, maxLength: 20 }) },
    { weight: 1, arbitrary: smallLots },
    { weight: 1, arbitrary: largeDebits },
  ),
  between,
});

// ---- the model ---------------------------------------------------------------------------------------------------

/** One call of a burst, as sent. */
type Call =
  | { type: 'topup'; label: string; walletId: string; input: TopUpInput }
  | { type: 'debit'; label: string; walletId: string; input: DebitInput };

type Expected =
  | { ok: false; code: string }
  | { ok: true; replayOf: string; wallet: CountedWallet }
  | {
      ok: true;
      replayOf: null;
      wallet: CountedWallet;
      /** Credit balance after the call's main entry (a bonus entry follows it). */
      entryAfter: Decimal;
      /** credits_available of a new top-up lot when written. */
      lotAvailable: Decimal | null;
      key: string | null;
      sig: string;
    };

function positive(value: string | number | undefined): Decimal | null {
  if (value === undefined) return null;
  const d = new Decimal(value);
  return d.gt(0) ? d : null;
}

/** The request's parameters as the idempotency check compares them (op, wallet, amounts, reason, expiry, ...). */
function signature(call: Call): string {
  if (call.type === 'topup') {
    const { input } = call;
    return JSON.stringify([
      'topup',
      call.walletId,
      new Decimal(input.credits_to_add ?? 0).toFixed(),
      input.transaction_reason,
      input.expiry_date_utc ? new Date(input.expiry_date_utc).toISOString() : null,
      input.priority ?? null,
      input.bonus_credits_to_add !== undefined ? new Decimal(input.bonus_credits_to_add).toFixed() : null,
    ]);
  }
  const { input } = call;
  return JSON.stringify(['debit', call.walletId, new Decimal(input.credits ?? 0).toFixed(), input.transaction_reason]);
}

interface Ledger {
  wallets: Map<string, CountedWallet>;
  keys: Map<string, { sig: string; transactionId: string; walletId: string }>;
  seq: number;
}

/** What `call` must do, applied to the model in call order; the result's new ids are taken from `actual`. */
function apply(ledger: Ledger, call: Call, actual: PromiseSettledResult<unknown>): Expected {
  const m = ledger.wallets.get(call.walletId) as CountedWallet;
  const now = clock.now().getTime();
  let amount: Decimal;
  let key: string | null;
  if (call.type === 'topup') {
    const { input } = call;
    const main = positive(input.credits_to_add);
    if (input.transaction_reason !== TOP_UP_REASON || !main) return { ok: false, code: 'validation_error' };
    if (input.expiry_date_utc && Date.parse(input.expiry_date_utc) <= now)
      return { ok: false, code: 'validation_error' };
    if (input.bonus_credits_to_add !== undefined && !positive(input.bonus_credits_to_add)) {
      return { ok: false, code: 'validation_error' };
    }
    amount = main;
    key = input.idempotency_key ?? null;
  } else {
    const { input } = call;
    const debit = positive(input.credits);
    if (!input.idempotency_key || !DEBIT_REASONS_USED.includes(input.transaction_reason) || !debit) {
      return { ok: false, code: 'validation_error' };
    }
    amount = debit;
    key = input.idempotency_key;
  }
  const sig = signature(call);
  const held = key !== null ? ledger.keys.get(key) : undefined;
  if (held) {
    if (held.sig !== sig) return { ok: false, code: 'already_exists' };
    return { ok: true, replayOf: held.transactionId, wallet: ledger.wallets.get(held.walletId) as CountedWallet };
  }
  if (m.closed) return { ok: false, code: 'invalid_operation' };

  if (call.type === 'topup') {
    const { input } = call;
    const result = actual.status === 'fulfilled' ? (actual.value as TopUpResult) : null;
    const addLot = (id: string, credits: Decimal, expiry: number | null) => {
      const available = m.balance.gte(0) ? credits : Decimal.max(0, m.balance.plus(credits));
      m.lots.push({ id, seq: ledger.seq++, priority: input.priority ?? null, expiry, amount: credits, available });
      m.balance = m.balance.plus(credits);
      m.entries++;
      return available;
    };
    const expiry = input.expiry_date_utc ? Date.parse(input.expiry_date_utc) : null;
    const lotAvailable = addLot(result?.wallet_transaction.id ?? `missing-${ledger.seq}`, amount, expiry);
    const entryAfter = m.balance;
    const bonus = positive(input.bonus_credits_to_add);
    if (bonus) addLot(`bonus-of-${result?.wallet_transaction.id ?? ledger.seq}`, bonus, null);
    if (key !== null && result) {
      ledger.keys.set(key, { sig, transactionId: result.wallet_transaction.id, walletId: m.id });
    }
    return { ok: true, replayOf: null, wallet: m, entryAfter, lotAvailable, key, sig };
  }

  const manual = call.input.transaction_reason === 'MANUAL_BALANCE_DEBIT';
  const eligible = m.lots.filter((l) => l.available.gt(0) && (l.expiry === null || l.expiry >= now));
  const usable = eligible.reduce((s, l) => s.plus(l.available), new Decimal(0));
  if (!manual && usable.lt(amount)) return { ok: false, code: 'invalid_operation' };
  drain(eligible, amount);
  m.balance = m.balance.minus(amount);
  m.entries++;
  const result = actual.status === 'fulfilled' ? (actual.value as DebitResult) : null;
  if (result) ledger.keys.set(key as string, { sig, transactionId: result.transaction.id, walletId: m.id });
  return { ok: true, replayOf: null, wallet: m, entryAfter: m.balance, lotAvailable: null, key, sig };
}

type TopUpResult = Awaited<ReturnType<WalletsService['topUpWallet']>>;
type DebitResult = Awaited<ReturnType<WalletsService['debitWallet']>>;

const same = (actual: string, expected: Decimal, message: string) =>
  assert.equal(new Decimal(actual).toFixed(), expected.toFixed(), message);

/** The settled result of `call` against what the model says it must be. */
function checkResult(call: Call, actual: PromiseSettledResult<unknown>, expected: Expected, seenIds: Set<string>) {
  const what = `${call.label} (${call.type} ${JSON.stringify(call.input)})`;
  if (!expected.ok) {
    assert.equal(actual.status, 'rejected', `${what} must fail with ${expected.code}`);
    const error = actual.status === 'rejected' ? (actual.reason as unknown) : undefined;
    assert.ok(error instanceof AppError, `${what} fails with an AppError, got ${String(error)}`);
    assert.equal(error.code, expected.code, `${what} fails with ${expected.code}: ${error.message}`);
    return;
  }
  if (actual.status === 'rejected') {
    const error = actual.reason as Error;
    assert.fail(`${what} must succeed, failed with ${(error as AppError).code ?? ''} ${error.message}`);
  }
  const { wallet, transaction } =
    call.type === 'topup'
      ? { wallet: (actual.value as TopUpResult).wallet, transaction: (actual.value as TopUpResult).wallet_transaction }
      : (actual.value as DebitResult);
  assert.equal(wallet.id, expected.wallet.id, `${what}: the wallet returned`);
  same(wallet.credit_balance, expected.wallet.balance, `${what}: credit_balance right after the call, in call order`);
  if (expected.replayOf !== null) {
    assert.equal(transaction.id, expected.replayOf, `${what}: a replay returns the original transaction`);
    return;
  }
  assert.ok(!seenIds.has(transaction.id), `${what}: a new transaction id`);
  seenIds.add(transaction.id);
  assert.equal(transaction.type, call.type === 'topup' ? 'credit' : 'debit', `${what}: entry type`);
  assert.equal(transaction.wallet_id, expected.wallet.id, `${what}: entry's wallet`);
  same(transaction.credit_balance_after, expected.entryAfter, `${what}: the entry's credit_balance_after`);
  if (expected.lotAvailable) same(transaction.credits_available, expected.lotAvailable, `${what}: new lot available`);
}

// ---- the property ------------------------------------------------------------------------------------------------

describe('wallet ledger properties under bursts', () => {
  it('applies a burst of calls as if one by one, in call order per wallet', async () => {
    const { wallets } = h.services;
    const statsBefore = wallets.ledgerBatchStats();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 3 }),
        fc.array(fc.constantFrom('1', '2.5', '0.01'), { minLength: 3, maxLength: 3 }),
        fc.array(round, { minLength: 2, maxLength: 6 }),
        async (walletCount, rates, rounds) => {
          clock.set('2026-01-01T00:00:00Z');
          const tenant = await h.newTenant();
          const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
          const customer = await h.services.customers.createCustomer(scope, { external_id: 'c', name: 'c' });
          const ledger: Ledger = { wallets: new Map(), keys: new Map(), seq: 0 };
          /** The current wallet of each currency (a replaced wallet stays in the ledger for replays). */
          const current: CountedWallet[] = [];
          const open = async (currency: string, rate: string) => {
            // The usd wallet has balance alerts on: its writes take the batch's savepoint path (settle runs after
            // each), the others are computed in memory. Alerts change no balance, so the model holds for both.
            const w = await wallets.createWallet(scope, {
              customer_id: customer.id,
              currency,
              conversion_rate: rate,
              ...(currency === 'usd'
                ? { alert_settings: { critical: { threshold: '5', condition: 'below' as const }, alert_enabled: true } }
                : {}),
            });
            const model = { id: w.id, currency, rate, closed: false, balance: new Decimal(0), lots: [], entries: 0 };
            ledger.wallets.set(w.id, model);
            return model;
          };
          for (let i = 0; i < walletCount; i++) current.push(await open(CURRENCIES[i] as string, rates[i] as string));
          const issued: Call[] = [];
          const seenIds = new Set<string>();
          let keys = 0;

          for (const [r, rnd] of rounds.entries()) {
            // Build the burst first (repeats refer to calls issued before them, in this burst or earlier).
            const calls: Call[] = [];
            for (const [i, o] of rnd.ops.entries()) {
              const label = `round ${r} call ${calls.length}`;
              const now = clock.now().getTime();
              const walletOf = (n: number) => (current[n % walletCount] as CountedWallet).id;
              let call: Call | null = null;
              switch (o.kind) {
                case 'topup':
                  call = {
                    type: 'topup',
                    label,
                    walletId: walletOf(o.wallet),
                    input: {
                      credits_to_add: o.credits,
                      transaction_reason: TOP_UP_REASON,
                      ...(o.priority !== null ? { priority: o.priority } : {}),
                      ...(o.expiryDays !== null
                        ? { expiry_date_utc: new Date(now + o.expiryDays * DAY).toISOString() }
                        : {}),
                      ...(o.bonus !== null ? { bonus_credits_to_add: o.bonus } : {}),
                      ...(o.keyed ? { idempotency_key: `k-${keys++}` } : {}),
                    },
                  };
                  break;
                case 'debit':
                case 'manual':
                  call = {
                    type: 'debit',
                    label,
                    walletId: walletOf(o.wallet),
                    input: {
                      credits: o.credits,
                      transaction_reason: o.kind === 'manual' ? 'MANUAL_BALANCE_DEBIT' : o.reason,
                      idempotency_key: `k-${keys++}`,
                    },
                  };
                  break;
                case 'invalid': {
                  const walletId = walletOf(o.wallet);
                  const key = `k-${keys++}`;
                  const top: TopUpInput = {
                    credits_to_add: '5',
                    transaction_reason: TOP_UP_REASON,
                    idempotency_key: key,
                  };
                  const debit: DebitInput = {
                    credits: '5',
                    transaction_reason: 'CREDIT_ADJUSTMENT',
                    idempotency_key: key,
                  };
                  const variants: Record<Invalid, Call> = {
                    'topup-zero': { type: 'topup', label, walletId, input: { ...top, credits_to_add: '0' } },
                    'topup-reason': { type: 'topup', label, walletId, input: { ...top, transaction_reason: 'NOPE' } },
                    'topup-past-expiry': {
                      type: 'topup',
                      label,
                      walletId,
                      input: { ...top, expiry_date_utc: new Date(now - DAY).toISOString() },
                    },
                    'topup-bonus-zero': {
                      type: 'topup',
                      label,
                      walletId,
                      input: { ...top, bonus_credits_to_add: '0' },
                    },
                    'debit-zero': { type: 'debit', label, walletId, input: { ...debit, credits: '0' } },
                    'debit-negative': { type: 'debit', label, walletId, input: { ...debit, credits: '-3' } },
                    'debit-reason': {
                      type: 'debit',
                      label,
                      walletId,
                      input: { ...debit, transaction_reason: 'NOPE' as DebitReason },
                    },
                    'debit-no-key': { type: 'debit', label, walletId, input: { ...debit, idempotency_key: '' } },
                  };
                  call = variants[o.variant];
                  break;
                }
                case 'repeat': {
                  const keyedCalls = issued.filter((c) => c.input.idempotency_key);
                  const original = keyedCalls[keyedCalls.length - 1 - (o.back % Math.max(1, keyedCalls.length))];
                  if (!original) break;
                  const key = original.input.idempotency_key as string;
                  const at = `${label}, repeat of ${original.label}${o.change === 'none' ? '' : ` with other ${o.change}`}`;
                  if (o.change === 'none') {
                    call = { ...original, label: at, input: { ...original.input } } as Call;
                  } else if (o.change === 'credits') {
                    call =
                      original.type === 'topup'
                        ? {
                            ...original,
                            label: at,
                            input: {
                              ...original.input,
                              credits_to_add: new Decimal(original.input.credits_to_add ?? 0).plus(1).toFixed(),
                            },
                          }
                        : {
                            ...original,
                            label: at,
                            input: {
                              ...original.input,
                              credits: new Decimal(original.input.credits ?? 0).plus(1).toFixed(),
                            },
                          };
                  } else if (o.change === 'wallet') {
                    const others = current.filter((w) => w.id !== original.walletId);
                    call = {
                      ...original,
                      label: at,
                      walletId: (others[i % others.length] as CountedWallet).id,
                    } as Call;
                  } else {
                    call =
                      original.type === 'topup'
                        ? {
                            type: 'debit',
                            label: at,
                            walletId: original.walletId,
                            input: {
                              credits: String(original.input.credits_to_add ?? '1'),
                              transaction_reason: 'CREDIT_ADJUSTMENT',
                              idempotency_key: key,
                            },
                          }
                        : {
                            type: 'topup',
                            label: at,
                            walletId: original.walletId,
                            input: {
                              credits_to_add: String(original.input.credits ?? '1'),
                              transaction_reason: TOP_UP_REASON,
                              idempotency_key: key,
                            },
                          };
                  }
                  break;
                }
              }
              if (call) {
                calls.push(call);
                issued.push(call);
              }
            }

            // The burst: every call issued synchronously, in order, then all awaited.
            const settled = await Promise.allSettled(
              calls.map((c) =>
                c.type === 'topup'
                  ? wallets.topUpWallet(scope, c.walletId, c.input)
                  : wallets.debitWallet(scope, c.walletId, c.input),
              ),
            );
            for (const [i, call] of calls.entries()) {
              const actual = settled[i] as PromiseSettledResult<unknown>;
              // Checked right away: the model's balance is the one right after this call, before later calls move it.
              checkResult(call, actual, apply(ledger, call, actual), seenIds);
            }
            for (const m of ledger.wallets.values()) await checkWallet(h.database, wallets, scope, m);

            // Between rounds, awaited: time passes and credits expire, or a wallet is terminated or replaced.
            const b = rnd.between;
            if (b.kind === 'expire') {
              clock.advance(b.days * DAY);
              while ((await wallets.expireCredits({ limit: 3, scope })).more) {
                // bounded batches until nothing is due
              }
              const now = clock.now().getTime();
              for (const m of ledger.wallets.values()) {
                for (const lot of m.lots) {
                  // The job expires a lot once the 6 h grace after its expiry has passed.
                  if (lot.expiry !== null && lot.expiry < now - EXPIRY_GRACE_MS && lot.available.gt(0)) {
                    m.balance = m.balance.minus(lot.available);
                    lot.available = new Decimal(0);
                    m.entries++;
                  }
                }
              }
            } else if (b.kind === 'terminate') {
              const m = current[b.wallet % walletCount] as CountedWallet;
              if (m.closed) {
                await assert.rejects(wallets.terminateWallet(scope, m.id), (e: unknown) => e instanceof AppError);
              } else {
                await wallets.terminateWallet(scope, m.id);
                if (m.balance.gt(0)) {
                  drain(m.lots, m.balance);
                  m.balance = new Decimal(0);
                  m.entries++;
                }
                m.closed = true;
              }
            } else if (b.kind === 'recreate') {
              const n = b.wallet % walletCount;
              const m = current[n] as CountedWallet;
              if (m.closed) current[n] = await open(m.currency, m.rate);
            }
            if (b.kind !== 'none')
              for (const m of ledger.wallets.values()) await checkWallet(h.database, wallets, scope, m);
          }
        },
      ),
      // Shrinking replays whole runs against the database; bound the run so a failure reports promptly. A loaded
      // machine that reaches the bound before all runs is not a failure: a counterexample found is still reported.
      {
        numRuns: Number(process.env.PROPERTY_RUNS ?? 40),
        interruptAfterTimeLimit: 45_000,
        markInterruptAsFailure: false,
      },
    );
    // The bursts went through group commit (batches of two or more writes), and no batch had to fall back to
    // running its writes one by one (that happens only on a database error, which none of these operations causes).
    const stats = wallets.ledgerBatchStats();
    assert.ok(stats.batches - statsBefore.batches > 10, `batches: ${JSON.stringify(stats)}`);
    assert.equal(stats.fallbacks - statsBefore.fallbacks, 0, 'no batch fell back to single writes');
  });
});
