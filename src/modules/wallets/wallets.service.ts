import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { BackgroundTask } from '../../platform/background/runner.ts';
import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, isUniqueViolation, type Tx, withTransaction } from '../../platform/db/database.ts';
import { type FilterCondition, pageOf, parseExpand, type SortCondition } from '../../platform/db/query.ts';
import { AppError, alreadyExists, invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { Dec, type Money, parseDecimal, toStorageScale, toWire } from '../../platform/money.ts';
import type { CustomersService, CustomerView } from '../customers/customers.service.ts';
import {
  type AlertSettings,
  type AlertState,
  alertSettingsProblem,
  alertStateOf,
  amountForCredits,
  balanceOf,
  compareLots,
  creditsAvailableForCredit,
  creditsForAmount,
  DEFAULT_ALERT_SETTINGS,
  hasThreshold,
  isLotEligible,
  type Lot,
  planDrain,
} from './ledger.ts';
import { createPendingChargesRegistry, type PendingChargesProvider } from './pending-charges.ts';
import * as repo from './wallets.repo.ts';
import {
  type AutoTopUp,
  type WalletBalanceView,
  type WalletTransactionView,
  type WalletType,
  type WalletView,
  walletTransactionView,
  walletView,
} from './wallets.views.ts';

export * from './wallets.views.ts';

// ---------------------------------------------------------------------------------------------------------------
// Domain events

export type AlertType = 'low_credit_balance' | 'low_ongoing_balance';
/** The `alert` block of wallet alert webhooks. */
export interface WalletAlertView {
  state: AlertState;
  /** Real-time balance in the currency. */
  current_balance: string;
  /** Real-time balance in credits. */
  credit_balance: string;
  alert_type: AlertType;
  alert_settings: AlertSettings;
}

export type WalletEvent =
  | { type: 'wallet.created' | 'wallet.updated' | 'wallet.terminated'; wallet: WalletView }
  | {
      type: 'wallet.transaction.created' | 'wallet.transaction.updated';
      wallet: WalletView;
      transaction: WalletTransactionView;
    }
  | {
      type:
        | 'wallet.credit_balance.dropped'
        | 'wallet.credit_balance.recovered'
        | 'wallet.ongoing_balance.dropped'
        | 'wallet.ongoing_balance.recovered';
      wallet: WalletView;
      alert: WalletAlertView;
    };

/**
 * Awaited inside the business transaction that caused the event (so an outbox row commits or rolls back with it).
 * Must use `tx` only (PGlite has one connection) and must not make network calls.
 */
export type WalletEventListener = (tx: Tx, scope: Scope, event: WalletEvent) => Promise<void>;

/**
 * Called in the transaction that writes a pending PURCHASED_CREDIT_INVOICED entry, so the billing module can raise
 * the invoice for it; the invoice id it returns is echoed in the top-up response.
 */
export type InvoicedTopUpHandler = (
  tx: Tx,
  scope: Scope,
  topUp: { wallet: WalletView; transaction: WalletTransactionView },
) => Promise<{ invoice_id: string } | undefined>;

/** Resolves a price unit code to its base currency and conversion rate (catalog module); null when unknown. */
export type PriceUnitResolver = (
  tx: Tx,
  scope: Scope,
  code: string,
) => Promise<{ currency: string; conversion_rate: string } | null>;

// ---------------------------------------------------------------------------------------------------------------
// Inputs

export const TOP_UP_REASONS = [
  'FREE_CREDIT_GRANT',
  'PURCHASED_CREDIT_INVOICED',
  'PURCHASED_CREDIT_DIRECT',
  'SUBSCRIPTION_CREDIT_GRANT',
  'CREDIT_NOTE',
  'INVOICE_VOID_REFUND',
] as const;
export const DEBIT_REASONS = [
  'INVOICE_PAYMENT',
  'CREDIT_ADJUSTMENT',
  'MANUAL_BALANCE_DEBIT',
  'CREDIT_EXPIRED',
  'WALLET_TERMINATION',
] as const;
export type DebitReason = (typeof DEBIT_REASONS)[number];
type ReferenceType = 'PAYMENT' | 'EXTERNAL' | 'REQUEST' | 'INVOICE';

/** Alert settings as sent (thresholds as strings or numbers). */
export interface AlertSettingsInput {
  critical?: { threshold: string | number; condition: 'above' | 'below' } | undefined;
  warning?: { threshold: string | number; condition: 'above' | 'below' } | undefined;
  info?: { threshold: string | number; condition: 'above' | 'below' } | undefined;
  alert_enabled?: boolean | undefined;
}

export interface AutoTopUpInput {
  enabled?: boolean | undefined;
  threshold?: string | number | undefined;
  amount?: string | number | undefined;
  invoicing?: boolean | undefined;
  cooldown?: { value: number; unit: string } | undefined;
}

export interface CreateWalletInput {
  customer_id?: string | undefined;
  external_customer_id?: string | undefined;
  currency: string;
  name?: string | undefined;
  description?: string | undefined;
  metadata?: Record<string, string> | undefined;
  wallet_type?: string | undefined;
  conversion_rate?: string | number | undefined;
  topup_conversion_rate?: string | number | undefined;
  initial_credits_to_load?: string | number | undefined;
  initial_credits_to_load_expiry_date?: number | undefined;
  initial_credits_expiry_date_utc?: string | undefined;
  auto_topup?: AutoTopUpInput | undefined;
  auto_topup_trigger?: string | undefined;
  auto_topup_min_balance?: string | number | undefined;
  auto_topup_amount?: string | number | undefined;
  alert_settings?: AlertSettingsInput | undefined;
  price_unit?: string | undefined;
  config?: { allowed_price_types?: string[] | undefined } | undefined;
}

export interface UpdateWalletInput {
  name?: string | undefined;
  description?: string | undefined;
  metadata?: Record<string, string> | undefined;
  auto_topup?: AutoTopUpInput | undefined;
  config?: { allowed_price_types?: string[] | undefined } | undefined;
  alert_settings?: AlertSettingsInput | undefined;
}

export interface TopUpInput {
  credits_to_add?: string | number | undefined;
  amount?: string | number | undefined;
  transaction_reason: string;
  expiry_date_utc?: string | undefined;
  priority?: number | undefined;
  idempotency_key?: string | undefined;
  description?: string | undefined;
  metadata?: Record<string, string> | undefined;
  bonus_credits_to_add?: string | number | undefined;
  bonus_credits_expiry_date_utc?: string | undefined;
  force_sync_invoice?: boolean | undefined;
  checkout?: unknown;
}

export interface DebitInput {
  credits?: string | number | undefined;
  /** Currency amount; converted at conversion_rate. Wins over credits when both are given. */
  amount?: string | number | undefined;
  transaction_reason: DebitReason;
  idempotency_key: string;
  description?: string | undefined;
  metadata?: Record<string, string> | undefined;
  reference_type?: ReferenceType | undefined;
  reference_id?: string | undefined;
  /** Lots expiring before this instant are not usable (default: now; invoice payments pass the period end). */
  eligible_at?: Date | undefined;
}

export interface TopUpResult {
  wallet_transaction: WalletTransactionView;
  wallet: WalletView;
  invoice_id?: string;
}

export interface WalletSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: string | undefined;
  expand?: string | undefined;
  wallet_ids?: string[] | undefined;
  status?: string | undefined;
  alert_enabled?: boolean | undefined;
}

export interface WalletTransactionSearch {
  id?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  expand?: string | undefined;
  type?: string | undefined;
  transaction_status?: string | undefined;
  transaction_reason?: string | undefined;
  reference_type?: string | undefined;
  reference_id?: string | undefined;
  expiry_date_before?: string | undefined;
  expiry_date_after?: string | undefined;
  credits_available_gt?: string | number | undefined;
  priority?: number | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  created_by?: string | undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation helpers

const WALLET_TYPES: readonly WalletType[] = ['PRE_PAID', 'POST_PAID', 'PROMOTIONAL'];
const PRICE_TYPES = ['ALL', 'USAGE', 'FIXED'];
const COOLDOWN_UNIT_MS = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
const LOT_PAGE = 100;
const FIRST_LOT_PAGE = 4;
/** Writes one group-commit batch takes at most (the arrays of one append statement stay small). */
const MAX_LEDGER_BATCH = 64;
const WALLET_EXPAND = ['credits_available_breakdown'] as const;
const TRANSACTION_EXPAND = ['customer', 'wallet'] as const;
/** numeric(20,9): 11 integer digits. */
const MAX_CREDITS = new Dec('99999999999');

function decimalField(value: string | number | undefined, field: string): Money | undefined {
  if (value === undefined) return undefined;
  const parsed = parseDecimal(value);
  if (!parsed) throw validation(`${field} must be a decimal`, { [field]: String(value) });
  return parsed;
}

function creditsField(value: string | number | undefined, field: string): Money | undefined {
  const parsed = decimalField(value, field);
  if (parsed === undefined) return undefined;
  const scaled = toStorageScale(parsed);
  if (scaled.abs().gt(MAX_CREDITS)) throw validation(`${field} is too large`);
  return scaled;
}

function rateField(value: string | number | undefined, field: string): Money | undefined {
  const parsed = decimalField(value, field);
  if (parsed === undefined) return undefined;
  if (parsed.decimalPlaces() > 5 || parsed.abs().gte(100000)) {
    throw validation(`${field} must have at most 5 decimal places and be below 100000`);
  }
  return parsed;
}

function futureDate(value: string | undefined, field: string, now: Date): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw validation(`${field} must be an RFC 3339 timestamp`);
  if (time <= now.getTime()) throw validation(`${field} must be in the future`);
  return new Date(time);
}

/** YYYYMMDD (the older create field) → 00:00:00 UTC of that day. */
function dateFromYmd(value: number, field: string): Date {
  const text = String(value);
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(text);
  const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
  if (!date || date.getUTCDate() !== Number(match?.[3]) || date.getUTCMonth() !== Number(match?.[2]) - 1) {
    throw validation(`${field} must be a date as YYYYMMDD`);
  }
  return date;
}

/** Validates alert settings as sent and returns them with thresholds in wire form. */
function checkAlertSettings(input: AlertSettingsInput | undefined): AlertSettings | undefined {
  if (!input) return undefined;
  const settings: AlertSettings = {};
  for (const name of ['critical', 'warning', 'info'] as const) {
    const t = input[name];
    if (!t) continue;
    const threshold = parseDecimal(t.threshold);
    if (!threshold) throw validation(`alert_settings.${name}.threshold must be a decimal`);
    settings[name] = { threshold: toWire(threshold), condition: t.condition };
  }
  if (input.alert_enabled !== undefined) settings.alert_enabled = input.alert_enabled;
  const problem = alertSettingsProblem(settings);
  if (problem) throw validation(problem);
  return settings;
}

function checkConfig(config: { allowed_price_types?: string[] | undefined } | undefined): string[] | undefined {
  if (!config?.allowed_price_types) return undefined;
  for (const t of config.allowed_price_types) {
    if (!PRICE_TYPES.includes(t))
      throw validation(`config.allowed_price_types: '${t}' is not one of ALL, USAGE, FIXED`);
  }
  return config.allowed_price_types;
}

