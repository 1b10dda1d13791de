import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { invoiceViewFromDraft } from '../../src/modules/invoices/invoices.service.ts';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness } from '../support/harness.ts';
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

const createBody = (customerId: string, extra: Record<string, unknown> = {}) => ({
  customer_id: customerId,
  currency: 'usd',
  subtotal: '12.5',
  total: '12.5',
  amount_due: '12.5',
  line_items: [
    { amount: '10', quantity: '2', display_name: 'Setup', price_type: 'FIXED' },
    { amount: 2.5, quantity: 1, display_name: 'Calls', price_type: 'USAGE' },
  ],
  ...extra,
});

describe('POST /v1/invoices', () => {
  it('creates a one-off DRAFT invoice (201) whose totals match its lines', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const response = await h.request(
      tenant,
      'POST',
      '/v1/invoices',
      createBody(customer.id, { description: 'Setup fee' }),
    );
    assert.equal(response.statusCode, 201, response.body);
    const invoice = response.json();
    assert.equal(invoice.invoice_type, 'ONE_OFF');
    assert.equal(invoice.billing_reason, 'MANUAL');
    assert.equal(invoice.invoice_status, 'DRAFT');
    assert.equal(invoice.total, '12.5');
    assert.equal(invoice.description, 'Setup fee');
    assert.deepEqual(
      invoice.line_items.map((l: { amount: string; quantity: string }) => [l.amount, l.quantity]),
      [
        ['10', '2'],
        ['2.5', '1'],
      ],
    );
  });

  it('finalizes at once with invoice_status FINALIZED', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const response = await h.request(
      tenant,
      'POST',
      '/v1/invoices',
      createBody(customer.id, { invoice_status: 'FINALIZED' }),
    );
    assert.equal(response.statusCode, 201, response.body);
    assert.equal(response.json().invoice_status, 'FINALIZED');
    assert.match(response.json().invoice_number, /^INV-202608-00001$/);
  });

  it('refuses totals that disagree with the lines, unsupported fields, and unknown customers, writing nothing', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const cases: Array<[unknown, number]> = [
      [createBody(customer.id, { total: '12.49' }), 400],
      [createBody(customer.id, { subtotal: '13' }), 400],
      [createBody(customer.id, { line_items: [] }), 400],
      [createBody(customer.id, { coupons: ['c1'] }), 400],
      [createBody(customer.id, { tax_rates: ['t1'] }), 400],
      [createBody(customer.id, { invoice_number: 'X-1' }), 400],
      [createBody(customer.id, { payment_status: 'SUCCEEDED' }), 400],
      [createBody(customer.id, { invoice_status: 'VOIDED' }), 400],
      [
        createBody(customer.id, {
          line_items: [{ amount: '12.5', quantity: '1', line_item_discount: '1' }],
        }),
        400,
      ],
      [createBody(customer.id, { line_items: [{ amount: '12.5', quantity: '1', price_type: 'TIERED' }] }), 400],
      [createBody(customer.id, { currency: 'us' }), 400],
      [{ customer_id: customer.id, currency: 'usd' }, 400],
      [createBody('cust_unknown'), 404],
    ];
    for (const [body, status] of cases) {
      assertEnvelope(await h.request(tenant, 'POST', '/v1/invoices', body), status);
    }
    assert.equal(await countRows(h, tenant, 'invoices'), 0);
    // A zero prepaid amount or force_sync false is what the reference sends by default: accepted.
    const ok = await h.request(
      tenant,
      'POST',
      '/v1/invoices',
      createBody(customer.id, { total_prepaid_applied: '0', force_sync_invoice: false }),
    );
    assert.equal(ok.statusCode, 201, ok.body);
  });

  it('returns the draft for a repeated idempotency key, and 409 once it is finalized', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const first = await h.request(tenant, 'POST', '/v1/invoices', createBody(customer.id, { idempotency_key: 'once' }));
    const again = await h.request(tenant, 'POST', '/v1/invoices', createBody(customer.id, { idempotency_key: 'once' }));
    assert.equal(again.statusCode, 201);
    assert.equal(again.json().id, first.json().id);
    await finalize(h, tenant, first.json().id);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/invoices', createBody(customer.id, { idempotency_key: 'once' })),
      409,
      'already_exists',
    );
    assert.equal(await countRows(h, tenant, 'invoices'), 1);
  });
});

