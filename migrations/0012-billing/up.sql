-- Credit grant applications: one row per (subscription, grant, period) — the exactly-once key of a grant's credits.

CREATE TABLE credit_grant_applications (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  credit_grant_id varchar(50) NOT NULL,
  subscription_id varchar(50) NOT NULL,
  scheduled_for timestamptz NOT NULL,
  period_start timestamptz NOT NULL,
  period_end timestamptz,
  applied_at timestamptz,
  application_status varchar(20) NOT NULL
    CHECK (application_status IN ('applied', 'failed', 'pending', 'skipped', 'cancelled')),
  application_reason varchar(50) NOT NULL
    CHECK (application_reason IN ('first_time_recurring_credit_grant', 'recurring_credit_grant', 'onetime_credit_grant')),
  subscription_status_at_application varchar(20) NOT NULL DEFAULT '',
  credits numeric NOT NULL CHECK (credits >= 0),
  wallet_id varchar(50),
  wallet_transaction_id varchar(50),
  failure_reason text NOT NULL DEFAULT '',
  retry_count integer NOT NULL DEFAULT 0,
  idempotency_key varchar(255) NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  created_by varchar(255) NOT NULL DEFAULT '',
  updated_by varchar(255) NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX credit_grant_applications_period
  ON credit_grant_applications (tenant_id, environment_id, subscription_id, credit_grant_id, period_start);
CREATE INDEX credit_grant_applications_pending
  ON credit_grant_applications (tenant_id, environment_id, subscription_id, application_status, scheduled_for);

-- The billing job also ends subscriptions whose end date (scheduled cancellation) falls inside a period.
CREATE INDEX subscriptions_end_date ON subscriptions (end_date)
  WHERE status = 'published' AND end_date IS NOT NULL
    AND subscription_status IN ('active', 'trialing');
