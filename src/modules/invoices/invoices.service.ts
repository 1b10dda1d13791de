import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, type Tx } from '../../platform/db/database.ts';
import { type FilterCondition, pageOf, parseExpand, type SortCondition } from '../../platform/db/query.ts';
import { notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { Dec, type Money, parseDecimal } from '../../platform/money.ts';
import type { InvoiceDraft } from '../billing/draft.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import * as repo from './invoices.repo.ts';
import { type InvoiceView, invoiceView, wireTotals } from './invoices.views.ts';
import { invoiceTotals, lineAmount } from './totals.ts';

export * from './invoices.views.ts';

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
  | 'invoice.update';
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

/** Invoices: one function per use case, each in one transaction (or in the caller's, for the `tx` variants). */
export function createInvoicesService(deps: {
  db: Db;
  clock: Clock;
  customers: Pick<CustomersService, 'findCustomerInTransaction' | 'getCustomer' | 'getCustomerByExternalId'>;
}) {
  const { db, clock, customers } = deps;
  const listeners: InvoiceEventListener[] = [];

  async function emit(tx: Tx, scope: Scope, type: InvoiceEventType, invoice: InvoiceView) {
    for (const listener of listeners) await listener(tx, scope, { type, invoice });
  }

  async function viewOf(executor: Executor, scope: Scope, row: repo.InvoiceRow): Promise<InvoiceView> {
    return invoiceView(row, await repo.findLineItemsByInvoiceIds(executor, scope, [row.id]));
  }

  /**
   * Writes a draft as a DRAFT invoice with its line items (amounts rounded half-up to the currency precision,
   * totals from totals.ts) in the caller's transaction, and emits invoice.create.drafted. Idempotent by
   * `draft.idempotency_key`: when an invoice with that key exists (whatever its status) it is returned and nothing
   * is written; concurrent calls with one key write one invoice. Errors: validation_error, not_found (customer).
   */
  async function createInvoiceFromDraft(tx: Tx, scope: Scope, draft: InvoiceDraft): Promise<InvoiceView> {
    checkDraft(draft);
    if (draft.idempotency_key) {
      const existing = await repo.findInvoiceByIdempotencyKey(tx, scope, draft.idempotency_key);
      if (existing) return viewOf(tx, scope, existing);
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
      description: '',
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
      const existing = await repo.findInvoiceByIdempotencyKey(tx, scope, draft.idempotency_key as string);
      if (!existing) throw new Error('invoice idempotency conflict without an invoice');
      return viewOf(tx, scope, existing);
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
    const view = invoiceView(row, lines);
    await emit(tx, scope, 'invoice.create.drafted', view);
    return view;
  }

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

  return {
    onEvent(listener: InvoiceEventListener): void {
      listeners.push(listener);
    },

    createInvoiceFromDraft,

    /** One invoice with its line items as seen in `tx`, or not_found. */
    async getInvoiceInTransaction(tx: Tx, scope: Scope, id: string): Promise<InvoiceView> {
      const row = await repo.findInvoiceById(tx, scope, id);
      if (!row) throw notFound('invoice', { id });
      return viewOf(tx, scope, row);
    },

    /** `GET /v1/invoices/{id}`: with line items and the customer; 404 in another environment. */
    async getInvoice(scope: Scope, id: string, expand?: string): Promise<InvoiceView> {
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
    },

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
  };
}

export type InvoicesService = ReturnType<typeof createInvoicesService>;