/** Builds a full auto top-up from input (and, on update, the current value: field-wise merge). */
function autoTopUpFrom(input: AutoTopUpInput, current: AutoTopUp | null): AutoTopUp | null {
  const threshold = decimalField(input.threshold, 'auto_topup.threshold') ?? parseDecimal(current?.threshold);
  const amount = decimalField(input.amount, 'auto_topup.amount') ?? parseDecimal(current?.amount);
  const invoicing = input.invoicing ?? current?.invoicing;
  if (threshold === null || threshold === undefined) throw validation('auto_topup.threshold is required');
  if (amount === null || amount === undefined) throw validation('auto_topup.amount is required');
  if (invoicing === undefined) throw validation('auto_topup.invoicing is required');
  if (amount.lte(0)) throw validation('auto_topup.amount must be greater than 0');
  const result: AutoTopUp = {
    enabled: input.enabled ?? current?.enabled ?? false,
    threshold: toWire(toStorageScale(threshold)),
    amount: toWire(toStorageScale(amount)),
    invoicing,
  };
  const cooldown = input.cooldown ?? current?.cooldown;
  if (cooldown && !(input.cooldown && input.cooldown.value === 0)) {
    if (!Number.isInteger(cooldown.value) || cooldown.value <= 0) {
      throw validation('auto_topup.cooldown.value must be a positive integer');
    }
    if (!(cooldown.unit in COOLDOWN_UNIT_MS)) {
      throw validation('auto_topup.cooldown.unit must be one of second, minute, hour, day');
    }
    result.cooldown = { value: cooldown.value, unit: cooldown.unit as keyof typeof COOLDOWN_UNIT_MS };
  }
  return result;
}

function requestHash(parts: Record<string, unknown>): string {
  const canonical = JSON.stringify(
    Object.keys(parts)
      .sort()
      .map((k) => [k, parts[k] ?? null]),
  );
  return createHash('sha256').update(canonical).digest('hex');
}

function lotOf(row: {
  id: string;
  priority: number | null;
  expiry_date: Date | null;
  credit_amount: string;
  credits_available: string;
}): Lot {
  return {
    id: row.id,
    priority: row.priority,
    expiry_date: row.expiry_date,
    credit_amount: new Dec(row.credit_amount),
    credits_available: new Dec(row.credits_available),
  };
}

const idempotencyConflict = (key: string) =>
  alreadyExists('A wallet transaction with this idempotency key already exists with different parameters', {
    idempotency_key: key,
  });

// ---------------------------------------------------------------------------------------------------------------
// The service

/** The reference's grace (§2.8): a lot is expired this long after its expiry_date (WALLET_EXPIRY_GRACE_SECONDS). */
export const DEFAULT_EXPIRY_GRACE_SECONDS = 6 * 3600;
/** A lot the expiry job kept is looked at again this long after (the reference's expiry schedule runs every 15 min). */
export const EXPIRY_RECHECK_SECONDS = 15 * 60;

/** A credit lot past its expiry, as the expiry job asks the holds about it. */
export interface ExpiringLot {
  id: string;
  wallet_id: string;
  customer_id: string;
  currency: string;
  created_at: Date;
  expiry_date: Date;
}

/**
 * A reason to keep a lot past its expiry for now (reference §2.8: `active_subscription`, `active_invoice`), or null.
 * Other modules register holds; each reads through the expiry transaction `tx` and never writes.
 */
export type ExpiryHold = (tx: Tx, scope: Scope, lot: ExpiringLot) => Promise<string | null>;

