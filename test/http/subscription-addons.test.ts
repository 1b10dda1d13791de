import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness } from '../support/harness.ts';
import { assertMatchesSchema } from '../support/reference-schemas.ts';
import { subscriptionFixtures } from '../support/subscriptions.ts';

const clock = new TestClock('2026-03-10T12:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});
const { ok, price, setup, subscribe, webhookRows } = subscriptionFixtures(() => h);

type LineItem = { id: string; entity_type: string; entity_id: string; price_id: string; end_date?: string };
type Feature = { feature: { id: string }; entitlement: { usage_limit?: number | null; is_enabled: boolean } };

describe('POST /v1/subscriptions/addon', () => {
  it("attaches an addon: its prices become addon line items and its entitlements add to the customer's", async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, addon, addonFee, calls, seats } = await setup();
    await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.test/subs' });
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const association = await ok(tenant, 'POST', '/v1/subscriptions/addon', {
      subscription_id: sub.id,
      addon_id: addon.id,
      cadence: 'recurring',
      metadata: { source: 'upsell' },
    });
    assert.match(association.id, /^addon_assoc_/);
    assert.equal(association.entity_type, 'subscription');
    assert.equal(association.entity_id, sub.id);
    assert.equal(association.addon_id, addon.id);
    assert.equal(association.addon_status, 'active');
    assert.equal(association.start_date, '2026-03-10T12:00:00.000Z');
    assert.deepEqual(association.metadata, { source: 'upsell' });

    const read = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    const addonItems = read.line_items.filter((li: LineItem) => li.entity_type === 'addon');
    assert.equal(addonItems.length, 1);
    assert.equal(addonItems[0].entity_id, addon.id);
    assert.equal(addonItems[0].price_id, addonFee.id);
    assert.equal(addonItems[0].addon_association_id, association.id);
    assert.equal(addonItems[0].plan_display_name, 'Extra calls');
    assert.equal(addonItems[0].display_name, 'Extra calls fee');
    assert.equal(addonItems[0].quantity, '1');

    const entitlements = await ok(tenant, 'GET', `/v1/customers/${customer.id}/entitlements`);
    const byId = new Map<string, Feature & { sources: Array<{ entity_type: string; entity_name: string }> }>(
      entitlements.features.map((f: Feature) => [f.feature.id, f]),
    );
    assert.equal(byId.get(calls.id)!.entitlement.usage_limit, 1500);
    assert.deepEqual(
      byId
        .get(calls.id)!
        .sources.map((s) => [s.entity_type, s.entity_name])
        .sort(),
      [
        ['addon', 'Extra calls'],
        ['plan', 'Pro'],
      ],
    );
    assert.equal(byId.get(seats.id)!.entitlement.is_enabled, true);
    const subEntitlements = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/entitlements`);
    assert.equal(subEntitlements.features.length, 2);

    const associations = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/addons/associations`);
    assert.ok(Array.isArray(associations));
    assert.deepEqual(
      associations.map((a: { id: string }) => a.id),
      [association.id],
    );

    const rows = await webhookRows(tenant);
    assert.deepEqual(
      rows.map((r) => r.type),
      ['subscription.created', 'subscription.updated'],
    );
    assertMatchesSchema(rows[1]!.payload, 'webhookDto.SubscriptionWebhookPayload');
  });

  it('attaches addons on create, several instances of a multiple_instance addon, one of a onetime addon', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, addon, multi, calls } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      addons: [{ addon_id: addon.id }, { addon_id: multi.id }, { addon_id: multi.id }],
    });
    assert.equal(sub.line_items.filter((li: LineItem) => li.entity_type === 'addon').length, 3);
    const associations = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/addons/associations`);
    assert.equal(associations.length, 3);
    const again = await h.request(tenant, 'POST', '/v1/subscriptions/addon', {
      subscription_id: sub.id,
      addon_id: addon.id,
    });
    assertEnvelope(again, 409, 'already_exists');
    await ok(tenant, 'POST', '/v1/subscriptions/addon', { subscription_id: sub.id, addon_id: multi.id });
    const entitlements = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/entitlements`);
    assert.equal(entitlements.features.find((f: Feature) => f.feature.id === calls.id).entitlement.usage_limit, 1500);

    // a failing addon fails the whole create
    const before = (await ok(tenant, 'POST', '/v1/subscriptions/search', {})).pagination.total;
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/subscriptions', {
        plan_id: pro.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
        addons: [{ addon_id: addon.id }, { addon_id: 'addon_missing' }],
      }),
      404,
      'not_found',
    );
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/subscriptions', {
        plan_id: pro.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
        addons: [{ addon_id: addon.id, override_line_items: [{ price_id: 'price_x', amount: '1' }] }],
      }),
      400,
      'validation_error',
    );
    assert.equal((await ok(tenant, 'POST', '/v1/subscriptions/search', {})).pagination.total, before);
  });

  it('refuses bad input, cancelled subscriptions, unpriced addons and foreign ids, writing nothing', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, addon } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const attach = (body: Record<string, unknown>, who = tenant) =>
      h.request(who, 'POST', '/v1/subscriptions/addon', body);
    assertEnvelope(await attach({ subscription_id: sub.id }), 400, 'validation_error');
    assertEnvelope(await attach({ subscription_id: sub.id, addon_id: addon.id, cadence: 'weekly' }), 400);
    assertEnvelope(
      await attach({ subscription_id: sub.id, addon_id: addon.id, proration_behavior: 'create_prorations' }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await attach({ subscription_id: sub.id, addon_id: addon.id, checkout: { success_url: 'https://x' } }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await attach({ subscription_id: sub.id, addon_id: addon.id, start_date: '2026-01-01T00:00:00Z' }),
      400,
      'validation_error',
    );
    assertEnvelope(await attach({ subscription_id: sub.id, addon_id: 'addon_missing' }), 404, 'not_found');
    assertEnvelope(await attach({ subscription_id: 'subs_missing', addon_id: addon.id }), 404, 'not_found');
    const unpriced = await ok(tenant, 'POST', '/v1/addons', { name: 'Nothing', lookup_key: 'nothing' });
    await price(
      tenant,
      { type: 'ADDON', id: unpriced.id },
      { type: 'FIXED', amount: '3', currency: 'eur', invoice_cadence: 'ADVANCE' },
    );
    assertEnvelope(await attach({ subscription_id: sub.id, addon_id: unpriced.id }), 400, 'validation_error');

    const stranger = await h.newTenant();
    assertEnvelope(await attach({ subscription_id: sub.id, addon_id: addon.id }, stranger), 404, 'not_found');
    assertEnvelope(await h.request(stranger, 'GET', `/v1/subscriptions/${sub.id}/addons/associations`), 404);
    assert.deepEqual(await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/addons/associations`), []);
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).line_items.length, 2);

    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' });
    assertEnvelope(await attach({ subscription_id: sub.id, addon_id: addon.id }), 400, 'invalid_operation');
  });
});

describe('DELETE /v1/subscriptions/addon', () => {
  it('ends the association and its line items at the period end by default, or at effective_date', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, addon, multi, calls } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      addons: [{ addon_id: addon.id }, { addon_id: multi.id }],
    });
    const [first, second] = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/addons/associations`);
    const removed = await ok(tenant, 'DELETE', '/v1/subscriptions/addon', {
      addon_association_id: first.id,
      reason: 'downsizing',
    });
    assert.equal(typeof removed.message, 'string');
    const [ended] = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/addons/associations`);
    assert.equal(ended.addon_status, 'cancelled');
    assert.equal(ended.end_date, '2026-04-10T12:00:00.000Z');
    assert.equal(ended.cancelled_at, '2026-03-10T12:00:00.000Z');
    assert.equal(ended.cancellation_reason, 'downsizing');
    const items = (await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).line_items as Array<
      LineItem & { addon_association_id?: string }
    >;
    assert.equal(items.find((li) => li.addon_association_id === first.id)!.end_date, '2026-04-10T12:00:00.000Z');
    // still in effect until the period end
    const during = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/entitlements`);
    assert.equal(during.features.find((f: Feature) => f.feature.id === calls.id).entitlement.usage_limit, 1500);
    clock.set('2026-04-11T00:00:00Z');
    const afterEnd = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/entitlements`);
    assert.equal(afterEnd.features.find((f: Feature) => f.feature.id === calls.id).entitlement.usage_limit, 1000);

    clock.set('2026-03-12T00:00:00Z');
    await ok(tenant, 'DELETE', '/v1/subscriptions/addon', {
      addon_association_id: second.id,
      effective_date: '2026-03-12T00:00:00Z',
    });
    const secondItem = (await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).line_items.find(
      (li: LineItem & { addon_association_id?: string }) => li.addon_association_id === second.id,
    );
    assert.equal(secondItem.end_date, '2026-03-12T00:00:00.000Z');
    // the onetime addon can be attached again once its association is cancelled
    await ok(tenant, 'POST', '/v1/subscriptions/addon', { subscription_id: sub.id, addon_id: addon.id });
  });

  it('refuses unknown, foreign and already cancelled associations and dates out of range', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, addon } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      addons: [{ addon_id: addon.id }],
    });
    const [association] = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/addons/associations`);
    const remove = (body: Record<string, unknown>, who = tenant) =>
      h.request(who, 'DELETE', '/v1/subscriptions/addon', body);
    assertEnvelope(await remove({}), 400, 'validation_error');
    assertEnvelope(await remove({ addon_association_id: 'addon_assoc_missing' }), 404, 'not_found');
    const stranger = await h.newTenant();
    assertEnvelope(await remove({ addon_association_id: association.id }, stranger), 404, 'not_found');
    assertEnvelope(
      await remove({ addon_association_id: association.id, effective_date: '2026-01-01T00:00:00Z' }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await remove({ addon_association_id: association.id, proration_behavior: 'create_prorations' }),
      400,
      'validation_error',
    );
    await ok(tenant, 'DELETE', '/v1/subscriptions/addon', { addon_association_id: association.id });
    assertEnvelope(await remove({ addon_association_id: association.id }), 400, 'invalid_operation');
  });

  it('guards deleting an addon attached to a live subscription', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, addon } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      addons: [{ addon_id: addon.id }],
    });
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/addons/${addon.id}`), 400, 'invalid_operation');
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' });
    const deleted = await h.request(tenant, 'DELETE', `/v1/addons/${addon.id}`);
    assert.ok(deleted.statusCode < 300, deleted.body);
  });
});

describe('subscription line items', () => {
  it('adds a line item for an existing price, edits its metadata, ends it, and searches', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, max, maxFee, proFee } = await setup();
    await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.test/subs' });
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const created = await h.request(tenant, 'POST', `/v1/subscriptions/${sub.id}/lineitems`, {
      price_id: maxFee.id,
      quantity: 2,
      display_name: 'Max seats',
      metadata: { k: 'v' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const item = created.json();
    assert.match(item.id, /^subs_line_/);
    assert.equal(item.entity_type, 'plan');
    assert.equal(item.entity_id, max.id);
    assert.equal(item.plan_display_name, 'Max');
    assert.equal(item.quantity, '2');
    assert.equal(item.display_name, 'Max seats');
    assert.equal(item.start_date, '2026-03-10T12:00:00.000Z');

    // a subscription-scoped price of this subscription
    const own = await ok(tenant, 'POST', '/v1/prices', {
      entity_type: 'SUBSCRIPTION',
      entity_id: sub.id,
      billing_model: 'FLAT_FEE',
      price_unit_type: 'FIAT',
      currency: 'usd',
      billing_period: 'MONTHLY',
      type: 'FIXED',
      amount: '7',
      invoice_cadence: 'ADVANCE',
    });
    const ownItem = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/lineitems`, { price_id: own.id });
    assert.equal(ownItem.entity_type, 'subscription');
    assert.equal(ownItem.quantity, '1');

    const edited = await ok(tenant, 'PUT', `/v1/subscriptions/lineitems/${item.id}`, { metadata: { k: 'w' } });
    assert.deepEqual(edited.metadata, { k: 'w' });
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/subscriptions/lineitems/${item.id}`, { commitment_amount: 5 }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/subscriptions/lineitems/${item.id}`, {
        effective_from: '2026-03-12T00:00:00Z',
      }),
      400,
      'validation_error',
    );

    clock.set('2026-03-15T00:00:00Z');
    const ended = await ok(tenant, 'DELETE', `/v1/subscriptions/lineitems/${item.id}`, {});
    assert.equal(ended.end_date, '2026-03-15T00:00:00.000Z');
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/subscriptions/lineitems/${item.id}`, {}), 400);

    const active = await ok(tenant, 'POST', '/v1/subscriptions/lineitems/search', { subscription_ids: [sub.id] });
    assert.equal(active.pagination.total, 3);
    assert.ok(!active.items.some((li: LineItem) => li.id === item.id));
    const all = await ok(tenant, 'POST', '/v1/subscriptions/lineitems/search', {
      subscription_ids: [sub.id],
      active_filter: false,
    });
    assert.equal(all.pagination.total, 4);
    const byPrice = await ok(tenant, 'POST', '/v1/subscriptions/lineitems/search', {
      price_ids: [proFee.id],
      entity_type: 'plan',
      currencies: ['USD'],
      billing_periods: ['MONTHLY'],
    });
    assert.deepEqual(
      byPrice.items.map((li: LineItem) => li.price_id),
      [proFee.id],
    );
    const sorted = await ok(tenant, 'POST', '/v1/subscriptions/lineitems/search', {
      subscription_ids: [sub.id],
      filters: [{ field: 'price_type', operator: 'eq', data_type: 'string', value: { string: 'USAGE' } }],
      limit: 1,
    });
    assert.equal(sorted.items.length, 1);
    assert.equal(sorted.items[0].price_type, 'USAGE');
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/subscriptions/lineitems/search', { expand: 'price' }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/subscriptions/lineitems/search', {
        current_period_start: '2026-03-01T00:00:00Z',
      }),
      400,
      'validation_error',
    );

    const types = (await webhookRows(tenant)).map((r) => r.type);
    assert.deepEqual(types, [
      'subscription.created',
      'subscription.updated',
      'subscription.updated',
      'subscription.updated',
    ]);
  });

  it('refuses bad input and foreign ids', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, maxFee, proUsage } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const other = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const create = (body: Record<string, unknown>, id = sub.id, who = tenant) =>
      h.request(who, 'POST', `/v1/subscriptions/${id}/lineitems`, body);
    assertEnvelope(await create({}), 400, 'validation_error');
    assertEnvelope(await create({ price_id: 'price_missing' }), 404, 'not_found');
    assertEnvelope(await create({ price_id: maxFee.id }, 'subs_missing'), 404, 'not_found');
    assertEnvelope(await create({ price_id: maxFee.id, quantity: -1 }), 400, 'validation_error');
    assertEnvelope(await create({ price_id: maxFee.id, price: { amount: '1' } }), 400, 'validation_error');
    assertEnvelope(await create({ price_id: maxFee.id, commitment_amount: 10 }), 400, 'validation_error');
    assertEnvelope(await create({ price_id: maxFee.id, start_date: '2026-01-01T00:00:00Z' }), 400);
    const eur = await price(
      tenant,
      { type: 'PLAN', id: pro.id },
      { type: 'FIXED', amount: '1', currency: 'eur', invoice_cadence: 'ADVANCE' },
    );
    assertEnvelope(await create({ price_id: eur.id }), 400, 'validation_error');
    const foreignScoped = await ok(tenant, 'POST', '/v1/prices', {
      entity_type: 'SUBSCRIPTION',
      entity_id: other.id,
      billing_model: 'FLAT_FEE',
      price_unit_type: 'FIAT',
      currency: 'usd',
      billing_period: 'MONTHLY',
      type: 'FIXED',
      amount: '7',
      invoice_cadence: 'ADVANCE',
    });
    assertEnvelope(await create({ price_id: foreignScoped.id }), 400, 'validation_error');

    const stranger = await h.newTenant();
    assertEnvelope(await create({ price_id: maxFee.id }, sub.id, stranger), 404, 'not_found');
    const item = (await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).line_items.find(
      (li: LineItem) => li.price_id === proUsage.id,
    );
    assertEnvelope(
      await h.request(stranger, 'PUT', `/v1/subscriptions/lineitems/${item.id}`, { metadata: {} }),
      404,
      'not_found',
    );
    assertEnvelope(await h.request(stranger, 'DELETE', `/v1/subscriptions/lineitems/${item.id}`, {}), 404);
    const strangerSearch = await ok(stranger, 'POST', '/v1/subscriptions/lineitems/search', {});
    assert.equal(strangerSearch.pagination.total, 0);
    assertEnvelope(
      await h.request(tenant, 'DELETE', `/v1/subscriptions/lineitems/${item.id}`, {
        effective_from: '2026-01-01T00:00:00Z',
      }),
      400,
      'validation_error',
    );
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).line_items.length, 2);

    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' });
    assertEnvelope(await create({ price_id: maxFee.id }), 400, 'invalid_operation');
  });
});

describe('override_line_items on create', () => {
  it('reprices a plan price through a subscription-scoped copy and overrides fixed quantities', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, proFee, proUsage } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      override_line_items: [
        { price_id: proFee.id, quantity: '3' },
        { price_id: proUsage.id, amount: '0.005' },
      ],
    });
    const items = sub.line_items as Array<LineItem & { quantity: string }>;
    assert.equal(items.length, 2);
    const fee = items.find((li) => li.price_id === proFee.id)!;
    assert.equal(fee.quantity, '3');
    const usage = items.find((li) => li.price_id !== proFee.id)!;
    assert.notEqual(usage.price_id, proUsage.id);
    assert.equal(usage.entity_type, 'plan');
    assert.equal(usage.entity_id, pro.id);
    const copy = await ok(tenant, 'GET', `/v1/prices/${usage.price_id}`);
    assert.equal(copy.entity_type, 'SUBSCRIPTION');
    assert.equal(copy.entity_id, sub.id);
    assert.equal(copy.amount, '0.005');
    assert.equal(copy.parent_price_id, proUsage.id);
    assert.equal(copy.meter_id, proUsage.meter_id);
    assert.equal(copy.type, 'USAGE');
    // the plan price is untouched
    assert.equal((await ok(tenant, 'GET', `/v1/prices/${proUsage.id}`)).amount, '0.01');
  });

  it('refuses prices outside the plan, duplicates, usage quantities and custom-unit fields, writing nothing', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, proFee, proUsage, maxFee } = await setup();
    const base = { plan_id: pro.id, customer_id: customer.id, currency: 'usd', billing_period: 'MONTHLY' };
    const create = (override_line_items: unknown) =>
      h.request(tenant, 'POST', '/v1/subscriptions', { ...base, override_line_items });
    assertEnvelope(await create([{ price_id: maxFee.id, amount: '1' }]), 400, 'validation_error');
    assertEnvelope(
      await create([
        { price_id: proFee.id, amount: '1' },
        { price_id: proFee.id, quantity: '2' },
      ]),
      400,
      'validation_error',
    );
    assertEnvelope(await create([{ price_id: proUsage.id, quantity: '2' }]), 400, 'validation_error');
    assertEnvelope(await create([{ price_id: proFee.id, quantity: '-1' }]), 400, 'validation_error');
    assertEnvelope(await create([{ price_id: proFee.id, amount: '-5' }]), 400, 'validation_error');
    assertEnvelope(await create([{ price_id: proFee.id, price_unit_amount: '2' }]), 400, 'validation_error');
    assert.equal((await ok(tenant, 'POST', '/v1/subscriptions/search', {})).pagination.total, 0);
    const subscriptionPrices = await ok(tenant, 'POST', '/v1/prices/search', { entity_type: 'SUBSCRIPTION' });
    assert.equal(subscriptionPrices.pagination.total, 0);
  });
});

describe('PUT /v1/subscriptions/lineitems/{id} with a price override', () => {
  it('ends the line item at effective_from and continues it on a subscription-scoped copy of its price', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, proFee } = await setup();
    await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.test/subs' });
    const sub = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      override_line_items: [{ price_id: proFee.id, quantity: '2' }],
    });
    const fee = sub.line_items.find((li: LineItem) => li.price_id === proFee.id);
    clock.set('2026-03-12T00:00:00Z');
    const next = await ok(tenant, 'PUT', `/v1/subscriptions/lineitems/${fee.id}`, {
      amount: '25',
      effective_from: '2026-03-15T00:00:00Z',
      metadata: { deal: 'q1' },
    });
    assert.notEqual(next.id, fee.id);
    assert.notEqual(next.price_id, proFee.id);
    assert.equal(next.start_date, '2026-03-15T00:00:00.000Z');
    assert.equal(next.quantity, '2');
    assert.equal(next.entity_type, 'plan');
    assert.equal(next.entity_id, pro.id);
    assert.equal(next.display_name, fee.display_name);
    assert.deepEqual(next.metadata, { deal: 'q1' });
    const copy = await ok(tenant, 'GET', `/v1/prices/${next.price_id}`);
    assert.equal(copy.amount, '25');
    assert.equal(copy.entity_type, 'SUBSCRIPTION');
    assert.equal(copy.parent_price_id, proFee.id);
    const read = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(read.line_items.find((li: LineItem) => li.id === fee.id).end_date, '2026-03-15T00:00:00.000Z');
    assert.equal(read.version, 2);
    assert.deepEqual(
      (await webhookRows(tenant)).map((r) => r.type),
      ['subscription.created', 'subscription.updated'],
    );
    // out of range: before the new line item starts, or on an ended one
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/subscriptions/lineitems/${next.id}`, {
        amount: '20',
        effective_from: '2026-03-14T00:00:00Z',
      }),
      400,
      'validation_error',
    );
    clock.set('2026-03-16T00:00:00Z');
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/subscriptions/lineitems/${fee.id}`, { amount: '20' }),
      400,
      'invalid_operation',
    );
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/subscriptions/lineitems/${next.id}`, { amount: '-1' }),
      400,
      'validation_error',
    );
    const stranger = await h.newTenant();
    assertEnvelope(
      await h.request(stranger, 'PUT', `/v1/subscriptions/lineitems/${next.id}`, { amount: '20' }),
      404,
      'not_found',
    );
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).line_items.length, 3);
  });
});
