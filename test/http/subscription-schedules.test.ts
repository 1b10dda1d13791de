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

function change(targetPlanId: string, extra: Record<string, unknown> = {}) {
  return {
    target_plan_id: targetPlanId,
    proration_behavior: 'none',
    billing_cadence: 'RECURRING',
    billing_cycle: 'anniversary',
    billing_period: 'MONTHLY',
    change_at: 'end_of_period',
    ...extra,
  };
}

describe('end_of_period plan change', () => {
  it('is previewed and scheduled, then applied by the period job at the boundary without proration', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, max } = await withWebhooks();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    clock.set('2026-03-20T00:00:00Z');

    const preview = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/change/preview`, change(max.id));
    assert.equal(preview.change_type, 'upgrade');
    assert.equal(preview.effective_date, '2026-04-10T12:00:00.000Z');
    assert.equal(preview.proration_details.net_amount, '0');
    assert.equal(preview.proration_details.days_remaining, 0);
    assert.deepEqual(
      preview.next_invoice_preview.line_items.map((l: Record<string, unknown>) => [
        l.description,
        l.amount,
        l.period_start,
        l.is_proration,
      ]),
      [['Max fee', '90', '2026-04-10T12:00:00.000Z', false]],
    );
    assert.equal(preview.new_billing_cycle.period_start, '2026-04-10T12:00:00.000Z');
    assert.equal(preview.new_billing_cycle.period_end, '2026-05-10T12:00:00.000Z');
    assert.deepEqual((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/schedules`)).schedules, []);

    const first = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/change/execute`, change(max.id));
    assert.equal(first.is_scheduled, true);
    assert.match(first.schedule_id, /^sched_/);
    // A second change before the boundary replaces the pending one.
    const executed = await ok(
      tenant,
      'POST',
      `/v1/subscriptions/${sub.id}/change/execute`,
      change(max.id, { proration_behavior: 'create_prorations', metadata: { why: 'growth' } }),
    );
    assert.equal(executed.is_scheduled, true);
    assert.equal(executed.scheduled_at, '2026-04-10T12:00:00.000Z');
    assert.equal(executed.effective_date, '2026-04-10T12:00:00.000Z');
    assert.equal(executed.new_subscription.plan_id, max.id);
    assert.equal(executed.proration_applied.net_amount, '0');
    assert.equal(executed.invoice, undefined);
    let current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.plan_id, pro.id, 'nothing changes before the boundary');
    const listed = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/schedules`);
    assert.equal(listed.count, 2);
    assert.deepEqual(
      listed.schedules.map((s: Record<string, unknown>) => [s.id, s.status, s.schedule_type, s.can_be_cancelled]),
      [
        [first.schedule_id, 'cancelled', 'plan_change', false],
        [executed.schedule_id, 'pending', 'plan_change', true],
      ],
    );
    const one = await ok(tenant, 'GET', `/v1/subscription-schedules/${executed.schedule_id}`);
    assert.equal(one.configuration.target_plan_id, max.id);
    assert.equal(one.scheduled_at, '2026-04-10T12:00:00.000Z');
    assert.equal(one.days_until_execution, 22);
    assert.deepEqual(one.metadata, { why: 'growth' });

    clock.set('2026-04-10T12:00:00Z');
    await runJob();
    await runJob();
    current = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(current.plan_id, max.id);
    assert.equal(current.current_period_start, '2026-04-10T12:00:00.000Z');
    const items = current.line_items as Array<Record<string, string>>;
    assert.deepEqual(
      items
        .map((li) => [li.display_name, li.entity_id, li.start_date, li.end_date ?? null])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        ['Calls', pro.id, '2026-03-10T12:00:00.000Z', '2026-04-10T12:00:00.000Z'],
        ['Max fee', max.id, '2026-04-10T12:00:00.000Z', null],
        ['Pro fee', pro.id, '2026-03-10T12:00:00.000Z', '2026-04-10T12:00:00.000Z'],
      ],
    );
    const done = await ok(tenant, 'GET', `/v1/subscription-schedules/${executed.schedule_id}`);
    assert.equal(done.status, 'executed');
    assert.equal(done.executed_at, '2026-04-10T12:00:00.000Z');
    assert.equal(done.execution_result.to_plan_id, max.id);

    assert.deepEqual(await invoicesOf(tenant, sub.id), [
      ['SUBSCRIPTION_CREATE', '2026-03-10T12:00:00.000Z', '30', ['Pro fee 30 2026-03-10→2026-04-10']],
      // The ended period on the old plan (its usage line), the new period's ADVANCE fee on the new plan; no proration.
      [
        'SUBSCRIPTION_CYCLE',
        '2026-03-10T12:00:00.000Z',
        '90',
        ['Calls 0 2026-03-10→2026-04-10', 'Max fee 90 2026-04-10→2026-05-10'],
      ],
    ]);

    const rows = await webhookRows(tenant);
    assert.deepEqual(
      rows.map((r) => r.type),
      ['subscription.created', 'subscription.plan_changed'],
    );
    assert.equal(rows[1]!.payload.subscription.plan_id, max.id);
    for (const row of rows) assertMatchesSchema(row.payload, 'webhookDto.SubscriptionWebhookPayload');
  });

  it('is dropped by a cancellation, cancelled on request, replaced by an immediate change; 400/404s', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, max } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const scheduled = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/change/execute`, change(max.id));

    // Cancel the schedule on request; a second cancel is refused.
    const stranger = await h.newTenant();
    assertEnvelope(
      await h.request(stranger, 'POST', `/v1/subscriptions/schedules/${scheduled.schedule_id}/cancel`, {}),
      404,
      'not_found',
    );
    assertEnvelope(
      await h.request(stranger, 'GET', `/v1/subscription-schedules/${scheduled.schedule_id}`),
      404,
      'not_found',
    );
    assertEnvelope(await h.request(stranger, 'GET', `/v1/subscriptions/${sub.id}/schedules`), 404, 'not_found');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/schedules/${scheduled.schedule_id}/cancel`, {
        subscription_id: 'subs_other',
      }),
      400,
      'validation_error',
    );
    const cancelled = await ok(tenant, 'POST', `/v1/subscriptions/schedules/${scheduled.schedule_id}/cancel`, {
      schedule_type: 'plan_change',
    });
    assert.deepEqual(cancelled, { message: 'schedule cancelled', status: 'cancelled' });
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/schedules/${scheduled.schedule_id}/cancel`),
      400,
      'invalid_operation',
    );

    // An immediate change replaces a pending end-of-period one.
    const again = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/change/execute`, change(max.id));
    clock.set('2026-03-20T00:00:00Z');
    const now = await ok(
      tenant,
      'POST',
      `/v1/subscriptions/${sub.id}/change/execute`,
      change(max.id, { change_at: 'immediate' }),
    );
    assert.equal(now.is_scheduled, false);
    assert.equal((await ok(tenant, 'GET', `/v1/subscription-schedules/${again.schedule_id}`)).status, 'cancelled');
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).plan_id, max.id);

    // A change pending when the subscription ends at the boundary is dropped; the last period is on the old plan.
    const other = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const dropped = await ok(tenant, 'POST', `/v1/subscriptions/${other.id}/change/execute`, change(max.id));
    await ok(tenant, 'POST', `/v1/subscriptions/${other.id}/cancel`, { cancellation_type: 'end_of_period' });
    // Once the subscription is scheduled to cancel, no new change is accepted.
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${other.id}/change/execute`, change(max.id)),
      400,
      'invalid_operation',
    );
    clock.set('2026-04-21T00:00:00Z');
    await runJob();
    const ended = await ok(tenant, 'GET', `/v1/subscriptions/${other.id}`);
    assert.equal(ended.subscription_status, 'cancelled');
    assert.equal(ended.plan_id, pro.id);
    const droppedNow = await ok(tenant, 'GET', `/v1/subscription-schedules/${dropped.schedule_id}`);
    assert.equal(droppedNow.status, 'cancelled');
    assert.ok(droppedNow.cancelled_at);

    // Cancelled now: the pending change is cancelled with it.
    const third = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const pending = await ok(tenant, 'POST', `/v1/subscriptions/${third.id}/change/execute`, change(max.id));
    await ok(tenant, 'POST', `/v1/subscriptions/${third.id}/cancel`, { cancellation_type: 'immediate' });
    assert.equal((await ok(tenant, 'GET', `/v1/subscription-schedules/${pending.schedule_id}`)).status, 'cancelled');

    assertEnvelope(await h.request(tenant, 'GET', '/v1/subscription-schedules/sched_missing'), 404, 'not_found');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${third.id}/change/preview`, change(max.id)),
      400,
      'invalid_operation',
    );
  });
});
