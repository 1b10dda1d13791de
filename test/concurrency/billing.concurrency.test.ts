import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServices } from '../../src/app.ts';
import type { InvoiceDraft } from '../../src/modules/billing/draft.ts';
import { TestClock } from '../../src/platform/clock.ts';
import { type Harness, startHarness } from '../support/harness.ts';

/**
 * Two billing workers (two service instances over the same PostgreSQL database, as two processes would be) run the
 * period job at the same time after the clock jumped several periods: every period is invoiced exactly once and
 * every recurring grant period credits the wallet exactly once. PGlite has one connection, so this needs PostgreSQL.
 */
const skip = process.env.DATABASE_URL
  ? false
  : 'needs PostgreSQL: set DATABASE_URL to run the billing concurrency tests';

const clock = new TestClock('2026-01-01T00:00:00Z');
let h: Harness;
before(async () => {
  if (!skip) h = await startHarness({ clock, isolated: true });
});
after(async () => {
  if (!skip) await h.close();
});

describe('billing job under concurrency', { skip }, () => {
  it('two workers running at once invoice each period and apply each grant period exactly once', async () => {
    const tenant = await h.newTenant();
    const ok = async (method: 'POST' | 'GET', url: string, body?: unknown) => {
      const response = await h.request(tenant, method, url, body);
      assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
      return response.json();
    };
    const feature = await ok('POST', '/v1/features', {
      name: 'Calls',
      type: 'metered',
      meter: { name: 'Calls', event_name: 'call', aggregation: { type: 'COUNT' }, reset_usage: 'BILLING_PERIOD' },
    });
    const plan = await ok('POST', '/v1/plans', { name: 'Pro' });
    const price = { entity_type: 'PLAN', entity_id: plan.id, billing_model: 'FLAT_FEE', price_unit_type: 'FIAT' };
    await ok('POST', '/v1/prices', {
      ...price,
      type: 'USAGE',
      meter_id: feature.meter_id,
      amount: '1',
      currency: 'usd',
      billing_period: 'MONTHLY',
      invoice_cadence: 'ARREAR',
    });
    await ok('POST', '/v1/creditgrants', {
      name: 'Monthly',
      scope: 'PLAN',
      plan_id: plan.id,
      credits: '5',
      cadence: 'RECURRING',
      period: 'MONTHLY',
      period_count: 1,
      expiration_type: 'NEVER',
    });
    const subscriptions = 12;
    const ids: string[] = [];
    for (let i = 0; i < subscriptions; i++) {
      const customer = await ok('POST', '/v1/customers', { external_id: `c-${i}`, name: 'c' });
      const sub = await ok('POST', '/v1/subscriptions', {
        plan_id: plan.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
      });
      ids.push(sub.id);
      await ok('POST', '/v1/events', {
        event_name: 'call',
        external_customer_id: `c-${i}`,
        timestamp: '2026-01-05T00:00:00Z',
      });
    }

    clock.set('2026-04-10T00:00:00Z');
    const written: InvoiceDraft[] = [];
    const workers = [0, 1].map(() => createServices(h.database, clock).billing);
    for (const worker of workers) {
      worker.onPeriodInvoice(async (_tx, _scope, draft) => {
        written.push(draft);
      });
    }
    await Promise.all(workers.map((worker) => worker.advancePeriods({ limit: 5 })));
    // Whatever is left after the first batch (limit 5), both workers finish concurrently too.
    for (let round = 0; round < 5; round++) {
      await Promise.all(workers.map((worker) => worker.advancePeriods({ limit: 5 })));
    }

    const keys = written.map((d) => d.idempotency_key).sort();
    assert.equal(keys.length, subscriptions * 3, 'January, February and March of every subscription');
    assert.equal(new Set(keys).size, keys.length, 'no period invoiced twice');
    const stored = await h.database.db
      .selectFrom('invoices')
      .select(['idempotency_key'])
      .where('tenant_id', '=', tenant.tenantId)
      .where('billing_reason', '=', 'SUBSCRIPTION_CYCLE')
      .execute();
    assert.deepEqual(stored.map((r) => r.idempotency_key).sort(), keys, 'the invoices written are those periods');
    for (const id of ids) {
      const sub = await ok('GET', `/v1/subscriptions/${id}`);
      assert.equal(sub.current_period_start, '2026-04-01T00:00:00.000Z');
    }
    const grants = await h.database.db
      .selectFrom('wallet_transactions')
      .select(['wallet_id', 'idempotency_key'])
      .where('tenant_id', '=', tenant.tenantId)
      .where('transaction_reason', '=', 'SUBSCRIPTION_CREDIT_GRANT')
      .execute();
    // Jan (at creation), Feb, Mar, Apr per subscription.
    assert.equal(grants.length, subscriptions * 4);
    assert.equal(new Set(grants.map((g) => g.wallet_id)).size, subscriptions);
  });

  it('two workers start and end each scheduled pause and apply each end-of-period plan change exactly once', async () => {
    clock.set('2026-01-01T00:00:00Z');
    const tenant = await h.newTenant();
    const ok = async (method: 'POST' | 'GET', url: string, body?: unknown) => {
      const response = await h.request(tenant, method, url, body);
      assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
      return response.json();
    };
    await ok('POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.test/subs' });
    const [basic, pro] = [
      await ok('POST', '/v1/plans', { name: 'Basic' }),
      await ok('POST', '/v1/plans', { name: 'Pro' }),
    ];
    for (const [plan, amount] of [
      [basic, '10'],
      [pro, '25'],
    ] as const) {
      await ok('POST', '/v1/prices', {
        entity_type: 'PLAN',
        entity_id: plan.id,
        billing_model: 'FLAT_FEE',
        price_unit_type: 'FIAT',
        type: 'FIXED',
        amount,
        currency: 'usd',
        billing_period: 'MONTHLY',
        invoice_cadence: 'ADVANCE',
      });
    }
    const subscriptions = 8;
    const ids: string[] = [];
    for (let i = 0; i < subscriptions; i++) {
      const customer = await ok('POST', '/v1/customers', { external_id: `p-${i}`, name: 'c' });
      const sub = await ok('POST', '/v1/subscriptions', {
        plan_id: basic.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
      });
      ids.push(sub.id);
      if (i % 2 === 0) {
        await ok('POST', `/v1/subscriptions/${sub.id}/pause`, {
          pause_mode: 'scheduled',
          pause_start: '2026-01-15T00:00:00Z',
          pause_end: '2026-03-20T00:00:00Z',
        });
      } else {
        await ok('POST', `/v1/subscriptions/${sub.id}/change/execute`, {
          target_plan_id: pro.id,
          proration_behavior: 'none',
          billing_cadence: 'RECURRING',
          billing_cycle: 'anniversary',
          billing_period: 'MONTHLY',
          change_at: 'end_of_period',
        });
      }
    }

    const workers = [0, 1].map(() => createServices(h.database, clock).billing);
    for (const at of ['2026-01-20T00:00:00Z', '2026-04-10T00:00:00Z']) {
      clock.set(at);
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all(workers.map((worker) => worker.advancePeriods({ limit: 3 })));
        for (const result of results) assert.deepEqual(result.failed, []);
      }
    }

    const events = await h.database.db
      .selectFrom('webhook_messages')
      .select(['event_type'])
      .where('tenant_id', '=', tenant.tenantId)
      .where('event_type', 'in', ['subscription.paused', 'subscription.resumed', 'subscription.plan_changed'])
      .execute();
    const count = (type: string) => events.filter((e) => e.event_type === type).length;
    assert.equal(count('subscription.paused'), subscriptions / 2);
    assert.equal(count('subscription.resumed'), subscriptions / 2);
    assert.equal(count('subscription.plan_changed'), subscriptions / 2);
    const invoices = await h.database.db
      .selectFrom('invoices')
      .select(['subscription_id', 'period_start', 'total'])
      .where('tenant_id', '=', tenant.tenantId)
      .where('billing_reason', '=', 'SUBSCRIPTION_CYCLE')
      .orderBy('period_start')
      .execute();
    for (const [i, id] of ids.entries()) {
      const sub = await ok('GET', `/v1/subscriptions/${id}`);
      assert.equal(sub.subscription_status, 'active');
      assert.equal(sub.current_period_start, '2026-04-01T00:00:00.000Z');
      const own = invoices.filter((inv) => inv.subscription_id === id).map((inv) => String(Number(inv.total)));
      // Paused 15 Jan → 20 Mar: nothing at 1 Feb (no usage prices, February paused throughout), March's fee
      // (resumed in it) and April's. Changed at 1 Feb: from February on at Pro's fee.
      assert.deepEqual(own, i % 2 === 0 ? ['10', '10'] : ['25', '25', '25'], `invoices of ${id}`);
      assert.equal(sub.plan_id, i % 2 === 0 ? basic.id : pro.id);
    }
  });
});
