import { type Insertable, type Selectable, sql, type Updateable } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import {
  applyFilters,
  applySort,
  type FieldMap,
  type FilterCondition,
  type SortCondition,
} from '../../platform/db/query.ts';
import type { InvoiceLineItemsTable, InvoicesTable, PaymentsTable } from '../../platform/db/schema.ts';
import type { Scope } from '../../platform/http/context.ts';

export type InvoiceRow = Selectable<InvoicesTable>;
export type InvoiceLineItemRow = Selectable<InvoiceLineItemsTable>;
export type PaymentRow = Selectable<PaymentsTable>;

export const INVOICE_FIELDS: FieldMap = {
  id: { column: 'id', type: 'string' },
  customer_id: { column: 'customer_id', type: 'string' },
  subscription_id: { column: 'subscription_id', type: 'string' },
  invoice_type: { column: 'invoice_type', type: 'string' },
  invoice_status: { column: 'invoice_status', type: 'string' },
  payment_status: { column: 'payment_status', type: 'string' },
  billing_reason: { column: 'billing_reason', type: 'string' },
  currency: { column: 'currency', type: 'string' },
  invoice_number: { column: 'invoice_number', type: 'string' },
  subtotal: { column: 'subtotal', type: 'number' },
  total: { column: 'total', type: 'number' },
  amount_due: { column: 'amount_due', type: 'number' },
  amount_paid: { column: 'amount_paid', type: 'number' },
  amount_remaining: { column: 'amount_remaining', type: 'number' },
  due_date: { column: 'due_date', type: 'date' },
  period_start: { column: 'period_start', type: 'date' },
  period_end: { column: 'period_end', type: 'date' },
  finalized_at: { column: 'finalized_at', type: 'date' },
  paid_at: { column: 'paid_at', type: 'date' },
  status: { column: 'status', type: 'string' },
  created_at: { column: 'created_at', type: 'date' },
  updated_at: { column: 'updated_at', type: 'date' },
};

/**
 * Inserts an invoice unless one with the same idempotency key exists in the environment: returns undefined then
 * (a concurrent insert of the same key waits for the other transaction and then does nothing).
 */
export async function insertInvoiceUnlessKeyExists(db: Executor, row: Insertable<InvoicesTable>) {
  return db
    .insertInto('invoices')
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['tenant_id', 'environment_id', 'idempotency_key'])
        .where('idempotency_key', 'is not', null)
        .doNothing(),
    )
    .returningAll()
    .executeTakeFirst();
}

export async function insertLineItems(db: Executor, rows: Array<Insertable<InvoiceLineItemsTable>>) {
  if (rows.length === 0) return [];
  return db.insertInto('invoice_line_items').values(rows).returningAll().execute();
}

