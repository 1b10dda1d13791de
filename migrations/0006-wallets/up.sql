-- Prepaid credit wallets on an append-only ledger.

CREATE TABLE wallets (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  customer_id varchar(50) NOT NULL,
  currency varchar(10) NOT NULL,
  name varchar(255) NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  wallet_type varchar(20) NOT NULL CHECK (wallet_type IN ('PRE_PAID', 'POST_PAID', 'PROMOTIONAL')),
  wallet_status varchar(20) NOT NULL DEFAULT 'active' CHECK (wallet_status IN ('active', 'frozen', 'closed')),
  credit_balance numeric(20, 9) NOT NULL DEFAULT 0,
  balance numeric(20, 9) NOT NULL DEFAULT 0,
  conversion_rate numeric(10, 5) NOT NULL DEFAULT 1 CHECK (conversion_rate > 0),
  topup_conversion_rate numeric(10, 5) NOT NULL DEFAULT 1 CHECK (topup_conversion_rate > 0),
  config jsonb NOT NULL DEFAULT '{}'::jsonb,
  auto_topup jsonb,
  alert_settings jsonb,
  -- Ongoing-balance alert state (on the wire) and the credit-balance stream's state (internal).
  alert_state varchar(20) NOT NULL DEFAULT 'ok' CHECK (alert_state IN ('ok', 'info', 'warning', 'in_alarm')),
  credit_alert_state varchar(20) NOT NULL DEFAULT 'ok'
    CHECK (credit_alert_state IN ('ok', 'info', 'warning', 'in_alarm')),
  -- Auto top-up fires once per crossing: disarmed when it fires, re-armed when the balance is above the threshold.
  auto_topup_armed boolean NOT NULL DEFAULT true,
  last_auto_topup_at timestamptz,
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT '',
  -- The money rule, kept by storage as well as by code: balance is the credits priced at conversion_rate.
  CONSTRAINT wallets_balance_is_credits_times_rate CHECK (balance = round(credit_balance * conversion_rate, 9))
);
-- One active wallet per customer, currency and type; concurrent creates race on this index, not on a read.
CREATE UNIQUE INDEX wallets_one_active ON wallets (tenant_id, environment_id, customer_id, currency, wallet_type)
  WHERE wallet_status = 'active' AND status = 'published';
CREATE INDEX wallets_customer ON wallets (tenant_id, environment_id, customer_id);
CREATE INDEX wallets_environment_created ON wallets (tenant_id, environment_id, created_at DESC, id DESC);

CREATE TABLE wallet_transactions (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  wallet_id varchar(50) NOT NULL REFERENCES wallets (id),
  customer_id varchar(50) NOT NULL,
  type varchar(10) NOT NULL CHECK (type IN ('credit', 'debit')),
  amount numeric(20, 9) NOT NULL CHECK (amount >= 0),
  credit_amount numeric(20, 9) NOT NULL CHECK (credit_amount > 0),
  credit_balance_before numeric(20, 9) NOT NULL,
  credit_balance_after numeric(20, 9) NOT NULL,
  -- Credit lots: what is left to draw down. The only column (besides completing a pending entry) ever updated.
  credits_available numeric(20, 9) NOT NULL DEFAULT 0,
  transaction_status varchar(20) NOT NULL CHECK (transaction_status IN ('pending', 'completed', 'failed')),
  reference_type varchar(20) NOT NULL CHECK (reference_type IN ('PAYMENT', 'EXTERNAL', 'REQUEST', 'INVOICE')),
  reference_id varchar(255) NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  expiry_date timestamptz,
  priority integer CHECK (priority >= 0),
  transaction_reason varchar(40) NOT NULL,
  currency varchar(10) NOT NULL,
  parent_transaction_id varchar(50),
  conversion_rate numeric(10, 5),
  topup_conversion_rate numeric(10, 5),
  idempotency_key varchar(255) NOT NULL,
  -- SHA-256 of the operation that first used the key: a replay must match it, else 409.
  request_hash char(64) NOT NULL DEFAULT '',
  status varchar(20) NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'archived', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by varchar(50) NOT NULL DEFAULT '',
  updated_by varchar(50) NOT NULL DEFAULT '',
  CONSTRAINT wallet_transactions_lot_bounds CHECK (credits_available >= 0 AND credits_available <= credit_amount),
  CONSTRAINT wallet_transactions_debits_hold_nothing CHECK (type = 'credit' OR credits_available = 0),
  CONSTRAINT wallet_transactions_after_follows_before CHECK (
    transaction_status <> 'completed'
    OR (type = 'credit' AND credit_balance_after = credit_balance_before + credit_amount)
    OR (type = 'debit' AND credit_balance_after = credit_balance_before - credit_amount)
  )
);
CREATE UNIQUE INDEX wallet_transactions_idempotency ON wallet_transactions (tenant_id, environment_id, idempotency_key)
  WHERE status = 'published';
CREATE INDEX wallet_transactions_wallet_created ON wallet_transactions (wallet_id, created_at DESC, id DESC);
CREATE INDEX wallet_transactions_environment_created
  ON wallet_transactions (tenant_id, environment_id, created_at DESC, id DESC);
-- Credit lots a debit may draw from, in drain order (priority, expiry, size, id).
CREATE INDEX wallet_transactions_open_lots
  ON wallet_transactions (wallet_id, priority ASC NULLS LAST, expiry_date ASC NULLS LAST, credit_amount DESC, id)
  WHERE type = 'credit' AND transaction_status = 'completed' AND credits_available > 0;
-- Lots the expiry job must close.
CREATE INDEX wallet_transactions_expiring ON wallet_transactions (expiry_date)
  WHERE type = 'credit' AND transaction_status = 'completed' AND credits_available > 0 AND expiry_date IS NOT NULL;

-- Alert state transitions of both streams (credit balance, ongoing balance), one row per change.
CREATE TABLE wallet_alert_logs (
  id varchar(50) PRIMARY KEY,
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  wallet_id varchar(50) NOT NULL REFERENCES wallets (id),
  alert_type varchar(30) NOT NULL CHECK (alert_type IN ('low_credit_balance', 'low_ongoing_balance')),
  previous_state varchar(20) NOT NULL,
  state varchar(20) NOT NULL,
  credit_balance numeric(20, 9) NOT NULL,
  balance numeric(20, 9) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wallet_alert_logs_wallet ON wallet_alert_logs (wallet_id, created_at, id);
