import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FeatureEvent } from '../../src/modules/catalog/features.service.ts';
import { meterUsageSpec, type MeterView } from '../../src/modules/catalog/meters.service.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

let h: Harness;
const seen: Array<{ tenantId: string; event: FeatureEvent }> = [];
const failFor = new Set<string>();
before(async () => {
  h = await startHarness();
  h.services.catalog.features.onEvent(async (tx, scope, event) => {
    // proves the listener runs inside the business transaction: it can read the row being written
    const row = await tx.selectFrom('features').select('id').where('id', '=', event.feature.id).executeTakeFirst();
    assert.ok(row, 'listener sees the feature inside the transaction');
    if (failFor.has(scope.tenantId)) throw new Error('listener failed');
    seen.push({ tenantId: scope.tenantId, event });
  });
});
after(async () => {
  await h.close();
});

const sumMeter = {
  name: 'Tokens',
  event_name: 'llm_call',
  aggregation: { type: 'SUM', field: 'tokens' },
  reset_usage: 'BILLING_PERIOD',
};

async function createMeter(tenant: TestTenant, body: Record<string, unknown> = {}) {
  const response = await h.request(tenant, 'POST', '/v1/meters', { ...sumMeter, ...body });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

async function createFeature(tenant: TestTenant, body: Record<string, unknown>) {
  const response = await h.request(tenant, 'POST', '/v1/features', body);
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

describe('meters', () => {
  const valid: Array<[string, Record<string, unknown>]> = [
    ['COUNT without a field', { type: 'COUNT' }],
    ['SUM', { type: 'SUM', field: 'tokens' }],
    ['AVG', { type: 'AVG', field: 'latency' }],
    ['COUNT_UNIQUE', { type: 'COUNT_UNIQUE', field: 'user' }],
    ['LATEST', { type: 'LATEST', field: 'seats' }],
    ['SUM_WITH_MULTIPLIER', { type: 'SUM_WITH_MULTIPLIER', field: 'bytes', multiplier: '0.001' }],
    ['MAX', { type: 'MAX', field: 'gb' }],
    ['WEIGHTED_SUM', { type: 'WEIGHTED_SUM', field: 'gb' }],
    ['bucketed MAX with group_by', { type: 'MAX', field: 'gb', bucket_size: 'HOUR', group_by: 'instance' }],
    ['bucketed SUM', { type: 'SUM', field: 'gb', bucket_size: 'DAY' }],
  ];
  for (const [what, aggregation] of valid) {
    it(`creates a ${what} meter (201)`, async () => {
      const tenant = await h.newTenant();
      const meter = await createMeter(tenant, { aggregation });
      assert.match(meter.id, /^meter_[0-9A-Z]{26}$/);
      assert.equal(meter.aggregation.type, aggregation.type);
      assert.equal(meter.reset_usage, 'BILLING_PERIOD');
      assert.equal(meter.status, 'published');
    });
  }

  const invalid: Array<[string, Record<string, unknown>]> = [
    ['SUM without field', { aggregation: { type: 'SUM' } }],
    ['an unknown aggregation type', { aggregation: { type: 'MEDIAN', field: 'x' } }],
    ['field and expression together', { aggregation: { type: 'SUM', field: 'a', expression: 'a*2' } }],
    ['an expression on COUNT_UNIQUE', { aggregation: { type: 'COUNT_UNIQUE', expression: 'a' } }],
    ['SUM_WITH_MULTIPLIER without multiplier', { aggregation: { type: 'SUM_WITH_MULTIPLIER', field: 'a' } }],
    ['a zero multiplier', { aggregation: { type: 'SUM_WITH_MULTIPLIER', field: 'a', multiplier: '0' } }],
    ['a multiplier on SUM', { aggregation: { type: 'SUM', field: 'a', multiplier: '2' } }],
    ['a bucket on AVG', { aggregation: { type: 'AVG', field: 'a', bucket_size: 'HOUR' } }],
    ['a bucket on COUNT', { aggregation: { type: 'COUNT', bucket_size: 'HOUR' } }],
    ['an unknown bucket size', { aggregation: { type: 'MAX', field: 'a', bucket_size: 'YEAR' } }],
    ['group_by without a bucket', { aggregation: { type: 'MAX', field: 'a', group_by: 'g' } }],
    ['group_by on bucketed SUM', { aggregation: { type: 'SUM', field: 'a', bucket_size: 'DAY', group_by: 'g' } }],
    ['a filter without values', { filters: [{ key: 'model', values: [] }] }],
    ['a filter with an empty key', { filters: [{ key: ' ', values: ['a'] }] }],
    ['an empty event_name', { event_name: '  ' }],
    ['an empty name', { name: '' }],
    ['an unknown reset_usage', { reset_usage: 'DAILY' }],
  ];
  for (const [what, body] of invalid) {
    it(`rejects ${what} with 400 and stores nothing`, async () => {
      const tenant = await h.newTenant();
      assertEnvelope(await h.request(tenant, 'POST', '/v1/meters', { ...sumMeter, ...body }), 400, 'validation_error');
      assert.equal((await h.request(tenant, 'GET', '/v1/meters')).json().pagination.total, 0);
    });
  }

  it('answers 400 for a valid CEL expression it cannot evaluate', async () => {
    const tenant = await h.newTenant();
    const response = await h.request(tenant, 'POST', '/v1/meters', {
      ...sumMeter,
      aggregation: { type: 'SUM', expression: 'tokens * 2' },
    });
    assertEnvelope(response, 400, 'validation_error');
  });

  it('reads, lists, searches and merges filters on update', async () => {
    const tenant = await h.newTenant();
    const meter = await createMeter(tenant, { filters: [{ key: 'model', values: ['gpt'] }] });
    await createMeter(tenant, { event_name: 'other' });
    assert.deepEqual((await h.request(tenant, 'GET', `/v1/meters/${meter.id}`)).json(), meter);
    const list = (await h.request(tenant, 'GET', '/v1/meters?event_name=llm_call')).json();
    assert.deepEqual(
      list.items.map((m: { id: string }) => m.id),
      [meter.id],
    );
    const search = (await h.request(tenant, 'POST', '/v1/meters/search', { meter_ids: [meter.id] })).json();
    assert.equal(search.pagination.total, 1);
    const updated = await h.request(tenant, 'PUT', `/v1/meters/${meter.id}`, {
      filters: [
        { key: 'model', values: ['gpt', 'claude'] },
        { key: 'region', values: ['eu'] },
      ],
    });
    assert.equal(updated.statusCode, 200, updated.body);
    assert.deepEqual(updated.json().filters, [
      { key: 'model', values: ['gpt', 'claude'] },
      { key: 'region', values: ['eu'] },
    ]);
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/meters/${meter.id}`, { filters: [] }), 400, 'validation_error');
  });

  it('maps a meter onto the usage request of the events module', async () => {
    const tenant = await h.newTenant();
    const meter: MeterView = await createMeter(tenant, {
      aggregation: { type: 'MAX', field: 'gb', bucket_size: 'HOUR', group_by: 'instance' },
      filters: [{ key: 'region', values: ['eu'] }],
    });
    assert.deepEqual(meterUsageSpec(meter), {
      event_name: 'llm_call',
      aggregation_type: 'MAX',
      property_name: 'gb',
      filters: { region: ['eu'] },
      bucket_size: 'HOUR',
      group_by: ['properties.instance'],
    });
  });

  it("feeds the events module's usage computation: filtered SUM_WITH_MULTIPLIER and bucketed MAX", async () => {
    const tenant = await h.newTenant();
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    await h.services.events.ingestEvents(scope, [
      {
        event_id: 'u1',
        event_name: 'gpu',
        external_customer_id: 'c',
        timestamp: '2026-03-01T10:05:00Z',
        properties: { s: '10', region: 'eu' },
      },
      {
        event_id: 'u2',
        event_name: 'gpu',
        external_customer_id: 'c',
        timestamp: '2026-03-01T10:40:00Z',
        properties: { s: '30', region: 'eu' },
      },
      {
        event_id: 'u3',
        event_name: 'gpu',
        external_customer_id: 'c',
        timestamp: '2026-03-01T11:10:00Z',
        properties: { s: '5', region: 'us' },
      },
    ]);
    const range = { external_customer_id: 'c', start_time: '2026-03-01T00:00:00Z', end_time: '2026-03-02T00:00:00Z' };
    const weighted: MeterView = await createMeter(tenant, {
      event_name: 'gpu',
      aggregation: { type: 'SUM_WITH_MULTIPLIER', field: 's', multiplier: '0.5' },
      filters: [{ key: 'region', values: ['eu'] }],
    });
    const sum = await h.services.events.getUsage(scope, { ...meterUsageSpec(weighted), ...range });
    assert.equal(sum.value, '20');
    const peak: MeterView = await createMeter(tenant, {
      event_name: 'gpu',
      aggregation: { type: 'MAX', field: 's', bucket_size: 'HOUR' },
    });
    // max per hour: 30 (10:00) + 5 (11:00)
    const max = await h.services.events.getUsage(scope, { ...meterUsageSpec(peak), ...range });
    assert.equal(max.value, '35');
  });

  it('archives on delete (then 404), and refuses while a feature uses the meter', async () => {
    const tenant = await h.newTenant();
    const used = await createMeter(tenant);
    await createFeature(tenant, { name: 'Tokens', type: 'metered', meter_id: used.id });
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/meters/${used.id}`), 400, 'invalid_operation');
    const free = await createMeter(tenant);
    const deleted = await h.request(tenant, 'DELETE', `/v1/meters/${free.id}`);
    assert.equal(deleted.statusCode, 200);
    assert.deepEqual(deleted.json(), { message: 'meter deleted successfully' });
    assertEnvelope(await h.request(tenant, 'GET', `/v1/meters/${free.id}`), 404, 'not_found');
    const disabled = await createMeter(tenant);
    assert.equal((await h.request(tenant, 'POST', `/v1/meters/${disabled.id}/disable`)).statusCode, 200);
    assertEnvelope(await h.request(tenant, 'GET', `/v1/meters/${disabled.id}`), 404);
    const archived = (await h.request(tenant, 'GET', '/v1/meters?status=archived&sort=created_at&order=asc')).json();
    assert.deepEqual(
      archived.items.map((m: { id: string }) => m.id),
      [free.id, disabled.id],
    );
  });

  it('answers 401 without a key and 404 across environments', async () => {
    assertEnvelope(await h.request(null, 'POST', '/v1/meters', sumMeter), 401);
    assertEnvelope(await h.request(null, 'GET', '/v1/meters'), 401);
    const owner = await h.newTenant();
    const stranger = await h.newTenant();
    const meter = await createMeter(owner);
    assertEnvelope(await h.request(stranger, 'GET', `/v1/meters/${meter.id}`), 404);
    assertEnvelope(
      await h.request(stranger, 'PUT', `/v1/meters/${meter.id}`, { filters: [{ key: 'a', values: ['b'] }] }),
      404,
    );
    assertEnvelope(await h.request(stranger, 'DELETE', `/v1/meters/${meter.id}`), 404);
    assert.equal((await h.request(stranger, 'GET', '/v1/meters')).json().pagination.total, 0);
  });
});

