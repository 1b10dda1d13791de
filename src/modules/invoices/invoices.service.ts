import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, type Tx, withTransaction } from '../../platform/db/database.ts';
import { type FilterCondition, pageOf, parseExpand, type SortCondition } from '../../platform/db/query.ts';
import { AppError, alreadyExists, invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { Dec, type Money, parseDecimal, roundToCurrency, toWire } from '../../platform/money.ts';
import type { InvoiceDraft, InvoiceDraftLine } from '../billing/draft.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { PendingChargesProvider } from '../wallets/pending-charges.ts';
import type { ExpiryHold, WalletTransactionView, WalletView, WalletsService } from '../wallets/wallets.service.ts';
import * as repo from './invoices.repo.ts';
import { type InvoiceView, invoiceView, wireTotals } from './invoices.views.ts';
import { renderInvoicePdf } from './pdf.ts';
import { type PaymentView, paymentView } from './payments.views.ts';
import { invoiceTotals, type LineAmounts, lineAmount, paymentStatusFor, planCreditAdjustment } from './totals.ts';

export * from './invoices.views.ts';
export * from './payments.views.ts';

export const INVOICE_TYPES = ['SUBSCRIPTION', 'ONE_OFF', 'CREDIT'] as const;
export const INVOICE_STATUSES = ['DRAFT', 'FINALIZED', 'VOIDED', 'SKIPPED'] as const;
export const PAYMENT_STATUSES = [
  'INITIATED',
  'PENDING',
  'PROCESSING',
  'SUCCEEDED',
  'OVERPAID',
  'FAILED',
  'REFUNDED',
  'PARTIALLY_REFUNDED',
  'VOIDED',
] as const;
export const BILLING_REASONS = [
  'SUBSCRIPTION_CREATE',
  'SUBSCRIPTION_CYCLE',
  'SUBSCRIPTION_UPDATE',
  'SUBSCRIPTION_TRIAL_END',
  'SUBSCRIPTION_TRIAL_START',
  'PRORATION',
  'MANUAL',
  'AUTO_INVOICE_THRESHOLD',
  'WALLET_AUTO_TOPUP',
] as const;

/** Domain events of invoices, delivered to listeners inside the business transaction. */
export type InvoiceEventType =
  | 'invoice.create.drafted'
  | 'invoice.update.finalized'
  | 'invoice.update.payment'
  | 'invoice.update.voided'
  | 'invoice.update'
  | 'invoice.payment.overdue';
export interface InvoiceEvent {
  type: InvoiceEventType;
  invoice: InvoiceView;
}
export type InvoiceEventListener = (tx: Tx, scope: Scope, event: InvoiceEvent) => Promise<void>;

export interface InvoiceSearch {
  expand?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  invoice_ids?: string[] | undefined;
  customer_id?: string | undefined;
  external_customer_id?: string | undefined;
  subscription_id?: string | undefined;
  subscription_customer_id?: string[] | undefined;
  invoice_type?: string | undefined;
  invoice_status?: string[] | undefined;
  payment_status?: string[] | undefined;
  billing_reason?: string | undefined;
  currency?: string | undefined;
  amount_due_gt?: number | string | undefined;
  amount_remaining_gt?: number | string | undefined;
  period_start_gte?: string | undefined;
  period_start_lte?: string | undefined;
  period_end_gte?: string | undefined;
  period_end_lte?: string | undefined;
  skip_line_items?: boolean | undefined;
}

function parseTime(value: string | undefined, field: string): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw validation(`${field} must be an RFC 3339 timestamp`, { [field]: value });
  return new Date(ms);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], field: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw validation(`${field} must be one of ${allowed.join(', ')}`, { [field]: value });
  }
  return value as T;
}

/** numeric(20,9): 11 integer digits; invoice amounts are kept well inside that. */
const MAX_AMOUNT = new Dec('99999999999');

function checkDraft(draft: InvoiceDraft) {
  if (!draft.customer_id) throw validation('customer_id is required');
  if (!/^[A-Za-z]{3}$/.test(draft.currency)) throw validation('currency must be a 3-letter ISO 4217 code');
  oneOf(draft.invoice_type, INVOICE_TYPES, 'invoice_type');
  oneOf(draft.billing_reason, BILLING_REASONS, 'billing_reason');
  if (draft.period_start && draft.period_end && draft.period_end.getTime() < draft.period_start.getTime()) {
    throw validation('period_end must not be before period_start');
  }
  draft.lines.forEach((line, i) => {
    if (line.amount.isNegative()) throw validation(`line_items[${i}].amount must not be negative`);
    if (line.amount.abs().gt(MAX_AMOUNT)) throw validation(`line_items[${i}].amount is too large`);
    if (line.quantity.isNegative()) throw validation(`line_items[${i}].quantity must not be negative`);
  });
}

/** Payment methods Tally can process; card, ACH, UPI and payment links need a provider (400). */
export const PAYMENT_METHOD_TYPES = ['CREDITS', 'OFFLINE'] as const;
/** Statuses `PUT /v1/invoices/{id}/payment` may record (refunds need credit notes, which are not built). */
const RECORDABLE_PAYMENT_STATUSES = ['INITIATED', 'PENDING', 'PROCESSING', 'SUCCEEDED', 'OVERPAID', 'FAILED'];
const PAID = ['SUCCEEDED', 'OVERPAID'];
/** The reference's invoice_config default: an invoice is due one day after finalization. */
const DEFAULT_DUE_DATE_DAYS = 1;

export type PaymentEventType =
  'payment.created' | 'payment.updated' | 'payment.success' | 'payment.failed' | 'payment.pending';
export interface PaymentEvent {
  type: PaymentEventType;
  payment: PaymentView;
}
export type PaymentEventListener = (tx: Tx, scope: Scope, event: PaymentEvent) => Promise<void>;

export interface CreateInvoiceLineInput {
  amount: string | number;
  quantity: string | number;
  display_name?: string | undefined;
  entity_id?: string | undefined;
  entity_type?: string | undefined;
  plan_id?: string | undefined;
  plan_display_name?: string | undefined;
  price_id?: string | undefined;
  price_type?: string | undefined;
  meter_id?: string | undefined;
  meter_display_name?: string | undefined;
  subscription_line_item_id?: string | undefined;
  adjusted_entitlement_quantity?: string | number | undefined;
  period_start?: string | undefined;
  period_end?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export interface CreateInvoiceInput {
  customer_id: string;
  currency: string;
  amount_due: string | number;
  subtotal: string | number;
  total: string | number;
  amount_paid?: string | number | undefined;
  invoice_type?: string | undefined;
  invoice_status?: string | undefined;
  payment_status?: string | undefined;
  billing_reason?: string | undefined;
  billing_period?: string | undefined;
  subscription_id?: string | undefined;
  description?: string | undefined;
  due_date?: string | undefined;
  issue_date?: string | undefined;
  period_start?: string | undefined;
  period_end?: string | undefined;
  idempotency_key?: string | undefined;
  invoice_pdf_url?: string | undefined;
  metadata?: Record<string, string> | undefined;
  line_items?: CreateInvoiceLineInput[] | undefined;
}

export interface UpdateInvoiceInput {
  due_date?: string | undefined;
  invoice_pdf_url?: string | undefined;
  metadata?: Record<string, string> | undefined;
  apply_discount?: boolean | undefined;
}

export interface CreatePaymentInput {
  amount: string | number;
  currency: string;
  destination_id: string;
  destination_type: string;
  payment_method_type: string;
  payment_method_id?: string | undefined;
  idempotency_key?: string | undefined;
  metadata?: Record<string, string> | undefined;
  process_payment?: boolean | undefined;
}

export interface UpdatePaymentInput {
  error_message?: string | undefined;
  failed_at?: string | undefined;
  gateway_payment_id?: string | undefined;
  metadata?: Record<string, string> | undefined;
  payment_gateway?: string | undefined;
  payment_method_id?: string | undefined;
  payment_status?: string | undefined;
}

export interface PaymentSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: string | undefined;
  expand?: string | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  payment_ids?: string[] | undefined;
  destination_type?: string | undefined;
  destination_id?: string | undefined;
  payment_method_type?: string | undefined;
  payment_status?: string | undefined;
  payment_gateway?: string | undefined;
  gateway_payment_id?: string | undefined;
  currency?: string | undefined;
}

/** The metadata an invoiced wallet top-up puts on its invoice; payment completes the pending credit. */
const WALLET_TRANSACTION_KEY = 'wallet_transaction_id';

