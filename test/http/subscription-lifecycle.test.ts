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
const { ok, setup, subscribe, webhookRows } = subscriptionFixtures(() => h);

describe('PUT /v1/subscriptions/{id}', () => {
  it('schedules, moves and clears a cancellation, restoring the end date it replaced', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    const sub = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      end_date: '2026-12-31T00:00:00Z',
    });
    const atEnd = await ok(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, { cancel_at_period_end: true });
    assert.equal(atEnd.cancel_at, '2026-04-10T12:00:00.000Z');
    assert.equal(atEnd.cancel_at_period_end, true);
    assert.equal(atEnd.end_date, '2026-04-10T12:00:00.000Z');
    assert.equal(atEnd.subscription_status, 'active');
    assert.equal(atEnd.version, 2);
    for (const item of atEnd.line_items) assert.equal(item.end_date, '2026-04-10T12:00:00.000Z');

    const moved = await ok(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, { cancel_at: '2026-06-01T00:00:00Z' });
    assert.equal(moved.cancel_at, '2026-06-01T00:00:00.000Z');
    assert.equal(moved.cancel_at_period_end, false);
    assert.equal(moved.end_date, '2026-06-01T00:00:00.000Z');
    for (const item of moved.line_items) assert.equal(item.end_date, '2026-06-01T00:00:00.000Z');

    // beyond the original end date: refused
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, { cancel_at: '2027-06-01T00:00:00Z' }),
      400,
      'validation_error',
    );
    const cleared = await ok(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, { cancel_at: null });
    assert.equal(cleared.cancel_at, undefined);
    assert.equal(cleared.cancel_at_period_end, false);
    assert.equal(cleared.end_date, '2026-12-31T00:00:00.000Z');
    for (const item of cleared.line_items) assert.equal(item.end_date, '2026-12-31T00:00:00.000Z');

    // the same status is a no-op; no change at all answers the subscription unchanged
    const same = await ok(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, { status: 'active' });
    assert.equal(same.version, cleared.version);
    // an explicit cancel still works after clearing
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'end_of_period' });
  });

  it('refuses status transitions, parents, past dates and cancelled subscriptions; 404 across tenants', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const put = (body: unknown) => h.request(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, body);
    assertEnvelope(await put({ status: 'paused' }), 400, 'invalid_operation');
    assertEnvelope(await put({ status: 'bogus' }), 400, 'validation_error');
    assertEnvelope(await put({ parent_subscription_id: 'subs_x' }), 400, 'validation_error');
    assertEnvelope(await put({ cancel_at: '2026-01-01T00:00:00Z' }), 400, 'validation_error');
    assertEnvelope(await put({ cancel_at: 'soon' }), 400, 'validation_error');
    assertEnvelope(
      await put({ cancel_at: '2026-05-01T00:00:00Z', cancel_at_period_end: true }),
      400,
      'validation_error',
    );
    const current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.version, 1);
    assert.equal(current.cancel_at, undefined);

    const stranger = await h.newTenant();
    assertEnvelope(
      await h.request(stranger, 'PUT', `/v1/subscriptions/${sub.id}`, { cancel_at_period_end: true }),
      404,
      'not_found',
    );
    assertEnvelope(await h.request(tenant, 'PUT', '/v1/subscriptions/subs_missing', {}), 404, 'not_found');
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' });
    assertEnvelope(await put({ cancel_at_period_end: true }), 400, 'invalid_operation');
  });
});

describe('GET /v1/subscriptions/{id}/v2', () => {
  it('answers the subscription with line items and customer on request', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const plain = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/v2`);
    assert.equal(plain.id, sub.id);
    assert.equal(plain.line_items, undefined);
    assert.equal(plain.customer, undefined);
    assert.equal(plain.pause_status, 'none');
    const expanded = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/v2?expand=subscription_line_items,customer`);
    assert.equal(expanded.line_items.length, 2);
    assert.equal(expanded.customer.id, customer.id);
    assert.equal(expanded.customer.external_id, 'cus-1');
    assertEnvelope(await h.request(tenant, 'GET', `/v1/subscriptions/${sub.id}/v2?expand=plan`), 400);
    const stranger = await h.newTenant();
    assertEnvelope(await h.request(stranger, 'GET', `/v1/subscriptions/${sub.id}/v2`), 404, 'not_found');
  });
});

