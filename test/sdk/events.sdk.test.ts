import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Harness } from '../support/harness.ts';
import { FlexPriceError, type SdkServer, startSdkServer } from '../support/sdk.ts';

let h: Harness;
let sdkFor: SdkServer['sdkFor'];
before(async () => {
  ({ h, sdkFor } = await startSdkServer());
});
after(async () => {
  await h.close();
});

describe('official SDK: events', () => {
  it('ingests one event and a bulk, deduplicating by event id', async () => {
    const sdk = sdkFor(await h.newTenant());
    const accepted = await sdk.events.ingestEvent({
      eventId: 'sdk-1',
      eventName: 'api_call',
      externalCustomerId: 'sdk-customer',
      timestamp: '2026-03-01T10:00:00Z',
      properties: { tokens: '12' },
    });
    assert.equal(accepted['event_id'], 'sdk-1');
    const bulk = await sdk.events.ingestEventsBulk({
      events: [
        {
          eventId: 'sdk-1',
          eventName: 'api_call',
          externalCustomerId: 'sdk-customer',
          timestamp: '2026-03-01T10:00:00Z',
          properties: { tokens: '12' },
        },
        {
          eventId: 'sdk-2',
          eventName: 'api_call',
          externalCustomerId: 'sdk-customer',
          timestamp: '2026-03-01T11:00:00Z',
          properties: { tokens: '8.5' },
        },
      ],
    });
    assert.equal(bulk['message'], 'Events accepted for processing');
    const usage = await sdk.events.getUsageStatistics({
      eventName: 'api_call',
      aggregationType: 'SUM',
      propertyName: 'tokens',
      externalCustomerId: 'sdk-customer',
      startTime: '2026-03-01T00:00:00Z',
      endTime: '2026-03-02T00:00:00Z',
      windowSize: 'HOUR',
    });
    assert.equal(usage.value, 20.5);
    assert.deepEqual(
      usage.results?.map((r) => [r.windowSize, r.value]),
      [
        ['2026-03-01T10:00:00.000Z', 12],
        ['2026-03-01T11:00:00.000Z', 8.5],
      ],
    );
  });

  it('lists raw events and gets one by id', async () => {
    const sdk = sdkFor(await h.newTenant());
    await sdk.events.ingestEvent({
      eventId: 'raw-1',
      eventName: 'storage',
      externalCustomerId: 'c',
      timestamp: '2026-03-05T00:00:00Z',
      source: 'sdk-test',
      properties: { gb: '3' },
    });
    const raw = await sdk.events.listRawEvents({
      externalCustomerId: 'c',
      startTime: '2026-03-01T00:00:00Z',
      endTime: '2026-04-01T00:00:00Z',
    });
    assert.equal(raw.totalCount, 1);
    assert.equal(raw.events?.[0]?.id, 'raw-1');
    assert.equal(raw.events?.[0]?.source, 'sdk-test');
    const one = await sdk.events.getEvent('raw-1');
    assert.equal(one.event?.eventName, 'storage');
    await assert.rejects(sdk.events.getEvent('missing'), (error: unknown) => {
      assert.ok(error instanceof FlexPriceError);
      assert.equal((error as FlexPriceError).statusCode, 404);
      return true;
    });
  });

  it('surfaces a 400 for a malformed usage request', async () => {
    const sdk = sdkFor(await h.newTenant());
    await assert.rejects(
      sdk.events.getUsageStatistics({ eventName: 'x', aggregationType: 'SUM' }),
      (error: unknown) => error instanceof FlexPriceError && (error as FlexPriceError).statusCode === 400,
    );
  });

  it('reads usage by meter and usage analytics (per feature, window points, group-by, costs as strings)', async () => {
    const sdk = sdkFor(await h.newTenant());
    const feature = await sdk.features.createFeature({
      name: 'Tokens',
      type: 'metered',
      meter: {
        name: 'Tokens',
        eventName: 'llm',
        aggregation: { type: 'SUM', field: 'tokens' },
        resetUsage: 'BILLING_PERIOD',
      },
    });
    await sdk.customers.createCustomer({ externalId: 'an-1', name: 'Analytics' });
    await sdk.events.ingestEventsBulk({
      events: [
        {
          eventName: 'llm',
          externalCustomerId: 'an-1',
          timestamp: '2026-03-01T10:00:00Z',
          source: 'web',
          properties: { tokens: '12' },
        },
        {
          eventName: 'llm',
          externalCustomerId: 'an-1',
          timestamp: '2026-03-02T10:00:00Z',
          source: 'api',
          properties: { tokens: '8.25' },
        },
      ],
    });
    const byMeter = await sdk.events.getUsageByMeter({
      meterId: feature.meterId!,
      externalCustomerId: 'an-1',
      startTime: '2026-03-01T00:00:00Z',
      endTime: '2026-03-03T00:00:00Z',
    });
    assert.equal(byMeter.value, 20.25);
    const analytics = await sdk.events.getUsageAnalytics({
      externalCustomerId: 'an-1',
      featureIds: [feature.id!],
      startTime: '2026-03-01T00:00:00Z',
      endTime: '2026-03-03T00:00:00Z',
      windowSize: 'DAY',
      groupBy: ['source'],
    });
    assert.equal(analytics.totalCost, '0');
    assert.deepEqual(
      analytics.items?.map((i) => [i.featureId, i.source, i.totalUsage, i.eventCount, i.points?.map((p) => p.usage)]),
      [
        [feature.id, 'api', '8.25', 1, ['8.25']],
        [feature.id, 'web', '12', 1, ['12']],
      ],
    );
    assert.equal(analytics.items?.[0]?.points?.[0]?.timestamp, '2026-03-02T00:00:00.000Z');
    await assert.rejects(
      sdk.events.getUsageAnalytics({ externalCustomerId: 'an-1', groupBy: ['nonsense'] }),
      (error: unknown) => error instanceof FlexPriceError && (error as FlexPriceError).statusCode === 400,
    );
  });

  it('reads the customer usage summary against entitlement limits', async () => {
    const sdk = sdkFor(await h.newTenant());
    const feature = await sdk.features.createFeature({
      name: 'Calls',
      type: 'metered',
      meter: { name: 'Calls', eventName: 'call', aggregation: { type: 'COUNT' }, resetUsage: 'BILLING_PERIOD' },
    });
    const flag = await sdk.features.createFeature({ name: 'SSO', type: 'boolean' });
    const plan = await sdk.plans.createPlan({ name: 'Pro' });
    await sdk.prices.createPrice({
      entityId: plan.id!,
      entityType: 'PLAN',
      type: 'FIXED',
      billingModel: 'FLAT_FEE',
      billingCadence: 'RECURRING',
      billingPeriod: 'MONTHLY',
      invoiceCadence: 'ADVANCE',
      priceUnitType: 'FIAT',
      currency: 'usd',
      amount: '10',
    });
    await sdk.entitlements.createEntitlement({
      planId: plan.id!,
      featureId: feature.id!,
      featureType: 'metered',
      usageLimit: 2,
      usageResetPeriod: 'MONTHLY',
    });
    await sdk.entitlements.createEntitlement({
      planId: plan.id!,
      featureId: flag.id!,
      featureType: 'boolean',
      isEnabled: true,
    });
    const customer = await sdk.customers.createCustomer({ externalId: 'us-1', name: 'Usage' });
    await sdk.subscriptions.createSubscription({
      planId: plan.id!,
      customerId: customer.id!,
      currency: 'usd',
      billingCadence: 'RECURRING',
      billingPeriod: 'MONTHLY',
    });
    for (const eventId of ['u1', 'u2', 'u3']) {
      await sdk.events.ingestEvent({ eventId, eventName: 'call', externalCustomerId: 'us-1' });
    }
    const summary = await sdk.customers.getCustomerUsageSummary({
      customerLookupKey: 'us-1',
      featureIds: [feature.id!, flag.id!],
    });
    assert.equal(summary.customerId, customer.id);
    assert.equal(summary.period?.period, 'monthly');
    const calls = summary.features?.find((f) => f.feature?.id === feature.id);
    assert.equal(calls?.currentUsage, '3');
    assert.equal(calls?.totalLimit, 2);
    assert.equal(calls?.usagePercent, '150');
    assert.equal(calls?.isUnlimited, false);
    assert.ok(calls?.nextUsageResetAt);
    const sso = summary.features?.find((f) => f.feature?.id === flag.id);
    assert.equal(sso?.isEnabled, true);
    assert.equal(sso?.currentUsage, '0');
    await assert.rejects(
      sdk.customers.getCustomerUsageSummary({}),
      (error: unknown) => error instanceof FlexPriceError && (error as FlexPriceError).statusCode === 400,
    );
  });
});
