import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

const clock = new TestClock('2026-03-10T00:00:00Z');
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

const meter = { name: 'Calls', event_name: 'call', aggregation: { type: 'COUNT' }, reset_usage: 'BILLING_PERIOD' };

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

/** Two plans granting overlapping features, a customer subscribed to both. */
async function setup() {
  const tenant = await h.newTenant();
  const calls = await ok(tenant, 'POST', '/v1/features', { name: 'Calls', type: 'metered', meter });
  const sso = await ok(tenant, 'POST', '/v1/features', { name: 'SSO', type: 'boolean' });
  const seats = await ok(tenant, 'POST', '/v1/features', { name: 'Seats', type: 'static' });
  const limits = await ok(tenant, 'POST', '/v1/features', { name: 'Limits', type: 'config' });
  const basic = await planWithPrice(tenant, 'Basic');
  const extra = await planWithPrice(tenant, 'Extra');
  const ent = (planId: string, feature: { id: string; type: string }, body: Record<string, unknown>) =>
    ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: planId,
      feature_id: feature.id,
      feature_type: feature.type,
      ...body,
    });
  const basicCalls = await ent(basic.id, calls, { usage_limit: 1000, usage_reset_period: 'MONTHLY' });
  await ent(basic.id, sso, { is_enabled: false });
  await ent(basic.id, seats, { static_value: '5' });
  await ent(basic.id, limits, { config_value: { region: 'eu' } });
  const extraCalls = await ent(extra.id, calls, {
    usage_limit: 500,
    usage_reset_period: 'MONTHLY',
    is_soft_limit: true,
  });
  await ent(extra.id, sso, { is_enabled: true });
  await ent(extra.id, seats, { static_value: '5' });
  const customer = await ok(tenant, 'POST', '/v1/customers', { external_id: 'c-1', name: 'Acme' });
  const subscribe = (planId: string) =>
    ok(tenant, 'POST', '/v1/subscriptions', {
      plan_id: planId,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
    });
  const subBasic = await subscribe(basic.id);
  const subExtra = await subscribe(extra.id);
  return { tenant, calls, sso, seats, limits, basic, extra, basicCalls, extraCalls, customer, subBasic, subExtra };
}

type Aggregated = {
  feature: { id: string };
  entitlement: Record<string, unknown>;
  sources: Array<Record<string, unknown>>;
};
const byFeature = (features: Aggregated[], id: string) => features.find((f) => f.feature.id === id);

describe('GET /v1/customers/{id}/entitlements', () => {
  it('sums limits, ORs soft limits, de-duplicates static values and keeps sources', async () => {
    const s = await setup();
    const result = await ok(s.tenant, 'GET', `/v1/customers/${s.customer.id}/entitlements`);
    assert.equal(result.customer_id, s.customer.id);
    assert.deepEqual(
      result.subscriptions.map((x: { id: string }) => x.id).sort(),
      [s.subBasic.id, s.subExtra.id].sort(),
    );
    const calls = byFeature(result.features, s.calls.id)!;
    assert.equal(calls.entitlement.usage_limit, 1500);
    assert.equal(calls.entitlement.is_soft_limit, true);
    assert.equal(calls.entitlement.usage_reset_period, 'MONTHLY');
    assert.equal(calls.entitlement.aggregation_mode, 'additive');
    assert.deepEqual(
      calls.sources.map((x) => [x.subscription_id, x.entity_type, x.entity_name, x.usage_limit, x.quantity]).sort(),
      [
        [s.subBasic.id, 'plan', 'Basic', 1000, 1],
        [s.subExtra.id, 'plan', 'Extra', 500, 1],
      ].sort(),
    );
    const sso = byFeature(result.features, s.sso.id)!;
    assert.equal(sso.entitlement.is_enabled, true);
    assert.deepEqual(
      sso.sources.map((x) => x.subscription_id),
      [s.subExtra.id],
    ); // the disabled one is ignored
    assert.deepEqual(byFeature(result.features, s.seats.id)!.entitlement.static_values, ['5']);
    assert.deepEqual(byFeature(result.features, s.limits.id)!.entitlement.config_values, [{ region: 'eu' }]);
    // the external-id route answers the same
    assert.deepEqual(await ok(s.tenant, 'GET', `/v1/customers/external/c-1/entitlements`), result);
  });

  it('a null limit anywhere is unlimited; a subscription entitlement replaces its parent', async () => {
    const s = await setup();
    await ok(s.tenant, 'POST', '/v1/entitlements', {
      entity_type: 'SUBSCRIPTION',
      entity_id: s.subExtra.id,
      feature_id: s.calls.id,
      feature_type: 'metered',
      parent_entitlement_id: s.extraCalls.id,
      usage_limit: null,
    });
    const result = await ok(s.tenant, 'GET', `/v1/customers/${s.customer.id}/entitlements`);
    const calls = byFeature(result.features, s.calls.id)!;
    assert.equal(calls.entitlement.usage_limit, null);
    assert.equal(calls.entitlement.is_soft_limit, false); // the soft plan entitlement was replaced
    assert.deepEqual(
      calls.sources.map((x) => [x.entity_type, x.usage_limit]).sort(),
      [
        ['plan', 1000],
        ['subscription', null],
      ].sort(),
    );
    const sub = await ok(s.tenant, 'GET', `/v1/subscriptions/${s.subExtra.id}/entitlements?feature_ids=${s.calls.id}`);
    assert.equal(sub.subscription_id, s.subExtra.id);
    assert.equal(sub.plan_id, s.extra.id);
    assert.equal(sub.features.length, 1);
    assert.equal(sub.features[0].entitlement.usage_limit, null);
  });

  it('counts only active and trialing subscriptions', async () => {
    const s = await setup();
    await ok(s.tenant, 'POST', `/v1/subscriptions/${s.subExtra.id}/cancel`, { cancellation_type: 'immediate' });
    const result = await ok(s.tenant, 'GET', `/v1/customers/${s.customer.id}/entitlements`);
    assert.deepEqual(
      result.subscriptions.map((x: { id: string }) => x.id),
      [s.subBasic.id],
    );
    assert.equal(byFeature(result.features, s.calls.id)!.entitlement.usage_limit, 1000);
    assert.equal(byFeature(result.features, s.sso.id), undefined);
  });

  it('answers 404 for unknown customers and subscriptions and across environments', async () => {
    const s = await setup();
    const stranger = await h.newTenant();
    assertEnvelope(await h.request(stranger, 'GET', `/v1/customers/${s.customer.id}/entitlements`), 404);
    assertEnvelope(await h.request(stranger, 'GET', `/v1/customers/external/c-1/entitlements`), 404);
    assertEnvelope(await h.request(stranger, 'GET', `/v1/subscriptions/${s.subBasic.id}/entitlements`), 404);
    assertEnvelope(await h.request(s.tenant, 'GET', '/v1/subscriptions/subs_missing/entitlements'), 404);
    const lonely = await ok(s.tenant, 'POST', '/v1/customers', { external_id: 'c-2', name: 'Solo' });
    const empty = await ok(s.tenant, 'GET', `/v1/customers/${lonely.id}/entitlements`);
    assert.deepEqual(empty, { customer_id: lonely.id, subscriptions: [], features: [] });
  });
});
