import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { invoiceViewFromDraft } from '../../src/modules/invoices/invoices.service.ts';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness } from '../support/harness.ts';
import { countRows, createCustomer, draft, draftLine, writeDraft } from '../support/invoices.ts';

let h: Harness;
const clock = new TestClock('2026-08-15T10:00:00Z');
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

describe('invoices from drafts', () => {
  it('writes a DRAFT invoice with line amounts rounded to the currency and exact totals', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const invoice = await writeDraft(
      h,
      tenant,
      draft(
        customer.id,
        [
          draftLine({ amount: '10.005', quantity: '1000.5', display_name: 'Tokens' }),
          draftLine({ amount: '0.333', price_type: 'FIXED', display_name: 'Seat' }),
          draftLine({ amount: '0.1' }),
          draftLine({ amount: '0.2' }),
        ],
        {
          idempotency_key: 'k-1',
          period_start: new Date('2026-07-01T00:00:00Z'),
          period_end: new Date('2026-08-01T00:00:00Z'),
        },
      ),
    );
    assert.equal(invoice.invoice_status, 'DRAFT');
    assert.equal(invoice.payment_status, 'PENDING');
    assert.deepEqual(
      invoice.line_items?.map((l) => l.amount),
      ['10.01', '0.33', '0.1', '0.2'],
    );
    assert.equal(invoice.subtotal, '10.64');
    assert.equal(invoice.total, '10.64');
    assert.equal(invoice.amount_due, '10.64');
    assert.equal(invoice.amount_remaining, '10.64');
    assert.equal(invoice.amount_paid, '0');
    assert.equal(invoice.invoice_number, undefined, 'numbers are assigned at finalization');

    const response = await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`);
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json();
    assert.equal(body.id, invoice.id);
    assert.equal(body.customer.id, customer.id);
    assert.equal(body.line_items.length, 4);
    assert.equal(body.line_items[0].quantity, '1000.5');
    assert.equal(body.line_items[0].display_name, 'Tokens');
    assert.equal(body.period_start, '2026-07-01T00:00:00.000Z');
    assert.equal(body.total, '10.64');
  });

  it('rounds to the precision of the currency (JPY 0, KWD 3)', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const jpy = await writeDraft(
      h,
      tenant,
      draft(customer.id, [draftLine({ amount: '100.5' }), draftLine({ amount: '0.4' })], { currency: 'JPY' }),
    );
    assert.equal(jpy.currency, 'jpy');
    assert.equal(jpy.total, '101');
    const kwd = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '1.0005' })], { currency: 'kwd' }));
    assert.equal(kwd.total, '1.001');
  });

  it('is idempotent by key: a second draft returns the first invoice and writes nothing', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    await h.request(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' });
    const first = await writeDraft(
      h,
      tenant,
      draft(customer.id, [draftLine({ amount: '5' })], { idempotency_key: 'subs_1:2026-07-01' }),
    );
    const messagesBefore = await h.database.db
      .selectFrom('webhook_messages')
      .select('id')
      .where('tenant_id', '=', tenant.tenantId)
      .execute();
    const second = await writeDraft(
      h,
      tenant,
      draft(customer.id, [draftLine({ amount: '7' }), draftLine({ amount: '1' })], {
        idempotency_key: 'subs_1:2026-07-01',
      }),
    );
    assert.equal(second.id, first.id);
    assert.equal(second.total, '5');
    assert.equal(await countRows(h, tenant, 'invoices'), 1);
    assert.equal(await countRows(h, tenant, 'invoice_line_items'), 1);
    const messagesAfter = await h.database.db
      .selectFrom('webhook_messages')
      .select('id')
      .where('tenant_id', '=', tenant.tenantId)
      .execute();
    assert.equal(messagesAfter.length, messagesBefore.length, 'no second invoice.create.drafted');
    // Without a key every draft is a new invoice.
    await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '5' })]));
    await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '5' })]));
    assert.equal(await countRows(h, tenant, 'invoices'), 3);
  });

  it('refuses a draft for an unknown customer or with a negative line, writing nothing', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    await assert.rejects(writeDraft(h, tenant, draft('cust_nope', [draftLine({ amount: '1' })])), {
      code: 'not_found',
    });
    await assert.rejects(writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '-1' })])), {
      code: 'validation_error',
    });
    await assert.rejects(
      writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '1' })], { currency: 'dollars' })),
      {
        code: 'validation_error',
      },
    );
    const other = await h.newTenant();
    const foreign = await createCustomer(h, other);
    await assert.rejects(writeDraft(h, tenant, draft(foreign.id, [draftLine({ amount: '1' })])), { code: 'not_found' });
    assert.equal(await countRows(h, tenant, 'invoices'), 0);
  });

  it('renders a preview from a draft with the same totals, writing nothing', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const value = draft(customer.id, [draftLine({ amount: '10.005' }), draftLine({ amount: '0.333' })]);
    const preview = invoiceViewFromDraft(value, { now: clock.now() });
    assert.equal(preview.total, '10.34');
    assert.deepEqual(
      preview.line_items?.map((l) => l.amount),
      ['10.01', '0.33'],
    );
    assert.equal(preview.invoice_status, 'DRAFT');
    assert.equal(await countRows(h, tenant, 'invoices'), 0);
    const written = await writeDraft(h, tenant, value);
    assert.equal(written.total, preview.total);
    assert.equal(written.subtotal, preview.subtotal);
  });
});

describe('GET /v1/invoices/{id}', () => {
  it('is 404 for an unknown id and for another environment’s invoice', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const invoice = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '1' })]));
    assertEnvelope(await h.request(tenant, 'GET', '/v1/invoices/inv_unknown'), 404, 'not_found');
    const other = await h.newTenant();
    assertEnvelope(await h.request(other, 'GET', `/v1/invoices/${invoice.id}`), 404, 'not_found');
    assertEnvelope(await h.request(null, 'GET', `/v1/invoices/${invoice.id}`), 401);
    assertEnvelope(await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}?expand=nope`), 400, 'validation_error');
  });
});

