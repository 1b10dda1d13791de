import { Type } from 'typebox';
import {
  DecimalInput,
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

export const CreateInvoiceLineItemRequest = Type.Object({
  amount: DecimalInput,
  quantity: DecimalInput,
  display_name: Type.Optional(Type.String({ maxLength: 255 })),
  entity_id: Type.Optional(Type.String({ maxLength: 50 })),
  entity_type: Type.Optional(Type.String({ maxLength: 20 })),
  plan_id: Type.Optional(Type.String({ maxLength: 50 })),
  plan_display_name: Type.Optional(Type.String({ maxLength: 255 })),
  price_id: Type.Optional(Type.String({ maxLength: 50 })),
  price_type: Type.Optional(Type.String({ maxLength: 10 })),
  meter_id: Type.Optional(Type.String({ maxLength: 50 })),
  meter_display_name: Type.Optional(Type.String({ maxLength: 255 })),
  subscription_line_item_id: Type.Optional(Type.String({ maxLength: 50 })),
  adjusted_entitlement_quantity: Type.Optional(DecimalInput),
  period_start: Type.Optional(Timestamp),
  period_end: Type.Optional(Timestamp),
  metadata: Type.Optional(Metadata),
});

export const CreateInvoiceRequest = Type.Object({
  customer_id: Type.String({ minLength: 1, maxLength: 50 }),
  currency: Type.String({ minLength: 3, maxLength: 3 }),
  amount_due: DecimalInput,
  subtotal: DecimalInput,
  total: DecimalInput,
  amount_paid: Type.Optional(DecimalInput),
  invoice_type: Type.Optional(StringEnum(INVOICE_TYPES)),
  invoice_status: Type.Optional(StringEnum(INVOICE_STATUSES)),
  payment_status: Type.Optional(StringEnum(PAYMENT_STATUSES)),
  billing_reason: Type.Optional(StringEnum(BILLING_REASONS)),
  billing_period: Type.Optional(Type.String({ maxLength: 50 })),
  subscription_id: Type.Optional(Type.String({ maxLength: 50 })),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  due_date: Type.Optional(Timestamp),
  issue_date: Type.Optional(Timestamp),
  period_start: Type.Optional(Timestamp),
  period_end: Type.Optional(Timestamp),
  idempotency_key: Type.Optional(Type.String({ maxLength: 255 })),
  invoice_pdf_url: Type.Optional(Type.String({ maxLength: 2000 })),
  metadata: Type.Optional(Metadata),
  line_items: Type.Optional(Type.Array(CreateInvoiceLineItemRequest, { maxItems: 1000 })),
  force_sync_invoice: Type.Optional(Type.Boolean()),
});

export const UpdateInvoiceRequest = Type.Object({
  due_date: Type.Optional(Timestamp),
  invoice_pdf_url: Type.Optional(Type.String({ maxLength: 2000 })),
  metadata: Type.Optional(Metadata),
  apply_discount: Type.Optional(Type.Boolean()),
});

export const UpdatePaymentStatusRequest = Type.Object({
  payment_status: StringEnum(PAYMENT_STATUSES),
  amount: Type.Optional(DecimalInput),
});

export const InvoicePdfQuery = Type.Object({
  url: Type.Optional(Type.Boolean()),
  force_generate: Type.Optional(Type.Boolean()),
});

export const CustomerInvoiceSummary = Type.Object(
  {
    customer_id: Type.String(),
    currency: Type.String(),
    total_invoice_count: Type.Integer(),
    unpaid_invoice_count: Type.Integer(),
    overdue_invoice_count: Type.Integer(),
    total_unpaid_amount: DecimalString,
    total_overdue_amount: DecimalString,
    total_revenue_amount: DecimalString,
    unpaid_usage_charges: DecimalString,
    unpaid_fixed_charges: DecimalString,
  },
  { title: 'CustomerInvoiceSummary' },
);

export const CustomerMultiCurrencyInvoiceSummary = Type.Object(
  {
    customer_id: Type.String(),
    default_currency: Type.String(),
    summaries: Type.Array(CustomerInvoiceSummary),
  },
  { title: 'CustomerMultiCurrencyInvoiceSummary' },
);

// ---- payments

export const PaymentResponse = Type.Object(
  {
    id: Type.String(),
    idempotency_key: Type.String(),
    destination_type: Type.String(),
    destination_id: Type.String(),
    payment_method_type: Type.String(),
    payment_method_id: Type.String(),
    payment_gateway: Type.Optional(Type.String()),
    gateway_payment_id: Type.Optional(Type.String()),
    gateway_metadata: Metadata,
    amount: DecimalString,
    currency: Type.String(),
    payment_status: Type.String({ description: PAYMENT_STATUSES.join(' | ') }),
    track_attempts: Type.Boolean(),
    save_card_and_make_default: Type.Boolean(),
    error_message: Type.Optional(Type.String()),
    succeeded_at: Type.Optional(Timestamp),
    failed_at: Type.Optional(Timestamp),
    refunded_at: Type.Optional(Timestamp),
    voided_at: Type.Optional(Timestamp),
    invoice_number: Type.Optional(Type.String()),
    metadata: Metadata,
    tenant_id: Type.String(),
    environment_id: Type.String(),
    status: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
  },
  { title: 'PaymentResponse' },
);

export const PaymentList = ListOf(PaymentResponse);

export const CreatePaymentRequest = Type.Object({
  amount: DecimalInput,
  currency: Type.String({ minLength: 3, maxLength: 3 }),
  destination_id: Type.String({ minLength: 1, maxLength: 50 }),
  destination_type: StringEnum(['INVOICE', 'CUSTOMER']),
  payment_method_type: StringEnum(['CARD', 'ACH', 'OFFLINE', 'CREDITS', 'PAYMENT_LINK', 'UPI']),
  payment_method_id: Type.Optional(Type.String({ maxLength: 100 })),
  idempotency_key: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(Metadata),
  process_payment: Type.Optional(Type.Boolean()),
});

export const UpdatePaymentRequest = Type.Object({
  error_message: Type.Optional(Type.String({ maxLength: 2000 })),
  failed_at: Type.Optional(Timestamp),
  gateway_payment_id: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(Metadata),
  payment_gateway: Type.Optional(Type.String({ maxLength: 50 })),
  payment_method_id: Type.Optional(Type.String({ maxLength: 100 })),
  payment_status: Type.Optional(Type.String()),
});

export const PaymentListQuery = Type.Object({
  ...ListQueryFields,
  payment_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  destination_type: Type.Optional(StringEnum(['INVOICE', 'CUSTOMER'])),
  destination_id: Type.Optional(Type.String()),
  payment_method_type: Type.Optional(Type.String()),
  payment_status: Type.Optional(StringEnum(PAYMENT_STATUSES)),
  payment_gateway: Type.Optional(Type.String()),
  gateway_payment_id: Type.Optional(Type.String()),
  currency: Type.Optional(Type.String()),
});
