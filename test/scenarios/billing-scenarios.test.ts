import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

/**
 * End-to-end billing scenarios (issue #7) through the public HTTP API under a moving clock: the period job is run by
 * the test as the background runner would (`services.billing.advancePeriods()`), drafts are finalized through
 * `POST /v1/invoices/{id}/finalize` as the (not yet built) draft finalizer would, and the credit expiry job through
 * `services.wallets.expireCredits()`. Each scenario asserts the invoices (list, search, line items, totals,
 * numbers), the wallet ledger and the webhook messages stored in the outbox. Every amount is computed by hand in
 * the comments beside it. The database is isolated because the job serves every tenant.
 */

const clock = new TestClock('2026-01-01T00:00:00Z');
let h: Harness;
/** Invoice idempotency keys whose period transaction fails once after the invoice was written (a crash). */
const crashOn = new Set<string>();

before(async () => {
  h = await startHarness({ clock, isolated: true });
  // Registered after the invoices module's writer: the invoice is written, then the period transaction fails.
  h.services.billing.onPeriodInvoice(async (_tx, _scope, draft) => {
    if (draft.idempotency_key && crashOn.delete(draft.idempotency_key)) throw new Error('crash while invoicing');
  });
});
after(async () => {
  await h.close();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function ok(tenant: TestTenant, method: 'POST' | 'PUT' | 'GET' | 'DELETE', url: string, body?: unknown) {
  const response = await h.request(tenant, method, url, body);
  assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
  return response.json() as Json;
}

interface PriceSpec {
  type: 'FIXED' | 'USAGE';
  display_name: string;
  meter?: 'calls' | 'gb';
  [field: string]: unknown;
}

/**
 * A tenant with a webhook endpoint (so events reach the outbox), a customer `cus-1`, two metered features
 * (calls: COUNT of `call`; gb: SUM of `gb` on `upload`) and plans with the given USD prices.
 */
async function tenantWithPlans(
  plans: Record<string, PriceSpec[]>,
  options: { entitlements?: Array<{ plan: string; feature: 'calls' | 'gb'; usage_limit: number | null }> } = {},
) {
  const tenant = await h.newTenant();
  await ok(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' });
  const customer = await ok(tenant, 'POST', '/v1/customers', { external_id: 'cus-1', name: 'Acme' });
  const features = {
    calls: await ok(tenant, 'POST', '/v1/features', {
      name: 'Calls',
      type: 'metered',
      meter: { name: 'Calls', event_name: 'call', aggregation: { type: 'COUNT' }, reset_usage: 'BILLING_PERIOD' },
    }),
    gb: await ok(tenant, 'POST', '/v1/features', {
      name: 'Storage',
      type: 'metered',
      meter: {
        name: 'Storage',
        event_name: 'upload',
        aggregation: { type: 'SUM', field: 'gb' },
        reset_usage: 'BILLING_PERIOD',
      },
    }),
  };
  const planIds: Record<string, string> = {};
  const prices: Record<string, string> = {};
  for (const [name, specs] of Object.entries(plans)) {
    const plan = await ok(tenant, 'POST', '/v1/plans', { name, lookup_key: name.toLowerCase() });
    planIds[name] = plan.id;
    for (const spec of specs) {
      const { meter, ...rest } = spec;
      const price = await ok(tenant, 'POST', '/v1/prices', {
        entity_type: 'PLAN',
        entity_id: plan.id,
        billing_model: 'FLAT_FEE',
        price_unit_type: 'FIAT',
        currency: 'usd',
        billing_period: 'MONTHLY',
        invoice_cadence: spec.type === 'USAGE' ? 'ARREAR' : 'ADVANCE',
        ...(meter ? { meter_id: features[meter].meter_id } : {}),
        ...rest,
      });
      prices[`${name}/${spec.display_name}`] = price.id;
    }
  }
  for (const e of options.entitlements ?? []) {
    await ok(tenant, 'POST', '/v1/entitlements', {
      entity_type: 'PLAN',
      entity_id: planIds[e.plan],
      feature_id: features[e.feature].id,
      feature_type: 'metered',
      usage_limit: e.usage_limit,
      usage_reset_period: 'MONTHLY',
    });
  }
  return { tenant, customer, plans: planIds, prices };
}

async function subscribe(tenant: TestTenant, body: Record<string, unknown>) {
  const response = await h.request(tenant, 'POST', '/v1/subscriptions', {
    currency: 'usd',
    billing_period: 'MONTHLY',
    ...body,
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json() as Json;
}

async function ingest(tenant: TestTenant, events: Array<Record<string, unknown>>) {
  for (let i = 0; i < events.length; i += 500) {
    const response = await h.request(tenant, 'POST', '/v1/events/bulk', {
      events: events.slice(i, i + 500).map((e) => ({ external_customer_id: 'cus-1', ...e })),
    });
    assert.ok(response.statusCode < 300, response.body);
  }
}

const calls = (count: number, timestamp: string) =>
  Array.from({ length: count }, () => ({ event_name: 'call', timestamp }));

/** The period job, as the background runner runs it; a run must not fail for any subscription. */
async function runJob() {
  const result = await h.services.billing.advancePeriods();
  assert.deepEqual(result.failed, []);
  return result;
}

/** A subscription's invoices through POST /v1/invoices/search, oldest period first (creation before cycle). */
async function invoicesOf(tenant: TestTenant, subscriptionId: string) {
  const listed = await ok(tenant, 'POST', '/v1/invoices/search', { subscription_id: subscriptionId, limit: 100 });
  assert.equal(listed.pagination.total, listed.items.length);
  const order = (i: Json) => `${i.period_start} ${i.billing_reason === 'SUBSCRIPTION_CREATE' ? 0 : 1}`;
  return (listed.items as Json[]).sort((a, b) => order(a).localeCompare(order(b)));
}

/** Line items by display name (the order of an invoice's lines is not part of the contract). */
const lines = (invoice: Json) =>
  (invoice.line_items as Json[])
    .map((l) => [l.display_name, l.quantity, l.amount, l.prepaid_credits_applied])
    .sort((a, b) => a[0].localeCompare(b[0]));
const totals = (invoice: Json) => ({
  subtotal: invoice.subtotal,
  total_prepaid_credits_applied: invoice.total_prepaid_credits_applied,
  total: invoice.total,
  amount_due: invoice.amount_due,
  amount_paid: invoice.amount_paid,
  amount_remaining: invoice.amount_remaining,
  payment_status: invoice.payment_status,
});

/** POST /v1/invoices/{id}/finalize (a SuccessResponse), then the invoice as GET /v1/invoices/{id} shows it. */
async function finalize(tenant: TestTenant, invoiceId: string) {
  await ok(tenant, 'POST', `/v1/invoices/${invoiceId}/finalize`);
  return ok(tenant, 'GET', `/v1/invoices/${invoiceId}`);
}

/** The wallet ledger in the order it was written (ids are monotonic ULIDs). */
async function ledger(tenant: TestTenant, walletId: string) {
  const listed = await ok(tenant, 'GET', `/v1/wallets/${walletId}/transactions?limit=100`);
  return (listed.items as Json[]).sort((a, b) => a.id.localeCompare(b.id));
}
const entries = (items: Json[]) =>
  items.map((t) => [t.type, t.transaction_reason, t.credit_amount, t.credit_balance_after]);

async function webhooks(tenant: TestTenant, prefix = '') {
  const rows = await h.database.db
    .selectFrom('webhook_messages')
    .select(['event_type', 'payload'])
    .where('tenant_id', '=', tenant.tenantId)
    .where('environment_id', '=', tenant.environmentId)
    .orderBy('id')
    .execute();
  return rows
    .filter((r) => r.event_type.startsWith(prefix))
    .map((r) => ({ type: r.event_type, payload: JSON.parse(r.payload) as Json }));
}

describe('scenario 1: a prepaid customer drains credits over three monthly periods', () => {
  it('credit adjustment at each finalization, a low-balance alert, then an auto top-up', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plans } = await tenantWithPlans({
      Prepaid: [
        { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '0.5' },
        { type: 'FIXED', display_name: 'Platform', amount: '10', invoice_cadence: 'ARREAR' },
      ],
    });
    const wallet = await ok(tenant, 'POST', '/v1/wallets', {
      customer_id: customer.id,
      currency: 'usd',
      initial_credits_to_load: '50',
      alert_settings: { alert_enabled: true, critical: { threshold: '10', condition: 'below' } },
      auto_topup: { enabled: true, threshold: '5', amount: '40', invoicing: false },
    });
    assert.equal(wallet.wallet_type, 'PRE_PAID');
    const sub = await subscribe(tenant, { plan_id: plans.Prepaid, customer_id: customer.id });
    assert.deepEqual(await invoicesOf(tenant, sub.id), [], 'no ADVANCE price: no creation invoice');

    // January: 40 calls × 0.5 = 20 of usage, plus the 10 ARREAR platform fee.
    await ingest(tenant, calls(40, '2026-01-10T00:00:00Z'));
    clock.set('2026-02-01T00:00:00Z');
    await runJob();
    let [january] = await invoicesOf(tenant, sub.id);
    assert.ok(january);
    assert.equal(january.invoice_status, 'DRAFT');
    assert.equal(january.billing_reason, 'SUBSCRIPTION_CYCLE');
    assert.equal(january.period_start, '2026-01-01T00:00:00.000Z');
    assert.equal(january.period_end, '2026-02-01T00:00:00.000Z');
    january = await finalize(tenant, january.id);
    // Credits pay the USAGE line only: 20 of the 50 credits; total = 30 − 20 = 10 (the fixed fee), still owed.
    assert.deepEqual(lines(january), [
      ['Calls', '40', '20', '20'],
      ['Platform', '1', '10', '0'],
    ]);
    assert.deepEqual(totals(january), {
      subtotal: '30',
      total_prepaid_credits_applied: '20',
      total: '10',
      amount_due: '10',
      amount_paid: '0',
      amount_remaining: '10',
      payment_status: 'PENDING',
    });
    assert.equal(january.invoice_number, 'INV-202602-00001');
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '30'); // 50 − 20

    // February: 44 calls × 0.5 = 22 → the wallet falls to 30 − 22 = 8, at or below the critical threshold 10.
    await ingest(tenant, calls(44, '2026-02-10T00:00:00Z'));
    clock.set('2026-03-01T00:00:00Z');
    await runJob();
    const february = await finalize(tenant, (await invoicesOf(tenant, sub.id))[1]!.id);
    assert.deepEqual(lines(february), [
      ['Calls', '44', '22', '22'],
      ['Platform', '1', '10', '0'],
    ]);
    assert.deepEqual(
      [february.subtotal, february.total_prepaid_credits_applied, february.total],
      ['32', '22', '10'], // 44 × 0.5 + 10 = 32; 32 − 22 = 10
    );
    assert.equal(february.invoice_number, 'INV-202603-00001', 'numbers restart with the month of finalization');
    let current = await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`);
    assert.equal(current.balance, '8'); // 30 − 22
    // 8 is above the auto top-up threshold 5: no top-up yet.

    // March: 30 calls × 0.5 = 15, but only 8 credits are left: 8 applied, 15 − 8 = 7 of usage owed.
    await ingest(tenant, calls(30, '2026-03-10T00:00:00Z'));
    clock.set('2026-04-01T00:00:00Z');
    await runJob();
    const march = await finalize(tenant, (await invoicesOf(tenant, sub.id))[2]!.id);
    assert.deepEqual(lines(march), [
      ['Calls', '30', '15', '8'],
      ['Platform', '1', '10', '0'],
    ]);
    assert.deepEqual(totals(march), {
      subtotal: '25', // 15 + 10
      total_prepaid_credits_applied: '8',
      total: '17', // 25 − 8
      amount_due: '17',
      amount_paid: '0',
      amount_remaining: '17',
      payment_status: 'PENDING',
    });
    assert.equal(march.invoice_number, 'INV-202604-00001');
    // The wallet reached 0; its real-time credits, 0 − 7 unpaid usage = −7, are ≤ 5: auto top-up of 40 credits.
    current = await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`);
    assert.equal(current.balance, '40');
    const realTime = await ok(tenant, 'GET', `/v1/wallets/${wallet.id}/balance/real-time`);
    assert.equal(realTime.real_time_balance, '33'); // 40 − 7 unpaid usage of the March invoice

    assert.deepEqual(entries(await ledger(tenant, wallet.id)), [
      ['credit', 'FREE_CREDIT_GRANT', '50', '50'],
      ['debit', 'CREDIT_ADJUSTMENT', '20', '30'],
      ['debit', 'CREDIT_ADJUSTMENT', '22', '8'],
      ['debit', 'CREDIT_ADJUSTMENT', '8', '0'],
      ['credit', 'PURCHASED_CREDIT_DIRECT', '40', '40'],
    ]);
    const adjustments = (await ledger(tenant, wallet.id)).filter((t) => t.transaction_reason === 'CREDIT_ADJUSTMENT');
    assert.deepEqual(
      adjustments.map((t) => [t.reference_type, t.reference_id]),
      [january, february, march].map((i) => ['INVOICE', i.id]),
    );

    // The three invoices, through GET /v1/invoices as well.
    const listed = await ok(tenant, 'GET', `/v1/invoices?subscription_id=${sub.id}`);
    assert.deepEqual((listed.items as Json[]).map((i) => [i.invoice_number, i.total]).sort(), [
      ['INV-202602-00001', '10'],
      ['INV-202603-00001', '10'],
      ['INV-202604-00001', '17'],
    ]);

    // Alerts: February's finalization drops both streams (credit balance 8 and real-time 8 are ≤ 10); March's
    // auto top-up recovers both (credit balance 40, real-time 33 > 10).
    const alerts = (await webhooks(tenant, 'wallet.')).filter((m) => /balance\.(dropped|recovered)$/.test(m.type));
    assert.deepEqual(
      alerts.map((m) => [m.type, m.payload.alert?.state, m.payload.alert?.credit_balance]),
      [
        // the alert block carries real-time credits, as a JSON number (webhook-events.ts)
        ['wallet.credit_balance.dropped', 'in_alarm', 8],
        ['wallet.ongoing_balance.dropped', 'in_alarm', 8],
        ['wallet.credit_balance.recovered', 'ok', 33],
        ['wallet.ongoing_balance.recovered', 'ok', 33],
      ],
    );
    const finalized = await webhooks(tenant, 'invoice.update.finalized');
    assert.deepEqual(
      finalized.map((m) => [m.payload.invoice?.invoice_number, m.payload.invoice?.total]),
      [
        ['INV-202602-00001', '10'],
        ['INV-202603-00001', '10'],
        ['INV-202604-00001', '17'],
      ],
    );
  });
});

describe('scenario 2: tiered and package usage prices with entitlement allowances', () => {
  it('deducts usage_limit before pricing, and an unlimited (null) entitlement makes the usage free', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const prices = (): PriceSpec[] => [
      {
        type: 'USAGE',
        display_name: 'Calls (slab)',
        meter: 'calls',
        billing_model: 'TIERED',
        tier_mode: 'SLAB',
        tiers: [
          { up_to: 100, unit_amount: '0.1' },
          { up_to: null, unit_amount: '0.05' },
        ],
      },
      {
        type: 'USAGE',
        display_name: 'Calls (package)',
        meter: 'calls',
        billing_model: 'PACKAGE',
        amount: '5',
        transform_quantity: { divide_by: 100 },
      },
      {
        type: 'USAGE',
        display_name: 'Storage (volume)',
        meter: 'gb',
        billing_model: 'TIERED',
        tier_mode: 'VOLUME',
        tiers: [
          { up_to: 50, unit_amount: '2' },
          { up_to: null, unit_amount: '1.5', flat_amount: '10' },
        ],
      },
    ];
    const { tenant, customer, plans } = await tenantWithPlans(
      { Limited: prices(), Unlimited: prices() },
      {
        entitlements: [
          { plan: 'Limited', feature: 'calls', usage_limit: 50 },
          { plan: 'Limited', feature: 'gb', usage_limit: 10 },
          { plan: 'Unlimited', feature: 'calls', usage_limit: null },
        ],
      },
    );
    // Both subscriptions belong to the same customer, so both see the same usage.
    const limited = await subscribe(tenant, { plan_id: plans.Limited, customer_id: customer.id });
    const unlimited = await subscribe(tenant, { plan_id: plans.Unlimited, customer_id: customer.id });
    await ingest(tenant, [
      ...calls(380, '2026-01-05T00:00:00Z'),
      { event_name: 'upload', timestamp: '2026-01-06T00:00:00Z', properties: { gb: 30 } },
      { event_name: 'upload', timestamp: '2026-01-20T00:00:00Z', properties: { gb: '42.5' } },
      { event_name: 'call', timestamp: '2026-02-01T00:00:00Z' }, // next period: not billed in January
    ]);
    clock.set('2026-02-01T00:00:00Z');
    await runJob();

    // Limited: calls 380 − 50 = 330 billable; storage 72.5 − 10 = 62.5 billable.
    //   slab: 100 × 0.1 + 230 × 0.05 = 10 + 11.5 = 21.5
    //   package: ceil(330 / 100) = 4 packages × 5 = 20
    //   volume: 62.5 > 50 → all at the second tier: 62.5 × 1.5 + 10 flat = 93.75 + 10 = 103.75
    //   subtotal 21.5 + 20 + 103.75 = 145.25
    const [limitedInvoice] = await invoicesOf(tenant, limited.id);
    assert.ok(limitedInvoice);
    let invoice = await finalize(tenant, limitedInvoice.id);
    assert.deepEqual(lines(invoice), [
      ['Calls (package)', '330', '20', '0'],
      ['Calls (slab)', '330', '21.5', '0'],
      ['Storage (volume)', '62.5', '103.75', '0'],
    ]);
    assert.deepEqual(totals(invoice), {
      subtotal: '145.25',
      total_prepaid_credits_applied: '0',
      total: '145.25',
      amount_due: '145.25',
      amount_paid: '0',
      amount_remaining: '145.25',
      payment_status: 'PENDING',
    });
    assert.equal(invoice.invoice_number, 'INV-202602-00001');

    // Unlimited: calls free (quantity 0 → slab 0, package 0 packages); storage without entitlement: 72.5 billable
    //   volume: 72.5 × 1.5 + 10 = 108.75 + 10 = 118.75
    const [unlimitedInvoice] = await invoicesOf(tenant, unlimited.id);
    assert.ok(unlimitedInvoice);
    invoice = await finalize(tenant, unlimitedInvoice.id);
    assert.deepEqual(lines(invoice), [
      ['Calls (package)', '0', '0', '0'],
      ['Calls (slab)', '0', '0', '0'],
      ['Storage (volume)', '72.5', '118.75', '0'],
    ]);
    assert.equal(invoice.total, '118.75');
    assert.equal(invoice.invoice_number, 'INV-202602-00002');

    const finalized = await webhooks(tenant, 'invoice.update.finalized');
    assert.deepEqual(
      finalized.map((m) => [m.payload.invoice.subscription_id, m.payload.invoice.total]),
      [
        [limited.id, '145.25'],
        [unlimited.id, '118.75'],
      ],
    );
    const drafted = await webhooks(tenant, 'invoice.create.drafted');
    assert.equal(drafted.length, 2);
  });
});

