import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';
import { subscriptionFixtures } from '../support/subscriptions.ts';

/** `override_entitlements` on POST /v1/subscriptions: subscription entitlements replacing plan/addon ones. */
const clock = new TestClock('2026-03-10T00:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});
const { ok, setup, subscribe } = subscriptionFixtures(() => h);

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function entitlementOf(tenant: TestTenant, entityId: string, featureId: string): Promise<Json> {
  const listed = await ok(tenant, 'GET', `/v1/entitlements?entity_ids=${entityId}&feature_ids=${featureId}`);
  assert.equal(listed.items.length, 1);
  return listed.items[0];
}

const features = (body: Json) =>
  Object.fromEntries(
    (body.features as Json[]).map((f) => [
      f.feature.name,
      [f.entitlement.usage_limit ?? null, f.entitlement.is_enabled, f.sources.length],
    ]),
  );

describe('override_entitlements on create', () => {
  it('replaces the plan and addon entitlements for this subscription only', async () => {
    const { tenant, customer, pro, addon, calls, seats } = await setup();
    const planCalls = await entitlementOf(tenant, pro.id, calls.id);
    const addonSeats = await entitlementOf(tenant, addon.id, seats.id);
    const sub = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      addons: [{ addon_id: addon.id }],
      override_entitlements: [
        { entitlement_id: planCalls.id, usage_limit: 50 },
        { entitlement_id: addonSeats.id, is_enabled: false },
      ],
    });
    const own = await ok(tenant, 'GET', `/v1/entitlements?entity_ids=${sub.id}`);
    assert.deepEqual(
      (own.items as Json[])
        .map((e) => [e.entity_type, e.parent_entitlement_id, e.usage_limit ?? null, e.is_enabled])
        .sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
      [
        ['SUBSCRIPTION', planCalls.id, 50, true],
        ['SUBSCRIPTION', addonSeats.id, null, false],
      ].sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
    );
    // Calls: 50 (override of the plan's 1000) + the addon's 500; SSO: the addon's, overridden to disabled.
    const aggregated = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/entitlements`);
    assert.deepEqual(features(aggregated).Calls, [550, true, 2]);
    assert.equal(features(aggregated).SSO, undefined);
    // Another subscription to the same plan keeps the plan's limit.
    const other = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    assert.deepEqual(features(await ok(tenant, 'GET', `/v1/subscriptions/${other.id}/entitlements`)).Calls, [
      1000,
      true,
      1,
    ]);
    // null = unlimited.
    const unlimited = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      override_entitlements: [{ entitlement_id: planCalls.id, usage_limit: null }],
    });
    assert.deepEqual(features(await ok(tenant, 'GET', `/v1/subscriptions/${unlimited.id}/entitlements`)).Calls, [
      null,
      true,
      1,
    ]);
  });

  it('refuses an override that names another entitlement, repeats one, overrides nothing or the wrong field', async () => {
    const { tenant, customer, pro, addon, calls, seats } = await setup();
    const planCalls = await entitlementOf(tenant, pro.id, calls.id);
    const addonCalls = await entitlementOf(tenant, addon.id, calls.id);
    const addonSeats = await entitlementOf(tenant, addon.id, seats.id);
    const cases: Array<[Json[], RegExp]> = [
      [[{ entitlement_id: 'ent_missing', usage_limit: 5 }], /plan or addons/],
      // An addon entitlement when the addon is not attached in this request.
      [[{ entitlement_id: addonCalls.id, usage_limit: 5 }], /plan or addons/],
      [
        [
          { entitlement_id: planCalls.id, usage_limit: 5 },
          { entitlement_id: planCalls.id, usage_limit: 6 },
        ],
        /overridden twice/,
      ],
      [[{ entitlement_id: planCalls.id }], /overrides nothing/],
      [[{ entitlement_id: planCalls.id, is_enabled: false }], /is_enabled can only be overridden for boolean/],
      [[{ entitlement_id: planCalls.id, static_value: 'x' }], /static_value/],
      [[{ entitlement_id: planCalls.id, usage_limit: -1 }], /usage_limit/],
    ];
    for (const [overrides, message] of cases) {
      const response = await h.request(tenant, 'POST', '/v1/subscriptions', {
        plan_id: pro.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
        override_entitlements: overrides,
      });
      assertEnvelope(response, 400, 'validation_error');
      assert.match(response.json().message, message, JSON.stringify(overrides));
    }
    // A boolean override of a metered-only plan's entitlement: usage_limit on a boolean feature.
    const response = await h.request(tenant, 'POST', '/v1/subscriptions', {
      plan_id: pro.id,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
      addons: [{ addon_id: addon.id }],
      override_entitlements: [{ entitlement_id: addonSeats.id, usage_limit: 3 }],
    });
    assertEnvelope(response, 400, 'validation_error');
    // Nothing was created by the refused requests.
    const listed = await ok(tenant, 'POST', '/v1/subscriptions/search', {});
    assert.equal(listed.pagination.total, 0);
    const entitlements = await ok(tenant, 'GET', '/v1/entitlements?entity_type=SUBSCRIPTION');
    assert.equal(entitlements.items.length, 0);
  });
});
