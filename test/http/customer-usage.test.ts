import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

/**
 * GET /v1/customers/usage against hand-computed answers. Now is 2026-03-10 12:00 UTC. The customer subscribed to
 * Basic on 2026-01-15 (monthly, anniversary: the current period is [02-15, 03-15), two periods after the stored
 * first one) and to Extra on 2026-03-01 (current period [03-01, 04-01)).
 *
 *   Calls    (COUNT call)    Basic 3 MONTHLY + Extra 2 MONTHLY soft → limit 5, soft
 *   Daily    (COUNT call)    Basic 3 DAILY   (window: the day from 00:00, the anchor's time of day)
 *   Tokens   (SUM tokens)    Basic unlimited MONTHLY
 *   Lifetime (SUM gb)        Basic 3 NEVER   (everything since the subscription started)
 *   SSO (boolean, enabled), Seats (static "5")
 *
 * call events: 02-14 23:59:59 (previous period), 02-15 00:00:00 (period start, counts), 03-01, 03-05, 03-10 00:00,
 * 03-10 06:00, 03-10 11:00, 03-15 00:00 (next period) → 6 calls in [02-15, 03-15), 3 today, 6 in [03-01, 04-01).
 * llm: 4 on 02-20, 2.5 on 03-02 → 6.5. store: 100 on 01-10 (before the subscription), 4 on 01-20, 3.25 on 03-09 → 7.25.
 */
const NOW = '2026-03-10T12:00:00Z';
const clock = new TestClock(NOW);
let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

async function ok(tenant: TestTenant, method: 'POST' | 'GET', url: string, body?: unknown) {
  const response = await h.request(tenant, method, url, body);
  assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
  return response.json();
}

async function secondEnvironment(tenant: TestTenant): Promise<TestTenant> {
  const env = await ok(tenant, 'POST', '/v1/environments', { name: 'Prod', type: 'production' });
  const minted = await h.request(
    tenant,
    'POST',
    '/v1/secrets/api/keys',
    { name: 'prod', type: 'private_key' },
    { 'x-environment-id': env.id },
  );
  assert.equal(minted.statusCode, 201, minted.body);
  const apiKey = minted.json().api_key as string;
  return { tenantId: tenant.tenantId, environmentId: env.id, apiKey, headers: { 'x-api-key': apiKey } };
}

const metered = (name: string, event: string, aggregation: Record<string, unknown>) => ({
  name,
  type: 'metered',
  meter: { name, event_name: event, aggregation, reset_usage: 'BILLING_PERIOD' },
});

async function planWithPrice(tenant: TestTenant, name: string) {
  const plan = await ok(tenant, 'POST', '/v1/plans', { name });
  await ok(tenant, 'POST', '/v1/prices', {
    entity_type: 'PLAN',
    entity_id: plan.id,
    billing_model: 'FLAT_FEE',
    price_unit_type: 'FIAT',
    type: 'FIXED',
    amount: '10',
    currency: 'usd',
    billing_period: 'MONTHLY',
    invoice_cadence: 'ADVANCE',
  });
  return plan;
}

const event = (name: string, timestamp: string, properties: Record<string, unknown> = {}, customer = 'c-1') => ({
  event_name: name,
  external_customer_id: customer,
  timestamp,
  properties,
});