/** Wallets: one function per use case, each in one transaction; every ledger write goes through writeEntry. */
export function createWalletsService(deps: {
  db: Db;
  clock: Clock;
  customers: CustomersService;
  /**
   * Group commit of top-ups and debits (see the batching section): how many batches may run at once (1 on the
   * embedded engine, whose one connection serializes them anyway), how many writes one batch takes, and whether
   * the batch lock runs with a generic plan (embedded; see repo.lockWalletsForBatch).
   */
  ledgerBatches?: { maxRunning?: number; maxSize?: number; genericLockPlan?: boolean };
}) {
  const { db, clock, customers } = deps;
  const listeners: WalletEventListener[] = [];
  const invoicedTopUpHandlers: InvoicedTopUpHandler[] = [];
  const pendingCharges = createPendingChargesRegistry();
  const expiryHolds: ExpiryHold[] = [];
  let priceUnitResolver: PriceUnitResolver | null = null;

  async function emit(tx: Tx, scope: Scope, event: WalletEvent): Promise<void> {
    for (const listener of listeners) await listener(tx, scope, event);
  }

  async function lockWallet(tx: Tx, scope: Scope, id: string): Promise<repo.WalletRow> {
    const row = await repo.findWalletById(tx, scope, id, { forUpdate: true });
    if (!row) throw notFound('wallet', { wallet_id: id });
    return row;
  }

  async function resolveCustomer(
    scope: Scope,
    ref: { customer_id?: string | undefined; external_customer_id?: string | undefined },
  ) {
    if (ref.customer_id) return customers.getCustomer(scope, ref.customer_id);
    if (ref.external_customer_id) return customers.getCustomerByExternalId(scope, ref.external_customer_id);
    throw validation('either customer_id or external_customer_id is required');
  }

  /**
   * Inserts a new active wallet with zero balances and fresh alert/auto top-up state, and emits wallet.created.
   * The one place a wallet row is built (create, conversion, the wallets other modules open for a customer).
   */
  async function openWallet(
    tx: Tx,
    scope: Scope,
    wallet: {
      customer_id: string;
      currency: string;
      wallet_type: string;
      name: string;
      description?: string;
      metadata?: Record<string, unknown>;
      conversion_rate: string;
      topup_conversion_rate: string;
      allowed_price_types: string[];
      auto_topup?: unknown;
      alert_settings?: unknown;
    },
  ): Promise<repo.WalletRow> {
    const now = clock.now();
    const row = await repo.insertWallet(tx, {
      id: newId('wallet'),
      tenant_id: scope.tenantId,
      environment_id: scope.environmentId,
      customer_id: wallet.customer_id,
      currency: wallet.currency,
      name: wallet.name,
      description: wallet.description ?? '',
      metadata: JSON.stringify(wallet.metadata ?? {}),
      wallet_type: wallet.wallet_type,
      wallet_status: 'active',
      credit_balance: '0',
      balance: '0',
      conversion_rate: wallet.conversion_rate,
      topup_conversion_rate: wallet.topup_conversion_rate,
      config: JSON.stringify({ allowed_price_types: wallet.allowed_price_types }),
      auto_topup: wallet.auto_topup ? JSON.stringify(wallet.auto_topup) : null,
      alert_settings: wallet.alert_settings ? JSON.stringify(wallet.alert_settings) : null,
      alert_state: 'ok',
      credit_alert_state: 'ok',
      auto_topup_armed: true,
      last_auto_topup_at: null,
      status: 'published',
      created_at: now,
      updated_at: now,
      created_by: '',
      updated_by: '',
    });
    if (listeners.length > 0) await emit(tx, scope, { type: 'wallet.created', wallet: walletView(row) });
    return row;
  }

  // ---- the ledger write path ----------------------------------------------------------------------------------

  interface CreditEntry {
    kind: 'credit';
    credits: Money;
    reason: string;
    pending?: boolean;
    expiry_date?: Date | undefined;
    priority?: number | undefined;
    reference_type: ReferenceType;
    reference_id: string;
    description: string;
    metadata: Record<string, string>;
    idempotency_key: string;
    request_hash: string;
    parent_transaction_id?: string | undefined;
  }
  interface DebitEntry {
    kind: 'debit';
    credits: Money;
    reason: string;
    reference_type: ReferenceType;
    reference_id: string;
    description: string;
    metadata: Record<string, string>;
    idempotency_key: string;
    request_hash: string;
    allow_overdraw: boolean;
    /** Expiry cut-off for eligible lots; null drains every open lot whatever its expiry (termination). */
    eligible_at: Date | null;
    /** Drain only this lot (credit expiry). */
    only_lot_id?: string;
    /** The first FIRST_LOT_PAGE open lots eligible at eligible_at, already read with the wallet's lock. */
    first_lots?: repo.OpenLotRow[] | null;
  }

  /**
   * Appends one entry to a wallet locked by the caller, drains lots for debits, and writes the wallet's new
   * balances (absolute values). Emits wallet.transaction.created. Pending credits change no balance.
   */
  async function writeEntry(
    tx: Tx,
    scope: Scope,
    wallet: repo.WalletRow,
    entry: CreditEntry | DebitEntry,
  ): Promise<{ wallet: repo.WalletRow; transaction: repo.WalletTransactionRow }> {
    const lots = entry.kind === 'debit' ? await openLots(tx, wallet.id, entry, entry.credits) : [];
    const built = buildEntry(scope, wallet, entry, lots);
    await repo.appendLedgerEntry(tx, scope, {
      row: { ...built.row, metadata: JSON.stringify(built.row.metadata) },
      lots: built.lots,
      balances: built.balances,
    });
    await emitCreated(tx, scope, built.wallet, built.row);
    return { wallet: built.wallet, transaction: built.row };
  }

  /** wallet.transaction.created for a written entry, with the wallet after it (only when someone listens). */
  async function emitCreated(tx: Tx, scope: Scope, wallet: repo.WalletRow, row: repo.WalletTransactionRow) {
    if (listeners.length > 0) {
      await emit(tx, scope, {
        type: 'wallet.transaction.created',
        wallet: walletView(wallet),
        transaction: walletTransactionView(row),
      });
    }
  }

  /**
   * What one ledger entry writes, computed without I/O: the entry row, the drained lots (absolute
   * credits_available; `lots` are the open lots in drain order that cover a debit, or all of them) and the wallet's
   * new balances (null for a pending credit, which changes no balance). Throws invalid_operation, before anything is
   * written, when a debit that may not overdraw is not covered.
   */
  function buildEntry(scope: Scope, wallet: repo.WalletRow, entry: CreditEntry | DebitEntry, lots: Lot[]) {
    const now = clock.now();
    const before = new Dec(wallet.credit_balance);
    const rate = new Dec(wallet.conversion_rate);
    const topUpRate = new Dec(wallet.topup_conversion_rate);
    const id = newId('walletTransaction');
    const metadata = { ...entry.metadata };
    let after: Money;
    let available: Money = new Dec(0);
    let lotUpdates: Array<{ id: string; credits_available: string }> = [];

    if (entry.kind === 'credit') {
      after = entry.pending ? before : before.plus(entry.credits);
      if (!entry.pending) available = creditsAvailableForCredit(before, entry.credits);
    } else {
      after = before.minus(entry.credits);
      const plan = planDrain(lots, entry.credits);
      if (plan.shortfall.gt(0) && !entry.allow_overdraw) {
        throw invalidOperation('Insufficient balance: the wallet does not hold enough usable credits for this debit', {
          wallet_id: wallet.id,
          requested_credits: toWire(entry.credits),
          missing_credits: toWire(plan.shortfall),
        });
      }
      lotUpdates = plan.steps.map((s) => ({ id: s.id, credits_available: s.remaining.toFixed() }));
      if (plan.steps.length > 0) metadata.consumed_credit_tx_ids = plan.steps.map((s) => s.id).join(',');
    }

    // The rows are built here and written without RETURNING: the caller holds the lock, so they are exactly what
    // is stored (numerics differ only in trailing zeros, which the views trim).
    const row: repo.WalletTransactionRow = {
      id,
      tenant_id: scope.tenantId,
      environment_id: scope.environmentId,
      wallet_id: wallet.id,
      customer_id: wallet.customer_id,
      type: entry.kind,
      amount: amountForCredits(entry.credits, entry.kind === 'credit' ? topUpRate : rate).toFixed(),
      credit_amount: entry.credits.toFixed(),
      credit_balance_before: before.toFixed(),
      credit_balance_after: after.toFixed(),
      credits_available: available.toFixed(),
      transaction_status: entry.kind === 'credit' && entry.pending ? 'pending' : 'completed',
      reference_type: entry.reference_type,
      reference_id: entry.reference_id || id,
      description: entry.description,
      metadata,
      expiry_date: entry.kind === 'credit' ? (entry.expiry_date ?? null) : null,
      expiry_recheck_at: null,
      priority: entry.kind === 'credit' ? (entry.priority ?? null) : null,
      transaction_reason: entry.reason,
      currency: wallet.currency,
      parent_transaction_id: entry.kind === 'credit' ? (entry.parent_transaction_id ?? null) : null,
      conversion_rate: entry.kind === 'debit' ? wallet.conversion_rate : null,
      topup_conversion_rate: entry.kind === 'credit' ? wallet.topup_conversion_rate : null,
      idempotency_key: entry.idempotency_key || id,
      request_hash: entry.request_hash,
      status: 'published',
      created_at: now,
      updated_at: now,
      created_by: '',
      updated_by: '',
    };
    let updated = wallet;
    let balances: { credit_balance: string; balance: string; updated_at: Date } | null = null;
    if (!(after.eq(before) && entry.kind === 'credit')) {
      balances = { credit_balance: after.toFixed(), balance: balanceOf(after, rate).toFixed(), updated_at: now };
      updated = { ...wallet, ...balances };
    }
    return { row, lots: lotUpdates, balances, wallet: updated };
  }

  /** Open lots in drain order, read a page at a time until they cover `needed` (or run out). */
  async function openLots(
    tx: Tx,
    walletId: string,
    entry: Pick<DebitEntry, 'eligible_at' | 'only_lot_id' | 'first_lots'>,
    needed: Money,
  ): Promise<Lot[]> {
    const lots: Lot[] = [];
    let covered: Money = new Dec(0);
    // Most debits are covered by the first lot or two: read a small first page, then full pages.
    for (let offset = 0, limit = FIRST_LOT_PAGE; ; offset += limit, limit = LOT_PAGE) {
      const page =
        offset === 0 && entry.first_lots
          ? entry.first_lots
          : await repo.listOpenLotsByWalletId(tx, walletId, {
              ...(entry.eligible_at ? { eligibleAt: entry.eligible_at } : {}),
              ...(entry.only_lot_id ? { onlyId: entry.only_lot_id } : {}),
              limit,
              offset,
            });
      for (const row of page) {
        const lot = lotOf(row);
        lots.push(lot);
        covered = covered.plus(lot.credits_available);
      }
      if (page.length < limit || covered.gte(needed)) break;
    }
    // The SQL order is the drain order; sorting again in code keeps one definition authoritative (compareLots).
    return lots.sort(compareLots);
  }

  // ---- alerts and auto top-up, after every balance change ---------------------------------------------------

  async function realTimeOf(executor: Executor, scope: Scope, wallet: repo.WalletRow) {
    const zero = new Dec(0);
    const balance = new Dec(wallet.balance);
    const rate = new Dec(wallet.conversion_rate);
    if (wallet.wallet_status !== 'active') {
      return { balance: zero, credits: zero, usage: zero, unpaid: zero };
    }
    if (wallet.wallet_type === 'POST_PAID') {
      return { balance, credits: creditsForAmount(balance, rate), usage: zero, unpaid: zero };
    }
    const pending = await pendingCharges.computePendingCharges(executor, scope, wallet);
    const realTime = balance.minus(pending.current_period_usage).minus(pending.unpaid_invoices_amount);
    return {
      balance: realTime,
      credits: creditsForAmount(realTime, rate),
      usage: pending.current_period_usage,
      unpaid: pending.unpaid_invoices_amount,
    };
  }

  function effectiveAlertSettings(wallet: repo.WalletRow): AlertSettings {
    const own = wallet.alert_settings as AlertSettings | null;
    return hasThreshold(own) ? own : DEFAULT_ALERT_SETTINGS;
  }

  /** Whether settle has anything to do for this wallet (alerts or auto top-up enabled). */
  function settles(wallet: repo.WalletRow): boolean {
    return (
      effectiveAlertSettings(wallet).alert_enabled === true || Boolean((wallet.auto_topup as AutoTopUp | null)?.enabled)
    );
  }

  /**
   * Recomputes both alert streams, records transitions and emits their events, then runs auto top-up.
   * Called once after every change of a wallet's balance, in the same transaction.
   */
  async function settle(tx: Tx, scope: Scope, wallet: repo.WalletRow): Promise<repo.WalletRow> {
    let current = wallet;
    // Pending charges may be costly (usage, invoices): computed only when an alert or auto top-up needs them.
    if (!settles(current)) return current;
    const settings = effectiveAlertSettings(current);
    const realTime = await realTimeOf(tx, scope, current);
    if (settings.alert_enabled) {
      const streams: Array<{
        type: AlertType;
        column: 'credit_alert_state' | 'alert_state';
        value: Money;
        dropped: WalletEvent['type'];
        recovered: WalletEvent['type'];
      }> = [
        {
          type: 'low_credit_balance',
          column: 'credit_alert_state',
          value: new Dec(current.credit_balance),
          dropped: 'wallet.credit_balance.dropped',
          recovered: 'wallet.credit_balance.recovered',
        },
        {
          type: 'low_ongoing_balance',
          column: 'alert_state',
          value: realTime.credits,
          dropped: 'wallet.ongoing_balance.dropped',
          recovered: 'wallet.ongoing_balance.recovered',
        },
      ];
      for (const stream of streams) {
        const previous = current[stream.column] as AlertState;
        const state = alertStateOf(stream.value, settings);
        if (state === previous) continue;
        const now = clock.now();
        await repo.insertWalletAlertLog(tx, {
          id: newId('walletAlert'),
          tenant_id: scope.tenantId,
          environment_id: scope.environmentId,
          wallet_id: current.id,
          alert_type: stream.type,
          previous_state: previous,
          state,
          credit_balance: current.credit_balance,
          balance: current.balance,
          created_at: now,
        });
        current = await repo.updateWalletById(tx, scope, current.id, { [stream.column]: state });
        const eventType = state === 'in_alarm' ? stream.dropped : state === 'ok' ? stream.recovered : null;
        if (eventType) {
          if (listeners.length > 0)
            await emit(tx, scope, {
              type: eventType as Extract<WalletEvent, { alert: WalletAlertView }>['type'],
              wallet: walletView(current),
              alert: {
                state,
                current_balance: toWire(realTime.balance),
                credit_balance: toWire(realTime.credits),
                alert_type: stream.type,
                alert_settings: settings,
              },
            });
        }
      }
    }
    return autoTopUp(tx, scope, current, realTime.credits);
  }

  /**
   * Tops up `auto_topup.amount` credits once per crossing of the threshold (real-time credit balance ≤ threshold):
   * disarmed when it fires, re-armed when the balance is above the threshold again; skipped inside the cooldown
   * and while the last auto top-up is still pending (invoiced and unpaid).
   */
  async function autoTopUp(tx: Tx, scope: Scope, wallet: repo.WalletRow, realTimeCredits: Money) {
    const config = wallet.auto_topup as AutoTopUp | null;
    if (!config?.enabled || wallet.wallet_status !== 'active') return wallet;
    const threshold = new Dec(config.threshold);
    if (realTimeCredits.gt(threshold)) {
      return wallet.auto_topup_armed ? wallet : repo.updateWalletById(tx, scope, wallet.id, { auto_topup_armed: true });
    }
    if (!wallet.auto_topup_armed) return wallet;
    const now = clock.now();
    if (config.cooldown && wallet.last_auto_topup_at) {
      const cooldownMs = config.cooldown.value * COOLDOWN_UNIT_MS[config.cooldown.unit];
      if (now.getTime() - wallet.last_auto_topup_at.getTime() < cooldownMs) return wallet;
    }
    const last = await repo.findLastAutoTopUp(tx, wallet.id);
    if (last?.transaction_status === 'pending') return wallet;
    const disarmed = await repo.updateWalletById(tx, scope, wallet.id, {
      auto_topup_armed: false,
      last_auto_topup_at: now,
    });
    const key = `auto_topup-${newId('walletTransaction')}`;
    const result = await creditInLockedWallet(tx, scope, disarmed, {
      credits: new Dec(config.amount),
      reason: config.invoicing ? 'PURCHASED_CREDIT_INVOICED' : 'PURCHASED_CREDIT_DIRECT',
      description: 'Auto top-up triggered for low ongoing balance',
      metadata: { auto_topup: 'true' },
      idempotency_key: key,
      request_hash: '',
    });
    return result.wallet;
  }

  // ---- credits ------------------------------------------------------------------------------------------------

  interface CreditRequest {
    credits: Money;
    reason: string;
    expiry_date?: Date | undefined;
    priority?: number | undefined;
    description?: string | undefined;
    metadata?: Record<string, string> | undefined;
    idempotency_key: string;
    request_hash: string;
    bonus?: { credits: Money; expiry_date?: Date | undefined } | undefined;
  }

  /** The purchase entry of a top-up (the unbatched and the batched paths both build it here). */
  function purchaseEntry(request: CreditRequest): CreditEntry {
    const pending = request.reason === 'PURCHASED_CREDIT_INVOICED';
    return {
      kind: 'credit',
      credits: request.credits,
      reason: request.reason,
      pending,
      expiry_date: request.expiry_date,
      priority: request.priority,
      reference_type: 'EXTERNAL',
      reference_id: request.idempotency_key,
      description: request.description || (pending ? 'Purchased credits - pending payment' : ''),
      metadata: request.metadata ?? {},
      idempotency_key: request.idempotency_key,
      request_hash: request.request_hash,
    };
  }

  /** The bonus entry of a top-up, child of its purchase entry. */
  function bonusEntry(
    request: CreditRequest,
    bonus: NonNullable<CreditRequest['bonus']>,
    parentTransactionId: string,
  ): CreditEntry {
    return {
      kind: 'credit',
      credits: bonus.credits,
      reason: 'PURCHASED_CREDIT_BONUS',
      pending: request.reason === 'PURCHASED_CREDIT_INVOICED',
      expiry_date: bonus.expiry_date,
      priority: request.priority,
      reference_type: 'EXTERNAL',
      reference_id: request.idempotency_key,
      description: 'Bonus credits for purchase',
      metadata: {},
      idempotency_key: `${request.idempotency_key}-bonus`,
      request_hash: request.request_hash,
      parent_transaction_id: parentTransactionId,
    };
  }

  /** A top-up of a locked wallet: the purchase entry, an optional bonus entry, then settle. */
  async function creditInLockedWallet(
    tx: Tx,
    scope: Scope,
    wallet: repo.WalletRow,
    request: CreditRequest,
  ): Promise<{ wallet: repo.WalletRow; transaction: repo.WalletTransactionRow; invoice_id?: string }> {
    const pending = request.reason === 'PURCHASED_CREDIT_INVOICED';
    const main = await writeEntry(tx, scope, wallet, purchaseEntry(request));
    let current = main.wallet;
    if (request.bonus) {
      const bonus = await writeEntry(tx, scope, current, bonusEntry(request, request.bonus, main.transaction.id));
      current = bonus.wallet;
    }
    let invoiceId: string | undefined;
    if (pending) {
      for (const handler of invoicedTopUpHandlers) {
        const raised = await handler(tx, scope, {
          wallet: walletView(current),
          transaction: walletTransactionView(main.transaction),
        });
        if (raised) invoiceId = raised.invoice_id;
      }
    } else {
      current = await settle(tx, scope, current);
    }
    return { wallet: current, transaction: main.transaction, ...(invoiceId ? { invoice_id: invoiceId } : {}) };
  }

  function creditRequestOf(
    input: TopUpInput,
    key: string,
    checked: ReturnType<typeof checkTopUp> & { hash: string },
  ): CreditRequest {
    return {
      credits: checked.credits,
      reason: input.transaction_reason,
      expiry_date: checked.expiry,
      priority: input.priority,
      description: input.description,
      metadata: input.metadata,
      idempotency_key: key,
      request_hash: checked.hash,
      bonus: checked.bonusCredits ? { credits: checked.bonusCredits, expiry_date: checked.bonusExpiry } : undefined,
    };
  }

  /** A checked top-up of a wallet locked by the caller (the HTTP path and the in-transaction path share it). */
  async function topUpLocked(
    tx: Tx,
    scope: Scope,
    wallet: repo.WalletRow,
    input: TopUpInput,
    key: string,
    checked: ReturnType<typeof checkTopUp> & { hash: string },
  ): Promise<TopUpResult> {
    assertActive(wallet, 'topped up');
    const result = await creditInLockedWallet(tx, scope, wallet, creditRequestOf(input, key, checked));
    return {
      wallet_transaction: walletTransactionView(result.transaction),
      wallet: walletView(result.wallet),
      ...(result.invoice_id ? { invoice_id: result.invoice_id } : {}),
    };
  }

  /**
   * Runs a keyed ledger operation: replays with the same parameters return the original result and write
   * nothing; the same key with other parameters is 409. Same-wallet races serialize on the wallet lock; a race
   * across wallets (the key is unique per environment) ends on the unique index and is resolved after rollback.
   */
  async function keyed<T, P extends { hash: string }>(
    scope: Scope,
    walletId: string,
    key: string,
    plan: (wallet: repo.WalletRow) => P,
    fresh: (tx: Tx, wallet: repo.WalletRow, planned: P, firstLots: repo.OpenLotRow[] | null) => Promise<T>,
    replay: (executor: Executor, original: repo.WalletTransactionRow) => Promise<T>,
    /** A debit: read the first page of lots eligible at this instant with the lock (see lockWalletForWrite). */
    lotsEligibleAt?: Date,
  ): Promise<T> {
    const lots = lotsEligibleAt ? { eligibleAt: lotsEligibleAt, limit: FIRST_LOT_PAGE } : undefined;
    try {
      return await withTransaction(db, async (tx) => {
        const locked = await repo.lockWalletForWrite(tx, scope, walletId, key, lots);
        if (!locked) throw notFound('wallet', { wallet_id: walletId });
        const { wallet } = locked;
        const planned = plan(wallet);
        if (locked.key) {
          if (locked.key.requestHash !== planned.hash) throw idempotencyConflict(key);
          const original = await repo.findWalletTransactionById(tx, scope, locked.key.transactionId);
          if (original) return replay(tx, original);
        }
        return fresh(tx, wallet, planned, locked.openLots);
      });
    } catch (error) {
      if (!isUniqueViolation(error, repo.WALLET_TRANSACTION_UNIQUE_IDEMPOTENCY)) throw error;
      const planned = plan(await walletRowOrThrow(db, scope, walletId));
      const original = await repo.findWalletTransactionByIdempotencyKey(db, scope, key);
      if (original && original.request_hash === planned.hash) return replay(db, original);
      throw idempotencyConflict(key);
    }
  }

  async function walletRowOrThrow(executor: Executor, scope: Scope, id: string) {
    const row = await repo.findWalletById(executor, scope, id);
    if (!row) throw notFound('wallet', { wallet_id: id });
    return row;
  }

  function checkTopUp(wallet: repo.WalletRow, input: TopUpInput) {
    if (!(TOP_UP_REASONS as readonly string[]).includes(input.transaction_reason)) {
      throw validation(`transaction_reason must be one of ${TOP_UP_REASONS.join(', ')}`);
    }
    if (input.checkout !== undefined) {
      throw validation('checkout (pay-first top-up) is not supported; top up with PURCHASED_CREDIT_INVOICED');
    }
    const credits = creditsField(input.credits_to_add, 'credits_to_add');
    const amount = creditsField(input.amount, 'amount');
    let toAdd = credits && !credits.isZero() ? credits : undefined;
    if (!toAdd && amount && !amount.isZero()) {
      toAdd = creditsForAmount(amount, new Dec(wallet.topup_conversion_rate));
    }
    if (!toAdd || toAdd.lte(0)) throw validation('credits_to_add (or amount) must be greater than 0');
    const now = clock.now();
    const expiry = futureDate(input.expiry_date_utc, 'expiry_date_utc', now);
    const bonusCredits = creditsField(input.bonus_credits_to_add, 'bonus_credits_to_add');
    if (bonusCredits !== undefined && bonusCredits.lte(0)) {
      throw validation('bonus_credits_to_add must be greater than 0');
    }
    const bonusExpiry = futureDate(input.bonus_credits_expiry_date_utc, 'bonus_credits_expiry_date_utc', now);
    return { credits: toAdd, expiry, bonusCredits, bonusExpiry };
  }

  function topUpHash(walletId: string, input: TopUpInput, credits: Money, bonus: Money | undefined) {
    return requestHash({
      op: 'top-up',
      wallet_id: walletId,
      credits: credits.toFixed(),
      reason: input.transaction_reason,
      expiry: input.expiry_date_utc ? new Date(input.expiry_date_utc).toISOString() : null,
      priority: input.priority ?? null,
      bonus: bonus?.toFixed() ?? null,
      description: input.description ?? '',
      metadata: input.metadata ?? {},
    });
  }

  function debitHash(walletId: string, input: DebitInput, credits: Money) {
    return requestHash({
      op: 'debit',
      wallet_id: walletId,
      credits: credits.toFixed(),
      reason: input.transaction_reason,
      reference_type: input.reference_type ?? null,
      reference_id: input.reference_id ?? null,
      description: input.description ?? '',
      metadata: input.metadata ?? {},
    });
  }

  async function debitLocked(
    tx: Tx,
    scope: Scope,
    wallet: repo.WalletRow,
    input: DebitInput,
    credits: Money,
    hash: string,
    firstLots: repo.OpenLotRow[] | null = null,
  ): Promise<{ wallet: repo.WalletRow; transaction: repo.WalletTransactionRow }> {
    assertActive(wallet, 'debited');
    const written = await writeEntry(tx, scope, wallet, debitEntry(input, credits, hash, firstLots));
    return { wallet: await settle(tx, scope, written.wallet), transaction: written.transaction };
  }

  /** The ledger entry of a requested debit (the unbatched and the batched paths both build it here). */
  function debitEntry(
    input: DebitInput,
    credits: Money,
    hash: string,
    firstLots: repo.OpenLotRow[] | null = null,
  ): DebitEntry {
    return {
      kind: 'debit',
      credits,
      reason: input.transaction_reason,
      reference_type: input.reference_type ?? 'REQUEST',
      reference_id: input.reference_id ?? '',
      description: input.description ?? '',
      metadata: input.metadata ?? {},
      idempotency_key: input.idempotency_key,
      request_hash: hash,
      allow_overdraw: input.transaction_reason === 'MANUAL_BALANCE_DEBIT',
      eligible_at: input.eligible_at ?? clock.now(),
      first_lots: firstLots,
    };
  }

  function debitCredits(wallet: repo.WalletRow, input: DebitInput): Money {
    if (!(DEBIT_REASONS as readonly string[]).includes(input.transaction_reason)) {
      throw validation(`transaction_reason must be one of ${DEBIT_REASONS.join(', ')}`);
    }
    if (!input.idempotency_key) throw validation('idempotency_key is required');
    const amount = creditsField(input.amount, 'amount');
    const credits =
      amount !== undefined && !amount.isZero()
        ? creditsForAmount(amount, new Dec(wallet.conversion_rate))
        : creditsField(input.credits, 'credits');
    if (!credits || credits.lte(0)) throw validation('credits must be greater than 0');
    return credits;
  }

  // ---- pending top-up completion (called by billing when the invoice is paid) -------------------------------

  async function completePendingLocked(tx: Tx, scope: Scope, wallet: repo.WalletRow, row: repo.WalletTransactionRow) {
    const now = clock.now();
    const before = new Dec(wallet.credit_balance);
    const credits = new Dec(row.credit_amount);
    const after = before.plus(credits);
    const transaction = await repo.updateWalletTransactionById(tx, scope, row.id, {
      transaction_status: 'completed',
      credit_balance_before: before.toFixed(),
      credit_balance_after: after.toFixed(),
      credits_available: creditsAvailableForCredit(before, credits).toFixed(),
      updated_at: now,
    });
    const updated = await repo.updateWalletById(tx, scope, wallet.id, {
      credit_balance: after.toFixed(),
      balance: balanceOf(after, new Dec(wallet.conversion_rate)).toFixed(),
      updated_at: now,
    });
    if (listeners.length > 0)
      await emit(tx, scope, {
        type: 'wallet.transaction.updated',
        wallet: walletView(updated),
        transaction: walletTransactionView(transaction),
      });
    return { wallet: updated, transaction };
  }

  /**
   * Completes a pending PURCHASED_CREDIT_INVOICED entry (and its pending bonus) once its invoice is paid, in the
   * caller's transaction: the credits land in the balance and become a drawable lot. Completing an already
   * completed entry returns it unchanged (payment webhooks retry). Errors: not_found, invalid_operation.
   */
  async function completePendingTopUp(
    tx: Tx,
    scope: Scope,
    transactionId: string,
  ): Promise<{ wallet: WalletView; transaction: WalletTransactionView }> {
    const found = await repo.findWalletTransactionById(tx, scope, transactionId);
    if (!found) throw notFound('wallet transaction', { transaction_id: transactionId });
    let wallet = await lockWallet(tx, scope, found.wallet_id);
    const row = await repo.findWalletTransactionById(tx, scope, transactionId, { forUpdate: true });
    if (!row || row.type !== 'credit') throw invalidOperation('only a credit entry can be completed');
    if (row.transaction_status === 'completed') {
      return { wallet: walletView(wallet), transaction: walletTransactionView(row) };
    }
    if (row.transaction_status !== 'pending') {
      throw invalidOperation(`wallet transaction is ${row.transaction_status}, not pending`);
    }
    const main = await completePendingLocked(tx, scope, wallet, row);
    wallet = main.wallet;
    for (const child of await repo.findPendingChildTransactions(tx, scope, row.id)) {
      wallet = (await completePendingLocked(tx, scope, wallet, child)).wallet;
    }
    wallet = await settle(tx, scope, wallet);
    return { wallet: walletView(wallet), transaction: walletTransactionView(main.transaction) };
  }

  // ---- expiry ---------------------------------------------------------------------------------------------------

  /**
   * Expires up to `limit` lots whose expiry_date is more than `graceSeconds` (default 6 h, the reference's grace)
   * before the clock's now: each is closed by a CREDIT_EXPIRED debit of exactly its remainder, in its own transaction
   * (so one bad wallet cannot block the rest). A lot a registered hold keeps (§2.8: an unpaid invoice of its period,
   * billing lagging) is not expired: it gets `expiry_recheck_at` = now + `recheckSeconds` and the job passes over it
   * until then, so kept lots never fill a batch and `more` turns false. Every environment by default; `scope` limits
   * the run to one (an operator's manual run, tests).
   */
  async function expireCredits(
    options: { limit?: number; scope?: Scope; graceSeconds?: number; recheckSeconds?: number } = {},
  ): Promise<{ expired: number; kept: Array<{ transaction_id: string; reason: string }>; more: boolean }> {
    const now = clock.now();
    const limit = options.limit ?? 100;
    const cutoff = new Date(now.getTime() - (options.graceSeconds ?? DEFAULT_EXPIRY_GRACE_SECONDS) * 1000);
    const recheckAt = new Date(now.getTime() + (options.recheckSeconds ?? EXPIRY_RECHECK_SECONDS) * 1000);
    const candidates = await repo.listExpiredLots(db, { before: cutoff, now, limit, scope: options.scope });
    let expired = 0;
    const kept: Array<{ transaction_id: string; reason: string }> = [];
    for (const candidate of candidates) {
      const scope = { tenantId: candidate.tenant_id, environmentId: candidate.environment_id };
      const outcome = await withTransaction(db, async (tx): Promise<string | boolean> => {
        const wallet = await repo.findWalletById(tx, scope, candidate.wallet_id, { forUpdate: true });
        const lot = await repo.findWalletTransactionById(tx, scope, candidate.id);
        if (!wallet || !lot) return false;
        const remainder = new Dec(lot.credits_available);
        if (remainder.lte(0) || !lot.expiry_date || lot.expiry_date.getTime() >= cutoff.getTime()) return false;
        const expiring: ExpiringLot = {
          id: lot.id,
          wallet_id: wallet.id,
          customer_id: wallet.customer_id,
          currency: wallet.currency,
          created_at: lot.created_at,
          expiry_date: lot.expiry_date,
        };
        for (const hold of expiryHolds) {
          const reason = await hold(tx, scope, expiring);
          if (reason) {
            await repo.updateWalletTransactionById(tx, scope, lot.id, { expiry_recheck_at: recheckAt });
            return reason;
          }
        }
        const written = await writeEntry(tx, scope, wallet, {
          kind: 'debit',
          credits: remainder,
          reason: 'CREDIT_EXPIRED',
          reference_type: 'REQUEST',
          reference_id: lot.id,
          description: 'Credits expired',
          metadata: { expired_transaction_id: lot.id, expiry_date: lot.expiry_date.toISOString() },
          idempotency_key: `expire-${lot.id}`,
          request_hash: '',
          allow_overdraw: true,
          eligible_at: null,
          only_lot_id: lot.id,
        });
        await settle(tx, scope, written.wallet);
        return true;
      });
      if (outcome === true) expired++;
      else if (typeof outcome === 'string') kept.push({ transaction_id: candidate.id, reason: outcome });
    }
    return { expired, kept, more: candidates.length === limit };
  }

  function assertActive(wallet: repo.WalletRow, what: 'debited' | 'topped up') {
    if (wallet.wallet_status !== 'active') {
      throw invalidOperation(`wallet is ${wallet.wallet_status}; only an active wallet can be ${what}`, {
        wallet_id: wallet.id,
      });
    }
  }

  /** A top-up's credits (validated against the wallet) and its request hash. */
  function planTopUp(walletId: string, wallet: repo.WalletRow, input: TopUpInput) {
    const checked = checkTopUp(wallet, input);
    return { ...checked, hash: topUpHash(walletId, input, checked.credits, checked.bonusCredits) };
  }

  /** A debit's credits (validated against the wallet) and its request hash. */
  function planDebit(walletId: string, wallet: repo.WalletRow, input: DebitInput) {
    const credits = debitCredits(wallet, input);
    return { credits, hash: debitHash(walletId, input, credits) };
  }

  /** A top-up in its own transaction (the unbatched path). */
  async function topUpAlone(scope: Scope, id: string, input: TopUpInput, key: string): Promise<TopUpResult> {
    return keyed(
      scope,
      id,
      key,
      (wallet) => planTopUp(id, wallet, input),
      (tx, locked, checked) => topUpLocked(tx, scope, locked, input, key, checked),
      async (executor, original) => ({
        wallet_transaction: walletTransactionView(original),
        wallet: walletView(await walletRowOrThrow(executor, scope, original.wallet_id)),
      }),
    );
  }

  /** A debit in its own transaction (the unbatched path). */
  async function debitAlone(scope: Scope, id: string, input: DebitInput) {
    // One instant decides which lots are eligible: the one the lots are read at with the lock.
    const eligibleAt = input.eligible_at ?? clock.now();
    const debit = { ...input, eligible_at: eligibleAt };
    return keyed(
      scope,
      id,
      input.idempotency_key,
      (wallet) => planDebit(id, wallet, input),
      async (tx, locked, planned, firstLots) => {
        const result = await debitLocked(tx, scope, locked, debit, planned.credits, planned.hash, firstLots);
        return { wallet: walletView(result.wallet), transaction: walletTransactionView(result.transaction) };
      },
      async (executor, original) => ({
        wallet: walletView(await walletRowOrThrow(executor, scope, original.wallet_id)),
        transaction: walletTransactionView(original),
      }),
      eligibleAt,
    );
  }

  // ---- group commit of HTTP top-ups and debits --------------------------------------------------------------------

  /**
   * Top-ups and debits that arrive while another ledger write of this process is running wait in `queue` and are
   * then applied together, in arrival order, in one transaction: one locking read for all their wallets, the
   * entries computed in memory, one statement writing them all (see applyBatch). On the embedded engine, where
   * every statement is a round trip into WebAssembly on the one connection, that is what lets throughput grow with
   * concurrency; on PostgreSQL it saves round trips and commits. A lone write (nothing else waiting) takes the
   * unbatched path, so one client sees no difference.
   *
   * Order: a wallet's writes are applied in the order they arrived. A wallet in a running batch is not taken into
   * another until that batch ends, so batches running at once (PostgreSQL) hold disjoint wallets.
   */
  interface QueuedWrite {
    scope: Scope;
    walletId: string;
    key: string;
    write: { kind: 'debit'; input: DebitInput } | { kind: 'top-up'; input: TopUpInput };
    resolve(value: unknown): void;
    reject(error: unknown): void;
  }
  let queue: QueuedWrite[] = [];
  /** Counters for tests and benchmarks: batches of two or more writes, the writes in them, and fallbacks. */
  const batchStats = { batches: 0, batchedWrites: 0, fallbacks: 0 };
  const busyWallets = new Set<string>();
  let running = 0;
  let pumpScheduled = false;
  const maxRunning = deps.ledgerBatches?.maxRunning ?? 1;
  const maxBatch = deps.ledgerBatches?.maxSize ?? MAX_LEDGER_BATCH;

  function submit<T>(scope: Scope, walletId: string, key: string, write: QueuedWrite['write']): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queue.push({ scope, walletId, key, write, resolve: resolve as (value: unknown) => void, reject });
      schedulePump();
    });
  }

  function schedulePump() {
    if (pumpScheduled || running >= maxRunning || queue.length === 0) return;
    pumpScheduled = true;
    // Writes submitted in the same turn of the event loop (several requests parsed from one read) join the batch.
    setImmediate(pump);
  }

  function pump() {
    pumpScheduled = false;
    while (running < maxRunning) {
      const batch = takeBatch();
      if (batch.length === 0) return;
      running++;
      for (const write of batch) busyWallets.add(write.walletId);
      void runBatch(batch).finally(() => {
        running--;
        for (const write of batch) busyWallets.delete(write.walletId);
        schedulePump();
      });
    }
  }

  /** The oldest waiting writes of one scope whose wallets are not in a running batch, in arrival order. */
  function takeBatch(): QueuedWrite[] {
    const batch: QueuedWrite[] = [];
    const rest: QueuedWrite[] = [];
    let scope: Scope | undefined;
    for (const write of queue) {
      const fits =
        batch.length < maxBatch &&
        !busyWallets.has(write.walletId) &&
        (scope === undefined ||
          (scope.tenantId === write.scope.tenantId && scope.environmentId === write.scope.environmentId));
      if (fits) {
        scope ??= write.scope;
        batch.push(write);
      } else rest.push(write);
    }
    queue = rest;
    return batch;
  }

  async function runAlone(write: QueuedWrite): Promise<void> {
    try {
      write.resolve(
        write.write.kind === 'debit'
          ? await debitAlone(write.scope, write.walletId, write.write.input)
          : await topUpAlone(write.scope, write.walletId, write.write.input, write.key),
      );
    } catch (error) {
      write.reject(error);
    }
  }

  async function runBatch(batch: QueuedWrite[]): Promise<void> {
    if (batch.length === 1) return runAlone(batch[0] as QueuedWrite);
    let outcomes: Array<{ value: unknown } | { error: AppError }>;
    try {
      outcomes = await withTransaction(db, (tx) => applyBatch(tx, batch));
      batchStats.batches++;
      batchStats.batchedWrites += batch.length;
    } catch {
      batchStats.fallbacks++;
      // A database error (a key raced in by another process, a lost connection…): nothing of the batch was
      // written. Each write runs alone instead, in order, and meets its own outcome there.
      for (const write of batch) await runAlone(write);
      return;
    }
    batch.forEach((write, i) => {
      const outcome = outcomes[i] as { value: unknown } | { error: AppError };
      if ('error' in outcome) write.reject(outcome.error);
      else write.resolve(outcome.value);
    });
  }

  /** A wallet of a batch as it stands after the batch's writes so far. */
  interface BatchWallet {
    wallet: repo.WalletRow;
    /**
     * Open lots known in drain order (the first page read with the lock, plus lots written by this batch), or null
     * when they must be read again. When `boundary` is set the page was full: lots after it in drain order may
     * exist that are not known.
     */
    lots: Lot[] | null;
    boundary: Lot | null;
  }

  /**
   * Applies a batch in one transaction and returns each write's outcome (a write that fails on a rule — validation,
   * insufficient balance, closed wallet, key conflict — fails alone and writes nothing). Every result is what the
   * write would have returned had it run alone, after the writes before it.
   */
  async function applyBatch(tx: Tx, batch: QueuedWrite[]): Promise<Array<{ value: unknown } | { error: AppError }>> {
    const scope = (batch[0] as QueuedWrite).scope;
    // One instant decides which lots are eligible for every debit of the batch: the one they are read at.
    const eligibleAt = clock.now();
    const ids = [...new Set(batch.map((w) => w.walletId))].sort();
    const keys = [...new Set(batch.map((w) => w.key))];
    // Lots are read with the lock only for wallets with a debit in the batch; a top-up reads none. A wallet read
    // without lots has `lots: null` and reads them on its first debit (lotsFor), as it would for stale ones.
    const debited = [...new Set(batch.filter((w) => w.write.kind === 'debit').map((w) => w.walletId))];
    const locked = await repo.lockWalletsForBatch(
      tx,
      scope,
      ids,
      keys,
      { eligibleAt, limit: FIRST_LOT_PAGE, walletIds: debited },
      { genericPlan: deps.ledgerBatches?.genericLockPlan ?? false },
    );
    const wallets = new Map<string, BatchWallet>();
    for (const [id, { wallet, openLots }] of locked.wallets) {
      const lots = openLots ? openLots.map(lotOf).sort(compareLots) : null;
      wallets.set(id, {
        wallet,
        lots,
        boundary: lots && lots.length === FIRST_LOT_PAGE ? (lots[lots.length - 1] as Lot) : null,
      });
    }
    /** Keys used by this batch's writes: a repeat replays (same parameters) or conflicts. */
    const usedKeys = new Map<string, { hash: string; transaction: WalletTransactionView }>();
    const pending = {
      rows: [] as repo.WalletTransactionRow[],
      newLots: new Map<string, repo.WalletTransactionRow>(),
      lots: new Map<string, string>(),
      balances: new Map<string, { credit_balance: string; balance: string }>(),
    };

    async function flushPending() {
      if (pending.rows.length === 0 && pending.lots.size === 0) return;
      await repo.appendLedgerEntries(tx, scope, {
        rows: pending.rows.map((row) => ({ ...row, metadata: JSON.stringify(row.metadata) })),
        lots: [...pending.lots].map(([id, available]) => ({ id, credits_available: available })),
        balances: [...pending.balances].map(([id, b]) => ({ id, ...b })),
        now: clock.now(),
      });
      pending.rows = [];
      pending.newLots.clear();
      pending.lots.clear();
      pending.balances.clear();
    }

    /** Known open lots of `state` that cover `credits`, or (reading past the known ones) all there are. */
    async function lotsFor(state: BatchWallet, credits: Money): Promise<Lot[]> {
      if (state.lots) {
        const boundary = state.boundary;
        const known = boundary ? state.lots.filter((lot) => compareLots(lot, boundary) <= 0) : state.lots;
        const usable = known.filter((lot) => isLotEligible(lot, eligibleAt));
        const covered = usable.reduce((sum, lot) => sum.plus(lot.credits_available), new Dec(0));
        if (!boundary || covered.gte(credits)) return usable;
      }
      // Past what is known: write what is pending and read the lots as the unbatched path does.
      await flushPending();
      const lots = await openLots(tx, state.wallet.id, { eligible_at: eligibleAt }, credits);
      state.lots = lots;
      const covered = lots.reduce((sum, lot) => sum.plus(lot.credits_available), new Dec(0));
      // openLots stops at a short page (all read) or once covered (more may follow the last one).
      state.boundary = covered.gte(credits) && lots.length > 0 ? (lots[lots.length - 1] as Lot) : null;
      return lots;
    }

    /** Records a built entry as pending and moves the wallet's in-memory state past it. */
    function record(state: BatchWallet, built: ReturnType<typeof buildEntry>) {
      const row = built.row;
      pending.rows.push(row);
      for (const step of built.lots) {
        const lot = state.lots?.find((l) => l.id === step.id);
        if (lot) lot.credits_available = new Dec(step.credits_available);
        const fresh = pending.newLots.get(step.id);
        if (fresh) {
          fresh.credits_available = step.credits_available;
          fresh.updated_at = row.created_at;
        } else pending.lots.set(step.id, step.credits_available);
      }
      if (row.type === 'credit' && row.transaction_status === 'completed' && new Dec(row.credits_available).gt(0)) {
        pending.newLots.set(row.id, row);
        if (state.lots) {
          state.lots.push(lotOf(row));
          state.lots.sort(compareLots);
        }
      }
      if (built.balances) {
        pending.balances.set(row.wallet_id, {
          credit_balance: built.balances.credit_balance,
          balance: built.balances.balance,
        });
      }
      state.wallet = built.wallet;
    }

    /**
     * A write whose wallet needs more than the entry (alerts or auto top-up to settle, an invoiced top-up): what is
     * pending is written, then the unbatched code runs under a savepoint, so its failure undoes only itself.
     */
    async function alone<T>(state: BatchWallet, run: (wallet: repo.WalletRow) => Promise<T>): Promise<T> {
      await flushPending();
      await sql`savepoint ledger_write`.execute(tx);
      try {
        const result = await run(state.wallet);
        await sql`release savepoint ledger_write`.execute(tx);
        state.wallet = await walletRowOrThrow(tx, scope, state.wallet.id);
        state.lots = null;
        state.boundary = null;
        return result;
      } catch (error) {
        await sql`rollback to savepoint ledger_write`.execute(tx);
        throw error;
      }
    }

    async function applyOne(write: QueuedWrite): Promise<unknown> {
      const state = wallets.get(write.walletId);
      if (!state) throw notFound('wallet', { wallet_id: write.walletId });
      const wallet = state.wallet;
      const planned =
        write.write.kind === 'debit'
          ? planDebit(write.walletId, wallet, write.write.input)
          : planTopUp(write.walletId, wallet, write.write.input);
      const replayOf = (transaction: WalletTransactionView) =>
        write.write.kind === 'debit'
          ? { wallet: walletView(state.wallet), transaction }
          : { wallet_transaction: transaction, wallet: walletView(state.wallet) };
      const used = usedKeys.get(write.key);
      if (used) {
        if (used.hash !== planned.hash) throw idempotencyConflict(write.key);
        return replayOf(used.transaction);
      }
      const holder = locked.holders.get(write.key);
      if (holder) {
        if (holder.requestHash !== planned.hash) throw idempotencyConflict(write.key);
        const original = await repo.findWalletTransactionById(tx, scope, holder.transactionId);
        if (original) return replayOf(walletTransactionView(original));
      }

      const unbatched = settles(wallet);
      if (write.write.kind === 'debit') {
        const input = { ...write.write.input, eligible_at: eligibleAt };
        const credits = planned.credits;
        if (unbatched) {
          const result = await alone(state, (locked) => debitLocked(tx, scope, locked, input, credits, planned.hash));
          const value = { wallet: walletView(result.wallet), transaction: walletTransactionView(result.transaction) };
          usedKeys.set(write.key, { hash: planned.hash, transaction: value.transaction });
          return value;
        }
        assertActive(wallet, 'debited');
        const lots = await lotsFor(state, credits);
        const built = buildEntry(scope, state.wallet, debitEntry(input, credits, planned.hash), lots);
        record(state, built);
        await emitCreated(tx, scope, built.wallet, built.row);
        const value = { wallet: walletView(built.wallet), transaction: walletTransactionView(built.row) };
        usedKeys.set(write.key, { hash: planned.hash, transaction: value.transaction });
        return value;
      }

      const input = write.write.input;
      const checked = planned as ReturnType<typeof checkTopUp> & { hash: string };
      if (unbatched || input.transaction_reason === 'PURCHASED_CREDIT_INVOICED') {
        const value = await alone(state, (locked) => topUpLocked(tx, scope, locked, input, write.key, checked));
        usedKeys.set(write.key, { hash: planned.hash, transaction: value.wallet_transaction });
        return value;
      }
      assertActive(wallet, 'topped up');
      const request = creditRequestOf(input, write.key, checked);
      const main = buildEntry(scope, wallet, purchaseEntry(request), []);
      record(state, main);
      await emitCreated(tx, scope, main.wallet, main.row);
      if (request.bonus) {
        const bonus = buildEntry(scope, state.wallet, bonusEntry(request, request.bonus, main.row.id), []);
        record(state, bonus);
        await emitCreated(tx, scope, bonus.wallet, bonus.row);
      }
      const value = { wallet_transaction: walletTransactionView(main.row), wallet: walletView(state.wallet) };
      usedKeys.set(write.key, { hash: planned.hash, transaction: value.wallet_transaction });
      return value;
    }

    const outcomes: Array<{ value: unknown } | { error: AppError }> = [];
    for (const write of batch) {
      try {
        outcomes.push({ value: await applyOne(write) });
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        outcomes.push({ error });
      }
    }
    await flushPending();
    return outcomes;
  }

  // ---- views with extras ------------------------------------------------------------------------------------------

  async function withBreakdown(executor: Executor, rows: repo.WalletRow[], expand: Set<string>) {
    const views = rows.map(walletView);
    if (!expand.has('credits_available_breakdown')) return views;
    const sums = await repo.sumCreditsAvailableByWalletIds(
      executor,
      rows.map((r) => r.id),
    );
    for (const view of views) {
      const sum = sums.get(view.id);
      view.credits_available_breakdown = {
        purchased: toWire(sum?.purchased ?? '0'),
        free: toWire(sum?.free ?? '0'),
      };
    }
    return views;
  }

  async function balanceView(executor: Executor, scope: Scope, row: repo.WalletRow, view: WalletView) {
    const realTime = await realTimeOf(executor, scope, row);
    const result: WalletBalanceView = {
      ...view,
      real_time_balance: toWire(realTime.balance),
      real_time_credit_balance: toWire(realTime.credits),
      balance_updated_at: row.updated_at.toISOString(),
      current_period_usage: toWire(realTime.usage),
      unpaid_invoices_amount: toWire(realTime.unpaid),
      is_cached_fallback: false,
    };
    return result;
  }

  // ---- public use cases ---------------------------------------------------------------------------------------

  return {
    /** Subscribe to wallet domain events; the listener runs inside the business transaction. */
    onEvent(listener: WalletEventListener): void {
      listeners.push(listener);
    },
    /** Billing registers here to raise the invoice of a PURCHASED_CREDIT_INVOICED top-up. */
    onInvoicedTopUp(handler: InvoicedTopUpHandler): void {
      invoicedTopUpHandlers.push(handler);
    },
    /** Usage and invoices register their pending charges here; the real-time balance subtracts them. */
    registerPendingChargesProvider(provider: PendingChargesProvider): void {
      pendingCharges.register(provider);
    },
    setPriceUnitResolver(resolver: PriceUnitResolver): void {
      priceUnitResolver = resolver;
    },
    /** Billing and invoices register the reference's expiry skip rules here (see expireCredits). */
    registerExpiryHold(hold: ExpiryHold): void {
      expiryHolds.push(hold);
    },
    computePendingCharges: pendingCharges.computePendingCharges,
    completePendingTopUp,
    expireCredits,

    /**
     * Creates a wallet (and loads initial credits as FREE_CREDIT_GRANT in the same transaction).
     * Errors: validation_error, not_found (customer or price unit), already_exists (an active wallet of the same
     * customer, currency and type).
     */
    async createWallet(scope: Scope, input: CreateWalletInput): Promise<WalletView> {
      const now = clock.now();
      if (typeof input.currency !== 'string' || input.currency.length !== 3) {
        throw validation('currency must be a 3-letter code');
      }
      const walletType = (input.wallet_type ?? 'PRE_PAID') as WalletType;
      if (!WALLET_TYPES.includes(walletType)) {
        throw validation(`wallet_type must be one of ${WALLET_TYPES.join(', ')}`);
      }
      let conversionRate = rateField(input.conversion_rate, 'conversion_rate');
      if (conversionRate?.lt(0)) throw validation('conversion_rate must not be negative');
      if (!conversionRate || conversionRate.isZero()) conversionRate = new Dec(1);
      const topUpRate = rateField(input.topup_conversion_rate, 'topup_conversion_rate');
      if (topUpRate !== undefined && topUpRate.lte(0)) throw validation('topup_conversion_rate must be greater than 0');
      const initialCredits = creditsField(input.initial_credits_to_load, 'initial_credits_to_load') ?? new Dec(0);
      if (initialCredits.lt(0)) throw validation('initial_credits_to_load must not be negative');
      let initialExpiry: Date | undefined;
      if (input.initial_credits_expiry_date_utc) {
        initialExpiry = futureDate(input.initial_credits_expiry_date_utc, 'initial_credits_expiry_date_utc', now);
      } else if (
        input.initial_credits_to_load_expiry_date !== undefined &&
        input.initial_credits_to_load_expiry_date !== 0
      ) {
        initialExpiry = dateFromYmd(input.initial_credits_to_load_expiry_date, 'initial_credits_to_load_expiry_date');
        if (initialExpiry.getTime() <= now.getTime()) {
          throw validation('initial_credits_to_load_expiry_date must be in the future');
        }
      }
      let autoTopUp: AutoTopUp | null = null;
      if (input.auto_topup) {
        autoTopUp = autoTopUpFrom(input.auto_topup, null);
      } else if (input.auto_topup_trigger !== undefined && input.auto_topup_trigger !== 'disabled') {
        if (input.auto_topup_trigger !== 'balance_below_threshold') {
          throw validation("auto_topup_trigger must be 'disabled' or 'balance_below_threshold'");
        }
        autoTopUp = autoTopUpFrom(
          {
            enabled: true,
            threshold: input.auto_topup_min_balance,
            amount: input.auto_topup_amount,
            invoicing: false,
          },
          null,
        );
      }
      const alertSettings = checkAlertSettings(input.alert_settings);
      const allowed = checkConfig(input.config) ?? (walletType === 'POST_PAID' ? ['ALL'] : ['USAGE']);
      const customer: CustomerView = await resolveCustomer(scope, input);

      try {
        return await withTransaction(db, async (tx) => {
          let currency = input.currency.toLowerCase();
          if (input.price_unit) {
            const unit = priceUnitResolver ? await priceUnitResolver(tx, scope, input.price_unit) : null;
            if (!unit) throw notFound('price unit', { price_unit: input.price_unit });
            currency = unit.currency.toLowerCase();
            conversionRate = new Dec(unit.conversion_rate);
          }
          const rate = conversionRate as Money;
          const typeLabel =
            walletType === 'POST_PAID' ? 'Postpaid' : walletType === 'PROMOTIONAL' ? 'Promotional' : 'Prepaid';
          let row = await openWallet(tx, scope, {
            customer_id: customer.id,
            currency,
            name: input.name || `${typeLabel} Wallet - ${currency.toUpperCase()}`,
            description: input.description ?? '',
            metadata: input.metadata ?? {},
            wallet_type: walletType,
            conversion_rate: rate.toFixed(),
            topup_conversion_rate: (topUpRate ?? rate).toFixed(),
            allowed_price_types: allowed,
            auto_topup: autoTopUp,
            alert_settings: alertSettings,
          });
          if (initialCredits.gt(0)) {
            const loaded = await creditInLockedWallet(tx, scope, row, {
              credits: initialCredits,
              reason: 'FREE_CREDIT_GRANT',
              expiry_date: initialExpiry,
              description: 'Initial credits',
              idempotency_key: `credit_grant-${row.id}`,
              request_hash: '',
            });
            row = loaded.wallet;
          } else {
            row = await settle(tx, scope, row);
          }
          return walletView(row);
        });
      } catch (error) {
        if (isUniqueViolation(error, repo.WALLET_UNIQUE_ACTIVE)) {
          throw alreadyExists('the customer already has an active wallet with this currency and type', {
            customer_id: customer.id,
            currency: input.currency.toLowerCase(),
            wallet_type: walletType,
          });
        }
        throw error;
      }
    },

    async getWallet(scope: Scope, id: string, expand?: string): Promise<WalletView> {
      const fields = parseExpand(expand, WALLET_EXPAND);
      const row = await walletRowOrThrow(db, scope, id);
      const [view] = await withBreakdown(db, [row], fields);
      return view as WalletView;
    },

    /** Partial update; metadata and alert_settings replace, auto_topup merges field-wise. Errors: 400, 404. */
    async updateWallet(scope: Scope, id: string, input: UpdateWalletInput): Promise<WalletView> {
      const alertSettings = checkAlertSettings(input.alert_settings);
      const allowed = checkConfig(input.config);
      return withTransaction(db, async (tx) => {
        const wallet = await lockWallet(tx, scope, id);
        const changes: Parameters<typeof repo.updateWalletById>[3] = { updated_at: clock.now() };
        if (input.name) changes.name = input.name;
        if (input.description) changes.description = input.description;
        if (input.metadata !== undefined) changes.metadata = JSON.stringify(input.metadata);
        if (allowed) changes.config = JSON.stringify({ allowed_price_types: allowed });
        if (input.auto_topup !== undefined) {
          const merged = autoTopUpFrom(input.auto_topup, wallet.auto_topup as AutoTopUp | null);
          changes.auto_topup = JSON.stringify(merged);
          changes.auto_topup_armed = true;
        }
        if (alertSettings !== undefined) {
          changes.alert_settings = JSON.stringify(alertSettings);
          if (alertSettings.alert_enabled !== true) {
            changes.alert_state = 'ok';
            changes.credit_alert_state = 'ok';
          }
        }
        let row = await repo.updateWalletById(tx, scope, id, changes);
        if (listeners.length > 0) await emit(tx, scope, { type: 'wallet.updated', wallet: walletView(row) });
        // New thresholds or auto top-up settings apply at once, not at the next balance change.
        row = await settle(tx, scope, row);
        return walletView(row);
      });
    },

    /** Paged list of wallets (wallet_status filter, wallet_ids, alert_enabled). */
    async searchWallets(scope: Scope, search: WalletSearch) {
      const fields = parseExpand(search.expand, WALLET_EXPAND);
      const { limit, offset } = pageOf(search);
      if (search.status !== undefined && !['active', 'frozen', 'closed'].includes(search.status)) {
        throw validation('status must be one of active, frozen, closed');
      }
      const { rows, total } = await repo.listWalletsByFilter(db, scope, {
        limit,
        offset,
        order: search.order,
        sort: search.sort,
        wallet_ids: search.wallet_ids,
        wallet_status: search.status,
        alert_enabled: search.alert_enabled,
      });
      return { items: await withBreakdown(db, rows, fields), pagination: { total, limit, offset } };
    },

    /** Active wallets of a customer (404 when the customer does not exist in this environment). */
    async listCustomerWallets(scope: Scope, customerId: string): Promise<WalletView[]> {
      const customer = await customers.getCustomer(scope, customerId);
      const rows = await repo.listActiveWalletsByCustomerId(db, scope, customer.id);
      return rows.map(walletView);
    },

    /**
     * `GET /v1/customers/wallets`: exactly one of id / lookup_key (the customer's external_id). With
     * include_real_time_balance every item carries the real-time fields.
     */
    async getCustomerWallets(
      scope: Scope,
      query: {
        id?: string | undefined;
        lookup_key?: string | undefined;
        include_real_time_balance?: boolean | undefined;
        expand?: string | undefined;
      },
    ): Promise<Array<WalletView | WalletBalanceView>> {
      if (Boolean(query.id) === Boolean(query.lookup_key)) {
        throw validation('exactly one of id or lookup_key is required');
      }
      const fields = parseExpand(query.expand, WALLET_EXPAND);
      const customer = query.id
        ? await customers.getCustomer(scope, query.id)
        : await customers.getCustomerByExternalId(scope, query.lookup_key as string);
      const rows = await repo.listActiveWalletsByCustomerId(db, scope, customer.id);
      const views = await withBreakdown(db, rows, fields);
      if (!query.include_real_time_balance) return views.map((v) => ({ ...v, is_cached_fallback: false }));
      return Promise.all(rows.map((row, i) => balanceView(db, scope, row, views[i] as WalletView)));
    },

    /** Real-time balance: balance minus pending charges (usage of open periods, unpaid invoices). */
    async getRealTimeBalance(scope: Scope, id: string, expand?: string): Promise<WalletBalanceView> {
      const fields = parseExpand(expand, WALLET_EXPAND);
      const row = await walletRowOrThrow(db, scope, id);
      const [view] = await withBreakdown(db, [row], fields);
      return balanceView(db, scope, row, view as WalletView);
    },

    /**
     * Adds credits. PURCHASED_CREDIT_INVOICED writes a pending entry completed by completePendingTopUp.
     * Errors: validation_error, not_found, invalid_operation (wallet not active), already_exists (key reused with
     * other parameters).
     */
    async topUpWallet(scope: Scope, id: string, input: TopUpInput): Promise<TopUpResult> {
      const key = input.idempotency_key || newId('walletTransaction');
      return submit<TopUpResult>(scope, id, key, { kind: 'top-up', input });
    },

    /**
     * Debits credits, draining lots in drain order. Not enough usable credits → invalid_operation with nothing
     * written, except MANUAL_BALANCE_DEBIT which may overdraw. Returns the wallet after the debit.
     */
    async debitWallet(scope: Scope, id: string, input: DebitInput) {
      if (!input.idempotency_key) throw validation('idempotency_key is required');
      return submit<{ wallet: WalletView; transaction: WalletTransactionView }>(scope, id, input.idempotency_key, {
        kind: 'debit',
        input,
      });
    },

    /**
     * The same debit inside a caller's transaction (billing: CREDIT_ADJUSTMENT, INVOICE_PAYMENT). A replayed key
     * returns the original; a concurrent duplicate fails the caller's transaction on the unique index.
     */
    async debitWalletInTransaction(tx: Tx, scope: Scope, id: string, input: DebitInput) {
      const wallet = await lockWallet(tx, scope, id);
      const credits = debitCredits(wallet, input);
      const hash = debitHash(id, input, credits);
      const original = await repo.findWalletTransactionByIdempotencyKey(tx, scope, input.idempotency_key);
      if (original) {
        if (original.request_hash !== hash) throw idempotencyConflict(input.idempotency_key);
        return { wallet: walletView(wallet), transaction: walletTransactionView(original) };
      }
      const result = await debitLocked(tx, scope, wallet, input, credits, hash);
      return { wallet: walletView(result.wallet), transaction: walletTransactionView(result.transaction) };
    },

    /** Group commit counters (tests and benchmarks). */
    ledgerBatchStats: () => ({ ...batchStats }),

    /** The customer's active wallets as seen in `tx` (invoices: credit adjustment and wallet payments). */
    async listActiveWalletsInTransaction(tx: Tx, scope: Scope, customerId: string): Promise<WalletView[]> {
      return (await repo.listActiveWalletsByCustomerId(tx, scope, customerId)).map(walletView);
    },

    /**
     * The same top-up inside a caller's transaction (invoices: INVOICE_VOID_REFUND). A replayed key with the same
     * parameters returns the original entry and writes nothing; the same key with others is 409.
     */
    async topUpWalletInTransaction(tx: Tx, scope: Scope, id: string, input: TopUpInput): Promise<TopUpResult> {
      const wallet = await lockWallet(tx, scope, id);
      const key = input.idempotency_key || newId('walletTransaction');
      const checked = checkTopUp(wallet, input);
      const hash = topUpHash(id, input, checked.credits, checked.bonusCredits);
      const original = await repo.findWalletTransactionByIdempotencyKey(tx, scope, key);
      if (original) {
        if (original.request_hash !== hash) throw idempotencyConflict(key);
        return { wallet_transaction: walletTransactionView(original), wallet: walletView(wallet) };
      }
      return topUpLocked(tx, scope, wallet, input, key, { ...checked, hash });
    },

    /**
     * The customer's active PRE_PAID wallet in `currency`, created in `tx` when there is none (rate 1, named
     * "Subscription Wallet", as the reference does for invoice void refunds).
     */
    async findOrCreatePrepaidWalletInTransaction(
      tx: Tx,
      scope: Scope,
      customerId: string,
      currency: string,
    ): Promise<WalletView> {
      const code = currency.toLowerCase();
      const found = await repo.findActiveWalletOfCustomer(tx, scope, customerId, code, 'PRE_PAID');
      if (found) return walletView(found);
      const row = await openWallet(tx, scope, {
        customer_id: customerId,
        currency: code,
        name: 'Subscription Wallet',
        wallet_type: 'PRE_PAID',
        conversion_rate: '1',
        topup_conversion_rate: '1',
        allowed_price_types: ['USAGE'],
      });
      return walletView(row);
    },

    /**
     * Credits of a subscription credit grant (reference §2.18), inside the billing transaction: tops up the
     * customer's first active PRE_PAID wallet in the currency whose rates match the grant's optional rates (else the
     * active PRE_PAID wallet of the currency — one per currency and type — else a new one with config USAGE), with
     * reason SUBSCRIPTION_CREDIT_GRANT. The idempotency key (the application id) makes a replay return the original.
     */
    async grantCreditsInTransaction(
      tx: Tx,
      scope: Scope,
      input: {
        customer_id: string;
        currency: string;
        credits: Money;
        conversion_rate?: string | null | undefined;
        topup_conversion_rate?: string | null | undefined;
        priority?: number | null | undefined;
        expiry_date?: Date | null | undefined;
        idempotency_key: string;
        description?: string | undefined;
        metadata?: Record<string, string> | undefined;
      },
    ): Promise<{ wallet_id: string; transaction_id: string }> {
      const original = await repo.findWalletTransactionByIdempotencyKey(tx, scope, input.idempotency_key);
      if (original) return { wallet_id: original.wallet_id, transaction_id: original.id };
      const currency = input.currency.toLowerCase();
      const candidates = (await repo.listActiveWalletsByCustomerId(tx, scope, input.customer_id)).filter(
        (w) => w.wallet_type === 'PRE_PAID' && w.currency === currency,
      );
      const sameRate = (column: string, wanted: string | null | undefined) =>
        wanted === null || wanted === undefined || new Dec(column).eq(wanted);
      let target =
        candidates.find(
          (w) =>
            sameRate(w.conversion_rate, input.conversion_rate) &&
            sameRate(w.topup_conversion_rate, input.topup_conversion_rate),
        ) ?? candidates[0];
      if (!target) {
        const rate = input.conversion_rate ? new Dec(input.conversion_rate) : new Dec(1);
        const topUpRate = input.topup_conversion_rate ? new Dec(input.topup_conversion_rate) : rate;
        target = await openWallet(tx, scope, {
          customer_id: input.customer_id,
          currency,
          name: `Prepaid Wallet - ${currency.toUpperCase()}`,
          wallet_type: 'PRE_PAID',
          conversion_rate: rate.toFixed(),
          topup_conversion_rate: topUpRate.toFixed(),
          allowed_price_types: ['USAGE'],
        });
      }
      const locked = await lockWallet(tx, scope, target.id);
      const result = await creditInLockedWallet(tx, scope, locked, {
        credits: input.credits,
        reason: 'SUBSCRIPTION_CREDIT_GRANT',
        expiry_date: input.expiry_date ?? undefined,
        priority: input.priority ?? undefined,
        description: input.description,
        metadata: input.metadata,
        idempotency_key: input.idempotency_key,
        request_hash: '',
      });
      return { wallet_id: result.wallet.id, transaction_id: result.transaction.id };
    },

    /**
     * Closes a wallet: debits the remaining credits (WALLET_TERMINATION, every open lot) and sets it closed.
     * Errors: not_found, invalid_operation (already closed).
     */
    async terminateWallet(scope: Scope, id: string): Promise<WalletView> {
      return withTransaction(db, async (tx) => {
        let wallet = await lockWallet(tx, scope, id);
        if (wallet.wallet_status === 'closed') throw invalidOperation('wallet is already closed', { wallet_id: id });
        wallet = await terminateLocked(tx, scope, wallet, `${wallet.id}`);
        return walletView(wallet);
      });
    },

    /**
     * prepaid_to_postpaid: closes the active PRE_PAID wallet (its credits debited) and opens a POST_PAID wallet
     * with the same rates and settings, credited with those credits. Errors: 400, 404, 409.
     */
    async modifyWallet(scope: Scope, id: string, modificationType: string) {
      if (modificationType !== 'prepaid_to_postpaid') {
        throw validation("modification_type must be 'prepaid_to_postpaid'");
      }
      try {
        return await withTransaction(db, async (tx) => {
          const wallet = await lockWallet(tx, scope, id);
          if (wallet.wallet_type !== 'PRE_PAID') throw invalidOperation('only a PRE_PAID wallet can be converted');
          if (wallet.wallet_status !== 'active') throw invalidOperation('only an active wallet can be converted');
          const existing = await repo.findActiveWalletOfCustomer(
            tx,
            scope,
            wallet.customer_id,
            wallet.currency,
            'POST_PAID',
          );
          if (existing) {
            throw alreadyExists('the customer already has an active POST_PAID wallet in this currency', {
              wallet_id: existing.id,
            });
          }
          const transferred = Dec.max(0, new Dec(wallet.credit_balance));
          const closed = await terminateLocked(tx, scope, wallet, `${wallet.id}_conversion_debit`);
          let created = await openWallet(tx, scope, {
            customer_id: wallet.customer_id,
            currency: wallet.currency,
            name: `Postpaid Wallet - ${wallet.currency.toUpperCase()}`,
            description: `Converted from prepaid wallet ${wallet.id}`,
            metadata: { ...(wallet.metadata ?? {}), converted_from: wallet.id },
            wallet_type: 'POST_PAID',
            conversion_rate: wallet.conversion_rate,
            topup_conversion_rate: wallet.topup_conversion_rate,
            allowed_price_types: ['ALL'],
            auto_topup: wallet.auto_topup,
            alert_settings: wallet.alert_settings,
          });
          if (transferred.gt(0)) {
            const credited = await creditInLockedWallet(tx, scope, created, {
              credits: transferred,
              reason: 'FREE_CREDIT_GRANT',
              description: `Credits transferred from prepaid wallet ${wallet.id}`,
              idempotency_key: `${wallet.id}_conversion_credit`,
              request_hash: '',
            });
            created = credited.wallet;
          }
          return { original_wallet: walletView(closed), new_wallet: walletView(created) };
        });
      } catch (error) {
        if (isUniqueViolation(error, repo.WALLET_UNIQUE_ACTIVE)) {
          throw alreadyExists('the customer already has an active POST_PAID wallet in this currency');
        }
        throw error;
      }
    },

    /** Ledger entries of one wallet (404 when the wallet is not in this environment). */
    async listWalletTransactions(scope: Scope, walletId: string, search: WalletTransactionSearch) {
      await walletRowOrThrow(db, scope, walletId);
      return searchTransactions(scope, { ...search, id: walletId });
    },

    searchWalletTransactions(scope: Scope, search: WalletTransactionSearch) {
      return searchTransactions(scope, search);
    },

    /** Alert transitions of a wallet, oldest first. */
    async listAlertLogs(scope: Scope, walletId: string) {
      const rows = await repo.listWalletAlertLogsByWalletId(db, scope, walletId);
      return rows.map((r) => ({
        id: r.id,
        alert_type: r.alert_type as AlertType,
        previous_state: r.previous_state as AlertState,
        state: r.state as AlertState,
        credit_balance: toWire(r.credit_balance),
        balance: toWire(r.balance),
        created_at: r.created_at.toISOString(),
      }));
    },

    /** A customer deletion guard: a customer with an active wallet cannot be deleted. */
    async activeWalletGuard(tx: Tx, scope: Scope, customerId: string): Promise<string | null> {
      const rows = await repo.listActiveWalletsByCustomerId(tx, scope, customerId);
      return rows.length > 0 ? 'customer has active wallets; terminate them first' : null;
    },
  };

  async function terminateLocked(tx: Tx, scope: Scope, wallet: repo.WalletRow, key: string) {
    let current = wallet;
    const remaining = new Dec(current.credit_balance);
    if (remaining.gt(0)) {
      const written = await writeEntry(tx, scope, current, {
        kind: 'debit',
        credits: remaining,
        reason: 'WALLET_TERMINATION',
        reference_type: 'REQUEST',
        reference_id: current.id,
        description: 'Wallet terminated',
        metadata: {},
        idempotency_key: key,
        request_hash: '',
        allow_overdraw: true,
        eligible_at: null,
      });
      current = written.wallet;
    }
    // No settle: a closed wallet raises no alerts and must never auto top-up.
    current = await repo.updateWalletById(tx, scope, current.id, { wallet_status: 'closed', updated_at: clock.now() });
    if (listeners.length > 0) await emit(tx, scope, { type: 'wallet.terminated', wallet: walletView(current) });
    return current;
  }

  async function searchTransactions(scope: Scope, search: WalletTransactionSearch) {
    const fields = parseExpand(search.expand, TRANSACTION_EXPAND);
    const { limit, offset } = pageOf(search);
    for (const field of ['start_time', 'end_time', 'expiry_date_before', 'expiry_date_after'] as const) {
      const value = search[field];
      if (value !== undefined && Number.isNaN(Date.parse(value))) throw validation(`${field} must be RFC 3339`);
    }
    if (Boolean(search.reference_type) !== Boolean(search.reference_id)) {
      throw validation('reference_type and reference_id must be given together');
    }
    if (
      search.expiry_date_before &&
      search.expiry_date_after &&
      Date.parse(search.expiry_date_before) < Date.parse(search.expiry_date_after)
    ) {
      throw validation('expiry_date_before must not be before expiry_date_after');
    }
    const creditsGt = decimalField(search.credits_available_gt, 'credits_available_gt');
    const { rows, total } = await repo.listWalletTransactionsByFilter(db, scope, {
      limit,
      offset,
      wallet_id: search.id,
      status: search.status,
      order: search.order,
      sort: search.sort,
      filters: search.filters,
      type: search.type,
      transaction_status: search.transaction_status,
      transaction_reason: search.transaction_reason,
      reference_type: search.reference_type,
      reference_id: search.reference_id,
      expiry_date_before: search.expiry_date_before,
      expiry_date_after: search.expiry_date_after,
      credits_available_gt: creditsGt?.toFixed(),
      priority: search.priority,
      start_time: search.start_time,
      end_time: search.end_time,
    });
    const items = rows.map(walletTransactionView);
    if (fields.has('wallet')) {
      const wallets = new Map<string, WalletView>();
      for (const item of items) {
        if (!wallets.has(item.wallet_id)) {
          const row = await repo.findWalletById(db, scope, item.wallet_id);
          if (row) wallets.set(item.wallet_id, walletView(row));
        }
        const wallet = wallets.get(item.wallet_id);
        if (wallet) item.wallet = wallet;
      }
    }
    if (fields.has('customer')) {
      const found = new Map<string, CustomerView | null>();
      for (const item of items) {
        if (!found.has(item.customer_id)) {
          found.set(
            item.customer_id,
            await customers.getCustomer(scope, item.customer_id).catch((e: unknown) => {
              if (e instanceof AppError && e.code === 'not_found') return null;
              throw e;
            }),
          );
        }
        const customer = found.get(item.customer_id);
        if (customer) item.customer = customer;
      }
    }
    return { items, pagination: { total, limit, offset } };
  }
}

export type WalletsService = ReturnType<typeof createWalletsService>;

/** Credit expiry as periodic background work: bounded batches, the clock injected into the service. */
export function walletExpiryTask(
  wallets: WalletsService,
  options: { intervalMs?: number; batch?: number; graceSeconds?: number } = {},
): BackgroundTask {
  return {
    name: 'wallets.expire-credits',
    intervalMs: options.intervalMs ?? 60_000,
    run: async () =>
      (
        await wallets.expireCredits({
          limit: options.batch ?? 100,
          ...(options.graceSeconds !== undefined ? { graceSeconds: options.graceSeconds } : {}),
        })
      ).more,
  };
}
