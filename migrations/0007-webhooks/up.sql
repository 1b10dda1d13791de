-- Webhooks: endpoints per environment, a transactional outbox of messages (one per event and endpoint) and the
-- log of every delivery attempt.

CREATE TABLE webhook_endpoints (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  url text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- Event names this endpoint receives; empty means every event.
  event_types jsonb NOT NULL DEFAULT '[]'::jsonb,
  enabled boolean NOT NULL DEFAULT true,
  secret text NOT NULL,
  -- After a rotation the old secret also signs for a grace period, so receivers can switch without losing messages.
  previous_secret text,
  previous_secret_expires_at timestamptz,
  -- 'api' or 'config' (the endpoint WEBHOOK_URL registers at start).
  source varchar(20) NOT NULL DEFAULT 'api',
  -- Start of the current run of failed attempts (null after any success); 5 days of it disables the endpoint.
  failing_since timestamptz,
  disabled_reason text NOT NULL DEFAULT '',
  disabled_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CHECK (jsonb_typeof(event_types) = 'array')
);
CREATE INDEX webhook_endpoints_environment ON webhook_endpoints (tenant_id, environment_id, created_at);
CREATE UNIQUE INDEX webhook_endpoints_config_source ON webhook_endpoints (tenant_id, environment_id) WHERE source = 'config';

CREATE TABLE webhook_messages (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  endpoint_id varchar(50) NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  -- The state change this message reports; the same for the copies sent to several endpoints.
  event_id varchar(50) NOT NULL,
  event_type varchar(100) NOT NULL,
  -- The exact body sent, rendered when the change committed; text keeps it byte-identical across retries.
  payload text NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'pending',
  attempt_count integer NOT NULL DEFAULT 0,
  -- When the next attempt is due; while claimed, the end of the claim's lease.
  next_attempt_at timestamptz,
  lease_id varchar(50),
  -- What the next attempt is: 'scheduled' (first delivery or a retry) or 'resend' (asked for by the API).
  next_trigger varchar(20) NOT NULL DEFAULT 'scheduled',
  -- Retries stop once an attempt fails after retry_started_at + the retry horizon (a resend restarts it).
  retry_started_at timestamptz NOT NULL,
  last_attempt_at timestamptz,
  delivered_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CHECK (status IN ('pending', 'succeeded', 'failed')),
  CHECK (status <> 'pending' OR next_attempt_at IS NOT NULL)
);
-- The delivery claim: due pending messages of one endpoint, oldest first.
CREATE INDEX webhook_messages_due ON webhook_messages (endpoint_id, next_attempt_at) WHERE status = 'pending';
-- The message list of an endpoint, newest first.
CREATE INDEX webhook_messages_endpoint ON webhook_messages (tenant_id, environment_id, endpoint_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  message_id varchar(50) NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
  endpoint_id varchar(50) NOT NULL,
  attempted_at timestamptz NOT NULL,
  -- null when no HTTP response arrived (connection refused, timeout).
  status_code integer,
  latency_ms integer NOT NULL,
  response_excerpt text NOT NULL DEFAULT '',
  error text NOT NULL DEFAULT '',
  succeeded boolean NOT NULL,
  -- The retry this attempt scheduled, if any.
  next_attempt_at timestamptz,
  -- 'scheduled' or 'resend'.
  trigger varchar(20) NOT NULL DEFAULT 'scheduled'
);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, attempted_at);