describe('PUT /v1/invoices/{id}', () => {
  it('updates due_date, pdf url and metadata; refuses apply_discount; 404 across environments', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const invoice = (await h.request(tenant, 'POST', '/v1/invoices', createBody(customer.id))).json();
    const response = await h.request(tenant, 'PUT', `/v1/invoices/${invoice.id}`, {
      due_date: '2026-09-30T00:00:00Z',
      metadata: { po: '42' },
      invoice_pdf_url: 'https://example.com/i.pdf',
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().due_date, '2026-09-30T00:00:00.000Z');
    assert.deepEqual(response.json().metadata, { po: '42' });
    assert.equal(response.json().version, 2);
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/invoices/${invoice.id}`, { apply_discount: true }), 400);
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/invoices/${invoice.id}`, { due_date: 'soon' }), 400);
    const other = await h.newTenant();
    assertEnvelope(await h.request(other, 'PUT', `/v1/invoices/${invoice.id}`, { metadata: {} }), 404);
  });
});

describe('POST /v1/invoices/{id}/finalize', () => {
  it('numbers invoices INV-YYYYMM-NNNNN per environment and month, without gaps', async () => {
    clock.set('2026-08-20T10:00:00Z');
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push((await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '1' })]))).id);
    // A finalization that fails (already final) does not consume a number.
    const numbers = [];
    for (const id of ids) numbers.push((await finalize(h, tenant, id)).invoice_number);
    assertEnvelope(await h.request(tenant, 'POST', `/v1/invoices/${ids[0]}/finalize`), 400, 'invalid_operation');
    assert.deepEqual(numbers, ['INV-202608-00001', 'INV-202608-00002', 'INV-202608-00003']);
    clock.set('2026-09-01T00:00:00Z');
    const september = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '1' })]));
    assert.equal((await finalize(h, tenant, september.id)).invoice_number, 'INV-202609-00001');
    const other = await h.newTenant();
    const otherCustomer = await createCustomer(h, other);
    const theirs = await writeDraft(h, other, draft(otherCustomer.id, [draftLine({ amount: '1' })]));
    assert.equal((await finalize(h, other, theirs.id)).invoice_number, 'INV-202609-00001');
    assertEnvelope(await h.request(other, 'POST', `/v1/invoices/${ids[1]}/finalize`), 404);
    clock.set('2026-08-15T10:00:00Z');
  });

  it('applies prepaid wallet credits to usage lines only, debiting the wallet once with a ledger entry', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    // 20 credits at 0.5 USD each: a balance of 10 USD.
    const wallet = await createWallet(h, tenant, {
      customer_id: customer.id,
      initial_credits_to_load: '20',
      conversion_rate: '0.5',
    });
    const invoice = await writeDraft(
      h,
      tenant,
      draft(customer.id, [
        draftLine({ amount: '4.255', display_name: 'Calls' }),
        draftLine({ amount: '5', price_type: 'FIXED', display_name: 'Seat' }),
        draftLine({ amount: '7', display_name: 'Tokens' }),
      ]),
    );
    const finalized = await finalize(h, tenant, invoice.id);
    assert.equal(finalized.invoice_status, 'FINALIZED');
    assert.deepEqual(
      finalized.line_items.map((l: { prepaid_credits_applied: string }) => l.prepaid_credits_applied),
      ['4.26', '0', '5.74'],
    );
    assert.equal(finalized.subtotal, '16.26');
    assert.equal(finalized.total_prepaid_credits_applied, '10');
    assert.equal(finalized.total, '6.26');
    assert.equal(finalized.amount_due, '6.26');
    assert.equal(finalized.amount_remaining, '6.26');
    assert.equal(finalized.payment_status, 'PENDING');
    const after = await getWallet(h, tenant, wallet.id);
    assert.equal(after.balance, '0');
    assert.equal(after.credit_balance, '0');
    const adjustments = (await walletTransactions(h, tenant, wallet.id)).filter(
      (t) => t.transaction_reason === 'CREDIT_ADJUSTMENT',
    );
    assert.equal(adjustments.length, 1);
    assert.equal(adjustments[0]!.type, 'debit');
    assert.equal(adjustments[0]!.credit_amount, '20');
    assert.equal(adjustments[0]!.amount, '10');
    assert.equal(adjustments[0]!.reference_type, 'INVOICE');
    assert.equal(adjustments[0]!.reference_id, invoice.id);
    assert.equal(adjustments[0]!.metadata.adjustment_type, 'amount_application');
  });

  it('marks a zero-total invoice SUCCEEDED when credits cover it, and leaves the rest in the wallet', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const wallet = await createWallet(h, tenant, { customer_id: customer.id, initial_credits_to_load: '100' });
    const invoice = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '30.25' })]));
    const finalized = await finalize(h, tenant, invoice.id);
    assert.equal(finalized.total, '0');
    assert.equal(finalized.payment_status, 'SUCCEEDED');
    assert.ok(finalized.paid_at);
    assert.equal((await getWallet(h, tenant, wallet.id)).balance, '69.75');
    // Another currency's wallet and post-paid wallets are not used for credit adjustment.
    const eur = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '5' })], { currency: 'eur' }));
    assert.equal((await finalize(h, tenant, eur.id)).total, '5');
  });
});

