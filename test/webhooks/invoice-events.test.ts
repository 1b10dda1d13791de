import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { type Harness, startHarness } from '../support/harness.ts';
import { createCustomer, draft, draftLine, storedWebhooks, writeDraft } from '../support/invoices.ts';
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
});
