import type { ColumnType, Generated } from 'kysely';

/** Timestamps: written as Date or ISO string, read as Date (pg's timestamptz parser). */
export type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
export type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** numeric columns: the drivers return strings; we write strings produced by the money module. */
export type Numeric = ColumnType<string, string, string>;
/** bigint columns: pg returns them as strings. */
export type Int8 = ColumnType<string, string | number, string | number>;
export type Json<T> = ColumnType<T, string, string>;
export type NullableJson<T> = ColumnType<T | null, string | null | undefined, string | null>;
export type NullableNumeric = ColumnType<string | null, string | null | undefined, string | null>;

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

/**
 * Not listed: `lot_open`, a stored generated column (migration 0018) that only the open-lot partial indexes and
 * their queries use, through `OPEN_LOT` in the wallets repository. Rows are built in memory as this type, where
 * `credits_available` changes as lots drain; a derived copy there could only go stale.
 */
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
  /** A lot past expiry kept by the expiry job (skip rules) is looked at again from then on (migration 0014). */
  expiry_recheck_at: NullableTimestamp;
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

/** Catalog (migration 0008): the shared audit columns of every catalog table. */
interface CatalogRowBase {
  id: string;
  tenant_id: string;
  environment_id: string;
  status: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string;
  updated_by: string;
}

export interface MetersTable extends CatalogRowBase {
  name: string;
  event_name: string;
  aggregation: Json<MeterAggregationColumn>;
  filters: Json<Array<{ key: string; values: string[] }>>;
  reset_usage: string;
}
export interface MeterAggregationColumn {
  type: string;
  field?: string;
  expression?: string;
  multiplier?: string;
  bucket_size?: string;
  group_by?: string;
}

export interface FeaturesTable extends CatalogRowBase {
  name: string;
  lookup_key: string;
  description: string;
  type: string;
  meter_id: string | null;
  metadata: Json<Record<string, string>>;
  unit_singular: string;
  unit_plural: string;
  reporting_unit: NullableJson<Record<string, unknown>>;
  alert_settings: NullableJson<Record<string, unknown>>;
  group_id: string;
}

export interface PlansTable extends CatalogRowBase {
  name: string;
  lookup_key: string;
  description: string;
  display_order: number;
  metadata: Json<Record<string, string>>;
}

export interface AddonsTable extends CatalogRowBase {
  name: string;
  lookup_key: string;
  description: string;
  type: string;
  metadata: Json<Record<string, unknown>>;
}

export interface PriceUnitsTable extends CatalogRowBase {
  name: string;
  code: string;
  symbol: string;
  base_currency: string;
  conversion_rate: Numeric;
  metadata: Json<Record<string, string>>;
}

export interface PriceTierColumn {
  up_to: number | null;
  unit_amount: string;
  flat_amount?: string;
}

export interface PricesTable extends CatalogRowBase {
  entity_type: string;
  entity_id: string;
  type: string;
  billing_model: string;
  billing_cadence: string;
  billing_period: string;
  billing_period_count: number;
  invoice_cadence: string;
  currency: string;
  amount: Numeric;
  display_amount: string;
  price_unit_type: string;
  price_unit_id: string | null;
  price_unit: string | null;
  price_unit_amount: NullableNumeric;
  conversion_rate: NullableNumeric;
  price_unit_tiers: NullableJson<PriceTierColumn[]>;
  tier_mode: string | null;
  tiers: NullableJson<PriceTierColumn[]>;
  transform_quantity: NullableJson<{ divide_by: number; round: string }>;
  meter_id: string | null;
  filter_values: NullableJson<Record<string, string[]>>;
  lookup_key: string;
  trial_period_days: number;
  min_quantity: NullableNumeric;
  description: string;
  display_name: string;
  group_id: string;
  parent_price_id: string | null;
  start_date: NullableTimestamp;
  end_date: NullableTimestamp;
  metadata: Json<Record<string, string>>;
}

export interface EntitlementsTable extends CatalogRowBase {
  entity_type: string;
  entity_id: string;
  feature_id: string;
  feature_type: string;
  is_enabled: boolean;
  /** bigint: the driver returns a string */
  usage_limit: ColumnType<string | null, string | null, string | null>;
  usage_reset_period: string;
  is_soft_limit: boolean;
  static_value: string;
  config_value: NullableJson<Record<string, unknown>>;
  display_order: number;
  parent_entitlement_id: string | null;
  aggregation_mode: string;
  start_date: NullableTimestamp;
  end_date: NullableTimestamp;
}

