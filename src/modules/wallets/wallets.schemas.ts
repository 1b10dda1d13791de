import { Type } from 'typebox';
import {
  DecimalInput,
  DecimalString,
  FilterCondition,
  ListOf,
  Metadata,
  PageFields,
  SortCondition,
  Status,
  StringEnum,
  Timestamp,
} from '../../platform/http/schemas.ts';

const WalletType = StringEnum(['PRE_PAID', 'POST_PAID', 'PROMOTIONAL']);
const WalletStatus = StringEnum(['active', 'frozen', 'closed']);
const AlertState = StringEnum(['ok', 'info', 'warning', 'in_alarm']);
const TransactionType = StringEnum(['credit', 'debit']);
const TransactionStatus = StringEnum(['pending', 'completed', 'failed']);
const ReferenceType = StringEnum(['PAYMENT', 'EXTERNAL', 'REQUEST', 'INVOICE']);
export const TransactionReason = StringEnum([
  'INVOICE_PAYMENT',
  'FREE_CREDIT_GRANT',
  'SUBSCRIPTION_CREDIT_GRANT',
  'PURCHASED_CREDIT_INVOICED',
  'PURCHASED_CREDIT_DIRECT',
  'CREDIT_NOTE',
  'CREDIT_EXPIRED',
  'WALLET_TERMINATION',
  'MANUAL_BALANCE_DEBIT',
  'CREDIT_ADJUSTMENT',
  'INVOICE_VOID_REFUND',
  'PURCHASED_CREDIT_BONUS',
]);

const AlertThreshold = Type.Object({
  threshold: DecimalInput,
  condition: StringEnum(['above', 'below']),
});
const AlertSettingsInput = Type.Object({
  critical: Type.Optional(AlertThreshold),
  warning: Type.Optional(AlertThreshold),
  info: Type.Optional(AlertThreshold),
  alert_enabled: Type.Optional(Type.Boolean()),
});
const AlertThresholdOut = Type.Object({ threshold: DecimalString, condition: StringEnum(['above', 'below']) });
const AlertSettings = Type.Object(
  {
    critical: Type.Optional(AlertThresholdOut),
    warning: Type.Optional(AlertThresholdOut),
    info: Type.Optional(AlertThresholdOut),
    alert_enabled: Type.Optional(Type.Boolean()),
  },
  { title: 'AlertSettings' },
);

const Cooldown = Type.Object({
  value: Type.Integer({ minimum: 0 }),
  unit: StringEnum(['second', 'minute', 'hour', 'day']),
});
const AutoTopUpInput = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  threshold: Type.Optional(DecimalInput),
  amount: Type.Optional(DecimalInput),
  invoicing: Type.Optional(Type.Boolean()),
  cooldown: Type.Optional(Cooldown),
});
const AutoTopUp = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    threshold: DecimalString,
    amount: DecimalString,
    invoicing: Type.Boolean(),
    cooldown: Type.Optional(Cooldown),
  },
  { title: 'AutoTopup' },
);
const WalletConfig = Type.Object({
  allowed_price_types: Type.Optional(Type.Array(StringEnum(['ALL', 'USAGE', 'FIXED']), { maxItems: 3 })),
});

export const CreateWalletRequest = Type.Object({
  customer_id: Type.Optional(Type.String({ maxLength: 50 })),
  external_customer_id: Type.Optional(Type.String({ maxLength: 255 })),
  currency: Type.String({ minLength: 3, maxLength: 3 }),
  name: Type.Optional(Type.String({ maxLength: 255 })),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  metadata: Type.Optional(Metadata),
  wallet_type: Type.Optional(WalletType),
  conversion_rate: Type.Optional(DecimalInput),
  topup_conversion_rate: Type.Optional(DecimalInput),
  initial_credits_to_load: Type.Optional(DecimalInput),
  initial_credits_to_load_expiry_date: Type.Optional(Type.Integer({ minimum: 0, maximum: 99991231 })),
  initial_credits_expiry_date_utc: Type.Optional(Type.String()),
  auto_topup: Type.Optional(AutoTopUpInput),
  auto_topup_trigger: Type.Optional(StringEnum(['disabled', 'balance_below_threshold'])),
  auto_topup_min_balance: Type.Optional(DecimalInput),
  auto_topup_amount: Type.Optional(DecimalInput),
  alert_settings: Type.Optional(AlertSettingsInput),
  price_unit: Type.Optional(Type.String({ maxLength: 50 })),
  config: Type.Optional(WalletConfig),
});

