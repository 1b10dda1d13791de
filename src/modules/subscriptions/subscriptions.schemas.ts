import { Type } from 'typebox';
import { DecimalString, ListOf, Metadata, SearchFields, StringEnum, Timestamp } from '../../platform/http/schemas.ts';
import { CreateCreditGrantRequest } from '../catalog/catalog.schemas.ts';
import { CREDIT_GRANT_SCOPES } from '../catalog/credit-grants.service.ts';
import { FeatureResponse } from '../catalog/features.schemas.ts';
import { BILLING_CYCLES, SUBSCRIPTION_BILLING_PERIODS } from './periods.ts';
import { CANCELLATION_TYPES } from './subscriptions.service.ts';
import { CustomerResponse } from '../customers/customers.schemas.ts';
import { ADDON_CADENCES } from './addons.ts';
import { PAUSE_MODES, RESUME_MODES } from './lifecycle.ts';
import { CHANGE_TIMINGS, PRORATION_BEHAVIORS } from './plan-change.ts';

const SUBSCRIPTION_STATUSES = ['active', 'paused', 'cancelled', 'incomplete', 'trialing', 'draft'] as const;

/**
 * The pricing fields a subscription may override on a plan price (`override_line_items` on create, a line item's
 * `PUT`): the override becomes a SUBSCRIPTION-scoped copy of the price.
 */
const priceOverrideFields = {
  amount: Type.Optional(DecimalString),
  billing_model: Type.Optional(StringEnum(['FLAT_FEE', 'PACKAGE', 'TIERED'])),
  tier_mode: Type.Optional(StringEnum(['VOLUME', 'SLAB'])),
  tiers: Type.Optional(
    Type.Array(
      Type.Object({
        up_to: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
        unit_amount: DecimalString,
        flat_amount: Type.Optional(DecimalString),
      }),
      { maxItems: 100 },
    ),
  ),
  transform_quantity: Type.Optional(
    Type.Object({ divide_by: Type.Integer({ minimum: 1 }), round: Type.Optional(StringEnum(['up', 'down'])) }),
  ),
};

/** A grant of the create body: the catalog's CreateCreditGrantRequest with `scope` implied (SUBSCRIPTION). */
export const SubscriptionCreditGrantRequest = Type.Object({
  ...CreateCreditGrantRequest.properties,
  scope: Type.Optional(StringEnum(CREDIT_GRANT_SCOPES)),
});

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
  subscription_status: Type.Optional(Type.Union([Type.String({ maxLength: 20 }), Type.Null()])),
  override_line_items: Type.Optional(
    Type.Union([
      Type.Array(
        Type.Object({
          price_id: Type.String({ minLength: 1, maxLength: 50 }),
          quantity: Type.Optional(DecimalString),
          ...priceOverrideFields,
        }),
        { maxItems: 100 },
      ),
      Type.Null(),
    ]),
  ),
  override_entitlements: Type.Optional(
    Type.Union([
      Type.Array(
        Type.Object({
          entitlement_id: Type.String({ minLength: 1, maxLength: 50 }),
          usage_limit: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
          is_enabled: Type.Optional(Type.Boolean()),
          static_value: Type.Optional(Type.String({ maxLength: 255 })),
          config_value: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
        }),
        { maxItems: 100 },
      ),
      Type.Null(),
    ]),
  ),
  credit_grants: Type.Optional(Type.Union([Type.Array(SubscriptionCreditGrantRequest, { maxItems: 50 }), Type.Null()])),
  addons: Type.Optional(
    Type.Union([
      Type.Array(
        Type.Object({
          addon_id: Type.String({ minLength: 1, maxLength: 50 }),
          cadence: Type.Optional(StringEnum(ADDON_CADENCES)),
          start_date: Type.Optional(Timestamp),
          metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          proration_behavior: Type.Optional(StringEnum(PRORATION_BEHAVIORS)),
        }),
        { maxItems: 50 },
      ),
      Type.Null(),
    ]),
  ),
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
    addon_association_id: Type.Optional(Type.String()),
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
    pause_status: Type.String({ description: 'none | active | scheduled | completed | cancelled' }),
    active_pause_id: Type.Optional(Type.String()),
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
  proration_behavior: Type.Optional(StringEnum(PRORATION_BEHAVIORS)),
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
        entity_type: StringEnum(['plan', 'addon', 'subscription']),
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

export const UpdateSubscriptionRequest = Type.Object({
  cancel_at: Type.Optional(Type.Union([Timestamp, Type.Null()])),
  cancel_at_period_end: Type.Optional(Type.Boolean()),
  parent_subscription_id: Type.Optional(Type.String({ maxLength: 50 })),
  status: Type.Optional(StringEnum(SUBSCRIPTION_STATUSES)),
});

export const ActivateDraftSubscriptionRequest = Type.Object({ start_date: Timestamp });

