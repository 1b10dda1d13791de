import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';
import { assertMatchesSchema } from '../support/reference-schemas.ts';

const clock = new TestClock('2026-01-31T10:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

async function ok(tenant: TestTenant, method: 'POST' | 'PUT' | 'GET' | 'DELETE', url: string, body?: unknown) {
  const response = await h.request(tenant, method, url, body);
  assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
  return response.json();
}

const meterBody = { name: 'Calls', event_name: 'call', aggregation: { type: 'COUNT' }, reset_usage: 'BILLING_PERIOD' };

/** A tenant with a customer and a plan priced monthly in USD (a fixed fee and a usage price) and annually in EUR. */
async function setup() {
  const tenant = await h.newTenant();
  const customer = await ok(tenant, 'POST', '/v1/customers', { external_id: 'cus-1', name: 'Acme' });
  const calls = await ok(tenant, 'POST', '/v1/features', { name: 'Calls', type: 'metered', meter: meterBody });
  const plan = await ok(tenant, 'POST', '/v1/plans', { name: 'Pro', lookup_key: 'pro' });
  const base = { entity_type: 'PLAN', entity_id: plan.id, billing_model: 'FLAT_FEE', price_unit_type: 'FIAT' };
  const fee = await ok(tenant, 'POST', '/v1/prices', {
    ...base,
    type: 'FIXED',
    amount: '49',
    currency: 'usd',
    billing_period: 'MONTHLY',
    invoice_cadence: 'ADVANCE',
    display_name: 'Platform fee',
  });
  const usage = await ok(tenant, 'POST', '/v1/prices', {
    ...base,
    type: 'USAGE',
    meter_id: calls.meter_id,
    amount: '0.01',
    currency: 'usd',
    billing_period: 'MONTHLY',
    invoice_cadence: 'ARREAR',
  });
  const annual = await ok(tenant, 'POST', '/v1/prices', {
    ...base,
    type: 'FIXED',
    amount: '490',
    currency: 'eur',
    billing_period: 'ANNUAL',
    invoice_cadence: 'ADVANCE',
  });
  return { tenant, customer, calls, plan, fee, usage, annual };
}

async function subscribe(tenant: TestTenant, body: Record<string, unknown>) {
  const response = await h.request(tenant, 'POST', '/v1/subscriptions', body);
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

describe('POST /v1/subscriptions', () => {
  it('creates an active subscription with 201, its first period and the matching plan prices as line items', async () => {
    const { tenant, customer, plan, fee, usage, calls } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: customer.id,
      currency: 'USD',
      billing_period: 'MONTHLY',
      metadata: { crm: '42' },
    });
    assert.match(sub.id, /^subs_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(sub.subscription_status, 'active');
    assert.equal(sub.status, 'published');
    assert.equal(sub.currency, 'usd');
    assert.equal(sub.billing_cycle, 'anniversary');
    assert.equal(sub.billing_period_count, 1);
    assert.equal(sub.billing_cadence, 'RECURRING');
    assert.equal(sub.start_date, '2026-01-31T10:00:00.000Z');
    assert.equal(sub.billing_anchor, '2026-01-31T10:00:00.000Z');
    assert.equal(sub.current_period_start, '2026-01-31T10:00:00.000Z');
    assert.equal(sub.current_period_end, '2026-02-28T10:00:00.000Z');
    assert.equal(sub.cancel_at_period_end, false);
    assert.equal(sub.trial_end, undefined);
    assert.deepEqual(sub.metadata, { crm: '42' });
    assert.deepEqual(
      sub.line_items.map((i: Record<string, unknown>) => [i.price_id, i.price_type, i.quantity, i.invoice_cadence]),
      [
        [fee.id, 'FIXED', '1', 'ADVANCE'],
        [usage.id, 'USAGE', '0', 'ARREAR'],
      ],
    );
    const [feeItem, usageItem] = sub.line_items;
    assert.equal(feeItem.display_name, 'Platform fee');
    assert.equal(feeItem.entity_type, 'plan');
    assert.equal(feeItem.plan_display_name, 'Pro');
    assert.equal(usageItem.meter_id, calls.meter_id);
    assert.equal(usageItem.meter_display_name, 'Calls');
    assert.match(usageItem.id, /^subs_line_/);
    assert.deepEqual(await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`), sub);
  });

  it('snapshots prices: a later price change does not touch the line items', async () => {
    const { tenant, customer, plan, fee } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: plan.id,
      external_customer_id: customer.external_id,
      currency: 'usd',
      billing_period: 'MONTHLY',
    });
    assert.equal(sub.customer_id, customer.id);
    await ok(tenant, 'DELETE', `/v1/prices/${fee.id}`);
    await ok(tenant, 'POST', '/v1/prices', {
      entity_type: 'PLAN',
      entity_id: plan.id,
      billing_model: 'FLAT_FEE',
      price_unit_type: 'FIAT',
      type: 'FIXED',
      amount: '99',
      currency: 'usd',
      billing_period: 'MONTHLY',
      invoice_cadence: 'ADVANCE',
    });
    const read = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.deepEqual(read.line_items, sub.line_items);
  });

  it('picks the prices of the chosen currency and billing period; calendar billing; trial days', async () => {
    const { tenant, customer, plan, annual } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: customer.id,
      currency: 'eur',
      billing_period: 'ANNUAL',
      billing_cycle: 'calendar',
      start_date: '2026-05-20T08:00:00Z',
      trial_period_days: 14,
    });
    assert.deepEqual(
      sub.line_items.map((i: { price_id: string }) => i.price_id),
      [annual.id],
    );
    assert.equal(sub.billing_cycle, 'calendar');
    assert.equal(sub.billing_anchor, '2026-01-01T00:00:00.000Z');
    assert.equal(sub.current_period_start, '2026-05-20T08:00:00.000Z');
    assert.equal(sub.current_period_end, '2027-01-01T00:00:00.000Z');
    assert.equal(sub.subscription_status, 'trialing');
    assert.equal(sub.trial_start, '2026-05-20T08:00:00.000Z');
    assert.equal(sub.trial_end, '2026-06-03T08:00:00.000Z');
  });

  it('refuses bad input with 400 and unknown customers or plans with 404, writing nothing', async () => {
    const { tenant, customer, plan } = await setup();
    const good = { plan_id: plan.id, customer_id: customer.id, currency: 'usd', billing_period: 'MONTHLY' };
    const bad: Array<[Record<string, unknown>, number]> = [
      [{ ...good, customer_id: undefined }, 400],
      [{ ...good, currency: 'us' }, 400],
      [{ ...good, billing_period: 'FORTNIGHTLY' }, 400],
      [{ ...good, billing_period: 'ONETIME' }, 400],
      [{ ...good, billing_period_count: 0 }, 400],
      [{ ...good, billing_cycle: 'lunar' }, 400],
      [{ ...good, trial_period_days: -1 }, 400],
      [{ ...good, start_date: 'yesterday' }, 400],
      [{ ...good, start_date: '2026-03-01T00:00:00Z', end_date: '2026-02-01T00:00:00Z' }, 400],
      [{ ...good, currency: 'gbp' }, 400], // no GBP prices on the plan
      [{ ...good, billing_period: 'WEEKLY' }, 400], // no weekly prices
      [{ ...good, billing_period_count: 2 }, 400], // prices are for 1 month
      [{ ...good, customer_id: 'cust_missing' }, 404],
      [{ ...good, customer_id: undefined, external_customer_id: 'nobody' }, 404],
      [{ ...good, plan_id: 'plan_missing' }, 404],
    ];
    for (const [body, status] of bad) {
      assertEnvelope(await h.request(tenant, 'POST', '/v1/subscriptions', body), status);
    }
    const list = await ok(tenant, 'POST', '/v1/subscriptions/search', {});
    assert.equal(list.pagination.total, 0);
  });
});

describe('GET /v1/subscriptions/{id} and search', () => {
  it('searches by customer, plan, status and billing period, with line items on request', async () => {
    const { tenant, customer, plan } = await setup();
    const other = await ok(tenant, 'POST', '/v1/customers', { external_id: 'cus-2', name: 'Beta' });
    const a = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
    });
    const b = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: other.id,
      currency: 'eur',
      billing_period: 'ANNUAL',
    });
    const all = await ok(tenant, 'POST', '/v1/subscriptions/search', {});
    assert.equal(all.pagination.total, 2);
    assert.equal(all.items[0].line_items, undefined);
    const byCustomer = await ok(tenant, 'POST', '/v1/subscriptions/search', { customer_id: other.id });
    assert.deepEqual(
      byCustomer.items.map((s: { id: string }) => s.id),
      [b.id],
    );
    const byExternal = await ok(tenant, 'POST', '/v1/subscriptions/search', { external_customer_id: 'cus-1' });
    assert.deepEqual(
      byExternal.items.map((s: { id: string }) => s.id),
      [a.id],
    );
    const none = await ok(tenant, 'POST', '/v1/subscriptions/search', { external_customer_id: 'nobody' });
    assert.equal(none.pagination.total, 0);
    const both = await ok(tenant, 'POST', '/v1/subscriptions/search', {
      customer_id: other.id,
      external_customer_id: 'cus-1',
    });
    assert.equal(both.pagination.total, 0);
    const byPeriod = await ok(tenant, 'POST', '/v1/subscriptions/search', {
      billing_period: ['ANNUAL'],
      with_line_items: true,
    });
    assert.deepEqual(
      byPeriod.items.map((s: { id: string }) => s.id),
      [b.id],
    );
    assert.equal(byPeriod.items[0].line_items.length, 1);
    const byDsl = await ok(tenant, 'POST', '/v1/subscriptions/search', {
      filters: [{ field: 'currency', operator: 'eq', data_type: 'string', value: { string: 'usd' } }],
    });
    assert.deepEqual(
      byDsl.items.map((s: { id: string }) => s.id),
      [a.id],
    );
    const page = await ok(tenant, 'POST', '/v1/subscriptions/search', { limit: 1, offset: 1, plan_id: plan.id });
    assert.deepEqual(page.pagination, { total: 2, limit: 1, offset: 1 });
    await ok(tenant, 'POST', `/v1/subscriptions/${a.id}/cancel`, { cancellation_type: 'immediate' });
    const active = await ok(tenant, 'POST', '/v1/subscriptions/search', { subscription_status: ['active'] });
    assert.deepEqual(
      active.items.map((s: { id: string }) => s.id),
      [b.id],
    );
    assertEnvelope(await h.request(tenant, 'POST', '/v1/subscriptions/search', { expand: 'plan,bogus' }), 400);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/subscriptions/search', { subscription_status: ['x'] }), 400);
  });

  it("lists a customer's subscriptions by external id, with line items on request", async () => {
    const { tenant, customer, plan } = await setup();
    const body = { plan_id: plan.id, customer_id: customer.id, currency: 'usd', billing_period: 'MONTHLY' };
    const a = await subscribe(tenant, body);
    await ok(tenant, 'POST', `/v1/subscriptions/${a.id}/cancel`, { cancellation_type: 'immediate' });
    clock.advance(1000);
    const b = await subscribe(tenant, body);
    const list = await ok(tenant, 'GET', `/v1/customers/external/${customer.external_id}/subscriptions`);
    assert.deepEqual(
      list.items.map((s: { id: string }) => s.id),
      [b.id, a.id],
    );
    assert.equal(list.pagination.total, 2);
    assert.equal(list.items[0].line_items, undefined);
    const expanded = await ok(
      tenant,
      'GET',
      `/v1/customers/external/${customer.external_id}/subscriptions?expand=subscription_line_items`,
    );
    assert.equal(expanded.items[0].line_items.length, 2);
    assertEnvelope(
      await h.request(tenant, 'GET', `/v1/customers/external/${customer.external_id}/subscriptions?expand=coupons`),
      400,
    );
    assertEnvelope(await h.request(tenant, 'GET', '/v1/customers/external/nobody/subscriptions'), 404);
    const stranger = await h.newTenant();
    assertEnvelope(
      await h.request(stranger, 'GET', `/v1/customers/external/${customer.external_id}/subscriptions`),
      404,
    );
  });

  it('answers 401 without a key and 404 for unknown ids and across environments', async () => {
    const { tenant, customer, plan } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
    });
    assertEnvelope(await h.request(null, 'GET', `/v1/subscriptions/${sub.id}`), 401);
    assertEnvelope(await h.request(tenant, 'GET', '/v1/subscriptions/subs_missing'), 404);
    const stranger = await h.newTenant();
    assertEnvelope(await h.request(stranger, 'GET', `/v1/subscriptions/${sub.id}`), 404);
    assertEnvelope(
      await h.request(stranger, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' }),
      404,
    );
    assert.equal((await ok(stranger, 'POST', '/v1/subscriptions/search', {})).pagination.total, 0);
    // another environment's plan or customer cannot be subscribed to
    const strangerCustomer = await ok(stranger, 'POST', '/v1/customers', { external_id: 'x', name: 'X' });
    assertEnvelope(
      await h.request(stranger, 'POST', '/v1/subscriptions', {
        plan_id: plan.id,
        customer_id: strangerCustomer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
      }),
      404,
    );
  });
});

describe('POST /v1/subscriptions/{id}/cancel', () => {
  it('cancels immediately: status, end dates of the subscription and its line items', async () => {
    const { tenant, customer, plan } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
    });
    clock.advance(3 * 86_400_000);
    const now = clock.now().toISOString();
    const result = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, {
      cancellation_type: 'immediate',
      reason: 'churn',
    });
    assert.equal(result.subscription_id, sub.id);
    assert.equal(result.cancellation_type, 'immediate');
    assert.equal(result.status, 'cancelled');
    assert.equal(result.effective_date, now);
    assert.equal(result.reason, 'churn');
    const read = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(read.subscription_status, 'cancelled');
    assert.equal(read.cancelled_at, now);
    assert.equal(read.end_date, now);
    assert.ok(read.line_items.every((i: { end_date: string }) => i.end_date === now));
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' }),
      400,
      'invalid_operation',
    );
  });

  it('schedules end_of_period and scheduled_date cancellations, leaving the subscription active', async () => {
    const { tenant, customer, plan } = await setup();
    const body = { plan_id: plan.id, customer_id: customer.id, currency: 'usd', billing_period: 'MONTHLY' };
    const a = await subscribe(tenant, body);
    const result = await ok(tenant, 'POST', `/v1/subscriptions/${a.id}/cancel`, { cancellation_type: 'end_of_period' });
    assert.equal(result.status, 'active');
    assert.equal(result.effective_date, a.current_period_end);
    const readA = await ok(tenant, 'GET', `/v1/subscriptions/${a.id}`);
    assert.equal(readA.cancel_at, a.current_period_end);
    assert.equal(readA.cancel_at_period_end, true);
    assert.equal(readA.end_date, a.current_period_end);
    assert.equal(readA.cancelled_at, undefined);
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${a.id}/cancel`, { cancellation_type: 'end_of_period' }),
      400,
    );

    const b = await subscribe(tenant, body);
    const at = new Date(clock.now().getTime() + 10 * 86_400_000).toISOString();
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${b.id}/cancel`, { cancellation_type: 'scheduled_date' }),
      400,
    );
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${b.id}/cancel`, {
        cancellation_type: 'scheduled_date',
        cancel_at: clock.now().toISOString(),
      }),
      400,
    );
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${b.id}/cancel`, {
        cancellation_type: 'immediate',
        cancel_at: at,
      }),
      400,
    );
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${b.id}/cancel`, { cancellation_type: 'later' }),
      400,
    );
    const scheduled = await ok(tenant, 'POST', `/v1/subscriptions/${b.id}/cancel`, {
      cancellation_type: 'scheduled_date',
      cancel_at: at,
    });
    assert.equal(scheduled.effective_date, at);
    const readB = await ok(tenant, 'GET', `/v1/subscriptions/${b.id}`);
    assert.equal(readB.subscription_status, 'active');
    assert.equal(readB.cancel_at, at);
    assert.equal(readB.cancel_at_period_end, false);
  });
});

