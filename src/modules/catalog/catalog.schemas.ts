import { Type } from 'typebox';
import {
  DecimalInput,
  ListOf,
  ListQueryFields,
  Metadata,
  SearchFields,
  StringEnum,
  Timestamp,
} from '../../platform/http/schemas.ts';
import {
  CREDIT_GRANT_CADENCES,
  CREDIT_GRANT_PERIODS,
  CREDIT_GRANT_SCOPES,
  EXPIRATION_TYPES,
  EXPIRATION_UNITS,
} from './credit-grants.service.ts';
import { AGGREGATION_MODES, ENTITLEMENT_ENTITY_TYPES, USAGE_RESET_PERIODS } from './entitlements.service.ts';
import { AuditFields, FeatureResponse, MeterResponse } from './features.schemas.ts';
import { FEATURE_TYPES } from './features.service.ts';
import { ADDON_TYPES } from './plans.service.ts';
import {
  BILLING_CADENCES,
  BILLING_MODELS,
  BILLING_PERIODS,
  INVOICE_CADENCES,
  MAX_BULK_PRICES,
  PRICE_ENTITY_TYPES,
  PRICE_TYPES,
  PRICE_UNIT_TYPES,
  TIER_MODES,
} from './prices.service.ts';

const ids = (description: string) => Type.Optional(Type.Array(Type.String(), { maxItems: 1000, description }));
const csv = (description: string) => Type.Optional(Type.String({ description: `comma-separated ${description}` }));
const OptionalDate = Type.Optional(Timestamp);

// ---- prices ----

const TierInput = Type.Object({
  up_to: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  unit_amount: DecimalInput,
  flat_amount: Type.Optional(DecimalInput),
});
const TransformQuantity = Type.Object({
  divide_by: Type.Integer(),
  round: Type.Optional(StringEnum(['up', 'down'])),
});

export const CreatePriceRequest = Type.Object({
  entity_type: StringEnum(PRICE_ENTITY_TYPES),
  entity_id: Type.String({ maxLength: 50 }),
  type: StringEnum(PRICE_TYPES),
  billing_model: StringEnum(BILLING_MODELS),
  billing_period: StringEnum(BILLING_PERIODS),
  billing_period_count: Type.Optional(Type.Integer()),
  billing_cadence: Type.Optional(StringEnum(BILLING_CADENCES)),
  invoice_cadence: StringEnum(INVOICE_CADENCES),
  currency: Type.String({ maxLength: 3 }),
  price_unit_type: StringEnum(PRICE_UNIT_TYPES),
  amount: Type.Optional(DecimalInput),
  meter_id: Type.Optional(Type.String({ maxLength: 50 })),
  filter_values: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
  lookup_key: Type.Optional(Type.String({ maxLength: 255 })),
  trial_period_days: Type.Optional(Type.Integer()),
  trial_period: Type.Optional(Type.Integer({ description: 'alias of trial_period_days (sent by the SDK)' })),
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  display_name: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(Metadata),
  tier_mode: Type.Optional(StringEnum(TIER_MODES)),
  tiers: Type.Optional(Type.Array(TierInput, { maxItems: 100 })),
  transform_quantity: Type.Optional(TransformQuantity),
  price_unit_config: Type.Optional(
    Type.Object({
      price_unit: Type.String({ maxLength: 10 }),
      amount: Type.Optional(DecimalInput),
      price_unit_tiers: Type.Optional(Type.Array(TierInput, { maxItems: 100 })),
    }),
  ),
  start_date: OptionalDate,
  end_date: OptionalDate,
  min_quantity: Type.Optional(DecimalInput),
  group_id: Type.Optional(Type.String({ maxLength: 50 })),
});

export const CreateBulkPriceRequest = Type.Object({
  items: Type.Array(CreatePriceRequest, { minItems: 1, maxItems: MAX_BULK_PRICES }),
});

