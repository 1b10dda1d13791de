import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InvoiceDraft } from '../../src/modules/billing/draft.ts';
import { TestClock } from '../../src/platform/clock.ts';
import { toWire } from '../../src/platform/money.ts';
import { assertEnvelope, type Harness, startHarness } from '../support/harness.ts';
import { assertMatchesSchema } from '../support/reference-schemas.ts';
import { subscriptionFixtures } from '../support/subscriptions.ts';

const clock = new TestClock('2026-03-10T12:00:00Z');
let h: Harness;
const drafts: InvoiceDraft[] = [];
before(async () => {
  h = await startHarness({ clock });
  // Records the drafts (the app's own listener, registered first, settles them: wallet credit + invoice).
  h.services.subscriptions.onProrationInvoice(async (_tx, _scope, draft) => {
    drafts.push(draft);
    return { id: `inv_test_${drafts.length}` };
  });
});
after(async () => {
  await h.close();
});
const { ok, setup, subscribe, webhookRows } = subscriptionFixtures(() => h);

const change = (target: string, extra: Record<string, unknown> = {}) => ({
  target_plan_id: target,
  proration_behavior: 'create_prorations',
  billing_cadence: 'RECURRING',
  billing_cycle: 'anniversary',
  billing_period: 'MONTHLY',
  ...extra,
});

type LineItem = {
  id: string;
  entity_type: string;
  entity_id: string;
  price_id: string;
  end_date?: string;
  start_date: string;
};

