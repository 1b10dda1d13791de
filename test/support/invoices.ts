import type { InvoiceDraft, InvoiceDraftLine } from '../../src/modules/billing/draft.ts';
import { withTransaction } from '../../src/platform/db/database.ts';
import { dec } from '../../src/platform/money.ts';
import type { Harness, TestTenant } from './harness.ts';

/** Builders for invoice tests: drafts as the billing job hands them over, and a customer to bill. */
export function draftLine(
  overrides: Omit<Partial<InvoiceDraftLine>, 'amount' | 'quantity'> & { amount: string; quantity?: string },
): InvoiceDraftLine {
  const { amount, quantity, ...rest } = overrides;
  return {
    entity_type: null,
    entity_id: null,
    subscription_line_item_id: null,
    price_id: null,
    price_type: 'USAGE',
    plan_display_name: null,
    meter_id: null,
    meter_display_name: null,
    display_name: 'API calls',
    adjusted_entitlement_quantity: null,
    period_start: null,
    period_end: null,
    metadata: {},
    ...rest,
    amount: dec(amount),
    quantity: dec(quantity ?? '1'),
  };
}

export function draft(
  customerId: string,
  lines: InvoiceDraftLine[],
  overrides: Partial<InvoiceDraft> = {},
): InvoiceDraft {
  return {
    customer_id: customerId,
    subscription_id: null,
    invoice_type: 'ONE_OFF',
    billing_reason: 'MANUAL',
    currency: 'usd',
    period_start: null,
    period_end: null,
    billing_period: null,
    idempotency_key: null,
    lines,
    metadata: {},
    ...overrides,
  };
}

export async function createCustomer(h: Harness, tenant: TestTenant, externalId = 'cust-1') {
  const response = await h.request(tenant, 'POST', '/v1/customers', { external_id: externalId, name: externalId });
  if (response.statusCode !== 201) throw new Error(response.body);
  return response.json() as { id: string; external_id: string };
}

export function writeDraft(h: Harness, tenant: TestTenant, value: InvoiceDraft) {
  return withTransaction(h.database.db, (tx) => h.services.invoices.createInvoiceFromDraft(tx, tenant, value));
}

export async function countRows(h: Harness, tenant: TestTenant, table: 'invoices' | 'invoice_line_items' | 'payments') {
  const row = await h.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('tenant_id', '=', tenant.tenantId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function storedWebhooks(h: Harness, tenant: TestTenant, prefix?: string) {
  const rows = await h.database.db
    .selectFrom('webhook_messages')
    .select(['event_type', 'payload'])
    .where('tenant_id', '=', tenant.tenantId)
    .where('environment_id', '=', tenant.environmentId)
    .orderBy('id')
    .execute();
  return rows
    .filter((r) => !prefix || r.event_type.startsWith(prefix))
    .map((r) => ({ type: r.event_type, payload: JSON.parse(r.payload) as Record<string, unknown> }));
}

export async function createWallet(h: Harness, tenant: TestTenant, body: Record<string, unknown>) {
  const response = await h.request(tenant, 'POST', '/v1/wallets', { currency: 'usd', ...body });
  if (response.statusCode !== 200) throw new Error(response.body);
  return response.json() as { id: string; balance: string; credit_balance: string };
}

export async function getWallet(h: Harness, tenant: TestTenant, id: string) {
  return (await h.request(tenant, 'GET', `/v1/wallets/${id}`)).json() as {
    id: string;
    balance: string;
    credit_balance: string;
  };
}

export async function walletTransactions(h: Harness, tenant: TestTenant, walletId: string) {
  const response = await h.request(tenant, 'GET', `/v1/wallets/${walletId}/transactions?limit=100`);
  if (response.statusCode !== 200) throw new Error(response.body);
  return (
    response.json() as {
      items: Array<{
        id: string;
        type: string;
        transaction_reason: string;
        transaction_status: string;
        amount: string;
        credit_amount: string;
        reference_type: string;
        reference_id: string;
        idempotency_key: string;
        metadata: Record<string, string>;
      }>;
    }
  ).items;
}

/** Finalizes through the API and reads the invoice back. */
export async function finalize(h: Harness, tenant: TestTenant, id: string) {
  const response = await h.request(tenant, 'POST', `/v1/invoices/${id}/finalize`);
  if (response.statusCode !== 200) throw new Error(response.body);
  return (await h.request(tenant, 'GET', `/v1/invoices/${id}`)).json();
}
