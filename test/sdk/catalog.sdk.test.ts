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

function isStatus(status: number) {
  return (error: unknown) => error instanceof FlexPriceError && (error as FlexPriceError).statusCode === status;
}

describe('official SDK: catalog', () => {
  it('features: create with an inline meter, query with meters expanded, update, delete', async () => {
    const sdk = sdkFor(await h.newTenant());
    const feature = await sdk.features.createFeature({
      name: 'API calls',
      type: 'metered',
      unitSingular: 'call',
      unitPlural: 'calls',
      meter: {
        name: 'API calls',
        eventName: 'api_call',
        aggregation: { type: 'SUM', field: 'tokens' },
        resetUsage: 'BILLING_PERIOD',
        filters: [{ key: 'model', values: ['a'] }],
      },
    });
    assert.match(feature.id ?? '', /^feat_/);
    assert.equal(feature.lookupKey, 'api_calls');
    const found = await sdk.features.queryFeature({ featureIds: [feature.id!], expand: 'meters' });
    assert.equal(found.items?.[0]?.meter?.aggregation?.field, 'tokens');
    assert.equal(found.pagination?.total, 1);
    const updated = await sdk.features.updateFeature(feature.id!, {
      name: 'API calls v2',
      filters: [{ key: 'model', values: ['b'] }],
    });
    assert.equal(updated.name, 'API calls v2');
    assert.deepEqual(updated.meter?.filters?.[0]?.values, ['a', 'b']);
    await sdk.features.deleteFeature(feature.id!);
    assert.equal((await sdk.features.queryFeature({ featureIds: [feature.id!] })).pagination?.total, 0);
    await assert.rejects(sdk.features.createFeature({ name: 'x', type: 'metered' }), isStatus(400));
  });

  it('plans and prices: create, bulk, lookup, query, update, clone, delete', async () => {
    const sdk = sdkFor(await h.newTenant());
    const meterFeature = await sdk.features.createFeature({
      name: 'Tokens',
      type: 'metered',
      meter: {
        name: 'Tokens',
        eventName: 'llm',
        aggregation: { type: 'SUM', field: 'tokens' },
        resetUsage: 'BILLING_PERIOD',
      },
    });
    const plan = await sdk.plans.createPlan({ name: 'Pro', lookupKey: 'pro', metadata: { a: 'b' } });
    const common = {
      entityType: 'PLAN',
      entityId: plan.id!,
      currency: 'usd',
      billingCadence: 'RECURRING',
      billingPeriod: 'MONTHLY',
      priceUnitType: 'FIAT',
    } as const;
    const fixed = await sdk.prices.createPrice({
      ...common,
      type: 'FIXED',
      billingModel: 'FLAT_FEE',
      amount: '29',
      invoiceCadence: 'ADVANCE',
      lookupKey: 'pro_base',
      trialPeriod: 7,
    });
    assert.equal(fixed.amount, '29');
    assert.equal(fixed.trialPeriod, 7);
    const bulk = await sdk.prices.createPricesBulk({
      items: [
        {
          ...common,
          type: 'USAGE',
          meterId: meterFeature.meterId!,
          billingModel: 'TIERED',
          tierMode: 'SLAB',
          tiers: [{ upTo: 1000, unitAmount: '0', flatAmount: '0' }, { unitAmount: '0.002' }],
          invoiceCadence: 'ARREAR',
        },
        {
          ...common,
          type: 'USAGE',
          meterId: meterFeature.meterId!,
          billingModel: 'PACKAGE',
          amount: '1',
          transformQuantity: { divideBy: 100, round: 'down' },
          invoiceCadence: 'ARREAR',
        },
      ],
    });
    assert.equal(bulk.items?.length, 2);
    assert.equal(bulk.items?.[0]?.tiers?.[0]?.upTo, 1000);
    assert.equal((await sdk.prices.getPriceByLookupKey('pro_base')).id, fixed.id);
    assert.equal((await sdk.prices.getPrice(fixed.id!)).billingModel, 'FLAT_FEE');
    const byPlan = await sdk.prices.queryPrice({ planIds: [plan.id!] });
    assert.equal(byPlan.pagination?.total, 3);
    const renamed = await sdk.prices.updatePrice(fixed.id!, { displayName: 'Base fee' });
    assert.equal(renamed.displayName, 'Base fee');

    const full = await sdk.plans.getPlan(plan.id!);
    assert.equal(full.prices?.length, 3);
    assert.equal((await sdk.plans.queryPlan({ planIds: [plan.id!] })).items?.[0]?.name, 'Pro');
    const updated = await sdk.plans.updatePlan(plan.id!, { description: 'For teams' });
    assert.equal(updated.description, 'For teams');
    const clone = await sdk.plans.postPlansIdClone(plan.id!, { name: 'Pro copy', lookupKey: 'pro_copy' });
    assert.equal(clone.prices?.length, 3);

    await sdk.prices.deletePrice(fixed.id!, {});
    await assert.rejects(sdk.prices.getPrice(fixed.id!), isStatus(404));
    await sdk.plans.deletePlan(clone.id!);
    await assert.rejects(sdk.plans.getPlan(clone.id!), isStatus(404));
    await assert.rejects(
      sdk.prices.createPrice({
        ...common,
        type: 'USAGE',
        billingModel: 'PACKAGE',
        amount: '1',
        invoiceCadence: 'ARREAR',
        meterId: meterFeature.meterId!,
      }),
      isStatus(400),
    );
  });

  it('price units: create, list, get by id and code, query, update, delete', async () => {
    const sdk = sdkFor(await h.newTenant());
    const unit = await sdk.priceUnits.createPriceUnit({
      name: 'Credits',
      code: 'crd',
      symbol: 'C',
      baseCurrency: 'usd',
      conversionRate: '0.01',
    });
    assert.equal(unit.conversionRate, '0.01');
    assert.equal((await sdk.priceUnits.listPriceUnits()).pagination?.total, 1);
    assert.equal((await sdk.priceUnits.getPriceUnit(unit.id!)).code, 'crd');
    assert.equal((await sdk.priceUnits.getPriceUnitByCode('crd')).id, unit.id);
    assert.equal((await sdk.priceUnits.queryPriceUnit({ priceUnitIds: [unit.id!] })).items?.length, 1);
    assert.equal((await sdk.priceUnits.updatePriceUnit(unit.id!, { name: 'Credits 2' })).name, 'Credits 2');
    await sdk.priceUnits.deletePriceUnit(unit.id!);
    await assert.rejects(sdk.priceUnits.getPriceUnit(unit.id!), isStatus(404));
  });

  it('entitlements: create, bulk, query, get, update, per plan and addon, delete', async () => {
    const sdk = sdkFor(await h.newTenant());
    const plan = await sdk.plans.createPlan({ name: 'Team' });
    const addon = await sdk.addons.createAddon({ name: 'Boost', lookupKey: 'boost', type: 'onetime' });
    const calls = await sdk.features.createFeature({
      name: 'Calls',
      type: 'metered',
      meter: { name: 'Calls', eventName: 'call', aggregation: { type: 'COUNT' }, resetUsage: 'BILLING_PERIOD' },
    });
    const sso = await sdk.features.createFeature({ name: 'SSO', type: 'boolean' });
    const seats = await sdk.features.createFeature({ name: 'Seats', type: 'static' });
    const ent = await sdk.entitlements.createEntitlement({
      planId: plan.id!,
      featureId: calls.id!,
      featureType: 'metered',
      usageLimit: 1000,
      usageResetPeriod: 'MONTHLY',
      isSoftLimit: true,
    });
    assert.equal(ent.usageLimit, 1000);
    assert.equal(ent.isEnabled, true);
    const bulk = await sdk.entitlements.createEntitlementsBulk({
      items: [
        { planId: plan.id!, featureId: sso.id!, featureType: 'boolean', isEnabled: true },
        { entityType: 'ADDON', entityId: addon.id!, featureId: seats.id!, featureType: 'static', staticValue: '3' },
      ],
    });
    assert.equal(bulk.items?.length, 2);
    assert.equal((await sdk.entitlements.queryEntitlement({ planIds: [plan.id!] })).pagination?.total, 2);
    assert.equal((await sdk.entitlements.getEntitlement(ent.id!)).featureId, calls.id);
    assert.equal((await sdk.entitlements.updateEntitlement(ent.id!, { usageLimit: 5 })).usageLimit, 5);
    // typed as a Plan by the SDK (sdk-notes quirk 7): the call must succeed even though `items` is not visible
    await sdk.entitlements.getPlanEntitlements(plan.id!);
    const addonEntitlements = await sdk.entitlements.getAddonEntitlements(addon.id!);
    assert.equal(addonEntitlements.items?.[0]?.staticValue, '3');
    await sdk.entitlements.deleteEntitlement(ent.id!);
    await assert.rejects(sdk.entitlements.getEntitlement(ent.id!), isStatus(404));
    await assert.rejects(
      sdk.entitlements.createEntitlement({ planId: plan.id!, featureId: seats.id!, featureType: 'static' }),
      isStatus(400),
    );
  });

  it('addons: create, get, lookup, query, update, delete', async () => {
    const sdk = sdkFor(await h.newTenant());
    const addon = await sdk.addons.createAddon({ name: 'Storage', lookupKey: 'storage', type: 'multiple_instance' });
    assert.equal((await sdk.addons.getAddon(addon.id!)).name, 'Storage');
    assert.equal((await sdk.addons.getAddonByLookupKey('storage')).id, addon.id);
    assert.equal((await sdk.addons.queryAddon({ lookupKeys: ['storage'] })).pagination?.total, 1);
    assert.equal((await sdk.addons.updateAddon(addon.id!, { description: 'More GB' })).description, 'More GB');
    await sdk.addons.deleteAddon(addon.id!);
    await assert.rejects(sdk.addons.getAddon(addon.id!), isStatus(404));
  });

  it('credit grants: create, get, per plan, update, delete', async () => {
    const sdk = sdkFor(await h.newTenant());
    const plan = await sdk.plans.createPlan({ name: 'Starter' });
    const grant = await sdk.creditGrants.createCreditGrant({
      name: 'Monthly credits',
      scope: 'PLAN',
      planId: plan.id!,
      credits: '500',
      cadence: 'RECURRING',
      period: 'MONTHLY',
      periodCount: 1,
      expirationType: 'BILLING_CYCLE',
      priority: 2,
    });
    assert.equal(grant.credits, '500');
    assert.equal((await sdk.creditGrants.getCreditGrant(grant.id!)).priority, 2);
    assert.equal((await sdk.creditGrants.getPlanCreditGrants(plan.id!)).items?.length, 1);
    assert.equal((await sdk.creditGrants.updateCreditGrant(grant.id!, { name: 'Renamed' })).name, 'Renamed');
    await sdk.creditGrants.deleteCreditGrant(grant.id!);
    await assert.rejects(sdk.creditGrants.getCreditGrant(grant.id!), isStatus(404));
    await assert.rejects(
      sdk.creditGrants.createCreditGrant({
        name: 'x',
        scope: 'PLAN',
        credits: '1',
        cadence: 'RECURRING',
        planId: plan.id!,
      }),
      isStatus(400),
    );
  });
});
