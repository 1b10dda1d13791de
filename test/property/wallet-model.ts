import assert from 'node:assert/strict';
import { Decimal } from 'decimal.js';
import { sql } from 'kysely';
import type { WalletsService } from '../../src/modules/wallets/wallets.service.ts';
import type { DatabaseHandle } from '../../src/platform/db/database.ts';
import type { Scope } from '../../src/platform/http/context.ts';

/**
 * The wallet ledger model the property tests check the service against (sequential sequences and bursts), with
 * the reference's drain order written independently of src/modules/wallets/ledger.ts.
 */

export const DAY = 86_400_000;
/** The expiry job's default grace (the reference's 6 h, WALLET_EXPIRY_GRACE_SECONDS). */
export const EXPIRY_GRACE_MS = 6 * 3_600_000;

export interface ModelLot {
  id: string;
  seq: number;
  priority: number | null;
  expiry: number | null;
  amount: Decimal;
  available: Decimal;
}
export interface ModelWallet {
  id: string;
  currency: string;
  rate: string;
  closed: boolean;
  balance: Decimal;
  lots: ModelLot[];
  /** Completed ledger entries written to the wallet (checked when counted). */
  entries?: number;
}

/** The reference's drain order, written independently of ledger.ts. */
export function drainOrder(lots: ModelLot[]): ModelLot[] {
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

export function drain(lots: ModelLot[], amount: Decimal): Decimal {
  let left = amount;
  for (const lot of drainOrder(lots)) {
    if (left.isZero()) break;
    const take = Decimal.min(lot.available, left);
    lot.available = lot.available.minus(take);
    left = left.minus(take);
  }
  return left;
}

/**
 * The wallet in the database against the model: balances, sum of entries = credit_balance, lot bounds, open lots =
 * max(0, balance), each lot's credits_available, and (when the model counts them) the number of entries. A lot id
 * `bonus-of-<id>` stands for the bonus lot of top-up `<id>`, learnt from the ledger.
 */
export async function checkWallet(database: DatabaseHandle, wallets: WalletsService, scope: Scope, model: ModelWallet) {
  const { db } = database;
  const wallet = await wallets.getWallet(scope, model.id);
  assert.equal(wallet.credit_balance, model.balance.toFixed(), 'credit_balance follows the model');
  assert.equal(wallet.wallet_status, model.closed ? 'closed' : 'active');
  assert.equal(
    new Decimal(wallet.balance).toFixed(),
    model.balance.times(model.rate).toDecimalPlaces(9, Decimal.ROUND_HALF_UP).toFixed(),
    'balance = credit_balance × conversion_rate',
  );
  const sums = await sql<{ net: string; lots_min_ok: boolean; lots_max_ok: boolean; open: string; entries: string }>`
    select coalesce(sum(case when type = 'credit' then credit_amount else -credit_amount end), 0) as net,
           bool_and(credits_available >= 0) as lots_min_ok,
           bool_and(credits_available <= credit_amount) as lots_max_ok,
           coalesce(sum(credits_available) filter (where type = 'credit'), 0) as open,
           count(*) as entries
      from wallet_transactions
     where wallet_id = ${model.id} and transaction_status = 'completed'`.execute(db);
  const row = sums.rows[0];
  assert.ok(row);
  assert.equal(new Decimal(row.net).toFixed(), model.balance.toFixed(), 'sum of entries = credit_balance');
  assert.notEqual(row.lots_min_ok, false, 'no lot below zero');
  assert.notEqual(row.lots_max_ok, false, 'no lot above its amount');
  assert.equal(new Decimal(row.open).toFixed(), Decimal.max(0, model.balance).toFixed(), 'open lots = max(0, balance)');
  if (model.entries !== undefined) {
    assert.equal(Number(row.entries), model.entries, 'one entry per applied call: failures and replays write nothing');
  }
  const lots = await sql<{ id: string; credits_available: string; parent_transaction_id: string | null }>`
    select id, credits_available, parent_transaction_id
      from wallet_transactions where wallet_id = ${model.id} and type = 'credit'`.execute(db);
  const actual = new Map(lots.rows.map((l) => [l.id, new Decimal(l.credits_available).toFixed()]));
  // A bonus lot's id is learnt from the ledger: the credit whose parent is the top-up's entry.
  const bonusOf = new Map(lots.rows.filter((l) => l.parent_transaction_id).map((l) => [l.parent_transaction_id, l.id]));
  for (const lot of model.lots) {
    if (lot.id.startsWith('bonus-of-')) {
      const id = bonusOf.get(lot.id.slice('bonus-of-'.length));
      assert.ok(id, `bonus lot of ${lot.id.slice('bonus-of-'.length)} exists`);
      lot.id = id;
    }
    assert.equal(actual.get(lot.id), lot.available.toFixed(), `lot ${lot.id} drained in the reference order`);
  }
}