export const UpdatePriceRequest = Type.Object({
  amount: Type.Optional(DecimalInput),
  billing_model: Type.Optional(StringEnum(BILLING_MODELS)),
  tier_mode: Type.Optional(StringEnum(TIER_MODES)),
  tiers: Type.Optional(Type.Array(TierInput, { maxItems: 100 })),
  transform_quantity: Type.Optional(TransformQuantity),
  price_unit_amount: Type.Optional(DecimalInput),
  price_unit_tiers: Type.Optional(Type.Array(TierInput, { maxItems: 100 })),
  effective_from: Type.Optional(Timestamp),
  lookup_key: Type.Optional(Type.String({ maxLength: 255 })),
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  display_name: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(Metadata),
  group_id: Type.Optional(Type.String({ maxLength: 50 })),
});

export const DeletePriceRequest = Type.Object({ end_date: OptionalDate });

const TierResponse = Type.Object({
  up_to: Type.Optional(Type.Integer()),
  unit_amount: Type.String(),
  flat_amount: Type.Optional(Type.String()),
});

export const PriceUnitResponse = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    code: Type.String(),
    symbol: Type.String(),
    base_currency: Type.String(),
    conversion_rate: Type.String(),
    metadata: Metadata,
    ...AuditFields,
  },
  { title: 'PriceUnitResponse' },
);
/** A plan or addon as it appears inside its own prices and entitlements: without its children. */
const planFields = {
  id: Type.String(),
  name: Type.String(),
  lookup_key: Type.String(),
  description: Type.String(),
  display_order: Type.Integer(),
  metadata: Metadata,
};
const AddonMetadata = Type.Record(Type.String(), Type.Unknown());
const addonFields = {
  id: Type.String(),
  name: Type.String(),
  lookup_key: Type.String(),
  description: Type.String(),
  type: Type.String(),
  metadata: AddonMetadata,
};
const OwnerPlan = Type.Object({ ...planFields, ...AuditFields });
const OwnerAddon = Type.Object({ ...addonFields, ...AuditFields });
const owner = {
  plan: Type.Optional(OwnerPlan),
  addon: Type.Optional(OwnerAddon),
};

export const PriceResponse = Type.Object(
  {
    id: Type.String(),
    entity_type: Type.String(),
    entity_id: Type.String(),
    type: Type.String(),
    billing_model: Type.String(),
    billing_cadence: Type.String(),
    billing_period: Type.String(),
    billing_period_count: Type.Integer(),
    invoice_cadence: Type.String(),
    currency: Type.String(),
    amount: Type.String(),
    display_amount: Type.String(),
    price_unit_type: Type.String(),
    price_unit_id: Type.Optional(Type.String()),
    price_unit: Type.Optional(Type.String()),
    price_unit_amount: Type.Optional(Type.String()),
    display_price_unit_amount: Type.Optional(Type.String()),
    price_unit_tiers: Type.Optional(Type.Array(TierResponse)),
    conversion_rate: Type.Optional(Type.String()),
    tier_mode: Type.Optional(Type.String()),
    tiers: Type.Optional(Type.Array(TierResponse)),
    transform_quantity: Type.Optional(Type.Object({ divide_by: Type.Integer(), round: Type.String() })),
    meter_id: Type.String(),
    meter: Type.Optional(MeterResponse),
    filter_values: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
    lookup_key: Type.String(),
    trial_period_days: Type.Integer(),
    trial_period: Type.Integer(),
    min_quantity: Type.Optional(Type.String()),
    description: Type.String(),
    display_name: Type.String(),
    group_id: Type.String(),
    parent_price_id: Type.Optional(Type.String()),
    start_date: OptionalDate,
    end_date: OptionalDate,
    metadata: Metadata,
    pricing_unit: Type.Optional(PriceUnitResponse),
    ...owner,
    ...AuditFields,
  },
  { title: 'PriceResponse' },
);
export const PriceList = ListOf(PriceResponse);
export const BulkPriceResponse = Type.Object({ items: Type.Array(PriceResponse) });

