import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

async function createEndpoint(tenant: TestTenant, body: Record<string, unknown> = {}) {
  const response = await h.request(tenant, 'POST', '/v1/webhook-endpoints', {
    url: 'https://hooks.example.test/tally',
    ...body,
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

describe('POST /v1/webhook-endpoints', () => {
  it('creates an endpoint with 201 and shows its whsec_ secret once', async () => {
    const tenant = await h.newTenant();
    const created = await createEndpoint(tenant, {
      description: 'billing sync',
      event_types: ['customer.created', 'wallet.created'],
    });
    assert.match(created.id, /^whep_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(created.url, 'https://hooks.example.test/tally');
    assert.equal(created.description, 'billing sync');
    assert.deepEqual(created.event_types, ['customer.created', 'wallet.created']);
    assert.equal(created.enabled, true);
    assert.equal(created.source, 'api');
    assert.equal(created.failing_since, null);
    assert.equal(created.tenant_id, tenant.tenantId);
    assert.equal(created.environment_id, tenant.environmentId);
    assert.match(created.secret, /^whsec_[A-Za-z0-9+/]{32}$/);

    const fetched = await h.request(tenant, 'GET', `/v1/webhook-endpoints/${created.id}`);
    assert.equal(fetched.statusCode, 200);
    assert.equal('secret' in fetched.json(), false);
    assert.equal(fetched.body.includes(created.secret), false);
    const listed = await h.request(tenant, 'GET', '/v1/webhook-endpoints');
    assert.equal(listed.body.includes(created.secret), false);
  });

  it('defaults to every event type and enabled', async () => {
    const tenant = await h.newTenant();
    const created = await createEndpoint(tenant, { url: 'http://127.0.0.1:9/x' });
    assert.deepEqual(created.event_types, []);
    assert.equal(created.enabled, true);
  });

  it('accepts an endpoint created disabled', async () => {
    const tenant = await h.newTenant();
    const created = await createEndpoint(tenant, { enabled: false });
    assert.equal(created.enabled, false);
  });

  const invalid: Array<[string, unknown]> = [
    ['a missing url', { description: 'x' }],
    ['an ftp url', { url: 'ftp://files.example.test/in' }],
    ['a relative url', { url: '/hooks' }],
    ['a javascript: url', { url: 'javascript:alert(1)' }],
    ['an unknown event type', { url: 'https://a.test/', event_types: ['customer.exploded'] }],
    ['event_types that is not a list', { url: 'https://a.test/', event_types: 'customer.created' }],
    ['enabled as a string', { url: 'https://a.test/', enabled: 'yes' }],
  ];
  for (const [what, body] of invalid) {
    it(`answers 400 for ${what} and creates nothing`, async () => {
      const tenant = await h.newTenant();
      assertEnvelope(await h.request(tenant, 'POST', '/v1/webhook-endpoints', body), 400, 'validation_error');
      const listed = await h.request(tenant, 'GET', '/v1/webhook-endpoints');
      assert.equal(listed.json().pagination.total, 0);
    });
  }

  it('answers 401 without an API key', async () => {
    assertEnvelope(await h.request(null, 'POST', '/v1/webhook-endpoints', { url: 'https://a.test/' }), 401);
  });
});

describe('GET /v1/webhook-endpoints', () => {
  it('lists the environment’s endpoints newest first, paged', async () => {
    const tenant = await h.newTenant();
    const first = await createEndpoint(tenant);
    const second = await createEndpoint(tenant);
    const third = await createEndpoint(tenant);
    const page = await h.request(tenant, 'GET', '/v1/webhook-endpoints?limit=2&offset=0');
    assert.equal(page.statusCode, 200);
    assert.deepEqual(
      page.json().items.map((e: { id: string }) => e.id),
      [third.id, second.id],
    );
    assert.deepEqual(page.json().pagination, { total: 3, limit: 2, offset: 0 });
    const rest = await h.request(tenant, 'GET', '/v1/webhook-endpoints?limit=2&offset=2');
    assert.deepEqual(
      rest.json().items.map((e: { id: string }) => e.id),
      [first.id],
    );
  });

  it('does not show another environment’s endpoints', async () => {
    const a = await h.newTenant();
    const b = await h.newTenant();
    const endpoint = await createEndpoint(a);
    assert.equal((await h.request(b, 'GET', '/v1/webhook-endpoints')).json().pagination.total, 0);
    assertEnvelope(await h.request(b, 'GET', `/v1/webhook-endpoints/${endpoint.id}`), 404, 'not_found');
    assertEnvelope(await h.request(b, 'PUT', `/v1/webhook-endpoints/${endpoint.id}`, { enabled: false }), 404);
    assertEnvelope(await h.request(b, 'DELETE', `/v1/webhook-endpoints/${endpoint.id}`), 404);
    assertEnvelope(await h.request(b, 'POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`), 404);
    assertEnvelope(await h.request(b, 'GET', `/v1/webhook-endpoints/${endpoint.id}/messages`), 404);
    assert.equal((await h.request(a, 'GET', `/v1/webhook-endpoints/${endpoint.id}`)).json().enabled, true);
  });
});

describe('PUT /v1/webhook-endpoints/{id}', () => {
  it('changes only the fields sent', async () => {
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant, { description: 'keep me', event_types: ['customer.created'] });
    const response = await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint.id}`, {
      url: 'https://other.example.test/in',
      event_types: ['customer.updated', 'customer.updated', 'customer.deleted'],
    });
    assert.equal(response.statusCode, 200, response.body);
    const updated = response.json();
    assert.equal(updated.url, 'https://other.example.test/in');
    assert.deepEqual(updated.event_types, ['customer.updated', 'customer.deleted']);
    assert.equal(updated.description, 'keep me');
    assert.equal(updated.enabled, true);
    assert.equal('secret' in updated, false);
  });

  it('disables and re-enables, saying why it is disabled', async () => {
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    const off = (await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint.id}`, { enabled: false })).json();
    assert.equal(off.enabled, false);
    assert.equal(off.disabled_reason, 'disabled by request');
    assert.ok(off.disabled_at);
    const on = (await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint.id}`, { enabled: true })).json();
    assert.equal(on.enabled, true);
    assert.equal(on.disabled_reason, '');
    assert.equal(on.disabled_at, null);
  });

  it('answers 400 for a non-http url and leaves the endpoint as it was', async () => {
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint.id}`, { url: 'mailto:a@b.test' }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint.id}`, { event_types: ['nope'] }),
      400,
      'validation_error',
    );
    const fetched = (await h.request(tenant, 'GET', `/v1/webhook-endpoints/${endpoint.id}`)).json();
    assert.equal(fetched.url, endpoint.url);
    assert.deepEqual(fetched.event_types, []);
  });

  it('answers 404 for an unknown endpoint', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(await h.request(tenant, 'PUT', '/v1/webhook-endpoints/whep_nope', { enabled: true }), 404);
  });
});

describe('DELETE /v1/webhook-endpoints/{id}', () => {
  it('deletes with 204, then the endpoint is gone', async () => {
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    const response = await h.request(tenant, 'DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
    assert.equal(response.statusCode, 204);
    assertEnvelope(await h.request(tenant, 'GET', `/v1/webhook-endpoints/${endpoint.id}`), 404);
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/webhook-endpoints/${endpoint.id}`), 404);
  });
});

describe('POST /v1/webhook-endpoints/{id}/rotate-secret', () => {
  it('returns a new secret, different from the old one', async () => {
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    const response = await h.request(tenant, 'POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`);
    assert.equal(response.statusCode, 200, response.body);
    const rotated = response.json();
    assert.match(rotated.secret, /^whsec_/);
    assert.notEqual(rotated.secret, endpoint.secret);
    assert.equal(rotated.id, endpoint.id);
  });
});

describe('GET /v1/webhook-endpoints/{id}/messages', () => {
  it('answers 400 for an unknown status filter', async () => {
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    assertEnvelope(
      await h.request(tenant, 'GET', `/v1/webhook-endpoints/${endpoint.id}/messages?status=lost`),
      400,
      'validation_error',
    );
  });
});

describe('GET /v1/webhook-messages/{id}', () => {
  it('answers 404 for an unknown message, and for resend of one', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(await h.request(tenant, 'GET', '/v1/webhook-messages/msg_nope'), 404, 'not_found');
    assertEnvelope(await h.request(tenant, 'POST', '/v1/webhook-messages/msg_nope/resend'), 404, 'not_found');
  });
});