describe('POST /v1/invoices/{id}/void', () => {
  it('voids and refunds paid amount plus applied credits to the prepaid wallet, once', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const wallet = await createWallet(h, tenant, { customer_id: customer.id, initial_credits_to_load: '10' });
    const invoice = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '25' })]));
    await finalize(h, tenant, invoice.id);
    const paid = await h.request(tenant, 'POST', '/v1/payments', {
      amount: '3',
      currency: 'usd',
      destination_type: 'INVOICE',
      destination_id: invoice.id,
      payment_method_type: 'OFFLINE',
    });
    assert.equal(paid.statusCode, 201, paid.body);
    assert.equal((await getWallet(h, tenant, wallet.id)).balance, '0');
    const response = await h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/void`);
    assert.equal(response.statusCode, 200, response.body);
    const voided = (await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json();
    assert.equal(voided.invoice_status, 'VOIDED');
    assert.ok(voided.voided_at);
    assert.equal((await getWallet(h, tenant, wallet.id)).balance, '13');
    const refunds = (await walletTransactions(h, tenant, wallet.id)).filter(
      (t) => t.transaction_reason === 'INVOICE_VOID_REFUND',
    );
    assert.equal(refunds.length, 1);
    assert.equal(refunds[0]!.credit_amount, '13');
    assert.equal(refunds[0]!.idempotency_key, invoice.id);
    assertEnvelope(await h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/void`), 400, 'invalid_operation');
    assert.equal((await getWallet(h, tenant, wallet.id)).balance, '13');
  });

  it('creates a prepaid wallet for the refund when the customer has none, and refunds nothing for an unpaid draft', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const unpaid = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '5' })]));
    assert.equal((await h.request(tenant, 'POST', `/v1/invoices/${unpaid.id}/void`)).statusCode, 200);
    assert.deepEqual((await h.request(tenant, 'GET', `/v1/customers/${customer.id}/wallets`)).json(), []);
    const invoice = (
      await h.request(tenant, 'POST', '/v1/invoices', createBody(customer.id, { invoice_status: 'FINALIZED' }))
    ).json();
    await h.request(tenant, 'PUT', `/v1/invoices/${invoice.id}/payment`, { payment_status: 'SUCCEEDED' });
    assert.equal((await h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/void`)).statusCode, 200);
    const wallets = (await h.request(tenant, 'GET', `/v1/customers/${customer.id}/wallets`)).json();
    assert.equal(wallets.length, 1);
    assert.equal(wallets[0].name, 'Subscription Wallet');
    assert.equal(wallets[0].wallet_type, 'PRE_PAID');
    assert.equal(wallets[0].balance, '12.5');
    const other = await h.newTenant();
    assertEnvelope(await h.request(other, 'POST', `/v1/invoices/${invoice.id}/void`), 404);
  });
});

describe('PUT /v1/invoices/{id}/payment', () => {
  it('records partial, full and over-payment exactly', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const invoice = (
      await h.request(tenant, 'POST', '/v1/invoices', createBody(customer.id, { invoice_status: 'FINALIZED' }))
    ).json();
    const put = (body: unknown) => h.request(tenant, 'PUT', `/v1/invoices/${invoice.id}/payment`, body);
    const partial = await put({ payment_status: 'PROCESSING', amount: '2.5' });
    assert.equal(partial.statusCode, 200, partial.body);
    assert.equal(partial.json().amount_paid, '2.5');
    assert.equal(partial.json().amount_remaining, '10');
    assert.equal(partial.json().payment_status, 'PROCESSING');
    assertEnvelope(await put({ payment_status: 'SUCCEEDED', amount: '10' }), 400);
    assertEnvelope(await put({ payment_status: 'OVERPAID', amount: '12.5' }), 400);
    assertEnvelope(await put({ payment_status: 'REFUNDED' }), 400);
    assertEnvelope(await put({ payment_status: 'PENDING', amount: '1.001' }), 400);
    const over = await put({ payment_status: 'OVERPAID', amount: '13' });
    assert.equal(over.statusCode, 200, over.body);
    assert.equal(over.json().payment_status, 'OVERPAID');
    assert.equal(over.json().amount_remaining, '0');
    assert.equal(over.json().overpaid_amount, '0.5');
    assert.ok(over.json().paid_at);
    assertEnvelope(await put({ payment_status: 'PENDING' }), 400, 'invalid_operation');
    const draftInvoice = (await h.request(tenant, 'POST', '/v1/invoices', createBody(customer.id))).json();
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/invoices/${draftInvoice.id}/payment`, { payment_status: 'SUCCEEDED' }),
      400,
    );
  });
});