export const PriceSearchRequest = Type.Object({
  ...SearchFields,
  price_ids: ids('price ids'),
  entity_type: Type.Optional(StringEnum(PRICE_ENTITY_TYPES)),
  entity_ids: ids('entity ids'),
  plan_ids: ids('plan ids'),
  meter_ids: ids('meter ids'),
  billing_periods: Type.Optional(Type.Array(StringEnum(BILLING_PERIODS), { maxItems: 10 })),
  parent_price_id: Type.Optional(Type.String()),
  allow_expired_prices: Type.Optional(Type.Boolean()),
  start_date_lt: Type.Optional(Timestamp),
});
export const PriceListQuery = Type.Object({
  ...ListQueryFields,
  price_ids: csv('price ids'),
  entity_type: Type.Optional(StringEnum(PRICE_ENTITY_TYPES)),
  entity_ids: csv('entity ids'),
  plan_ids: csv('plan ids'),
  meter_ids: csv('meter ids'),
  allow_expired_prices: Type.Optional(Type.Boolean()),
});

// ---- price units ----

export const CreatePriceUnitRequest = Type.Object({
  name: Type.String({ maxLength: 255 }),
  code: Type.String({ maxLength: 3 }),
  symbol: Type.String({ maxLength: 10 }),
  base_currency: Type.String({ maxLength: 3 }),
  conversion_rate: DecimalInput,
  metadata: Type.Optional(Metadata),
});
export const UpdatePriceUnitRequest = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(Metadata),
});
export const PriceUnitList = ListOf(PriceUnitResponse);
export const PriceUnitSearchRequest = Type.Object({ ...SearchFields, price_unit_ids: ids('price unit ids') });
/** The reference's query parameters of `GET /prices/units` (no expand or time range: those are search-only). */
export const PriceUnitListQuery = Type.Omit(Type.Object({ ...ListQueryFields }), ['expand', 'start_time', 'end_time']);
export const CodeParams = Type.Object({ code: Type.String({ minLength: 1, maxLength: 10 }) });

// ---- credit grants ----

export const CreateCreditGrantRequest = Type.Object({
  name: Type.String({ maxLength: 255 }),
  scope: StringEnum(CREDIT_GRANT_SCOPES),
  plan_id: Type.Optional(Type.String({ maxLength: 50 })),
  addon_id: Type.Optional(Type.String({ maxLength: 50 })),
  subscription_id: Type.Optional(Type.String({ maxLength: 50 })),
  credits: DecimalInput,
  cadence: StringEnum(CREDIT_GRANT_CADENCES),
  period: Type.Optional(StringEnum(CREDIT_GRANT_PERIODS)),
  period_count: Type.Optional(Type.Integer()),
  expiration_type: Type.Optional(StringEnum(EXPIRATION_TYPES)),
  expiration_duration: Type.Optional(Type.Integer()),
  expiration_duration_unit: Type.Optional(StringEnum(EXPIRATION_UNITS)),
  priority: Type.Optional(Type.Integer()),
  conversion_rate: Type.Optional(DecimalInput),
  topup_conversion_rate: Type.Optional(DecimalInput),
  start_date: OptionalDate,
  end_date: OptionalDate,
  metadata: Type.Optional(Metadata),
});
export const UpdateCreditGrantRequest = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(Metadata),
  end_date: OptionalDate,
});
export const DeleteCreditGrantRequest = Type.Object({ effective_date: OptionalDate });
export const CreditGrantResponse = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    scope: Type.String(),
    plan_id: Type.Optional(Type.String()),
    addon_id: Type.Optional(Type.String()),
    subscription_id: Type.Optional(Type.String()),
    credits: Type.String(),
    cadence: Type.String(),
    period: Type.Optional(Type.String()),
    period_count: Type.Optional(Type.Integer()),
    expiration_type: Type.String(),
    expiration_duration: Type.Optional(Type.Integer()),
    expiration_duration_unit: Type.Optional(Type.String()),
    priority: Type.Optional(Type.Integer()),
    conversion_rate: Type.Optional(Type.String()),
    topup_conversion_rate: Type.Optional(Type.String()),
    start_date: OptionalDate,
    end_date: OptionalDate,
    credit_grant_anchor: OptionalDate,
    metadata: Metadata,
    ...AuditFields,
  },
  { title: 'CreditGrantResponse' },
);
export const CreditGrantList = ListOf(CreditGrantResponse);
export const CreditGrantListQuery = Type.Object({
  ...ListQueryFields,
  plan_ids: csv('plan ids'),
  addon_ids: csv('addon ids'),
  subscription_ids: csv('subscription ids'),
  scope: Type.Optional(StringEnum(CREDIT_GRANT_SCOPES)),
});

