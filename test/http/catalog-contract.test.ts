import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { EntitlementEvent } from '../../src/modules/catalog/entitlements.service.ts';
import type { FeatureEvent } from '../../src/modules/catalog/features.service.ts';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

// The reference's component schemas (wire contract), extracted into a fixture with their $refs.
const fixture = JSON.parse(
  fs.readFileSync(new URL('../fixtures/flexprice-catalog-schemas.json', import.meta.url), 'utf8'),
) as { components: { schemas: Record<string, unknown> } };
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'flexprice', components: fixture.components });

/** Go clients and the SDK treat null as absent; the reference schemas do not mark nullables, so nulls are dropped. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => [k, withoutNulls(v)]),
    );
  }
  return value;
}

function assertFits(schema: string, value: unknown): void {
  const validate = ajv.getSchema(`flexprice#/components/schemas/${schema}`);
  assert.ok(validate, `no reference schema ${schema}`);
  if (!validate(withoutNulls(value))) {
    assert.fail(`${schema}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value, null, 1).slice(0, 2000)}`);
  }
}

let h: Harness;
const entitlementEvents: EntitlementEvent[] = [];
const featureEvents: FeatureEvent[] = [];
before(async () => {
  h = await startHarness();
  h.services.catalog.entitlements.onEvent(async (_tx, _scope, event) => {
    entitlementEvents.push(event);
  });
  h.services.catalog.features.onEvent(async (_tx, _scope, event) => {
    featureEvents.push(event);
  });
});
after(async () => {
  await h.close();
});

async function call(tenant: TestTenant, method: 'POST' | 'PUT' | 'GET', url: string, body?: unknown) {
  const response = await h.request(tenant, method, url, body);
  assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
  return response.json();
}

// Every catalog operation of the reference API (method, path under /v1) except plan→subscription price sync,
// which needs subscriptions.
const REFERENCE_OPERATIONS = [
  'POST /addons',
  'GET /addons/lookup/{lookup_key}',
  'POST /addons/search',
  'GET /addons/{id}',
  'PUT /addons/{id}',
  'DELETE /addons/{id}',
  'GET /addons/{id}/creditgrants',
  'GET /addons/{id}/entitlements',
  'POST /creditgrants',
  'GET /creditgrants/{id}',
  'PUT /creditgrants/{id}',
  'DELETE /creditgrants/{id}',
  'POST /entitlements',
  'POST /entitlements/bulk',
  'POST /entitlements/search',
  'GET /entitlements/{id}',
  'PUT /entitlements/{id}',
  'DELETE /entitlements/{id}',
  'POST /features',
  'POST /features/search',
  'PUT /features/{id}',
  'DELETE /features/{id}',
  'POST /features/{id}/clone',
  'POST /plans',
  'POST /plans/search',
  'GET /plans/{id}',
  'PUT /plans/{id}',
  'DELETE /plans/{id}',
  'POST /plans/{id}/clone',
  'GET /plans/{id}/creditgrants',
  'GET /plans/{id}/entitlements',
  'POST /prices',
  'POST /prices/bulk',
  'GET /prices/lookup/{lookup_key}',
  'POST /prices/search',
  'GET /prices/units',
  'POST /prices/units',
  'GET /prices/units/code/{code}',
  'POST /prices/units/search',
  'GET /prices/units/{id}',
  'PUT /prices/units/{id}',
  'DELETE /prices/units/{id}',
  'GET /prices/{id}',
  'PUT /prices/{id}',
  'DELETE /prices/{id}',
];

describe('catalog operations of the reference', () => {
  it('are all served and documented in the generated OpenAPI document', async () => {
    const response = await h.app.inject({ method: 'GET', url: '/v1/openapi.json' });
    const doc = response.json() as { paths: Record<string, Record<string, unknown>> };
    const served = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)),
    );
    const missing = REFERENCE_OPERATIONS.filter((op) => {
      const [method, route] = op.split(' ');
      return !served.has(`${method} /v1${route}`);
    });
    assert.deepEqual(missing, []);
  });
});

describe('catalog responses and webhook payloads fit the reference schemas', () => {
  it('the schema check itself refuses a wrong shape', () => {
    assert.throws(() => assertFits('PriceResponse', { amount: 5 }));
    assert.throws(() => assertFits('EntitlementResponse', { usage_limit: 'lots' }));
    assert.throws(() => assertFits('PlanResponse', { prices: {} }));
  });

  it('every catalog response, and the entitlement/feature events with the seed page nesting', async () => {
    const tenant = await h.newTenant();
    const feature = await call(tenant, 'POST', '/v1/features', {
      name: 'Tokens',
      type: 'metered',
      unit_singular: 'token',
      unit_plural: 'tokens',
      reporting_unit: { unit_singular: 'k', unit_plural: 'ks', conversion_rate: '0.001' },
      alert_settings: { alert_enabled: true, warning: { threshold: '100', condition: 'below' } },
      meter: {
        name: 'Tokens',
        event_name: 'llm',
        aggregation: { type: 'SUM_WITH_MULTIPLIER', field: 'tokens', multiplier: '2' },
        filters: [{ key: 'model', values: ['a'] }],
        reset_usage: 'NEVER',
      },
    });
    assertFits('FeatureResponse', feature);
    const flag = await call(tenant, 'POST', '/v1/features', { name: 'SSO', type: 'boolean' });
    const config = await call(tenant, 'POST', '/v1/features', { name: 'Limits', type: 'config' });
    const plan = await call(tenant, 'POST', '/v1/plans', { name: 'Pro', lookup_key: 'pro', display_order: 1 });
    assertFits('PlanResponse', plan);
    const addon = await call(tenant, 'POST', '/v1/addons', { name: 'Boost', lookup_key: 'boost', metadata: { n: 1 } });
    assertFits('AddonResponse', addon);
    await call(tenant, 'POST', '/v1/prices/units', {
      name: 'Credits',
      code: 'crd',
      symbol: 'C',
      base_currency: 'usd',
      conversion_rate: '0.01',
    });
    const base = { entity_type: 'PLAN', entity_id: plan.id, currency: 'usd', billing_period: 'MONTHLY' };
    const prices = await call(tenant, 'POST', '/v1/prices/bulk', {
      items: [
        {
          ...base,
          type: 'FIXED',
          billing_model: 'FLAT_FEE',
          amount: '10',
          invoice_cadence: 'ADVANCE',
          price_unit_type: 'FIAT',
          trial_period_days: 3,
          min_quantity: 1,
        },
        {
          ...base,
          type: 'USAGE',
          meter_id: feature.meter_id,
          billing_model: 'PACKAGE',
          amount: '1',
          transform_quantity: { divide_by: 1000, round: 'down' },
          invoice_cadence: 'ARREAR',
          price_unit_type: 'FIAT',
          filter_values: { model: ['a'] },
        },
        {
          ...base,
          type: 'USAGE',
          meter_id: feature.meter_id,
          billing_model: 'TIERED',
          tier_mode: 'SLAB',
          invoice_cadence: 'ARREAR',
          price_unit_type: 'CUSTOM',
          price_unit_config: {
            price_unit: 'crd',
            price_unit_tiers: [{ up_to: 10, unit_amount: '1', flat_amount: '2' }, { unit_amount: '0.5' }],
          },
        },
      ],
    });
    assertFits('CreateBulkPriceResponse', prices);
    await call(tenant, 'POST', '/v1/creditgrants', {
      name: 'Monthly',
      scope: 'PLAN',
      plan_id: plan.id,
      credits: '100',
      cadence: 'RECURRING',
      period: 'MONTHLY',
      period_count: 1,
      expiration_type: 'DURATION',
      expiration_duration: 7,
      expiration_duration_unit: 'DAY',
      priority: 1,
      conversion_rate: '1',
    });
    const entitlements = await call(tenant, 'POST', '/v1/entitlements/bulk', {
      items: [
        {
          plan_id: plan.id,
          feature_id: feature.id,
          feature_type: 'metered',
          usage_limit: 100,
          usage_reset_period: 'MONTHLY',
        },
        { plan_id: plan.id, feature_id: flag.id, feature_type: 'boolean', is_enabled: true },
        {
          entity_type: 'ADDON',
          entity_id: addon.id,
          feature_id: config.id,
          feature_type: 'config',
          config_value: { a: 1 },
        },
      ],
    });
    assertFits('CreateBulkEntitlementResponse', entitlements);

    assertFits('PlanResponse', await call(tenant, 'GET', `/v1/plans/${plan.id}`));
    assertFits('AddonResponse', await call(tenant, 'GET', `/v1/addons/${addon.id}`));
    assertFits(
      'ListPlansResponse',
      await call(tenant, 'POST', '/v1/plans/search', { expand: 'prices,entitlements,credit_grant' }),
    );
    assertFits('ListAddonsResponse', await call(tenant, 'POST', '/v1/addons/search', {}));
    assertFits('ListPricesResponse', await call(tenant, 'POST', '/v1/prices/search', { expand: 'meters' }));
    assertFits('ListFeaturesResponse', await call(tenant, 'POST', '/v1/features/search', { expand: 'meters' }));
    assertFits(
      'ListEntitlementsResponse',
      await call(tenant, 'POST', '/v1/entitlements/search', { expand: 'features' }),
    );
    assertFits('ListEntitlementsResponse', await call(tenant, 'GET', `/v1/plans/${plan.id}/entitlements`));
    assertFits('ListCreditGrantsResponse', await call(tenant, 'GET', `/v1/plans/${plan.id}/creditgrants`));
    assertFits('ListPriceUnitsResponse', await call(tenant, 'GET', '/v1/prices/units'));
    assertFits('MeterResponse', await call(tenant, 'GET', `/v1/meters/${feature.meter_id}`));

    // webhook payloads: the entitlement as the seed page nests it (feature → meter; plan → prices → meter, credit grants)
    const created = entitlementEvents.find(
      (e) => e.entitlement.feature_id === feature.id && e.type === 'entitlement.created',
    );
    assert.ok(created);
    assertFits('EntitlementResponse', created.entitlement);
    assertFits('webhookDto.Entitlement', created.entitlement);
    assert.equal(created.entitlement.feature?.meter?.id, feature.meter_id);
    assert.equal(created.entitlement.plan?.prices?.length, 3);
    assert.ok(created.entitlement.plan?.prices?.some((p) => p.meter?.id === feature.meter_id));
    assert.equal(created.entitlement.plan?.credit_grants?.length, 1);
    const onAddon = entitlementEvents.find((e) => e.entitlement.entity_id === addon.id);
    assertFits('EntitlementResponse', onAddon!.entitlement);
    assert.equal(onAddon!.entitlement.addon?.id, addon.id);
    for (const event of featureEvents) {
      assertFits('FeatureResponse', event.feature);
      assertFits('webhookDto.Feature', event.feature);
    }
  });
});
