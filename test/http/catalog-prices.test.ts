import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

async function ok(tenant: TestTenant, method: 'POST' | 'PUT' | 'GET' | 'DELETE', url: string, body?: unknown) {
  const response = await h.request(tenant, method, url, body);
  assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
  return response.json();
}

/** A tenant with a plan and a meter to hang prices on. */
async function setup() {
  const tenant = await h.newTenant();
  const plan = await ok(tenant, 'POST', '/v1/plans', { name: 'Pro' });
  const meter = await ok(tenant, 'POST', '/v1/meters', {
    name: 'Calls',
    event_name: 'call',
    aggregation: { type: 'COUNT' },
    reset_usage: 'BILLING_PERIOD',
  });
  const base = {
    entity_type: 'PLAN',
    entity_id: plan.id,
    currency: 'USD',
    billing_period: 'MONTHLY',
    billing_cadence: 'RECURRING',
    invoice_cadence: 'ARREAR',
    price_unit_type: 'FIAT',
  };
  const fixed = { ...base, type: 'FIXED', billing_model: 'FLAT_FEE', amount: '49.99', invoice_cadence: 'ADVANCE' };
  const usage = { ...base, type: 'USAGE', meter_id: meter.id };
  return { tenant, plan, meter, base, fixed, usage };
}

