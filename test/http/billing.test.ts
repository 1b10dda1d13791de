import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InvoiceDraft } from '../../src/modules/billing/draft.ts';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

/**
 * Billing scenarios through the public API under a moving clock: charges of usage and fixed prices, the period job
 * (run by the test, as the background runner would), credit grant applications and the real-time wallet balance.
 * The invoices the job writes are recorded by a writer registered where the app registers the invoices module.
 */

const clock = new TestClock('2026-01-31T10:00:00Z');
let h: Harness;
const drafts: InvoiceDraft[] = [];
/** Invoice keys whose write fails once (a crash in the middle of the job). */
const crashOn = new Set<string>();

before(async () => {
  h = await startHarness({ clock, isolated: true });
  h.services.billing.onPeriodInvoice(async (_tx, _scope, draft) => {
    if (draft.idempotency_key && crashOn.delete(draft.idempotency_key)) throw new Error('crash while invoicing');
    drafts.push(draft);
  });
});
after(async () => {
  await h.close();
});

const draftsOf = (subscriptionId: string) => drafts.filter((d) => d.subscription_id === subscriptionId);
const amounts = (draft: InvoiceDraft) =>
  draft.lines.map((l) => [l.display_name, l.quantity.toFixed(), l.amount.toFixed()]);

async function ok(tenant: TestTenant, method: 'POST' | 'PUT' | 'GET' | 'DELETE', url: string, body?: unknown) {
  const response = await h.request(tenant, method, url, body);
  assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
  return response.json();
}

interface PriceSpec {
  type: 'FIXED' | 'USAGE';
  display_name: string;
  invoice_cadence?: 'ARREAR' | 'ADVANCE';
  billing_period?: string;
  meter?: 'calls' | 'gb' | 'seats';
  [field: string]: unknown;
}

/**
 * A tenant with a customer, three metered features (calls: COUNT, gb: SUM of `bytes`, seats: bucketed MAX per day)
 * and a plan with the given prices (USD).
 */
async function setup(prices: PriceSpec[], options: { entitlements?: Array<Record<string, unknown>> } = {}) {
  const tenant = await h.newTenant();
  const customer = await ok(tenant, 'POST', '/v1/customers', { external_id: 'cus-1', name: 'Acme' });
  const meters = {
    calls: { name: 'Calls', event_name: 'call', aggregation: { type: 'COUNT' }, reset_usage: 'BILLING_PERIOD' },
    gb: { name: 'GB', event_name: 'upload', aggregation: { type: 'SUM', field: 'gb' }, reset_usage: 'BILLING_PERIOD' },
    seats: {
      name: 'Seats',
      event_name: 'seats',
      aggregation: { type: 'MAX', field: 'count', bucket_size: 'DAY' },
      reset_usage: 'BILLING_PERIOD',
    },
  };
  const features: Record<string, { id: string; meter_id: string }> = {};
  for (const [key, meter] of Object.entries(meters)) {
    features[key] = await ok(tenant, 'POST', '/v1/features', { name: meter.name, type: 'metered', meter });
  }
  const plan = await ok(tenant, 'POST', '/v1/plans', { name: 'Pro', lookup_key: 'pro' });
  for (const spec of prices) {
    const { meter, ...rest } = spec;
    await ok(tenant, 'POST', '/v1/prices', {
      entity_type: 'PLAN',
      entity_id: plan.id,
      billing_model: 'FLAT_FEE',
      price_unit_type: 'FIAT',
      currency: 'usd',
      billing_period: 'MONTHLY',
      invoice_cadence: spec.type === 'USAGE' ? 'ARREAR' : 'ADVANCE',
      ...(meter ? { meter_id: features[meter]!.meter_id } : {}),
      ...rest,
    });
  }
  for (const entitlement of options.entitlements ?? []) {
    const { feature, ...rest } = entitlement;
    await ok(tenant, 'POST', '/v1/entitlements', {
      entity_type: 'PLAN',
      entity_id: plan.id,
      feature_id: features[feature as string]!.id,
      feature_type: 'metered',
      ...rest,
    });
  }
  return { tenant, customer, plan, features };
}

