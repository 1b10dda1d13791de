import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';
import { assertMatchesSchema } from '../support/reference-schemas.ts';
import { subscriptionFixtures } from '../support/subscriptions.ts';

/**
 * Scheduled pauses, automatic resume and end-of-period plan changes, driven by the period job under a TestClock
 * (isolated database: the job serves every tenant). Fixtures: Pro = 30 USD ADVANCE fee + calls usage (0.01, 1000
 * included), Max = 90 USD ADVANCE fee; monthly anniversary subscriptions from 2026-03-10T12:00Z.
 */

const clock = new TestClock('2026-03-10T12:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock, isolated: true });
});
after(async () => {
  await h.close();
});
const { ok, setup, subscribe, webhookRows } = subscriptionFixtures(() => h);

async function runJob() {
  const result = await h.services.billing.advancePeriods();
  assert.deepEqual(result.failed, []);
  return result;
}

/** The subscription's invoices, oldest period first, each as [reason, period_start, total, lines]. */
async function invoicesOf(tenant: TestTenant, subscriptionId: string) {
  const listed = await ok(tenant, 'POST', '/v1/invoices/search', { subscription_id: subscriptionId, limit: 50 });
  const out: Array<[string, string, string, string[]]> = [];
  for (const item of listed.items as Array<{ id: string }>) {
    const invoice = await ok(tenant, 'GET', `/v1/invoices/${item.id}`);
    out.push([
      invoice.billing_reason,
      invoice.period_start,
      invoice.total,
      (invoice.line_items as Array<Record<string, string>>).map(
        (l) => `${l.display_name} ${l.amount} ${l.period_start?.slice(0, 10)}→${l.period_end?.slice(0, 10)}`,
      ),
    ]);
  }
  return out.sort((a, b) => (a[1] + a[0]).localeCompare(b[1] + b[0]));
}

