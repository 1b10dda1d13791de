import { Type } from 'typebox';
import {
  DecimalString,
  ListOf,
  ListQueryFields,
  Metadata,
  SearchFields,
  StringEnum,
  Timestamp,
} from '../../platform/http/schemas.ts';
import { CustomerResponse } from '../customers/customers.schemas.ts';
import { BILLING_REASONS, INVOICE_STATUSES, INVOICE_TYPES, PAYMENT_STATUSES } from './invoices.service.ts';

export const InvoiceLineItemResponse = Type.Object(
  {
    id: Type.String(),
    invoice_id: Type.String(),
    customer_id: Type.String(),
    subscription_id: Type.Optional(Type.String()),
    subscription_line_item_id: Type.Optional(Type.String()),
    entity_type: Type.Optional(Type.String()),
    entity_id: Type.Optional(Type.String()),
    price_id: Type.Optional(Type.String()),
    price_type: Type.Optional(Type.String()),
    plan_display_name: Type.Optional(Type.String()),
    meter_id: Type.Optional(Type.String()),
    meter_display_name: Type.Optional(Type.String()),
    display_name: Type.String(),
    quantity: DecimalString,
    adjusted_entitlement_quantity: Type.Optional(DecimalString),
    amount: DecimalString,
    currency: Type.String(),
    prepaid_credits_applied: DecimalString,
    line_item_discount: DecimalString,
    invoice_level_discount: DecimalString,
    period_start: Type.Optional(Timestamp),
    period_end: Type.Optional(Timestamp),
    metadata: Metadata,
    status: Type.String(),
    tenant_id: Type.String(),
    environment_id: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
  },
  { title: 'InvoiceLineItemResponse' },
);

export const InvoiceResponse = Type.Object(
  {
    id: Type.String(),
    customer_id: Type.String(),
    subscription_id: Type.Optional(Type.String()),
    subscription_customer_id: Type.Optional(Type.String()),
    invoice_type: Type.String({ description: INVOICE_TYPES.join(' | ') }),
    invoice_status: Type.String({ description: INVOICE_STATUSES.join(' | ') }),
    payment_status: Type.String({ description: PAYMENT_STATUSES.join(' | ') }),
    billing_reason: Type.String({ description: BILLING_REASONS.join(' | ') }),
    currency: Type.String(),
    subtotal: DecimalString,
    total_discount: DecimalString,
    total_tax: DecimalString,
    total_prepaid_credits_applied: DecimalString,
    total: DecimalString,
    amount_due: DecimalString,
    amount_paid: DecimalString,
    amount_remaining: DecimalString,
    overpaid_amount: DecimalString,
    adjustment_amount: DecimalString,
    refunded_amount: DecimalString,
    description: Type.String(),
    due_date: Type.Optional(Timestamp),
    issue_date: Timestamp,
    paid_at: Type.Optional(Timestamp),
    voided_at: Type.Optional(Timestamp),
    finalized_at: Type.Optional(Timestamp),
    last_computed_at: Type.Optional(Timestamp),
    billing_period: Type.Optional(Type.String()),
    period_start: Type.Optional(Timestamp),
    period_end: Type.Optional(Timestamp),
    invoice_number: Type.Optional(Type.String()),
    invoice_pdf_url: Type.Optional(Type.String()),
    billing_sequence: Type.Optional(Type.Integer()),
    idempotency_key: Type.Optional(Type.String()),
    is_manually_edited: Type.Boolean(),
    metadata: Metadata,
    version: Type.Integer(),
    line_items: Type.Optional(Type.Array(InvoiceLineItemResponse)),
    customer: Type.Optional(CustomerResponse),
    status: Type.String(),
    tenant_id: Type.String(),
    environment_id: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
  },
  { title: 'InvoiceResponse' },
);

export const InvoiceList = ListOf(InvoiceResponse);

const DecimalFilter = Type.Union([Type.Number(), Type.String()]);

const InvoiceFilterFields = {
  customer_id: Type.Optional(Type.String()),
  external_customer_id: Type.Optional(Type.String()),
  subscription_id: Type.Optional(Type.String()),
  invoice_type: Type.Optional(StringEnum(INVOICE_TYPES)),
  billing_reason: Type.Optional(StringEnum(BILLING_REASONS)),
  currency: Type.Optional(Type.String({ maxLength: 3 })),
  amount_due_gt: Type.Optional(DecimalFilter),
  amount_remaining_gt: Type.Optional(DecimalFilter),
  period_start_gte: Type.Optional(Type.String()),
  period_start_lte: Type.Optional(Type.String()),
  period_end_gte: Type.Optional(Type.String()),
  period_end_lte: Type.Optional(Type.String()),
  skip_line_items: Type.Optional(Type.Boolean()),
};

export const InvoiceSearchRequest = Type.Object({
  ...SearchFields,
  ...InvoiceFilterFields,
  invoice_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  invoice_status: Type.Optional(Type.Array(StringEnum(INVOICE_STATUSES), { maxItems: 10 })),
  payment_status: Type.Optional(Type.Array(StringEnum(PAYMENT_STATUSES), { maxItems: 10 })),
  subscription_customer_id: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
});

/** The query string of `GET /v1/invoices`: the search fields, lists as repeated or comma-separated values. */
export const InvoiceListQuery = Type.Object({
  ...ListQueryFields,
  ...InvoiceFilterFields,
  invoice_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  invoice_status: Type.Optional(Type.Array(StringEnum(INVOICE_STATUSES), { maxItems: 10 })),
  payment_status: Type.Optional(Type.Array(StringEnum(PAYMENT_STATUSES), { maxItems: 10 })),
});

export const GetInvoiceQuery = Type.Object({
  expand: Type.Optional(Type.String()),
});
