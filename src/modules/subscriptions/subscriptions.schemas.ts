import { Type } from 'typebox';
import { DecimalString, ListOf, Metadata, SearchFields, StringEnum, Timestamp } from '../../platform/http/schemas.ts';
import { FeatureResponse } from '../catalog/features.schemas.ts';
import { BILLING_CYCLES, SUBSCRIPTION_BILLING_PERIODS } from './periods.ts';
import { CANCELLATION_TYPES } from './subscriptions.service.ts';

const SUBSCRIPTION_STATUSES = ['active', 'paused', 'cancelled', 'incomplete', 'trialing', 'draft'] as const;

export const CreateSubscriptionRequest = Type.Object({
  plan_id: Type.String({ minLength: 1, maxLength: 50 }),
  customer_id: Type.Optional(Type.String({ maxLength: 50 })),
  external_customer_id: Type.Optional(Type.String({ maxLength: 255 })),
  currency: Type.String({ minLength: 3, maxLength: 3 }),
  billing_period: StringEnum(SUBSCRIPTION_BILLING_PERIODS),
  // @flexprice/sdk requires and sends it; subscriptions are always recurring.
  billing_cadence: Type.Optional(StringEnum(['RECURRING'])),
  billing_period_count: Type.Optional(Type.Integer({ minimum: 1 })),
  billing_cycle: Type.Optional(StringEnum(BILLING_CYCLES)),
  start_date: Type.Optional(Timestamp),
  end_date: Type.Optional(Timestamp),
  trial_period_days: Type.Optional(Type.Integer({ minimum: 0 })),
  lookup_key: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(Metadata),
  collection_method: Type.Optional(StringEnum(['charge_automatically', 'send_invoice'])),
  payment_behavior: Type.Optional(
    StringEnum(['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'default_active']),
  ),
  payment_terms: Type.Optional(StringEnum(['15 NET', '30 NET', '45 NET', '60 NET', '75 NET', '90 NET'])),
  timezone: Type.Optional(Type.String({ maxLength: 64 })),
});

export const SubscriptionLineItemResponse = Type.Object(
  {
    id: Type.String(),
    subscription_id: Type.String(),
    customer_id: Type.String(),
    entity_type: Type.String({ description: 'plan | addon | subscription' }),
    entity_id: Type.String(),
    plan_display_name: Type.String(),
    price_id: Type.String(),
    price_type: Type.String(),
    meter_id: Type.Optional(Type.String()),
    meter_display_name: Type.String(),
    display_name: Type.String(),
    quantity: DecimalString,
    currency: Type.String(),
    billing_period: Type.String(),
    billing_period_count: Type.Integer(),
    invoice_cadence: Type.String(),
    price_unit_id: Type.Optional(Type.String()),
    price_unit: Type.Optional(Type.String()),
    start_date: Timestamp,
    end_date: Type.Optional(Timestamp),
    metadata: Metadata,
    status: Type.String({ description: 'published | archived | deleted' }),
    tenant_id: Type.String(),
    environment_id: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
  },
  { title: 'SubscriptionLineItemResponse' },
);

export const SubscriptionResponse = Type.Object(
  {
    id: Type.String(),
    customer_id: Type.String(),
    plan_id: Type.String(),
    lookup_key: Type.String(),
    currency: Type.String(),
    billing_cadence: StringEnum(['RECURRING']),
    billing_period: Type.String(),
    billing_period_count: Type.Integer(),
    billing_cycle: Type.String(),
    billing_anchor: Timestamp,
    start_date: Timestamp,
    end_date: Type.Optional(Timestamp),
    current_period_start: Timestamp,
    current_period_end: Timestamp,
    trial_start: Type.Optional(Timestamp),
    trial_end: Type.Optional(Timestamp),
    subscription_status: Type.String({ description: 'active | paused | cancelled | incomplete | trialing | draft' }),
    subscription_type: Type.String(),
    pause_status: Type.String(),
    cancel_at: Type.Optional(Timestamp),
    cancel_at_period_end: Type.Boolean(),
    cancelled_at: Type.Optional(Timestamp),
    collection_method: Type.String(),
    payment_behavior: Type.String(),
    payment_terms: Type.Optional(Type.String()),
    proration_behavior: Type.String(),
    timezone: Type.String(),
    metadata: Metadata,
    version: Type.Integer(),
    line_items: Type.Optional(Type.Array(SubscriptionLineItemResponse)),
    status: Type.String({ description: 'published | archived | deleted' }),
    tenant_id: Type.String(),
    environment_id: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
  },
  { title: 'SubscriptionResponse' },
);

export const SubscriptionList = ListOf(SubscriptionResponse);

export const SubscriptionSearchRequest = Type.Object({
  ...SearchFields,
  subscription_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  customer_id: Type.Optional(Type.String()),
  customer_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  external_customer_id: Type.Optional(Type.String()),
  plan_id: Type.Optional(Type.String()),
  subscription_status: Type.Optional(Type.Array(StringEnum(SUBSCRIPTION_STATUSES), { maxItems: 10 })),
  billing_period: Type.Optional(Type.Array(StringEnum(SUBSCRIPTION_BILLING_PERIODS), { maxItems: 10 })),
  active_at: Type.Optional(Timestamp),
  with_line_items: Type.Optional(Type.Boolean()),
});

export const CancelSubscriptionRequest = Type.Object({
  cancellation_type: StringEnum(CANCELLATION_TYPES),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
  cancel_at: Type.Optional(Timestamp),
  proration_behavior: Type.Optional(StringEnum(['none'])),
});

export const CancelSubscriptionResponse = Type.Object(
  {
    subscription_id: Type.String(),
    cancellation_type: StringEnum(CANCELLATION_TYPES),
    effective_date: Timestamp,
    status: Type.String({ description: 'the subscription_status after the request' }),
    reason: Type.String(),
    processed_at: Timestamp,
    message: Type.String(),
    total_credit_amount: DecimalString,
    // Always empty in this slice (no proration); the element shape is the reference's ProrationDetail.
    proration_details: Type.Array(
      Type.Object({
        line_item_id: Type.String(),
        price_id: Type.String(),
        plan_name: Type.String(),
        description: Type.String(),
        proration_days: Type.Integer(),
        original_amount: DecimalString,
        credit_amount: DecimalString,
        charge_amount: DecimalString,
      }),
    ),
  },
  { title: 'CancelSubscriptionResponse' },
);

const NullableLimit = Type.Union([Type.Integer(), Type.Null()], { description: 'null = unlimited' });

export const AggregatedFeature = Type.Object(
  {
    feature: FeatureResponse,
    entitlement: Type.Object({
      is_enabled: Type.Boolean(),
      usage_limit: Type.Optional(NullableLimit),
      is_soft_limit: Type.Boolean(),
      usage_reset_period: Type.Optional(Type.String()),
      static_values: Type.Array(Type.String()),
      config_values: Type.Array(Type.Record(Type.String(), Type.Unknown())),
      aggregation_mode: StringEnum(['additive', 'parallel']),
      buckets: Type.Array(
        Type.Object({ entitlement_id: Type.String(), source_entity_id: Type.String(), usage_limit: NullableLimit }),
      ),
    }),
    sources: Type.Array(
      Type.Object({
        subscription_id: Type.String(),
        entity_id: Type.String(),
        entity_type: StringEnum(['plan', 'subscription']),
        entity_name: Type.String(),
        quantity: Type.Integer(),
        entitlement_id: Type.String(),
        is_enabled: Type.Boolean(),
        usage_limit: Type.Optional(NullableLimit),
        usage_reset_period: Type.Optional(Type.String()),
        static_value: Type.Optional(Type.String()),
        config_value: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      }),
    ),
  },
  { title: 'AggregatedFeature' },
);

export const SubscriptionEntitlementsResponse = Type.Object(
  { subscription_id: Type.String(), plan_id: Type.String(), features: Type.Array(AggregatedFeature) },
  { title: 'SubscriptionEntitlementsResponse' },
);

export const CustomerEntitlementsResponse = Type.Object(
  {
    customer_id: Type.String(),
    subscriptions: Type.Array(SubscriptionResponse),
    features: Type.Array(AggregatedFeature),
  },
  { title: 'CustomerEntitlementsResponse' },
);

export const EntitlementsQuery = Type.Object({
  feature_ids: Type.Optional(Type.String({ description: 'comma-separated feature ids' })),
});