describe('plan change', () => {
  it('previews and executes an immediate upgrade with day-based proration and a PRORATION invoice draft', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, max, proFee, maxFee, calls } = await setup();
    await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.test/subs' });
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    clock.set('2026-03-20T12:00:00Z'); // 10 of 31 days used

    const preview = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/change/preview`, change(max.id));
    assert.equal(preview.subscription_id, sub.id);
    assert.equal(preview.change_type, 'upgrade');
    assert.equal(preview.current_plan.id, pro.id);
    assert.equal(preview.target_plan.id, max.id);
    assert.equal(preview.effective_date, '2026-03-20T12:00:00.000Z');
    const details = preview.proration_details;
    assert.equal(details.days_used, 10);
    assert.equal(details.days_remaining, 21);
    assert.equal(details.credit_amount, '20.32'); // 30 × 21/31
    assert.equal(details.charge_amount, '60.97'); // 90 × 21/31
    assert.equal(details.net_amount, '40.65');
    assert.equal(details.currency, 'usd');
    assert.equal(preview.next_invoice_preview.total, '40.65');
    assert.equal(preview.next_invoice_preview.line_items.length, 2);
    // the preview writes nothing
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).plan_id, pro.id);
    assert.equal(drafts.length, 0);

    const executed = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/change/execute`, change(max.id));
    assert.equal(executed.change_type, 'upgrade');
    assert.equal(executed.is_scheduled, false);
    assert.equal(executed.old_subscription.plan_id, pro.id);
    assert.equal(executed.new_subscription.plan_id, max.id);
    assert.equal(executed.new_subscription.id, sub.id);
    assert.deepEqual(executed.proration_applied, details);
    // Settled as the reference does: the charge for the rest of the period is invoiced, the credit for the unused
    // part of the old fee goes to the customer's prepaid wallet.
    assert.equal(executed.invoice.billing_reason, 'PRORATION');
    assert.equal(executed.invoice.total, '60.97');
    assert.deepEqual(
      executed.invoice.line_items.map((l: { price_id: string; amount: string }) => [l.price_id, l.amount]),
      [[maxFee.id, '60.97']],
    );
    const wallets = await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`);
    assert.equal(wallets.length, 1);
    assert.equal(wallets[0].credit_balance, '20.32');
    const ledger = await ok(tenant, 'GET', `/v1/wallets/${wallets[0].id}/transactions`);
    assert.deepEqual(
      ledger.items.map((t: { transaction_reason: string; credit_amount: string; description: string }) => [
        t.transaction_reason,
        t.credit_amount,
        t.description,
      ]),
      [['SUBSCRIPTION_CREDIT_GRANT', '20.32', 'Proration credit from subscription change']],
    );

    assert.equal(drafts.length, 1);
    const draft = drafts[0]!;
    assert.equal(draft.billing_reason, 'PRORATION');
    assert.equal(draft.invoice_type, 'SUBSCRIPTION');
    assert.equal(draft.subscription_id, sub.id);
    assert.equal(draft.customer_id, customer.id);
    assert.equal(draft.currency, 'usd');
    assert.equal(draft.period_start?.toISOString(), '2026-03-20T12:00:00.000Z');
    assert.equal(draft.period_end?.toISOString(), '2026-04-10T12:00:00.000Z');
    assert.match(draft.idempotency_key ?? '', new RegExp(`^${sub.id}:plan_change:subsc_`));
    assert.deepEqual(
      draft.lines.map((l) => [l.price_id, l.entity_id, toWire(l.amount)]),
      [
        [proFee.id, pro.id, '-20.32'],
        [maxFee.id, max.id, '60.97'],
      ],
    );

    const after = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(after.plan_id, max.id);
    assert.equal(after.version, 2);
    assert.equal(after.current_period_start, sub.current_period_start);
    assert.equal(after.billing_anchor, sub.billing_anchor);
    const old = after.line_items.filter((li: LineItem) => li.entity_id === pro.id);
    assert.equal(old.length, 2);
    for (const li of old) assert.equal(li.end_date, '2026-03-20T12:00:00.000Z');
    const fresh = after.line_items.filter((li: LineItem) => li.entity_id === max.id);
    assert.deepEqual(
      fresh.map((li: LineItem) => [li.price_id, li.start_date, li.end_date]),
      [[maxFee.id, '2026-03-20T12:00:00.000Z', undefined]],
    );
    // entitlements follow the new plan (Max grants no calls)
    const entitlements = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/entitlements`);
    assert.ok(!entitlements.features.some((f: { feature: { id: string } }) => f.feature.id === calls.id));

    const rows = await webhookRows(tenant);
    const subscriptionRows = rows.filter((r) => r.type.startsWith('subscription.'));
    assert.deepEqual(
      subscriptionRows.map((r) => r.type),
      ['subscription.created', 'subscription.plan_changed'],
    );
    assertMatchesSchema(subscriptionRows[1]!.payload, 'webhookDto.SubscriptionWebhookPayload');
    assert.equal(subscriptionRows[1]!.payload.subscription.plan_id, max.id);
  });

  it('downgrades without prorations when proration_behavior is none', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, max } = await setup();
    const sub = await subscribe(tenant, { plan_id: max.id, customer_id: customer.id });
    clock.set('2026-03-25T00:00:00Z');
    const before = drafts.length;
    const executed = await ok(
      tenant,
      'POST',
      `/v1/subscriptions/${sub.id}/change/execute`,
      change(pro.id, { proration_behavior: 'none', metadata: { ticket: '7' } }),
    );
    assert.equal(executed.change_type, 'downgrade');
    assert.equal(executed.proration_applied.net_amount, '0');
    assert.equal(executed.invoice, undefined);
    assert.deepEqual(executed.metadata, { ticket: '7' });
    assert.equal(drafts.length, before);
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).plan_id, pro.id);
  });

  it('refuses what it does not do, bad input, non-active subscriptions and unknown or foreign ids', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, max } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    const post = (kind: 'preview' | 'execute', body: unknown, id = sub.id, who = tenant) =>
      h.request(who, 'POST', `/v1/subscriptions/${id}/change/${kind}`, body);
    for (const kind of ['preview', 'execute'] as const) {
      assertEnvelope(await post(kind, change(pro.id)), 400, 'validation_error');
      assertEnvelope(await post(kind, change(max.id, { change_at: 'later' })), 400, 'validation_error');
      assertEnvelope(await post(kind, change(max.id, { billing_period: 'ANNUAL' })), 400, 'validation_error');
      assertEnvelope(await post(kind, change(max.id, { billing_cycle: 'calendar' })), 400, 'validation_error');
      assertEnvelope(await post(kind, change(max.id, { billing_cadence: 'ONETIME' })), 400, 'validation_error');
      assertEnvelope(await post(kind, { target_plan_id: max.id }), 400, 'validation_error');
      assertEnvelope(await post(kind, change('plan_missing')), 404, 'not_found');
      assertEnvelope(await post(kind, change(max.id), 'subs_missing'), 404, 'not_found');
      const stranger = await h.newTenant();
      assertEnvelope(await post(kind, change(max.id), sub.id, stranger), 404, 'not_found');
    }
    const eurOnly = await ok(tenant, 'POST', '/v1/plans', { name: 'Euro', lookup_key: 'euro' });
    assertEnvelope(await post('execute', change(eurOnly.id)), 400, 'validation_error');
    const trialing = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id, trial_period_days: 5 });
    assertEnvelope(await post('execute', change(max.id), trialing.id), 400, 'invalid_operation');
    await ok(tenant, 'PUT', `/v1/subscriptions/${sub.id}`, { cancel_at_period_end: true });
    assertEnvelope(await post('execute', change(max.id)), 400, 'invalid_operation');
    const unchanged = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`);
    assert.equal(unchanged.plan_id, pro.id);
    assert.equal(unchanged.line_items.filter((li: LineItem) => li.entity_id === max.id).length, 0);
  });
});

describe('POST /v1/subscriptions/{id}/cancel with proration_behavior create_prorations', () => {
  it('credits the unused part of the invoiced ADVANCE fees to the prepaid wallet on an immediate cancellation', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro, max, addon } = await setup();
    const sub = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    // An addon attached mid-period is not invoiced for this period (no proration on attach): nothing to credit.
    clock.set('2026-03-15T00:00:00Z');
    await ok(tenant, 'POST', '/v1/subscriptions/addon', { subscription_id: sub.id, addon_id: addon.id });
    clock.set('2026-03-20T12:00:00Z');
    const before = drafts.length;
    const cancelled = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, {
      cancellation_type: 'immediate',
      proration_behavior: 'create_prorations',
    });
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.total_credit_amount, '20.32'); // 30 × 21/31 (the day of the cancellation is unused)
    const proFeeItem = sub.line_items.find((li: LineItem & { display_name: string }) => li.display_name === 'Pro fee');
    assert.deepEqual(cancelled.proration_details, [
      {
        line_item_id: proFeeItem.id,
        price_id: proFeeItem.price_id,
        plan_name: 'Pro',
        description: 'Unused time: Pro fee',
        proration_days: 21,
        original_amount: '30',
        credit_amount: '20.32',
        charge_amount: '0',
      },
    ]);
    assert.equal(cancelled.proration_invoice, undefined, 'only credits: nothing is invoiced');
    const wallets = await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`);
    assert.equal(wallets.length, 1);
    assert.equal(wallets[0].credit_balance, '20.32');
    assert.equal(drafts.length, before + 1);
    assert.equal(drafts.at(-1)!.idempotency_key, `${sub.id}:cancel:2026-03-20T12:00:00.000Z`);
    assert.deepEqual(
      drafts.at(-1)!.lines.map((l) => [l.subscription_line_item_id, toWire(l.amount)]),
      [[proFeeItem.id, '-20.32']],
    );

    // After a prorated plan change, the remaining-time charge of the new plan is what gets credited.
    clock.set('2026-03-10T12:00:00Z');
    const changed = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    clock.set('2026-03-20T12:00:00Z');
    await ok(tenant, 'POST', `/v1/subscriptions/${changed.id}/change/execute`, change(max.id));
    clock.set('2026-03-31T12:00:00Z');
    const second = await ok(tenant, 'POST', `/v1/subscriptions/${changed.id}/cancel`, {
      cancellation_type: 'immediate',
      proration_behavior: 'create_prorations',
    });
    // 60.97 invoiced for [Mar 20, Apr 10) (21 days), 10 of them unused.
    assert.equal(second.total_credit_amount, '29.03');
    assert.deepEqual(
      second.proration_details.map((d: Record<string, unknown>) => [d.plan_name, d.original_amount, d.proration_days]),
      [['Max', '60.97', 10]],
    );
    const after = await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`);
    assert.equal(after[0].credit_balance, '69.67'); // 20.32 + 20.32 (the change's credit) + 29.03
  });

  it('credits nothing without create_prorations or at the period end; refuses it with scheduled_date', async () => {
    clock.set('2026-03-10T12:00:00Z');
    const { tenant, customer, pro } = await setup();
    const plain = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    clock.set('2026-03-20T12:00:00Z');
    const none = await ok(tenant, 'POST', `/v1/subscriptions/${plain.id}/cancel`, { cancellation_type: 'immediate' });
    assert.equal(none.total_credit_amount, '0');
    assert.deepEqual(none.proration_details, []);
    const other = await subscribe(tenant, { plan_id: pro.id, customer_id: customer.id });
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${other.id}/cancel`, {
        cancellation_type: 'scheduled_date',
        cancel_at: '2026-04-01T00:00:00Z',
        proration_behavior: 'create_prorations',
      }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/subscriptions/${other.id}/cancel`, {
        cancellation_type: 'immediate',
        proration_behavior: 'sometimes',
      }),
      400,
      'validation_error',
    );
    const atEnd = await ok(tenant, 'POST', `/v1/subscriptions/${other.id}/cancel`, {
      cancellation_type: 'end_of_period',
      proration_behavior: 'create_prorations',
    });
    assert.equal(atEnd.total_credit_amount, '0');
    assert.deepEqual(await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`), []);
  });
});