describe('scenario 3: an annual plan with usage', () => {
  it('an annual subscription takes the ANNUAL prices only and is invoiced once a year; a monthly one the MONTHLY', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plans } = await tenantWithPlans({
      Yearly: [
        { type: 'FIXED', display_name: 'Annual fee', amount: '1200', billing_period: 'ANNUAL' },
        { type: 'USAGE', display_name: 'Calls (annual)', meter: 'calls', amount: '0.1', billing_period: 'ANNUAL' },
        { type: 'USAGE', display_name: 'Calls (monthly)', meter: 'calls', amount: '1' },
      ],
    });
    const other = await ok(tenant, 'POST', '/v1/customers', { external_id: 'cus-2', name: 'Beta' });
    const annual = await subscribe(tenant, {
      plan_id: plans.Yearly,
      customer_id: customer.id,
      billing_period: 'ANNUAL',
    });
    const monthly = await subscribe(tenant, { plan_id: plans.Yearly, customer_id: other.id });
    assert.equal(annual.current_period_end, '2027-01-01T00:00:00.000Z');
    // The subscription's line items snapshot only the plan prices of its own billing period.
    const itemsOf = async (id: string) =>
      ((await ok(tenant, 'GET', `/v1/subscriptions/${id}`)).line_items as Json[]).map((l) => l.display_name).sort();
    assert.deepEqual(await itemsOf(annual.id), ['Annual fee', 'Calls (annual)']);
    assert.deepEqual(await itemsOf(monthly.id), ['Calls (monthly)']);

    // Creation: the annual ADVANCE fee for 2026.
    let [created] = await invoicesOf(tenant, annual.id);
    assert.ok(created);
    assert.equal(created.billing_reason, 'SUBSCRIPTION_CREATE');
    created = await finalize(tenant, created.id);
    assert.deepEqual(lines(created), [['Annual fee', '1', '1200', '0']]);
    assert.equal(created.period_end, '2027-01-01T00:00:00.000Z');
    assert.equal(created.invoice_number, 'INV-202601-00001');

    // 10 calls in the middle of each month of 2026; the job runs on the 1st of every month.
    for (let month = 1; month <= 12; month++) {
      const mm = String(month).padStart(2, '0');
      await ingest(tenant, calls(10, `2026-${mm}-15T00:00:00Z`));
      if (month === 1)
        await ingest(tenant, [
          { event_name: 'call', timestamp: '2026-01-15T00:00:00Z', external_customer_id: 'cus-2' },
        ]);
      clock.set(month === 12 ? '2027-01-01T00:00:00Z' : `2026-${String(month + 1).padStart(2, '0')}-01T00:00:00Z`);
      await runJob();
      if (month === 6) {
        // Mid-year the usage of the year so far: 6 months × 10 calls = 60 × 0.1 = 6.
        const usage = await ok(tenant, 'POST', '/v1/subscriptions/usage', { subscription_id: annual.id });
        assert.equal(usage.amount, 6);
      }
      if (month < 12) assert.equal((await invoicesOf(tenant, annual.id)).length, 1, `no invoice after month ${month}`);
    }
    // 2027-01-01: the year's usage (12 × 10 = 120 calls × 0.1 = 12) plus the 2027 fee 1200 = 1212.
    const annualInvoices = await invoicesOf(tenant, annual.id);
    assert.equal(annualInvoices.length, 2);
    const cycle = await finalize(tenant, annualInvoices[1]!.id);
    assert.equal(cycle.billing_reason, 'SUBSCRIPTION_CYCLE');
    assert.equal(cycle.period_start, '2026-01-01T00:00:00.000Z');
    assert.equal(cycle.period_end, '2027-01-01T00:00:00.000Z');
    assert.deepEqual(lines(cycle), [
      ['Annual fee', '1', '1200', '0'],
      ['Calls (annual)', '120', '12', '0'],
    ]);
    assert.equal(cycle.total, '1212');
    assert.equal(cycle.invoice_number, 'INV-202701-00001');
    const fee = (cycle.line_items as Json[]).find((l) => l.display_name === 'Annual fee')!;
    assert.equal(fee.period_start, '2027-01-01T00:00:00.000Z');
    assert.equal(fee.period_end, '2028-01-01T00:00:00.000Z');

    // The monthly subscription of the other customer: one invoice per month, January with its 1 call × 1 = 1.
    const monthlyInvoices = await invoicesOf(tenant, monthly.id);
    assert.equal(monthlyInvoices.length, 12);
    assert.deepEqual(
      monthlyInvoices.slice(0, 2).map((i) => [i.period_start, i.total]),
      [
        ['2026-01-01T00:00:00.000Z', '1'],
        ['2026-02-01T00:00:00.000Z', '0'],
      ],
    );
  });
});