// ---- entitlements ----

// Entitlement grants (quota per duration) exist in the reference; they are declared so a request using them gets a
// clear 400 instead of having the fields silently dropped.
const grantFields = {
  grant_measure: Type.Optional(Type.Unknown()),
  grant_duration_value: Type.Optional(Type.Unknown()),
  grant_duration_unit: Type.Optional(Type.Unknown()),
  grant_allocation_behavior: Type.Optional(Type.Unknown()),
  grant_quota: Type.Optional(Type.Unknown()),
};
const UsageLimit = Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'null = unlimited' });
const ConfigValue = Type.Record(Type.String(), Type.Unknown());

export const CreateEntitlementRequest = Type.Object({
  plan_id: Type.Optional(Type.String({ maxLength: 50 })),
  entity_type: Type.Optional(StringEnum(ENTITLEMENT_ENTITY_TYPES)),
  entity_id: Type.Optional(Type.String({ maxLength: 50 })),
  feature_id: Type.String({ maxLength: 50 }),
  feature_type: StringEnum(FEATURE_TYPES),
  is_enabled: Type.Optional(Type.Boolean()),
  usage_limit: Type.Optional(UsageLimit),
  usage_reset_period: Type.Optional(StringEnum(USAGE_RESET_PERIODS)),
  is_soft_limit: Type.Optional(Type.Boolean()),
  static_value: Type.Optional(Type.String({ maxLength: 4096 })),
  config_value: Type.Optional(ConfigValue),
  parent_entitlement_id: Type.Optional(Type.String({ maxLength: 50 })),
  aggregation_mode: Type.Optional(StringEnum(AGGREGATION_MODES)),
  start_date: OptionalDate,
  end_date: OptionalDate,
  ...grantFields,
});
export const CreateBulkEntitlementRequest = Type.Object({
  items: Type.Array(CreateEntitlementRequest, { minItems: 1, maxItems: 100 }),
});
export const UpdateEntitlementRequest = Type.Object({
  is_enabled: Type.Optional(Type.Boolean()),
  usage_limit: Type.Optional(UsageLimit),
  usage_reset_period: Type.Optional(StringEnum(USAGE_RESET_PERIODS)),
  is_soft_limit: Type.Optional(Type.Boolean()),
  static_value: Type.Optional(Type.String({ maxLength: 4096 })),
  config_value: Type.Optional(ConfigValue),
  aggregation_mode: Type.Optional(StringEnum(AGGREGATION_MODES)),
  ...grantFields,
});

