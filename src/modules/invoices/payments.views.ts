import { columnToWire } from '../../platform/money.ts';
import type { PaymentRow } from './invoices.repo.ts';

/** The API's PaymentResponse. */
export interface PaymentView {
  id: string;
  idempotency_key: string;
  destination_type: string;
  destination_id: string;
  payment_method_type: string;
  payment_method_id: string;
  payment_gateway?: string;
  gateway_payment_id?: string;
  gateway_metadata: Record<string, string>;
  amount: string;
  currency: string;
  payment_status: string;
  track_attempts: boolean;
  save_card_and_make_default: boolean;
  error_message?: string;
  succeeded_at?: string;
  failed_at?: string;
  refunded_at?: string;
  voided_at?: string;
  invoice_number?: string;
  metadata: Record<string, string>;
  tenant_id: string;
  environment_id: string;
  status: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : undefined);

export function paymentView(row: PaymentRow, invoiceNumber?: string | null): PaymentView {
  const view: PaymentView = {
    id: row.id,
    idempotency_key: row.idempotency_key,
    destination_type: row.destination_type,
    destination_id: row.destination_id,
    payment_method_type: row.payment_method_type,
    payment_method_id: row.payment_method_id,
    gateway_metadata: {},
    amount: columnToWire(row.amount),
    currency: row.currency,
    payment_status: row.payment_status,
    track_attempts: row.track_attempts,
    save_card_and_make_default: false,
    metadata: row.metadata ?? {},
    tenant_id: row.tenant_id,
    environment_id: row.environment_id,
    status: row.status,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  };
  const optional = {
    payment_gateway: row.payment_gateway ?? undefined,
    gateway_payment_id: row.gateway_payment_id ?? undefined,
    error_message: row.error_message ?? undefined,
    succeeded_at: iso(row.succeeded_at),
    failed_at: iso(row.failed_at),
    refunded_at: iso(row.refunded_at),
    voided_at: iso(row.voided_at),
    invoice_number: invoiceNumber ?? undefined,
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (view as unknown as Record<string, unknown>)[key] = value;
  }
  return view;
}