const upgrade = (target: string) => ({
  target_plan_id: target,
  proration_behavior: 'create_prorations',
  billing_cadence: 'RECURRING',
  billing_cycle: 'anniversary',
  billing_period: 'MONTHLY',
});

describe('scenario 4: mid-period upgrade with day-based proration', () => {
  it("from a usage-only plan: a PRORATION invoice for the new fee; the next cycle bills both plans' usage", async () => {
    clock.set('2026-03-01T00:00:00Z');
    const { tenant, customer, plans, prices } = await tenantWithPlans({
      Starter: [{ type: 'USAGE', display_name: 'Starter calls', meter: 'calls', amount: '0.2' }],
      Pro: [
        { type: 'FIXED', display_name: 'Pro fee', amount: '90' },
        { type: 'USAGE', display_name: 'Pro calls', meter: 'calls', amount: '0.1' },
      ],
    });
    const sub = await subscribe(tenant, { plan_id: plans.Starter, customer_id: customer.id });
    assert.deepEqual(await invoicesOf(tenant, sub.id), [], 'no ADVANCE fee: no creation invoice');
    await ingest(tenant, calls(20, '2026-03-05T00:00:00Z'));
    clock.set('2026-03-11T00:00:00Z'); // 10 of March's 31 days used, 21 remaining
    const executed = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/change/execute`, upgrade(plans.Pro!));
    assert.equal(executed.change_type, 'upgrade');
    // nothing to credit (no fixed fee on Starter); charge 90 × 21/31 = 60.9677… → 60.97
    assert.equal(executed.proration_applied.credit_amount, '0');
    assert.equal(executed.proration_applied.charge_amount, '60.97');
    assert.equal(executed.proration_applied.net_amount, '60.97');
    let proration = await ok(tenant, 'GET', `/v1/invoices/${executed.invoice.id}`);
    assert.deepEqual(
      [proration.billing_reason, proration.invoice_type, proration.subscription_id, proration.invoice_status],
      ['PRORATION', 'SUBSCRIPTION', sub.id, 'DRAFT'],
    );
    assert.equal(proration.period_start, '2026-03-11T00:00:00.000Z');
    assert.equal(proration.period_end, '2026-04-01T00:00:00.000Z');
    assert.deepEqual(
      (proration.line_items as Json[]).map((l) => [l.price_id, l.amount]),
      [[prices['Pro/Pro fee'], '60.97']],
    );
    proration = await finalize(tenant, proration.id);
    assert.deepEqual([proration.subtotal, proration.total, proration.amount_remaining], ['60.97', '60.97', '60.97']);
    assert.equal(proration.invoice_number, 'INV-202603-00001');

    // April 1: March's usage on each plan for the part of the period it was on it, plus April's Pro fee.
    //   Starter calls: 20 (Mar 5) × 0.2 = 4; Pro calls: 30 (Mar 20) × 0.1 = 3; Pro fee 90 → 97
    await ingest(tenant, calls(30, '2026-03-20T00:00:00Z'));
    clock.set('2026-04-01T00:00:00Z');
    await runJob();
    const all = await invoicesOf(tenant, sub.id);
    assert.deepEqual(all.map((i) => i.billing_reason).sort(), ['PRORATION', 'SUBSCRIPTION_CYCLE']);
    const cycle = await finalize(tenant, all.find((i) => i.billing_reason === 'SUBSCRIPTION_CYCLE')!.id);
    assert.deepEqual(lines(cycle), [
      ['Pro calls', '30', '3', '0'],
      ['Pro fee', '1', '90', '0'],
      ['Starter calls', '20', '4', '0'],
    ]);
    const period = (name: string) => {
      const line = (cycle.line_items as Json[]).find((l) => l.display_name === name)!;
      return [line.period_start, line.period_end];
    };
    assert.deepEqual(period('Starter calls'), ['2026-03-01T00:00:00.000Z', '2026-03-11T00:00:00.000Z']);
    assert.deepEqual(period('Pro calls'), ['2026-03-11T00:00:00.000Z', '2026-04-01T00:00:00.000Z']);
    assert.equal(cycle.total, '97');
    assert.equal(cycle.invoice_number, 'INV-202604-00001');
    const changed = await webhooks(tenant, 'subscription.plan_changed');
    assert.deepEqual(
      changed.map((m) => m.payload.subscription.plan_id),
      [plans.Pro],
    );
  });

  it('from a plan with a fixed fee: the unused part is credited to the prepaid wallet, the rest is invoiced', async () => {
    clock.set('2026-03-01T00:00:00Z');
    const { tenant, customer, plans, prices } = await tenantWithPlans({
      Basic: [
        { type: 'FIXED', display_name: 'Basic fee', amount: '30' },
        { type: 'USAGE', display_name: 'Basic calls', meter: 'calls', amount: '0.2' },
      ],
      Pro: [
        { type: 'FIXED', display_name: 'Pro fee', amount: '90' },
        { type: 'USAGE', display_name: 'Pro calls', meter: 'calls', amount: '0.1' },
      ],
    });
    const sub = await subscribe(tenant, { plan_id: plans.Basic, customer_id: customer.id });
    const [created] = await invoicesOf(tenant, sub.id);
    assert.ok(created);
    const createdFinal = await finalize(tenant, created.id);
    assert.deepEqual(lines(createdFinal), [['Basic fee', '1', '30', '0']]);
    assert.equal(createdFinal.invoice_number, 'INV-202603-00001');

    await ingest(tenant, calls(20, '2026-03-05T00:00:00Z'));
    clock.set('2026-03-11T00:00:00Z'); // 10 of March's 31 days used, 21 remaining
    const executed = await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/change/execute`, upgrade(plans.Pro!));
    assert.equal(executed.change_type, 'upgrade');
    // credit 30 × 21/31 = 20.3225… → 20.32; charge 90 × 21/31 = 60.9677… → 60.97; net 60.97 − 20.32 = 40.65
    assert.equal(executed.proration_applied.credit_amount, '20.32');
    assert.equal(executed.proration_applied.charge_amount, '60.97');
    assert.equal(executed.proration_applied.net_amount, '40.65');
    assert.ok(executed.invoice?.id, 'the PRORATION invoice id');
    let proration = await ok(tenant, 'GET', `/v1/invoices/${executed.invoice.id}`);
    assert.equal(proration.billing_reason, 'PRORATION');
    assert.equal(proration.invoice_type, 'SUBSCRIPTION');
    assert.equal(proration.subscription_id, sub.id);
    assert.equal(proration.period_start, '2026-03-11T00:00:00.000Z');
    assert.equal(proration.period_end, '2026-04-01T00:00:00.000Z');
    // As the reference settles it (§6.1): the invoice carries the charge only; the credit of 20.32 for Basic's
    // unused 21 days goes to a (new, 1:1) prepaid wallet as SUBSCRIPTION_CREDIT_GRANT.
    assert.deepEqual(
      (proration.line_items as Json[]).map((l) => [l.price_id, l.amount]),
      [[prices['Pro/Pro fee'], '60.97']],
    );
    const wallet = ((await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`)) as unknown as Json[])[0]!;
    assert.equal(wallet.credit_balance, '20.32');
    assert.deepEqual(
      (await ok(tenant, 'GET', `/v1/wallets/${wallet.id}/transactions`)).items.map((t: Json) => [
        t.transaction_reason,
        t.credit_amount,
      ]),
      [['SUBSCRIPTION_CREDIT_GRANT', '20.32']],
    );
    proration = await finalize(tenant, proration.id);
    // prepaid credits pay usage lines only: the fixed charge stays due in full
    assert.equal(proration.subtotal, '60.97');
    assert.equal(proration.total, '60.97');
    assert.equal(proration.amount_remaining, '60.97');
    assert.equal(proration.invoice_number, 'INV-202603-00002');

    // April 1: March's usage on each plan for the part of the period it was on it, plus April's Pro fee.
    //   Basic calls: 20 (Mar 5) × 0.2 = 4; Pro calls: 30 (Mar 20) × 0.1 = 3; Pro fee 90 → 97
    await ingest(tenant, calls(30, '2026-03-20T00:00:00Z'));
    clock.set('2026-04-01T00:00:00Z');
    await runJob();
    const all = await invoicesOf(tenant, sub.id);
    assert.deepEqual(all.map((i) => i.billing_reason).sort(), [
      'PRORATION',
      'SUBSCRIPTION_CREATE',
      'SUBSCRIPTION_CYCLE',
    ]);
    const cycle = await finalize(tenant, all.find((i) => i.billing_reason === 'SUBSCRIPTION_CYCLE')!.id);
    // the proration credit pays the usage lines at finalization: 4 + 3 = 7 of 20.32 → total 97 − 7 = 90
    assert.deepEqual(lines(cycle), [
      ['Basic calls', '20', '4', '4'],
      ['Pro calls', '30', '3', '3'],
      ['Pro fee', '1', '90', '0'],
    ]);
    assert.equal(cycle.total, '90');
    assert.equal(cycle.invoice_number, 'INV-202604-00001');
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).credit_balance, '13.32');
    const changed = await webhooks(tenant, 'subscription.plan_changed');
    assert.equal(changed.length, 1);
  });
});

describe('scenario 5: cancel at period end', () => {
  it('the final period is invoiced once (no next ADVANCE fee), then nothing more', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plans } = await tenantWithPlans({
      Monthly: [
        { type: 'FIXED', display_name: 'Seat fee', amount: '25' },
        { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' },
      ],
    });
    const sub = await subscribe(tenant, { plan_id: plans.Monthly, customer_id: customer.id });
    await ingest(tenant, calls(6, '2026-01-10T00:00:00Z'));
    clock.set('2026-01-15T00:00:00Z');
    await ok(tenant, 'POST', `/v1/subscriptions/${sub.id}/cancel`, { cancellation_type: 'end_of_period' });
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).subscription_status, 'active');

    clock.set('2026-02-01T00:00:00Z');
    await runJob();
    await runJob();
    assert.equal((await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).subscription_status, 'cancelled');
    // Usage after the end is never billed.
    await ingest(tenant, calls(9, '2026-02-10T00:00:00Z'));
    for (const at of ['2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z']) {
      clock.set(at);
      await runJob();
    }
    const invoices = await invoicesOf(tenant, sub.id);
    // Creation: January's ADVANCE seat fee 25. Final: January's usage 6 × 1 = 6 and no February seat fee.
    assert.deepEqual(
      invoices.map((i) => [i.billing_reason, i.period_start, i.period_end, i.total]),
      [
        ['SUBSCRIPTION_CREATE', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z', '25'],
        ['SUBSCRIPTION_CYCLE', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z', '6'],
      ],
    );
    const final = await finalize(tenant, invoices[1]!.id);
    assert.deepEqual(lines(final), [['Calls', '6', '6', '0']]);
    assert.equal(final.invoice_number, 'INV-202604-00001');
    const cancelled = await webhooks(tenant, 'subscription.cancelled');
    assert.equal(cancelled.length, 1);
    assert.equal(cancelled[0]!.payload.subscription.id, sub.id);
    assert.equal((await webhooks(tenant, 'invoice.create.drafted')).length, 2);
  });
});

describe('scenario 6: a RECURRING credit grant with BILLING_CYCLE expiry', () => {
  it('is applied once per period; what the previous period left expires', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plans } = await tenantWithPlans({
      Granted: [{ type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' }],
    });
    await ok(tenant, 'POST', '/v1/creditgrants', {
      name: 'Monthly credits',
      scope: 'PLAN',
      plan_id: plans.Granted,
      credits: '20',
      cadence: 'RECURRING',
      period: 'MONTHLY',
      period_count: 1,
      expiration_type: 'BILLING_CYCLE',
      priority: 1,
    });
    const sub = await subscribe(tenant, { plan_id: plans.Granted, customer_id: customer.id });
    const wallets = await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`);
    assert.equal(wallets.length, 1);
    const wallet = wallets[0];
    assert.equal(wallet.balance, '20'); // January's 20, expiring at the period end Feb 1

    // January: 5 calls = 5. Feb 1: the invoice, and February's 20 (expiring Mar 1) → 40 credits.
    await ingest(tenant, calls(5, '2026-01-10T00:00:00Z'));
    clock.set('2026-02-01T00:00:00Z');
    await runJob();
    await runJob();
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '40');
    // Finalizing January's invoice uses January's credits first (same priority, earlier expiry): 20 − 5 = 15 left.
    const january = await finalize(tenant, (await invoicesOf(tenant, sub.id))[0]!.id);
    assert.deepEqual(lines(january), [['Calls', '5', '5', '5']]);
    assert.deepEqual([january.total, january.payment_status], ['0', 'SUCCEEDED']);
    // The expiry job: not within the 6 h grace after the expiry; then January's remaining 15 expire → 40 − 5 − 15.
    clock.set('2026-02-01T00:00:01Z');
    assert.equal((await h.services.wallets.expireCredits({ scope: tenant })).expired, 0);
    clock.set('2026-02-01T06:00:01Z');
    assert.equal((await h.services.wallets.expireCredits({ scope: tenant })).expired, 1);
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '20');

    // February: 28 calls = 28. Mar 1: March's 20 arrive (40); the invoice takes February's 20 then 8 of March's.
    await ingest(tenant, calls(28, '2026-02-10T00:00:00Z'));
    clock.set('2026-03-01T00:00:00Z');
    await runJob();
    const february = await finalize(tenant, (await invoicesOf(tenant, sub.id))[1]!.id);
    assert.deepEqual(lines(february), [['Calls', '28', '28', '28']]);
    assert.equal(february.total, '0');
    clock.set('2026-03-01T06:00:01Z');
    const expiry = await h.services.wallets.expireCredits({ scope: tenant });
    assert.equal(expiry.expired, 0, "February's lot was used up: nothing to expire");
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '12'); // 40 − 28

    const items = await ledger(tenant, wallet.id);
    assert.deepEqual(entries(items), [
      ['credit', 'SUBSCRIPTION_CREDIT_GRANT', '20', '20'],
      ['credit', 'SUBSCRIPTION_CREDIT_GRANT', '20', '40'],
      ['debit', 'CREDIT_ADJUSTMENT', '5', '35'],
      ['debit', 'CREDIT_EXPIRED', '15', '20'],
      ['credit', 'SUBSCRIPTION_CREDIT_GRANT', '20', '40'],
      ['debit', 'CREDIT_ADJUSTMENT', '28', '12'],
    ]);
    const grants = items.filter((t) => t.transaction_reason === 'SUBSCRIPTION_CREDIT_GRANT');
    assert.deepEqual(
      grants.map((t) => [t.expiry_date, t.credits_available]),
      [
        ['2026-02-01T00:00:00.000Z', '0'], // 20 − 5 used − 15 expired
        ['2026-03-01T00:00:00.000Z', '0'], // 20 used by February's invoice
        ['2026-04-01T00:00:00.000Z', '12'], // 20 − 8
      ],
    );
    const upcoming = await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}/grants/upcoming`);
    assert.deepEqual(
      (upcoming.items as Json[]).map((a) => [a.scheduled_for, a.credits]),
      [['2026-04-01T00:00:00.000Z', '20']],
    );
    const created = await webhooks(tenant, 'wallet.transaction.created');
    assert.equal(created.length, 6, 'one wallet.transaction.created per ledger entry');
  });
  /** A plan with a 20-credit monthly grant expiring at each period end; a subscription from Jan 1; 5 calls. */
  async function grantedSubscription() {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plans } = await tenantWithPlans({
      Granted: [{ type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' }],
    });
    await ok(tenant, 'POST', '/v1/creditgrants', {
      name: 'Monthly credits',
      scope: 'PLAN',
      plan_id: plans.Granted,
      credits: '20',
      cadence: 'RECURRING',
      period: 'MONTHLY',
      period_count: 1,
      expiration_type: 'BILLING_CYCLE',
      priority: 1,
    });
    const sub = await subscribe(tenant, { plan_id: plans.Granted, customer_id: customer.id });
    const wallet = (await ok(tenant, 'GET', `/v1/customers/${customer.id}/wallets`))[0] as Json;
    await ingest(tenant, calls(5, '2026-01-10T00:00:00Z'));
    const januaryLot = (await ledger(tenant, wallet.id))[0]!;
    assert.equal(januaryLot.expiry_date, '2026-02-01T00:00:00.000Z');
    return { tenant, sub, wallet, januaryLot };
  }

  it("keeps the ended period's credits for its unpaid invoice (active_invoice) until it is paid", async () => {
    const { tenant, sub, wallet, januaryLot } = await grantedSubscription();
    clock.set('2026-02-01T00:00:00Z');
    await runJob();
    // The expiry job runs past the grace before the January draft is finalized: January's lot (created Jan 1,
    // inside the invoice's period, expiring at its end) is kept for that invoice.
    clock.set('2026-02-01T06:10:00Z');
    const kept = await h.services.wallets.expireCredits({ scope: tenant });
    assert.deepEqual(kept, {
      expired: 0,
      kept: [{ transaction_id: januaryLot.id, reason: 'active_invoice' }],
      more: false,
    });
    // Still owed: the next runs (before the recheck time) pass over the lot; nothing is expired.
    assert.deepEqual((await h.services.wallets.expireCredits({ scope: tenant })).kept, []);
    clock.set('2026-02-01T06:30:00Z');
    assert.deepEqual((await h.services.wallets.expireCredits({ scope: tenant })).kept, [
      { transaction_id: januaryLot.id, reason: 'active_invoice' },
    ]);
    // Finalizing pays the 5 calls from January's credits (valid at the period's end, kept for it).
    const january = await finalize(tenant, (await invoicesOf(tenant, sub.id))[0]!.id);
    assert.deepEqual([january.total, january.total_prepaid_credits_applied], ['0', '5']);
    // Paid: once the recheck time has come, the remaining 20 − 5 = 15 expire; February's 20 stay whole.
    assert.equal((await h.services.wallets.expireCredits({ scope: tenant })).expired, 0);
    clock.set('2026-02-01T06:45:00Z');
    assert.equal((await h.services.wallets.expireCredits({ scope: tenant })).expired, 1);
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '20');
    assert.deepEqual(entries(await ledger(tenant, wallet.id)).slice(-2), [
      ['debit', 'CREDIT_ADJUSTMENT', '5', '35'],
      ['debit', 'CREDIT_EXPIRED', '15', '20'],
    ]);
  });

  it('keeps credits while billing lags behind (active_subscription), then for the invoice; a void releases them', async () => {
    const { tenant, sub, wallet, januaryLot } = await grantedSubscription();
    // The billing job has not run since the period ended: the subscription's period end is in the past.
    clock.set('2026-02-01T07:00:00Z');
    assert.deepEqual((await h.services.wallets.expireCredits({ scope: tenant })).kept, [
      { transaction_id: januaryLot.id, reason: 'active_subscription' },
    ]);
    await runJob();
    clock.set('2026-02-01T07:15:00Z');
    assert.deepEqual((await h.services.wallets.expireCredits({ scope: tenant })).kept, [
      { transaction_id: januaryLot.id, reason: 'active_invoice' },
    ]);
    // Voiding the unpaid draft releases the lot at the next look: all of January's 20 expire.
    const january = (await invoicesOf(tenant, sub.id))[0]!;
    await ok(tenant, 'POST', `/v1/invoices/${january.id}/void`);
    clock.set('2026-02-01T07:30:00Z');
    assert.equal((await h.services.wallets.expireCredits({ scope: tenant })).expired, 1);
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '20'); // February's 20
  });

  it('bounded batches still make progress and terminate when kept lots fill them', async () => {
    const { tenant, wallet } = await grantedSubscription();
    // Three more lots of the same customer expiring before January's, all kept while billing lags.
    for (const [i, expiry] of ['2026-01-20', '2026-01-21', '2026-01-22'].entries()) {
      await ok(tenant, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
        credits_to_add: '1',
        transaction_reason: 'FREE_CREDIT_GRANT',
        expiry_date_utc: `${expiry}T00:00:00Z`,
        idempotency_key: `lot-${i}`,
      });
    }
    // An unrelated customer's expired lot (no subscription, nothing keeps it) sorts after them.
    const other = await ok(tenant, 'POST', '/v1/customers', { external_id: 'cus-2', name: 'Other' });
    const otherWallet = await ok(tenant, 'POST', '/v1/wallets', { customer_id: other.id, currency: 'usd' });
    await ok(tenant, 'POST', `/v1/wallets/${otherWallet.id}/top-up`, {
      credits_to_add: '7',
      transaction_reason: 'FREE_CREDIT_GRANT',
      expiry_date_utc: '2026-01-31T12:00:00Z',
      idempotency_key: 'other-lot',
    });
    clock.set('2026-02-01T07:00:00Z');
    const runs = [];
    for (let run = 0; run < 10; run++) {
      const result = await h.services.wallets.expireCredits({ scope: tenant, limit: 2 });
      runs.push([result.expired, result.kept.length, result.more]);
      if (!result.more) break;
    }
    // 2 kept (batch full: more), 1 kept + 1 expired (more), then the last kept lot alone: done.
    assert.deepEqual(runs, [
      [0, 2, true],
      [1, 1, true],
      [0, 1, false],
    ]);
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${otherWallet.id}`)).balance, '0');
  });
});

