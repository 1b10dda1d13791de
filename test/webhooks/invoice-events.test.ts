import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { type Harness, startHarness } from '../support/harness.ts';
import { createCustomer, createWallet, draft, draftLine, storedWebhooks, writeDraft } from '../support/invoices.ts';
import { assertMatchesSchema, referenceWebhooks } from '../support/reference-schemas.ts';

/**
 * invoice.* and payment.* reach the outbox in the business transaction, with payloads that match the reference
 * schemas (undocumented keys rejected). Reads the stored messages; delivery itself is tested in delivery.test.ts.
 */
let h: Harness;
const clock = new TestClock('2026-08-15T10:00:00Z');
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

function assertReferencePayloads(stored: Array<{ type: string; payload: Record<string, unknown> }>) {
  for (const { type, payload } of stored) {
    assert.equal(payload.event_type, type);
    const schema = referenceWebhooks.events[type];
    assert.ok(schema, `no reference schema for ${type}`);
    // The reference documents /webhook-events/invoice.create.drafted but leaves the name out of its
    // types.WebhookEventName enum; the rest of the payload is checked as documented.
    const named = type === 'invoice.create.drafted' ? { ...payload, event_type: 'invoice.update' } : payload;
    assertMatchesSchema(named, schema);
  }
}

describe('invoice webhook events', () => {
  it('enqueues invoice.create.drafted with the InvoiceResponse, its line items and customer', async () => {
    const tenant = await h.newTenant();
    await h.request(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' });
    const customer = await createCustomer(h, tenant);
    const invoice = await writeDraft(
      h,
      tenant,
      draft(customer.id, [draftLine({ amount: '12.5', period_start: new Date('2026-07-01T00:00:00Z') })], {
        subscription_id: 'subs_x',
        metadata: { source: 'test' },
      }),
    );
    const stored = await storedWebhooks(h, tenant, 'invoice.');
    assert.deepEqual(
      stored.map((m) => m.type),
      ['invoice.create.drafted'],
    );
    assertReferencePayloads(stored);
    const payload = stored[0]!.payload.invoice as Record<string, unknown> & { customer: { id: string } };
    assert.equal(payload.id, invoice.id);
    assert.equal(payload.total, '12.5');
    assert.equal(payload.customer.id, customer.id);
    assert.equal((payload.line_items as unknown[]).length, 1);
  });

  it('enqueues nothing for a draft that fails', async () => {
    const tenant = await h.newTenant();
    await h.request(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' });
    await assert.rejects(writeDraft(h, tenant, draft('cust_missing', [draftLine({ amount: '1' })])));
    assert.deepEqual(await storedWebhooks(h, tenant, 'invoice.'), []);
  });

  it('enqueues the finalize, payment, update and void events of a lifecycle, each matching its schema', async () => {
    const tenant = await h.newTenant();
    await h.request(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' });
    const customer = await createCustomer(h, tenant);
    const invoice = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '10' })]));
    assert.equal((await h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/finalize`)).statusCode, 200);
    const pending = await h.request(tenant, 'POST', '/v1/payments', {
      amount: '4',
      currency: 'usd',
      destination_type: 'INVOICE',
      destination_id: invoice.id,
      payment_method_type: 'OFFLINE',
      process_payment: false,
    });
    assert.equal(pending.statusCode, 201, pending.body);
    await h.request(tenant, 'POST', `/v1/payments/${pending.json().id}/process`);
    const wallet = await createWallet(h, tenant, { customer_id: customer.id, wallet_type: 'POST_PAID' });
    const failed = await h.request(tenant, 'POST', '/v1/payments', {
      amount: '1',
      currency: 'usd',
      destination_type: 'INVOICE',
      destination_id: invoice.id,
      payment_method_type: 'CREDITS',
      payment_method_id: wallet.id,
    });
    assert.equal(failed.json().payment_status, 'FAILED');
    await h.request(tenant, 'PUT', `/v1/payments/${failed.json().id}`, { metadata: { retry: 'no' } });
    await h.request(tenant, 'PUT', `/v1/invoices/${invoice.id}`, { metadata: { po: '1' } });
    await h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/void`);

    const stored = (await storedWebhooks(h, tenant)).filter((m) => /^(invoice|payment)\./.test(m.type));
    assert.deepEqual(
      stored.map((m) => m.type),
      [
        'invoice.create.drafted',
        'invoice.update.finalized',
        'payment.created',
        'payment.pending',
        'invoice.update.payment',
        'payment.success',
        'payment.created',
        'payment.failed',
        'payment.updated',
        'invoice.update',
        'invoice.update.voided',
      ],
    );
    assertReferencePayloads(stored);
    const finalized = stored[1]!.payload.invoice as { invoice_number: string; invoice_status: string };
    assert.equal(finalized.invoice_status, 'FINALIZED');
    assert.match(finalized.invoice_number, /^INV-202608-\d{5}$/);
    const success = stored[5]!.payload.payment as Record<string, unknown>;
    assert.equal(success.payment_status, 'SUCCEEDED');
    assert.equal(success.amount, '4');
    assert.equal(success.invoice_number, finalized.invoice_number);
    const paidInvoice = stored[4]!.payload.invoice as { amount_paid: string; amount_remaining: string };
    assert.deepEqual([paidInvoice.amount_paid, paidInvoice.amount_remaining], ['4', '6']);
    const failure = stored[7]!.payload.payment as { error_message: string };
    assert.ok(failure.error_message);
    assert.equal((stored[10]!.payload.invoice as { invoice_status: string }).invoice_status, 'VOIDED');
  });
});