describe('prices', () => {
  it('creates a fixed flat-fee price with every default of the reference', async () => {
    const { tenant, plan, fixed } = await setup();
    const response = await h.request(tenant, 'POST', '/v1/prices', {
      ...fixed,
      trial_period_days: 14,
      lookup_key: 'pro_m',
    });
    assert.equal(response.statusCode, 201, response.body);
    const price = response.json();
    assert.match(price.id, /^price_[0-9A-Z]{26}$/);
    assert.equal(price.amount, '49.99');
    assert.equal(price.display_amount, '$49.99');
    assert.equal(price.currency, 'usd');
    assert.equal(price.entity_id, plan.id);
    assert.equal(price.billing_cadence, 'RECURRING');
    assert.equal(price.billing_period_count, 1);
    assert.equal(price.trial_period_days, 14);
    assert.equal(price.price_unit_type, 'FIAT');
    assert.equal(price.pricing_unit, undefined);
    assert.equal(price.plan.id, plan.id);
    assert.equal(price.plan.name, 'Pro');
    assert.ok(price.start_date);
    assert.deepEqual((await h.request(tenant, 'GET', `/v1/prices/${price.id}`)).json(), price);
    assert.equal((await h.request(tenant, 'GET', '/v1/prices/lookup/pro_m')).json().id, price.id);
  });

  it('creates package, volume and slab usage prices and keeps sub-cent amounts exactly', async () => {
    const { tenant, meter, usage } = await setup();
    const pkg = await ok(tenant, 'POST', '/v1/prices', {
      ...usage,
      billing_model: 'PACKAGE',
      amount: 5,
      transform_quantity: { divide_by: 1000 },
    });
    assert.deepEqual(pkg.transform_quantity, { divide_by: 1000, round: 'up' });
    assert.equal(pkg.amount, '5');
    assert.equal(pkg.meter.id, meter.id);
    const slab = await ok(tenant, 'POST', '/v1/prices', {
      ...usage,
      billing_model: 'TIERED',
      tier_mode: 'SLAB',
      tiers: [{ up_to: 1000, unit_amount: '0.000015', flat_amount: '1' }, { unit_amount: '0.00001' }],
    });
    assert.deepEqual(slab.tiers, [
      { up_to: 1000, unit_amount: '0.000015', flat_amount: '1' },
      { unit_amount: '0.00001' },
    ]);
    const volume = await ok(tenant, 'POST', '/v1/prices', {
      ...usage,
      billing_model: 'TIERED',
      tiers: [{ up_to: 10, unit_amount: '1' }, { unit_amount: '0.5' }],
    });
    assert.equal(volume.tier_mode, 'VOLUME');
    assert.equal(await h.services.catalog.prices.chargeForPrice(h.database.db, tenant, slab.id, '1500'), '1.02');
    assert.equal(await h.services.catalog.prices.chargeForPrice(h.database.db, tenant, volume.id, '10'), '10');
    assert.equal(await h.services.catalog.prices.chargeForPrice(h.database.db, tenant, pkg.id, '1001'), '10');
  });

  const invalid: Array<[string, (s: Awaited<ReturnType<typeof setup>>) => Record<string, unknown>]> = [
    ['PACKAGE without transform_quantity', (s) => ({ ...s.usage, billing_model: 'PACKAGE', amount: '1' })],
    [
      'PACKAGE with divide_by 0',
      (s) => ({ ...s.usage, billing_model: 'PACKAGE', amount: '1', transform_quantity: { divide_by: 0 } }),
    ],
    [
      'PACKAGE without amount',
      (s) => ({ ...s.usage, billing_model: 'PACKAGE', transform_quantity: { divide_by: 10 } }),
    ],
    ['FLAT_FEE without amount', (s) => ({ ...s.fixed, amount: undefined })],
    ['TIERED without tiers', (s) => ({ ...s.usage, billing_model: 'TIERED', tier_mode: 'SLAB' })],
    [
      'tiers out of order',
      (s) => ({
        ...s.usage,
        billing_model: 'TIERED',
        tiers: [
          { up_to: 10, unit_amount: '1' },
          { up_to: 5, unit_amount: '1' },
        ],
      }),
    ],
    [
      'an unbounded tier before the last',
      (s) => ({ ...s.usage, billing_model: 'TIERED', tiers: [{ unit_amount: '1' }, { up_to: 5, unit_amount: '1' }] }),
    ],
    ['a negative unit amount', (s) => ({ ...s.usage, billing_model: 'TIERED', tiers: [{ unit_amount: '-1' }] })],
    ['a negative amount', (s) => ({ ...s.fixed, amount: '-1' })],
    ['a non-decimal amount', (s) => ({ ...s.fixed, amount: 'ten' })],
    ['USAGE without meter_id', (s) => ({ ...s.usage, meter_id: undefined, billing_model: 'FLAT_FEE', amount: '1' })],
    ['a meter on a FIXED price', (s) => ({ ...s.fixed, meter_id: s.meter.id })],
    ['ONETIME in arrear', (s) => ({ ...s.fixed, billing_period: 'ONETIME', invoice_cadence: 'ARREAR' })],
    ['a trial on a USAGE price', (s) => ({ ...s.usage, billing_model: 'FLAT_FEE', amount: '1', trial_period_days: 7 })],
    ['a negative trial', (s) => ({ ...s.fixed, trial_period_days: -1 })],
    ['min_quantity on a USAGE price', (s) => ({ ...s.usage, billing_model: 'FLAT_FEE', amount: '1', min_quantity: 1 })],
    ['billing_period_count 0', (s) => ({ ...s.fixed, billing_period_count: 0 })],
    ['a 2-letter currency', (s) => ({ ...s.fixed, currency: 'us' })],
    ['an unknown billing period', (s) => ({ ...s.fixed, billing_period: 'HOURLY' })],
    ['transform_quantity on FLAT_FEE', (s) => ({ ...s.fixed, transform_quantity: { divide_by: 2 } })],
    ['CUSTOM without price_unit_config', (s) => ({ ...s.fixed, price_unit_type: 'CUSTOM' })],
    ['price_unit_config on FIAT', (s) => ({ ...s.fixed, price_unit_config: { price_unit: 'cre', amount: '1' } })],
    [
      'end_date before start_date',
      (s) => ({ ...s.fixed, start_date: '2026-02-01T00:00:00Z', end_date: '2026-01-01T00:00:00Z' }),
    ],
    ['entity type PRICE (no such entity here)', (s) => ({ ...s.fixed, entity_type: 'PRICE' })],
  ];
  for (const [what, body] of invalid) {
    it(`rejects ${what} with 400 and stores nothing`, async () => {
      const s = await setup();
      assertEnvelope(await h.request(s.tenant, 'POST', '/v1/prices', body(s)), 400, 'validation_error');
      assert.equal((await h.request(s.tenant, 'GET', '/v1/prices')).json().pagination.total, 0);
    });
  }

  it('answers 404 for an unknown plan or meter and 409 for a taken lookup key', async () => {
    const { tenant, fixed, usage } = await setup();
    assertEnvelope(await h.request(tenant, 'POST', '/v1/prices', { ...fixed, entity_id: 'plan_nope' }), 404);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/prices', {
        ...usage,
        meter_id: 'meter_nope',
        billing_model: 'FLAT_FEE',
        amount: '1',
      }),
      404,
    );
    await ok(tenant, 'POST', '/v1/prices', { ...fixed, lookup_key: 'k' });
    assertEnvelope(await h.request(tenant, 'POST', '/v1/prices', { ...fixed, lookup_key: 'k' }), 409, 'already_exists');
  });

  it('creates up to 100 prices in bulk, all or nothing', async () => {
    const { tenant, fixed, usage } = await setup();
    const created = await h.request(tenant, 'POST', '/v1/prices/bulk', {
      items: [fixed, { ...usage, billing_model: 'FLAT_FEE', amount: '0.01' }],
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json().items.length, 2);
    const failed = await h.request(tenant, 'POST', '/v1/prices/bulk', {
      items: [fixed, { ...usage, billing_model: 'PACKAGE', amount: '1' }],
    });
    const body = assertEnvelope(failed, 400, 'validation_error');
    assert.match(body.message, /^items\[1\]/);
    assert.equal((await h.request(tenant, 'GET', '/v1/prices')).json().pagination.total, 2);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/prices/bulk', { items: [] }), 400);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/prices/bulk', { items: Array.from({ length: 101 }, () => fixed) }),
      400,
    );
  });

  it('prices in a custom unit are converted with the unit rate and keep the unit amounts', async () => {
    const { tenant, fixed, usage } = await setup();
    const unitResponse = await h.request(tenant, 'POST', '/v1/prices/units', {
      name: 'Credits',
      code: 'CRE',
      symbol: 'Cr',
      base_currency: 'usd',
      conversion_rate: '0.01',
    });
    assert.equal(unitResponse.statusCode, 201, unitResponse.body);
    const unit = unitResponse.json();
    assert.equal(unit.code, 'cre');
    assert.match(unit.id, /^price_unit_/);
    const price = await ok(tenant, 'POST', '/v1/prices', {
      ...fixed,
      price_unit_type: 'CUSTOM',
      amount: undefined,
      price_unit_config: { price_unit: 'cre', amount: '150' },
    });
    assert.equal(price.amount, '1.5');
    assert.equal(price.price_unit_amount, '150');
    assert.equal(price.price_unit, 'cre');
    assert.equal(price.price_unit_id, unit.id);
    assert.equal(price.conversion_rate, '0.01');
    assert.deepEqual(price.pricing_unit, unit);
    assert.deepEqual((await ok(tenant, 'GET', `/v1/prices/${price.id}`)).pricing_unit, unit);
    const tiered = await ok(tenant, 'POST', '/v1/prices', {
      ...usage,
      billing_model: 'TIERED',
      tier_mode: 'SLAB',
      price_unit_type: 'CUSTOM',
      price_unit_config: {
        price_unit: 'cre',
        price_unit_tiers: [{ up_to: 10, unit_amount: '3' }, { unit_amount: '1' }],
      },
    });
    assert.deepEqual(tiered.tiers, [{ up_to: 10, unit_amount: '0.03' }, { unit_amount: '0.01' }]);
    assert.deepEqual(tiered.price_unit_tiers, [{ up_to: 10, unit_amount: '3' }, { unit_amount: '1' }]);
    assert.equal(tiered.pricing_unit.id, unit.id);
    // 10 × 3 + 5 × 1 = 35 credits = 0.35 usd
    assert.equal(await h.services.catalog.prices.chargeForPrice(h.database.db, tenant, tiered.id, '15'), '0.35');
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/prices', {
        ...fixed,
        price_unit_type: 'CUSTOM',
        price_unit_config: { price_unit: 'zzz', amount: '1' },
      }),
      404,
    );
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/prices', {
        ...fixed,
        currency: 'eur',
        price_unit_type: 'CUSTOM',
        price_unit_config: { price_unit: 'cre', amount: '1' },
      }),
      400,
    );
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/prices/units/${unit.id}`), 400, 'invalid_operation');
  });

  it('updates descriptive fields in place and versions a pricing change', async () => {
    const { tenant, fixed } = await setup();
    const price = await ok(tenant, 'POST', '/v1/prices', { ...fixed, lookup_key: 'pro' });
    const renamed = await ok(tenant, 'PUT', `/v1/prices/${price.id}`, { display_name: 'Pro monthly' });
    assert.equal(renamed.id, price.id);
    assert.equal(renamed.display_name, 'Pro monthly');
    const effective = new Date(Date.now() + 60_000).toISOString();
    const next = await ok(tenant, 'PUT', `/v1/prices/${price.id}`, { amount: '59', effective_from: effective });
    assert.notEqual(next.id, price.id);
    assert.equal(next.parent_price_id, price.id);
    assert.equal(next.amount, '59');
    assert.equal(next.lookup_key, 'pro');
    assert.equal(next.start_date, effective);
    const old = (await h.request(tenant, 'GET', `/v1/prices/${price.id}`)).json();
    assert.equal(old.end_date, effective);
    assert.equal(old.amount, '49.99');
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/prices/${price.id}`, { amount: '-1' }), 400);
  });

  it('versions a change of billing model and of a custom unit amount, keeping the rules', async () => {
    const { tenant, usage } = await setup();
    const flat = await ok(tenant, 'POST', '/v1/prices', { ...usage, billing_model: 'FLAT_FEE', amount: '1' });
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/prices/${flat.id}`, { billing_model: 'TIERED' }), 400);
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/prices/${flat.id}`, { billing_model: 'PACKAGE' }), 400);
    const tiered = await ok(tenant, 'PUT', `/v1/prices/${flat.id}`, {
      billing_model: 'TIERED',
      tier_mode: 'SLAB',
      tiers: [{ up_to: 5, unit_amount: '2' }, { unit_amount: '1' }],
    });
    assert.equal(tiered.parent_price_id, flat.id);
    assert.equal(tiered.billing_model, 'TIERED');
    assert.equal(await h.services.catalog.prices.chargeForPrice(h.database.db, tenant, tiered.id, '7'), '12');
    await ok(tenant, 'POST', '/v1/prices/units', {
      name: 'C',
      code: 'crx',
      symbol: 'C',
      base_currency: 'usd',
      conversion_rate: '0.1',
    });
    const custom = await ok(tenant, 'POST', '/v1/prices', {
      ...usage,
      billing_model: 'FLAT_FEE',
      price_unit_type: 'CUSTOM',
      price_unit_config: { price_unit: 'crx', amount: '3' },
    });
    const next = await ok(tenant, 'PUT', `/v1/prices/${custom.id}`, { price_unit_amount: '5' });
    assert.equal(next.price_unit_amount, '5');
    assert.equal(next.amount, '0.5');
    assert.equal(next.price_unit, 'crx');
  });

  it('searches by plan, meter, ids, and hides expired prices unless asked', async () => {
    const { tenant, plan, meter, fixed, usage } = await setup();
    const a = await ok(tenant, 'POST', '/v1/prices', fixed);
    const b = await ok(tenant, 'POST', '/v1/prices', { ...usage, billing_model: 'FLAT_FEE', amount: '1' });
    const expired = await ok(tenant, 'POST', '/v1/prices', {
      ...fixed,
      start_date: '2020-01-01T00:00:00Z',
      end_date: '2020-02-01T00:00:00Z',
    });
    const search = async (body: Record<string, unknown>) =>
      (await ok(tenant, 'POST', '/v1/prices/search', body)).items.map((p: { id: string }) => p.id).sort();
    assert.deepEqual(await search({ plan_ids: [plan.id] }), [a.id, b.id].sort());
    assert.deepEqual(await search({ meter_ids: [meter.id] }), [b.id]);
    assert.deepEqual(await search({ price_ids: [expired.id] }), []);
    assert.deepEqual(await search({ price_ids: [expired.id], allow_expired_prices: true }), [expired.id]);
    const list = await ok(tenant, 'GET', `/v1/prices?plan_ids=${plan.id}&limit=1&offset=1`);
    assert.deepEqual(list.pagination, { total: 2, limit: 1, offset: 1 });
    assertEnvelope(await h.request(tenant, 'POST', '/v1/prices/search', { expand: 'plans' }), 400);
  });

  it('archives on delete with the reference message (then 404)', async () => {
    const { tenant, fixed } = await setup();
    const price = await ok(tenant, 'POST', '/v1/prices', fixed);
    assert.deepEqual(await ok(tenant, 'DELETE', `/v1/prices/${price.id}`, {}), {
      message: 'price deleted successfully',
    });
    assertEnvelope(await h.request(tenant, 'GET', `/v1/prices/${price.id}`), 404);
  });

  it('accepts a delete without a body and with an empty JSON body (as the SDK sends it)', async () => {
    const { tenant, fixed } = await setup();
    const a = await ok(tenant, 'POST', '/v1/prices', fixed);
    const b = await ok(tenant, 'POST', '/v1/prices', fixed);
    assert.equal((await h.request(tenant, 'DELETE', `/v1/prices/${a.id}`)).statusCode, 200);
    const empty = await h.app.inject({
      method: 'DELETE',
      url: `/v1/prices/${b.id}`,
      headers: { ...tenant.headers, 'content-type': 'application/json' },
      payload: '',
    });
    assert.equal(empty.statusCode, 200, empty.body);
    const malformed = await h.app.inject({
      method: 'DELETE',
      url: `/v1/prices/${b.id}`,
      headers: { ...tenant.headers, 'content-type': 'application/json' },
      payload: '{"end_date": ',
    });
    assertEnvelope(malformed, 400, 'validation_error');
    // elsewhere an empty JSON body is still refused
    const post = await h.app.inject({
      method: 'POST',
      url: '/v1/plans',
      headers: { ...tenant.headers, 'content-type': 'application/json' },
      payload: '',
    });
    assertEnvelope(post, 400, 'validation_error');
  });

  it('answers 401 without a key and 404 across environments', async () => {
    assertEnvelope(await h.request(null, 'POST', '/v1/prices', {}), 401);
    assertEnvelope(await h.request(null, 'GET', '/v1/prices/units'), 401);
    assertEnvelope(await h.request(null, 'DELETE', '/v1/prices/price_x'), 401);
    assertEnvelope(await h.request(null, 'DELETE', '/v1/creditgrants/cg_x'), 401);
    const owner = await setup();
    const stranger = await h.newTenant();
    const price = await ok(owner.tenant, 'POST', '/v1/prices', { ...owner.fixed, lookup_key: 'secret' });
    assertEnvelope(await h.request(stranger, 'GET', `/v1/prices/${price.id}`), 404);
    assertEnvelope(await h.request(stranger, 'GET', '/v1/prices/lookup/secret'), 404);
    assertEnvelope(await h.request(stranger, 'PUT', `/v1/prices/${price.id}`, { display_name: 'x' }), 404);
    assertEnvelope(await h.request(stranger, 'DELETE', `/v1/prices/${price.id}`, {}), 404);
    // another environment's plan cannot carry this environment's price
    assertEnvelope(await h.request(stranger, 'POST', '/v1/prices', owner.fixed), 404);
  });
});