async function setup() {
  const tenant = await h.newTenant();
  const calls = await ok(tenant, 'POST', '/v1/features', metered('Calls', 'call', { type: 'COUNT' }));
  const daily = await ok(tenant, 'POST', '/v1/features', metered('Daily', 'call', { type: 'COUNT' }));
  const tokens = await ok(tenant, 'POST', '/v1/features', metered('Tokens', 'llm', { type: 'SUM', field: 'tokens' }));
  const lifetime = await ok(tenant, 'POST', '/v1/features', metered('Lifetime', 'store', { type: 'SUM', field: 'gb' }));
  const sso = await ok(tenant, 'POST', '/v1/features', { name: 'SSO', type: 'boolean' });
  const seats = await ok(tenant, 'POST', '/v1/features', { name: 'Seats', type: 'static' });
  const basic = await planWithPrice(tenant, 'Basic');
  const extra = await planWithPrice(tenant, 'Extra');
  const grant = (plan: { id: string }, feature: { id: string; type: string }, body: Record<string, unknown>) =>
    ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: feature.id,
      feature_type: feature.type,
      ...body,
    });
  await grant(basic, calls, { usage_limit: 3, usage_reset_period: 'MONTHLY' });
  await grant(extra, calls, { usage_limit: 2, usage_reset_period: 'MONTHLY', is_soft_limit: true });
  await grant(basic, daily, { usage_limit: 3, usage_reset_period: 'DAILY' });
  await grant(basic, tokens, { usage_limit: null, usage_reset_period: 'MONTHLY' });
  await grant(basic, lifetime, { usage_limit: 3, usage_reset_period: 'NEVER' });
  await grant(basic, sso, { is_enabled: true });
  await grant(basic, seats, { static_value: '5' });
  const customer = await ok(tenant, 'POST', '/v1/customers', { external_id: 'c-1', name: 'Acme' });
  const subscribe = (plan: { id: string }, start: string) =>
    ok(tenant, 'POST', '/v1/subscriptions', {
      plan_id: plan.id,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
      start_date: start,
    });
  const subBasic = await subscribe(basic, '2026-01-15T00:00:00Z');
  const subExtra = await subscribe(extra, '2026-03-01T00:00:00Z');
  await ok(tenant, 'POST', '/v1/events/bulk', {
    events: [
      ...[
        '2026-02-14T23:59:59Z',
        '2026-02-15T00:00:00Z',
        '2026-03-01T00:00:00Z',
        '2026-03-05T00:00:00Z',
        '2026-03-10T00:00:00Z',
        '2026-03-10T06:00:00Z',
        '2026-03-10T11:00:00Z',
        '2026-03-15T00:00:00Z',
      ].map((t) => event('call', t)),
      event('llm', '2026-02-20T00:00:00Z', { tokens: 4 }),
      event('llm', '2026-03-02T00:00:00Z', { tokens: '2.5' }),
      event('store', '2026-01-10T00:00:00Z', { gb: 100 }),
      event('store', '2026-01-20T00:00:00Z', { gb: 4 }),
      event('store', '2026-03-09T00:00:00Z', { gb: 3.25 }),
      event('call', '2026-03-10T01:00:00Z', {}, 'c-2'),
    ],
  });
  return { tenant, calls, daily, tokens, lifetime, sso, seats, basic, extra, customer, subBasic, subExtra };
}

type Summary = {
  customer_id: string;
  features: Array<Record<string, unknown> & { feature: { id: string; name: string }; sources: unknown[] }>;
  period?: { start_time: string; end_time: string; period: string };
  pagination: { total: number; limit: number; offset: number };
};

async function summary(tenant: TestTenant, query: string): Promise<Summary> {
  return ok(tenant, 'GET', `/v1/customers/usage?${query}`);
}

const pick = (f: Record<string, unknown>) => ({
  current_usage: f.current_usage,
  total_limit: f.total_limit,
  usage_percent: f.usage_percent,
  is_limit_exceeded: f.is_limit_exceeded,
  is_unlimited: f.is_unlimited,
  is_enabled: f.is_enabled,
  is_soft_limit: f.is_soft_limit,
  usage_reset_period: f.usage_reset_period,
  next_usage_reset_at: f.next_usage_reset_at,
});
const byName = (s: Summary) => Object.fromEntries(s.features.map((f) => [f.feature.name, pick(f)]));