export const SubscriptionResponseV2 = Type.Object(
  { ...SubscriptionResponse.properties, customer: Type.Optional(CustomerResponse) },
  { title: 'SubscriptionResponseV2' },
);

export const SubscriptionV2Query = Type.Object({
  expand: Type.Optional(Type.String({ description: 'subscription_line_items, customer' })),
});

export const PauseSubscriptionRequest = Type.Object({
  pause_mode: StringEnum(PAUSE_MODES),
  pause_start: Type.Optional(Timestamp),
  pause_end: Type.Optional(Timestamp),
  pause_days: Type.Optional(Type.Integer({ minimum: 1 })),
  reason: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(Metadata),
  dry_run: Type.Optional(Type.Boolean()),
});

export const ResumeSubscriptionRequest = Type.Object({
  resume_mode: StringEnum(RESUME_MODES),
  metadata: Type.Optional(Metadata),
  dry_run: Type.Optional(Type.Boolean()),
});

export const SubscriptionPauseResponse = Type.Object(
  {
    id: Type.String(),
    subscription_id: Type.String(),
    pause_status: Type.String({ description: 'active | scheduled | completed | cancelled' }),
    pause_mode: Type.String(),
    resume_mode: Type.Optional(Type.String()),
    pause_start: Timestamp,
    pause_end: Type.Optional(Timestamp),
    resumed_at: Type.Optional(Timestamp),
    original_period_start: Timestamp,
    original_period_end: Timestamp,
    reason: Type.String(),
    metadata: Metadata,
    status: Type.String(),
    tenant_id: Type.String(),
    environment_id: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
  },
  { title: 'SubscriptionPauseResponse' },
);

export const AddAddonRequest = Type.Object({
  subscription_id: Type.String({ minLength: 1, maxLength: 50 }),
  addon_id: Type.String({ minLength: 1, maxLength: 50 }),
  cadence: Type.Optional(StringEnum(ADDON_CADENCES)),
  start_date: Type.Optional(Timestamp),
  metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  proration_behavior: Type.Optional(StringEnum(PRORATION_BEHAVIORS)),
});

export const AddonAssociationResponse = Type.Object(
  {
    id: Type.String(),
    entity_type: Type.String({ description: 'subscription' }),
    entity_id: Type.String(),
    addon_id: Type.String(),
    addon_status: Type.String({ description: 'active | cancelled | pending' }),
    start_date: Timestamp,
    end_date: Type.Optional(Timestamp),
    cancelled_at: Type.Optional(Timestamp),
    cancellation_reason: Type.String(),
    metadata: Type.Record(Type.String(), Type.Unknown()),
    status: Type.String(),
    tenant_id: Type.String(),
    environment_id: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
  },
  { title: 'AddonAssociationResponse' },
);

export const RemoveAddonRequest = Type.Object({
  addon_association_id: Type.String({ minLength: 1, maxLength: 50 }),
  effective_date: Type.Optional(Timestamp),
  proration_behavior: Type.Optional(StringEnum(PRORATION_BEHAVIORS)),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
});

export const SuccessResponse = Type.Object({ message: Type.String() }, { title: 'SuccessResponse' });

export const CreateSubscriptionLineItemRequest = Type.Object({
  price_id: Type.Optional(Type.String({ maxLength: 50 })),
  quantity: Type.Optional(Type.Number({ minimum: 0 })),
  display_name: Type.Optional(Type.String({ maxLength: 255 })),
  start_date: Type.Optional(Timestamp),
  end_date: Type.Optional(Timestamp),
  metadata: Type.Optional(Metadata),
  proration_behavior: Type.Optional(StringEnum(['none'])),
});

export const UpdateSubscriptionLineItemRequest = Type.Object({
  metadata: Type.Optional(Metadata),
  effective_from: Type.Optional(Timestamp),
  ...priceOverrideFields,
});

export const DeleteSubscriptionLineItemRequest = Type.Object({
  effective_from: Type.Optional(Timestamp),
  proration_behavior: Type.Optional(StringEnum(PRORATION_BEHAVIORS)),
});

export const SubscriptionLineItemFilter = Type.Object({
  ...SearchFields,
  active_filter: Type.Optional(Type.Boolean()),
  subscription_line_item_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  subscription_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  customer_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  price_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  meter_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  entity_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  entity_type: Type.Optional(StringEnum(['plan', 'addon', 'subscription'])),
  addon_association_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  currencies: Type.Optional(Type.Array(Type.String(), { maxItems: 100 })),
  billing_periods: Type.Optional(Type.Array(StringEnum(SUBSCRIPTION_BILLING_PERIODS), { maxItems: 10 })),
});

export const SubscriptionLineItemList = ListOf(SubscriptionLineItemResponse);