describe('drafts and POST /v1/subscriptions/{id}/activate', () => {
  it('creates a draft (no entitlements, draft.created) and activates it from a new start date', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, calls, addon } = await setup();
    await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.test/subs' });
    const draft = await subscribe(tenant, {
      plan_id: pro.id,
      customer_id: customer.id,
      subscription_status: 'draft',
      trial_period_days: 7,
      addons: [{ addon_id: addon.id }],
    });
    assert.equal(draft.subscription_status, 'draft');
    assert.equal(draft.line_items.length, 3);
    const before = await ok(tenant, 'GET', `/v1/customers/${customer.id}/entitlements`);
    assert.deepEqual(before.features, []);

    const activated = await ok(tenant, 'POST', `/v1/subscriptions/${draft.id}/activate`, {
      start_date: '2026-03-15T00:00:00Z',
    });
    assert.equal(activated.subscription_status, 'trialing');
    assert.equal(activated.start_date, '2026-03-15T00:00:00.000Z');
    assert.equal(activated.current_period_start, '2026-03-15T00:00:00.000Z');
    assert.equal(activated.current_period_end, '2026-04-15T00:00:00.000Z');
    assert.equal(activated.billing_anchor, '2026-03-15T00:00:00.000Z');
    assert.equal(activated.trial_start, '2026-03-15T00:00:00.000Z');
    assert.equal(activated.trial_end, '2026-03-22T00:00:00.000Z');
    for (const item of activated.line_items) assert.equal(item.start_date, '2026-03-15T00:00:00.000Z');
    const [association] = await ok(tenant, 'GET', `/v1/subscriptions/${draft.id}/addons/associations`);
    assert.equal(association.start_date, '2026-03-15T00:00:00.000Z');
    clock.set('2026-03-16T00:00:00Z');
    const after = await ok(tenant, 'GET', `/v1/customers/${customer.id}/entitlements`);
    assert.equal(after.features[0].feature.id, calls.id);
    assert.equal(after.features[0].entitlement.usage_limit, 1500);

    // only drafts activate
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${draft.id}/activate`, { start_date: '2026-03-15T00:00:00Z' }),
      400,
      'invalid_operation',
    );
    const rows = await webhookRows(tenant);
    assert.deepEqual(
      rows.map((r) => r.type),
      ['subscription.draft.created', 'subscription.activated'],
    );
    for (const row of rows) {
      assertMatchesSchema(row.payload, 'webhookDto.SubscriptionWebhookPayload');
      assert.equal(row.payload.event_type, row.type);
      assert.equal(row.payload.subscription.id, draft.id);
    }
    assert.equal(rows[0]!.payload.subscription.subscription_status, 'draft');
    assert.equal(rows[1]!.payload.subscription.subscription_status, 'trialing');
  });

  it('refuses other create statuses, bad activation input, and unknown or foreign ids', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    const base = { plan_id: pro.id, customer_id: customer.id, currency: 'usd', billing_period: 'MONTHLY' };
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/subscriptions', { ...base, subscription_status: 'paused' }),
      400,
      'validation_error',
    );
    const draft = await subscribe(tenant, { ...base, subscription_status: 'draft', end_date: '2026-04-01T00:00:00Z' });
    const activate = (body: unknown, id = draft.id, who = tenant) =>
      h.request(who, 'POST', `/v1/subscriptions/${id}/activate`, body);
    assertEnvelope(await activate({}), 400, 'validation_error');
    assertEnvelope(await activate({ start_date: 'tomorrow' }), 400, 'validation_error');
    assertEnvelope(await activate({ start_date: '2026-05-01T00:00:00Z' }), 400, 'validation_error');
    assertEnvelope(await activate({ start_date: '2026-03-15T00:00:00Z' }, 'subs_missing'), 404, 'not_found');
    const stranger = await h.newTenant();
    assertEnvelope(await activate({ start_date: '2026-03-15T00:00:00Z' }, draft.id, stranger), 404, 'not_found');
    const still = await ok(tenant, 'GET', `/v1/subscriptions/${draft.id}`);
    assert.equal(still.subscription_status, 'draft');
  });
});

describe('pause and resume', () => {
  it('pauses now and resumes now, with pause records, entitlements off while paused, and webhooks', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.test/subs' });
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });

    const dry = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, {
      pause_mode: 'immediate',
      dry_run: true,
    });
    assert.equal(dry.pause_status, 'active');
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).subscription_status, 'active');
    assert.deepEqual(await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/pauses`), []);

    clock.set('2026-03-12T00:00:00Z');
    const pause = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, {
      pause_mode: 'immediate',
      reason: 'holiday',
      metadata: { by: 'support' },
    });
    assert.match(pause.id, /^pause_/);
    assert.equal(pause.pause_status, 'active');
    assert.equal(pause.pause_start, '2026-03-12T00:00:00.000Z');
    assert.equal(pause.original_period_start, '2026-03-10T12:00:00.000Z');
    assert.equal(pause.original_period_end, '2026-04-10T12:00:00.000Z');
    assert.equal(pause.reason, 'holiday');
    const paused = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(paused.subscription_status, 'paused');
    assert.equal(paused.pause_status, 'active');
    assert.equal(paused.active_pause_id, pause.id);
    assert.deepEqual((await ok(tenant, 'GET', `/v1/customers/${customer.id}/entitlements`)).features, []);
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, { pause_mode: 'immediate' }),
      400,
      'invalid_operation',
    );

    clock.set('2026-03-20T00:00:00Z');
    const resumed = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/resume`, { resume_mode: 'immediate' });
    assert.equal(resumed.id, pause.id);
    assert.equal(resumed.pause_status, 'completed');
    assert.equal(resumed.resume_mode, 'immediate');
    assert.equal(resumed.resumed_at, '2026-03-20T00:00:00.000Z');
    const active = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(active.subscription_status, 'active');
    assert.equal(active.pause_status, 'none');
    assert.equal(active.active_pause_id, undefined);
    assert.equal(active.current_period_end, '2026-04-10T12:00:00.000Z');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${sub.id}/resume`, { resume_mode: 'immediate' }),
      400,
      'invalid_operation',
    );
    const pauses = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/pauses`);
    assert.deepEqual(
      pauses.map((p: { id: string; pause_status: string }) => [p.id, p.pause_status]),
      [[pause.id, 'completed']],
    );

    const rows = await webhookRows(tenant);
    assert.deepEqual(
      rows.map((r) => r.type),
      ['subscription.created', 'subscription.paused', 'subscription.resumed'],
    );
    for (const row of rows) assertMatchesSchema(row.payload, 'webhookDto.SubscriptionWebhookPayload');
    assert.equal(rows[1]!.payload.subscription.pause_status, 'active');
    assert.equal(rows[1]!.payload.subscription.subscription_status, 'paused');
    assert.equal(rows[2]!.payload.subscription.pause_status, 'none');
  });

  it('cancelling a paused subscription cancels its pause', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const pause = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, { pause_mode: 'immediate' });
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' });
    const cancelled = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(cancelled.subscription_status, 'cancelled');
    assert.equal(cancelled.pause_status, 'cancelled');
    const [stored] = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/pauses`);
    assert.equal(stored.id, pause.id);
    assert.equal(stored.pause_status, 'cancelled');
  });

  it('refuses modes needing the period job, non-active subscriptions, and unknown or foreign ids', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const pause = (body: unknown, id = sub.id, who = tenant) =>
      h.request(who, 'POST', `/v1/subscriptions/${id}/pause`, body);
    assertEnvelope(await pause({}), 400, 'validation_error');
    assertEnvelope(await pause({ pause_mode: 'later' }), 400, 'validation_error');
    // scheduled needs a future pause_start; pause_start only with scheduled; pause_end xor pause_days, after the start.
    assertEnvelope(await pause({ pause_mode: 'scheduled' }), 400, 'validation_error');
    assertEnvelope(
      await pause({ pause_mode: 'scheduled', pause_start: '2026-03-01T00:00:00Z' }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await pause({ pause_mode: 'period_end', pause_start: '2026-04-01T00:00:00Z' }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await pause({ pause_mode: 'immediate', pause_days: 10, pause_end: '2026-04-01T00:00:00Z' }),
      400,
      'validation_error',
    );
    assertEnvelope(await pause({ pause_mode: 'immediate', pause_days: 0 }), 400, 'validation_error');
    assertEnvelope(
      await pause({ pause_mode: 'immediate', pause_end: '2026-03-01T00:00:00Z' }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await pause({ pause_mode: 'scheduled', pause_start: '2026-04-01T00:00:00Z', pause_end: '2026-03-20T00:00:00Z' }),
      400,
      'validation_error',
    );
    assertEnvelope(await pause({ pause_mode: 'immediate' }, 'subs_missing'), 404, 'not_found');
    const stranger = await h.newTenant();
    assertEnvelope(await pause({ pause_mode: 'immediate' }, sub.id, stranger), 404, 'not_found');
    assertEnvelope(await h.request(stranger, 'GET', `/v1/subscriptions/${sub.id}/pauses`), 404, 'not_found');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${sub.id}/resume`, { resume_mode: 'auto' }),
      400,
      'validation_error',
    );
    const trialing = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id, trial_period_days: 3 });
    assertEnvelope(await pause({ pause_mode: 'immediate' }, trialing.id), 400, 'invalid_operation');
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).subscription_status, 'active');
  });
});

describe('subscription.updated', () => {
  it('is enqueued by PUT with the reference payload, and nothing by a refused PUT', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.test/subs' });
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    assertEnvelope(await h.request(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, { status: 'draft' }), 400);
    await ok(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, { cancel_at_period_end: true });
    const rows = await webhookRows(tenant);
    assert.deepEqual(
      rows.map((r) => r.type),
      ['subscription.created', 'subscription.updated'],
    );
    assertMatchesSchema(rows[1]!.payload, 'webhookDto.SubscriptionWebhookPayload');
    assert.equal(rows[1]!.payload.subscription.cancel_at_period_end, true);
    assert.equal(rows[1]!.payload.subscription.customer.external_id, 'cus-1');
  });
});
