import type { ColumnType, Generated } from 'kysely';

/** Timestamps: written as Date or ISO string, read as Date (pg's timestamptz parser). */
export type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
export type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** numeric columns: the drivers return strings; we write strings produced by the money module. */
export type Numeric = ColumnType<string, string, string>;
/** bigint columns: pg returns them as strings. */
export type Int8 = ColumnType<string, string | number, string | number>;
export type Json<T> = ColumnType<T, string, string>;

export interface TenantsTable {
  id: string;
  name: string;
  is_default: Generated<boolean>;
  status: Generated<string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EnvironmentsTable {
  id: string;
  tenant_id: string;
  name: string;
  type: string;
  is_default: Generated<boolean>;
  status: Generated<string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  environment_id: string;
  name: string;
  type: string;
  key_hash: string;
  display_id: string;
  expires_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
  status: Generated<string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface IdempotencyKeysTable {
  tenant_id: string;
  environment_id: string;
  key: string;
  method: string;
  path: string;
  request_hash: string;
  state: 'in_progress' | 'completed';
  status_code: number | null;
  response_body: string | null;
  response_content_type: string | null;
  locked_at: Timestamp;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export interface CustomersTable {
  id: string;
  tenant_id: string;
  environment_id: string;
  external_id: string;
  name: string;
  email: string;
  contact: string;
  address_line1: string;
  address_line2: string;
  address_city: string;
  address_state: string;
  address_postal_code: string;
  address_country: string;
  timezone: string;
  metadata: Json<Record<string, string>>;
  status: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string;
  updated_by: string;
}

export interface EventsTable {
  tenant_id: string;
  environment_id: string;
  id: string;
  event_name: string;
  external_customer_id: string;
  customer_id: string | null;
  timestamp: Timestamp;
  source: string;
  properties: Json<Record<string, unknown>>;
  ingested_at: Timestamp;
}

export interface WebhookEndpointsTable {
  id: string;
  tenant_id: string;
  environment_id: string;
  url: string;
  description: string;
  event_types: Json<string[]>;
  enabled: boolean;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: NullableTimestamp;
  source: string;
  failing_since: NullableTimestamp;
  disabled_reason: Generated<string>;
  disabled_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookMessagesTable {
  id: string;
  tenant_id: string;
  environment_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempt_count: Generated<number>;
  next_attempt_at: NullableTimestamp;
  lease_id: string | null;
  next_trigger: Generated<'scheduled' | 'resend'>;
  retry_started_at: Timestamp;
  last_attempt_at: NullableTimestamp;
  delivered_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookAttemptsTable {
  id: string;
  tenant_id: string;
  environment_id: string;
  message_id: string;
  endpoint_id: string;
  attempted_at: Timestamp;
  status_code: number | null;
  latency_ms: number;
  response_excerpt: string;
  error: string;
  succeeded: boolean;
  next_attempt_at: NullableTimestamp;
  trigger: 'scheduled' | 'resend';
}

export interface WalletsTable {
  id: string;
  tenant_id: string;
  environment_id: string;
  customer_id: string;
  currency: string;
  name: string;
  description: string;
  metadata: Json<Record<string, string>>;
  wallet_type: string;
  wallet_status: string;
  credit_balance: Numeric;
  balance: Numeric;
  conversion_rate: Numeric;
  topup_conversion_rate: Numeric;
  config: Json<{ allowed_price_types?: string[] }>;
  auto_topup: ColumnType<unknown, string | null, string | null>;
  alert_settings: ColumnType<unknown, string | null, string | null>;
  alert_state: string;
  credit_alert_state: string;
  auto_topup_armed: boolean;
  last_auto_topup_at: NullableTimestamp;
  status: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string;
  updated_by: string;
}

export interface WalletTransactionsTable {
  id: string;
  tenant_id: string;
  environment_id: string;
  wallet_id: string;
  customer_id: string;
  type: 'credit' | 'debit';
  amount: Numeric;
  credit_amount: Numeric;
  credit_balance_before: Numeric;
  credit_balance_after: Numeric;
  credits_available: Numeric;
  transaction_status: string;
  reference_type: string;
  reference_id: string;
  description: string;
  metadata: Json<Record<string, string>>;
  expiry_date: NullableTimestamp;
  priority: number | null;
  transaction_reason: string;
  currency: string;
  parent_transaction_id: string | null;
  conversion_rate: ColumnType<string | null, string | null, string | null>;
  topup_conversion_rate: ColumnType<string | null, string | null, string | null>;
  idempotency_key: string;
  request_hash: string;
  status: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string;
  updated_by: string;
}

export interface WalletAlertLogsTable {
  id: string;
  tenant_id: string;
  environment_id: string;
  wallet_id: string;
  alert_type: string;
  previous_state: string;
  state: string;
  credit_balance: Numeric;
  balance: Numeric;
  created_at: Timestamp;
}

/** Hourly usage rollups of raw events (property '' = the event count). */
export interface EventRollupsTable {
  tenant_id: string;
  environment_id: string;
  external_customer_id: string;
  event_name: string;
  property: string;
  hour: Timestamp;
  events: Int8;
  total: Numeric;
  maximum: Numeric | null;
}

/** Every table of the database. Each module adds its own tables here. */
export interface Database {
  tenants: TenantsTable;
  environments: EnvironmentsTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
  customers: CustomersTable;
  events: EventsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_messages: WebhookMessagesTable;
  webhook_attempts: WebhookAttemptsTable;
  wallets: WalletsTable;
  wallet_transactions: WalletTransactionsTable;
  wallet_alert_logs: WalletAlertLogsTable;
  event_rollups: EventRollupsTable;
}
