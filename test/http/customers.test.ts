import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertEnvelope, type Harness, nextMillisecond, startHarness, type TestTenant } from '../support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

async function createCustomer(tenant: TestTenant, body: Record<string, unknown> = {}) {
  const response = await h.request(tenant, 'POST', '/v1/customers', {
    external_id: `ext-${Math.random().toString(36).slice(2)}`,
    name: 'Acme Corp',
    ...body,
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

describe('POST /v1/customers', () => {
  it('creates a customer with 201 and every field of the reference response', async () => {
    const tenant = await h.newTenant();
    const response = await h.request(tenant, 'POST', '/v1/customers', {
      external_id: 'acme-1',
      name: 'Acme',
      email: 'billing@acme.test',
      contact: '+1 555 0100',
      address_line1: '1 Main St',
      address_city: 'Springfield',
      address_state: 'IL',
      address_postal_code: '62701',
      address_country: 'US',
      timezone: 'America/Chicago',
      metadata: { plan: 'pro' },
    });
    assert.equal(response.statusCode, 201, response.body);
    const customer = response.json();
    assert.match(customer.id, /^cust_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(customer.external_id, 'acme-1');
    assert.equal(customer.address_country, 'US');
    assert.equal(customer.timezone, 'America/Chicago');
    assert.deepEqual(customer.metadata, { plan: 'pro' });
    assert.equal(customer.status, 'published');
    assert.equal(customer.tenant_id, tenant.tenantId);
    assert.equal(customer.environment_id, tenant.environmentId);
    assert.match(customer.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  });

  it('defaults timezone to UTC and metadata to an empty map', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(tenant);
    assert.equal(customer.timezone, 'UTC');
    assert.deepEqual(customer.metadata, {});
  });

  it('answers 409 for an external_id a live customer already has, and allows it again after delete', async () => {
    const tenant = await h.newTenant();
    const first = await createCustomer(tenant, { external_id: 'dup' });
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/customers', { external_id: 'dup', name: 'x' }),
      409,
      'already_exists',
    );
    assert.equal((await h.request(tenant, 'DELETE', `/v1/customers/${first.id}`)).statusCode, 204);
    const again = await h.request(tenant, 'POST', '/v1/customers', { external_id: 'dup', name: 'x' });
    assert.equal(again.statusCode, 201, again.body);
  });

  it('lets two environments use the same external_id', async () => {
    const a = await h.newTenant();
    const b = await h.newTenant();
    await createCustomer(a, { external_id: 'shared' });
    await createCustomer(b, { external_id: 'shared' });
  });

  const invalid: Array<[string, unknown]> = [
    ['a missing name', { external_id: 'x' }],
    ['a missing external_id', { name: 'x' }],
    ['a number for name', { external_id: 'x', name: 42 }],
    ['an invalid email', { external_id: 'x', name: 'n', email: 'not-an-email' }],
    ['an unknown country', { external_id: 'x', name: 'n', address_country: 'XX' }],
    ['an unknown timezone', { external_id: 'x', name: 'n', timezone: 'Mars/Olympus' }],
    ['an external_id with a space', { external_id: 'a b', name: 'n' }],
    ['a non-string metadata value', { external_id: 'x', name: 'n', metadata: { a: 1 } }],
    ['a too long contact', { external_id: 'x', name: 'n', contact: '1'.repeat(21) }],
    ['an array body', [1, 2]],
  ];
  for (const [what, body] of invalid) {
    it(`rejects ${what} with 400 and writes nothing`, async () => {
      const tenant = await h.newTenant();
      assertEnvelope(await h.request(tenant, 'POST', '/v1/customers', body), 400, 'validation_error');
      const list = await h.request(tenant, 'GET', '/v1/customers');
      assert.equal(list.json().pagination.total, 0);
    });
  }

  it('rejects malformed JSON with the 400 envelope', async () => {
    const tenant = await h.newTenant();
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/customers',
      headers: { ...tenant.headers, 'content-type': 'application/json' },
      payload: '{"external_id": ',
    });
    assertEnvelope(response, 400, 'validation_error');
  });
});

describe('GET /v1/customers/{id} and /external/{external_id}', () => {
  it('reads a customer by id and by external id', async () => {
    const tenant = await h.newTenant();
    const created = await createCustomer(tenant, { external_id: 'ext-read' });
    const byId = await h.request(tenant, 'GET', `/v1/customers/${created.id}`);
    assert.equal(byId.statusCode, 200);
    assert.deepEqual(byId.json(), created);
    const byExternal = await h.request(tenant, 'GET', '/v1/customers/external/ext-read');
    assert.equal(byExternal.statusCode, 200);
    assert.equal(byExternal.json().id, created.id);
  });

  it('answers 404 for an unknown or deleted customer', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(await h.request(tenant, 'GET', '/v1/customers/cust_nope'), 404, 'not_found');
    assertEnvelope(await h.request(tenant, 'GET', '/v1/customers/external/nope'), 404, 'not_found');
    const created = await createCustomer(tenant);
    await h.request(tenant, 'DELETE', `/v1/customers/${created.id}`);
    assertEnvelope(await h.request(tenant, 'GET', `/v1/customers/${created.id}`), 404, 'not_found');
  });
});

