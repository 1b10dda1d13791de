import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';
import {
  countRows,
  createCustomer,
  createWallet,
  draft,
  draftLine,
  finalize,
  getWallet,
  walletTransactions,
  writeDraft,
} from '../support/invoices.ts';

let h: Harness;
const clock = new TestClock('2026-08-15T10:00:00Z');
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

/** A customer with one FINALIZED invoice of `amount` (one usage line). */
async function invoiceOf(tenant: TestTenant, amount = '20') {
  const customer = await createCustomer(h, tenant);
  const invoice = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount })]));
  return { customer, invoice: await finalize(h, tenant, invoice.id) };
}

const offline = (invoiceId: string, amount: string, extra: Record<string, unknown> = {}) => ({
  amount,
  currency: 'usd',
  destination_type: 'INVOICE',
  destination_id: invoiceId,
  payment_method_type: 'OFFLINE',
  ...extra,
});

describe('POST /v1/payments', () => {
  it('records an OFFLINE payment (201) and updates the invoice exactly, partial then full', async () => {
    const tenant = await h.newTenant();
    const { invoice } = await invoiceOf(tenant, '20');
    const first = await h.request(
      tenant,
      'POST',
      '/v1/payments',
      offline(invoice.id, '7.35', { metadata: { ref: 'wire-1' } }),
    );
    assert.equal(first.statusCode, 201, first.body);
    const payment = first.json();
    assert.match(payment.id, /^pay_/);
    assert.equal(payment.payment_status, 'SUCCEEDED');
    assert.equal(payment.amount, '7.35');
    assert.equal(payment.invoice_number, invoice.invoice_number);
    assert.ok(payment.succeeded_at);
    assert.deepEqual(payment.metadata, { ref: 'wire-1' });
    let after = (await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json();
    assert.equal(after.amount_paid, '7.35');
    assert.equal(after.amount_remaining, '12.65');
    assert.equal(after.payment_status, 'PENDING');
    assert.equal(after.paid_at, undefined);
    await h.request(tenant, 'POST', '/v1/payments', offline(invoice.id, '12.65'));
    after = (await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json();
    assert.equal(after.amount_paid, '20');
    assert.equal(after.amount_remaining, '0');
    assert.equal(after.payment_status, 'SUCCEEDED');
    assert.ok(after.paid_at);
  });

  it('keeps a payment PENDING with process_payment false until /process', async () => {
    const tenant = await h.newTenant();
    const { invoice } = await invoiceOf(tenant, '20');
    const created = await h.request(
      tenant,
      'POST',
      '/v1/payments',
      offline(invoice.id, '20', { process_payment: false }),
    );
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json().payment_status, 'PENDING');
    assert.equal((await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json().amount_paid, '0');
    const processed = await h.request(tenant, 'POST', `/v1/payments/${created.json().id}/process`);
    assert.equal(processed.statusCode, 200, processed.body);
    assert.equal(processed.json().payment_status, 'SUCCEEDED');
    assert.equal((await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json().payment_status, 'SUCCEEDED');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/payments/${created.json().id}/process`),
      400,
      'invalid_operation',
    );
  });

  it('pays with CREDITS from a wallet, and fails the payment when the wallet cannot cover it', async () => {
    const tenant = await h.newTenant();
    const { customer, invoice } = await invoiceOf(tenant, '20');
    const wallet = await createWallet(h, tenant, {
      customer_id: customer.id,
      wallet_type: 'POST_PAID',
      initial_credits_to_load: '15',
    });
    const failed = await h.request(tenant, 'POST', '/v1/payments', {
      ...offline(invoice.id, '16'),
      payment_method_type: 'CREDITS',
      payment_method_id: wallet.id,
    });
    assert.equal(failed.statusCode, 201, failed.body);
    assert.equal(failed.json().payment_status, 'FAILED');
    assert.ok(failed.json().error_message);
    assert.equal((await getWallet(h, tenant, wallet.id)).balance, '15');
    const ok = await h.request(tenant, 'POST', '/v1/payments', {
      ...offline(invoice.id, '15'),
      payment_method_type: 'CREDITS',
      payment_method_id: wallet.id,
    });
    assert.equal(ok.json().payment_status, 'SUCCEEDED', ok.body);
    assert.equal((await getWallet(h, tenant, wallet.id)).balance, '0');
    const debit = (await walletTransactions(h, tenant, wallet.id)).find(
      (t) => t.transaction_reason === 'INVOICE_PAYMENT',
    );
    assert.equal(debit?.reference_id, ok.json().id);
    const after = (await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json();
    assert.equal(after.amount_paid, '15');
    assert.equal(after.amount_remaining, '5');
  });

  it('refuses provider methods, bad amounts, unpayable invoices and unknown invoices, writing nothing', async () => {
    const tenant = await h.newTenant();
    const { customer, invoice } = await invoiceOf(tenant, '20');
    const draftInvoice = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '5' })]));
    const cases: Array<[unknown, number]> = [
      [{ ...offline(invoice.id, '5'), payment_method_type: 'CARD' }, 400],
      [{ ...offline(invoice.id, '5'), payment_method_type: 'PAYMENT_LINK' }, 400],
      [{ ...offline(invoice.id, '5'), payment_method_type: 'CREDITS' }, 400],
      [{ ...offline(invoice.id, '5'), payment_gateway: 'stripe' }, 400],
      [{ ...offline(invoice.id, '5'), destination_type: 'CUSTOMER', destination_id: customer.id }, 400],
      [offline(invoice.id, '0'), 400],
      [offline(invoice.id, '-1'), 400],
      [offline(invoice.id, '1.001'), 400],
      [offline(invoice.id, 'lots'), 400],
      [offline(invoice.id, '20.01'), 400],
      [{ ...offline(invoice.id, '5'), currency: 'eur' }, 400],
      [offline(draftInvoice.id, '5'), 400],
      [offline('inv_unknown', '5'), 404],
      [{ amount: '5', currency: 'usd' }, 400],
    ];
    for (const [body, status] of cases) {
      assertEnvelope(await h.request(tenant, 'POST', '/v1/payments', body), status);
    }
    const other = await h.newTenant();
    assertEnvelope(await h.request(other, 'POST', '/v1/payments', offline(invoice.id, '5')), 404);
    assert.equal(await countRows(h, tenant, 'payments'), 0);
    assert.equal((await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json().amount_paid, '0');
  });

  it('returns the original payment for a repeated idempotency key (409 when it differs)', async () => {
    const tenant = await h.newTenant();
    const { invoice } = await invoiceOf(tenant, '20');
    const first = await h.request(tenant, 'POST', '/v1/payments', offline(invoice.id, '5', { idempotency_key: 'p-1' }));
    const again = await h.request(tenant, 'POST', '/v1/payments', offline(invoice.id, '5', { idempotency_key: 'p-1' }));
    assert.equal(again.statusCode, 201);
    assert.equal(again.json().id, first.json().id);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/payments', offline(invoice.id, '6', { idempotency_key: 'p-1' })),
      409,
    );
    assert.equal(await countRows(h, tenant, 'payments'), 1);
    assert.equal((await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json().amount_paid, '5');
  });
});

describe('GET, PUT, DELETE /v1/payments', () => {
  it('reads, lists with filters, updates and deletes payments within the environment', async () => {
    const tenant = await h.newTenant();
    const { invoice } = await invoiceOf(tenant, '20');
    const done = (await h.request(tenant, 'POST', '/v1/payments', offline(invoice.id, '5'))).json();
    clock.advance(1000);
    const pending = (
      await h.request(tenant, 'POST', '/v1/payments', offline(invoice.id, '5', { process_payment: false }))
    ).json();

    const got = await h.request(tenant, 'GET', `/v1/payments/${done.id}`);
    assert.equal(got.statusCode, 200);
    assert.equal(got.json().amount, '5');
    const list = (await h.request(tenant, 'GET', '/v1/payments')).json();
    assert.deepEqual(
      list.items.map((p: { id: string }) => p.id),
      [pending.id, done.id],
    );
    assert.equal(list.pagination.total, 2);
    const succeeded = (await h.request(tenant, 'GET', '/v1/payments?payment_status=SUCCEEDED')).json();
    assert.deepEqual(
      succeeded.items.map((p: { id: string }) => p.id),
      [done.id],
    );
    assertEnvelope(await h.request(tenant, 'GET', '/v1/payments?payment_status=PAID'), 400);

    const updated = await h.request(tenant, 'PUT', `/v1/payments/${pending.id}`, {
      metadata: { note: 'x' },
      payment_status: 'PROCESSING',
    });
    assert.equal(updated.statusCode, 200, updated.body);
    assert.equal(updated.json().payment_status, 'PROCESSING');
    assert.deepEqual(updated.json().metadata, { note: 'x' });
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/payments/${pending.id}`, { payment_status: 'SUCCEEDED' }), 400);
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/payments/${pending.id}`, { succeeded_at: '2026-08-15T00:00:00Z' }),
      400,
    );
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/payments/${done.id}`, { payment_status: 'FAILED' }), 400);
    const failed = await h.request(tenant, 'PUT', `/v1/payments/${pending.id}`, {
      payment_status: 'FAILED',
      error_message: 'bounced',
    });
    assert.equal(failed.json().payment_status, 'FAILED');
    assert.ok(failed.json().failed_at);

    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/payments/${done.id}`), 400, 'invalid_operation');
    const deleted = await h.request(tenant, 'DELETE', `/v1/payments/${pending.id}`);
    assert.equal(deleted.statusCode, 200, deleted.body);
    assertEnvelope(await h.request(tenant, 'GET', `/v1/payments/${pending.id}`), 404);
    assert.equal((await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json().amount_paid, '5');

    const other = await h.newTenant();
    assertEnvelope(await h.request(other, 'GET', `/v1/payments/${done.id}`), 404);
    assertEnvelope(await h.request(other, 'PUT', `/v1/payments/${done.id}`, { metadata: {} }), 404);
    assertEnvelope(await h.request(other, 'DELETE', `/v1/payments/${done.id}`), 404);
    assertEnvelope(await h.request(other, 'POST', `/v1/payments/${done.id}/process`), 404);
    assert.equal((await h.request(other, 'GET', '/v1/payments')).json().items.length, 0);
    assertEnvelope(await h.request(null, 'GET', '/v1/payments'), 401);
  });
});