export interface CreditGrantsTable extends CatalogRowBase {
  name: string;
  scope: string;
  plan_id: string | null;
  addon_id: string | null;
  subscription_id: string | null;
  credits: Numeric;
  cadence: string;
  period: string | null;
  period_count: number | null;
  expiration_type: string;
  expiration_duration: number | null;
  expiration_duration_unit: string | null;
  priority: number | null;
  conversion_rate: NullableNumeric;
  topup_conversion_rate: NullableNumeric;
  start_date: NullableTimestamp;
  end_date: NullableTimestamp;
  credit_grant_anchor: NullableTimestamp;
  metadata: Json<Record<string, string>>;
}

export interface SubscriptionsTable extends CatalogRowBase {
  customer_id: string;
  plan_id: string;
  lookup_key: string;
  currency: string;
  billing_period: string;
  billing_period_count: number;
  billing_cycle: string;
  billing_anchor: Timestamp;
  start_date: Timestamp;
  end_date: NullableTimestamp;
  current_period_start: Timestamp;
  current_period_end: Timestamp;
  trial_start: NullableTimestamp;
  trial_end: NullableTimestamp;
  subscription_status: string;
  cancel_at: NullableTimestamp;
  cancel_at_period_end: boolean;
  cancelled_at: NullableTimestamp;
  collection_method: string;
  payment_behavior: string;
  payment_terms: string;
  timezone: string;
  metadata: Json<Record<string, string>>;
  version: number;
  pause_status: Generated<string>;
  active_pause_id: string | null;
  end_date_before_cancel: NullableTimestamp;
  /** The current_period_end subscription.renewal.due was emitted for (migration 0014). */
  renewal_due_notified_for: NullableTimestamp;
}

export interface SubscriptionLineItemsTable extends CatalogRowBase {
  subscription_id: string;
  customer_id: string;
  entity_type: string;
  entity_id: string;
  plan_display_name: string;
  price_id: string;
  price_type: string;
  meter_id: string | null;
  meter_display_name: string;
  display_name: string;
  quantity: Numeric;
  currency: string;
  billing_period: string;
  billing_period_count: number;
  invoice_cadence: string;
  price_unit_id: string | null;
  price_unit: string | null;
  start_date: Timestamp;
  end_date: NullableTimestamp;
  metadata: Json<Record<string, string>>;
  addon_association_id: string | null;
}

export interface SubscriptionPausesTable extends CatalogRowBase {
  subscription_id: string;
  pause_status: string;
  pause_mode: string;
  resume_mode: string | null;
  pause_start: Timestamp;
  pause_end: NullableTimestamp;
  resumed_at: NullableTimestamp;
  original_period_start: Timestamp;
  original_period_end: Timestamp;
  reason: string;
  metadata: Json<Record<string, string>>;
}

export interface SubscriptionSchedulesTable extends CatalogRowBase {
  subscription_id: string;
  schedule_type: string;
  schedule_status: string;
  scheduled_at: Timestamp;
  configuration: Json<Record<string, unknown>>;
  execution_result: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  executed_at: NullableTimestamp;
  cancelled_at: NullableTimestamp;
  error_message: string | null;
  metadata: Json<Record<string, string>>;
}

export interface AddonAssociationsTable extends CatalogRowBase {
  entity_type: string;
  entity_id: string;
  addon_id: string;
  addon_status: string;
  start_date: Timestamp;
  end_date: NullableTimestamp;
  cancelled_at: NullableTimestamp;
  cancellation_reason: string;
  metadata: Json<Record<string, unknown>>;
}

export interface CreditGrantApplicationsTable extends CatalogRowBase {
  credit_grant_id: string;
  subscription_id: string;
  scheduled_for: Timestamp;
  period_start: Timestamp;
  period_end: NullableTimestamp;
  applied_at: NullableTimestamp;
  application_status: string;
  application_reason: string;
  subscription_status_at_application: string;
  credits: Numeric;
  wallet_id: string | null;
  wallet_transaction_id: string | null;
  failure_reason: string;
  retry_count: number;
  idempotency_key: string;
  metadata: Json<Record<string, string>>;
}

