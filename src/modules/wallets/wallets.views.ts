import { columnToWire } from '../../platform/money.ts';
import { type AlertSettings, type AlertState, hasThreshold } from './ledger.ts';
import type { WalletRow, WalletTransactionRow } from './wallets.repo.ts';

export type WalletType = 'PRE_PAID' | 'POST_PAID' | 'PROMOTIONAL';
export type WalletStatus = 'active' | 'frozen' | 'closed';

export interface AutoTopUp {
  enabled?: boolean;
  threshold: string;
  amount: string;
  invoicing: boolean;
  cooldown?: { value: number; unit: 'second' | 'minute' | 'hour' | 'day' };
}

export interface CreditBreakdown {
  purchased: string;
  free: string;
}

/** The API's WalletResponse. Events carry exactly this view. */
export interface WalletView {
  id: string;
  customer_id: string;
  name: string;
  currency: string;
  description: string;
  metadata: Record<string, string>;
  balance: string;
  credit_balance: string;
  wallet_status: WalletStatus;
  wallet_type: WalletType;
  config: { allowed_price_types: string[] };
  conversion_rate: string;
  topup_conversion_rate: string;
  auto_topup?: AutoTopUp;
  alert_settings?: AlertSettings;
  alert_state: AlertState;
  environment_id: string;
  tenant_id: string;
  status: 'published' | 'archived' | 'deleted';
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
  credits_available_breakdown?: CreditBreakdown;
}

/** The API's WalletBalanceResponse (real-time balance). */
export interface WalletBalanceView extends WalletView {
  real_time_balance: string;
  real_time_credit_balance: string;
  balance_updated_at: string;
  current_period_usage: string;
  unpaid_invoices_amount: string;
  is_cached_fallback: boolean;
}

/** The API's WalletTransactionResponse. */
export interface WalletTransactionView {
  id: string;
  wallet_id: string;
  customer_id: string;
  type: 'credit' | 'debit';
  amount: string;
  credit_amount: string;
  credit_balance_before: string;
  credit_balance_after: string;
  credits_available: string;
  transaction_status: 'pending' | 'completed' | 'failed';
  transaction_reason: string;
  reference_type: 'PAYMENT' | 'EXTERNAL' | 'REQUEST' | 'INVOICE';
  reference_id: string;
  description: string;
  metadata: Record<string, string>;
  expiry_date?: string;
  priority?: number;
  currency: string;
  parent_transaction_id?: string;
  conversion_rate?: string;
  topup_conversion_rate?: string;
  idempotency_key: string;
  environment_id: string;
  tenant_id: string;
  status: 'published' | 'archived' | 'deleted';
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
  customer?: unknown;
  wallet?: WalletView;
}

export function walletView(row: WalletRow): WalletView {
  const view: WalletView = {
    id: row.id,
    customer_id: row.customer_id,
    name: row.name,
    currency: row.currency,
    description: row.description,
    metadata: row.metadata ?? {},
    balance: columnToWire(row.balance),
    credit_balance: columnToWire(row.credit_balance),
    wallet_status: row.wallet_status as WalletStatus,
    wallet_type: row.wallet_type as WalletType,
    config: { allowed_price_types: row.config?.allowed_price_types ?? [] },
    conversion_rate: columnToWire(row.conversion_rate),
    topup_conversion_rate: columnToWire(row.topup_conversion_rate),
    alert_state: row.alert_state as AlertState,
    environment_id: row.environment_id,
    tenant_id: row.tenant_id,
    status: row.status as WalletView['status'],
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  };
  if (row.auto_topup) view.auto_topup = row.auto_topup as AutoTopUp;
  const settings = row.alert_settings as AlertSettings | null;
  if (hasThreshold(settings)) view.alert_settings = settings;
  return view;
}

export function walletTransactionView(row: WalletTransactionRow): WalletTransactionView {
  const view: WalletTransactionView = {
    id: row.id,
    wallet_id: row.wallet_id,
    customer_id: row.customer_id,
    type: row.type,
    amount: columnToWire(row.amount),
    credit_amount: columnToWire(row.credit_amount),
    credit_balance_before: columnToWire(row.credit_balance_before),
    credit_balance_after: columnToWire(row.credit_balance_after),
    credits_available: columnToWire(row.credits_available),
    transaction_status: row.transaction_status as WalletTransactionView['transaction_status'],
    transaction_reason: row.transaction_reason,
    reference_type: row.reference_type as WalletTransactionView['reference_type'],
    reference_id: row.reference_id,
    description: row.description,
    metadata: row.metadata ?? {},
    currency: row.currency,
    idempotency_key: row.idempotency_key,
    environment_id: row.environment_id,
    tenant_id: row.tenant_id,
    status: row.status as WalletTransactionView['status'],
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  };
  if (row.expiry_date) view.expiry_date = row.expiry_date.toISOString();
  if (row.priority !== null) view.priority = row.priority;
  if (row.parent_transaction_id) view.parent_transaction_id = row.parent_transaction_id;
  if (row.conversion_rate !== null) view.conversion_rate = columnToWire(row.conversion_rate);
  if (row.topup_conversion_rate !== null) view.topup_conversion_rate = columnToWire(row.topup_conversion_rate);
  return view;
}
