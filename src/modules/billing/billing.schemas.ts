import { Type } from 'typebox';
import { ListOf, Metadata, Timestamp } from '../../platform/http/schemas.ts';
import { PriceResponse } from '../catalog/catalog.schemas.ts';

/** Amounts the reference types as JSON numbers: exact decimals serialised as numbers, as usage values are. */
const WireNumber = Type.Number();

export const SubscriptionUsageRequest = Type.Object({
  subscription_id: Type.String(),
  start_time: Type.Optional(Type.String({ format: 'date-time' })),
  end_time: Type.Optional(Type.String({ format: 'date-time' })),
  lifetime_usage: Type.Optional(Type.Boolean()),
});

export const SubscriptionUsageCharge = Type.Object({
  amount: WireNumber,
  currency: Type.String(),
  display_amount: Type.String(),
  quantity: WireNumber,
  meter_id: Type.String(),
  meter_display_name: Type.String(),
  subscription_line_item_id: Type.String(),
  filter_values: Type.Record(Type.String(), Type.Array(Type.String())),
  is_overage: Type.Boolean(),
  overage_factor: WireNumber,
  price: Type.Optional(PriceResponse),
});

export const SubscriptionUsageResponse = Type.Object(
  {
    amount: WireNumber,
    currency: Type.String(),
    display_amount: Type.String(),
    start_time: Timestamp,
    end_time: Timestamp,
    charges: Type.Array(SubscriptionUsageCharge),
    commitment_amount: WireNumber,
    commitment_utilized: WireNumber,
    has_overage: Type.Boolean(),
    overage_amount: WireNumber,
    overage_factor: WireNumber,
  },
  { title: 'GetUsageBySubscriptionResponse' },
);

export const CreditGrantApplicationResponse = Type.Object(
  {
    id: Type.String(),
    credit_grant_id: Type.String(),
    subscription_id: Type.String(),
    scheduled_for: Type.String(),
    period_start: Timestamp,
    period_end: Type.String(),
    applied_at: Type.String(),
    application_status: Type.String(),
    application_reason: Type.String(),
    subscription_status_at_application: Type.String(),
    credits: Type.String(),
    failure_reason: Type.String(),
    retry_count: Type.Integer(),
    idempotency_key: Type.String(),
    metadata: Metadata,
    status: Type.String(),
    tenant_id: Type.String(),
    environment_id: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
  },
  { title: 'CreditGrantApplicationResponse' },
);

export const CreditGrantApplicationList = ListOf(CreditGrantApplicationResponse);

export const PreviewInvoiceRequest = Type.Object({
  subscription_id: Type.String(),
  period_start: Type.Optional(Type.String({ format: 'date-time' })),
  period_end: Type.Optional(Type.String({ format: 'date-time' })),
  hide_zero_charges_line_items: Type.Optional(Type.Boolean()),
});
