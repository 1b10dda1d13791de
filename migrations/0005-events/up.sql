-- Usage events: raw, append-only, deduplicated exactly on (environment, event id) by the primary key.

CREATE TABLE events (
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  id varchar(255) NOT NULL,
  event_name varchar(255) NOT NULL,
  external_customer_id varchar(255) NOT NULL,
  customer_id varchar(50),
  "timestamp" timestamptz NOT NULL,
  source varchar(255) NOT NULL DEFAULT '',
  properties jsonb NOT NULL DEFAULT '{}'::jsonb,
  ingested_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, environment_id, id)
);

-- Usage of one customer for one event name over a time range (the hot query of metering and billing).
CREATE INDEX events_customer_name_time ON events (tenant_id, environment_id, external_customer_id, event_name, "timestamp");
-- Raw event listing by time across customers.
CREATE INDEX events_environment_time ON events (tenant_id, environment_id, "timestamp" DESC, id DESC);
