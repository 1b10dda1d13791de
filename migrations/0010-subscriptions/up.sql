-- Subscriptions of customers to plans, with the plan prices snapshotted as line items at creation.
-- Scoped by (tenant_id, environment_id) like every table; periods are stored, not derived at read.

CREATE TABLE subscriptions (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  customer_id varchar(50) NOT NULL,
  plan_id varchar(50) NOT NULL,
  lookup_key varchar(255) NOT NULL DEFAULT '',
  currency varchar(3) NOT NULL,
  billing_period varchar(20) NOT NULL,
  billing_period_count integer NOT NULL DEFAULT 1 CHECK (billing_period_count >= 1),
  billing_cycle varchar(20) NOT NULL CHECK (billing_cycle IN ('anniversary', 'calendar')),
  billing_anchor timestamptz NOT NULL,
  start_date timestamptz NOT NULL,
  end_date timestamptz,
  current_period_start timestamptz NOT NULL,
  current_period_end timestamptz NOT NULL,
  trial_start timestamptz,
  trial_end timestamptz,
  subscription_status varchar(20) NOT NULL
    CHECK (subscription_status IN ('active', 'paused', 'cancelled', 'incomplete', 'trialing', 'draft')),
  cancel_at timestamptz,
  cancel_at_period_end boolean NOT NULL DEFAULT false,
  cancelled_at timestamptz,
  collection_method varchar(30) NOT NULL DEFAULT 'charge_automatically',
  payment_behavior varchar(30) NOT NULL DEFAULT 'default_active',
  payment_terms varchar(10) NOT NULL DEFAULT '',
  timezone varchar(64) NOT NULL DEFAULT 'UTC',
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  version integer NOT NULL DEFAULT 1,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT '',
  CHECK (current_period_end > current_period_start)
);
CREATE INDEX subscriptions_environment_created ON subscriptions (tenant_id, environment_id, created_at DESC, id DESC);
CREATE INDEX subscriptions_customer ON subscriptions (tenant_id, environment_id, customer_id, subscription_status);
CREATE INDEX subscriptions_plan ON subscriptions (tenant_id, environment_id, plan_id, subscription_status);
-- The billing job (next slice) picks subscriptions whose period has ended.
CREATE INDEX subscriptions_period_end ON subscriptions (current_period_end)
  WHERE subscription_status IN ('active', 'trialing');

CREATE TABLE subscription_line_items (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  subscription_id varchar(50) NOT NULL REFERENCES subscriptions (id),
  customer_id varchar(50) NOT NULL,
  entity_type varchar(20) NOT NULL DEFAULT 'plan' CHECK (entity_type IN ('plan', 'addon', 'subscription')),
  entity_id varchar(50) NOT NULL,
  plan_display_name varchar(255) NOT NULL DEFAULT '',
  price_id varchar(50) NOT NULL,
  price_type varchar(10) NOT NULL,
  meter_id varchar(50),
  meter_display_name varchar(255) NOT NULL DEFAULT '',
  display_name varchar(255) NOT NULL DEFAULT '',
  quantity numeric(20, 9) NOT NULL DEFAULT 0,
  currency varchar(3) NOT NULL,
  billing_period varchar(20) NOT NULL,
  billing_period_count integer NOT NULL DEFAULT 1,
  invoice_cadence varchar(10) NOT NULL,
  price_unit_id varchar(50),
  price_unit varchar(3),
  start_date timestamptz NOT NULL,
  end_date timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
CREATE INDEX subscription_line_items_subscription
  ON subscription_line_items (tenant_id, environment_id, subscription_id) WHERE status = 'published';