describe('price units', () => {
  it('creates, reads by id and code, lists, searches, updates and deletes', async () => {
    const tenant = await h.newTenant();
    const unit = await ok(tenant, 'POST', '/v1/prices/units', {
      name: 'Tokens',
      code: 'tok',
      symbol: 'T',
      base_currency: 'USD',
      conversion_rate: 0.5,
      metadata: { a: 'b' },
    });
    assert.equal(unit.conversion_rate, '0.5');
    assert.equal(unit.base_currency, 'usd');
    assert.deepEqual(await ok(tenant, 'GET', `/v1/prices/units/${unit.id}`), unit);
    assert.equal((await ok(tenant, 'GET', '/v1/prices/units/code/TOK')).id, unit.id);
    assert.equal((await ok(tenant, 'GET', '/v1/prices/units?limit=50&offset=0')).pagination.total, 1);
    assert.equal((await ok(tenant, 'POST', '/v1/prices/units/search', { price_unit_ids: [unit.id] })).items.length, 1);
    const updated = await ok(tenant, 'PUT', `/v1/prices/units/${unit.id}`, { name: 'Tokens 2' });
    assert.equal(updated.name, 'Tokens 2');
    assert.equal(updated.code, 'tok');
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/prices/units', {
        name: 'x',
        code: 'tok',
        symbol: 'x',
        base_currency: 'usd',
        conversion_rate: '1',
      }),
      409,
    );
    assert.deepEqual(await ok(tenant, 'DELETE', `/v1/prices/units/${unit.id}`), {
      message: 'price unit deleted successfully',
    });
    assertEnvelope(await h.request(tenant, 'GET', `/v1/prices/units/${unit.id}`), 404);
  });

  const invalid: Array<[string, Record<string, unknown>]> = [
    ['a zero rate', { conversion_rate: '0' }],
    ['a 4-letter code', { code: 'toks' }],
    ['a 2-letter base currency', { base_currency: 'us' }],
    ['a missing symbol', { symbol: undefined }],
  ];
  for (const [what, body] of invalid) {
    it(`rejects ${what} with 400`, async () => {
      const tenant = await h.newTenant();
      const base = { name: 'x', code: 'abc', symbol: 'x', base_currency: 'usd', conversion_rate: '1' };
      assertEnvelope(await h.request(tenant, 'POST', '/v1/prices/units', { ...base, ...body }), 400);
    });
  }

  it('keeps units per environment', async () => {
    const owner = await h.newTenant();
    const stranger = await h.newTenant();
    const unit = await ok(owner, 'POST', '/v1/prices/units', {
      name: 'x',
      code: 'abc',
      symbol: 'x',
      base_currency: 'usd',
      conversion_rate: '1',
    });
    assertEnvelope(await h.request(stranger, 'GET', `/v1/prices/units/${unit.id}`), 404);
    assertEnvelope(await h.request(stranger, 'GET', '/v1/prices/units/code/abc'), 404);
    await ok(stranger, 'POST', '/v1/prices/units', {
      name: 'x',
      code: 'abc',
      symbol: 'x',
      base_currency: 'usd',
      conversion_rate: '1',
    });
  });
});
