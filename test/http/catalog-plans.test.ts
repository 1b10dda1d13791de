import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EntitlementEvent } from '../../src/modules/catalog/entitlements.service.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

let h: Harness;
const seen: Array<{ tenantId: string; event: EntitlementEvent }> = [];
const failFor = new Set<string>();
before(async () => {
  h = await startHarness();
  h.services.catalog.entitlements.onEvent(async (tx, scope, event) => {
    const row = await tx
      .selectFrom('entitlements')
      .select('status')
      .where('id', '=', event.entitlement.id)
      .executeTakeFirst();
    assert.ok(row, 'the listener runs inside the transaction that writes the entitlement');
    if (failFor.has(scope.tenantId)) throw new Error('outbox unavailable');
    seen.push({ tenantId: scope.tenantId, event });
  });
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

/** A tenant with one feature of each type and a plan. */
async function setup() {
  const tenant = await h.newTenant();
  const metered = await ok(tenant, 'POST', '/v1/features', { name: 'Calls', type: 'metered', meter: meterBody });
  const flag = await ok(tenant, 'POST', '/v1/features', { name: 'SSO', type: 'boolean' });
  const seats = await ok(tenant, 'POST', '/v1/features', { name: 'Seats', type: 'static' });
  const config = await ok(tenant, 'POST', '/v1/features', { name: 'Limits', type: 'config' });
  const plan = await ok(tenant, 'POST', '/v1/plans', { name: 'Pro', lookup_key: 'pro', metadata: { tier: 'b' } });
  return { tenant, metered, flag, seats, config, plan };
}

describe('plans', () => {
  it('creates, reads with prices, entitlements and credit grants, updates and lists', async () => {
    const { tenant, plan, metered } = await setup();
    assert.match(plan.id, /^plan_[0-9A-Z]{26}$/);
    assert.equal(plan.lookup_key, 'pro');
    const price = await ok(tenant, 'POST', '/v1/prices', {
      entity_type: 'PLAN',
      entity_id: plan.id,
      type: 'USAGE',
      meter_id: metered.meter_id,
      billing_model: 'FLAT_FEE',
      amount: '0.1',
      currency: 'usd',
      billing_period: 'MONTHLY',
      invoice_cadence: 'ARREAR',
      price_unit_type: 'FIAT',
    });
    const entitlement = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: metered.id,
      feature_type: 'metered',
      usage_limit: 1000,
      usage_reset_period: 'MONTHLY',
    });
    const grant = await ok(tenant, 'POST', '/v1/creditgrants', {
      name: 'Monthly credits',
      scope: 'PLAN',
      plan_id: plan.id,
      credits: '100',
      cadence: 'RECURRING',
      period: 'MONTHLY',
      period_count: 1,
    });
    // a price or entitlement carries its plan, without the plan's children
    for (const child of [price, entitlement, await ok(tenant, 'GET', `/v1/entitlements/${entitlement.id}`)]) {
      assert.equal(child.plan.id, plan.id);
      assert.equal(child.plan.name, plan.name);
      assert.equal(child.plan.prices, undefined);
      assert.equal(child.plan.entitlements, undefined);
      assert.equal(child.plan.credit_grants, undefined);
      assert.equal(child.addon, undefined);
    }
    assert.equal((await ok(tenant, 'POST', '/v1/prices/search', { price_ids: [price.id] })).items[0].plan.id, plan.id);
    const full = await ok(tenant, 'GET', `/v1/plans/${plan.id}`);
    assert.deepEqual(
      full.prices.map((p: { id: string }) => p.id),
      [price.id],
    );
    assert.equal(full.prices[0].meter.id, metered.meter_id);
    // nested in the plan's own response, its children do not repeat it
    assert.equal(full.prices[0].plan, undefined);
    assert.equal(full.entitlements[0].plan, undefined);
    assert.deepEqual(
      full.entitlements.map((e: { id: string }) => e.id),
      [entitlement.id],
    );
    assert.equal(full.entitlements[0].feature.id, metered.id);
    assert.deepEqual(
      full.credit_grants.map((g: { id: string }) => g.id),
      [grant.id],
    );
    const plain = await ok(tenant, 'POST', '/v1/plans/search', { plan_ids: [plan.id] });
    assert.equal(plain.items[0].prices, undefined);
    const expanded = await ok(tenant, 'POST', '/v1/plans/search', {
      plan_ids: [plan.id],
      expand: 'prices,entitlements,credit_grant',
    });
    assert.equal(expanded.items[0].prices.length, 1);
    assert.equal(expanded.items[0].entitlements.length, 1);
    assert.equal(expanded.items[0].credit_grants.length, 1);
    assert.equal((await ok(tenant, 'POST', '/v1/plans/search', { metadata: { tier: 'b' } })).pagination.total, 1);
    assert.equal((await ok(tenant, 'GET', '/v1/plans?lookup_key=pro')).pagination.total, 1);
    const updated = await ok(tenant, 'PUT', `/v1/plans/${plan.id}`, { name: 'Pro 2', display_order: 3 });
    assert.equal(updated.name, 'Pro 2');
    assert.equal(updated.display_order, 3);
    assert.equal(updated.lookup_key, 'pro');
    assertEnvelope(await h.request(tenant, 'POST', '/v1/plans/search', { expand: 'customers' }), 400);
  });

  it('rejects a plan without a name (400) and a taken lookup key (409)', async () => {
    const { tenant } = await setup();
    assertEnvelope(await h.request(tenant, 'POST', '/v1/plans', { name: ' ' }), 400);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/plans', {}), 400);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/plans', { name: 'Other', lookup_key: 'pro' }), 409);
    const second = await ok(tenant, 'POST', '/v1/plans', { name: 'Other', lookup_key: 'other' });
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/plans/${second.id}`, { lookup_key: 'pro' }), 409);
    // plans without a lookup key do not collide
    await ok(tenant, 'POST', '/v1/plans', { name: 'A' });
    await ok(tenant, 'POST', '/v1/plans', { name: 'B' });
  });

  it('clones a plan with copies of its prices, entitlements and credit grants', async () => {
    const { tenant, plan, flag } = await setup();
    await ok(tenant, 'POST', '/v1/prices', {
      entity_type: 'PLAN',
      entity_id: plan.id,
      type: 'FIXED',
      billing_model: 'FLAT_FEE',
      amount: '10',
      currency: 'usd',
      billing_period: 'MONTHLY',
      invoice_cadence: 'ADVANCE',
      price_unit_type: 'FIAT',
      lookup_key: 'pro_fixed',
    });
    await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: flag.id,
      feature_type: 'boolean',
      is_enabled: true,
    });
    await ok(tenant, 'POST', '/v1/creditgrants', {
      name: 'Welcome',
      scope: 'PLAN',
      plan_id: plan.id,
      credits: 5,
      cadence: 'ONETIME',
    });
    assertEnvelope(await h.request(tenant, 'POST', `/v1/plans/${plan.id}/clone`, { name: 'Copy' }), 400);
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/plans/${plan.id}/clone`, { name: 'Copy', lookup_key: 'pro' }),
      409,
    );
    const response = await h.request(tenant, 'POST', `/v1/plans/${plan.id}/clone`, {
      name: 'Pro copy',
      lookup_key: 'pro_copy',
    });
    assert.equal(response.statusCode, 201, response.body);
    const clone = response.json();
    assert.notEqual(clone.id, plan.id);
    assert.equal(clone.prices.length, 1);
    assert.equal(clone.prices[0].entity_id, clone.id);
    assert.equal(clone.prices[0].amount, '10');
    assert.equal(clone.prices[0].lookup_key, '');
    assert.equal(clone.entitlements.length, 1);
    assert.equal(clone.entitlements[0].is_enabled, true);
    assert.equal(clone.credit_grants.length, 1);
    assert.equal(clone.credit_grants[0].plan_id, clone.id);
    assert.equal((await ok(tenant, 'GET', `/v1/plans/${plan.id}`)).prices.length, 1);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/plans/plan_nope/clone', { name: 'a', lookup_key: 'b' }), 404);
  });

  it('deletes a plan with its children, emitting entitlement.deleted, and honours deletion guards', async () => {
    const { tenant, plan, flag } = await setup();
    const entitlement = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: flag.id,
      feature_type: 'boolean',
    });
    const grant = await ok(tenant, 'POST', '/v1/creditgrants', {
      name: 'g',
      scope: 'PLAN',
      plan_id: plan.id,
      credits: '1',
      cadence: 'ONETIME',
    });
    const blocked = await ok(tenant, 'POST', '/v1/plans', { name: 'Blocked', metadata: { blocked: 'yes' } });
    h.services.catalog.plans.addDeletionGuard(async (tx, _scope, id) => {
      const row = await tx.selectFrom('plans').select('metadata').where('id', '=', id).executeTakeFirstOrThrow();
      return row.metadata.blocked === 'yes' ? 'plan has active subscriptions' : null;
    });
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/plans/${blocked.id}`), 400, 'invalid_operation');
    assert.deepEqual(await ok(tenant, 'DELETE', `/v1/plans/${plan.id}`), { message: 'plan deleted successfully' });
    assertEnvelope(await h.request(tenant, 'GET', `/v1/plans/${plan.id}`), 404);
    assertEnvelope(await h.request(tenant, 'GET', `/v1/entitlements/${entitlement.id}`), 404);
    assertEnvelope(await h.request(tenant, 'GET', `/v1/creditgrants/${grant.id}`), 404);
    const deleted = seen.find(
      (s) => s.event.type === 'entitlement.deleted' && s.event.entitlement.id === entitlement.id,
    );
    assert.equal(deleted?.event.entitlement.status, 'archived');
    // the lookup key is free again
    await ok(tenant, 'POST', '/v1/plans', { name: 'Pro again', lookup_key: 'pro' });
  });

  it('answers 401 without a key and 404 across environments', async () => {
    assertEnvelope(await h.request(null, 'POST', '/v1/plans', { name: 'x' }), 401);
    const { plan } = await setup();
    const stranger = await h.newTenant();
    assertEnvelope(await h.request(stranger, 'GET', `/v1/plans/${plan.id}`), 404);
    assertEnvelope(await h.request(stranger, 'PUT', `/v1/plans/${plan.id}`, { name: 'x' }), 404);
    assertEnvelope(await h.request(stranger, 'DELETE', `/v1/plans/${plan.id}`), 404);
    assertEnvelope(await h.request(stranger, 'GET', `/v1/plans/${plan.id}/entitlements`), 404);
    assertEnvelope(await h.request(stranger, 'GET', `/v1/plans/${plan.id}/creditgrants`), 404);
    assert.equal((await ok(stranger, 'POST', '/v1/plans/search', {})).pagination.total, 0);
  });
});

describe('addons', () => {
  it('creates, looks up by key, searches, updates, lists children and deletes', async () => {
    const { tenant, seats } = await setup();
    const response = await h.request(tenant, 'POST', '/v1/addons', {
      name: 'Extra seats',
      lookup_key: 'seats',
      type: 'multiple_instance',
      metadata: { nested: { ok: true } },
    });
    assert.equal(response.statusCode, 201, response.body);
    const addon = response.json();
    assert.match(addon.id, /^addon_/);
    assert.equal(addon.type, 'multiple_instance');
    assert.deepEqual(addon.metadata, { nested: { ok: true } });
    const entitlement = await ok(tenant, 'POST', '/v1/entitlements', {
      entity_type: 'ADDON',
      entity_id: addon.id,
      feature_id: seats.id,
      feature_type: 'static',
      static_value: '5',
    });
    assert.equal(entitlement.is_enabled, true);
    assert.equal(entitlement.addon.id, addon.id);
    assert.equal(entitlement.addon.type, 'multiple_instance');
    assert.equal(entitlement.plan, undefined);
    const price = await ok(tenant, 'POST', '/v1/prices', {
      entity_type: 'ADDON',
      entity_id: addon.id,
      type: 'FIXED',
      billing_model: 'FLAT_FEE',
      amount: '5',
      currency: 'usd',
      billing_period: 'MONTHLY',
      billing_cadence: 'RECURRING',
      invoice_cadence: 'ADVANCE',
      price_unit_type: 'FIAT',
    });
    assert.equal(price.addon.id, addon.id);
    assert.equal(price.addon.prices, undefined);
    assert.equal(price.plan, undefined);
    await ok(tenant, 'POST', '/v1/creditgrants', {
      name: 'g',
      scope: 'ADDON',
      addon_id: addon.id,
      credits: '3',
      cadence: 'ONETIME',
    });
    const byKey = await ok(tenant, 'GET', '/v1/addons/lookup/seats');
    assert.equal(byKey.id, addon.id);
    assert.equal(byKey.entitlements.length, 1);
    assert.equal(byKey.credit_grants.length, 1);
    assert.equal((await ok(tenant, 'GET', `/v1/addons/${addon.id}/entitlements`)).items[0].id, entitlement.id);
    assert.equal((await ok(tenant, 'GET', `/v1/addons/${addon.id}/creditgrants`)).items.length, 1);
    assert.equal((await ok(tenant, 'POST', '/v1/addons/search', { lookup_keys: ['seats'] })).pagination.total, 1);
    assert.equal((await ok(tenant, 'POST', '/v1/addons/search', { addon_ids: ['addon_x'] })).pagination.total, 0);
    assert.equal((await ok(tenant, 'PUT', `/v1/addons/${addon.id}`, { name: 'Seats+' })).name, 'Seats+');
    assertEnvelope(await h.request(tenant, 'POST', '/v1/addons', { name: 'dup', lookup_key: 'seats' }), 409);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/addons', { name: 'no key' }), 400);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/addons', { name: 'bad', lookup_key: 'b', type: 'weekly' }),
      400,
    );
    assert.deepEqual(await ok(tenant, 'DELETE', `/v1/addons/${addon.id}`), { message: 'addon deleted successfully' });
    assertEnvelope(await h.request(tenant, 'GET', '/v1/addons/lookup/seats'), 404);
    const stranger = await h.newTenant();
    assertEnvelope(await h.request(stranger, 'GET', `/v1/addons/${addon.id}`), 404);
    assertEnvelope(await h.request(null, 'GET', `/v1/addons/${addon.id}`), 401);
  });
});

describe('entitlements', () => {
  it('creates one per feature type with the reference defaults and emits the seed-shaped event', async () => {
    const { tenant, plan, metered, flag, seats, config } = await setup();
    const meteredEnt = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: metered.id,
      feature_type: 'metered',
      is_enabled: false,
      is_soft_limit: true,
    });
    assert.match(meteredEnt.id, /^ent_/);
    assert.equal(meteredEnt.is_enabled, true, 'forced on for metered');
    assert.equal(meteredEnt.usage_limit, null, 'null = unlimited');
    assert.equal(meteredEnt.entity_type, 'PLAN');
    assert.equal(meteredEnt.plan_id, plan.id);
    assert.equal(meteredEnt.feature.meter.id, metered.meter_id);
    const flagEnt = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: flag.id,
      feature_type: 'boolean',
    });
    assert.equal(flagEnt.is_enabled, false);
    const seatsEnt = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: seats.id,
      feature_type: 'static',
      static_value: 'ten',
    });
    assert.equal(seatsEnt.static_value, 'ten');
    const configEnt = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: config.id,
      feature_type: 'config',
      config_value: { region: 'eu', max: 3 },
    });
    assert.deepEqual(configEnt.config_value, { region: 'eu', max: 3 });

    const created = seen.find(
      (s) => s.event.type === 'entitlement.created' && s.event.entitlement.id === meteredEnt.id,
    );
    const payload = created!.event.entitlement;
    assert.equal(payload.feature?.meter?.id, metered.meter_id);
    assert.equal(payload.plan?.id, plan.id);
    assert.deepEqual(payload.plan?.prices, []);
    assert.deepEqual(payload.plan?.credit_grants, []);
  });

  const invalid: Array<[string, (s: Awaited<ReturnType<typeof setup>>) => Record<string, unknown>]> = [
    [
      'a feature_type that differs from the feature',
      (s) => ({ plan_id: s.plan.id, feature_id: s.flag.id, feature_type: 'metered' }),
    ],
    [
      'a static feature without static_value',
      (s) => ({ plan_id: s.plan.id, feature_id: s.seats.id, feature_type: 'static' }),
    ],
    [
      'a config feature without config_value',
      (s) => ({ plan_id: s.plan.id, feature_id: s.config.id, feature_type: 'config' }),
    ],
    [
      'a blank config key',
      (s) => ({ plan_id: s.plan.id, feature_id: s.config.id, feature_type: 'config', config_value: { ' ': 1 } }),
    ],
    [
      'usage_limit on a boolean feature',
      (s) => ({ plan_id: s.plan.id, feature_id: s.flag.id, feature_type: 'boolean', usage_limit: 5 }),
    ],
    [
      'static_value on a metered feature',
      (s) => ({ plan_id: s.plan.id, feature_id: s.metered.id, feature_type: 'metered', static_value: 'x' }),
    ],
    [
      'a negative usage_limit',
      (s) => ({ plan_id: s.plan.id, feature_id: s.metered.id, feature_type: 'metered', usage_limit: -1 }),
    ],
    [
      'an unknown reset period',
      (s) => ({ plan_id: s.plan.id, feature_id: s.metered.id, feature_type: 'metered', usage_reset_period: 'HOURLY' }),
    ],
    ['no plan and no entity', (s) => ({ feature_id: s.flag.id, feature_type: 'boolean' })],
    [
      'plan_id with entity_type ADDON',
      (s) => ({
        plan_id: s.plan.id,
        entity_type: 'ADDON',
        entity_id: s.plan.id,
        feature_id: s.flag.id,
        feature_type: 'boolean',
      }),
    ],
    // entity_type SUBSCRIPTION: the subscriptions module now checks existence (404), test/http/subscriptions.test.ts
  ];
  for (const [what, body] of invalid) {
    it(`rejects ${what} with 400 and stores nothing`, async () => {
      const s = await setup();
      assertEnvelope(await h.request(s.tenant, 'POST', '/v1/entitlements', body(s)), 400, 'validation_error');
      assert.equal((await ok(s.tenant, 'GET', '/v1/entitlements')).pagination.total, 0);
    });
  }

  it('rejects a feature on a bucketed MAX meter (400), unknown features and plans (404), duplicates (409)', async () => {
    const { tenant, plan, flag } = await setup();
    const bucketed = await ok(tenant, 'POST', '/v1/features', {
      name: 'Peak GB',
      type: 'metered',
      meter: { ...meterBody, aggregation: { type: 'MAX', field: 'gb', bucket_size: 'HOUR' } },
    });
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/entitlements', {
        plan_id: plan.id,
        feature_id: bucketed.id,
        feature_type: 'metered',
      }),
      400,
    );
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/entitlements', {
        plan_id: plan.id,
        feature_id: 'feat_nope',
        feature_type: 'boolean',
      }),
      404,
    );
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/entitlements', {
        plan_id: 'plan_nope',
        feature_id: flag.id,
        feature_type: 'boolean',
      }),
      404,
    );
    await ok(tenant, 'POST', '/v1/entitlements', { plan_id: plan.id, feature_id: flag.id, feature_type: 'boolean' });
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/entitlements', {
        plan_id: plan.id,
        feature_id: flag.id,
        feature_type: 'boolean',
      }),
      409,
      'already_exists',
    );
    // the same feature on another plan is fine; and deleting the feature is refused while granted
    const other = await ok(tenant, 'POST', '/v1/plans', { name: 'Other' });
    await ok(tenant, 'POST', '/v1/entitlements', { plan_id: other.id, feature_id: flag.id, feature_type: 'boolean' });
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/features/${flag.id}`), 400, 'invalid_operation');
  });

  it('rolls the entitlement back when an event listener fails', async () => {
    const { tenant, plan, flag } = await setup();
    failFor.add(tenant.tenantId);
    const response = await h.request(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: flag.id,
      feature_type: 'boolean',
    });
    failFor.delete(tenant.tenantId);
    assert.equal(response.statusCode, 500);
    assert.equal((await ok(tenant, 'GET', '/v1/entitlements')).pagination.total, 0);
  });

  it('answers 400 for entitlement grant fields instead of dropping them', async () => {
    const { tenant, plan, metered } = await setup();
    const response = await h.request(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: metered.id,
      feature_type: 'metered',
      grant_quota: '100',
      grant_measure: 'quantity',
    });
    assertEnvelope(response, 400, 'validation_error');
    assert.equal((await ok(tenant, 'GET', '/v1/entitlements')).pagination.total, 0);
  });

  it('lets exactly one of many concurrent creates of the same entity and feature succeed', async () => {
    const { tenant, plan, flag } = await setup();
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        h.request(tenant, 'POST', '/v1/entitlements', {
          plan_id: plan.id,
          feature_id: flag.id,
          feature_type: 'boolean',
        }),
      ),
    );
    const statuses = responses.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    for (const response of responses.filter((r) => r.statusCode === 409))
      assertEnvelope(response, 409, 'already_exists');
    assert.equal((await ok(tenant, 'GET', `/v1/plans/${plan.id}/entitlements`)).items.length, 1);
  });

  it('creates in bulk (1..100), all or nothing', async () => {
    const { tenant, plan, flag, metered } = await setup();
    const response = await h.request(tenant, 'POST', '/v1/entitlements/bulk', {
      items: [
        { plan_id: plan.id, feature_id: flag.id, feature_type: 'boolean', is_enabled: true },
        { plan_id: plan.id, feature_id: metered.id, feature_type: 'metered', usage_limit: 10 },
      ],
    });
    assert.equal(response.statusCode, 201, response.body);
    assert.deepEqual(
      response.json().items.map((e: { usage_limit: number | null }) => e.usage_limit),
      [null, 10],
    );
    const other = await ok(tenant, 'POST', '/v1/plans', { name: 'Other' });
    const failed = await h.request(tenant, 'POST', '/v1/entitlements/bulk', {
      items: [
        { plan_id: other.id, feature_id: flag.id, feature_type: 'boolean' },
        { plan_id: other.id, feature_id: flag.id, feature_type: 'boolean' },
      ],
    });
    assert.match(assertEnvelope(failed, 409).message, /^items\[1\]/);
    assert.equal((await ok(tenant, 'GET', `/v1/plans/${other.id}/entitlements`)).items.length, 0);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/entitlements/bulk', { items: [] }), 400);
  });

  it('updates under the per-type rules, sets unlimited with null, and emits entitlement.updated', async () => {
    const { tenant, plan, metered, flag } = await setup();
    const ent = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: metered.id,
      feature_type: 'metered',
      usage_limit: 5,
    });
    const limited = await ok(tenant, 'PUT', `/v1/entitlements/${ent.id}`, {
      usage_limit: 50,
      usage_reset_period: 'DAILY',
    });
    assert.equal(limited.usage_limit, 50);
    assert.equal(limited.usage_reset_period, 'DAILY');
    const unlimited = await ok(tenant, 'PUT', `/v1/entitlements/${ent.id}`, { usage_limit: null });
    assert.equal(unlimited.usage_limit, null);
    assert.ok(
      seen.some(
        (s) =>
          s.event.type === 'entitlement.updated' &&
          s.event.entitlement.id === ent.id &&
          s.event.entitlement.plan?.id === plan.id,
      ),
    );
    const flagEnt = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: flag.id,
      feature_type: 'boolean',
    });
    assert.equal((await ok(tenant, 'PUT', `/v1/entitlements/${flagEnt.id}`, { is_enabled: true })).is_enabled, true);
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/entitlements/${flagEnt.id}`, { usage_limit: 3 }), 400);
  });

  it('searches and lists per plan, reads one, and deletes with the reference message', async () => {
    const { tenant, plan, flag, metered } = await setup();
    const a = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: flag.id,
      feature_type: 'boolean',
    });
    const b = await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: metered.id,
      feature_type: 'metered',
    });
    assert.equal((await ok(tenant, 'POST', '/v1/entitlements/search', { feature_ids: [flag.id] })).items[0].id, a.id);
    assert.equal((await ok(tenant, 'POST', '/v1/entitlements/search', { plan_ids: [plan.id] })).pagination.total, 2);
    assert.equal((await ok(tenant, 'POST', '/v1/entitlements/search', { feature_type: 'metered' })).items[0].id, b.id);
    const expanded = await ok(tenant, 'POST', '/v1/entitlements/search', {
      feature_ids: [metered.id],
      expand: 'features',
    });
    assert.equal(expanded.items[0].feature.id, metered.id);
    assert.equal(
      (await ok(tenant, 'GET', `/v1/entitlements?plan_ids=${plan.id}&feature_type=boolean`)).items[0].id,
      a.id,
    );
    assert.equal((await ok(tenant, 'GET', `/v1/plans/${plan.id}/entitlements`)).items.length, 2);
    assert.equal((await ok(tenant, 'GET', `/v1/entitlements/${a.id}`)).feature.id, flag.id);
    assert.deepEqual(await ok(tenant, 'DELETE', `/v1/entitlements/${a.id}`), {
      message: 'entitlement deleted successfully',
    });
    assertEnvelope(await h.request(tenant, 'GET', `/v1/entitlements/${a.id}`), 404);
    // the entity+feature pair is free again
    await ok(tenant, 'POST', '/v1/entitlements', { plan_id: plan.id, feature_id: flag.id, feature_type: 'boolean' });
  });

  it('answers 401 without a key and 404 across environments', async () => {
    assertEnvelope(await h.request(null, 'POST', '/v1/entitlements', {}), 401);
    const s = await setup();
    const ent = await ok(s.tenant, 'POST', '/v1/entitlements', {
      plan_id: s.plan.id,
      feature_id: s.flag.id,
      feature_type: 'boolean',
    });
    const stranger = await h.newTenant();
    assertEnvelope(await h.request(stranger, 'GET', `/v1/entitlements/${ent.id}`), 404);
    assertEnvelope(await h.request(stranger, 'PUT', `/v1/entitlements/${ent.id}`, { is_enabled: true }), 404);
    assertEnvelope(await h.request(stranger, 'DELETE', `/v1/entitlements/${ent.id}`), 404);
    // a stranger cannot attach its own feature to another environment's plan
    const own = await ok(stranger, 'POST', '/v1/features', { name: 'f', type: 'boolean' });
    assertEnvelope(
      await h.request(stranger, 'POST', '/v1/entitlements', {
        plan_id: s.plan.id,
        feature_id: own.id,
        feature_type: 'boolean',
      }),
      404,
    );
  });
});

describe('credit grants', () => {
  it('creates plan grants with cadence, expiration, priority and rates; reads, lists, updates, deletes', async () => {
    const { tenant, plan } = await setup();
    const response = await h.request(tenant, 'POST', '/v1/creditgrants', {
      name: 'Monthly',
      scope: 'PLAN',
      plan_id: plan.id,
      credits: 250.5,
      cadence: 'RECURRING',
      period: 'MONTHLY',
      period_count: 1,
      expiration_type: 'DURATION',
      expiration_duration: 30,
      expiration_duration_unit: 'DAY',
      priority: 1,
      conversion_rate: '0.5',
      topup_conversion_rate: '1',
      metadata: { source: 'plan' },
    });
    assert.equal(response.statusCode, 201, response.body);
    const grant = response.json();
    assert.match(grant.id, /^cg_/);
    assert.equal(grant.credits, '250.5');
    assert.equal(grant.plan_id, plan.id);
    assert.equal(grant.expiration_duration, 30);
    assert.equal(grant.conversion_rate, '0.5');
    assert.deepEqual(await ok(tenant, 'GET', `/v1/creditgrants/${grant.id}`), grant);
    assert.equal((await ok(tenant, 'GET', `/v1/plans/${plan.id}/creditgrants`)).items[0].id, grant.id);
    assert.equal((await ok(tenant, 'GET', `/v1/creditgrants?plan_ids=${plan.id}`)).pagination.total, 1);
    const renamed = await ok(tenant, 'PUT', `/v1/creditgrants/${grant.id}`, { name: 'Monthly 2' });
    assert.equal(renamed.name, 'Monthly 2');
    assert.equal(renamed.credits, '250.5');
    const onetime = await ok(tenant, 'POST', '/v1/creditgrants', {
      name: 'Welcome',
      scope: 'PLAN',
      plan_id: plan.id,
      credits: '10',
      cadence: 'ONETIME',
    });
    assert.equal(onetime.expiration_type, 'NEVER');
    assert.deepEqual(await ok(tenant, 'DELETE', `/v1/creditgrants/${onetime.id}`, {}), {
      message: 'credit grant deleted successfully',
    });
    assertEnvelope(await h.request(tenant, 'GET', `/v1/creditgrants/${onetime.id}`), 404);
  });

  const invalid: Array<[string, (planId: string) => Record<string, unknown>]> = [
    ['zero credits', (p) => ({ plan_id: p, credits: '0' })],
    ['recurring without period', (p) => ({ plan_id: p, cadence: 'RECURRING' })],
    [
      'recurring with period_count 0',
      (p) => ({ plan_id: p, cadence: 'RECURRING', period: 'MONTHLY', period_count: 0 }),
    ],
    ['a period on a one-time grant', (p) => ({ plan_id: p, period: 'MONTHLY' })],
    ['DURATION without duration', (p) => ({ plan_id: p, expiration_type: 'DURATION' })],
    ['DURATION without unit', (p) => ({ plan_id: p, expiration_type: 'DURATION', expiration_duration: 3 })],
    ['a duration with NEVER', (p) => ({ plan_id: p, expiration_duration: 3, expiration_duration_unit: 'DAY' })],
    ['PLAN scope without plan_id', () => ({})],
    ['PLAN scope with an addon_id', (p) => ({ plan_id: p, addon_id: 'addon_x' })],
    ['dates on a PLAN grant', (p) => ({ plan_id: p, start_date: '2026-01-01T00:00:00Z' })],
    ['a zero conversion rate', (p) => ({ plan_id: p, conversion_rate: '0' })],
    ['a negative priority', (p) => ({ plan_id: p, priority: -1 })],
    // SUBSCRIPTION scope: the subscriptions module now checks existence (404), test/http/subscriptions.test.ts
  ];
  for (const [what, body] of invalid) {
    it(`rejects ${what} with 400`, async () => {
      const { tenant, plan } = await setup();
      const request = { name: 'g', scope: 'PLAN', credits: '1', cadence: 'ONETIME', ...body(plan.id) };
      assertEnvelope(await h.request(tenant, 'POST', '/v1/creditgrants', request), 400, 'validation_error');
      assert.equal((await ok(tenant, 'GET', '/v1/creditgrants')).pagination.total, 0);
    });
  }

  it('hangs grants on a subscription once that module registers its entity check', async () => {
    const { tenant } = await setup();
    h.services.catalog.registerEntityCheck('SUBSCRIPTION', async (_executor, _scope, id) => id === 'subs_known');
    const grant = await ok(tenant, 'POST', '/v1/creditgrants', {
      name: 'Sub',
      scope: 'SUBSCRIPTION',
      subscription_id: 'subs_known',
      start_date: '2026-01-01T00:00:00Z',
      credits: '1',
      cadence: 'ONETIME',
    });
    assert.equal(grant.credit_grant_anchor, '2026-01-01T00:00:00.000Z');
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/creditgrants', {
        name: 'Sub',
        scope: 'SUBSCRIPTION',
        subscription_id: 'subs_unknown',
        start_date: '2026-01-01T00:00:00Z',
        credits: '1',
        cadence: 'ONETIME',
      }),
      404,
    );
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/creditgrants', {
        name: 'Sub',
        scope: 'SUBSCRIPTION',
        subscription_id: 'subs_known',
        credits: '1',
        cadence: 'ONETIME',
      }),
      400,
    );
  });

  it('answers 401 without a key, 404 for unknown plans and across environments', async () => {
    assertEnvelope(await h.request(null, 'GET', '/v1/creditgrants/cg_x'), 401);
    const { tenant, plan } = await setup();
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/creditgrants', {
        name: 'g',
        scope: 'PLAN',
        plan_id: 'plan_nope',
        credits: '1',
        cadence: 'ONETIME',
      }),
      404,
    );
    const grant = await ok(tenant, 'POST', '/v1/creditgrants', {
      name: 'g',
      scope: 'PLAN',
      plan_id: plan.id,
      credits: '1',
      cadence: 'ONETIME',
    });
    const stranger = await h.newTenant();
    assertEnvelope(await h.request(stranger, 'GET', `/v1/creditgrants/${grant.id}`), 404);
    assertEnvelope(await h.request(stranger, 'PUT', `/v1/creditgrants/${grant.id}`, { name: 'x' }), 404);
    assertEnvelope(await h.request(stranger, 'DELETE', `/v1/creditgrants/${grant.id}`, {}), 404);
    assertEnvelope(
      await h.request(stranger, 'POST', '/v1/creditgrants', {
        name: 'g',
        scope: 'PLAN',
        plan_id: plan.id,
        credits: '1',
        cadence: 'ONETIME',
      }),
      404,
    );
  });
});