describe('PUT /v1/customers', () => {
  it('updates by id, changing only the fields sent and replacing metadata', async () => {
    const tenant = await h.newTenant();
    const created = await createCustomer(tenant, { email: 'a@b.co', metadata: { a: '1', b: '2' } });
    const response = await h.request(tenant, 'PUT', `/v1/customers?id=${created.id}`, {
      name: 'Renamed',
      metadata: { c: '3' },
    });
    assert.equal(response.statusCode, 200, response.body);
    const updated = response.json();
    assert.equal(updated.name, 'Renamed');
    assert.equal(updated.email, 'a@b.co');
    assert.deepEqual(updated.metadata, { c: '3' });
    assert.ok(updated.updated_at >= created.updated_at);
  });

  it('updates by external_customer_id', async () => {
    const tenant = await h.newTenant();
    await createCustomer(tenant, { external_id: 'by-ext' });
    const response = await h.request(tenant, 'PUT', '/v1/customers?external_customer_id=by-ext', { email: 'x@y.io' });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().email, 'x@y.io');
  });

  it('refuses an external_id another live customer has (409) and changes nothing', async () => {
    const tenant = await h.newTenant();
    await createCustomer(tenant, { external_id: 'taken' });
    const other = await createCustomer(tenant, { external_id: 'mine' });
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/customers?id=${other.id}`, { external_id: 'taken', name: 'changed' }),
      409,
      'already_exists',
    );
    const after = (await h.request(tenant, 'GET', `/v1/customers/${other.id}`)).json();
    assert.equal(after.external_id, 'mine');
    assert.equal(after.name, other.name);
  });

  it('answers 400 without an id and 404 for an unknown one', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(await h.request(tenant, 'PUT', '/v1/customers', { name: 'x' }), 400, 'validation_error');
    assertEnvelope(await h.request(tenant, 'PUT', '/v1/customers?id=cust_nope', { name: 'x' }), 404, 'not_found');
  });
});

describe('DELETE /v1/customers/{id}', () => {
  it('answers 204 with no body and archives the customer', async () => {
    const tenant = await h.newTenant();
    const created = await createCustomer(tenant);
    const response = await h.request(tenant, 'DELETE', `/v1/customers/${created.id}`);
    assert.equal(response.statusCode, 204);
    assert.equal(response.body, '');
    const archived = await h.request(tenant, 'POST', '/v1/customers/search', { status: 'archived' });
    assert.deepEqual(
      archived.json().items.map((c: { id: string }) => c.id),
      [created.id],
    );
  });

  it('answers 404 for a customer deleted twice', async () => {
    const tenant = await h.newTenant();
    const created = await createCustomer(tenant);
    await h.request(tenant, 'DELETE', `/v1/customers/${created.id}`);
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/customers/${created.id}`), 404, 'not_found');
  });
});

