-- Scheduled subscription changes (an end_of_period plan change), applied by the billing period job at the boundary.

CREATE TABLE subscription_schedules (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  subscription_id varchar(50) NOT NULL REFERENCES subscriptions (id),
  schedule_type varchar(20) NOT NULL CHECK (schedule_type IN ('plan_change', 'cancellation')),
  schedule_status varchar(20) NOT NULL
    CHECK (schedule_status IN ('pending', 'executing', 'executed', 'cancelled', 'failed')),
  scheduled_at timestamptz NOT NULL,
  configuration jsonb NOT NULL DEFAULT '{}'::jsonb,
  execution_result jsonb,
  executed_at timestamptz,
  cancelled_at timestamptz,
  error_message text,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
CREATE INDEX subscription_schedules_subscription ON subscription_schedules (tenant_id, environment_id, subscription_id);
-- At most one pending change of each type per subscription (a new plan change replaces the pending one).
CREATE UNIQUE INDEX subscription_schedules_one_pending ON subscription_schedules (subscription_id, schedule_type)
  WHERE schedule_status = 'pending';
-- The billing job reads the pauses of a subscription for every period it invoices.
CREATE INDEX subscription_pauses_span ON subscription_pauses (subscription_id, pause_start);
-- The job's pause step looks for scheduled pauses that should start and active ones that should end (every tenant).
CREATE INDEX subscription_pauses_open ON subscription_pauses (pause_start)
  WHERE pause_status IN ('scheduled', 'active');
