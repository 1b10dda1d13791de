import { columnToWire, Dec, type Money, toWire } from '../../platform/money.ts';
import type { CustomerView } from '../customers/customers.service.ts';
import type { InvoiceDraft } from '../billing/draft.ts';
import type { InvoiceLineItemRow, InvoiceRow } from './invoices.repo.ts';
import { invoiceTotals, lineAmount } from './totals.ts';

/** The API's InvoiceLineItemResponse. */
export interface InvoiceLineItemView {
  id: string;
  invoice_id: string;
  customer_id: string;
  subscription_id?: string;
  subscription_line_item_id?: string;
  entity_type?: string;
  entity_id?: string;
  price_id?: string;
  price_type?: string;
  plan_display_name?: string;
  meter_id?: string;
  meter_display_name?: string;
  display_name: string;
  quantity: string;
  adjusted_entitlement_quantity?: string;
  amount: string;
  currency: string;
  prepaid_credits_applied: string;
  line_item_discount: string;
  invoice_level_discount: string;
  period_start?: string;
  period_end?: string;
  metadata: Record<string, string>;
  status: string;
  tenant_id: string;
  environment_id: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

/** The API's InvoiceResponse (webhook payloads carry exactly this, with `customer`). */
export interface InvoiceView {
  id: string;
  customer_id: string;
  subscription_id?: string;
  subscription_customer_id?: string;
  invoice_type: string;
  invoice_status: string;
  payment_status: string;
  billing_reason: string;
  currency: string;
  subtotal: string;
  total_discount: string;
  total_tax: string;
  total_prepaid_credits_applied: string;
  total: string;
  amount_due: string;
  amount_paid: string;
  amount_remaining: string;
  overpaid_amount: string;
  adjustment_amount: string;
  refunded_amount: string;
  description: string;
  due_date?: string;
  issue_date: string;
  paid_at?: string;
  voided_at?: string;
  finalized_at?: string;
  last_computed_at?: string;
  billing_period?: string;
  period_start?: string;
  period_end?: string;
  invoice_number?: string;
  invoice_pdf_url?: string;
  billing_sequence?: number;
  idempotency_key?: string;
  is_manually_edited: boolean;
  metadata: Record<string, string>;
  version: number;
  line_items?: InvoiceLineItemView[];
  customer?: CustomerView;
  status: string;
  tenant_id: string;
  environment_id: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : undefined);

/** Drops undefined members so optional fields are absent, not null, on the wire. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as T;
}

export function lineItemView(row: InvoiceLineItemRow): InvoiceLineItemView {
  return compact({
    id: row.id,
    invoice_id: row.invoice_id,
    customer_id: row.customer_id,
    subscription_id: row.subscription_id ?? undefined,
    subscription_line_item_id: row.subscription_line_item_id ?? undefined,
    entity_type: row.entity_type ?? undefined,
    entity_id: row.entity_id ?? undefined,
    price_id: row.price_id ?? undefined,
    price_type: row.price_type ?? undefined,
    plan_display_name: row.plan_display_name ?? undefined,
    meter_id: row.meter_id ?? undefined,
    meter_display_name: row.meter_display_name ?? undefined,
    display_name: row.display_name,
    quantity: columnToWire(row.quantity),
    adjusted_entitlement_quantity:
      row.adjusted_entitlement_quantity === null ? undefined : columnToWire(row.adjusted_entitlement_quantity),
    amount: columnToWire(row.amount),
    currency: row.currency,
    prepaid_credits_applied: columnToWire(row.prepaid_credits_applied),
    line_item_discount: columnToWire(row.line_item_discount),
    invoice_level_discount: columnToWire(row.invoice_level_discount),
    period_start: iso(row.period_start),
    period_end: iso(row.period_end),
    metadata: row.metadata ?? {},
    status: row.status,
    tenant_id: row.tenant_id,
    environment_id: row.environment_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  });
}

export function invoiceView(
  row: InvoiceRow,
  lines?: InvoiceLineItemRow[],
  extras: { customer?: CustomerView | undefined } = {},
): InvoiceView {
  const view: InvoiceView = compact({
    id: row.id,
    customer_id: row.customer_id,
    subscription_id: row.subscription_id ?? undefined,
    subscription_customer_id: row.subscription_id ? row.customer_id : undefined,
    invoice_type: row.invoice_type,
    invoice_status: row.invoice_status,
    payment_status: row.payment_status,
    billing_reason: row.billing_reason,
    currency: row.currency,
    subtotal: columnToWire(row.subtotal),
    total_discount: columnToWire(row.total_discount),
    total_tax: columnToWire(row.total_tax),
    total_prepaid_credits_applied: columnToWire(row.total_prepaid_credits_applied),
    total: columnToWire(row.total),
    amount_due: columnToWire(row.amount_due),
    amount_paid: columnToWire(row.amount_paid),
    amount_remaining: columnToWire(row.amount_remaining),
    overpaid_amount: columnToWire(row.overpaid_amount),
    adjustment_amount: columnToWire(row.adjustment_amount),
    refunded_amount: columnToWire(row.refunded_amount),
    description: row.description,
    due_date: iso(row.due_date),
    issue_date: (row.issue_date ?? row.created_at).toISOString(),
    paid_at: iso(row.paid_at),
    voided_at: iso(row.voided_at),
    finalized_at: iso(row.finalized_at),
    // Drafts are written fully computed (the billing job computes before it writes), so at creation.
    last_computed_at: row.created_at.toISOString(),
    billing_period: row.billing_period ?? undefined,
    period_start: iso(row.period_start),
    period_end: iso(row.period_end),
    invoice_number: row.invoice_number ?? undefined,
    invoice_pdf_url: row.invoice_pdf_url ?? undefined,
    billing_sequence: row.billing_sequence ?? undefined,
    idempotency_key: row.idempotency_key ?? undefined,
    is_manually_edited: false,
    metadata: row.metadata ?? {},
    version: row.version,
    status: row.status,
    tenant_id: row.tenant_id,
    environment_id: row.environment_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  });
  if (lines) view.line_items = lines.map(lineItemView);
  if (extras.customer) view.customer = extras.customer;
  return view;
}

/**
 * The invoice a draft would become, rendered without writing anything (invoice preview): the same line rounding
 * and totals as createInvoiceFromDraft, no id and no number. `scope` and `now` fill the tenant fields and times.
 */
export function invoiceViewFromDraft(
  draft: InvoiceDraft,
  options: { tenantId?: string; environmentId?: string; now?: Date } = {},
): InvoiceView {
  const now = options.now ?? new Date(0);
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
  const tenant = { tenant_id: options.tenantId ?? '', environment_id: options.environmentId ?? '' };
  const audit = { created_at: now.toISOString(), updated_at: now.toISOString(), created_by: '', updated_by: '' };
  const view: InvoiceView = compact({
    id: '',
    customer_id: draft.customer_id,
    subscription_id: draft.subscription_id ?? undefined,
    subscription_customer_id: draft.subscription_id ? draft.customer_id : undefined,
    invoice_type: draft.invoice_type,
    invoice_status: 'DRAFT',
    payment_status: 'PENDING',
    billing_reason: draft.billing_reason,
    currency,
    ...wireTotals(totals),
    adjustment_amount: '0',
    refunded_amount: '0',
    description: '',
    issue_date: now.toISOString(),
    billing_period: draft.billing_period ?? undefined,
    period_start: iso(draft.period_start),
    period_end: iso(draft.period_end),
    idempotency_key: draft.idempotency_key ?? undefined,
    is_manually_edited: false,
    metadata: draft.metadata,
    version: 1,
    status: 'published',
    ...tenant,
    ...audit,
  });
  view.line_items = draft.lines.map((line, i) =>
    compact({
      id: '',
      invoice_id: '',
      customer_id: draft.customer_id,
      subscription_id: draft.subscription_id ?? undefined,
      subscription_line_item_id: line.subscription_line_item_id ?? undefined,
      entity_type: line.entity_type ?? undefined,
      entity_id: line.entity_id ?? undefined,
      price_id: line.price_id ?? undefined,
      price_type: line.price_type ?? undefined,
      plan_display_name: line.plan_display_name ?? undefined,
      meter_id: line.meter_id ?? undefined,
      meter_display_name: line.meter_display_name ?? undefined,
      display_name: line.display_name,
      quantity: toWire(line.quantity),
      adjusted_entitlement_quantity: line.adjusted_entitlement_quantity
        ? toWire(line.adjusted_entitlement_quantity)
        : undefined,
      amount: toWire(amounts[i] as Money),
      currency,
      prepaid_credits_applied: '0',
      line_item_discount: '0',
      invoice_level_discount: '0',
      period_start: iso(line.period_start),
      period_end: iso(line.period_end),
      metadata: line.metadata,
      status: 'published',
      ...tenant,
      ...audit,
    }),
  );
  return view;
}

/** The stored totals in wire form. */
export function wireTotals(totals: ReturnType<typeof invoiceTotals>) {
  return {
    subtotal: toWire(totals.subtotal),
    total_discount: toWire(totals.total_discount),
    total_tax: toWire(totals.total_tax),
    total_prepaid_credits_applied: toWire(totals.total_prepaid_credits_applied),
    total: toWire(totals.total),
    amount_due: toWire(totals.amount_due),
    amount_paid: toWire(totals.amount_paid),
    amount_remaining: toWire(totals.amount_remaining),
    overpaid_amount: toWire(totals.overpaid_amount),
  };
}