async function subscribe(tenant: TestTenant, body: Record<string, unknown>) {
  const response = await h.request(tenant, 'POST', '/v1/subscriptions', {
    currency: 'usd',
    billing_period: 'MONTHLY',
    ...body,
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

async function ingest(tenant: TestTenant, events: Array<Record<string, unknown>>) {
  const response = await h.request(tenant, 'POST', '/v1/events/bulk', {
    events: events.map((e) => ({ external_customer_id: 'cus-1', ...e })),
  });
  assert.ok(response.statusCode < 300, response.body);
}

const calls = (count: number, timestamp: string) =>
  Array.from({ length: count }, () => ({ event_name: 'call', timestamp }));

describe('charges of a period', () => {
  it('prices flat, tiered (slab and volume) and package usage, minus an entitlement allowance', async () => {
    clock.set('2026-03-01T00:00:00Z');
    const { tenant, customer, plan } = await setup(
      [
        { type: 'USAGE', display_name: 'Calls flat', meter: 'calls', amount: '0.1' },
        {
          type: 'USAGE',
          display_name: 'GB slab',
          meter: 'gb',
          billing_model: 'TIERED',
          tier_mode: 'SLAB',
          tiers: [
            { up_to: 10, unit_amount: '1' },
            { up_to: null, unit_amount: '0.5', flat_amount: '2' },
          ],
        },
        {
          type: 'USAGE',
          display_name: 'GB volume',
          meter: 'gb',
          billing_model: 'TIERED',
          tier_mode: 'VOLUME',
          tiers: [
            { up_to: 10, unit_amount: '1' },
            { up_to: null, unit_amount: '0.5' },
          ],
        },
        {
          type: 'USAGE',
          display_name: 'Calls package',
          meter: 'calls',
          billing_model: 'PACKAGE',
          amount: '3',
          transform_quantity: { divide_by: 10 },
        },
      ],
      { entitlements: [{ feature: 'calls', usage_limit: 5, usage_reset_period: 'MONTHLY' }] },
    );
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    await ingest(tenant, [
      ...calls(17, '2026-03-05T12:00:00Z'),
      { event_name: 'upload', timestamp: '2026-03-02T00:00:00Z', properties: { gb: '7.5' } },
      { event_name: 'upload', timestamp: '2026-03-20T00:00:00Z', properties: { gb: 7 } },
      // outside the period: not billed
      { event_name: 'call', timestamp: '2026-04-01T00:00:00Z' },
      { event_name: 'call', timestamp: '2026-02-28T23:59:59Z' },
    ]);
    const usage = await ok(tenant, 'POST', '/v1/subscriptions/usage', { subscription_id: sub.id });
    assert.equal(usage.start_time, '2026-03-01T00:00:00.000Z');
    assert.equal(usage.end_time, '2026-04-01T00:00:00.000Z');
    // calls: 17 used, 5 allowed → 12 billable: flat 1.2; package ceil(12/10)=2 × 3 = 6
    // gb: 14.5 → slab 10×1 + 4.5×0.5 + 2 = 14.25; volume 14.5×0.5 = 7.25
    assert.deepEqual(
      usage.charges.map((c: Record<string, unknown>) => [c.quantity, c.amount]),
      [
        [12, 1.2],
        [14.5, 14.25],
        [14.5, 7.25],
        [12, 6],
      ],
    );
    assert.equal(usage.amount, 28.7);
    assert.equal(usage.currency, 'usd');
    assert.equal(usage.charges[0].price.id.startsWith('price_'), true);

    clock.set('2026-04-01T00:00:00Z');
    await h.services.billing.advancePeriods();
    const [invoice] = draftsOf(sub.id);
    assert.ok(invoice);
    assert.equal(invoice.billing_reason, 'SUBSCRIPTION_CYCLE');
    assert.equal(invoice.idempotency_key, `${sub.id}:2026-03-01T00:00:00.000Z`);
    assert.deepEqual(amounts(invoice), [
      ['Calls flat', '12', '1.2'],
      ['GB slab', '14.5', '14.25'],
      ['GB volume', '14.5', '7.25'],
      ['Calls package', '12', '6'],
    ]);
    assert.equal(invoice.lines[0]!.adjusted_entitlement_quantity?.toFixed(), '5');
  });

  it('an unlimited entitlement makes the usage free; bucketed MAX is priced per bucket', async () => {
    clock.set('2026-03-01T00:00:00Z');
    const { tenant, customer, plan } = await setup(
      [
        { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' },
        {
          type: 'USAGE',
          display_name: 'Seats',
          meter: 'seats',
          billing_model: 'TIERED',
          tier_mode: 'VOLUME',
          tiers: [
            { up_to: 2, unit_amount: '0', flat_amount: '1' },
            { up_to: null, unit_amount: '2' },
          ],
        },
      ],
      { entitlements: [{ feature: 'calls', usage_limit: null, usage_reset_period: 'MONTHLY' }] },
    );
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    await ingest(tenant, [
      ...calls(40, '2026-03-03T00:00:00Z'),
      // day 1: max 2 → flat 1; day 2: max 5 → 10
      { event_name: 'seats', timestamp: '2026-03-02T01:00:00Z', properties: { count: 1 } },
      { event_name: 'seats', timestamp: '2026-03-02T02:00:00Z', properties: { count: 2 } },
      { event_name: 'seats', timestamp: '2026-03-03T02:00:00Z', properties: { count: 5 } },
      { event_name: 'seats', timestamp: '2026-03-03T03:00:00Z', properties: { count: 3 } },
    ]);
    const usage = await ok(tenant, 'POST', '/v1/subscriptions/usage', { subscription_id: sub.id });
    assert.deepEqual(
      usage.charges.map((c: Record<string, unknown>) => [c.quantity, c.amount]),
      [
        [0, 0],
        [7, 11],
      ],
    );
  });

  it('ARREAR fixed fees bill the ended period, ADVANCE fees the next one and the first at creation', async () => {
    clock.set('2026-01-31T10:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'FIXED', display_name: 'Platform (advance)', amount: '49', invoice_cadence: 'ADVANCE' },
      { type: 'FIXED', display_name: 'Support (arrear)', amount: '10', invoice_cadence: 'ARREAR' },
      { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '0.5' },
    ]);
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    const [created] = draftsOf(sub.id);
    assert.ok(created);
    assert.equal(created.billing_reason, 'SUBSCRIPTION_CREATE');
    assert.deepEqual(amounts(created), [['Platform (advance)', '1', '49']]);
    assert.equal(created.lines[0]!.period_end?.toISOString(), '2026-02-28T10:00:00.000Z');

    await ingest(tenant, calls(4, '2026-02-10T00:00:00Z'));
    clock.set('2026-02-28T10:00:00Z');
    await h.services.billing.advancePeriods();
    const cycle = draftsOf(sub.id)[1];
    assert.ok(cycle);
    assert.deepEqual(amounts(cycle), [
      ['Support (arrear)', '1', '10'],
      ['Calls', '4', '2'],
      ['Platform (advance)', '1', '49'],
    ]);
    // Anniversary on the 31st: Feb 28 → Mar 31 (not Mar 28).
    assert.equal(cycle.lines[2]!.period_start?.toISOString(), '2026-02-28T10:00:00.000Z');
    assert.equal(cycle.lines[2]!.period_end?.toISOString(), '2026-03-31T10:00:00.000Z');
    const current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.current_period_start, '2026-02-28T10:00:00.000Z');
    assert.equal(current.current_period_end, '2026-03-31T10:00:00.000Z');
  });

  it('calendar billing: a partial first period to the month end, then whole months', async () => {
    clock.set('2026-01-15T08:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'FIXED', display_name: 'Fee', amount: '30', invoice_cadence: 'ARREAR' },
    ]);
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id, billing_cycle: 'calendar' });
    assert.equal(sub.current_period_end, '2026-02-01T00:00:00.000Z');
    assert.equal(draftsOf(sub.id).length, 0, 'no ADVANCE item: no creation invoice');
    clock.set('2026-03-01T00:00:01Z');
    await h.services.billing.advancePeriods();
    const invoices = draftsOf(sub.id);
    assert.deepEqual(
      invoices.map((d) => [d.period_start?.toISOString(), d.period_end?.toISOString()]),
      [
        ['2026-01-15T08:00:00.000Z', '2026-02-01T00:00:00.000Z'],
        ['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
      ],
    );
  });

  it('an annual subscription is invoiced yearly, with all the usage of the year and the next year fee', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'FIXED', display_name: 'Annual fee', amount: '1200', billing_period: 'ANNUAL' },
      { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1', billing_period: 'ANNUAL' },
    ]);
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id, billing_period: 'ANNUAL' });
    await ingest(tenant, [...calls(2, '2026-02-01T00:00:00Z'), ...calls(3, '2026-11-01T00:00:00Z')]);
    clock.set('2027-01-01T00:00:00Z');
    await h.services.billing.advancePeriods();
    const [created, cycle] = draftsOf(sub.id);
    assert.deepEqual(amounts(created!), [['Annual fee', '1', '1200']]);
    assert.deepEqual(amounts(cycle!), [
      ['Calls', '5', '5'],
      ['Annual fee', '1', '1200'],
    ]);
    assert.equal(cycle!.lines[1]!.period_end?.toISOString(), '2028-01-01T00:00:00.000Z');
  });
});