export const EntitlementResponse = Type.Object(
  {
    id: Type.String(),
    entity_type: Type.String(),
    entity_id: Type.String(),
    plan_id: Type.Optional(Type.String()),
    feature_id: Type.String(),
    feature_type: Type.String(),
    feature: Type.Optional(FeatureResponse),
    is_enabled: Type.Boolean(),
    usage_limit: Type.Union([Type.Integer(), Type.Null()]),
    usage_reset_period: Type.Optional(Type.String()),
    is_soft_limit: Type.Boolean(),
    static_value: Type.String(),
    config_value: Type.Optional(ConfigValue),
    display_order: Type.Integer(),
    parent_entitlement_id: Type.Optional(Type.String()),
    aggregation_mode: Type.String(),
    start_date: OptionalDate,
    end_date: OptionalDate,
    ...owner,
    ...AuditFields,
  },
  { title: 'EntitlementResponse' },
);
export const EntitlementList = ListOf(EntitlementResponse);
export const BulkEntitlementResponse = Type.Object({ items: Type.Array(EntitlementResponse) });
export const EntitlementSearchRequest = Type.Object({
  ...SearchFields,
  entity_type: Type.Optional(StringEnum(ENTITLEMENT_ENTITY_TYPES)),
  entity_ids: ids('entity ids'),
  plan_ids: ids('plan ids'),
  feature_ids: ids('feature ids'),
  feature_type: Type.Optional(StringEnum(FEATURE_TYPES)),
  is_enabled: Type.Optional(Type.Boolean()),
});
export const EntitlementListQuery = Type.Object({
  ...ListQueryFields,
  entity_type: Type.Optional(StringEnum(ENTITLEMENT_ENTITY_TYPES)),
  entity_ids: csv('entity ids'),
  plan_ids: csv('plan ids'),
  feature_ids: csv('feature ids'),
  feature_type: Type.Optional(StringEnum(FEATURE_TYPES)),
  is_enabled: Type.Optional(Type.Boolean()),
});

// ---- plans and addons ----

export const CreatePlanRequest = Type.Object({
  name: Type.String({ maxLength: 255 }),
  lookup_key: Type.Optional(Type.String({ maxLength: 255 })),
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  display_order: Type.Optional(Type.Integer()),
  metadata: Type.Optional(Metadata),
});
export const UpdatePlanRequest = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 255 })),
  lookup_key: Type.Optional(Type.String({ maxLength: 255 })),
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  display_order: Type.Optional(Type.Integer()),
  metadata: Type.Optional(Metadata),
});
export const ClonePlanRequest = UpdatePlanRequest;

const children = {
  prices: Type.Optional(Type.Array(PriceResponse)),
  entitlements: Type.Optional(Type.Array(EntitlementResponse)),
  credit_grants: Type.Optional(Type.Array(CreditGrantResponse)),
};

export const PlanResponse = Type.Object(
  {
    ...planFields,
    ...children,
    ...AuditFields,
  },
  { title: 'PlanResponse' },
);
export const PlanList = ListOf(PlanResponse);
export const PlanSearchRequest = Type.Object({
  ...SearchFields,
  plan_ids: ids('plan ids'),
  lookup_key: Type.Optional(Type.String()),
  metadata: Type.Optional(Metadata),
});
export const PlanListQuery = Type.Object({
  ...ListQueryFields,
  plan_ids: csv('plan ids'),
  lookup_key: Type.Optional(Type.String()),
});

export const CreateAddonRequest = Type.Object({
  name: Type.String({ maxLength: 255 }),
  lookup_key: Type.String({ maxLength: 255 }),
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  type: Type.Optional(StringEnum(ADDON_TYPES)),
  metadata: Type.Optional(AddonMetadata),
});
export const UpdateAddonRequest = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 255 })),
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  metadata: Type.Optional(AddonMetadata),
});
export const AddonResponse = Type.Object(
  {
    ...addonFields,
    ...children,
    ...AuditFields,
  },
  { title: 'AddonResponse' },
);
export const AddonList = ListOf(AddonResponse);
export const AddonSearchRequest = Type.Object({
  ...SearchFields,
  addon_ids: ids('addon ids'),
  lookup_keys: ids('lookup keys'),
});
export const AddonListQuery = Type.Object({
  ...ListQueryFields,
  addon_ids: csv('addon ids'),
  lookup_keys: csv('lookup keys'),
});
export const LookupKeyParams = Type.Object({ lookup_key: Type.String({ minLength: 1, maxLength: 255 }) });