export const UpdateWalletRequest = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 255 })),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  metadata: Type.Optional(Metadata),
  auto_topup: Type.Optional(AutoTopUpInput),
  config: Type.Optional(WalletConfig),
  alert_settings: Type.Optional(AlertSettingsInput),
});

const CreditBreakdown = Type.Object({ purchased: DecimalString, free: DecimalString });

const walletFields = {
  id: Type.String(),
  customer_id: Type.String(),
  name: Type.String(),
  currency: Type.String(),
  description: Type.String(),
  metadata: Metadata,
  balance: DecimalString,
  credit_balance: DecimalString,
  wallet_status: WalletStatus,
  wallet_type: WalletType,
  config: Type.Object({ allowed_price_types: Type.Array(Type.String()) }),
  conversion_rate: DecimalString,
  topup_conversion_rate: DecimalString,
  auto_topup: Type.Optional(AutoTopUp),
  alert_settings: Type.Optional(AlertSettings),
  alert_state: AlertState,
  environment_id: Type.String(),
  tenant_id: Type.String(),
  status: Status,
  created_at: Timestamp,
  updated_at: Timestamp,
  created_by: Type.String(),
  updated_by: Type.String(),
  credits_available_breakdown: Type.Optional(CreditBreakdown),
};

export const WalletResponse = Type.Object(walletFields, { title: 'WalletResponse' });

const realTimeFields = {
  real_time_balance: DecimalString,
  real_time_credit_balance: DecimalString,
  balance_updated_at: Timestamp,
  current_period_usage: DecimalString,
  unpaid_invoices_amount: DecimalString,
  is_cached_fallback: Type.Boolean(),
};

export const WalletBalanceResponse = Type.Object(
  { ...walletFields, ...realTimeFields },
  { title: 'WalletBalanceResponse' },
);

/** Items of the customer wallet lists: the real-time fields only when asked for. */
export const CustomerWalletItem = Type.Object(
  {
    ...walletFields,
    real_time_balance: Type.Optional(DecimalString),
    real_time_credit_balance: Type.Optional(DecimalString),
    balance_updated_at: Type.Optional(Timestamp),
    current_period_usage: Type.Optional(DecimalString),
    unpaid_invoices_amount: Type.Optional(DecimalString),
    is_cached_fallback: Type.Optional(Type.Boolean()),
  },
  { title: 'CustomerWalletResponse' },
);

export const TerminateWalletResponse = Type.Object({ ...walletFields, message: Type.String() });

export const WalletTransactionResponse = Type.Object(
  {
    id: Type.String(),
    wallet_id: Type.String(),
    customer_id: Type.String(),
    type: TransactionType,
    amount: DecimalString,
    credit_amount: DecimalString,
    credit_balance_before: DecimalString,
    credit_balance_after: DecimalString,
    credits_available: DecimalString,
    transaction_status: TransactionStatus,
    transaction_reason: Type.String(),
    reference_type: ReferenceType,
    reference_id: Type.String(),
    description: Type.String(),
    metadata: Metadata,
    expiry_date: Type.Optional(Timestamp),
    priority: Type.Optional(Type.Integer()),
    currency: Type.String(),
    parent_transaction_id: Type.Optional(Type.String()),
    conversion_rate: Type.Optional(DecimalString),
    topup_conversion_rate: Type.Optional(DecimalString),
    idempotency_key: Type.String(),
    environment_id: Type.String(),
    tenant_id: Type.String(),
    status: Status,
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
    customer: Type.Optional(Type.Unknown()),
    wallet: Type.Optional(WalletResponse),
  },
  { title: 'WalletTransactionResponse' },
);