describe('guards and catalog hooks', () => {
  it('blocks deleting a plan or customer with a live subscription, until it is cancelled', async () => {
    const { tenant, customer, plan } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
    });
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/plans/${plan.id}`), 400, 'invalid_operation');
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/customers/${customer.id}`), 400, 'invalid_operation');
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' });
    await ok(tenant, 'DELETE', `/v1/plans/${plan.id}`);
    assert.equal((await h.request(tenant, 'DELETE', `/v1/customers/${customer.id}`)).statusCode, 204);
  });

  it('lets prices and entitlements hang on an existing subscription of the environment', async () => {
    const { tenant, customer, plan, calls } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
    });
    const entitlement = await ok(tenant, 'POST', '/v1/entitlements', {
      entity_type: 'SUBSCRIPTION',
      entity_id: sub.id,
      feature_id: calls.id,
      feature_type: 'metered',
      usage_limit: 10,
    });
    assert.equal(entitlement.entity_id, sub.id);
    const missing = await h.request(tenant, 'POST', '/v1/entitlements', {
      entity_type: 'SUBSCRIPTION',
      entity_id: 'subs_missing',
      feature_id: calls.id,
      feature_type: 'metered',
    });
    assertEnvelope(missing, 404);
    const grant = { name: 'g', credits: '5', cadence: 'ONETIME', scope: 'SUBSCRIPTION', start_date: sub.start_date };
    const created = await ok(tenant, 'POST', '/v1/creditgrants', { ...grant, subscription_id: sub.id });
    assert.equal(created.subscription_id, sub.id);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/creditgrants', { ...grant, subscription_id: 'subs_x' }), 404);
    const stranger = await h.newTenant();
    assertEnvelope(await h.request(stranger, 'POST', '/v1/creditgrants', { ...grant, subscription_id: sub.id }), 404);
  });
});