/** Invoices (migration 0011). */
export interface InvoicesTable extends CatalogRowBase {
  customer_id: string;
  subscription_id: string | null;
  invoice_type: string;
  invoice_status: string;
  payment_status: string;
  billing_reason: string;
  currency: string;
  subtotal: Numeric;
  total_discount: Numeric;
  total_tax: Numeric;
  total_prepaid_credits_applied: Numeric;
  total: Numeric;
  amount_due: Numeric;
  amount_paid: Numeric;
  amount_remaining: Numeric;
  overpaid_amount: Numeric;
  adjustment_amount: Numeric;
  refunded_amount: Numeric;
  description: string;
  due_date: NullableTimestamp;
  issue_date: NullableTimestamp;
  paid_at: NullableTimestamp;
  voided_at: NullableTimestamp;
  finalized_at: NullableTimestamp;
  billing_period: string | null;
  period_start: NullableTimestamp;
  period_end: NullableTimestamp;
  invoice_number: string | null;
  invoice_pdf_url: string | null;
  billing_sequence: number | null;
  idempotency_key: string | null;
  metadata: Json<Record<string, string>>;
  version: number;
  /** When invoice.payment.overdue was emitted (migration 0014). */
  overdue_notified_at: NullableTimestamp;
}

export interface InvoiceLineItemsTable extends CatalogRowBase {
  invoice_id: string;
  position: number;
  customer_id: string;
  subscription_id: string | null;
  subscription_line_item_id: string | null;
  entity_type: string | null;
  entity_id: string | null;
  price_id: string | null;
  price_type: string | null;
  plan_display_name: string | null;
  meter_id: string | null;
  meter_display_name: string | null;
  display_name: string;
  quantity: Numeric;
  adjusted_entitlement_quantity: NullableNumeric;
  amount: Numeric;
  currency: string;
  prepaid_credits_applied: Numeric;
  line_item_discount: Numeric;
  invoice_level_discount: Numeric;
  period_start: NullableTimestamp;
  period_end: NullableTimestamp;
  metadata: Json<Record<string, string>>;
}

export interface InvoiceSequencesTable {
  tenant_id: string;
  environment_id: string;
  bucket: string;
  last_value: Int8;
  updated_at: Timestamp;
}

export interface PaymentsTable extends CatalogRowBase {
  idempotency_key: string;
  destination_type: string;
  destination_id: string;
  payment_method_type: string;
  payment_method_id: string;
  payment_gateway: string | null;
  gateway_payment_id: string | null;
  amount: Numeric;
  currency: string;
  payment_status: string;
  track_attempts: boolean;
  error_message: string | null;
  succeeded_at: NullableTimestamp;
  failed_at: NullableTimestamp;
  refunded_at: NullableTimestamp;
  voided_at: NullableTimestamp;
  metadata: Json<Record<string, string>>;
}

/** Every table of the database. Each module adds its own tables here. */
export interface Database {
  tenants: TenantsTable;
  environments: EnvironmentsTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
  customers: CustomersTable;
  events: EventsTable;
  event_rollups: EventRollupsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_messages: WebhookMessagesTable;
  webhook_attempts: WebhookAttemptsTable;
  wallets: WalletsTable;
  wallet_transactions: WalletTransactionsTable;
  wallet_alert_logs: WalletAlertLogsTable;
  meters: MetersTable;
  features: FeaturesTable;
  plans: PlansTable;
  addons: AddonsTable;
  price_units: PriceUnitsTable;
  prices: PricesTable;
  entitlements: EntitlementsTable;
  credit_grants: CreditGrantsTable;
  subscriptions: SubscriptionsTable;
  subscription_line_items: SubscriptionLineItemsTable;
  subscription_pauses: SubscriptionPausesTable;
  subscription_schedules: SubscriptionSchedulesTable;
  addon_associations: AddonAssociationsTable;
  credit_grant_applications: CreditGrantApplicationsTable;
  invoices: InvoicesTable;
  invoice_line_items: InvoiceLineItemsTable;
  invoice_sequences: InvoiceSequencesTable;
  payments: PaymentsTable;
}
