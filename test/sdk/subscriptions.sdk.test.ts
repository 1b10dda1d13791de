import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Flexprice } from '@flexprice/sdk';
import { FlexPriceError } from '@flexprice/sdk/sdk/models/flex-price-error.js';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';

// sdk-notes quirk 2: the SDK can leave an unobserved rejected promise behind; the awaiting test reports the error.
process.on('unhandledRejection', () => {});

let h: Harness;
let baseUrl: string;
before(async () => {
  h = await startHarness();
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}/v1`;
});
after(async () => {
  await h.close();
});

function sdkFor(tenant: TestTenant): Flexprice {
  return new Flexprice({ serverURL: baseUrl, apiKeyAuth: tenant.apiKey });
}

function isStatus(status: number) {
  return (error: unknown) => error instanceof FlexPriceError && (error as FlexPriceError).statusCode === status;
}

describe('official SDK: subscriptions', () => {
  it('creates, reads, queries, reads entitlements and cancels a subscription', async () => {
    const sdk = sdkFor(await h.newTenant());
    const customer = await sdk.customers.createCustomer({ externalId: 'sdk-sub', name: 'Acme' });
    const feature = await sdk.features.createFeature({
      name: 'Calls',
      type: 'metered',
      meter: { name: 'Calls', eventName: 'call', aggregation: { type: 'COUNT' }, resetUsage: 'BILLING_PERIOD' },
    });
    const plan = await sdk.plans.createPlan({ name: 'Pro' });
    await sdk.prices.createPrice({
      entityType: 'PLAN',
      entityId: plan.id!,
      type: 'FIXED',
      billingModel: 'FLAT_FEE',
      billingCadence: 'RECURRING',
      billingPeriod: 'MONTHLY',
      invoiceCadence: 'ADVANCE',
      priceUnitType: 'FIAT',
      currency: 'usd',
      amount: '20',
    });
    await sdk.entitlements.createEntitlement({
      planId: plan.id!,
      featureId: feature.id!,
      featureType: 'metered',
      usageLimit: 100,
      usageResetPeriod: 'MONTHLY',
    });

    const sub = await sdk.subscriptions.createSubscription({
      planId: plan.id!,
      customerId: customer.id!,
      currency: 'usd',
      billingCadence: 'RECURRING',
      billingPeriod: 'MONTHLY',
      billingCycle: 'calendar',
      startDate: '2026-04-15T00:00:00Z',
    });
    assert.match(sub.id ?? '', /^subs_/);
    assert.equal(sub.subscriptionStatus, 'active');
    assert.equal(sub.lineItems?.length, 1);
    assert.equal(new Date(sub.currentPeriodEnd!).toISOString(), '2026-05-01T00:00:00.000Z');

    const read = await sdk.subscriptions.getSubscription(sub.id!);
    assert.equal(read.planId, plan.id);
    const found = await sdk.subscriptions.querySubscription({ customerId: customer.id! });
    assert.equal(found.pagination?.total, 1);

    const entitlements = await sdk.subscriptions.getSubscriptionEntitlements(sub.id!, [feature.id!]);
    assert.equal(entitlements.features?.[0]?.entitlement?.usageLimit, 100);
    const customerEntitlements = await sdk.customers.getCustomerEntitlements(customer.id!);
    assert.equal(customerEntitlements.features?.[0]?.sources?.[0]?.subscriptionId, sub.id);

    const cancelled = await sdk.subscriptions.cancelSubscription(sub.id!, { cancellationType: 'immediate' });
    assert.equal(cancelled.status, 'cancelled');
    await assert.rejects(sdk.subscriptions.getSubscription('subs_missing'), isStatus(404));
    await assert.rejects(
      sdk.subscriptions.createSubscription({
        planId: plan.id!,
        customerId: customer.id!,
        currency: 'usd',
        billingCadence: 'RECURRING',
        billingPeriod: 'ANNUAL',
      }),
      isStatus(400),
    );
  });

  it('creates a subscription with its own credit grants (creditGrants), applied to a prepaid wallet', async () => {
    const sdk = sdkFor(await h.newTenant());
    const customer = await sdk.customers.createCustomer({ externalId: 'sdk-grants', name: 'Acme' });
    const plan = await sdk.plans.createPlan({ name: 'Granted' });
    await sdk.prices.createPrice({
      entityType: 'PLAN',
      entityId: plan.id!,
      type: 'FIXED',
      billingModel: 'FLAT_FEE',
      billingCadence: 'RECURRING',
      billingPeriod: 'MONTHLY',
      invoiceCadence: 'ARREAR',
      priceUnitType: 'FIAT',
      currency: 'usd',
      amount: '20',
    });
    const sub = await sdk.subscriptions.createSubscription({
      planId: plan.id!,
      customerId: customer.id!,
      currency: 'usd',
      billingCadence: 'RECURRING',
      billingPeriod: 'MONTHLY',
      creditGrants: [
        {
          name: 'Welcome',
          scope: 'SUBSCRIPTION',
          credits: '25',
          cadence: 'RECURRING',
          period: 'MONTHLY',
          periodCount: 1,
          expirationType: 'BILLING_CYCLE',
          priority: 1,
        },
      ],
    });
    const wallets = await sdk.wallets.getCustomerWallets({ id: customer.id! });
    assert.equal(wallets.length, 1);
    assert.equal(wallets[0]!.balance, '25');
    await assert.rejects(
      sdk.subscriptions.createSubscription({
        planId: plan.id!,
        customerId: customer.id!,
        currency: 'usd',
        billingCadence: 'RECURRING',
        billingPeriod: 'MONTHLY',
        creditGrants: [{ name: 'Bad', scope: 'SUBSCRIPTION', credits: '0', cadence: 'ONETIME' }],
      }),
      isStatus(400),
    );
    const found = await sdk.subscriptions.querySubscription({ customerId: customer.id! });
    assert.deepEqual(
      found.items?.map((s) => s.id),
      [sub.id],
    );
  });

  it('drives drafts, update, v2, pause/resume, addons, line items and plan change', async () => {
    const sdk = sdkFor(await h.newTenant());
    const customer = await sdk.customers.createCustomer({ externalId: 'sdk-life', name: 'Acme' });
    const priceBody = {
      type: 'FIXED' as const,
      billingModel: 'FLAT_FEE' as const,
      billingCadence: 'RECURRING' as const,
      billingPeriod: 'MONTHLY' as const,
      invoiceCadence: 'ADVANCE' as const,
      priceUnitType: 'FIAT' as const,
      currency: 'usd',
    };
    const pro = await sdk.plans.createPlan({ name: 'Pro' });
    await sdk.prices.createPrice({ ...priceBody, entityType: 'PLAN', entityId: pro.id!, amount: '30' });
    const max = await sdk.plans.createPlan({ name: 'Max' });
    const maxFee = await sdk.prices.createPrice({ ...priceBody, entityType: 'PLAN', entityId: max.id!, amount: '90' });
    const addon = await sdk.addons.createAddon({ name: 'Boost', lookupKey: 'boost', type: 'onetime' });
    await sdk.prices.createPrice({ ...priceBody, entityType: 'ADDON', entityId: addon.id!, amount: '5' });

    const draft = await sdk.subscriptions.createSubscription({
      planId: pro.id!,
      customerId: customer.id!,
      currency: 'usd',
      billingCadence: 'RECURRING',
      billingPeriod: 'MONTHLY',
      subscriptionStatus: 'draft',
    });
    assert.equal(draft.subscriptionStatus, 'draft');
    const active = await sdk.subscriptions.activateSubscription(draft.id!, { startDate: new Date().toISOString() });
    assert.equal(active.subscriptionStatus, 'active');
    const updated = await sdk.subscriptions.updateSubscription(draft.id!, { cancelAtPeriodEnd: true });
    assert.equal(updated.cancelAtPeriodEnd, true);
    const cleared = await sdk.subscriptions.updateSubscription(draft.id!, { cancelAtPeriodEnd: false });
    assert.equal(cleared.cancelAtPeriodEnd, false);
    const v2 = await sdk.subscriptions.getSubscriptionV2(draft.id!, 'subscription_line_items');
    assert.equal(v2.lineItems?.length, 1);

    const pause = await sdk.subscriptions.pauseSubscription(draft.id!, { pauseMode: 'immediate', reason: 'trip' });
    assert.equal(pause.pauseStatus, 'active');
    assert.equal((await sdk.subscriptions.getSubscription(draft.id!)).subscriptionStatus, 'paused');
    const resumed = await sdk.subscriptions.resumeSubscription(draft.id!, { resumeMode: 'immediate' });
    assert.equal(resumed.pauseStatus, 'completed');
    assert.equal((await sdk.subscriptions.listSubscriptionPauses(draft.id!)).length, 1);
    // A scheduled pause with a length resumes by itself (resume_mode auto); resuming before its start cancels it.
    const later = new Date(Date.now() + 20 * 86_400_000).toISOString();
    const scheduledPause = await sdk.subscriptions.pauseSubscription(draft.id!, {
      pauseMode: 'scheduled',
      pauseStart: later,
      pauseDays: 7,
    });
    assert.equal(scheduledPause.pauseStatus, 'scheduled');
    assert.equal(scheduledPause.resumeMode, 'auto');
    assert.equal((await sdk.subscriptions.getSubscription(draft.id!)).pauseStatus, 'scheduled');
    const unscheduled = await sdk.subscriptions.resumeSubscription(draft.id!, { resumeMode: 'immediate' });
    assert.equal(unscheduled.pauseStatus, 'cancelled');

    const association = await sdk.subscriptions.addSubscriptionAddon({
      subscriptionId: draft.id!,
      addonId: addon.id!,
    });
    assert.equal(association.addonStatus, 'active');
    const associations = await sdk.subscriptions.getSubscriptionAddonAssociations(draft.id!);
    assert.equal(associations.length, 1);
    await sdk.subscriptions.removeSubscriptionAddon({ addonAssociationId: association.id! });

    const item = await sdk.subscriptions.createSubscriptionLineItem(draft.id!, { priceId: maxFee.id!, quantity: 1 });
    assert.equal(item.priceId, maxFee.id);
    const edited = await sdk.subscriptions.updateSubscriptionLineItem(item.id!, { metadata: { a: 'b' } });
    assert.deepEqual(edited.metadata, { a: 'b' });
    const ended = await sdk.subscriptions.deleteSubscriptionLineItem(item.id!, {});
    assert.ok(ended.endDate);

    const request = {
      targetPlanId: max.id!,
      prorationBehavior: 'create_prorations' as const,
      billingCadence: 'RECURRING' as const,
      billingCycle: 'anniversary' as const,
      billingPeriod: 'MONTHLY' as const,
    };
    const preview = await sdk.subscriptions.previewSubscriptionChange(draft.id!, request);
    assert.equal(preview.changeType, 'upgrade');
    // At the period end: stored as a schedule (applied by the period job), replaced by the immediate change below.
    const scheduledChange = await sdk.subscriptions.executeSubscriptionChange(draft.id!, {
      ...request,
      changeAt: 'end_of_period',
    });
    assert.equal(scheduledChange.isScheduled, true);
    assert.match(scheduledChange.scheduleId ?? '', /^sched_/);
    assert.equal((await sdk.subscriptions.getSubscription(draft.id!)).planId, scheduledChange.oldSubscription?.planId);
    const executed = await sdk.subscriptions.executeSubscriptionChange(draft.id!, request);
    assert.equal(executed.newSubscription?.planId, max.id);
    await assert.rejects(
      sdk.subscriptions.pauseSubscription('subs_missing', { pauseMode: 'immediate' }),
      isStatus(404),
    );
  });
});
