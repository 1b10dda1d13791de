import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';

/**
 * Subscribing races deleting the plan or the customer, on real PostgreSQL (PGlite has one connection, so nothing
 * there runs concurrently): whatever the interleaving, no live subscription may end up on an archived plan or
 * customer.
 */
const skip = process.env.DATABASE_URL
  ? false
  : 'needs PostgreSQL: set DATABASE_URL to run the subscription concurrency tests';

let h: Harness;
before(async () => {
  if (!skip) h = await startHarness();
});
after(async () => {
  if (!skip) await h.close();
});

async function fixture(tenant: TestTenant, i: number) {
  const customer = (await h.request(tenant, 'POST', '/v1/customers', { external_id: `c-${i}`, name: 'c' })).json();
  const plan = (await h.request(tenant, 'POST', '/v1/plans', { name: `p-${i}` })).json();
  const price = await h.request(tenant, 'POST', '/v1/prices', {
    entity_type: 'PLAN',
    entity_id: plan.id,
    type: 'FIXED',
    billing_model: 'FLAT_FEE',
    price_unit_type: 'FIAT',
    amount: '1',
    currency: 'usd',
    billing_period: 'MONTHLY',
    invoice_cadence: 'ADVANCE',
  });
  assert.equal(price.statusCode, 201, price.body);
  return { customer, plan };
}

describe('subscriptions under concurrency', { skip }, () => {
  it('never leaves a live subscription on a deleted plan or customer', async () => {
    const tenant = await h.newTenant();
    const rounds = 20;
    for (let i = 0; i < rounds; i++) {
      const { customer, plan } = await fixture(tenant, i);
      const body = { plan_id: plan.id, customer_id: customer.id, currency: 'usd', billing_period: 'MONTHLY' };
      const target = i % 2 === 0 ? `/v1/plans/${plan.id}` : `/v1/customers/${customer.id}`;
      const [created, deleted] = await Promise.all([
        h.request(tenant, 'POST', '/v1/subscriptions', body),
        h.request(tenant, 'DELETE', target),
      ]);
      // exactly one side wins
      if (created.statusCode === 201) {
        assert.equal(deleted.statusCode, 400, deleted.body);
      } else {
        assert.equal(created.statusCode, 404, created.body);
        assert.ok(deleted.statusCode === 200 || deleted.statusCode === 204, deleted.body);
      }
    }
    const orphans = await h.database.db
      .selectFrom('subscriptions as s')
      .leftJoin('plans as p', 'p.id', 's.plan_id')
      .leftJoin('customers as c', 'c.id', 's.customer_id')
      .select('s.id')
      .where('s.tenant_id', '=', tenant.tenantId)
      .where((eb) => eb.or([eb('p.status', '<>', 'published'), eb('c.status', '<>', 'published')]))
      .execute();
    assert.deepEqual(orphans, []);
  });

  it('never leaves an active addon association on a deleted addon, nor two of a onetime addon', async () => {
    const tenant = await h.newTenant();
    const { customer, plan } = await fixture(tenant, 1000);
    const sub = (
      await h.request(tenant, 'POST', '/v1/subscriptions', {
        plan_id: plan.id,
        customer_id: customer.id,
        currency: 'usd',
        billing_period: 'MONTHLY',
      })
    ).json();
    for (let i = 0; i < 10; i++) {
      const addon = (await h.request(tenant, 'POST', '/v1/addons', { name: `a-${i}`, lookup_key: `a-${i}` })).json();
      const price = await h.request(tenant, 'POST', '/v1/prices', {
        entity_type: 'ADDON',
        entity_id: addon.id,
        type: 'FIXED',
        billing_model: 'FLAT_FEE',
        price_unit_type: 'FIAT',
        amount: '1',
        currency: 'usd',
        billing_period: 'MONTHLY',
        invoice_cadence: 'ADVANCE',
      });
      assert.equal(price.statusCode, 201, price.body);
      const attach = () =>
        h.request(tenant, 'POST', '/v1/subscriptions/addon', { subscription_id: sub.id, addon_id: addon.id });
      if (i % 2 === 0) {
        const [attached, deleted] = await Promise.all([
          attach(),
          h.request(tenant, 'DELETE', `/v1/addons/${addon.id}`),
        ]);
        if (attached.statusCode === 200) assert.equal(deleted.statusCode, 400, deleted.body);
        else {
          assert.equal(attached.statusCode, 404, attached.body);
          assert.ok(deleted.statusCode < 300, deleted.body);
        }
      } else {
        const statuses = (await Promise.all([attach(), attach()])).map((r) => r.statusCode).sort();
        assert.deepEqual(statuses, [200, 409]);
      }
    }
    const orphans = await h.database.db
      .selectFrom('addon_associations as a')
      .innerJoin('addons as x', 'x.id', 'a.addon_id')
      .select('a.id')
      .where('a.tenant_id', '=', tenant.tenantId)
      .where('a.addon_status', '=', 'active')
      .where('x.status', '<>', 'published')
      .execute();
    assert.deepEqual(orphans, []);
  });
});