describe('listing and search', () => {
  it('pages with total, limit and the request offset', async () => {
    const tenant = await h.newTenant();
    for (let i = 0; i < 5; i++) await createCustomer(tenant, { external_id: `page-${i}`, name: `Customer ${i}` });
    const page = (await h.request(tenant, 'GET', '/v1/customers?limit=2&offset=2')).json();
    assert.deepEqual(page.pagination, { total: 5, limit: 2, offset: 2 });
    assert.equal(page.items.length, 2);
    // default order: newest first
    assert.deepEqual(
      page.items.map((c: { external_id: string }) => c.external_id),
      ['page-2', 'page-1'],
    );
    const defaults = (await h.request(tenant, 'GET', '/v1/customers')).json();
    assert.deepEqual(defaults.pagination, { total: 5, limit: 50, offset: 0 });
  });

  it('rejects a limit outside 1..1000 and a bad order', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(await h.request(tenant, 'GET', '/v1/customers?limit=0'), 400, 'validation_error');
    assertEnvelope(await h.request(tenant, 'GET', '/v1/customers?limit=1001'), 400, 'validation_error');
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/customers/search', { order: 'sideways' }),
      400,
      'validation_error',
    );
    assertEnvelope(await h.request(tenant, 'POST', '/v1/customers/search', { offset: -1 }), 400, 'validation_error');
  });

  it('filters with every DSL operator', async () => {
    const tenant = await h.newTenant();
    // The date filters below need each customer in its own millisecond.
    const a = await createCustomer(tenant, { external_id: 'f-a', name: 'Alpha', email: 'a@x.io' });
    await nextMillisecond();
    const b = await createCustomer(tenant, { external_id: 'f-b', name: 'Beta', email: 'b@x.io' });
    await nextMillisecond();
    const c = await createCustomer(tenant, { external_id: 'f-c', name: 'Gamma', email: 'c@y.io' });
    const search = async (filters: unknown[], sort?: unknown[]) => {
      const response = await h.request(tenant, 'POST', '/v1/customers/search', {
        filters,
        ...(sort ? { sort } : { sort: [{ field: 'name', direction: 'asc' }] }),
      });
      assert.equal(response.statusCode, 200, response.body);
      return response.json().items.map((x: { name: string }) => x.name);
    };
    const s = (field: string, operator: string, value: string) => ({
      field,
      operator,
      data_type: 'string',
      value: { string: value },
    });
    const d = (operator: string, value: string) => ({
      field: 'created_at',
      operator,
      data_type: 'date',
      value: { date: value },
    });
    assert.deepEqual(await search([s('name', 'eq', 'Beta')]), ['Beta']);
    assert.deepEqual(await search([s('email', 'contains', 'X.IO')]), ['Alpha', 'Beta']);
    assert.deepEqual(await search([s('email', 'not_contains', 'x.io')]), ['Gamma']);
    assert.deepEqual(
      await search([{ field: 'external_id', operator: 'in', data_type: 'array', value: { array: ['f-a', 'f-c'] } }]),
      ['Alpha', 'Gamma'],
    );
    assert.deepEqual(
      await search([{ field: 'external_id', operator: 'not_in', data_type: 'array', value: { array: ['f-a'] } }]),
      ['Beta', 'Gamma'],
    );
    assert.deepEqual(await search([s('name', 'gt', 'Beta')]), ['Gamma']);
    assert.deepEqual(await search([s('name', 'gte', 'Beta')]), ['Beta', 'Gamma']);
    assert.deepEqual(await search([s('name', 'lt', 'Beta')]), ['Alpha']);
    assert.deepEqual(await search([s('name', 'lte', 'Beta')]), ['Alpha', 'Beta']);
    assert.deepEqual(await search([d('after', b.created_at)]), ['Gamma']);
    assert.deepEqual(await search([d('before', b.created_at)]), ['Alpha']);
    assert.deepEqual(await search([d('gte', b.created_at)]), ['Beta', 'Gamma']);
    assert.deepEqual(await search([d('lte', b.created_at)]), ['Alpha', 'Beta']);
    assert.deepEqual(await search([], [{ field: 'name', direction: 'desc' }]), ['Gamma', 'Beta', 'Alpha']);
    const byIds = await h.request(tenant, 'POST', '/v1/customers/search', { customer_ids: [a.id, c.id] });
    assert.equal(byIds.json().pagination.total, 2);
    const byExternal = await h.request(tenant, 'GET', '/v1/customers?external_ids=f-a,f-b');
    assert.equal(byExternal.json().pagination.total, 2);
  });

  it('matches metadata exactly in search', async () => {
    const tenant = await h.newTenant();
    await createCustomer(tenant, { metadata: { tier: 'gold', region: 'eu' } });
    await createCustomer(tenant, { metadata: { tier: 'silver' } });
    const response = await h.request(tenant, 'POST', '/v1/customers/search', { metadata: { tier: 'gold' } });
    assert.equal(response.json().pagination.total, 1);
  });

  it('rejects unknown filter fields, sort fields, operators and expand values with 400', async () => {
    const tenant = await h.newTenant();
    const bad = [
      { filters: [{ field: 'password', operator: 'eq', data_type: 'string', value: { string: 'x' } }] },
      { filters: [{ field: 'name', operator: 'regex', data_type: 'string', value: { string: 'x' } }] },
      { filters: [{ field: 'name', operator: 'eq', data_type: 'string', value: {} }] },
      { filters: [{ field: 'created_at', operator: 'after', data_type: 'date', value: { date: 'yesterday' } }] },
      { sort: [{ field: 'nope', direction: 'asc' }] },
      { expand: 'wallets' },
    ];
    for (const body of bad) {
      assertEnvelope(await h.request(tenant, 'POST', '/v1/customers/search', body), 400, 'validation_error');
    }
  });
});