describe('scenario 7: void an invoice that consumed prepaid credits', () => {
  it('refunds the credits to the wallet exactly once, however often the void is retried', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plans } = await tenantWithPlans({
      Usage: [{ type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '2' }],
    });
    const wallet = await ok(tenant, 'POST', '/v1/wallets', {
      customer_id: customer.id,
      currency: 'usd',
      initial_credits_to_load: '100',
    });
    const sub = await subscribe(tenant, { plan_id: plans.Usage, customer_id: customer.id });
    await ingest(tenant, calls(12, '2026-01-10T00:00:00Z'));
    clock.set('2026-02-01T00:00:00Z');
    await runJob();
    const invoice = await finalize(tenant, (await invoicesOf(tenant, sub.id))[0]!.id);
    // 12 calls × 2 = 24, all paid by credits: total 0, SUCCEEDED; wallet 100 − 24 = 76.
    assert.deepEqual(lines(invoice), [['Calls', '12', '24', '24']]);
    assert.deepEqual(
      [invoice.total_prepaid_credits_applied, invoice.total, invoice.payment_status],
      ['24', '0', 'SUCCEEDED'],
    );
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '76');

    clock.set('2026-02-03T00:00:00Z');
    const [first, second] = await Promise.all([
      h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/void`),
      h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/void`),
    ]);
    const statuses = [first!.statusCode, second!.statusCode].sort();
    assert.deepEqual(statuses, [200, 400], `${first!.body} ${second!.body}`);
    assertEnvelope(await h.request(tenant, 'POST', `/v1/invoices/${invoice.id}/void`), 400, 'invalid_operation');

    const voided = await ok(tenant, 'GET', `/v1/invoices/${invoice.id}`);
    assert.deepEqual([voided.invoice_status, voided.payment_status], ['VOIDED', 'VOIDED']);
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${wallet.id}`)).balance, '100'); // 76 + 24
    const items = await ledger(tenant, wallet.id);
    assert.deepEqual(entries(items), [
      ['credit', 'FREE_CREDIT_GRANT', '100', '100'],
      ['debit', 'CREDIT_ADJUSTMENT', '24', '76'],
      ['credit', 'INVOICE_VOID_REFUND', '24', '100'],
    ]);
    assert.equal((await webhooks(tenant, 'invoice.update.voided')).length, 1);
    const searched = await ok(tenant, 'POST', '/v1/invoices/search', {
      customer_id: customer.id,
      invoice_status: ['VOIDED'],
    });
    assert.deepEqual(
      (searched.items as Json[]).map((i) => i.id),
      [invoice.id],
    );
  });
});

describe('scenario 8: the billing job run twice, and interrupted halfway', () => {
  it('still produces each invoice once', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const { tenant, customer, plans } = await tenantWithPlans({
      Metered: [
        { type: 'FIXED', display_name: 'Fee', amount: '5' },
        { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '1' },
      ],
    });
    const sub = await subscribe(tenant, { plan_id: plans.Metered, customer_id: customer.id });
    await ingest(tenant, [
      ...calls(3, '2026-01-10T00:00:00Z'),
      ...calls(4, '2026-02-10T00:00:00Z'),
      ...calls(5, '2026-03-10T00:00:00Z'),
    ]);
    // The February period's transaction fails after its invoice was written: rolled back with the period move.
    crashOn.add(`${sub.id}:2026-02-01T00:00:00.000Z`);
    clock.set('2026-04-02T00:00:00Z');
    const crashed = await h.services.billing.advancePeriods();
    assert.deepEqual(
      crashed.failed.map((f) => [f.subscription_id, (f.error as Error).message]),
      [[sub.id, 'crash while invoicing']],
    );
    assert.equal(
      (await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).current_period_start,
      '2026-02-01T00:00:00.000Z',
    );
    assert.equal((await invoicesOf(tenant, sub.id)).length, 2, 'creation and January only');
    await runJob();
    await runJob();
    assert.equal(
      (await ok(tenant, 'GET', `/v1/subscriptions/${sub.id}`)).current_period_start,
      '2026-04-01T00:00:00.000Z',
    );

    // Creation: January's fee 5. Each cycle: the month's calls + the next month's fee 5.
    //   Jan 3 + 5 = 8; Feb 4 + 5 = 9; Mar 5 + 5 = 10
    const invoices = await invoicesOf(tenant, sub.id);
    assert.deepEqual(
      invoices.map((i) => [i.billing_reason, i.period_start, i.total]),
      [
        ['SUBSCRIPTION_CREATE', '2026-01-01T00:00:00.000Z', '5'],
        ['SUBSCRIPTION_CYCLE', '2026-01-01T00:00:00.000Z', '8'],
        ['SUBSCRIPTION_CYCLE', '2026-02-01T00:00:00.000Z', '9'],
        ['SUBSCRIPTION_CYCLE', '2026-03-01T00:00:00.000Z', '10'],
      ],
    );
    // Finalized in period order, they are numbered without gaps in April.
    const numbers = [];
    for (const invoice of invoices) numbers.push((await finalize(tenant, invoice.id)).invoice_number);
    assert.deepEqual(numbers, ['INV-202604-00001', 'INV-202604-00002', 'INV-202604-00003', 'INV-202604-00004']);
    // The rolled-back draft left no webhook behind: one invoice.create.drafted per invoice.
    const drafted = await webhooks(tenant, 'invoice.create.drafted');
    assert.deepEqual(drafted.map((m) => m.payload.invoice.id).sort(), invoices.map((i) => i.id).sort());
  });
});

describe('draft finalization (the invoices.finalize-drafts task)', () => {
  it('finalizes subscription drafts once the delay has passed: prepaid credits pay usage, POST_PAID wallets pay the rest', async () => {
    clock.set('2026-05-01T00:00:00Z');
    const { tenant, customer, plans } = await tenantWithPlans({
      Metered: [
        { type: 'FIXED', display_name: 'Platform fee', amount: '10' },
        { type: 'USAGE', display_name: 'Calls', meter: 'calls', amount: '0.5' },
      ],
    });
    const prepaid = await ok(tenant, 'POST', '/v1/wallets', {
      customer_id: customer.id,
      currency: 'usd',
      initial_credits_to_load: '100',
    });
    const postpaid = await ok(tenant, 'POST', '/v1/wallets', {
      customer_id: customer.id,
      currency: 'usd',
      wallet_type: 'POST_PAID',
      initial_credits_to_load: '50',
    });
    const sub = await subscribe(tenant, { plan_id: plans.Metered, customer_id: customer.id });
    await ingest(tenant, calls(8, '2026-05-10T00:00:00Z'));
    const finalizeDue = () => h.services.invoices.finalizeDueDrafts({ delaySeconds: 7200 });

    // The creation invoice (written May 1) is not due before 02:00.
    clock.set('2026-05-01T01:59:59Z');
    await finalizeDue();
    assert.deepEqual(
      (await invoicesOf(tenant, sub.id)).map((i) => i.invoice_status),
      ['DRAFT'],
    );
    // June 1: the job writes May's cycle draft; the creation draft is long due, the new one not yet.
    clock.set('2026-06-01T00:00:00Z');
    await runJob();
    await finalizeDue();
    const [created, firstCycle] = await invoicesOf(tenant, sub.id);
    let cycle = firstCycle;
    assert.equal(created!.invoice_status, 'FINALIZED');
    assert.equal(cycle!.invoice_status, 'DRAFT');
    // the creation invoice has only the fixed fee: prepaid credits do not pay it, the POST_PAID wallet does
    assert.deepEqual(totals(created!), {
      subtotal: '10',
      total_prepaid_credits_applied: '0',
      total: '10',
      amount_due: '10',
      amount_paid: '10',
      amount_remaining: '0',
      payment_status: 'SUCCEEDED',
    });

    // 02:00 on June 1: May's invoice finalizes. Usage 8 × 0.5 = 4 paid by prepaid credits (100 → 96); June's fee 10
    // by the POST_PAID wallet (50 − 10 for May's creation fee = 40 → 30).
    clock.set('2026-06-01T02:00:00Z');
    await finalizeDue();
    [, cycle] = await invoicesOf(tenant, sub.id);
    assert.equal(cycle!.invoice_status, 'FINALIZED');
    assert.deepEqual(totals(cycle!), {
      subtotal: '14',
      total_prepaid_credits_applied: '4',
      total: '10',
      amount_due: '10',
      amount_paid: '10',
      amount_remaining: '0',
      payment_status: 'SUCCEEDED',
    });
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${prepaid.id}`)).credit_balance, '96');
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${postpaid.id}`)).credit_balance, '30');
    // running it again changes nothing
    await finalizeDue();
    assert.equal((await ok(tenant, 'GET', `/v1/wallets/${postpaid.id}`)).credit_balance, '30');
    assert.equal((await webhooks(tenant, 'invoice.update.finalized')).length, 2);
  });
});

describe('drafts', () => {
  it('a draft subscription is billed from its activation, not its creation', async () => {
    clock.set('2026-07-01T00:00:00Z');
    const { tenant, customer, plans } = await tenantWithPlans({
      Seat: [{ type: 'FIXED', display_name: 'Seat fee', amount: '25' }],
    });
    const draft = await subscribe(tenant, {
      plan_id: plans.Seat,
      customer_id: customer.id,
      subscription_status: 'draft',
    });
    assert.equal(draft.subscription_status, 'draft');
    assert.deepEqual(await invoicesOf(tenant, draft.id), []);
    clock.set('2026-07-10T00:00:00Z');
    await runJob(); // a draft is never invoiced by the job
    assert.deepEqual(await invoicesOf(tenant, draft.id), []);
    const activated = await ok(tenant, 'POST', `/v1/subscriptions/${draft.id}/activate`, {
      start_date: '2026-07-10T00:00:00Z',
    });
    assert.equal(activated.subscription_status, 'active');
    const [created] = await invoicesOf(tenant, draft.id);
    assert.equal(created!.billing_reason, 'SUBSCRIPTION_CREATE');
    assert.equal(created!.period_start, '2026-07-10T00:00:00.000Z');
    assert.equal(created!.period_end, '2026-08-10T00:00:00.000Z');
    assert.deepEqual(lines(created!), [['Seat fee', '1', '25', '0']]);
  });
});
