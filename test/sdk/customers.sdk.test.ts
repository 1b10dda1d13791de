import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Harness } from '../support/harness.ts';
import { FlexPriceError, type SdkServer, startSdkServer } from '../support/sdk.ts';

let h: Harness;
let sdkFor: SdkServer['sdkFor'];
before(async () => {
  ({ h, sdkFor } = await startSdkServer());
});
after(async () => {
  await h.close();
});

function statusOf(expected: number) {
  return (error: unknown) => {
    assert.ok(error instanceof FlexPriceError, `expected a FlexPriceError, got ${String(error)}`);
    assert.equal((error as FlexPriceError).statusCode, expected, (error as FlexPriceError).body);
    return true;
  };
}

describe('official SDK: customers', () => {
  it('creates a customer (201) and reads it by id and by external id', async () => {
    const sdk = sdkFor(await h.newTenant());
    const created = await sdk.customers.createCustomer({
      externalId: 'sdk-acme',
      name: 'Acme',
      email: 'billing@acme.test',
      addressLine1: '1 Main St',
      addressCity: 'Springfield',
      addressPostalCode: '62701',
      addressCountry: 'US',
      metadata: { plan: 'pro' },
    });
    assert.match(created.id ?? '', /^cust_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(created.externalId, 'sdk-acme');
    assert.equal(created.addressCountry, 'US');
    assert.deepEqual(created.metadata, { plan: 'pro' });
    assert.equal(created.status, 'published');

    const byId = await sdk.customers.getCustomer(created.id!);
    assert.deepEqual(byId, created);
    const byExternal = await sdk.customers.getCustomerByExternalId('sdk-acme');
    assert.equal(byExternal.id, created.id);
    assert.equal(byExternal.email, 'billing@acme.test');
  });

  it('updates by id and by external customer id', async () => {
    const sdk = sdkFor(await h.newTenant());
    const created = await sdk.customers.createCustomer({ externalId: 'sdk-upd', name: 'Before' });
    const byId = await sdk.customers.updateCustomer({ name: 'After', metadata: { a: '1' } }, created.id);
    assert.equal(byId.name, 'After');
    assert.deepEqual(byId.metadata, { a: '1' });
    const byExternal = await sdk.customers.updateCustomer({ email: 'new@acme.test' }, undefined, 'sdk-upd');
    assert.equal(byExternal.id, created.id);
    assert.equal(byExternal.email, 'new@acme.test');
    assert.equal(byExternal.name, 'After');
    assert.equal((await sdk.customers.getCustomer(created.id!)).email, 'new@acme.test');
  });

  it('deletes a customer (204, no body) so that it is no longer found', async () => {
    const sdk = sdkFor(await h.newTenant());
    const created = await sdk.customers.createCustomer({ externalId: 'sdk-del', name: 'Gone' });
    const deleted = await sdk.customers.deleteCustomer(created.id!);
    assert.equal(deleted, undefined);
    await assert.rejects(sdk.customers.getCustomer(created.id!), statusOf(404));
    await assert.rejects(sdk.customers.getCustomerByExternalId('sdk-del'), statusOf(404));
    await assert.rejects(sdk.customers.deleteCustomer(created.id!), statusOf(404));
  });

  it('queries customers with filters, sort and paging', async () => {
    const sdk = sdkFor(await h.newTenant());
    for (const [externalId, name] of [
      ['q-1', 'Alpha'],
      ['q-2', 'Beta'],
      ['q-3', 'Gamma'],
    ] as const) {
      await sdk.customers.createCustomer({ externalId, name });
    }
    const page = await sdk.customers.queryCustomer({
      limit: 2,
      offset: 1,
      sort: [{ field: 'name', direction: 'asc' }],
    });
    assert.deepEqual(
      page.items?.map((c) => c.name),
      ['Beta', 'Gamma'],
    );
    assert.deepEqual(page.pagination, { total: 3, limit: 2, offset: 1 });

    const filtered = await sdk.customers.queryCustomer({
      filters: [{ field: 'name', operator: 'gt', dataType: 'string', value: { string: 'Alpha' } }],
      sort: [{ field: 'name', direction: 'desc' }],
    });
    assert.deepEqual(
      filtered.items?.map((c) => c.name),
      ['Gamma', 'Beta'],
    );
    const byExternalIds = await sdk.customers.queryCustomer({ externalIds: ['q-1', 'q-3'] });
    assert.equal(byExternalIds.pagination?.total, 2);
    const byExternalId = await sdk.customers.queryCustomer({ externalId: 'q-2' });
    assert.deepEqual(
      byExternalId.items?.map((c) => c.name),
      ['Beta'],
    );
  });

  it('surfaces validation (400), conflicts (409) and a bad key (401) as FlexPriceError with the status', async () => {
    const tenant = await h.newTenant();
    const sdk = sdkFor(tenant);
    await sdk.customers.createCustomer({ externalId: 'sdk-dup', name: 'First' });
    await assert.rejects(sdk.customers.createCustomer({ externalId: 'sdk-dup', name: 'Second' }), statusOf(409));
    await assert.rejects(
      sdk.customers.createCustomer({ externalId: 'sdk-bad', name: 'Bad', email: 'not-an-email' }),
      statusOf(400),
    );
    await assert.rejects(sdk.customers.updateCustomer({ name: 'x' }), statusOf(400));
    await assert.rejects(sdkFor({ apiKey: 'sk_not_a_key' }).customers.getCustomer('cust_x'), statusOf(401));
  });

  it("cannot see another environment's customers through the SDK", async () => {
    const owner = sdkFor(await h.newTenant());
    const stranger = sdkFor(await h.newTenant());
    const created = await owner.customers.createCustomer({ externalId: 'sdk-private', name: 'Private' });
    await assert.rejects(stranger.customers.getCustomer(created.id!), statusOf(404));
    await assert.rejects(stranger.customers.getCustomerByExternalId('sdk-private'), statusOf(404));
    await assert.rejects(stranger.customers.updateCustomer({ name: 'x' }, created.id), statusOf(404));
    assert.equal((await stranger.customers.queryCustomer({})).pagination?.total, 0);
  });
});