describe('webhooks', () => {
  it('enqueues subscription.created and subscription.cancelled with the reference payload, in the transaction', async () => {
    const { tenant, customer, plan } = await setup();
    await ok(tenant, 'POST', '/v1/webhook-endpoints', {
      url: 'https://hooks.example.test/subs',
      event_types: ['subscription.created', 'subscription.cancelled'],
    });
    const body = { plan_id: plan.id, customer_id: customer.id, currency: 'usd', billing_period: 'MONTHLY' };
    const sub = await subscribe(tenant, body);
    // a failed create enqueues nothing
    assertEnvelope(await h.request(tenant, 'POST', '/v1/subscriptions', { ...body, currency: 'gbp' }), 400);
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' });
    const rows = await h.database.db
      .selectFrom('webhook_messages')
      .select(['event_type', 'payload'])
      .where('tenant_id', '=', tenant.tenantId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    assert.deepEqual(
      rows.map((r) => r.event_type),
      ['subscription.created', 'subscription.cancelled'],
    );
    for (const row of rows) {
      const payload = JSON.parse(row.payload);
      assertMatchesSchema(payload, 'webhookDto.SubscriptionWebhookPayload');
      assert.equal(payload.event_type, row.event_type);
      assert.equal(payload.subscription.id, sub.id);
      assert.equal(payload.subscription.customer.external_id, 'cus-1');
    }
    const cancelled = JSON.parse(rows[1]!.payload);
    assert.equal(cancelled.subscription.subscription_status, 'cancelled');
    assert.ok(cancelled.subscription.cancelled_at);
  });
});

describe('POST /v1/subscriptions with reference fields Tally does not implement yet', () => {
  for (const [field, value] of [
    ['coupons', ['coupon_x']],
    ['line_item_commitments', { price_x: { commitment_amount: '10' } }],
    ['phases', [{ start_date: '2026-03-01T00:00:00Z' }]],
  ] as const) {
    it(`refuses a non-empty ${field} with 400 and creates nothing`, async () => {
      const { tenant, customer, plan } = await setup();
      const base = { plan_id: plan.id, customer_id: customer.id, currency: 'USD', billing_period: 'MONTHLY' };
      const response = await h.request(tenant, 'POST', '/v1/subscriptions', { ...base, [field]: value });
      assertEnvelope(response, 400, 'validation_error');
      assert.match(response.json().message, new RegExp(field));
      const list = await h.request(tenant, 'POST', '/v1/subscriptions/search', {});
      assert.equal(list.json().pagination.total, 0);
      // empty values are what clients send by default, and mean nothing to implement
      await subscribe(tenant, { ...base, [field]: Array.isArray(value) ? [] : null });
    });
  }
});
