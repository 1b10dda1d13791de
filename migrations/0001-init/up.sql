-- Tenancy, API keys, HTTP idempotency and customers: the spine every later module stands on.

CREATE TABLE tenants (
  id varchar(50) PRIMARY KEY,
  name text NOT NULL,
  is_default boolean NOT NULL DEFAULT false,
  status varchar(20) NOT NULL DEFAULT 'published',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_one_default ON tenants (is_default) WHERE is_default;

CREATE TABLE environments (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL REFERENCES tenants (id),
  name text NOT NULL,
  type varchar(20) NOT NULL CHECK (type IN ('development', 'production')),
  is_default boolean NOT NULL DEFAULT false,
  status varchar(20) NOT NULL DEFAULT 'published',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX environments_tenant ON environments (tenant_id, created_at);
CREATE UNIQUE INDEX environments_one_default ON environments (tenant_id) WHERE is_default;

-- API keys are stored as SHA-256 of the raw key; the raw key is shown once, at creation.
CREATE TABLE api_keys (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL REFERENCES tenants (id),
  environment_id varchar(50) NOT NULL REFERENCES environments (id),
  name text NOT NULL,
  type varchar(30) NOT NULL DEFAULT 'private_key',
  key_hash char(64) NOT NULL,
  display_id varchar(20) NOT NULL,
  expires_at timestamptz,
  last_used_at timestamptz,
  status varchar(20) NOT NULL DEFAULT 'published',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
CREATE INDEX api_keys_environment ON api_keys (tenant_id, environment_id, created_at);

-- Stored first responses for the Idempotency-Key header (HTTP layer), kept at least 24 hours.
CREATE TABLE idempotency_keys (
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  key varchar(255) NOT NULL,
  method varchar(10) NOT NULL,
  path text NOT NULL,
  request_hash char(64) NOT NULL,
  state varchar(20) NOT NULL CHECK (state IN ('in_progress', 'completed')),
  status_code integer,
  response_body text,
  response_content_type text,
  locked_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, environment_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE customers (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  external_id varchar(255) NOT NULL,
  name varchar(255) NOT NULL,
  email varchar(255) NOT NULL DEFAULT '',
  contact varchar(20) NOT NULL DEFAULT '',
  address_line1 varchar(255) NOT NULL DEFAULT '',
  address_line2 varchar(255) NOT NULL DEFAULT '',
  address_city varchar(100) NOT NULL DEFAULT '',
  address_state varchar(100) NOT NULL DEFAULT '',
  address_postal_code varchar(20) NOT NULL DEFAULT '',
  address_country varchar(2) NOT NULL DEFAULT '',
  timezone varchar(64) NOT NULL DEFAULT 'UTC',
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
-- external_id is unique among live customers only, so an archived customer frees its external_id.
CREATE UNIQUE INDEX customers_external_id_live ON customers (tenant_id, environment_id, external_id)
  WHERE status = 'published';
CREATE INDEX customers_environment_created ON customers (tenant_id, environment_id, created_at DESC, id DESC);
