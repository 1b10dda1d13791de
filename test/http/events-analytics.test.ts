import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

/**
 * POST /v1/events/analytics against hand-computed answers. Range [2026-03-01, 2026-03-03) UTC; the customer's `req`
 * events (tokens, user, region, source):
 *   e1 03-01 10:00:00  10   u1 eu web
 *   e2 03-01 23:59:59   5   u2 us api     (last second of day 1)
 *   e3 03-02 00:00:00  20   u1 eu web     (first instant of day 2)
 *   e4 03-02 12:00:00 1.5   u3 eu api
 * plus events just outside the range (02-28 23:59:59 and 03-03 00:00:00, the end being exclusive), another
 * customer's event and, in another environment, an event of a customer with the same external id.
 */
const clock = new TestClock('2026-03-10T12:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

const START = '2026-03-01T00:00:00Z';
const END = '2026-03-03T00:00:00Z';

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

const reqEvents = (customer: string) =>
  [
    { event_id: 'e0', ts: '2026-02-28T23:59:59Z', tokens: 100, user: 'u9', region: 'eu', source: 'web' },
    { event_id: 'e1', ts: '2026-03-01T10:00:00Z', tokens: 10, user: 'u1', region: 'eu', source: 'web' },
    { event_id: 'e2', ts: '2026-03-01T23:59:59Z', tokens: '5', user: 'u2', region: 'us', source: 'api' },
    { event_id: 'e3', ts: '2026-03-02T00:00:00Z', tokens: 20, user: 'u1', region: 'eu', source: 'web' },
    { event_id: 'e4', ts: '2026-03-02T12:00:00Z', tokens: '1.5', user: 'u3', region: 'eu', source: 'api' },
    { event_id: 'e5', ts: '2026-03-03T00:00:00Z', tokens: 100, user: 'u9', region: 'eu', source: 'web' },
  ].map((e) => ({
    event_id: `${customer}-${e.event_id}`,
    event_name: 'req',
    external_customer_id: customer,
    timestamp: e.ts,
    source: e.source,
    properties: { tokens: e.tokens, user: e.user, region: e.region },
  }));

const AGGREGATIONS = [
  ['Count', { type: 'COUNT' }],
  ['Sum', { type: 'SUM', field: 'tokens' }],
  ['Avg', { type: 'AVG', field: 'tokens' }],
  ['Unique users', { type: 'COUNT_UNIQUE', field: 'user' }],
  ['Latest', { type: 'LATEST', field: 'tokens' }],
  ['Doubled', { type: 'SUM_WITH_MULTIPLIER', field: 'tokens', multiplier: '2' }],
  ['Max', { type: 'MAX', field: 'tokens' }],
] as const;

async function setup() {
  const tenant = await h.newTenant();
  const features: Record<string, { id: string; meter_id: string }> = {};
  for (const [name, aggregation] of AGGREGATIONS) {
    features[name] = await ok(tenant, 'POST', '/v1/features', {
      name,
      type: 'metered',
      unit_singular: 'token',
      unit_plural: 'tokens',
      meter: { name, event_name: 'req', aggregation, reset_usage: 'BILLING_PERIOD' },
    });
  }
  // time-weighted: 4 GB at 03-01 00:00 (weight 48/48) and 8 GB at 03-02 12:00 (weight 12/48) → 4 + 2 = 6
  features.Storage = await ok(tenant, 'POST', '/v1/features', {
    name: 'Storage',
    type: 'metered',
    meter: { name: 'Storage', event_name: 'storage', aggregation: { type: 'WEIGHTED_SUM', field: 'gb' } },
  });
  const flag = await ok(tenant, 'POST', '/v1/features', { name: 'SSO', type: 'boolean' });
  const customer = await ok(tenant, 'POST', '/v1/customers', { external_id: 'c-1', name: 'Acme' });
  await ok(tenant, 'POST', '/v1/customers', { external_id: 'c-2', name: 'Other' });
  await ok(tenant, 'POST', '/v1/events/bulk', {
    events: [
      ...reqEvents('c-1'),
      {
        event_name: 'req',
        external_customer_id: 'c-2',
        timestamp: '2026-03-01T12:00:00Z',
        properties: { tokens: 1000 },
      },
      { event_name: 'storage', external_customer_id: 'c-1', timestamp: START, properties: { gb: 4 } },
      { event_name: 'storage', external_customer_id: 'c-1', timestamp: '2026-03-02T12:00:00Z', properties: { gb: 8 } },
    ],
  });
  return { tenant, features, flag, customer };
}

/** A plan pricing Sum at 0.01 per token and Count at 2 per started package of 3; the customer subscribed to it. */
async function subscribe(s: Awaited<ReturnType<typeof setup>>) {
  const plan = await ok(s.tenant, 'POST', '/v1/plans', { name: 'Pro' });
  const base = {
    entity_type: 'PLAN',
    entity_id: plan.id,
    currency: 'usd',
    billing_period: 'MONTHLY',
    billing_cadence: 'RECURRING',
    invoice_cadence: 'ARREAR',
    price_unit_type: 'FIAT',
    type: 'USAGE',
  };
  const sumPrice = await ok(s.tenant, 'POST', '/v1/prices', {
    ...base,
    billing_model: 'FLAT_FEE',
    amount: '0.01',
    meter_id: s.features.Sum!.meter_id,
  });
  const countPrice = await ok(s.tenant, 'POST', '/v1/prices', {
    ...base,
    billing_model: 'PACKAGE',
    amount: '2',
    transform_quantity: { divide_by: 3, round: 'up' },
    meter_id: s.features.Count!.meter_id,
  });
  const subscription = await ok(s.tenant, 'POST', '/v1/subscriptions', {
    plan_id: plan.id,
    customer_id: s.customer.id,
    currency: 'usd',
    billing_period: 'MONTHLY',
    start_date: '2026-02-01T00:00:00Z',
  });
  return { plan, sumPrice, countPrice, subscription };
}

type Item = {
  feature_id: string;
  name: string;
  total_usage: string;
  event_count: number;
  total_cost: string;
  subtotal: string;
  currency: string;
  source?: string;
  sources?: string[];
  properties?: Record<string, string>;
  points: Array<{ timestamp: string; usage: string; cost: string; event_count: number }>;
  [key: string]: unknown;
};

async function analytics(tenant: TestTenant, body: Record<string, unknown>) {
  const response = await h.request(tenant, 'POST', '/v1/events/analytics', {
    external_customer_id: 'c-1',
    start_time: START,
    end_time: END,
    ...body,
  });
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as { items: Item[]; currency: string; total_cost: string; subtotal: string };
}

const byName = (items: Item[], name: string) => items.filter((i) => i.name === name);

describe('POST /v1/events/analytics', () => {
  it('reports every aggregation over the range, with start inclusive and end exclusive (UTC)', async () => {
    const s = await setup();
    const result = await analytics(s.tenant, {});
    const totals = Object.fromEntries(result.items.map((i) => [i.name, [i.total_usage, i.event_count]]));
    assert.deepEqual(totals, {
      Count: ['4', 4],
      Sum: ['36.5', 4],
      Avg: ['9.125', 4],
      'Unique users': ['3', 4],
      Latest: ['1.5', 4],
      Doubled: ['73', 4],
      Max: ['20', 4],
      Storage: ['6', 2],
    });
    // sorted by feature name; the boolean feature has no item
    assert.deepEqual(
      result.items.map((i) => i.name),
      ['Avg', 'Count', 'Doubled', 'Latest', 'Max', 'Storage', 'Sum', 'Unique users'],
    );
    const sum = byName(result.items, 'Sum')[0]!;
    assert.equal(sum.feature_id, s.features.Sum!.id);
    assert.equal(sum.meter_id, s.features.Sum!.meter_id);
    assert.equal(sum.event_name, 'req');
    assert.equal(sum.aggregation_type, 'SUM');
    assert.equal(sum.unit, 'token');
    assert.equal(sum.unit_plural, 'tokens');
    assert.deepEqual(sum.sources, ['api', 'web']);
    assert.deepEqual(sum.points, []);
    // nothing prices them: zero cost, no currency
    assert.equal(sum.total_cost, '0');
    assert.equal(sum.currency, '');
    assert.equal(result.total_cost, '0');
    assert.equal(result.currency, '');
  });

  it('splits into window points on UTC day and hour boundaries', async () => {
    const s = await setup();
    const result = await analytics(s.tenant, { window_size: 'DAY', feature_ids: [s.features.Sum!.id] });
    assert.equal(result.items.length, 1);
    const sum = result.items[0]!;
    assert.equal(sum.window_size, 'DAY');
    assert.deepEqual(
      sum.points.map((p) => [p.timestamp, p.usage, p.event_count]),
      [
        ['2026-03-01T00:00:00.000Z', '15', 2],
        ['2026-03-02T00:00:00.000Z', '21.5', 2],
      ],
    );
    const hourly = await analytics(s.tenant, { window_size: 'HOUR', feature_ids: [s.features.Count!.id] });
    assert.deepEqual(
      hourly.items[0]!.points.map((p) => [p.timestamp, p.usage]),
      [
        ['2026-03-01T10:00:00.000Z', '1'],
        ['2026-03-01T23:00:00.000Z', '1'],
        ['2026-03-02T00:00:00.000Z', '1'],
        ['2026-03-02T12:00:00.000Z', '1'],
      ],
    );
    // per-window MAX and AVG are computed per window, not derived from the total
    const perDay = await analytics(s.tenant, {
      window_size: 'DAY',
      feature_ids: [s.features.Max!.id, s.features.Avg!.id, s.features.Storage!.id],
    });
    const points = (name: string) => byName(perDay.items, name)[0]!.points.map((p) => p.usage);
    assert.deepEqual(points('Max'), ['10', '20']);
    assert.deepEqual(points('Avg'), ['7.5', '10.75']);
    // time-weighted within each (day) window: 4 × 24/24, 8 × 12/24
    assert.deepEqual(points('Storage'), ['4', '4']);
  });

  it('groups by source, by a property and by both; feature_id is implied', async () => {
    const s = await setup();
    const bySource = await analytics(s.tenant, { feature_ids: [s.features.Sum!.id], group_by: ['source'] });
    assert.deepEqual(
      bySource.items.map((i) => [i.source, i.total_usage, i.event_count, i.sources]),
      [
        ['api', '6.5', 2, undefined],
        ['web', '30', 2, undefined],
      ],
    );
    const byRegion = await analytics(s.tenant, {
      feature_ids: [s.features.Sum!.id],
      group_by: ['feature_id', 'properties.region'],
      window_size: 'DAY',
    });
    assert.deepEqual(
      byRegion.items.map((i) => [i.properties, i.total_usage, i.sources, i.points.map((p) => p.usage)]),
      [
        [{ region: 'eu' }, '31.5', ['api', 'web'], ['10', '21.5']],
        [{ region: 'us' }, '5', ['api'], ['5']],
      ],
    );
    const both = await analytics(s.tenant, {
      feature_ids: [s.features.Count!.id],
      group_by: ['source', 'properties.region'],
    });
    assert.deepEqual(
      both.items.map((i) => [i.source, i.properties, i.total_usage]),
      [
        ['api', { region: 'eu' }, '1'],
        ['api', { region: 'us' }, '1'],
        ['web', { region: 'eu' }, '2'],
      ],
    );
    // COUNT_UNIQUE per group: eu has u1 twice and u3
    const unique = await analytics(s.tenant, {
      feature_ids: [s.features['Unique users']!.id],
      group_by: ['properties.region'],
    });
    assert.deepEqual(
      unique.items.map((i) => i.total_usage),
      ['2', '1'],
    );
  });

  it('filters by sources and property_filters', async () => {
    const s = await setup();
    const web = await analytics(s.tenant, { feature_ids: [s.features.Sum!.id], sources: ['web'] });
    assert.deepEqual([web.items[0]!.total_usage, web.items[0]!.sources], ['30', ['web']]);
    const us = await analytics(s.tenant, {
      feature_ids: [s.features.Sum!.id],
      property_filters: { region: ['us'] },
    });
    assert.equal(us.items[0]!.total_usage, '5');
    const none = await analytics(s.tenant, { feature_ids: [s.features.Sum!.id], sources: ['mobile'] });
    assert.deepEqual(none.items, []);
  });

  it("prices usage with the customer's live usage line items; points are priced per window", async () => {
    const s = await setup();
    const sub = await subscribe(s);
    const result = await analytics(s.tenant, { window_size: 'DAY', expand: ['price', 'subscription_line_item'] });
    const sum = byName(result.items, 'Sum')[0]!;
    // 36.5 × 0.01 = 0.365 → 0.37 (USD, half up); per day 0.15 and 0.215 → 0.22
    assert.equal(sum.total_cost, '0.37');
    assert.equal(sum.subtotal, '0.37');
    assert.equal(sum.total_discount, '0');
    assert.equal(sum.currency, 'usd');
    assert.equal(sum.price_id, sub.sumPrice.id);
    assert.equal(sum.subscription_id, sub.subscription.id);
    assert.equal(sum.plan_id, sub.plan.id);
    assert.equal((sum.price as { id: string }).id, sub.sumPrice.id);
    assert.equal((sum.subscription_line_item as { id: string }).id, sum.sub_line_item_id);
    assert.deepEqual(
      sum.points.map((p) => p.cost),
      ['0.15', '0.22'],
    );
    // 4 events, packages of 3 rounded up → 2 × 2 = 4
    const count = byName(result.items, 'Count')[0]!;
    assert.equal(count.total_cost, '4');
    assert.deepEqual(
      count.points.map((p) => p.cost),
      ['2', '2'],
    );
    // unpriced features cost zero
    assert.equal(byName(result.items, 'Max')[0]!.total_cost, '0');
    assert.equal(result.currency, 'usd');
    assert.equal(result.total_cost, '4.37');
    assert.equal(result.subtotal, '4.37');
  });

  it('keeps environments apart: neither events, customers nor features of another environment count', async () => {
    const s = await setup();
    const prod = await secondEnvironment(s.tenant);
    await ok(prod, 'POST', '/v1/customers', { external_id: 'c-1', name: 'Prod Acme' });
    const feature = await ok(prod, 'POST', '/v1/features', {
      name: 'Sum',
      type: 'metered',
      meter: { name: 'Sum', event_name: 'req', aggregation: { type: 'SUM', field: 'tokens' } },
    });
    await ok(prod, 'POST', '/v1/events', {
      event_name: 'req',
      external_customer_id: 'c-1',
      timestamp: '2026-03-01T12:00:00Z',
      properties: { tokens: 7777 },
    });
    const prodResult = await analytics(prod, {});
    assert.deepEqual(
      prodResult.items.map((i) => [i.feature_id, i.total_usage]),
      [[feature.id, '7777']],
    );
    const devResult = await analytics(s.tenant, { feature_ids: [s.features.Sum!.id] });
    assert.equal(devResult.items[0]!.total_usage, '36.5');
    assertEnvelope(
      await h.request(prod, 'POST', '/v1/events/analytics', {
        external_customer_id: 'c-1',
        feature_ids: [s.features.Sum!.id],
      }),
      404,
      'not_found',
    );
    const stranger = await h.newTenant();
    assertEnvelope(
      await h.request(stranger, 'POST', '/v1/events/analytics', { external_customer_id: 'c-1' }),
      404,
      'not_found',
    );
  });

  it('refuses bad requests with 400 (and unknown things with 404, no key with 401)', async () => {
    const s = await setup();
    const bad = async (body: Record<string, unknown>, status = 400) =>
      assertEnvelope(await h.request(s.tenant, 'POST', '/v1/events/analytics', body), status);
    const base = { external_customer_id: 'c-1' };
    await bad({});
    await bad({ ...base, start_time: END, end_time: START });
    await bad({ ...base, start_time: 'yesterday' });
    await bad({ ...base, window_size: 'FORTNIGHT' });
    await bad({ ...base, group_by: ['customer'] });
    await bad({ ...base, group_by: ['properties.'] });
    await bad({ ...base, breakdown_bucket: true });
    await bad({ ...base, include_children: true });
    await bad({ ...base, expand: ['plan'] });
    await bad({ ...base, expand: ['everything'] });
    await bad({ ...base, feature_ids: [s.flag.id] });
    await bad({ ...base, feature_ids: 'x' });
    await bad({ ...base, property_filters: { region: 'eu' } });
    await bad({ ...base, feature_ids: ['feat_missing'] }, 404);
    await bad({ external_customer_id: 'nobody' }, 404);
    assertEnvelope(await h.request(null, 'POST', '/v1/events/analytics', base), 401);
    // breakdown_bucket=false and include_children=false are the defaults, accepted
    await analytics(s.tenant, { breakdown_bucket: false, include_children: false });
  });
});