describe('features', () => {
  it('creates a metered feature with an inline meter, derives the lookup key and emits feature.created', async () => {
    const tenant = await h.newTenant();
    const feature = await createFeature(tenant, {
      name: 'API Calls (v2)!',
      type: 'metered',
      meter: sumMeter,
      unit_singular: 'call',
      unit_plural: 'calls',
      metadata: { team: 'core' },
      alert_settings: { critical: { threshold: 10, condition: 'below' } },
    });
    assert.match(feature.id, /^feat_[0-9A-Z]{26}$/);
    assert.equal(feature.lookup_key, 'api_calls_v2');
    assert.match(feature.meter_id, /^meter_/);
    assert.equal(feature.meter.id, feature.meter_id);
    assert.equal(feature.meter.aggregation.field, 'tokens');
    assert.deepEqual(feature.alert_settings, {
      alert_enabled: false,
      critical: { threshold: '10', condition: 'below' },
    });
    const meter = await h.request(tenant, 'GET', `/v1/meters/${feature.meter_id}`);
    assert.equal(meter.statusCode, 200);
    const event = seen.find((s) => s.tenantId === tenant.tenantId);
    assert.equal(event?.event.type, 'feature.created');
    assert.equal(event?.event.feature.id, feature.id);
  });

  it('creates boolean, static and config features without a meter, and a metered one from meter_id', async () => {
    const tenant = await h.newTenant();
    for (const type of ['boolean', 'static', 'config']) {
      const feature = await createFeature(tenant, { name: `F ${type}`, type });
      assert.equal(feature.meter_id, '');
      assert.equal(feature.type, type);
    }
    const meter = await createMeter(tenant);
    const metered = await createFeature(tenant, {
      name: 'Tokens',
      type: 'metered',
      meter_id: meter.id,
      lookup_key: 'tok',
    });
    assert.equal(metered.meter_id, meter.id);
    assert.equal(metered.lookup_key, 'tok');
  });

  const invalid: Array<[string, Record<string, unknown>]> = [
    ['a metered feature without a meter', { name: 'x', type: 'metered' }],
    ['both meter and meter_id', { name: 'x', type: 'metered', meter_id: 'meter_x', meter: sumMeter }],
    ['a meter on a boolean feature', { name: 'x', type: 'boolean', meter: sumMeter }],
    ['an unknown type', { name: 'x', type: 'gauge' }],
    ['a missing name', { type: 'boolean' }],
    ['unit_singular without unit_plural', { name: 'x', type: 'boolean', unit_singular: 'call' }],
    [
      'an inline meter breaking a rule',
      { name: 'x', type: 'metered', meter: { ...sumMeter, aggregation: { type: 'SUM' } } },
    ],
    ['a name without letters and no lookup key', { name: '!!!', type: 'boolean' }],
    [
      'a bad alert condition',
      { name: 'x', type: 'boolean', alert_settings: { critical: { threshold: '1', condition: 'at' } } },
    ],
    ['a zero reporting conversion rate', { name: 'x', type: 'boolean', reporting_unit: { conversion_rate: 0 } }],
  ];
  for (const [what, body] of invalid) {
    it(`rejects ${what} with 400, storing neither feature nor meter`, async () => {
      const tenant = await h.newTenant();
      assertEnvelope(await h.request(tenant, 'POST', '/v1/features', body), 400, 'validation_error');
      assert.equal((await h.request(tenant, 'GET', '/v1/features')).json().pagination.total, 0);
      assert.equal((await h.request(tenant, 'GET', '/v1/meters')).json().pagination.total, 0);
    });
  }

  it('answers 404 for an unknown meter_id and 409 for a taken lookup key (free again after delete)', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/features', { name: 'x', type: 'metered', meter_id: 'meter_nope' }),
      404,
    );
    const first = await createFeature(tenant, { name: 'Seats', type: 'static' });
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/features', { name: 'seats', type: 'boolean' }),
      409,
      'already_exists',
    );
    assert.equal((await h.request(tenant, 'DELETE', `/v1/features/${first.id}`)).statusCode, 200);
    await createFeature(tenant, { name: 'seats', type: 'boolean' });
  });

  it('rolls the feature and its inline meter back when a listener fails', async () => {
    const tenant = await h.newTenant();
    failFor.add(tenant.tenantId);
    const response = await h.request(tenant, 'POST', '/v1/features', { name: 'x', type: 'metered', meter: sumMeter });
    assert.equal(response.statusCode, 500);
    failFor.delete(tenant.tenantId);
    assert.equal((await h.request(tenant, 'GET', '/v1/features')).json().pagination.total, 0);
    assert.equal((await h.request(tenant, 'GET', '/v1/meters')).json().pagination.total, 0);
  });

  it('searches by ids, lookup keys, meter ids and name, and expands meters on request', async () => {
    const tenant = await h.newTenant();
    const a = await createFeature(tenant, { name: 'Alpha Calls', type: 'metered', meter: sumMeter });
    const b = await createFeature(tenant, { name: 'Beta', type: 'boolean' });
    const search = async (body: Record<string, unknown>) => {
      const response = await h.request(tenant, 'POST', '/v1/features/search', body);
      assert.equal(response.statusCode, 200, response.body);
      return response.json();
    };
    assert.deepEqual(
      (await search({ feature_ids: [b.id] })).items.map((f: { id: string }) => f.id),
      [b.id],
    );
    assert.deepEqual(
      (await search({ lookup_keys: ['alpha_calls'] })).items.map((f: { id: string }) => f.id),
      [a.id],
    );
    assert.equal((await search({ meter_ids: [a.meter_id] })).pagination.total, 1);
    assert.equal((await search({ name_contains: 'ALPHA' })).pagination.total, 1);
    const plain = await search({ feature_ids: [a.id] });
    assert.equal(plain.items[0].meter, undefined);
    const expanded = await search({ feature_ids: [a.id], expand: 'meters' });
    assert.equal(expanded.items[0].meter.id, a.meter_id);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/features/search', { expand: 'plans' }), 400);
    const byQuery = (await h.request(tenant, 'GET', `/v1/features?feature_ids=${a.id},${b.id}&limit=1`)).json();
    assert.equal(byQuery.items.length, 1);
    assert.deepEqual(byQuery.pagination, { total: 2, limit: 1, offset: 0 });
    const one = await h.request(tenant, 'GET', `/v1/features/${a.id}`);
    assert.equal(one.json().meter.id, a.meter_id);
  });

  it('updates fields, merges meter filters for metered features only, and emits feature.updated', async () => {
    const tenant = await h.newTenant();
    const metered = await createFeature(tenant, { name: 'Tokens', type: 'metered', meter: sumMeter });
    const response = await h.request(tenant, 'PUT', `/v1/features/${metered.id}`, {
      name: 'Tokens v2',
      description: 'LLM tokens',
      filters: [{ key: 'model', values: ['a'] }],
    });
    assert.equal(response.statusCode, 200, response.body);
    const updated = response.json();
    assert.equal(updated.name, 'Tokens v2');
    assert.equal(updated.lookup_key, 'tokens');
    assert.deepEqual(updated.meter.filters, [{ key: 'model', values: ['a'] }]);
    assert.ok(seen.some((s) => s.tenantId === tenant.tenantId && s.event.type === 'feature.updated'));
    const flag = await createFeature(tenant, { name: 'Flag', type: 'boolean' });
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/features/${flag.id}`, { filters: [{ key: 'a', values: ['b'] }] }),
      400,
    );
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/features/${flag.id}`, { unit_singular: 'x' }), 400);
  });

  it('clones a feature with a new name and lookup key and its own copy of the meter', async () => {
    const tenant = await h.newTenant();
    const source = await createFeature(tenant, { name: 'Tokens', type: 'metered', meter: sumMeter });
    assertEnvelope(await h.request(tenant, 'POST', `/v1/features/${source.id}/clone`, { name: 'Copy' }), 400);
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/features/${source.id}/clone`, { name: 'Copy', lookup_key: 'tokens' }),
      409,
    );
    const response = await h.request(tenant, 'POST', `/v1/features/${source.id}/clone`, {
      name: 'Tokens copy',
      lookup_key: 'tokens_copy',
    });
    assert.equal(response.statusCode, 201, response.body);
    const clone = response.json();
    assert.notEqual(clone.id, source.id);
    assert.notEqual(clone.meter_id, source.meter_id);
    assert.deepEqual(clone.meter.aggregation, source.meter.aggregation);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/features/feat_nope/clone', { name: 'a', lookup_key: 'b' }),
      404,
    );
  });

  it('archives on delete with the reference message and emits feature.deleted', async () => {
    const tenant = await h.newTenant();
    const feature = await createFeature(tenant, { name: 'Gone', type: 'boolean' });
    const response = await h.request(tenant, 'DELETE', `/v1/features/${feature.id}`);
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { message: 'feature deleted successfully' });
    assertEnvelope(await h.request(tenant, 'GET', `/v1/features/${feature.id}`), 404);
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/features/${feature.id}`), 404);
    const deleted = seen.find((s) => s.tenantId === tenant.tenantId && s.event.type === 'feature.deleted');
    assert.equal(deleted?.event.feature.status, 'archived');
  });

  it('answers 401 without a key and 404 across environments', async () => {
    assertEnvelope(await h.request(null, 'POST', '/v1/features', { name: 'x', type: 'boolean' }), 401);
    assertEnvelope(await h.request(null, 'POST', '/v1/features/search', {}), 401);
    const owner = await h.newTenant();
    const stranger = await h.newTenant();
    const feature = await createFeature(owner, { name: 'Private', type: 'boolean' });
    assertEnvelope(await h.request(stranger, 'GET', `/v1/features/${feature.id}`), 404);
    assertEnvelope(await h.request(stranger, 'PUT', `/v1/features/${feature.id}`, { name: 'x' }), 404);
    assertEnvelope(await h.request(stranger, 'DELETE', `/v1/features/${feature.id}`), 404);
    assertEnvelope(
      await h.request(stranger, 'POST', `/v1/features/${feature.id}/clone`, { name: 'a', lookup_key: 'b' }),
      404,
    );
    assert.equal((await h.request(stranger, 'POST', '/v1/features/search', {})).json().pagination.total, 0);
    // the same lookup key is free in another environment
    await createFeature(stranger, { name: 'Private', type: 'boolean' });
  });
});
