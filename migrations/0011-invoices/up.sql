-- Invoices, their line items, gap-free invoice numbering and payments.
-- Scoped by (tenant_id, environment_id) like every table. Money is numeric(20, 9): exact, the money module rounds.

CREATE TABLE invoices (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  customer_id varchar(50) NOT NULL,
  subscription_id varchar(50),
  invoice_type varchar(20) NOT NULL CHECK (invoice_type IN ('SUBSCRIPTION', 'ONE_OFF', 'CREDIT')),
  invoice_status varchar(20) NOT NULL CHECK (invoice_status IN ('DRAFT', 'FINALIZED', 'VOIDED', 'SKIPPED')),
  payment_status varchar(20) NOT NULL CHECK (payment_status IN
    ('INITIATED', 'PENDING', 'PROCESSING', 'SUCCEEDED', 'OVERPAID', 'FAILED', 'REFUNDED', 'PARTIALLY_REFUNDED', 'VOIDED')),
  billing_reason varchar(40) NOT NULL,
  currency varchar(3) NOT NULL,
  subtotal numeric(20, 9) NOT NULL DEFAULT 0,
  total_discount numeric(20, 9) NOT NULL DEFAULT 0 CHECK (total_discount >= 0),
  total_tax numeric(20, 9) NOT NULL DEFAULT 0 CHECK (total_tax >= 0),
  total_prepaid_credits_applied numeric(20, 9) NOT NULL DEFAULT 0 CHECK (total_prepaid_credits_applied >= 0),
  total numeric(20, 9) NOT NULL DEFAULT 0 CHECK (total >= 0),
  amount_due numeric(20, 9) NOT NULL DEFAULT 0 CHECK (amount_due >= 0),
  amount_paid numeric(20, 9) NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
  amount_remaining numeric(20, 9) NOT NULL DEFAULT 0 CHECK (amount_remaining >= 0),
  overpaid_amount numeric(20, 9) NOT NULL DEFAULT 0 CHECK (overpaid_amount >= 0),
  adjustment_amount numeric(20, 9) NOT NULL DEFAULT 0,
  refunded_amount numeric(20, 9) NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
  description text NOT NULL DEFAULT '',
  due_date timestamptz,
  issue_date timestamptz,
  paid_at timestamptz,
  voided_at timestamptz,
  finalized_at timestamptz,
  billing_period varchar(50),
  period_start timestamptz,
  period_end timestamptz,
  invoice_number varchar(100),
  invoice_pdf_url text,
  billing_sequence integer,
  idempotency_key varchar(255),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  version integer NOT NULL DEFAULT 1,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT '',
  -- The totals identities, kept here as well as in code.
  CHECK (amount_remaining = GREATEST(amount_due - amount_paid, 0)),
  CHECK (overpaid_amount = GREATEST(amount_paid - amount_due, 0)),
  -- A number is assigned exactly when the invoice leaves DRAFT through finalization.
  CHECK (invoice_status <> 'FINALIZED' OR invoice_number IS NOT NULL)
);
CREATE UNIQUE INDEX invoices_idempotency ON invoices (tenant_id, environment_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX invoices_number ON invoices (tenant_id, environment_id, invoice_number)
  WHERE invoice_number IS NOT NULL;
CREATE INDEX invoices_environment_created ON invoices (tenant_id, environment_id, created_at DESC, id DESC);
CREATE INDEX invoices_customer ON invoices (tenant_id, environment_id, customer_id, invoice_status);
CREATE INDEX invoices_subscription ON invoices (tenant_id, environment_id, subscription_id)
  WHERE subscription_id IS NOT NULL;

CREATE TABLE invoice_line_items (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  invoice_id varchar(50) NOT NULL REFERENCES invoices (id),
  position integer NOT NULL,
  customer_id varchar(50) NOT NULL,
  subscription_id varchar(50),
  subscription_line_item_id varchar(50),
  entity_type varchar(20),
  entity_id varchar(50),
  price_id varchar(50),
  price_type varchar(10),
  plan_display_name varchar(255),
  meter_id varchar(50),
  meter_display_name varchar(255),
  display_name varchar(255) NOT NULL DEFAULT '',
  quantity numeric(20, 9) NOT NULL DEFAULT 0,
  adjusted_entitlement_quantity numeric(20, 9),
  amount numeric(20, 9) NOT NULL CHECK (amount >= 0),
  currency varchar(3) NOT NULL,
  prepaid_credits_applied numeric(20, 9) NOT NULL DEFAULT 0 CHECK (prepaid_credits_applied >= 0),
  line_item_discount numeric(20, 9) NOT NULL DEFAULT 0 CHECK (line_item_discount >= 0),
  invoice_level_discount numeric(20, 9) NOT NULL DEFAULT 0 CHECK (invoice_level_discount >= 0),
  period_start timestamptz,
  period_end timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT '',
  CHECK (prepaid_credits_applied + line_item_discount + invoice_level_discount <= amount),
  UNIQUE (invoice_id, position)
);

-- One counter per tenant, environment and month bucket (YYYYMM, UTC). Incremented inside the finalization
-- transaction (INSERT … ON CONFLICT DO UPDATE … RETURNING): the row lock serializes finalizations of a bucket and a
-- rolled-back finalization rolls its increment back too, so numbers have neither gaps nor duplicates.
CREATE TABLE invoice_sequences (
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  bucket varchar(20) NOT NULL,
  last_value bigint NOT NULL CHECK (last_value >= 1),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, environment_id, bucket)
);

CREATE TABLE payments (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  idempotency_key varchar(255) NOT NULL,
  destination_type varchar(20) NOT NULL CHECK (destination_type IN ('INVOICE', 'CUSTOMER')),
  destination_id varchar(50) NOT NULL,
  payment_method_type varchar(20) NOT NULL,
  payment_method_id varchar(100) NOT NULL DEFAULT '',
  payment_gateway varchar(50),
  gateway_payment_id varchar(255),
  amount numeric(20, 9) NOT NULL CHECK (amount > 0),
  currency varchar(3) NOT NULL,
  payment_status varchar(20) NOT NULL CHECK (payment_status IN
    ('INITIATED', 'PENDING', 'PROCESSING', 'SUCCEEDED', 'OVERPAID', 'FAILED', 'REFUNDED', 'PARTIALLY_REFUNDED', 'VOIDED')),
  track_attempts boolean NOT NULL DEFAULT false,
  error_message text,
  succeeded_at timestamptz,
  failed_at timestamptz,
  refunded_at timestamptz,
  voided_at timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX payments_idempotency ON payments (tenant_id, environment_id, idempotency_key)
  WHERE status = 'published';
CREATE INDEX payments_environment_created ON payments (tenant_id, environment_id, created_at DESC, id DESC);
CREATE INDEX payments_destination ON payments (tenant_id, environment_id, destination_type, destination_id);