describe('the billing job', () => {
  it('invoices each period once: run twice, and after a clock jump one invoice per ended period', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' },
    ]);
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    await ingest(tenant, [...calls(1, '2026-01-10T00:00:00Z'), ...calls(2, '2026-02-10T00:00:00Z')]);
    clock.set('2026-04-15T00:00:00Z');
    await h.services.billing.advancePeriods();
    await h.services.billing.advancePeriods();
    const invoices = draftsOf(sub.id);
    assert.deepEqual(
      invoices.map((d) => [d.idempotency_key, d.lines[0]?.quantity.toFixed()]),
      [
        [`${sub.id}:2026-01-01T00:00:00.000Z`, '1'],
        [`${sub.id}:2026-02-01T00:00:00.000Z`, '2'],
        [`${sub.id}:2026-03-01T00:00:00.000Z`, '0'],
      ],
    );
    const current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.current_period_start, '2026-04-01T00:00:00.000Z');
    // The invoices module holds exactly one invoice per ended period.
    const listed = await ok(tenant, 'POST', '/v1/invoices/search', { subscription_id: sub.id, limit: 50 });
    assert.deepEqual(
      listed.items
        .map((i: Record<string, unknown>) => [i.period_start, i.billing_reason, i.total])
        .sort((a: string[], b: string[]) => a[0]!.localeCompare(b[0]!)),
      [
        ['2026-01-01T00:00:00.000Z', 'SUBSCRIPTION_CYCLE', '1'],
        ['2026-02-01T00:00:00.000Z', 'SUBSCRIPTION_CYCLE', '2'],
        ['2026-03-01T00:00:00.000Z', 'SUBSCRIPTION_CYCLE', '0'],
      ],
    );
  });

  it('a crash in the middle of a catch-up leaves the periods before it done and the rest for the next run', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' },
      { type: 'FIXED', display_name: 'Fee', amount: '3' },
    ]);
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    crashOn.add(`${sub.id}:2026-02-01T00:00:00.000Z`);
    clock.set('2026-04-02T00:00:00Z');
    const crashed = await h.services.billing.advancePeriods();
    assert.deepEqual(
      crashed.failed.map((f) => [f.subscription_id, (f.error as Error).message]),
      [[sub.id, 'crash while invoicing']],
    );
    let current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.current_period_start, '2026-02-01T00:00:00.000Z', 'January committed, February rolled back');
    await h.services.billing.advancePeriods();
    current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.current_period_start, '2026-04-01T00:00:00.000Z');
    const listed = await ok(tenant, 'POST', '/v1/invoices/search', { subscription_id: sub.id, limit: 50 });
    assert.deepEqual(listed.items.map((i: Record<string, unknown>) => `${i.billing_reason} ${i.period_start}`).sort(), [
      'SUBSCRIPTION_CREATE 2026-01-01T00:00:00.000Z',
      'SUBSCRIPTION_CYCLE 2026-01-01T00:00:00.000Z',
      'SUBSCRIPTION_CYCLE 2026-02-01T00:00:00.000Z',
      'SUBSCRIPTION_CYCLE 2026-03-01T00:00:00.000Z',
    ]);
  });

  it('ends a subscription cancelled at period end, and one scheduled mid-period at its date', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' },
    ]);
    await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' });
    const endOfPeriod = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    const scheduled = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    await ok(tenant, 'POST', `/v1/subscriptions/${endOfPeriod.id}/cancel`, { cancellation_type: 'end_of_period' });
    await ok(tenant, 'POST', `/v1/subscriptions/${scheduled.id}/cancel`, {
      cancellation_type: 'scheduled_date',
      cancel_at: '2026-01-20T00:00:00Z',
    });
    clock.set('2026-01-25T00:00:00Z');
    await h.services.billing.advancePeriods();
    let s = await ok(tenant, 'GET', `/v1/subscriptions/${scheduled.id}`);
    assert.equal(s.subscription_status, 'cancelled');
    assert.deepEqual(
      draftsOf(scheduled.id).map((d) => [d.period_start?.toISOString(), d.period_end?.toISOString()]),
      [['2026-01-01T00:00:00.000Z', '2026-01-20T00:00:00.000Z']],
    );
    s = await ok(tenant, 'GET', `/v1/subscriptions/${endOfPeriod.id}`);
    assert.equal(s.subscription_status, 'active');
    clock.set('2026-03-25T00:00:00Z');
    await h.services.billing.advancePeriods();
    s = await ok(tenant, 'GET', `/v1/subscriptions/${endOfPeriod.id}`);
    assert.equal(s.subscription_status, 'cancelled');
    assert.equal(draftsOf(endOfPeriod.id).length, 1);
    assert.equal(draftsOf(scheduled.id).length, 1);
    // The job's cancellations reach the outbox with the subscription as it ended.
    const cancelled = await h.database.db
      .selectFrom('webhook_messages')
      .select(['payload'])
      .where('tenant_id', '=', tenant.tenantId)
      .where('event_type', '=', 'subscription.cancelled')
      .orderBy('id')
      .execute();
    assert.deepEqual(
      cancelled.map((m) => {
        const payload = JSON.parse(m.payload) as { subscription: { id: string; subscription_status: string } };
        return [payload.subscription.id, payload.subscription.subscription_status];
      }),
      [
        [scheduled.id, 'cancelled'],
        [endOfPeriod.id, 'cancelled'],
      ],
    );
  });

  it('a trial ends: trialing → active', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await setup([{ type: 'FIXED', display_name: 'Fee', amount: '5' }]);
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id, trial_period_days: 14 });
    assert.equal(sub.subscription_status, 'trialing');
    clock.set('2026-01-16T00:00:00Z');
    await h.services.billing.advancePeriods();
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).subscription_status, 'active');
  });
});