describe('auth and isolation', () => {
  it('answers 401 with the envelope without a key or with a bad key', async () => {
    assertEnvelope(await h.request(null, 'GET', '/v1/customers'), 401);
    assertEnvelope(await h.request(null, 'GET', '/v1/customers', undefined, { 'x-api-key': 'sk_bogus' }), 401);
    assertEnvelope(await h.request(null, 'POST', '/v1/customers', { external_id: 'x', name: 'y' }), 401);
  });

  it("never lets one environment read or change another's customers (404)", async () => {
    const owner = await h.newTenant();
    const stranger = await h.newTenant();
    const created = await createCustomer(owner, { external_id: 'private' });
    assertEnvelope(await h.request(stranger, 'GET', `/v1/customers/${created.id}`), 404);
    assertEnvelope(await h.request(stranger, 'GET', '/v1/customers/external/private'), 404);
    assertEnvelope(await h.request(stranger, 'PUT', `/v1/customers?id=${created.id}`, { name: 'pwned' }), 404);
    assertEnvelope(await h.request(stranger, 'DELETE', `/v1/customers/${created.id}`), 404);
    const list = (await h.request(stranger, 'POST', '/v1/customers/search', {})).json();
    assert.equal(list.pagination.total, 0);
    const still = (await h.request(owner, 'GET', `/v1/customers/${created.id}`)).json();
    assert.equal(still.name, created.name);
  });

  it('echoes X-Request-ID, or generates one', async () => {
    const tenant = await h.newTenant();
    const echoed = await h.request(tenant, 'GET', '/v1/customers', undefined, { 'x-request-id': 'req-123' });
    assert.equal(echoed.headers['x-request-id'], 'req-123');
    const generated = await h.request(tenant, 'GET', '/v1/customers');
    assert.match(String(generated.headers['x-request-id']), /^[0-9A-Z]{26}$/);
  });
});