export const SubscriptionChangeRequest = Type.Object({
  target_plan_id: Type.String({ minLength: 1, maxLength: 50 }),
  proration_behavior: StringEnum(PRORATION_BEHAVIORS),
  billing_cadence: StringEnum(['RECURRING', 'ONETIME']),
  billing_cycle: StringEnum(BILLING_CYCLES),
  billing_period: StringEnum(SUBSCRIPTION_BILLING_PERIODS),
  billing_period_count: Type.Optional(Type.Integer({ minimum: 1 })),
  change_at: Type.Optional(StringEnum(CHANGE_TIMINGS)),
  metadata: Type.Optional(Metadata),
});

const PlanSummary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  lookup_key: Type.String(),
  description: Type.String(),
});

const ProrationDetails = Type.Object({
  credit_amount: DecimalString,
  credit_description: Type.String(),
  charge_amount: DecimalString,
  charge_description: Type.String(),
  net_amount: DecimalString,
  currency: Type.String(),
  current_period_start: Timestamp,
  current_period_end: Timestamp,
  proration_date: Timestamp,
  days_used: Type.Integer(),
  days_remaining: Type.Integer(),
});

const CHANGE_TYPES = ['upgrade', 'downgrade', 'lateral'] as const;

export const SubscriptionChangePreviewResponse = Type.Object(
  {
    subscription_id: Type.String(),
    current_plan: PlanSummary,
    target_plan: PlanSummary,
    change_type: StringEnum(CHANGE_TYPES),
    effective_date: Timestamp,
    proration_details: ProrationDetails,
    next_invoice_preview: Type.Object({
      currency: Type.String(),
      line_items: Type.Array(
        Type.Object({
          description: Type.String(),
          amount: DecimalString,
          quantity: DecimalString,
          unit_price: DecimalString,
          period_start: Timestamp,
          period_end: Timestamp,
          is_proration: Type.Boolean(),
        }),
      ),
      subtotal: DecimalString,
      tax_amount: DecimalString,
      total: DecimalString,
      due_date: Timestamp,
    }),
    new_billing_cycle: Type.Object({
      billing_anchor: Timestamp,
      billing_cadence: Type.String(),
      billing_period: Type.String(),
      billing_period_count: Type.Integer(),
      period_start: Timestamp,
      period_end: Timestamp,
    }),
    warnings: Type.Array(Type.String()),
    metadata: Metadata,
  },
  { title: 'SubscriptionChangePreviewResponse' },
);

const SubscriptionSummary = Type.Object({
  id: Type.String(),
  plan_id: Type.String(),
  status: Type.String(),
  billing_anchor: Timestamp,
  current_period_start: Timestamp,
  current_period_end: Timestamp,
  created_at: Timestamp,
});

export const SubscriptionChangeExecuteResponse = Type.Object(
  {
    change_type: StringEnum(CHANGE_TYPES),
    effective_date: Timestamp,
    is_scheduled: Type.Boolean(),
    schedule_id: Type.Optional(Type.String({ description: 'the pending schedule (change_at end_of_period)' })),
    scheduled_at: Type.Optional(Timestamp),
    old_subscription: SubscriptionSummary,
    new_subscription: SubscriptionSummary,
    proration_applied: ProrationDetails,
    invoice: Type.Optional(Type.Unknown({ description: 'the PRORATION invoice written by the invoices module' })),
    metadata: Metadata,
  },
  { title: 'SubscriptionChangeExecuteResponse' },
);

const SCHEDULE_STATUSES = ['pending', 'executing', 'executed', 'cancelled', 'failed'] as const;
const SCHEDULE_TYPES = ['plan_change', 'cancellation'] as const;

export const SubscriptionScheduleResponse = Type.Object(
  {
    id: Type.String(),
    subscription_id: Type.String(),
    schedule_type: Type.String({ description: SCHEDULE_TYPES.join(' | ') }),
    scheduled_at: Timestamp,
    status: Type.String({ description: SCHEDULE_STATUSES.join(' | ') }),
    configuration: Type.Record(Type.String(), Type.Unknown()),
    execution_result: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    executed_at: Type.Optional(Timestamp),
    cancelled_at: Type.Optional(Timestamp),
    error_message: Type.Optional(Type.String()),
    can_be_cancelled: Type.Boolean(),
    days_until_execution: Type.Integer(),
    metadata: Metadata,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'SubscriptionScheduleResponse' },
);

export const GetPendingSchedulesResponse = Type.Object(
  { schedules: Type.Array(SubscriptionScheduleResponse), count: Type.Integer() },
  { title: 'GetPendingSchedulesResponse' },
);

export const CancelScheduleRequest = Type.Object({
  schedule_id: Type.Optional(Type.String()),
  subscription_id: Type.Optional(Type.String()),
  schedule_type: Type.Optional(StringEnum(SCHEDULE_TYPES)),
});

export const CancelScheduleResponse = Type.Object(
  { message: Type.String(), status: Type.String({ description: SCHEDULE_STATUSES.join(' | ') }) },
  { title: 'CancelScheduleResponse' },
);