describe('POST /v1/invoices/search and GET /v1/invoices', () => {
  it('filters by customer, status, type and amounts, pages, and skips line items on request', async () => {
    const tenant = await h.newTenant();
    const alice = await createCustomer(h, tenant, 'alice');
    const bob = await createCustomer(h, tenant, 'bob');
    const a1 = await writeDraft(h, tenant, draft(alice.id, [draftLine({ amount: '1' })]));
    clock.advance(1000);
    const a2 = await writeDraft(
      h,
      tenant,
      draft(alice.id, [draftLine({ amount: '20' })], { invoice_type: 'SUBSCRIPTION' }),
    );
    clock.advance(1000);
    const b1 = await writeDraft(h, tenant, draft(bob.id, [draftLine({ amount: '3' })], { currency: 'eur' }));

    const all = (await h.request(tenant, 'POST', '/v1/invoices/search', {})).json();
    assert.deepEqual(
      all.items.map((i: { id: string }) => i.id),
      [b1.id, a2.id, a1.id],
      'newest first',
    );
    assert.deepEqual(all.pagination, { total: 3, limit: 50, offset: 0 });
    assert.equal(all.items[0].line_items.length, 1);

    const search = async (body: unknown) => {
      const response = await h.request(tenant, 'POST', '/v1/invoices/search', body);
      assert.equal(response.statusCode, 200, response.body);
      return response.json().items.map((i: { id: string }) => i.id);
    };
    assert.deepEqual(await search({ customer_id: alice.id }), [a2.id, a1.id]);
    assert.deepEqual(await search({ external_customer_id: 'bob' }), [b1.id]);
    assert.deepEqual(await search({ external_customer_id: 'nobody' }), []);
    assert.deepEqual(await search({ invoice_type: 'SUBSCRIPTION' }), [a2.id]);
    assert.deepEqual(await search({ currency: 'EUR' }), [b1.id]);
    assert.deepEqual(await search({ amount_due_gt: 2 }), [b1.id, a2.id]);
    assert.deepEqual(await search({ invoice_status: ['FINALIZED'] }), []);
    assert.deepEqual(await search({ invoice_status: ['DRAFT'], invoice_ids: [a1.id, b1.id] }), [b1.id, a1.id]);
    assert.deepEqual(await search({ limit: 1, offset: 1 }), [a2.id]);
    assert.deepEqual(await search({ sort: [{ field: 'total', direction: 'asc' }] }), [a1.id, b1.id, a2.id]);
    assert.deepEqual(
      await search({ filters: [{ field: 'total', operator: 'gt', data_type: 'number', value: { number: 2 } }] }),
      [b1.id, a2.id],
    );
    const skipped = (await h.request(tenant, 'POST', '/v1/invoices/search', { skip_line_items: true })).json();
    assert.equal(skipped.items[0].line_items, undefined);

    const listed = await h.request(tenant, 'GET', `/v1/invoices?customer_id=${alice.id}&invoice_status=DRAFT&limit=1`);
    assert.equal(listed.statusCode, 200, listed.body);
    assert.deepEqual(listed.json().pagination, { total: 2, limit: 1, offset: 0 });
    assert.equal(listed.json().items[0].id, a2.id);

    const other = await h.newTenant();
    assert.equal((await h.request(other, 'POST', '/v1/invoices/search', {})).json().items.length, 0);
  });

  it('refuses bad filters with 400', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(await h.request(tenant, 'POST', '/v1/invoices/search', { invoice_status: ['PAID'] }), 400);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/invoices/search', { period_start_gte: 'yesterday' }), 400);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/invoices/search', {
        filters: [{ field: 'secret', operator: 'eq', data_type: 'string', value: { string: 'x' } }],
      }),
      400,
    );
    assertEnvelope(await h.request(tenant, 'GET', '/v1/invoices?payment_status=NOPE'), 400);
  });
});
