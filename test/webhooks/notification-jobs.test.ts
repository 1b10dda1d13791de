import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';
import { createCustomer, draft, draftLine, finalize, storedWebhooks, writeDraft } from '../support/invoices.ts';
import { assertMatchesSchema, referenceWebhooks } from '../support/reference-schemas.ts';
import { subscriptionFixtures } from '../support/subscriptions.ts';

/**
 * The notification jobs: `invoice.payment.overdue` (invoices.notifyOverdueInvoices) and `subscription.renewal.due`
 * (subscriptions.notifyRenewalsDue). Both serve every tenant of the database, so the database is isolated. The
 * jobs are driven as the background runner would, under a TestClock; the messages are read from the outbox and
 * validated against the reference schemas.
 */
const clock = new TestClock('2026-03-01T00:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock, isolated: true });
});
after(async () => {
  await h.close();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const { price } = subscriptionFixtures(() => h);

async function ok(tenant: TestTenant, method: 'POST' | 'PUT' | 'GET', url: string, body?: unknown) {
  const response = await h.request(tenant, method, url, body);
  assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
  return response.json() as Json;
}

async function tenantWithEndpoint() {
  const tenant = await h.newTenant();
  await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' });
  return tenant;
}

/** Stored messages of one event type, each checked against its reference schema. */
async function messages(tenant: TestTenant, type: string) {
  const stored = (await storedWebhooks(h, tenant)).filter((m) => m.type === type);
  for (const { payload } of stored) {
    assert.equal(payload.event_type, type);
    assertMatchesSchema(payload, referenceWebhooks.events[type]!);
  }
  return stored.map((m) => m.payload as Json);
}

const DAY = 86_400_000;

/** A tenant with a webhook endpoint, a customer and a monthly plan with one fixed fee billed in advance. */
async function monthlyPlan(name: string, amount: string) {
  const tenant = await tenantWithEndpoint();
  const customer = await createCustomer(h, tenant);
  const plan = await ok(tenant, 'POST', '/v1/plans', { name });
  await price(
    tenant,
    { type: 'PLAN', id: plan.id },
    { type: 'FIXED', billing_cadence: 'RECURRING', invoice_cadence: 'ADVANCE', amount },
  );
  return { tenant, customer, plan };
}

describe('invoice.payment.overdue', () => {
  it('is emitted once per FINALIZED invoice whose due date passed unpaid, with the invoice payload', async () => {
    clock.set('2026-03-01T00:00:00Z');
    const tenant = await tenantWithEndpoint();
    const customer = await createCustomer(h, tenant);
    const finalized = async (amount: string) => {
      const written = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount })]));
      return finalize(h, tenant, written.id);
    };
    const unpaid = await finalized('10');
    const partly = await finalized('8');
    await ok(tenant, 'PUT', `/v1/invoices/${partly.id}/payment`, { payment_status: 'PENDING', amount: '3' });
    const paid = await finalized('5');
    await ok(tenant, 'PUT', `/v1/invoices/${paid.id}/payment`, { payment_status: 'SUCCEEDED' });
    const voided = await finalized('4');
    await ok(tenant, 'POST', `/v1/invoices/${voided.id}/void`);
    const zero = await finalized('0');
    const stillDraft = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '6' })]));
    // Without payment terms an invoice is due a day after finalization (the reference's due_date_days).
    assert.equal(unpaid.due_date, '2026-03-02T00:00:00.000Z');
    assert.equal(zero.payment_status, 'SUCCEEDED');

    // Not yet due (due_date is not past), then due: the two unpaid ones.
    clock.set('2026-03-02T00:00:00Z');
    assert.equal((await h.services.invoices.notifyOverdueInvoices()).notified, 0);
    clock.set('2026-03-02T00:00:01Z');
    const run = await h.services.invoices.notifyOverdueInvoices();
    assert.ok(run.notified >= 2);
    const overdue = await messages(tenant, 'invoice.payment.overdue');
    assert.deepEqual(overdue.map((p) => p.invoice.id).sort(), [unpaid.id, partly.id].sort());
    const partlyPayload = overdue.find((p) => p.invoice.id === partly.id)!.invoice;
    assert.deepEqual(
      [partlyPayload.invoice_status, partlyPayload.amount_remaining, partlyPayload.customer.id],
      ['FINALIZED', '5', customer.id],
    );
    assert.equal(partlyPayload.line_items.length, 1);
    for (const id of [paid.id, voided.id, zero.id, stillDraft.id]) {
      assert.ok(!overdue.some((p) => p.invoice.id === id), `${id} is not overdue`);
    }

    // Exactly once: later runs (and a payment later on) add nothing.
    clock.set('2026-03-09T00:00:00Z');
    await h.services.invoices.notifyOverdueInvoices();
    await ok(tenant, 'PUT', `/v1/invoices/${unpaid.id}/payment`, { payment_status: 'SUCCEEDED' });
    await h.services.invoices.notifyOverdueInvoices();
    assert.equal((await messages(tenant, 'invoice.payment.overdue')).length, 2);
  });

  it('uses the subscription payment terms for the due date of its invoices', async () => {
    clock.set('2026-03-01T00:00:00Z');
    const { tenant, customer, plan } = await monthlyPlan('Net', '30');
    const sub = await ok(tenant, 'POST', '/v1/subscriptions', {
      plan_id: plan.id,
      customer_id: customer.id,
      currency: 'usd',
      billing_period: 'MONTHLY',
      payment_terms: '30 NET',
      collection_method: 'send_invoice',
    });
    const invoices = await ok(tenant, 'POST', '/v1/invoices/search', { subscription_id: sub.id });
    assert.equal(invoices.items.length, 1);
    clock.set('2026-03-01T02:00:00Z');
    const finalized = await finalize(h, tenant, invoices.items[0].id);
    assert.equal(finalized.due_date, '2026-03-31T02:00:00.000Z');
    clock.set('2026-03-31T02:00:00Z');
    await h.services.invoices.notifyOverdueInvoices();
    assert.equal((await messages(tenant, 'invoice.payment.overdue')).length, 0);
    clock.set('2026-03-31T03:00:00Z');
    await h.services.invoices.notifyOverdueInvoices();
    const overdue = await messages(tenant, 'invoice.payment.overdue');
    assert.deepEqual(
      overdue.map((p) => [p.invoice.id, p.invoice.subscription_id]),
      [[finalized.id, sub.id]],
    );
  });

  it('bounded batches over every tenant; concurrent runs emit each notification once', async () => {
    clock.set('2026-04-01T00:00:00Z');
    const tenants = [await tenantWithEndpoint(), await tenantWithEndpoint()];
    const ids: string[] = [];
    for (const tenant of tenants) {
      const customer = await createCustomer(h, tenant);
      for (let i = 0; i < 5; i++) {
        const written = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: `${i + 1}` })]));
        ids.push((await finalize(h, tenant, written.id)).id);
      }
    }
    clock.set(new Date(Date.parse('2026-04-01T00:00:00Z') + 2 * DAY));
    const runs = await Promise.all([
      h.services.invoices.notifyOverdueInvoices({ limit: 3 }),
      h.services.invoices.notifyOverdueInvoices({ limit: 3 }),
      h.services.invoices.notifyOverdueInvoices({ limit: 3 }),
    ]);
    let more = runs.some((r) => r.more);
    for (let i = 0; more && i < 20; i++) more = (await h.services.invoices.notifyOverdueInvoices({ limit: 3 })).more;
    assert.equal(more, false);
    const notified = [];
    for (const tenant of tenants) notified.push(...(await messages(tenant, 'invoice.payment.overdue')));
    assert.deepEqual(notified.map((p) => p.invoice.id).sort(), [...ids].sort());
    const rows = await h.database.db
      .selectFrom('invoices')
      .select(['id', 'overdue_notified_at'])
      .where('id', 'in', ids)
      .execute();
    assert.ok(rows.every((r) => r.overdue_notified_at !== null));
  });
});