function decimalInput(value: string | number | undefined, field: string): Money | undefined {
  if (value === undefined) return undefined;
  const parsed = parseDecimal(value);
  if (!parsed) throw validation(`${field} must be a decimal`, { [field]: String(value) });
  if (parsed.abs().gt(MAX_AMOUNT)) throw validation(`${field} is too large`);
  return parsed;
}

/** Invoices and payments: one function per use case, each in one transaction (or in the caller's, `tx` variants). */
export function createInvoicesService(deps: {
  db: Db;
  clock: Clock;
  customers: Pick<CustomersService, 'findCustomerInTransaction' | 'getCustomer' | 'getCustomerByExternalId'>;
  wallets: Pick<
    WalletsService,
    | 'listActiveWalletsInTransaction'
    | 'debitWalletInTransaction'
    | 'topUpWalletInTransaction'
    | 'findOrCreatePrepaidWalletInTransaction'
    | 'completePendingTopUp'
  >;
}) {
  const { db, clock, customers, wallets } = deps;
  const listeners: InvoiceEventListener[] = [];
  const paymentListeners: PaymentEventListener[] = [];

  async function emit(tx: Tx, scope: Scope, type: InvoiceEventType, invoice: InvoiceView) {
    for (const listener of listeners) await listener(tx, scope, { type, invoice });
  }

  async function emitPayment(tx: Tx, scope: Scope, type: PaymentEventType, payment: PaymentView) {
    for (const listener of paymentListeners) await listener(tx, scope, { type, payment });
  }

  async function viewOf(executor: Executor, scope: Scope, row: repo.InvoiceRow): Promise<InvoiceView> {
    return invoiceView(row, await repo.findLineItemsByInvoiceIds(executor, scope, [row.id]));
  }

  async function lockInvoice(tx: Tx, scope: Scope, id: string): Promise<repo.InvoiceRow> {
    const row = await repo.findInvoiceById(tx, scope, id, { forUpdate: true });
    if (!row) throw notFound('invoice', { id });
    return row;
  }

  interface DraftExtras {
    description?: string | undefined;
    due_date?: Date | undefined;
    issue_date?: Date | undefined;
    invoice_pdf_url?: string | undefined;
  }

  /** Writes a draft (see createInvoiceFromDraft); `created` is false when the idempotency key returned one. */
  async function writeDraft(
    tx: Tx,
    scope: Scope,
    draft: InvoiceDraft,
    extras: DraftExtras = {},
  ): Promise<{ row: repo.InvoiceRow; lines: repo.InvoiceLineItemRow[]; created: boolean }> {
    checkDraft(draft);
    const existingByKey = async (key: string) => {
      const existing = await repo.findInvoiceByIdempotencyKey(tx, scope, key);
      return existing
        ? { row: existing, lines: await repo.findLineItemsByInvoiceIds(tx, scope, [existing.id]), created: false }
        : undefined;
    };
    if (draft.idempotency_key) {
      const existing = await existingByKey(draft.idempotency_key);
      if (existing) return existing;
    }
    const customer = await customers.findCustomerInTransaction(tx, scope, draft.customer_id);
    if (!customer) throw notFound('customer', { customer_id: draft.customer_id });
    const now = clock.now();
    const currency = draft.currency.toLowerCase();
    const zero = new Dec(0);
    const amounts = draft.lines.map((line) => lineAmount(line.amount, currency));
    const totals = invoiceTotals(
      amounts.map((amount) => ({
        amount,
        prepaid_credits_applied: zero,
        line_item_discount: zero,
        invoice_level_discount: zero,
      })),
    );
    const id = newId('invoice');
    const row = await repo.insertInvoiceUnlessKeyExists(tx, {
      id,
      tenant_id: scope.tenantId,
      environment_id: scope.environmentId,
      customer_id: customer.id,
      subscription_id: draft.subscription_id,
      invoice_type: draft.invoice_type,
      invoice_status: 'DRAFT',
      payment_status: 'PENDING',
      billing_reason: draft.billing_reason,
      currency,
      ...wireTotals(totals),
      adjustment_amount: '0',
      refunded_amount: '0',
      description: extras.description ?? '',
      due_date: extras.due_date ?? null,
      issue_date: extras.issue_date ?? null,
      invoice_pdf_url: extras.invoice_pdf_url ?? null,
      billing_period: draft.billing_period,
      period_start: draft.period_start,
      period_end: draft.period_end,
      idempotency_key: draft.idempotency_key || null,
      metadata: JSON.stringify(draft.metadata ?? {}),
      version: 1,
      status: 'published',
      created_at: now,
      updated_at: now,
      created_by: '',
      updated_by: '',
    });
    if (!row) {
      // Lost a race on the idempotency key: the other transaction committed its invoice first.
      const existing = await existingByKey(draft.idempotency_key as string);
      if (!existing) throw new Error('invoice idempotency conflict without an invoice');
      return existing;
    }
    const lines = await repo.insertLineItems(
      tx,
      draft.lines.map((line, position) => ({
        id: newId('invoiceLineItem'),
        tenant_id: scope.tenantId,
        environment_id: scope.environmentId,
        invoice_id: id,
        position,
        customer_id: customer.id,
        subscription_id: draft.subscription_id,
        subscription_line_item_id: line.subscription_line_item_id,
        entity_type: line.entity_type,
        entity_id: line.entity_id,
        price_id: line.price_id,
        price_type: line.price_type,
        plan_display_name: line.plan_display_name,
        meter_id: line.meter_id,
        meter_display_name: line.meter_display_name,
        display_name: line.display_name,
        quantity: line.quantity.toFixed(),
        adjusted_entitlement_quantity: line.adjusted_entitlement_quantity?.toFixed() ?? null,
        amount: (amounts[position] as Money).toFixed(),
        currency,
        prepaid_credits_applied: '0',
        line_item_discount: '0',
        invoice_level_discount: '0',
        period_start: line.period_start,
        period_end: line.period_end,
        metadata: JSON.stringify(line.metadata ?? {}),
        status: 'published',
        created_at: now,
        updated_at: now,
        created_by: '',
        updated_by: '',
      })),
    );
    await emit(tx, scope, 'invoice.create.drafted', invoiceView(row, lines));
    return { row, lines, created: true };
  }

  /**
   * Writes a draft as a DRAFT invoice with its line items (amounts rounded half-up to the currency precision,
   * totals from totals.ts) in the caller's transaction, and emits invoice.create.drafted. Idempotent by
   * `draft.idempotency_key`: when an invoice with that key exists (whatever its status) it is returned and nothing
   * is written; concurrent calls with one key write one invoice. Errors: validation_error, not_found (customer).
   */
  async function createInvoiceFromDraft(tx: Tx, scope: Scope, draft: InvoiceDraft): Promise<InvoiceView> {
    const { row, lines } = await writeDraft(tx, scope, draft);
    return invoiceView(row, lines);
  }

  const amountsOf = (line: repo.InvoiceLineItemRow): LineAmounts => ({
    amount: new Dec(line.amount),
    prepaid_credits_applied: new Dec(line.prepaid_credits_applied),
    line_item_discount: new Dec(line.line_item_discount),
    invoice_level_discount: new Dec(line.invoice_level_discount),
  });

  /**
   * Credit adjustment (§2.14): active PRE_PAID wallets of the customer in the invoice currency with a positive
   * balance, largest balance first, pay the USAGE lines; each wallet is debited once (CREDIT_ADJUSTMENT, reference
   * INVOICE) with what it covered, and each line records `prepaid_credits_applied`. A wallet whose usable credits
   * do not cover its share (lots past expiry not yet expired by the job) is skipped.
   */
  async function applyCreditAdjustment(
    tx: Tx,
    scope: Scope,
    invoice: repo.InvoiceRow,
    lines: repo.InvoiceLineItemRow[],
  ) {
    const usage = lines.filter((l) => l.price_type === 'USAGE');
    if (usage.length === 0) return lines;
    const candidates = (await wallets.listActiveWalletsInTransaction(tx, scope, invoice.customer_id))
      .filter((w) => w.wallet_type === 'PRE_PAID' && w.currency === invoice.currency && new Dec(w.balance).gt(0))
      .sort((a, b) => new Dec(b.balance).comparedTo(new Dec(a.balance)) || a.id.localeCompare(b.id));
    const current = new Map<string, repo.InvoiceLineItemRow>(lines.map((l) => [l.id, l]));
    const setApplied = async (changes: Array<[repo.InvoiceLineItemRow, Money]>) => {
      const now = clock.now();
      for (const [line, value] of changes) {
        current.set(
          line.id,
          await repo.updateLineItemById(tx, scope, line.id, {
            prepaid_credits_applied: value.toFixed(),
            updated_at: now,
          }),
        );
      }
    };
    for (const wallet of candidates) {
      const open = usage.map((line, index) => {
        const a = amountsOf(current.get(line.id) as repo.InvoiceLineItemRow);
        return {
          index,
          open: a.amount.minus(a.line_item_discount).minus(a.invoice_level_discount).minus(a.prepaid_credits_applied),
        };
      });
      const plan = planCreditAdjustment(open, new Dec(wallet.balance), invoice.currency);
      if (plan.total.lte(0)) continue;
      // The lines show the credits before the debit runs, so the wallet's own real-time balance (which reads
      // unpaid usage of this customer's invoices) does not count this usage twice while it settles.
      const before = [...plan.applied.keys()].map(
        (index) => current.get((usage[index] as repo.InvoiceLineItemRow).id) as repo.InvoiceLineItemRow,
      );
      await setApplied(
        [...plan.applied].map(([index, amount]) => {
          const line = current.get((usage[index] as repo.InvoiceLineItemRow).id) as repo.InvoiceLineItemRow;
          return [line, new Dec(line.prepaid_credits_applied).plus(amount)];
        }),
      );
      try {
        await wallets.debitWalletInTransaction(tx, scope, wallet.id, {
          amount: plan.total.toFixed(),
          transaction_reason: 'CREDIT_ADJUSTMENT',
          idempotency_key: `credit_adjustment-${invoice.id}-${wallet.id}`,
          description: `Credits applied to invoice ${invoice.id}`,
          reference_type: 'INVOICE',
          reference_id: invoice.id,
          // Credits valid at the end of the invoice's period pay it, even once past their expiry: the expiry job
          // keeps them for this invoice (§2.8 active_invoice) until it is paid.
          eligible_at: creditsEligibleAt(invoice),
          metadata: {
            invoice_id: invoice.id,
            customer_id: invoice.customer_id,
            wallet_type: wallet.wallet_type,
            adjustment_type: 'amount_application',
          },
        });
      } catch (error) {
        // The wallet's usable credits did not cover its share (nothing was debited): take the lines back.
        if (!(error instanceof AppError) || error.code !== 'invalid_operation') throw error;
        await setApplied(before.map((line) => [line, new Dec(line.prepaid_credits_applied)]));
      }
    }
    return lines.map((l) => current.get(l.id) as repo.InvoiceLineItemRow);
  }

  /** The instant a credit must still be valid at to pay the invoice: its period's end once that has passed. */
  function creditsEligibleAt(invoice: repo.InvoiceRow): Date {
    const now = clock.now();
    return invoice.period_end && invoice.period_end.getTime() < now.getTime() ? invoice.period_end : now;
  }

  /** `INV-YYYYMM-00001`: per tenant, environment and UTC month of finalization (reference invoice_config defaults). */
  async function nextInvoiceNumber(tx: Tx, scope: Scope, at: Date): Promise<string> {
    const bucket = `${at.getUTCFullYear()}${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
    const sequence = await repo.nextInvoiceSequence(tx, scope, bucket, at);
    return `INV-${bucket}-${String(sequence).padStart(5, '0')}`;
  }

  /**
   * Runs once an invoice becomes paid (SUCCEEDED or OVERPAID): an invoiced wallet top-up's pending credit completes
   * (completePendingTopUp is itself a no-op on a completed entry, so this stays exactly once).
   */
  async function onPaid(tx: Tx, scope: Scope, invoice: repo.InvoiceRow) {
    const transactionId = invoice.metadata?.[WALLET_TRANSACTION_KEY];
    if (transactionId) await wallets.completePendingTopUp(tx, scope, transactionId);
  }

  /**
   * Days from finalization to the due date of an invoice finalized without one: the subscription's `payment_terms`
   * (`30 NET` → 30) for its invoices, else the reference's invoice_config default `due_date_days` 1.
   */
  async function dueDays(tx: Tx, scope: Scope, invoice: repo.InvoiceRow): Promise<number> {
    if (!invoice.subscription_id) return DEFAULT_DUE_DATE_DAYS;
    const terms = await repo.findSubscriptionPaymentTerms(tx, scope, invoice.subscription_id);
    const days = /^(\d+) NET$/.exec(terms ?? '')?.[1];
    return days ? Number(days) : DEFAULT_DUE_DATE_DAYS;
  }

  /** Finalizes a locked DRAFT invoice: credit adjustment, totals, number, status; zero total → SUCCEEDED. */
  async function finalizeLocked(tx: Tx, scope: Scope, invoice: repo.InvoiceRow): Promise<InvoiceView> {
    if (invoice.invoice_status !== 'DRAFT') {
      throw invalidOperation(`invoice is ${invoice.invoice_status}; only a DRAFT invoice can be finalized`, {
        id: invoice.id,
      });
    }
    const now = clock.now();
    const lines = await applyCreditAdjustment(
      tx,
      scope,
      invoice,
      await repo.findLineItemsByInvoiceIds(tx, scope, [invoice.id]),
    );
    const totals = invoiceTotals(lines.map(amountsOf), new Dec(invoice.amount_paid));
    const paid = totals.amount_remaining.isZero();
    const row = await repo.updateInvoiceById(tx, scope, invoice.id, {
      ...wireTotals(totals),
      invoice_status: 'FINALIZED',
      invoice_number: await nextInvoiceNumber(tx, scope, now),
      finalized_at: now,
      due_date: invoice.due_date ?? new Date(now.getTime() + (await dueDays(tx, scope, invoice)) * 86_400_000),
      ...(paid ? { payment_status: totals.overpaid_amount.gt(0) ? 'OVERPAID' : 'SUCCEEDED', paid_at: now } : {}),
      version: invoice.version + 1,
      updated_at: now,
    });
    const view = invoiceView(row, lines);
    await emit(tx, scope, 'invoice.update.finalized', view);
    if (paid) {
      await emit(tx, scope, 'invoice.update.payment', view);
      await onPaid(tx, scope, row);
    }
    return view;
  }

  /**
   * Records money received for a locked invoice: amount_paid grows, remaining/overpaid follow, and the payment
   * status becomes SUCCEEDED (nothing owed), OVERPAID (paid beyond) or stays PENDING (partly paid).
   */
  async function addPaymentToInvoice(tx: Tx, scope: Scope, invoice: repo.InvoiceRow, amount: Money) {
    const lines = await repo.findLineItemsByInvoiceIds(tx, scope, [invoice.id]);
    const totals = invoiceTotals(lines.map(amountsOf), new Dec(invoice.amount_paid).plus(amount));
    const now = clock.now();
    // A partly paid invoice is PENDING again, whatever failed before.
    const status = paymentStatusFor(totals, 'PENDING');
    const row = await repo.updateInvoiceById(tx, scope, invoice.id, {
      amount_paid: toWire(totals.amount_paid),
      amount_remaining: toWire(totals.amount_remaining),
      overpaid_amount: toWire(totals.overpaid_amount),
      payment_status: status,
      ...(PAID.includes(status) && !invoice.paid_at ? { paid_at: now } : {}),
      version: invoice.version + 1,
      updated_at: now,
    });
    await emit(tx, scope, 'invoice.update.payment', invoiceView(row, lines));
    if (PAID.includes(status) && !PAID.includes(invoice.payment_status)) await onPaid(tx, scope, row);
    return row;
  }

  // ---- payments ---------------------------------------------------------------------------------------------------

  async function paymentViewOf(executor: Executor, scope: Scope, row: repo.PaymentRow): Promise<PaymentView> {
    const numbers =
      row.destination_type === 'INVOICE' ? await repo.invoiceNumbersByIds(executor, scope, [row.destination_id]) : null;
    return paymentView(row, numbers?.get(row.destination_id));
  }

  /**
   * Processes a locked, unprocessed payment: CREDITS debits its wallet (INVOICE_PAYMENT, reference PAYMENT) and
   * fails the payment when the wallet cannot cover it; OFFLINE records money received outside Tally. A successful
   * payment is added to its invoice.
   */
  async function processPaymentLocked(tx: Tx, scope: Scope, payment: repo.PaymentRow): Promise<repo.PaymentRow> {
    if (!['INITIATED', 'PENDING', 'PROCESSING'].includes(payment.payment_status)) {
      throw invalidOperation(`payment is ${payment.payment_status}; only a pending payment can be processed`, {
        id: payment.id,
      });
    }
    const invoice = await lockInvoice(tx, scope, payment.destination_id);
    const now = clock.now();
    const amount = new Dec(payment.amount);
    let failure: string | undefined;
    if (invoice.invoice_status !== 'FINALIZED') failure = `invoice is ${invoice.invoice_status}, not FINALIZED`;
    else if (PAID.includes(invoice.payment_status)) failure = 'invoice is already paid';
    else if (amount.gt(invoice.amount_remaining)) failure = 'payment amount exceeds the invoice amount remaining';
    if (!failure && payment.payment_method_type === 'CREDITS') {
      try {
        await debitForPayment(tx, scope, payment, invoice);
      } catch (error) {
        if (!(error instanceof AppError) || !['invalid_operation', 'not_found'].includes(error.code)) throw error;
        failure = error.message;
      }
    }
    if (failure) {
      const failed = await repo.updatePaymentById(tx, scope, payment.id, {
        payment_status: 'FAILED',
        error_message: failure,
        failed_at: now,
        updated_at: now,
      });
      await emitPayment(tx, scope, 'payment.failed', paymentView(failed, invoice.invoice_number));
      return failed;
    }
    const succeeded = await repo.updatePaymentById(tx, scope, payment.id, {
      payment_status: 'SUCCEEDED',
      succeeded_at: now,
      error_message: null,
      updated_at: now,
    });
    await addPaymentToInvoice(tx, scope, invoice, amount);
    await emitPayment(tx, scope, 'payment.success', paymentView(succeeded, invoice.invoice_number));
    return succeeded;
  }

  /** A CREDITS payment: the wallet must be active, in the invoice currency and hold the amount (§2.14). */
  async function debitForPayment(tx: Tx, scope: Scope, payment: repo.PaymentRow, invoice: repo.InvoiceRow) {
    const wallet = (await wallets.listActiveWalletsInTransaction(tx, scope, invoice.customer_id)).find(
      (w) => w.id === payment.payment_method_id,
    );
    if (!wallet) throw invalidOperation('the wallet is not an active wallet of the invoice customer');
    if (wallet.currency !== invoice.currency) throw invalidOperation('the wallet currency does not match the invoice');
    if (new Dec(wallet.balance).lt(payment.amount))
      throw invalidOperation('the wallet balance does not cover the payment');
    await wallets.debitWalletInTransaction(tx, scope, wallet.id, {
      amount: new Dec(payment.amount).toFixed(),
      transaction_reason: 'INVOICE_PAYMENT',
      idempotency_key: `payment-${payment.id}`,
      description: `Payment ${payment.id} of invoice ${invoice.id}`,
      reference_type: 'PAYMENT',
      reference_id: payment.id,
      metadata: { invoice_id: invoice.id, payment_id: payment.id },
      eligible_at:
        invoice.period_end && invoice.period_end.getTime() > clock.now().getTime() ? invoice.period_end : clock.now(),
    });
  }

  function checkCreatePayment(input: CreatePaymentInput) {
    oneOf(input.destination_type, ['INVOICE', 'CUSTOMER'] as const, 'destination_type');
    if (input.destination_type !== 'INVOICE') {
      throw validation('destination_type CUSTOMER is not supported; pay an INVOICE');
    }
    if (!(PAYMENT_METHOD_TYPES as readonly string[]).includes(input.payment_method_type)) {
      throw validation(`payment_method_type must be one of ${PAYMENT_METHOD_TYPES.join(', ')} (no payment provider)`, {
        payment_method_type: input.payment_method_type,
      });
    }
    if (input.payment_method_type === 'CREDITS' && !input.payment_method_id) {
      throw validation('payment_method_id (the wallet id) is required for CREDITS payments');
    }
    if (!/^[A-Za-z]{3}$/.test(input.currency)) throw validation('currency must be a 3-letter ISO 4217 code');
    const amount = decimalInput(input.amount, 'amount') as Money;
    if (amount.lte(0)) throw validation('amount must be greater than 0');
    if (!amount.eq(roundToCurrency(amount, input.currency))) {
      throw validation('amount has more decimal places than the currency allows');
    }
    return amount;
  }

  /** Creates a payment in `tx` (and processes it unless `process_payment` is false). */
  async function createPaymentInTransaction(tx: Tx, scope: Scope, input: CreatePaymentInput) {
    const amount = checkCreatePayment(input);
    const key = input.idempotency_key || newId('payment');
    const existing = await repo.findPaymentByIdempotencyKey(tx, scope, key);
    if (existing) {
      const same =
        existing.destination_id === input.destination_id &&
        new Dec(existing.amount).eq(amount) &&
        existing.payment_method_type === input.payment_method_type;
      if (!same) throw alreadyExists('a payment with this idempotency key already exists', { idempotency_key: key });
      return paymentViewOf(tx, scope, existing);
    }
    const invoice = await lockInvoice(tx, scope, input.destination_id);
    if (invoice.currency !== input.currency.toLowerCase()) {
      throw validation('currency does not match the invoice currency', { invoice_currency: invoice.currency });
    }
    if (invoice.invoice_status !== 'FINALIZED') {
      throw invalidOperation(`invoice is ${invoice.invoice_status}; only a FINALIZED invoice can be paid`);
    }
    if (PAID.includes(invoice.payment_status)) throw invalidOperation('invoice is already paid');
    if (amount.gt(invoice.amount_remaining)) {
      throw validation('amount exceeds the invoice amount remaining', {
        amount_remaining: toWire(new Dec(invoice.amount_remaining)),
      });
    }
    const now = clock.now();
    let row = await repo.insertPayment(tx, {
      id: newId('payment'),
      tenant_id: scope.tenantId,
      environment_id: scope.environmentId,
      idempotency_key: key,
      destination_type: 'INVOICE',
      destination_id: invoice.id,
      payment_method_type: input.payment_method_type,
      payment_method_id: input.payment_method_id ?? '',
      payment_gateway: null,
      gateway_payment_id: null,
      amount: amount.toFixed(),
      currency: invoice.currency,
      payment_status: 'PENDING',
      track_attempts: false,
      error_message: null,
      metadata: JSON.stringify(input.metadata ?? {}),
      status: 'published',
      created_at: now,
      updated_at: now,
      created_by: '',
      updated_by: '',
    });
    await emitPayment(tx, scope, 'payment.created', paymentView(row, invoice.invoice_number));
    if (input.process_payment === false) {
      await emitPayment(tx, scope, 'payment.pending', paymentView(row, invoice.invoice_number));
    } else {
      row = await processPaymentLocked(tx, scope, row);
    }
    return paymentView(row, invoice.invoice_number);
  }

  async function lockPayment(tx: Tx, scope: Scope, id: string) {
    const row = await repo.findPaymentById(tx, scope, id, { forUpdate: true });
    if (!row) throw notFound('payment', { id });
    return row;
  }

  // ---- searches -------------------------------------------------------------------------------------------------

  async function resolveCustomerIds(scope: Scope, search: InvoiceSearch): Promise<string[] | undefined> {
    let ids: string[] | undefined;
    const narrow = (next: string[]) => {
      ids = ids ? ids.filter((id) => next.includes(id)) : next;
    };
    if (search.customer_id !== undefined) narrow([search.customer_id]);
    if (search.subscription_customer_id?.length) narrow(search.subscription_customer_id);
    if (search.external_customer_id !== undefined) {
      try {
        narrow([(await customers.getCustomerByExternalId(scope, search.external_customer_id)).id]);
      } catch {
        narrow([]);
      }
    }
    return ids;
  }

  function decimalFilter(value: number | string | undefined, field: string): string | undefined {
    if (value === undefined) return undefined;
    const parsed = parseDecimal(value);
    if (!parsed) throw validation(`${field} must be a number`);
    return parsed.toFixed();
  }

  /** A create request's line items as draft lines; fields Tally does not implement are refused by the route. */
  function draftLinesOf(input: CreateInvoiceInput): InvoiceDraftLine[] {
    return (input.line_items ?? []).map((line, i) => {
      const amount = decimalInput(line.amount, `line_items[${i}].amount`) as Money;
      const quantity = decimalInput(line.quantity, `line_items[${i}].quantity`) as Money;
      const priceType = line.price_type === undefined ? null : line.price_type.toUpperCase();
      if (priceType !== null && priceType !== 'USAGE' && priceType !== 'FIXED') {
        throw validation(`line_items[${i}].price_type must be USAGE or FIXED`);
      }
      const adjusted = decimalInput(
        line.adjusted_entitlement_quantity,
        `line_items[${i}].adjusted_entitlement_quantity`,
      );
      return {
        entity_type: line.entity_type ?? (line.plan_id ? 'plan' : null),
        entity_id: line.entity_id ?? line.plan_id ?? null,
        subscription_line_item_id: line.subscription_line_item_id ?? null,
        price_id: line.price_id ?? null,
        price_type: priceType as InvoiceDraftLine['price_type'],
        plan_display_name: line.plan_display_name ?? null,
        meter_id: line.meter_id ?? null,
        meter_display_name: line.meter_display_name ?? null,
        display_name: line.display_name ?? '',
        quantity,
        adjusted_entitlement_quantity: adjusted ?? null,
        amount,
        period_start: parseTime(line.period_start, `line_items[${i}].period_start`) ?? null,
        period_end: parseTime(line.period_end, `line_items[${i}].period_end`) ?? null,
        metadata: line.metadata ?? {},
      };
    });
  }

  /** `GET /v1/invoices/{id}`: with line items and the customer; 404 in another environment. */
  async function getInvoice(scope: Scope, id: string, expand?: string): Promise<InvoiceView> {
    parseExpand(expand, []);
    const row = await repo.findInvoiceById(db, scope, id);
    if (!row) throw notFound('invoice', { id });
    const view = await viewOf(db, scope, row);
    try {
      view.customer = await customers.getCustomer(scope, row.customer_id);
    } catch {
      // A deleted customer leaves its invoices readable.
    }
    return view;
  }

  async function attemptPaymentInTransaction(tx: Tx, scope: Scope, id: string): Promise<{ message: string }> {
    const invoice = await lockInvoice(tx, scope, id);
    if (invoice.invoice_status !== 'FINALIZED') {
      throw invalidOperation(`invoice is ${invoice.invoice_status}; only a FINALIZED invoice can be paid`);
    }
    if (PAID.includes(invoice.payment_status) || new Dec(invoice.amount_remaining).isZero()) {
      throw invalidOperation('invoice is already paid', { id });
    }
    const lines = await repo.findLineItemsByInvoiceIds(tx, scope, [invoice.id]);
    const net = (type: string) =>
      lines
        .filter((l) => l.price_type === type)
        .reduce(
          (sum, l) => {
            const a = amountsOf(l);
            return sum.plus(
              a.amount.minus(a.line_item_discount).minus(a.invoice_level_discount).minus(a.prepaid_credits_applied),
            );
          },
          new Dec(0) as Money,
        );
    let remaining: Money = new Dec(invoice.amount_remaining);
    // What has been paid is attributed to usage first; the rest of each price type is what its wallets may pay.
    let usageLeft: Money = Dec.max(0, Dec.min(remaining, net('USAGE')));
    let fixedLeft: Money = Dec.max(0, remaining.minus(usageLeft));
    const groupOf = (types: string[]) =>
      types.includes('ALL') || types.length === 0 || (types.includes('USAGE') && types.includes('FIXED'))
        ? 2
        : types.includes('USAGE')
          ? 0
          : 1;
    const candidates = (await wallets.listActiveWalletsInTransaction(tx, scope, invoice.customer_id))
      .filter((w) => w.wallet_type === 'POST_PAID' && w.currency === invoice.currency && new Dec(w.balance).gt(0))
      .sort(
        (a, b) =>
          groupOf(a.config.allowed_price_types) - groupOf(b.config.allowed_price_types) ||
          new Dec(b.balance).comparedTo(new Dec(a.balance)) ||
          a.id.localeCompare(b.id),
      );
    let paidTotal: Money = new Dec(0);
    for (const wallet of candidates) {
      if (remaining.lte(0)) break;
      const group = groupOf(wallet.config.allowed_price_types);
      const cap = group === 0 ? usageLeft : group === 1 ? fixedLeft : remaining;
      const amount = roundToCurrency(Dec.min(cap, new Dec(wallet.balance)), invoice.currency, Dec.ROUND_DOWN);
      if (amount.lte(0)) continue;
      const payment = await createPaymentInTransaction(tx, scope, {
        amount: amount.toFixed(),
        currency: invoice.currency,
        destination_type: 'INVOICE',
        destination_id: invoice.id,
        payment_method_type: 'CREDITS',
        payment_method_id: wallet.id,
      });
      if (payment.payment_status !== 'SUCCEEDED') continue;
      paidTotal = paidTotal.plus(amount);
      remaining = remaining.minus(amount);
      if (group === 0) usageLeft = usageLeft.minus(amount);
      else if (group === 1) fixedLeft = fixedLeft.minus(amount);
      else {
        const fromUsage = Dec.min(usageLeft, amount);
        usageLeft = usageLeft.minus(fromUsage);
        fixedLeft = Dec.max(0, fixedLeft.minus(amount.minus(fromUsage)));
      }
    }
    return {
      message: paidTotal.gt(0)
        ? `paid ${toWire(paidTotal)} ${invoice.currency} from wallets; ${toWire(remaining)} remaining`
        : 'no wallet could pay this invoice',
    };
  }

  // ---- public use cases -----------------------------------------------------------------------------------------

  return {
    onEvent(listener: InvoiceEventListener): void {
      listeners.push(listener);
    },
    onPaymentEvent(listener: PaymentEventListener): void {
      paymentListeners.push(listener);
    },

    createInvoiceFromDraft,

    /**
     * Finalizes a DRAFT invoice in the caller's transaction (billing: once the period's draft is computed).
     * Errors: not_found, invalid_operation (not a draft).
     */
    async finalizeInvoiceInTransaction(tx: Tx, scope: Scope, id: string): Promise<InvoiceView> {
      return finalizeLocked(tx, scope, await lockInvoice(tx, scope, id));
    },

    /** One invoice with its line items as seen in `tx`, or not_found. */
    async getInvoiceInTransaction(tx: Tx, scope: Scope, id: string): Promise<InvoiceView> {
      const row = await repo.findInvoiceById(tx, scope, id);
      if (!row) throw notFound('invoice', { id });
      return viewOf(tx, scope, row);
    },

    getInvoice,

    /** `POST /v1/invoices/search` and `GET /v1/invoices`: paged, newest first, with line items unless skipped. */
    async searchInvoices(scope: Scope, search: InvoiceSearch) {
      parseExpand(search.expand, []);
      const { limit, offset } = pageOf(search);
      oneOf(search.invoice_type, INVOICE_TYPES, 'invoice_type');
      oneOf(search.billing_reason, BILLING_REASONS, 'billing_reason');
      for (const value of search.invoice_status ?? []) oneOf(value, INVOICE_STATUSES, 'invoice_status');
      for (const value of search.payment_status ?? []) oneOf(value, PAYMENT_STATUSES, 'payment_status');
      const { rows, total } = await repo.listInvoices(db, scope, {
        limit,
        offset,
        status: search.status,
        order: search.order,
        sort: search.sort,
        filters: search.filters,
        invoice_ids: search.invoice_ids,
        customer_ids: await resolveCustomerIds(scope, search),
        subscription_id: search.subscription_id,
        invoice_type: search.invoice_type,
        invoice_status: search.invoice_status,
        payment_status: search.payment_status,
        billing_reason: search.billing_reason,
        currency: search.currency,
        amount_due_gt: decimalFilter(search.amount_due_gt, 'amount_due_gt'),
        amount_remaining_gt: decimalFilter(search.amount_remaining_gt, 'amount_remaining_gt'),
        period_start_gte: parseTime(search.period_start_gte, 'period_start_gte'),
        period_start_lte: parseTime(search.period_start_lte, 'period_start_lte'),
        period_end_gte: parseTime(search.period_end_gte, 'period_end_gte'),
        period_end_lte: parseTime(search.period_end_lte, 'period_end_lte'),
        start_time: parseTime(search.start_time, 'start_time'),
        end_time: parseTime(search.end_time, 'end_time'),
      });
      const lines = search.skip_line_items
        ? undefined
        : await repo.findLineItemsByInvoiceIds(
            db,
            scope,
            rows.map((r) => r.id),
          );
      return {
        items: rows.map((row) =>
          invoiceView(
            row,
            lines?.filter((l) => l.invoice_id === row.id),
          ),
        ),
        pagination: { total, limit, offset },
      };
    },

    /**
     * `POST /v1/invoices` (201): a one-off invoice from line items. Tally computes the totals from the lines and
     * refuses a request whose subtotal, total or amount_due disagree with them. `invoice_status: FINALIZED`
     * finalizes it in the same transaction. The same idempotency key returns the DRAFT invoice it created, and is
     * 409 once that invoice has left DRAFT (§1.14). Errors: validation_error, not_found, already_exists.
     */
    async createInvoice(scope: Scope, input: CreateInvoiceInput): Promise<InvoiceView> {
      const invoiceType = oneOf(input.invoice_type, INVOICE_TYPES, 'invoice_type') ?? 'ONE_OFF';
      const billingReason = oneOf(input.billing_reason, BILLING_REASONS, 'billing_reason') ?? 'MANUAL';
      const status = oneOf(input.invoice_status, ['DRAFT', 'FINALIZED'] as const, 'invoice_status') ?? 'DRAFT';
      if (input.payment_status !== undefined && input.payment_status !== 'PENDING') {
        throw validation('payment_status must be PENDING on create; record payments with /payments');
      }
      const paid = decimalInput(input.amount_paid, 'amount_paid');
      if (paid && !paid.isZero()) throw validation('amount_paid must be 0 on create; record payments with /payments');
      if (!/^[A-Za-z]{3}$/.test(input.currency ?? '')) throw validation('currency must be a 3-letter ISO 4217 code');
      const lines = draftLinesOf(input);
      if (lines.length === 0) throw validation('line_items are required: Tally computes the totals from them');
      const currency = input.currency.toLowerCase();
      const zero = new Dec(0);
      const computed = invoiceTotals(
        lines.map((l) => ({
          amount: lineAmount(l.amount, currency),
          prepaid_credits_applied: zero,
          line_item_discount: zero,
          invoice_level_discount: zero,
        })),
      );
      for (const [field, expected] of [
        ['subtotal', computed.subtotal],
        ['total', computed.total],
        ['amount_due', computed.amount_due],
      ] as const) {
        const given = decimalInput(input[field], field) as Money;
        if (!given.eq(expected)) {
          throw validation(`${field} does not match the line items`, {
            [field]: toWire(given),
            computed: toWire(expected),
          });
        }
      }
      const periodStart = parseTime(input.period_start, 'period_start') ?? null;
      const periodEnd = parseTime(input.period_end, 'period_end') ?? null;
      const draft: InvoiceDraft = {
        customer_id: input.customer_id,
        subscription_id: input.subscription_id || null,
        invoice_type: invoiceType,
        billing_reason: billingReason,
        currency,
        period_start: periodStart,
        period_end: periodEnd,
        billing_period: input.billing_period ?? null,
        idempotency_key: input.idempotency_key || null,
        lines,
        metadata: input.metadata ?? {},
      };
      const extras = {
        description: input.description,
        due_date: parseTime(input.due_date, 'due_date'),
        issue_date: parseTime(input.issue_date, 'issue_date'),
        invoice_pdf_url: input.invoice_pdf_url,
      };
      return withTransaction(db, async (tx) => {
        const written = await writeDraft(tx, scope, draft, extras);
        if (!written.created) {
          if (written.row.invoice_status !== 'DRAFT') {
            throw alreadyExists('invoice already exists', { idempotency_key: draft.idempotency_key });
          }
          return invoiceView(written.row, written.lines);
        }
        if (status === 'FINALIZED') return finalizeLocked(tx, scope, await lockInvoice(tx, scope, written.row.id));
        return invoiceView(written.row, written.lines);
      });
    },

    /** `PUT /v1/invoices/{id}`: due_date, invoice_pdf_url, metadata (replaced). Not on a VOIDED invoice. */
    async updateInvoice(scope: Scope, id: string, input: UpdateInvoiceInput): Promise<InvoiceView> {
      if (input.apply_discount) throw validation('apply_discount is not supported: Tally has no coupons');
      const dueDate = parseTime(input.due_date, 'due_date');
      return withTransaction(db, async (tx) => {
        const invoice = await lockInvoice(tx, scope, id);
        if (invoice.invoice_status === 'VOIDED') throw invalidOperation('a VOIDED invoice cannot be updated', { id });
        const row = await repo.updateInvoiceById(tx, scope, id, {
          ...(dueDate ? { due_date: dueDate } : {}),
          ...(input.invoice_pdf_url !== undefined ? { invoice_pdf_url: input.invoice_pdf_url || null } : {}),
          ...(input.metadata !== undefined ? { metadata: JSON.stringify(input.metadata) } : {}),
          version: invoice.version + 1,
          updated_at: clock.now(),
        });
        const view = await viewOf(tx, scope, row);
        await emit(tx, scope, 'invoice.update', view);
        return view;
      });
    },

    /**
     * `POST /v1/invoices/{id}/finalize`: under `SELECT … FOR UPDATE` of the invoice, applies PRE_PAID credits to
     * usage lines, assigns the next number of the month and sets FINALIZED (zero total → SUCCEEDED).
     * Errors: not_found, invalid_operation (not a draft).
     */
    async finalizeInvoice(scope: Scope, id: string): Promise<InvoiceView> {
      return withTransaction(db, async (tx) => finalizeLocked(tx, scope, await lockInvoice(tx, scope, id)));
    },

    /**
     * `POST /v1/invoices/{id}/void`: VOIDED, and what the customer paid plus the prepaid credits applied (less
     * refunds) goes back to their PRE_PAID wallet of the currency (created if none) as INVOICE_VOID_REFUND with the
     * invoice id as idempotency key. Errors: not_found, invalid_operation (already voided or skipped).
     */
    async voidInvoice(scope: Scope, id: string): Promise<InvoiceView> {
      return withTransaction(db, async (tx) => {
        const invoice = await lockInvoice(tx, scope, id);
        if (invoice.invoice_status !== 'DRAFT' && invoice.invoice_status !== 'FINALIZED') {
          throw invalidOperation(`invoice is ${invoice.invoice_status} and cannot be voided`, { id });
        }
        const refund = new Dec(invoice.amount_paid)
          .plus(invoice.total_prepaid_credits_applied)
          .minus(invoice.refunded_amount);
        if (refund.gt(0)) {
          const wallet = await wallets.findOrCreatePrepaidWalletInTransaction(
            tx,
            scope,
            invoice.customer_id,
            invoice.currency,
          );
          await wallets.topUpWalletInTransaction(tx, scope, wallet.id, {
            amount: refund.toFixed(),
            transaction_reason: 'INVOICE_VOID_REFUND',
            idempotency_key: invoice.id,
            description: `Refund of voided invoice ${invoice.invoice_number ?? invoice.id}`,
            metadata: { invoice_id: invoice.id },
          });
        }
        const now = clock.now();
        const row = await repo.updateInvoiceById(tx, scope, id, {
          invoice_status: 'VOIDED',
          payment_status: 'VOIDED',
          voided_at: now,
          version: invoice.version + 1,
          updated_at: now,
        });
        const view = await viewOf(tx, scope, row);
        await emit(tx, scope, 'invoice.update.voided', view);
        return view;
      });
    },

    /**
     * `PUT /v1/invoices/{id}/payment`: records a payment status set outside Tally. SUCCEEDED/OVERPAID set
     * amount_paid to `amount` (default: amount_due; SUCCEEDED needs at least amount_due, OVERPAID more); other
     * statuses keep or set amount_paid below amount_due. A paid invoice cannot change (400); a VOIDED or DRAFT one
     * cannot be paid. Completing an invoiced top-up's pending credit happens here when it becomes paid.
     */
    async updatePaymentStatus(
      scope: Scope,
      id: string,
      input: { payment_status: string; amount?: string | number | undefined },
    ) {
      const status = oneOf(input.payment_status, RECORDABLE_PAYMENT_STATUSES, 'payment_status') as string;
      const amount = decimalInput(input.amount, 'amount');
      if (amount?.isNegative()) throw validation('amount must not be negative');
      return withTransaction(db, async (tx) => {
        const invoice = await lockInvoice(tx, scope, id);
        if (invoice.invoice_status !== 'FINALIZED') {
          throw invalidOperation(`invoice is ${invoice.invoice_status}; only a FINALIZED invoice records payments`);
        }
        if (PAID.includes(invoice.payment_status)) throw invalidOperation('invoice is already paid', { id });
        const due = new Dec(invoice.amount_due);
        const paidAmount = amount ?? (PAID.includes(status) ? due : new Dec(invoice.amount_paid));
        if (!paidAmount.eq(roundToCurrency(paidAmount, invoice.currency))) {
          throw validation('amount has more decimal places than the currency allows');
        }
        if (status === 'SUCCEEDED' && paidAmount.lt(due)) throw validation('SUCCEEDED needs amount ≥ amount_due');
        if (status === 'OVERPAID' && paidAmount.lte(due)) throw validation('OVERPAID needs amount > amount_due');
        if (!PAID.includes(status) && paidAmount.gte(due) && due.gt(0)) {
          throw validation(`${status} needs amount < amount_due; record SUCCEEDED for a full payment`);
        }
        const lines = await repo.findLineItemsByInvoiceIds(tx, scope, [invoice.id]);
        const totals = invoiceTotals(lines.map(amountsOf), paidAmount);
        const now = clock.now();
        const finalStatus = PAID.includes(status) ? (totals.overpaid_amount.gt(0) ? 'OVERPAID' : 'SUCCEEDED') : status;
        const row = await repo.updateInvoiceById(tx, scope, id, {
          amount_paid: toWire(totals.amount_paid),
          amount_remaining: toWire(totals.amount_remaining),
          overpaid_amount: toWire(totals.overpaid_amount),
          payment_status: finalStatus,
          ...(PAID.includes(finalStatus) ? { paid_at: now } : {}),
          version: invoice.version + 1,
          updated_at: now,
        });
        const view = invoiceView(row, lines);
        await emit(tx, scope, 'invoice.update.payment', view);
        if (PAID.includes(finalStatus)) await onPaid(tx, scope, row);
        return view;
      });
    },

    /**
     * `POST /v1/invoices/{id}/payment/attempt`: pays a FINALIZED invoice from the customer's POST_PAID wallets in
     * its currency (usage-only wallets, then fixed-only, then ALL; each by balance), each as a CREDITS payment of
     * what its price types allow, capped by its balance. Errors: not_found, invalid_operation.
     */
    async attemptPayment(scope: Scope, id: string): Promise<{ message: string }> {
      return withTransaction(db, (tx) => attemptPaymentInTransaction(tx, scope, id));
    },

    /** The same attempt in the caller's transaction (billing: right after finalizing a period's invoice). */
    attemptPaymentInTransaction,

    /**
     * Finalizes SUBSCRIPTION drafts (the billing job's period invoices, creation and proration invoices) once they
     * are `delaySeconds` old, as the reference's draft finalization does (finalization_delay_seconds, default 7200:
     * time to correct a draft): each in its own transaction, prepaid wallets pay its usage lines (credit
     * adjustment), then POST_PAID wallets are asked to pay the rest (CREDITS payments). A draft finalized or voided
     * meanwhile is skipped. Returns how many were finalized and whether more are due.
     */
    async finalizeDueDrafts(options: { limit?: number; delaySeconds?: number } = {}) {
      const limit = options.limit ?? 100;
      const cutoff = new Date(clock.now().getTime() - (options.delaySeconds ?? 7200) * 1000);
      const due = await repo.listDraftsDueForFinalization(db, cutoff, limit);
      let finalized = 0;
      for (const candidate of due) {
        const scope = { tenantId: candidate.tenant_id, environmentId: candidate.environment_id };
        const done = await withTransaction(db, async (tx) => {
          const invoice = await lockInvoice(tx, scope, candidate.id);
          if (invoice.invoice_status !== 'DRAFT') return false;
          const view = await finalizeLocked(tx, scope, invoice);
          // The attempt picks the POST_PAID wallets itself (none: it pays nothing and writes nothing).
          if (!PAID.includes(view.payment_status) && new Dec(view.amount_remaining).gt(0)) {
            await attemptPaymentInTransaction(tx, scope, view.id);
          }
          return true;
        });
        if (done) finalized++;
      }
      return { finalized, more: due.length === limit };
    },

    /**
     * `invoice.payment.overdue`, once per invoice: FINALIZED invoices (every tenant) whose `due_date` has passed with
     * an amount still remaining and a payment status other than SUCCEEDED/OVERPAID, up to `limit` per run, oldest due
     * first. Each in its own transaction: the invoice is locked, re-checked, marked `overdue_notified_at` and the
     * event enqueued together, so a concurrent or repeated run never emits it twice.
     */
    async notifyOverdueInvoices(options: { limit?: number } = {}): Promise<{ notified: number; more: boolean }> {
      const limit = options.limit ?? 100;
      const now = clock.now();
      const due = await repo.listOverdueUnnotified(db, now, limit);
      let notified = 0;
      for (const candidate of due) {
        const scope = { tenantId: candidate.tenant_id, environmentId: candidate.environment_id };
        const done = await withTransaction(db, async (tx) => {
          const invoice = await lockInvoice(tx, scope, candidate.id);
          if (
            invoice.invoice_status !== 'FINALIZED' ||
            invoice.overdue_notified_at !== null ||
            !invoice.due_date ||
            invoice.due_date.getTime() >= now.getTime() ||
            !new Dec(invoice.amount_remaining).gt(0) ||
            PAID.includes(invoice.payment_status)
          ) {
            return false;
          }
          const row = await repo.updateInvoiceById(tx, scope, invoice.id, { overdue_notified_at: now });
          await emit(tx, scope, 'invoice.payment.overdue', await viewOf(tx, scope, row));
          return true;
        });
        if (done) notified++;
      }
      return { notified, more: due.length === limit };
    },

    /** `GET /v1/invoices/{id}/pdf`: a one-page PDF rendered in-process. */
    async getInvoicePdf(scope: Scope, id: string): Promise<{ filename: string; pdf: Buffer }> {
      const invoice = await getInvoice(scope, id);
      return {
        filename: `${invoice.invoice_number ?? invoice.id}.pdf`,
        pdf: renderInvoicePdf(invoice),
      };
    },

    /**
     * `GET /v1/customers/{id}/invoices/summary`: per currency, over the customer's FINALIZED invoices: counts,
     * unpaid and overdue (past due_date) amounts, revenue (Σ total), and the unpaid usage and fixed charges.
     */
    async getCustomerInvoiceSummary(scope: Scope, customerId: string) {
      const customer = await customers.getCustomer(scope, customerId);
      const rows = (await repo.listInvoicesOfCustomer(db, scope, customer.id)).filter(
        (r) => r.invoice_status === 'FINALIZED',
      );
      const lines = await repo.findLineItemsByInvoiceIds(
        db,
        scope,
        rows.map((r) => r.id),
      );
      const now = clock.now().getTime();
      const byCurrency = new Map<string, repo.InvoiceRow[]>();
      for (const row of rows) byCurrency.set(row.currency, [...(byCurrency.get(row.currency) ?? []), row]);
      const summaries = [...byCurrency.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([currency, invoices]) => {
          const zero = new Dec(0) as Money;
          let unpaidAmount = zero;
          let overdueAmount = zero;
          let revenue = zero;
          let unpaidUsage = zero;
          let unpaidFixed = zero;
          let unpaidCount = 0;
          let overdueCount = 0;
          for (const invoice of invoices) {
            revenue = revenue.plus(invoice.total);
            const remaining = new Dec(invoice.amount_remaining);
            if (PAID.includes(invoice.payment_status) || remaining.isZero()) continue;
            unpaidCount++;
            unpaidAmount = unpaidAmount.plus(remaining);
            if (invoice.due_date && invoice.due_date.getTime() < now) {
              overdueCount++;
              overdueAmount = overdueAmount.plus(remaining);
            }
            for (const line of lines.filter((l) => l.invoice_id === invoice.id)) {
              const a = amountsOf(line);
              const net = a.amount
                .minus(a.line_item_discount)
                .minus(a.invoice_level_discount)
                .minus(a.prepaid_credits_applied);
              if (line.price_type === 'USAGE') unpaidUsage = unpaidUsage.plus(net);
              else if (line.price_type === 'FIXED') unpaidFixed = unpaidFixed.plus(net);
            }
          }
          return {
            customer_id: customer.id,
            currency,
            total_invoice_count: invoices.length,
            unpaid_invoice_count: unpaidCount,
            overdue_invoice_count: overdueCount,
            total_unpaid_amount: toWire(unpaidAmount),
            total_overdue_amount: toWire(overdueAmount),
            total_revenue_amount: toWire(revenue),
            unpaid_usage_charges: toWire(unpaidUsage),
            unpaid_fixed_charges: toWire(unpaidFixed),
          };
        });
      const newest = [...rows].sort((a, b) => b.created_at.getTime() - a.created_at.getTime())[0];
      return { customer_id: customer.id, default_currency: newest?.currency ?? '', summaries };
    },

    // ---- hooks other modules call --------------------------------------------------------------------------------

    /**
     * For wallets.onInvoicedTopUp: a PURCHASED_CREDIT_INVOICED top-up (or an invoiced auto top-up) gets its CREDIT
     * invoice in the top-up's transaction, finalized and PENDING, for `credits × topup_conversion_rate` rounded to the
     * currency. Paying it completes the pending credit (onPaid).
     */
    async createTopUpInvoice(
      tx: Tx,
      scope: Scope,
      topUp: { wallet: WalletView; transaction: WalletTransactionView },
    ): Promise<{ invoice_id: string }> {
      const { wallet, transaction } = topUp;
      const autoTopUp = transaction.metadata.auto_topup === 'true';
      const credits = toWire(new Dec(transaction.credit_amount));
      const written = await writeDraft(
        tx,
        scope,
        {
          customer_id: wallet.customer_id,
          subscription_id: null,
          invoice_type: 'CREDIT',
          billing_reason: autoTopUp ? 'WALLET_AUTO_TOPUP' : 'MANUAL',
          currency: wallet.currency,
          period_start: null,
          period_end: null,
          billing_period: null,
          idempotency_key: `wallet_topup-${transaction.id}`,
          lines: [
            {
              entity_type: null,
              entity_id: null,
              subscription_line_item_id: null,
              price_id: null,
              price_type: null,
              plan_display_name: null,
              meter_id: null,
              meter_display_name: null,
              display_name: `Purchase ${credits} Credits`,
              quantity: new Dec(1),
              adjusted_entitlement_quantity: null,
              amount: new Dec(transaction.amount),
              period_start: null,
              period_end: null,
              metadata: {},
            },
          ],
          metadata: {
            [WALLET_TRANSACTION_KEY]: transaction.id,
            wallet_id: wallet.id,
            credits_amount: credits,
            auto_completed: 'false',
            ...(autoTopUp ? { auto_topup: 'true' } : {}),
            ...(transaction.description ? { description: transaction.description } : {}),
          },
        },
        { description: transaction.description },
      );
      if (written.created) await finalizeLocked(tx, scope, await lockInvoice(tx, scope, written.row.id));
      return { invoice_id: written.row.id };
    },

    /**
     * For wallets.registerPendingChargesProvider (§2.12 steps 2–3): of the customer's unpaid DRAFT and FINALIZED
     * invoices in the wallet currency (drafts only once their period has ended), the part a PRE_PAID wallet will
     * still pay: Σ amount_remaining when the wallet covers FIXED or ALL, else Σ(usage line amount − prepaid credits −
     * line discount) − Σ amount_paid.
     */
    /** §2.8 `active_invoice`: a lot an unpaid subscription invoice of its period may still need is kept. */
    creditExpiryHold: (async (tx, scope, lot) =>
      (await repo.hasUnpaidInvoiceCoveringLot(tx, scope, lot)) ? 'active_invoice' : null) satisfies ExpiryHold,

    unpaidInvoicesProvider: (async (executor, scope, wallet) => {
      if (wallet.wallet_type !== 'PRE_PAID') return {};
      const now = clock.now().getTime();
      const invoices = (
        await repo.listUnpaidInvoicesOfCustomer(executor, scope, wallet.customer_id, wallet.currency)
      ).filter(
        (invoice) => invoice.invoice_status !== 'DRAFT' || !invoice.period_end || invoice.period_end.getTime() <= now,
      );
      if (invoices.length === 0) return {};
      const lines = await repo.findLineItemsByInvoiceIds(
        executor,
        scope,
        invoices.map((i) => i.id),
      );
      let unpaid: Money = new Dec(0);
      let paid: Money = new Dec(0);
      for (const invoice of invoices) {
        unpaid = unpaid.plus(invoice.amount_remaining);
        paid = paid.plus(invoice.amount_paid);
      }
      let usage: Money = new Dec(0);
      for (const line of lines) {
        if (line.price_type !== 'USAGE') continue;
        usage = usage.plus(line.amount).minus(line.prepaid_credits_applied).minus(line.line_item_discount);
      }
      const allowed = wallet.config?.allowed_price_types ?? [];
      const coversFixed = allowed.includes('ALL') || allowed.includes('FIXED');
      return { unpaid_invoices_amount: coversFixed ? unpaid : usage.minus(paid) };
    }) satisfies PendingChargesProvider,

    // ---- payments -----------------------------------------------------------------------------------------------

    /**
     * `POST /v1/payments` (201): CREDITS (payment_method_id = a wallet of the invoice's customer) or OFFLINE, to a
     * FINALIZED invoice, at most its amount remaining; processed at once unless `process_payment: false` (then
     * PENDING until `/process`). The same idempotency key returns the original payment (409 if it differs).
     */
    async createPayment(scope: Scope, input: CreatePaymentInput): Promise<PaymentView> {
      return withTransaction(db, (tx) => createPaymentInTransaction(tx, scope, input));
    },

    async getPayment(scope: Scope, id: string): Promise<PaymentView> {
      const row = await repo.findPaymentById(db, scope, id);
      if (!row) throw notFound('payment', { id });
      return paymentViewOf(db, scope, row);
    },

    async listPayments(scope: Scope, search: PaymentSearch) {
      parseExpand(search.expand, []);
      const { limit, offset } = pageOf(search);
      oneOf(search.payment_status, PAYMENT_STATUSES, 'payment_status');
      oneOf(search.destination_type, ['INVOICE', 'CUSTOMER'] as const, 'destination_type');
      const { rows, total } = await repo.listPayments(db, scope, {
        ...search,
        limit,
        offset,
        start_time: parseTime(search.start_time, 'start_time'),
        end_time: parseTime(search.end_time, 'end_time'),
      });
      const numbers = await repo.invoiceNumbersByIds(
        db,
        scope,
        rows.filter((r) => r.destination_type === 'INVOICE').map((r) => r.destination_id),
      );
      return {
        items: rows.map((r) => paymentView(r, numbers.get(r.destination_id))),
        pagination: { total, limit, offset },
      };
    },

    /**
     * `PUT /v1/payments/{id}`: metadata, error_message, gateway fields; payment_status only among the unsettled
     * states (INITIATED, PENDING, PROCESSING) or FAILED. Success goes through `/process`, so the invoice and wallet
     * move with it. Errors: validation_error, not_found, invalid_operation (payment already settled).
     */
    async updatePayment(scope: Scope, id: string, input: UpdatePaymentInput): Promise<PaymentView> {
      const status = oneOf(
        input.payment_status,
        ['INITIATED', 'PENDING', 'PROCESSING', 'FAILED'] as const,
        'payment_status',
      );
      const failedAt = parseTime(input.failed_at, 'failed_at');
      return withTransaction(db, async (tx) => {
        const payment = await lockPayment(tx, scope, id);
        const unsettled = ['INITIATED', 'PENDING', 'PROCESSING'].includes(payment.payment_status);
        if (status && status !== payment.payment_status && !unsettled) {
          throw invalidOperation(`payment is ${payment.payment_status}; its status can no longer change`, { id });
        }
        const now = clock.now();
        const row = await repo.updatePaymentById(tx, scope, id, {
          ...(status ? { payment_status: status } : {}),
          ...(status === 'FAILED' ? { failed_at: failedAt ?? now } : {}),
          ...(input.error_message !== undefined ? { error_message: input.error_message } : {}),
          ...(input.gateway_payment_id !== undefined ? { gateway_payment_id: input.gateway_payment_id } : {}),
          ...(input.payment_gateway !== undefined ? { payment_gateway: input.payment_gateway } : {}),
          ...(input.payment_method_id !== undefined ? { payment_method_id: input.payment_method_id } : {}),
          ...(input.metadata !== undefined ? { metadata: JSON.stringify(input.metadata) } : {}),
          updated_at: now,
        });
        const view = await paymentViewOf(tx, scope, row);
        await emitPayment(tx, scope, 'payment.updated', view);
        if (status === 'FAILED' && payment.payment_status !== 'FAILED')
          await emitPayment(tx, scope, 'payment.failed', view);
        return view;
      });
    },

    /** `DELETE /v1/payments/{id}`: archives an unsettled or failed payment; a SUCCEEDED one is 400. */
    async deletePayment(scope: Scope, id: string): Promise<{ message: string }> {
      return withTransaction(db, async (tx) => {
        const payment = await lockPayment(tx, scope, id);
        if (PAID.includes(payment.payment_status)) {
          throw invalidOperation('a succeeded payment cannot be deleted', { id });
        }
        await repo.updatePaymentById(tx, scope, id, { status: 'deleted', updated_at: clock.now() });
        return { message: 'payment deleted successfully' };
      });
    },

    /** `POST /v1/payments/{id}/process`: processes a PENDING payment (see createPayment). */
    async processPayment(scope: Scope, id: string): Promise<PaymentView> {
      return withTransaction(db, async (tx) => {
        const row = await processPaymentLocked(tx, scope, await lockPayment(tx, scope, id));
        return paymentViewOf(tx, scope, row);
      });
    },
  };
}

export type InvoicesService = ReturnType<typeof createInvoicesService>;