export function findInvoiceById(db: Executor, scope: Scope, id: string, options: { forUpdate?: boolean } = {}) {
  let query = db
    .selectFrom('invoices')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where('status', '=', 'published');
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export function findInvoiceByIdempotencyKey(db: Executor, scope: Scope, key: string) {
  return db
    .selectFrom('invoices')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

export function updateInvoiceById(db: Executor, scope: Scope, id: string, changes: Updateable<InvoicesTable>) {
  return db
    .updateTable('invoices')
    .set(changes)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Line items of the invoices, in invoice order then position. */
export async function findLineItemsByInvoiceIds(db: Executor, scope: Scope, invoiceIds: string[]) {
  if (invoiceIds.length === 0) return [];
  return db
    .selectFrom('invoice_line_items')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('invoice_id', 'in', [...new Set(invoiceIds)])
    .where('status', '=', 'published')
    .orderBy('invoice_id')
    .orderBy('position')
    .execute();
}

export function updateLineItemById(db: Executor, scope: Scope, id: string, changes: Updateable<InvoiceLineItemsTable>) {
  return db
    .updateTable('invoice_line_items')
    .set(changes)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * The next number of a tenant+environment+bucket counter, in the caller's transaction. The upsert holds the
 * counter row's lock until the caller commits, so concurrent finalizations of one bucket take numbers one after
 * the other, and a rollback returns its number.
 */
export async function nextInvoiceSequence(db: Executor, scope: Scope, bucket: string, now: Date): Promise<number> {
  const row = await db
    .insertInto('invoice_sequences')
    .values({ tenant_id: scope.tenantId, environment_id: scope.environmentId, bucket, last_value: 1, updated_at: now })
    .onConflict((oc) =>
      oc.columns(['tenant_id', 'environment_id', 'bucket']).doUpdateSet({
        last_value: sql`invoice_sequences.last_value + 1`,
        updated_at: now,
      }),
    )
    .returning('last_value')
    .executeTakeFirstOrThrow();
  return Number(row.last_value);
}

export interface InvoiceFilter {
  limit: number;
  offset: number;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  invoice_ids?: string[] | undefined;
  customer_ids?: string[] | undefined;
  subscription_id?: string | undefined;
  invoice_type?: string | undefined;
  invoice_status?: string[] | undefined;
  payment_status?: string[] | undefined;
  billing_reason?: string | undefined;
  currency?: string | undefined;
  amount_due_gt?: string | undefined;
  amount_remaining_gt?: string | undefined;
  period_start_gte?: Date | undefined;
  period_start_lte?: Date | undefined;
  period_end_gte?: Date | undefined;
  period_end_lte?: Date | undefined;
  start_time?: Date | undefined;
  end_time?: Date | undefined;
}

const nonEmpty = (values: string[]) => (values.length ? values : ['']);

export async function listInvoices(db: Executor, scope: Scope, filter: InvoiceFilter) {
  let query = db
    .selectFrom('invoices')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('status', '=', filter.status ?? 'published');
  if (filter.invoice_ids) query = query.where('id', 'in', nonEmpty(filter.invoice_ids));
  if (filter.customer_ids) query = query.where('customer_id', 'in', nonEmpty(filter.customer_ids));
  if (filter.subscription_id !== undefined) query = query.where('subscription_id', '=', filter.subscription_id);
  if (filter.invoice_type !== undefined) query = query.where('invoice_type', '=', filter.invoice_type);
  if (filter.invoice_status?.length) query = query.where('invoice_status', 'in', filter.invoice_status);
  if (filter.payment_status?.length) query = query.where('payment_status', 'in', filter.payment_status);
  if (filter.billing_reason !== undefined) query = query.where('billing_reason', '=', filter.billing_reason);
  if (filter.currency !== undefined) query = query.where('currency', '=', filter.currency.toLowerCase());
  if (filter.amount_due_gt !== undefined) query = query.where('amount_due', '>', filter.amount_due_gt);
  if (filter.amount_remaining_gt !== undefined) {
    query = query.where('amount_remaining', '>', filter.amount_remaining_gt);
  }
  if (filter.period_start_gte) query = query.where('period_start', '>=', filter.period_start_gte);
  if (filter.period_start_lte) query = query.where('period_start', '<=', filter.period_start_lte);
  if (filter.period_end_gte) query = query.where('period_end', '>=', filter.period_end_gte);
  if (filter.period_end_lte) query = query.where('period_end', '<=', filter.period_end_lte);
  if (filter.start_time) query = query.where('created_at', '>=', filter.start_time);
  if (filter.end_time) query = query.where('created_at', '<=', filter.end_time);
  query = applyFilters(query, filter.filters, INVOICE_FIELDS, 'invoice');
  const countRow = await query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow();
  const rows = await applySort(query.selectAll(), filter.sort, filter.order, INVOICE_FIELDS, 'invoice')
    .limit(filter.limit)
    .offset(filter.offset)
    .execute();
  return { rows, total: Number(countRow.total) };
}

/** Published DRAFT and FINALIZED invoices of a customer in a currency that still owe something (§2.12). */
export function listUnpaidInvoicesOfCustomer(db: Executor, scope: Scope, customerId: string, currency: string) {
  return db
    .selectFrom('invoices')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('customer_id', '=', customerId)
    .where('currency', '=', currency.toLowerCase())
    .where('status', '=', 'published')
    .where('invoice_status', 'in', ['DRAFT', 'FINALIZED'])
    .where('payment_status', '<>', 'SUCCEEDED')
    .where('amount_remaining', '>', '0')
    .execute();
}

/** Every published, non-voided invoice of a customer (the invoice summary). */
export function listInvoicesOfCustomer(db: Executor, scope: Scope, customerId: string) {
  return db
    .selectFrom('invoices')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('customer_id', '=', customerId)
    .where('status', '=', 'published')
    .execute();
}

export function insertPayment(db: Executor, row: Insertable<PaymentsTable>) {
  return db.insertInto('payments').values(row).returningAll().executeTakeFirstOrThrow();
}

export function findPaymentById(db: Executor, scope: Scope, id: string, options: { forUpdate?: boolean } = {}) {
  let query = db
    .selectFrom('payments')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where('status', '=', 'published');
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export function findPaymentByIdempotencyKey(db: Executor, scope: Scope, key: string) {
  return db
    .selectFrom('payments')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('idempotency_key', '=', key)
    .where('status', '=', 'published')
    .executeTakeFirst();
}

export function updatePaymentById(db: Executor, scope: Scope, id: string, changes: Updateable<PaymentsTable>) {
  return db
    .updateTable('payments')
    .set(changes)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export const PAYMENT_FIELDS: FieldMap = {
  id: { column: 'id', type: 'string' },
  destination_type: { column: 'destination_type', type: 'string' },
  destination_id: { column: 'destination_id', type: 'string' },
  payment_method_type: { column: 'payment_method_type', type: 'string' },
  payment_status: { column: 'payment_status', type: 'string' },
  amount: { column: 'amount', type: 'number' },
  currency: { column: 'currency', type: 'string' },
  created_at: { column: 'created_at', type: 'date' },
  updated_at: { column: 'updated_at', type: 'date' },
};

export interface PaymentFilter {
  limit: number;
  offset: number;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: string | undefined;
  payment_ids?: string[] | undefined;
  destination_type?: string | undefined;
  destination_id?: string | undefined;
  payment_method_type?: string | undefined;
  payment_status?: string | undefined;
  payment_gateway?: string | undefined;
  gateway_payment_id?: string | undefined;
  currency?: string | undefined;
  start_time?: Date | undefined;
  end_time?: Date | undefined;
}

export async function listPayments(db: Executor, scope: Scope, filter: PaymentFilter) {
  let query = db
    .selectFrom('payments')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('status', '=', filter.status ?? 'published');
  if (filter.payment_ids) query = query.where('id', 'in', nonEmpty(filter.payment_ids));
  if (filter.destination_type !== undefined) query = query.where('destination_type', '=', filter.destination_type);
  if (filter.destination_id !== undefined) query = query.where('destination_id', '=', filter.destination_id);
  if (filter.payment_method_type !== undefined) {
    query = query.where('payment_method_type', '=', filter.payment_method_type);
  }
  if (filter.payment_status !== undefined) query = query.where('payment_status', '=', filter.payment_status);
  if (filter.payment_gateway !== undefined) query = query.where('payment_gateway', '=', filter.payment_gateway);
  if (filter.gateway_payment_id !== undefined) {
    query = query.where('gateway_payment_id', '=', filter.gateway_payment_id);
  }
  if (filter.currency !== undefined) query = query.where('currency', '=', filter.currency.toLowerCase());
  if (filter.start_time) query = query.where('created_at', '>=', filter.start_time);
  if (filter.end_time) query = query.where('created_at', '<=', filter.end_time);
  const countRow = await query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow();
  const rows = await applySort(query.selectAll(), filter.sort, filter.order, PAYMENT_FIELDS, 'payment')
    .limit(filter.limit)
    .offset(filter.offset)
    .execute();
  return { rows, total: Number(countRow.total) };
}

/** Invoice numbers by id (payment views show the number of the invoice they pay). */
export async function invoiceNumbersByIds(db: Executor, scope: Scope, ids: string[]) {
  if (ids.length === 0) return new Map<string, string | null>();
  const rows = await db
    .selectFrom('invoices')
    .select(['id', 'invoice_number'])
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', 'in', [...new Set(ids)])
    .execute();
  return new Map(rows.map((r) => [r.id, r.invoice_number]));
}

/**
 * SUBSCRIPTION drafts written at or before `writtenBefore`, every environment, oldest first (the draft-finalization
 * task). Only ids and scope; the task locks and re-checks each one.
 */
export function listDraftsDueForFinalization(db: Executor, writtenBefore: Date, limit: number) {
  return db
    .selectFrom('invoices')
    .select(['id', 'tenant_id', 'environment_id'])
    .where('invoice_type', '=', 'SUBSCRIPTION')
    .where('invoice_status', '=', 'DRAFT')
    .where('status', '=', 'published')
    .where('created_at', '<=', writtenBefore)
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

/**
 * The reference's `active_invoice` expiry rule (§2.8): an unpaid DRAFT or FINALIZED SUBSCRIPTION invoice of the
 * customer in the currency whose period [start, end) contains `createdAt` and ended on or before `expiry`.
 */
export async function hasUnpaidInvoiceCoveringLot(
  db: Executor,
  scope: Scope,
  lot: { customer_id: string; currency: string; created_at: Date; expiry_date: Date },
) {
  const row = await db
    .selectFrom('invoices')
    .select('id')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('customer_id', '=', lot.customer_id)
    .where('currency', '=', lot.currency.toLowerCase())
    .where('status', '=', 'published')
    .where('invoice_type', '=', 'SUBSCRIPTION')
    .where('invoice_status', 'in', ['DRAFT', 'FINALIZED'])
    .where('amount_remaining', '>', '0')
    .where('period_start', '<=', lot.created_at)
    .where('period_end', '>', lot.created_at)
    .where('period_end', '<=', lot.expiry_date)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** The subscription's payment terms (`30 NET`…; '' when none), read for its invoices' due date. */
export async function findSubscriptionPaymentTerms(db: Executor, scope: Scope, subscriptionId: string) {
  const row = await db
    .selectFrom('subscriptions')
    .select('payment_terms')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', subscriptionId)
    .executeTakeFirst();
  return row?.payment_terms;
}

/**
 * FINALIZED invoices (every tenant) past their due date with an amount remaining that have not been notified as
 * overdue, oldest due first (the partial index `invoices_overdue_candidates`).
 */
export function listOverdueUnnotified(db: Executor, now: Date, limit: number) {
  return db
    .selectFrom('invoices')
    .select(['id', 'tenant_id', 'environment_id'])
    .where('invoice_status', '=', 'FINALIZED')
    .where('overdue_notified_at', 'is', null)
    .where('due_date', 'is not', null)
    .where('amount_remaining', '>', '0')
    .where('due_date', '<', now)
    .where('status', '=', 'published')
    .where('payment_status', 'not in', ['SUCCEEDED', 'OVERPAID'])
    .orderBy('due_date')
    .orderBy('id')
    .limit(limit)
    .execute();
}
