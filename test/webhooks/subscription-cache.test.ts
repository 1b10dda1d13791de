import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';

/**
 * On the embedded engine the outbox keeps each environment's endpoint subscriptions in memory (the process is the
 * database's only writer). Every endpoint change must be seen by the very next event: a cached "nobody listens"
 * must not swallow events after an endpoint is created, and a removed or narrowed endpoint must stop receiving.
 * On PostgreSQL the same test runs with the cache off.
 */
let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

async function customerCreated(tenant: TestTenant, externalId: string) {
  const response = await h.request(tenant, 'POST', '/v1/customers', { external_id: externalId, name: externalId });
  assert.equal(response.statusCode, 201, response.body);
}

async function messagesPerEndpoint(tenant: TestTenant) {
  const rows = await h.database.db
    .selectFrom('webhook_messages')
    .select(['endpoint_id', 'event_type'])
    .where('tenant_id', '=', tenant.tenantId)
    .where('environment_id', '=', tenant.environmentId)
    .orderBy('id')
    .execute();
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.endpoint_id, (counts.get(row.endpoint_id) ?? 0) + 1);
  return counts;
}

describe('outbox subscriptions follow endpoint changes at once', () => {
  it('create, narrow, disable and delete each take effect for the next event', async () => {
    const tenant = await h.newTenant();
    await customerCreated(tenant, 'before-any-endpoint'); // nobody subscribed: nothing stored (and cached so)
    assert.equal((await messagesPerEndpoint(tenant)).size, 0);

    const created = await h.request(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/a' });
    assert.equal(created.statusCode, 201, created.body);
    const endpoint = created.json().id as string;
    await customerCreated(tenant, 'after-create');
    assert.equal((await messagesPerEndpoint(tenant)).get(endpoint), 1);

    const narrowed = await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint}`, {
      event_types: ['wallet.created'],
    });
    assert.equal(narrowed.statusCode, 200, narrowed.body);
    await customerCreated(tenant, 'after-narrow');
    assert.equal((await messagesPerEndpoint(tenant)).get(endpoint), 1, 'a narrowed endpoint stops receiving');

    const widened = await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint}`, { event_types: [] });
    assert.equal(widened.statusCode, 200, widened.body);
    await customerCreated(tenant, 'after-widen');
    assert.equal((await messagesPerEndpoint(tenant)).get(endpoint), 2);

    const disabled = await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint}`, { enabled: false });
    assert.equal(disabled.statusCode, 200, disabled.body);
    await customerCreated(tenant, 'after-disable');
    assert.equal((await messagesPerEndpoint(tenant)).get(endpoint), 2, 'a disabled endpoint stops receiving');

    const other = await h.request(tenant, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/b' });
    const second = other.json().id as string;
    const deleted = await h.request(tenant, 'DELETE', `/v1/webhook-endpoints/${second}`);
    assert.ok(deleted.statusCode < 300, deleted.body);
    await customerCreated(tenant, 'after-delete');
    const counts = await messagesPerEndpoint(tenant);
    assert.equal(counts.get(endpoint), 2);
    assert.equal(counts.get(second) ?? 0, 0);
  });
});
