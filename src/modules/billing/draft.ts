import type { Money } from '../../platform/money.ts';

/**
 * The hand-off between charge computation (subscriptions, usage, pricing) and invoicing: what one invoice should
 * contain, computed but not yet written. The billing job and the invoice preview produce drafts; the invoices module
 * writes them (`createInvoiceFromDraft`) or renders them without writing (preview).
 */
export type InvoiceType = 'SUBSCRIPTION' | 'ONE_OFF' | 'CREDIT';
export type BillingReason =
  | 'SUBSCRIPTION_CREATE'
  | 'SUBSCRIPTION_CYCLE'
  | 'SUBSCRIPTION_UPDATE'
  | 'SUBSCRIPTION_TRIAL_END'
  | 'SUBSCRIPTION_TRIAL_START'
  | 'PRORATION'
  | 'MANUAL'
  | 'AUTO_INVOICE_THRESHOLD'
  | 'WALLET_AUTO_TOPUP';

export interface InvoiceDraftLine {
  /** `plan` or `addon` (the source of the subscription line item), null for one-off lines. */
  entity_type: string | null;
  entity_id: string | null;
  subscription_line_item_id: string | null;
  price_id: string | null;
  price_type: 'FIXED' | 'USAGE' | null;
  plan_display_name: string | null;
  meter_id: string | null;
  meter_display_name: string | null;
  display_name: string;
  /** Billable quantity after entitlement allowances. */
  quantity: Money;
  /** Usage deducted by an entitlement allowance (null when no allowance applied). */
  adjusted_entitlement_quantity: Money | null;
  /** Priced charge, rounded to the currency's precision. */
  amount: Money;
  period_start: Date | null;
  period_end: Date | null;
  metadata: Record<string, string>;
}

export interface InvoiceDraft {
  customer_id: string;
  subscription_id: string | null;
  invoice_type: InvoiceType;
  billing_reason: BillingReason;
  currency: string;
  period_start: Date | null;
  period_end: Date | null;
  billing_period: string | null;
  /**
   * Exactly-once key within an environment: a second draft with the same key returns the invoice already written
   * (the billing job may run twice or crash halfway). Subscription periods use `<subscription_id>:<period_start ISO>`.
   */
  idempotency_key: string | null;
  lines: InvoiceDraftLine[];
  metadata: Record<string, string>;
}