describe('subscription.renewal.due', () => {
  /** A tenant with an endpoint, a customer and a monthly plan with a fixed fee. */
  async function planSetup() {
    const { tenant, customer, plan } = await monthlyPlan('Monthly', '10');
    const subscribe = (body: Record<string, unknown> = {}) =>
      ok(tenant, 'POST', '/v1/subscriptions', {
        plan_id: plan.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
        start_date: '2026-05-01T00:00:00Z',
        ...body,
      });
    return { tenant, subscribe };
  }

  it('is emitted once per period for active and trialing subscriptions that renew, within the lead time', async () => {
    clock.set('2026-05-01T00:00:00Z');
    const { tenant, subscribe } = await planSetup();
    const active = await subscribe({ lookup_key: 'active' });
    const trialing = await subscribe({ lookup_key: 'trialing', trial_period_days: 7 });
    const endOfPeriod = await subscribe({ lookup_key: 'end-of-period' });
    await ok(tenant, 'POST', `/v1/subscriptions/${endOfPeriod.id}/cancel`, { cancellation_type: 'end_of_period' });
    const scheduled = await subscribe({ lookup_key: 'scheduled' });
    await ok(tenant, 'POST', `/v1/subscriptions/${scheduled.id}/cancel`, {
      cancellation_type: 'scheduled_date',
      cancel_at: '2026-05-20T00:00:00Z',
    });
    await subscribe({ lookup_key: 'ends', end_date: '2026-06-01T00:00:00Z' });
    const paused = await subscribe({ lookup_key: 'paused' });
    await ok(tenant, 'POST', `/v1/subscriptions/${paused.id}/pause`, { pause_mode: 'immediate' });
    await subscribe({ lookup_key: 'draft', subscription_status: 'draft' });
    const later = await subscribe({ lookup_key: 'later', end_date: '2026-06-15T00:00:00Z' });

    // Just outside the default 24 h lead: nothing; then inside it.
    clock.set('2026-05-30T23:59:59Z');
    await h.services.subscriptions.notifyRenewalsDue();
    assert.deepEqual(await messages(tenant, 'subscription.renewal.due'), []);
    clock.set('2026-05-31T00:00:00Z');
    // Three runs at once and one more after: one message per subscription.
    await Promise.all([
      h.services.subscriptions.notifyRenewalsDue(),
      h.services.subscriptions.notifyRenewalsDue(),
      h.services.subscriptions.notifyRenewalsDue(),
    ]);
    clock.set('2026-05-31T12:00:00Z');
    await h.services.subscriptions.notifyRenewalsDue();
    const first = await messages(tenant, 'subscription.renewal.due');
    assert.deepEqual(first.map((p) => [p.subscription.lookup_key, p.subscription.subscription_status]).sort(), [
      ['active', 'active'],
      ['later', 'active'],
      ['trialing', 'trialing'],
    ]);
    const payload = first.find((p) => p.subscription.id === active.id)!.subscription;
    assert.deepEqual(
      [payload.current_period_start, payload.current_period_end, payload.customer.external_id],
      ['2026-05-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z', 'cust-1'],
    );
    assert.ok(first.some((p) => p.subscription.id === trialing.id));

    // The billing job renews them; the next period is notified again, 24 h before its end. "later" ends on Jun 15.
    clock.set('2026-06-01T00:00:00Z');
    const billed = await h.services.billing.advancePeriods();
    assert.deepEqual(billed.failed, []);
    clock.set('2026-06-29T23:00:00Z');
    await h.services.subscriptions.notifyRenewalsDue();
    assert.equal((await messages(tenant, 'subscription.renewal.due')).length, 3);
    clock.set('2026-06-30T00:00:00Z');
    await h.services.subscriptions.notifyRenewalsDue();
    await h.services.subscriptions.notifyRenewalsDue();
    const all = await messages(tenant, 'subscription.renewal.due');
    assert.deepEqual(
      all
        .slice(3)
        .map((p) => [p.subscription.lookup_key, p.subscription.current_period_end])
        .sort(),
      [
        ['active', '2026-07-01T00:00:00.000Z'],
        ['trialing', '2026-07-01T00:00:00.000Z'],
      ],
    );
    assert.ok(!all.slice(3).some((p) => p.subscription.id === later.id));
  });

  it('honours the configured lead time, and a cancellation made after the notice stops the next one', async () => {
    clock.set('2026-05-01T00:00:00Z');
    const { tenant, subscribe } = await planSetup();
    const sub = await subscribe();
    clock.set('2026-05-29T00:00:00Z');
    await h.services.subscriptions.notifyRenewalsDue({ leadHours: 24 });
    assert.equal((await messages(tenant, 'subscription.renewal.due')).length, 0);
    await h.services.subscriptions.notifyRenewalsDue({ leadHours: 72 });
    assert.equal((await messages(tenant, 'subscription.renewal.due')).length, 1);
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'end_of_period' });
    clock.set('2026-05-31T12:00:00Z');
    await h.services.subscriptions.notifyRenewalsDue();
    assert.equal((await messages(tenant, 'subscription.renewal.due')).length, 1);
  });
});