describe('credit grants', () => {
  async function grantSetup() {
    const base = await setup([{ type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' }]);
    await ok(base.tenant, 'POST', '/v1/creditgrants', {
      name: 'Welcome',
      scope: 'PLAN',
      plan_id: base.plan.id,
      credits: '100',
      cadence: 'ONETIME',
      expiration_type: 'NEVER',
      priority: 1,
    });
    await ok(base.tenant, 'POST', '/v1/creditgrants', {
      name: 'Monthly',
      scope: 'PLAN',
      plan_id: base.plan.id,
      credits: '20',
      cadence: 'RECURRING',
      period: 'MONTHLY',
      period_count: 1,
      expiration_type: 'BILLING_CYCLE',
      priority: 2,
    });
    return base;
  }

  it('applies ONETIME once and RECURRING once per period with BILLING_CYCLE expiry, even when the job runs twice', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await grantSetup();
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    const wallets = await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`);
    assert.equal(wallets.length, 1);
    const wallet = wallets[0];
    assert.equal(wallet.wallet_type, 'PRE_PAID');
    assert.equal(wallet.balance, '120');
    const upcoming = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/grants/upcoming`);
    assert.deepEqual(
      upcoming.items.map((a: Record<string, unknown>) => [a.application_status, a.scheduled_for, a.credits]),
      [['pending', '2026-02-01T00:00:00.000Z', '20']],
    );
    assert.match(upcoming.items[0].id, /^cga_/);

    clock.set('2026-02-01T00:00:00Z');
    await h.services.billing.advancePeriods();
    await h.services.billing.advancePeriods();
    clock.set('2026-02-01T00:05:00Z');
    await h.services.billing.advancePeriods();

    const transactions = await ok(tenant, 'GET', `/v1/wallets/${wallet.id}/transactions`);
    const grants = transactions.items
      .filter((t: Record<string, unknown>) => t.transaction_reason === 'SUBSCRIPTION_CREDIT_GRANT')
      .map((t: Record<string, unknown>) => [t.credit_amount, t.expiry_date ?? null, t.priority])
      .sort((a: string[], b: string[]) => String(a[1]).localeCompare(String(b[1])));
    assert.deepEqual(grants, [
      ['20', '2026-02-01T00:00:00.000Z', 2],
      ['20', '2026-03-01T00:00:00.000Z', 2],
      ['100', null, 1],
    ]);
    const applications = await h.services.billing.listGrantApplications(
      { tenantId: tenant.tenantId, environmentId: tenant.environmentId },
      sub.id,
    );
    assert.deepEqual(
      applications.map((a) => [a.application_reason, a.application_status, a.period_start]),
      [
        ['onetime_credit_grant', 'applied', '2026-01-01T00:00:00.000Z'],
        ['first_time_recurring_credit_grant', 'applied', '2026-01-01T00:00:00.000Z'],
        ['recurring_credit_grant', 'applied', '2026-02-01T00:00:00.000Z'],
        ['recurring_credit_grant', 'pending', '2026-03-01T00:00:00.000Z'],
      ],
    );
  });

  it('credit_grants in the create body: SUBSCRIPTION grants applied like copied plan grants', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await grantSetup();
    const sub = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: customer.id,
      credit_grants: [
        {
          name: 'Signup bonus',
          credits: '50',
          cadence: 'ONETIME',
          expiration_type: 'DURATION',
          expiration_duration: 10,
          expiration_duration_unit: 'DAY',
          priority: 0,
          metadata: { campaign: 'launch' },
        },
        {
          // What @flexprice/sdk sends: the scope spelled out.
          name: 'Weekly top-up',
          scope: 'SUBSCRIPTION',
          credits: 5,
          cadence: 'RECURRING',
          period: 'WEEKLY',
          period_count: 2,
          expiration_type: 'NEVER',
        },
        {
          name: 'Later',
          credits: '7',
          cadence: 'ONETIME',
          start_date: '2026-01-15T00:00:00Z',
        },
      ],
    });
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    const grants = await ok(tenant, 'GET', `/v1/creditgrants?subscription_ids=${sub.id}&limit=100`);
    const byName = new Map(grants.items.map((g: Record<string, unknown>) => [g.name, g]));
    // The plan's two grants are copied; the body's three are the subscription's own.
    assert.deepEqual([...byName.keys()].sort(), ['Later', 'Monthly', 'Signup bonus', 'Weekly top-up', 'Welcome']);
    const bonus = byName.get('Signup bonus') as Record<string, unknown>;
    assert.deepEqual(
      [bonus.scope, bonus.subscription_id, bonus.start_date, bonus.credits, bonus.metadata],
      ['SUBSCRIPTION', sub.id, '2026-01-01T00:00:00.000Z', '50', { campaign: 'launch' }],
    );
    assert.equal((byName.get('Later') as Record<string, unknown>).start_date, '2026-01-15T00:00:00.000Z');
    // First applications at creation: 100 + 20 (plan) + 50 + 5; "Later" waits for its start date.
    const wallet = (await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`))[0];
    assert.equal(wallet.balance, '175');
    const ledger = await ok(tenant, 'GET', `/v1/wallets/${wallet.id}/transactions?limit=100`);
    const bonusEntry = ledger.items.find((t: Record<string, unknown>) => t.credit_amount === '50');
    assert.deepEqual(
      [bonusEntry.transaction_reason, bonusEntry.expiry_date, bonusEntry.priority],
      ['SUBSCRIPTION_CREDIT_GRANT', '2026-01-11T00:00:00.000Z', 0],
    );
    // The job applies the rest when due: "Later" on Jan 15, the two-weekly grant again on Jan 15 and Jan 29.
    clock.set('2026-01-15T00:00:00Z');
    await h.services.billing.advancePeriods();
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '187');
    clock.set('2026-01-29T00:00:00Z');
    await h.services.billing.advancePeriods();
    await h.services.billing.advancePeriods();
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '192');
    const own = (await h.services.billing.listGrantApplications(scope, sub.id)).filter(
      (a) => a.credit_grant_id === (byName.get('Weekly top-up') as Record<string, unknown>).id,
    );
    assert.deepEqual(
      own.map((a) => [a.application_status, a.period_start]),
      [
        ['applied', '2026-01-01T00:00:00.000Z'],
        ['applied', '2026-01-15T00:00:00.000Z'],
        ['applied', '2026-01-29T00:00:00.000Z'],
        ['pending', '2026-02-12T00:00:00.000Z'],
      ],
    );
  });

  it('credit_grants: an invalid grant is a 400 and nothing is created', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await grantSetup();
    const valid = { name: 'Bonus', credits: '10', cadence: 'ONETIME' };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...valid, credits: '0' }, /credit_grants\[1\]: credits/],
      [{ ...valid, cadence: 'RECURRING' }, /credit_grants\[1\]: period/],
      [{ ...valid, cadence: 'RECURRING', period: 'MONTHLY', period_count: 0 }, /period_count/],
      [{ ...valid, expiration_type: 'DURATION' }, /expiration_duration/],
      [{ ...valid, expiration_duration: 3, expiration_duration_unit: 'DAY' }, /only allowed for DURATION/],
      [{ ...valid, conversion_rate: '-1' }, /conversion_rate/],
      [{ ...valid, priority: -1 }, /priority/],
      [{ ...valid, name: ' ' }, /name/],
      [{ ...valid, scope: 'PLAN' }, /scope must be SUBSCRIPTION/],
      [{ ...valid, plan_id: plan.id }, /plan_id is not allowed/],
      [{ ...valid, subscription_id: 'subs_x' }, /subscription_id is not allowed/],
      [{ ...valid, start_date: '2025-12-31T00:00:00Z' }, /before the subscription's start_date/],
      [{ ...valid, start_date: '2026-02-01T00:00:00Z', end_date: '2026-01-20T00:00:00Z' }, /end_date/],
      [{ ...valid, cadence: 'SOMETIMES' }, /cadence/],
      [{ ...valid, credits: 'ten' }, /credits/],
    ];
    for (const [grant, message] of cases) {
      const response = await h.request(tenant, 'POST', '/v1/subscriptions', {
        plan_id: plan.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
        credit_grants: [valid, grant],
      });
      assertEnvelope(response, 400, 'validation_error');
      assert.match(response.json().message, message, JSON.stringify(grant));
    }
    const subscriptions = await ok(tenant, 'POST', '/v1/subscriptions/search', {});
    assert.equal(subscriptions.pagination.total, 0);
    const grants = await ok(tenant, 'GET', '/v1/creditgrants?limit=100');
    assert.deepEqual(
      grants.items.map((g: Record<string, unknown>) => g.scope),
      ['PLAN', 'PLAN'],
    );
    assert.deepEqual(await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`), []);
  });

  it('credit_grants on a draft subscription start with its activation', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' },
    ]);
    const sub = await subscribe(tenant, {
      plan_id: plan.id,
      customer_id: customer.id,
      subscription_status: 'draft',
      credit_grants: [{ name: 'Bonus', credits: '30', cadence: 'ONETIME', expiration_type: 'BILLING_CYCLE' }],
    });
    assert.deepEqual(await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`), []);
    clock.set('2026-01-10T00:00:00Z');
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/activate`, { start_date: '2026-01-10T00:00:00Z' });
    const grant = (await ok(tenant, 'GET', `/v1/creditgrants?subscription_ids=${sub.id}`)).items[0];
    assert.equal(grant.start_date, '2026-01-10T00:00:00.000Z');
    const wallet = (await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`))[0];
    assert.equal(wallet.balance, '30');
    const entry = (await ok(tenant, 'GET', `/v1/wallets/${wallet.id}/transactions`)).items[0];
    assert.equal(entry.expiry_date, '2026-02-10T00:00:00.000Z'); // the end of the first period
  });

  it('404 for upcoming grants of an unknown subscription', async () => {
    const tenant = await h.newTenant();
    const response = await h.request(tenant, 'GET', '/v1/subscriptions/subs_nope/grants/upcoming');
    assertEnvelope(response, 404);
  });
});

describe('real-time balance', () => {
  it('subtracts the current period usage charges in the wallet currency', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '0.25' },
    ]);
    await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    const wallet = await ok(tenant, 'POST', '/v1/wallets', {
      customer_id: customer.id,
      currency: 'usd',
      initial_credits_to_load: '50',
    });
    await ingest(tenant, calls(10, '2026-01-02T00:00:00Z'));
    clock.set('2026-01-03T00:00:00Z');
    const balance = await ok(tenant, 'GET', `/v1/wallets/${wallet.id}/balance/real-time`);
    assert.equal(balance.balance, '50');
    assert.equal(balance.current_period_usage, '2.5');
    assert.equal(balance.real_time_balance, '47.5');
    const listed = await ok(tenant, 'GET', `/v1/customers/wallets?id=${customer.id}&include_real_time_balance=true`);
    assert.equal(listed[0].real_time_balance, '47.5');
  });

  it('ignores usage for a wallet whose allowed price types exclude USAGE, and other currencies', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' },
    ]);
    await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    await ingest(tenant, calls(3, '2026-01-02T00:00:00Z'));
    const fixedOnly = await ok(tenant, 'POST', '/v1/wallets', {
      customer_id: customer.id,
      currency: 'usd',
      initial_credits_to_load: '10',
      config: { allowed_price_types: ['FIXED'] },
    });
    const euros = await ok(tenant, 'POST', '/v1/wallets', {
      customer_id: customer.id,
      currency: 'eur',
      initial_credits_to_load: '10',
    });
    clock.set('2026-01-03T00:00:00Z');
    for (const wallet of [fixedOnly, euros]) {
      const balance = await ok(tenant, 'GET', `/v1/wallets/${wallet.id}/balance/real-time`);
      assert.equal(balance.current_period_usage, '0');
      assert.equal(balance.real_time_balance, '10');
    }
  });
});

describe('POST /v1/invoices/preview', () => {
  it('renders the current period as the job will invoice it, and writes nothing', async () => {
    clock.set('2026-05-01T00:00:00Z');
    const { tenant, customer, plan } = await setup([
      { type: 'FIXED', display_name: 'Fee', amount: '49' },
      { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '0.333' },
    ]);
    const sub = await subscribe(tenant, { plan_id: plan.id, customer_id: customer.id });
    await ingest(tenant, calls(3, '2026-05-02T00:00:00Z'));
    const before = await ok(tenant, 'POST', '/v1/invoices/search', { subscription_id: sub.id });
    const preview = await ok(tenant, 'POST', '/v1/invoices/preview', { subscription_id: sub.id });
    assert.equal(preview.subscription_id, sub.id);
    assert.equal(preview.period_start, '2026-05-01T00:00:00.000Z');
    assert.equal(preview.period_end, '2026-06-01T00:00:00.000Z');
    assert.deepEqual(
      preview.line_items.map((l: Record<string, unknown>) => [l.display_name, l.quantity, l.amount]),
      [
        ['Calls', '3', '1'],
        ['Fee', '1', '49'],
      ],
    );
    assert.equal(preview.total, '50');
    const hidden = await ok(tenant, 'POST', '/v1/invoices/preview', {
      subscription_id: sub.id,
      period_start: '2026-05-10T00:00:00Z',
      period_end: '2026-05-20T00:00:00Z',
      hide_zero_charges_line_items: true,
    });
    assert.deepEqual(
      hidden.line_items.map((l: Record<string, unknown>) => l.display_name),
      ['Fee'],
    );
    const afterwards = await ok(tenant, 'POST', '/v1/invoices/search', { subscription_id: sub.id });
    assert.equal(afterwards.pagination.total, before.pagination.total);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/invoices/preview', { subscription_id: 'subs_missing' }), 404);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/invoices/preview', {
        subscription_id: sub.id,
        period_start: '2026-05-10T00:00:00Z',
        period_end: '2026-05-01T00:00:00Z',
      }),
      400,
    );
  });
});

describe('POST /v1/subscriptions/usage', () => {
  it('400 without subscription_id, 404 for an unknown subscription', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(await h.request(tenant, 'POST', '/v1/subscriptions/usage', {}), 400);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/subscriptions/usage', { subscription_id: 'subs_x' }), 404);
  });
});
