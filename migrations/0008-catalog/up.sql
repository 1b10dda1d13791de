-- Product catalog: meters, features, plans, price units, prices, addons, entitlements, credit grants.
-- Every row is scoped by (tenant_id, environment_id); deletes are soft (status = 'archived'), and every
-- uniqueness rule is a partial index over published rows so an archived row frees its key.

CREATE TABLE meters (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  name varchar(255) NOT NULL,
  event_name varchar(255) NOT NULL,
  aggregation jsonb NOT NULL,
  filters jsonb NOT NULL DEFAULT '[]'::jsonb,
  reset_usage varchar(20) NOT NULL DEFAULT 'BILLING_PERIOD' CHECK (reset_usage IN ('BILLING_PERIOD', 'NEVER')),
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
CREATE INDEX meters_environment_created ON meters (tenant_id, environment_id, created_at DESC, id DESC);
-- Metering matches events to meters by event name.
CREATE INDEX meters_event_name ON meters (tenant_id, environment_id, event_name) WHERE status = 'published';

CREATE TABLE features (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  name varchar(255) NOT NULL,
  lookup_key varchar(255) NOT NULL,
  description text NOT NULL DEFAULT '',
  type varchar(20) NOT NULL CHECK (type IN ('metered', 'boolean', 'static', 'config')),
  meter_id varchar(50),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  unit_singular varchar(255) NOT NULL DEFAULT '',
  unit_plural varchar(255) NOT NULL DEFAULT '',
  reporting_unit jsonb,
  alert_settings jsonb,
  group_id varchar(50) NOT NULL DEFAULT '',
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT '',
  CHECK (type <> 'metered' OR meter_id IS NOT NULL)
);
CREATE UNIQUE INDEX features_lookup_key_live ON features (tenant_id, environment_id, lookup_key)
  WHERE status = 'published';
CREATE INDEX features_environment_created ON features (tenant_id, environment_id, created_at DESC, id DESC);
CREATE INDEX features_meter ON features (tenant_id, environment_id, meter_id);

CREATE TABLE plans (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  name varchar(255) NOT NULL,
  lookup_key varchar(255) NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  display_order integer NOT NULL DEFAULT 0,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX plans_lookup_key_live ON plans (tenant_id, environment_id, lookup_key)
  WHERE status = 'published' AND lookup_key <> '';
CREATE INDEX plans_environment_created ON plans (tenant_id, environment_id, created_at DESC, id DESC);

CREATE TABLE addons (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  name varchar(255) NOT NULL,
  lookup_key varchar(255) NOT NULL,
  description text NOT NULL DEFAULT '',
  type varchar(30) NOT NULL DEFAULT 'onetime' CHECK (type IN ('onetime', 'multiple_instance')),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX addons_lookup_key_live ON addons (tenant_id, environment_id, lookup_key)
  WHERE status = 'published';
CREATE INDEX addons_environment_created ON addons (tenant_id, environment_id, created_at DESC, id DESC);

CREATE TABLE price_units (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  name varchar(255) NOT NULL,
  code varchar(3) NOT NULL,
  symbol varchar(10) NOT NULL,
  base_currency varchar(3) NOT NULL,
  -- one unit = conversion_rate of base_currency
  conversion_rate numeric(20, 9) NOT NULL CHECK (conversion_rate > 0),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX price_units_code_live ON price_units (tenant_id, environment_id, code) WHERE status = 'published';
CREATE INDEX price_units_environment_created ON price_units (tenant_id, environment_id, created_at DESC, id DESC);

CREATE TABLE prices (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  entity_type varchar(20) NOT NULL,
  entity_id varchar(50) NOT NULL,
  type varchar(10) NOT NULL CHECK (type IN ('USAGE', 'FIXED')),
  billing_model varchar(10) NOT NULL CHECK (billing_model IN ('FLAT_FEE', 'PACKAGE', 'TIERED')),
  billing_cadence varchar(20) NOT NULL DEFAULT 'RECURRING',
  billing_period varchar(20) NOT NULL,
  billing_period_count integer NOT NULL DEFAULT 1 CHECK (billing_period_count >= 1),
  invoice_cadence varchar(10) NOT NULL CHECK (invoice_cadence IN ('ARREAR', 'ADVANCE')),
  currency varchar(3) NOT NULL,
  -- in the currency (for custom units: price_unit_amount × conversion_rate)
  amount numeric(25, 15) NOT NULL DEFAULT 0 CHECK (amount >= 0),
  display_amount varchar(100) NOT NULL DEFAULT '',
  price_unit_type varchar(10) NOT NULL DEFAULT 'FIAT' CHECK (price_unit_type IN ('FIAT', 'CUSTOM')),
  price_unit_id varchar(50),
  price_unit varchar(3),
  price_unit_amount numeric(25, 15),
  conversion_rate numeric(20, 9),
  price_unit_tiers jsonb,
  tier_mode varchar(10),
  tiers jsonb,
  transform_quantity jsonb,
  meter_id varchar(50),
  filter_values jsonb,
  lookup_key varchar(255) NOT NULL DEFAULT '',
  trial_period_days integer NOT NULL DEFAULT 0 CHECK (trial_period_days >= 0),
  min_quantity numeric(20, 9),
  description text NOT NULL DEFAULT '',
  display_name varchar(255) NOT NULL DEFAULT '',
  group_id varchar(50) NOT NULL DEFAULT '',
  parent_price_id varchar(50),
  start_date timestamptz,
  end_date timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT '',
  CHECK (type <> 'USAGE' OR meter_id IS NOT NULL),
  CHECK (billing_model <> 'PACKAGE' OR transform_quantity IS NOT NULL),
  CHECK (billing_model <> 'TIERED' OR (tiers IS NOT NULL AND tier_mode IN ('VOLUME', 'SLAB')))
);
CREATE UNIQUE INDEX prices_lookup_key_live ON prices (tenant_id, environment_id, lookup_key)
  WHERE status = 'published' AND lookup_key <> '';
CREATE INDEX prices_entity ON prices (tenant_id, environment_id, entity_type, entity_id) WHERE status = 'published';
CREATE INDEX prices_environment_created ON prices (tenant_id, environment_id, created_at DESC, id DESC);

CREATE TABLE entitlements (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  entity_type varchar(20) NOT NULL CHECK (entity_type IN ('PLAN', 'SUBSCRIPTION', 'ADDON')),
  entity_id varchar(50) NOT NULL,
  feature_id varchar(50) NOT NULL,
  feature_type varchar(20) NOT NULL,
  is_enabled boolean NOT NULL DEFAULT false,
  -- null = unlimited
  usage_limit bigint CHECK (usage_limit IS NULL OR usage_limit >= 0),
  usage_reset_period varchar(20) NOT NULL DEFAULT '',
  is_soft_limit boolean NOT NULL DEFAULT false,
  static_value text NOT NULL DEFAULT '',
  config_value jsonb,
  display_order integer NOT NULL DEFAULT 0,
  parent_entitlement_id varchar(50),
  aggregation_mode varchar(20) NOT NULL DEFAULT 'additive' CHECK (aggregation_mode IN ('additive', 'parallel')),
  start_date timestamptz,
  end_date timestamptz,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
-- One live (additive) entitlement per entity and feature.
CREATE UNIQUE INDEX entitlements_entity_feature_live ON entitlements (tenant_id, environment_id, entity_type, entity_id, feature_id)
  WHERE status = 'published' AND aggregation_mode = 'additive';
CREATE INDEX entitlements_environment_created ON entitlements (tenant_id, environment_id, created_at DESC, id DESC);
CREATE INDEX entitlements_feature ON entitlements (tenant_id, environment_id, feature_id) WHERE status = 'published';

CREATE TABLE credit_grants (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  name varchar(255) NOT NULL,
  scope varchar(20) NOT NULL CHECK (scope IN ('PLAN', 'SUBSCRIPTION', 'ADDON')),
  plan_id varchar(50),
  addon_id varchar(50),
  subscription_id varchar(50),
  credits numeric(20, 9) NOT NULL CHECK (credits > 0),
  cadence varchar(20) NOT NULL CHECK (cadence IN ('ONETIME', 'RECURRING')),
  period varchar(20),
  period_count integer CHECK (period_count IS NULL OR period_count > 0),
  expiration_type varchar(20) NOT NULL DEFAULT 'NEVER' CHECK (expiration_type IN ('NEVER', 'DURATION', 'BILLING_CYCLE')),
  expiration_duration integer,
  expiration_duration_unit varchar(10),
  priority integer,
  conversion_rate numeric(20, 9) CHECK (conversion_rate IS NULL OR conversion_rate > 0),
  topup_conversion_rate numeric(20, 9) CHECK (topup_conversion_rate IS NULL OR topup_conversion_rate > 0),
  start_date timestamptz,
  end_date timestamptz,
  credit_grant_anchor timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT '',
  CHECK (cadence <> 'RECURRING' OR (period IS NOT NULL AND period_count IS NOT NULL)),
  CHECK (scope <> 'PLAN' OR plan_id IS NOT NULL),
  CHECK (scope <> 'ADDON' OR addon_id IS NOT NULL),
  CHECK (scope <> 'SUBSCRIPTION' OR subscription_id IS NOT NULL)
);
CREATE INDEX credit_grants_plan ON credit_grants (tenant_id, environment_id, plan_id) WHERE status = 'published';
CREATE INDEX credit_grants_addon ON credit_grants (tenant_id, environment_id, addon_id) WHERE status = 'published';
CREATE INDEX credit_grants_subscription ON credit_grants (tenant_id, environment_id, subscription_id)
  WHERE status = 'published';
CREATE INDEX credit_grants_environment_created ON credit_grants (tenant_id, environment_id, created_at DESC, id DESC);
