import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';
import { assertMatchesSchema, referenceWebhooks } from '../support/reference-schemas.ts';

/**
 * feature.* and entitlement.* reach the outbox in the catalog change's transaction, rendered with the documented
 * payloads. This file reads the stored messages and runs no delivery worker (delivery is tested, for every event
 * type alike, in delivery.test.ts's process).
 */
/**
 * As for wallets, the documentation pages embed the full API entity (the entitlement.created page shows the
 * EntitlementResponse with its feature, meter, plan, prices and credit grants), while the OpenAPI file's webhook DTOs
 * list a subset; payloads are checked against the full response schemas, undocumented keys still rejected.
 */
const CATALOG_OVERRIDES = { feature: 'FeatureResponse', entitlement: 'EntitlementResponse' };

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

async function call(tenant: TestTenant, method: 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) {
  const response = await h.request(tenant, method, url, body);
  assert.ok(response.statusCode < 300, `${method} ${url}: ${response.statusCode} ${response.body}`);
  return response.body ? response.json() : undefined;
}

async function storedPayloads(tenant: TestTenant) {
  const rows = await h.database.db
    .selectFrom('webhook_messages')
    .select(['event_type', 'payload'])
    .where('tenant_id', '=', tenant.tenantId)
    .where('environment_id', '=', tenant.environmentId)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ type: r.event_type, payload: JSON.parse(r.payload) as Record<string, unknown> }));
}

describe('catalog webhook events', () => {
  it('enqueues feature.* and entitlement.* with the reference payloads, in order', async () => {
    const tenant = await h.newTenant();
    await call(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' });
    const feature = await call(tenant, 'POST', '/v1/features', {
      name: 'Tokens',
      type: 'metered',
      meter: { name: 'Tokens', event_name: 'llm', aggregation: { type: 'SUM', field: 'tokens' } },
    });
    await call(tenant, 'PUT', `/v1/features/${feature.id}`, { name: 'LLM tokens' });
    const plan = await call(tenant, 'POST', '/v1/plans', { name: 'Pro', lookup_key: 'pro' });
    const entitlement = await call(tenant, 'POST', '/v1/entitlements', {
      plan_id: plan.id,
      feature_id: feature.id,
      feature_type: 'metered',
      usage_limit: 1000,
      usage_reset_period: 'MONTHLY',
    });
    await call(tenant, 'PUT', `/v1/entitlements/${entitlement.id}`, { usage_limit: 2000 });
    await call(tenant, 'DELETE', `/v1/entitlements/${entitlement.id}`);
    await call(tenant, 'DELETE', `/v1/features/${feature.id}`);

    const stored = await storedPayloads(tenant);
    assert.deepEqual(
      stored.map((m) => m.type),
      [
        'feature.created',
        'feature.updated',
        'entitlement.created',
        'entitlement.updated',
        'entitlement.deleted',
        'feature.deleted',
      ],
    );
    for (const { type, payload } of stored) {
      assert.equal(payload.event_type, type);
      assertMatchesSchema(payload, referenceWebhooks.events[type]!, CATALOG_OVERRIDES);
    }
    const updated = stored[1]!.payload.feature as { name: string };
    assert.equal(updated.name, 'LLM tokens', 'rendered when the change committed');
    const created = stored[2]!.payload.entitlement as { feature_id: string; usage_limit: unknown };
    assert.equal(created.feature_id, feature.id);
  });

  it('enqueues nothing for a catalog change that fails', async () => {
    const tenant = await h.newTenant();
    await call(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' });
    const bad = await h.request(tenant, 'POST', '/v1/features', { name: 'Tokens', type: 'metered' });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(await storedPayloads(tenant), []);
  });
});
