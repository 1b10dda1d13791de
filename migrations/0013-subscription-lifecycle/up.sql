-- Subscription lifecycle: pauses, addon associations, line items from addons / overrides.

ALTER TABLE subscriptions ADD COLUMN pause_status varchar(20) NOT NULL DEFAULT 'none'
  CHECK (pause_status IN ('none', 'active', 'scheduled', 'completed', 'cancelled'));
ALTER TABLE subscriptions ADD COLUMN active_pause_id varchar(50);

CREATE TABLE subscription_pauses (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  subscription_id varchar(50) NOT NULL REFERENCES subscriptions (id),
  pause_status varchar(20) NOT NULL CHECK (pause_status IN ('active', 'scheduled', 'completed', 'cancelled')),
  pause_mode varchar(20) NOT NULL CHECK (pause_mode IN ('immediate', 'scheduled', 'period_end')),
  resume_mode varchar(20) CHECK (resume_mode IN ('immediate', 'scheduled', 'auto')),
  pause_start timestamptz NOT NULL,
  pause_end timestamptz,
  resumed_at timestamptz,
  original_period_start timestamptz NOT NULL,
  original_period_end timestamptz NOT NULL,
  reason varchar(255) NOT NULL DEFAULT '',
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT '',
  CHECK (pause_end IS NULL OR pause_end > pause_start)
);
CREATE INDEX subscription_pauses_subscription ON subscription_pauses (tenant_id, environment_id, subscription_id);

CREATE TABLE addon_associations (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  entity_type varchar(20) NOT NULL DEFAULT 'subscription' CHECK (entity_type IN ('subscription', 'plan', 'addon')),
  entity_id varchar(50) NOT NULL,
  addon_id varchar(50) NOT NULL,
  addon_status varchar(20) NOT NULL CHECK (addon_status IN ('active', 'cancelled', 'pending')),
  start_date timestamptz NOT NULL,
  end_date timestamptz,
  cancelled_at timestamptz,
  cancellation_reason text NOT NULL DEFAULT '',
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
CREATE INDEX addon_associations_entity ON addon_associations (tenant_id, environment_id, entity_id);
CREATE INDEX addon_associations_addon ON addon_associations (tenant_id, environment_id, addon_id, addon_status);

ALTER TABLE subscription_line_items ADD COLUMN addon_association_id varchar(50);

-- A scheduled cancellation moves end_date to cancel_at; this keeps the end date it replaced, so that clearing the
-- schedule (PUT cancel_at_period_end false) restores it.
ALTER TABLE subscriptions ADD COLUMN end_date_before_cancel timestamptz;