describe('POST /v1/invoices/{id}/payment/attempt', () => {
  it('pays from POST_PAID wallets as CREDITS payments and debits the wallet', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const postpaid = await createWallet(h, tenant, {
      customer_id: customer.id,
      wallet_type: 'POST_PAID',
      initial_credits_to_load: '100',
    });
    const invoice = await writeDraft(
      h,
      tenant,
      draft(customer.id, [draftLine({ amount: '15.55' }), draftLine({ amount: '5', price_type: 'FIXED' })], {
        period_end: new Date('2026-08-31T00:00:00Z'),
      }),
    );
    await finalize(h, tenant, invoice.id);
    const response = await h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/payment/attempt`);
    assert.equal(response.statusCode, 200, response.body);
    const paid = (await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json();
    assert.equal(paid.payment_status, 'SUCCEEDED');
    assert.equal(paid.amount_paid, '20.55');
    assert.equal(paid.amount_remaining, '0');
    assert.equal((await getWallet(h, tenant, postpaid.id)).balance, '79.45');
    const payments = (await h.request(tenant, 'GET', `/v1/payments?destination_id=${invoice.id}`)).json();
    assert.equal(payments.items.length, 1);
    assert.equal(payments.items[0].payment_method_type, 'CREDITS');
    assert.equal(payments.items[0].payment_method_id, postpaid.id);
    assert.equal(payments.items[0].payment_status, 'SUCCEEDED');
    assert.equal(payments.items[0].invoice_number, paid.invoice_number);
    const debit = (await walletTransactions(h, tenant, postpaid.id)).find(
      (t) => t.transaction_reason === 'INVOICE_PAYMENT',
    );
    assert.equal(debit?.reference_type, 'PAYMENT');
    assert.equal(debit?.reference_id, payments.items[0].id);
    assert.equal(debit?.amount, '20.55');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/payment/attempt`),
      400,
      'invalid_operation',
    );
  });

  it('pays what a small wallet holds and leaves the rest due; a usage-only wallet pays only usage', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const usageOnly = await createWallet(h, tenant, {
      customer_id: customer.id,
      wallet_type: 'POST_PAID',
      initial_credits_to_load: '50',
      config: { allowed_price_types: ['USAGE'] },
    });
    const invoice = await writeDraft(
      h,
      tenant,
      draft(customer.id, [draftLine({ amount: '7' }), draftLine({ amount: '5', price_type: 'FIXED' })]),
    );
    await finalize(h, tenant, invoice.id);
    assert.equal((await h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/payment/attempt`)).statusCode, 200);
    const after = (await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json();
    assert.equal(after.amount_paid, '7');
    assert.equal(after.amount_remaining, '5');
    assert.equal(after.payment_status, 'PENDING');
    assert.equal((await getWallet(h, tenant, usageOnly.id)).balance, '43');
    const draftOnly = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '1' })]));
    assertEnvelope(await h.request(tenant, 'POST', `/v1/invoices/${draftOnly.id}/payment/attempt`), 400);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/invoices/inv_nope/payment/attempt'), 404);
  });
});

describe('GET /v1/invoices/{id}/pdf', () => {
  it('renders a PDF with the invoice number and total', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const invoice = (
      await h.request(tenant, 'POST', '/v1/invoices', createBody(customer.id, { invoice_status: 'FINALIZED' }))
    ).json();
    const response = await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}/pdf`);
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'application/pdf');
    const bytes = response.rawPayload;
    const text = bytes.toString('latin1');
    assert.ok(text.startsWith('%PDF-1.4'));
    assert.ok(text.trimEnd().endsWith('%%EOF'));
    assert.ok(text.includes(invoice.invoice_number), 'contains the number');
    assert.ok(text.includes('(12.5 USD)'), 'contains the total');
    // The cross-reference table points at each object.
    const xref = Number(/startxref\n(\d+)/.exec(text)?.[1]);
    assert.ok(text.slice(xref).startsWith('xref'));
    const offsets = [...text.slice(xref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    offsets.forEach((offset, i) => assert.ok(text.slice(offset).startsWith(`${i + 1} 0 obj`)));
    assertEnvelope(await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}/pdf?url=true`), 400);
    assertEnvelope(await h.request(tenant, 'GET', '/v1/invoices/inv_nope/pdf'), 404);
  });
});

describe('GET /v1/customers/{id}/invoices/summary', () => {
  it('sums finalized invoices per currency', async () => {
    clock.set('2026-08-15T10:00:00Z');
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const a = await writeDraft(
      h,
      tenant,
      draft(customer.id, [draftLine({ amount: '10' }), draftLine({ amount: '4', price_type: 'FIXED' })]),
    );
    const b = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '6' })]));
    await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '100' })])); // a draft: not counted
    const c = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '3' })], { currency: 'eur' }));
    for (const id of [a.id, b.id, c.id]) await finalize(h, tenant, id);
    await h.request(tenant, 'PUT', `/v1/invoices/${b.id}/payment`, { payment_status: 'SUCCEEDED' });
    clock.advance(2 * 86_400_000); // past the due date (one day after finalization)
    const response = await h.request(tenant, 'GET', `/v1/customers/${customer.id}/invoices/summary`);
    assert.equal(response.statusCode, 200, response.body);
    const summary = response.json();
    assert.equal(summary.customer_id, customer.id);
    const usd = summary.summaries.find((s: { currency: string }) => s.currency === 'usd');
    assert.deepEqual(usd, {
      customer_id: customer.id,
      currency: 'usd',
      total_invoice_count: 2,
      unpaid_invoice_count: 1,
      overdue_invoice_count: 1,
      total_unpaid_amount: '14',
      total_overdue_amount: '14',
      total_revenue_amount: '20',
      unpaid_usage_charges: '10',
      unpaid_fixed_charges: '4',
    });
    assert.equal(summary.summaries.length, 2);
    clock.set('2026-08-15T10:00:00Z');
    assertEnvelope(await h.request(tenant, 'GET', '/v1/customers/cust_nope/invoices/summary'), 404);
  });
});

describe('invoiced wallet top-ups', () => {
  it('raises a finalized CREDIT invoice for a PURCHASED_CREDIT_INVOICED top-up; paying it completes the credit once', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const wallet = await createWallet(h, tenant, { customer_id: customer.id, topup_conversion_rate: '1.5' });
    const topUp = await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
      credits_to_add: '50',
      transaction_reason: 'PURCHASED_CREDIT_INVOICED',
    });
    assert.equal(topUp.statusCode, 200, topUp.body);
    const invoiceId = topUp.json().invoice_id;
    assert.ok(invoiceId);
    assert.equal(topUp.json().wallet_transaction.transaction_status, 'pending');
    const invoice = (await h.request(tenant, 'GET', `/v1/invoices/${invoiceId}`)).json();
    assert.equal(invoice.invoice_type, 'CREDIT');
    assert.equal(invoice.invoice_status, 'FINALIZED');
    assert.equal(invoice.payment_status, 'PENDING');
    assert.equal(invoice.total, '75');
    assert.equal(invoice.metadata.wallet_transaction_id, topUp.json().wallet_transaction.id);
    assert.equal(invoice.line_items[0].display_name, 'Purchase 50 Credits');
    assert.equal((await getWallet(h, tenant, wallet.id)).credit_balance, '0');

    const pay = await h.request(tenant, 'POST', '/v1/payments', {
      amount: '75',
      currency: 'USD',
      destination_type: 'INVOICE',
      destination_id: invoiceId,
      payment_method_type: 'OFFLINE',
    });
    assert.equal(pay.statusCode, 201, pay.body);
    assert.equal(pay.json().payment_status, 'SUCCEEDED');
    assert.equal((await getWallet(h, tenant, wallet.id)).credit_balance, '50');
    const entries = await walletTransactions(h, tenant, wallet.id);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.transaction_status, 'completed');
    // Paying again is refused; the credit does not land twice.
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/payments', {
        amount: '1',
        currency: 'usd',
        destination_type: 'INVOICE',
        destination_id: invoiceId,
        payment_method_type: 'OFFLINE',
      }),
      400,
    );
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/invoices/${invoiceId}/payment`, { payment_status: 'SUCCEEDED' }),
      400,
    );
    assert.equal((await getWallet(h, tenant, wallet.id)).credit_balance, '50');
  });

  it('applies a burst of invoiced and direct top-ups and debits as if one by one (group commit)', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const wallet = await createWallet(h, tenant, { customer_id: customer.id, initial_credits_to_load: '100' });
    const before = h.services.wallets.ledgerBatchStats();
    const post = (kind: 'top-up' | 'debit', body: Record<string, unknown>) =>
      h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/${kind}`, body);
    // Sent at once: they queue behind one another and are written as one batch, the invoiced top-ups through the
    // unbatched code under a savepoint.
    const [a, b, c, d, e] = await Promise.all([
      post('top-up', {
        credits_to_add: '50',
        bonus_credits_to_add: '5',
        transaction_reason: 'PURCHASED_CREDIT_INVOICED',
        idempotency_key: 'burst-a',
      }),
      post('top-up', {
        credits_to_add: '10',
        transaction_reason: 'PURCHASED_CREDIT_DIRECT',
        idempotency_key: 'burst-b',
      }),
      post('debit', { credits: '30', transaction_reason: 'MANUAL_BALANCE_DEBIT', idempotency_key: 'burst-c' }),
      post('top-up', {
        credits_to_add: '20',
        transaction_reason: 'PURCHASED_CREDIT_INVOICED',
        idempotency_key: 'burst-d',
      }),
      // B's key again with other parameters: a conflict inside the batch, which fails alone.
      post('top-up', {
        credits_to_add: '11',
        transaction_reason: 'PURCHASED_CREDIT_DIRECT',
        idempotency_key: 'burst-b',
      }),
    ]);
    for (const [response, status] of [
      [a, 200],
      [b, 200],
      [c, 200],
      [d, 200],
    ] as const) {
      assert.equal(response?.statusCode, status, response?.body);
    }
    assertEnvelope(e as NonNullable<typeof e>, 409);
    // Each result is the wallet right after that write, in arrival order; pending credits change no balance.
    assert.equal(a?.json().wallet.credit_balance, '100');
    assert.equal(a?.json().wallet_transaction.transaction_status, 'pending');
    assert.ok(a?.json().invoice_id);
    assert.equal(b?.json().wallet.credit_balance, '110');
    assert.equal(c?.json().credit_balance, '80'); // a debit answers the wallet
    assert.equal(d?.json().wallet.credit_balance, '80');
    assert.ok(d?.json().invoice_id);
    assert.notEqual(a?.json().invoice_id, d?.json().invoice_id);
    assert.equal((await getWallet(h, tenant, wallet.id)).credit_balance, '80');
    // Initial lot, A and its bonus (pending), B, C, D (pending); the conflict wrote nothing.
    const entries = await walletTransactions(h, tenant, wallet.id);
    assert.equal(entries.length, 6);
    assert.equal(entries.filter((t) => t.transaction_status === 'pending').length, 3);
    for (const id of [a?.json().invoice_id, d?.json().invoice_id]) {
      const invoice = (await h.request(tenant, 'GET', `/v1/invoices/${id}`)).json();
      assert.equal(invoice.invoice_type, 'CREDIT');
    }
    const after = h.services.wallets.ledgerBatchStats();
    assert.ok(after.batches > before.batches, 'the burst was written as a batch');
    assert.equal(after.fallbacks, before.fallbacks);
  });

  it('invoices an invoiced auto top-up as WALLET_AUTO_TOPUP and completes it when marked paid', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const wallet = await createWallet(h, tenant, {
      customer_id: customer.id,
      initial_credits_to_load: '15',
      auto_topup: { enabled: true, threshold: '10', amount: '20', invoicing: true },
    });
    const debit = await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/debit`, {
      credits: '8',
      transaction_reason: 'MANUAL_BALANCE_DEBIT',
      idempotency_key: 'd1',
    });
    assert.equal(debit.statusCode, 200, debit.body);
    const invoices = (
      await h.request(tenant, 'POST', '/v1/invoices/search', { billing_reason: 'WALLET_AUTO_TOPUP' })
    ).json();
    assert.equal(invoices.items.length, 1);
    const invoice = invoices.items[0];
    assert.equal(invoice.invoice_type, 'CREDIT');
    assert.equal(invoice.total, '20');
    assert.equal(invoice.metadata.auto_topup, 'true');
    assert.equal((await getWallet(h, tenant, wallet.id)).credit_balance, '7');
    const paid = await h.request(tenant, 'PUT', `/v1/invoices/${invoice.id}/payment`, { payment_status: 'SUCCEEDED' });
    assert.equal(paid.statusCode, 200, paid.body);
    assert.equal((await getWallet(h, tenant, wallet.id)).credit_balance, '27');
  });
});

describe('real-time balance', () => {
  it('subtracts the unpaid usage of ended-period invoices from a prepaid wallet, until credits pay it', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const wallet = await createWallet(h, tenant, { customer_id: customer.id, initial_credits_to_load: '100' });
    const ended = await writeDraft(
      h,
      tenant,
      draft(customer.id, [draftLine({ amount: '30' }), draftLine({ amount: '9', price_type: 'FIXED' })], {
        period_start: new Date('2026-07-01T00:00:00Z'),
        period_end: new Date('2026-08-01T00:00:00Z'),
      }),
    );
    // A draft of a period still running is not counted yet.
    await writeDraft(
      h,
      tenant,
      draft(customer.id, [draftLine({ amount: '50' })], { period_end: new Date('2026-09-01T00:00:00Z') }),
    );
    const realTime = async () => (await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}/balance/real-time`)).json();
    let balance = await realTime();
    assert.equal(balance.unpaid_invoices_amount, '30');
    assert.equal(balance.real_time_balance, '70');
    await finalize(h, tenant, ended.id);
    balance = await realTime();
    assert.equal(balance.balance, '70');
    assert.equal(balance.unpaid_invoices_amount, '0');
    assert.equal(balance.real_time_balance, '70');
  });
});