describe('GET /v1/customers/usage', () => {
  it('reports usage in the current usage period against each aggregated limit', async () => {
    const s = await setup();
    const result = await summary(s.tenant, `customer_id=${s.customer.id}`);
    assert.equal(result.customer_id, s.customer.id);
    assert.deepEqual(result.period, {
      start_time: '2026-02-15T00:00:00.000Z',
      end_time: '2026-03-15T00:00:00.000Z',
      period: 'monthly',
    });
    assert.deepEqual(result.pagination, { total: 6, limit: 6, offset: 0 });
    assert.deepEqual(byName(result), {
      Calls: {
        current_usage: '6',
        total_limit: 5,
        usage_percent: '120',
        is_limit_exceeded: true,
        is_unlimited: false,
        is_enabled: true,
        is_soft_limit: true,
        usage_reset_period: 'MONTHLY',
        next_usage_reset_at: '2026-03-15T00:00:00.000Z',
      },
      // at the limit is not over it
      Daily: {
        current_usage: '3',
        total_limit: 3,
        usage_percent: '100',
        is_limit_exceeded: false,
        is_unlimited: false,
        is_enabled: true,
        is_soft_limit: false,
        usage_reset_period: 'DAILY',
        next_usage_reset_at: '2026-03-11T00:00:00.000Z',
      },
      Tokens: {
        current_usage: '6.5',
        total_limit: undefined,
        usage_percent: '0',
        is_limit_exceeded: false,
        is_unlimited: true,
        is_enabled: true,
        is_soft_limit: false,
        usage_reset_period: 'MONTHLY',
        next_usage_reset_at: '2026-03-15T00:00:00.000Z',
      },
      // 7.25 / 3 = 241.666… → 241.67
      Lifetime: {
        current_usage: '7.25',
        total_limit: 3,
        usage_percent: '241.67',
        is_limit_exceeded: true,
        is_unlimited: false,
        is_enabled: true,
        is_soft_limit: false,
        usage_reset_period: 'NEVER',
        next_usage_reset_at: undefined,
      },
      SSO: {
        current_usage: '0',
        total_limit: undefined,
        usage_percent: '0',
        is_limit_exceeded: false,
        is_unlimited: false,
        is_enabled: true,
        is_soft_limit: false,
        usage_reset_period: undefined,
        next_usage_reset_at: undefined,
      },
      Seats: {
        current_usage: '0',
        total_limit: undefined,
        usage_percent: '0',
        is_limit_exceeded: false,
        is_unlimited: false,
        is_enabled: true,
        is_soft_limit: false,
        usage_reset_period: undefined,
        next_usage_reset_at: undefined,
      },
    });
    const calls = result.features.find((f) => f.feature.id === s.calls.id)!;
    assert.equal(calls.usage_period_start, '2026-02-15T00:00:00.000Z');
    assert.deepEqual(
      (calls.sources as Array<{ subscription_id: string; usage_limit: number }>)
        .map((x) => [x.subscription_id, x.usage_limit])
        .sort(),
      [
        [s.subBasic.id, 3],
        [s.subExtra.id, 2],
      ].sort(),
    );
    // the same customer by its lookup key (external id)
    assert.deepEqual(byName(await summary(s.tenant, 'customer_lookup_key=c-1')), byName(result));
  });

  it('narrows by feature ids, feature lookup keys and subscription ids (comma-joined, as the SDK sends them)', async () => {
    const s = await setup();
    const two = await summary(s.tenant, `customer_id=${s.customer.id}&feature_ids=${s.calls.id}%2C${s.sso.id}`);
    assert.deepEqual(
      two.features.map((f) => f.feature.name),
      ['Calls', 'SSO'],
    );
    assert.deepEqual(two.pagination, { total: 2, limit: 2, offset: 0 });
    const keyed = await summary(s.tenant, `customer_id=${s.customer.id}&feature_lookup_keys=tokens,lifetime`);
    assert.deepEqual(
      keyed.features.map((f) => f.feature.name),
      ['Lifetime', 'Tokens'],
    );
    // only Extra: its own limit, usage in its own period [03-01, 04-01), which holds the 03-15 call too
    const extra = await summary(s.tenant, `customer_id=${s.customer.id}&subscription_ids=${s.subExtra.id}`);
    assert.deepEqual(extra.period, {
      start_time: '2026-03-01T00:00:00.000Z',
      end_time: '2026-04-01T00:00:00.000Z',
      period: 'monthly',
    });
    assert.deepEqual(byName(extra), {
      Calls: {
        current_usage: '6',
        total_limit: 2,
        usage_percent: '300',
        is_limit_exceeded: true,
        is_unlimited: false,
        is_enabled: true,
        is_soft_limit: true,
        usage_reset_period: 'MONTHLY',
        next_usage_reset_at: '2026-04-01T00:00:00.000Z',
      },
    });
  });

  it('moves to the next period and the next day as time passes; cancelled subscriptions stop counting', async () => {
    const s = await setup();
    clock.set('2026-03-15T00:00:00Z');
    try {
      const later = byName(
        await summary(s.tenant, `customer_id=${s.customer.id}&feature_ids=${s.calls.id},${s.daily.id}`),
      );
      assert.equal(later.Calls!.current_usage, '1');
      assert.equal(later.Calls!.next_usage_reset_at, '2026-04-15T00:00:00.000Z');
      assert.equal(later.Daily!.current_usage, '1');
      assert.equal(later.Daily!.next_usage_reset_at, '2026-03-16T00:00:00.000Z');
    } finally {
      clock.set(NOW);
    }
    await ok(s.tenant, 'POST', `/v1/subscriptions/${s.subExtra.id}/cancel`, { cancellation_type: 'immediate' });
    const afterCancel = byName(await summary(s.tenant, `customer_id=${s.customer.id}&feature_ids=${s.calls.id}`));
    assert.equal(afterCancel.Calls!.total_limit, 3);
    assert.equal(afterCancel.Calls!.usage_percent, '200');
    assert.equal(afterCancel.Calls!.is_soft_limit, false);
  });

  it('answers an empty summary for a customer without subscriptions', async () => {
    const s = await setup();
    const other = await ok(s.tenant, 'POST', '/v1/customers', { external_id: 'c-2', name: 'Other' });
    const result = await summary(s.tenant, `customer_id=${other.id}`);
    assert.deepEqual(result, { customer_id: other.id, features: [], pagination: { total: 0, limit: 0, offset: 0 } });
  });

  it('keeps environments apart', async () => {
    const s = await setup();
    const prod = await secondEnvironment(s.tenant);
    assertEnvelope(await h.request(prod, 'GET', `/v1/customers/usage?customer_id=${s.customer.id}`), 404, 'not_found');
    assertEnvelope(await h.request(prod, 'GET', '/v1/customers/usage?customer_lookup_key=c-1'), 404, 'not_found');
    // a same-named customer in prod with its own events does not see dev's, nor dev prod's
    await ok(prod, 'POST', '/v1/customers', { external_id: 'c-1', name: 'Prod Acme' });
    await ok(prod, 'POST', '/v1/events', event('call', '2026-03-10T02:00:00Z'));
    const dev = byName(await summary(s.tenant, `customer_id=${s.customer.id}&feature_ids=${s.calls.id}`));
    assert.equal(dev.Calls!.current_usage, '6');
    const prodSummary = await summary(prod, 'customer_lookup_key=c-1');
    assert.deepEqual(prodSummary.features, []);
  });

  it('refuses requests without a customer (400), unknown customers (404) and missing keys (401)', async () => {
    const s = await setup();
    assertEnvelope(await h.request(s.tenant, 'GET', '/v1/customers/usage'), 400, 'validation_error');
    assertEnvelope(await h.request(s.tenant, 'GET', '/v1/customers/usage?customer_id='), 400, 'validation_error');
    assertEnvelope(await h.request(s.tenant, 'GET', '/v1/customers/usage?customer_id=cust_nope'), 404, 'not_found');
    assertEnvelope(await h.request(s.tenant, 'GET', '/v1/customers/usage?customer_lookup_key=nope'), 404, 'not_found');
    assertEnvelope(await h.request(null, 'GET', `/v1/customers/usage?customer_id=${s.customer.id}`), 401);
  });
});