export const TopUpWalletRequest = Type.Object({
  credits_to_add: Type.Optional(DecimalInput),
  amount: Type.Optional(DecimalInput),
  transaction_reason: TransactionReason,
  expiry_date_utc: Type.Optional(Type.String()),
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  idempotency_key: Type.Optional(Type.String({ maxLength: 255 })),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  metadata: Type.Optional(Metadata),
  bonus_credits_to_add: Type.Optional(DecimalInput),
  bonus_credits_expiry_date_utc: Type.Optional(Type.String()),
  force_sync_invoice: Type.Optional(Type.Boolean()),
  checkout: Type.Optional(Type.Unknown()),
});

export const TopUpWalletResponse = Type.Object(
  {
    wallet_transaction: WalletTransactionResponse,
    wallet: WalletResponse,
    invoice_id: Type.Optional(Type.String()),
  },
  { title: 'TopUpWalletResponse' },
);

export const DebitWalletRequest = Type.Object({
  credits: DecimalInput,
  transaction_reason: StringEnum(['MANUAL_BALANCE_DEBIT']),
  idempotency_key: Type.String({ minLength: 1, maxLength: 255 }),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  metadata: Type.Optional(Metadata),
});

export const ModifyWalletRequest = Type.Object({
  modification_type: StringEnum(['prepaid_to_postpaid']),
});
export const ModifyWalletResponse = Type.Object({ original_wallet: WalletResponse, new_wallet: WalletResponse });

const walletFilterFields = {
  limit: PageFields.limit,
  offset: PageFields.offset,
  order: PageFields.order,
  expand: PageFields.expand,
  status: Type.Optional(WalletStatus),
  alert_enabled: Type.Optional(Type.Boolean()),
  sort: Type.Optional(Type.String()),
};

export const WalletSearchRequest = Type.Object({
  ...walletFilterFields,
  wallet_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
});
export const WalletListQuery = Type.Object({
  ...walletFilterFields,
  wallet_ids: Type.Optional(Type.String({ description: 'comma-separated wallet ids' })),
});
export const WalletList = ListOf(WalletResponse);

const transactionFilterFields = {
  ...PageFields,
  type: Type.Optional(TransactionType),
  transaction_status: Type.Optional(TransactionStatus),
  transaction_reason: Type.Optional(TransactionReason),
  reference_type: Type.Optional(ReferenceType),
  reference_id: Type.Optional(Type.String()),
  expiry_date_before: Type.Optional(Type.String()),
  expiry_date_after: Type.Optional(Type.String()),
  credits_available_gt: Type.Optional(DecimalInput),
  priority: Type.Optional(Type.Integer()),
  created_by: Type.Optional(Type.String()),
};

export const WalletTransactionSearchRequest = Type.Object({
  ...transactionFilterFields,
  id: Type.Optional(Type.String({ description: 'wallet id' })),
  filters: Type.Optional(Type.Array(FilterCondition, { maxItems: 50 })),
  sort: Type.Optional(Type.Array(SortCondition, { maxItems: 10 })),
});
export const WalletTransactionListQuery = Type.Object({
  ...transactionFilterFields,
  id: Type.Optional(Type.String({ description: 'wallet id (the path wins)' })),
  sort: Type.Optional(Type.String()),
});
export const WalletTransactionList = ListOf(WalletTransactionResponse);

export const CustomerWalletsQuery = Type.Object({
  id: Type.Optional(Type.String()),
  lookup_key: Type.Optional(Type.String()),
  include_real_time_balance: Type.Optional(Type.Boolean({ default: false })),
  from_cache: Type.Optional(Type.Boolean()),
  expand: Type.Optional(Type.String()),
});

export const ExpandQuery = Type.Object({
  expand: Type.Optional(Type.String()),
  from_cache: Type.Optional(Type.Boolean()),
});