async function withWebhooks() {
  const fixtures = await setup();
  await ok(fixtures.tenant, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.test/subs' });
  return fixtures;
}

describe('scheduled pauses and automatic resume', () => {
  it('starts a scheduled pause at its start and resumes it at its end; fully paused periods are not charged', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await withWebhooks();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });

    const dry = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, {
      pause_mode: 'scheduled',
      pause_start: '2026-04-20T00:00:00Z',
      pause_end: '2026-07-01T00:00:00Z',
      dry_run: true,
    });
    assert.equal(dry.pause_status, 'scheduled');
    assert.deepEqual(await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/pauses`), []);

    const pause = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, {
      pause_mode: 'scheduled',
      pause_start: '2026-04-20T00:00:00Z',
      pause_end: '2026-07-01T00:00:00Z',
      reason: 'summer break',
    });
    assert.equal(pause.pause_status, 'scheduled');
    assert.equal(pause.pause_mode, 'scheduled');
    assert.equal(pause.resume_mode, 'auto');
    assert.equal(pause.pause_start, '2026-04-20T00:00:00.000Z');
    assert.equal(pause.pause_end, '2026-07-01T00:00:00.000Z');
    let current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.subscription_status, 'active');
    assert.equal(current.pause_status, 'scheduled');
    assert.equal(current.active_pause_id, pause.id);
    // One pause at a time; no scheduled cancellation on top of a scheduled pause.
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, { pause_mode: 'immediate' }),
      400,
      'invalid_operation',
    );
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'end_of_period' }),
      400,
      'invalid_operation',
    );
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, { cancel_at_period_end: true }),
      400,
      'invalid_operation',
    );

    // Before the start: billed as usual (the next period is only partly paused, so its fee is charged).
    clock.set('2026-04-10T12:00:00Z');
    await runJob();
    current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.subscription_status, 'active');
    assert.equal(current.current_period_start, '2026-04-10T12:00:00.000Z');

    clock.set('2026-04-20T00:00:00Z');
    await runJob();
    await runJob();
    current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.subscription_status, 'paused');
    assert.equal(current.pause_status, 'active');
    assert.equal(current.active_pause_id, pause.id);
    // Entitlements stop while paused.
    const ent = await ok(tenant, 'GET', `/v1/customers/${customer.id}/entitlements`);
    assert.deepEqual(ent.features, []);

    // Paused: the job does not advance it.
    clock.set('2026-06-15T00:00:00Z');
    await runJob();
    current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.current_period_start, '2026-04-10T12:00:00.000Z');

    // At the pause end it resumes by itself, then the job catches up on the periods that ended meanwhile.
    clock.set('2026-07-01T00:00:00Z');
    await runJob();
    await runJob();
    current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.subscription_status, 'active');
    assert.equal(current.pause_status, 'none');
    assert.equal(current.active_pause_id, undefined);
    assert.equal(current.current_period_start, '2026-06-10T12:00:00.000Z');
    const [stored] = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/pauses`);
    assert.equal(stored.pause_status, 'completed');
    assert.equal(stored.resume_mode, 'auto');
    assert.equal(stored.resumed_at, '2026-07-01T00:00:00.000Z');

    assert.deepEqual(await invoicesOf(tenant, sub.id), [
      ['SUBSCRIPTION_CREATE', '2026-03-10T12:00:00.000Z', '30', ['Pro fee 30 2026-03-10→2026-04-10']],
      [
        'SUBSCRIPTION_CYCLE',
        '2026-03-10T12:00:00.000Z',
        '30',
        ['Calls 0 2026-03-10→2026-04-10', 'Pro fee 30 2026-04-10→2026-05-10'],
      ],
      // Apr 10 → May 10 was partly active: its usage is invoiced; May 10 → Jun 10 was paused throughout: no fee.
      ['SUBSCRIPTION_CYCLE', '2026-04-10T12:00:00.000Z', '0', ['Calls 0 2026-04-10→2026-05-10']],
      // May 10 → Jun 10 paused throughout: nothing of its own; the fee of Jun 10 → Jul 10 (resumed in it) in full.
      ['SUBSCRIPTION_CYCLE', '2026-05-10T12:00:00.000Z', '30', ['Pro fee 30 2026-06-10→2026-07-10']],
    ]);

    const rows = await webhookRows(tenant);
    assert.deepEqual(
      rows.map((r) => r.type),
      ['subscription.created', 'subscription.updated', 'subscription.paused', 'subscription.resumed'],
    );
    assert.equal(rows[1]!.payload.subscription.pause_status, 'scheduled');
    assert.equal(rows[2]!.payload.subscription.subscription_status, 'paused');
    assert.equal(rows[3]!.payload.subscription.subscription_status, 'active');
    for (const row of rows) assertMatchesSchema(row.payload, 'webhookDto.SubscriptionWebhookPayload');
  });

  it('a period_end pause invoices the period before it, and a manual resume bills the period it resumes in', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const pause = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, { pause_mode: 'period_end' });
    assert.equal(pause.pause_start, '2026-04-10T12:00:00.000Z');
    assert.equal(pause.pause_end, undefined);
    assert.equal(pause.resume_mode, undefined);

    // The job ran late: the period before the pause is still invoiced, without the fee of the paused period.
    clock.set('2026-04-15T00:00:00Z');
    await runJob();
    let current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.subscription_status, 'paused');
    assert.equal(current.current_period_start, '2026-04-10T12:00:00.000Z');

    clock.set('2026-06-01T00:00:00Z');
    await runJob();
    const resumed = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/resume`, { resume_mode: 'immediate' });
    assert.equal(resumed.pause_status, 'completed');
    assert.equal(resumed.resume_mode, 'immediate');
    await runJob();
    current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.subscription_status, 'active');
    assert.equal(current.current_period_start, '2026-05-10T12:00:00.000Z');
    assert.deepEqual(await invoicesOf(tenant, sub.id), [
      ['SUBSCRIPTION_CREATE', '2026-03-10T12:00:00.000Z', '30', ['Pro fee 30 2026-03-10→2026-04-10']],
      ['SUBSCRIPTION_CYCLE', '2026-03-10T12:00:00.000Z', '0', ['Calls 0 2026-03-10→2026-04-10']],
      // Apr 10 → May 10 paused throughout: no usage recorded, so no invoice for it; May 10 → Jun 10's fee in full.
      ['SUBSCRIPTION_CYCLE', '2026-04-10T12:00:00.000Z', '30', ['Pro fee 30 2026-05-10→2026-06-10']],
    ]);
  });

  it('resuming before the start cancels a scheduled pause, as does cancelling the subscription', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await withWebhooks();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const pause = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, {
      pause_mode: 'scheduled',
      pause_start: '2026-03-20T00:00:00Z',
      pause_days: 10,
    });
    assert.equal(pause.pause_end, '2026-03-30T00:00:00.000Z');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${sub.id}/resume`, { resume_mode: 'auto' }),
      400,
      'validation_error',
    );
    const dry = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/resume`, {
      resume_mode: 'immediate',
      dry_run: true,
    });
    assert.equal(dry.pause_status, 'cancelled');
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).pause_status, 'scheduled');
    const cancelled = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/resume`, { resume_mode: 'immediate' });
    assert.equal(cancelled.pause_status, 'cancelled');
    let current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.pause_status, 'none');
    assert.equal(current.active_pause_id, undefined);
    clock.set('2026-03-21T00:00:00Z');
    await runJob();
    current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.subscription_status, 'active');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${sub.id}/resume`, { resume_mode: 'immediate' }),
      400,
      'invalid_operation',
    );

    // A scheduled pause of a subscription cancelled now is cancelled with it.
    const second = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, {
      pause_mode: 'scheduled',
      pause_start: '2026-03-25T00:00:00Z',
    });
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'immediate' });
    clock.set('2026-03-26T00:00:00Z');
    await runJob();
    current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.subscription_status, 'cancelled');
    assert.equal(current.pause_status, 'cancelled');
    const pauses = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/pauses`);
    assert.deepEqual(
      pauses.map((p: { id: string; pause_status: string }) => [p.id, p.pause_status]),
      [
        [pause.id, 'cancelled'],
        [second.id, 'cancelled'],
      ],
    );
    const rows = await webhookRows(tenant);
    assert.deepEqual(
      rows.map((r) => r.type),
      [
        'subscription.created',
        'subscription.updated',
        'subscription.updated',
        'subscription.updated',
        'subscription.cancelled',
      ],
    );
    for (const row of rows) assertMatchesSchema(row.payload, 'webhookDto.SubscriptionWebhookPayload');
  });

  it('an immediate pause with pause_days resumes by itself, also when the clock jumps past both ends', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await withWebhooks();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const now = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, {
      pause_mode: 'immediate',
      pause_days: 3,
    });
    assert.equal(now.pause_status, 'active');
    assert.equal(now.pause_end, '2026-03-13T12:00:00.000Z');
    clock.set('2026-03-13T12:00:00Z');
    await runJob();
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).subscription_status, 'active');

    // A scheduled pause whose start and end both passed between two runs: paused, then resumed, in one run.
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/pause`, {
      pause_mode: 'scheduled',
      pause_start: '2026-03-20T00:00:00Z',
      pause_end: '2026-03-25T00:00:00Z',
    });
    clock.set('2026-03-28T00:00:00Z');
    await runJob();
    await runJob();
    const current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.subscription_status, 'active');
    assert.equal(current.pause_status, 'none');
    const rows = await webhookRows(tenant);
    assert.deepEqual(
      rows.map((r) => r.type),
      [
        'subscription.created',
        'subscription.paused',
        'subscription.resumed',
        'subscription.updated',
        'subscription.paused',
        'subscription.resumed',
      ],
    );
  });
});
