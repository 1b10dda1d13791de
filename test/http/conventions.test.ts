import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { systemClock } from '../../src/platform/clock.ts';
import type { App } from '../../src/platform/http/app-types.ts';
import { assertEnvelope, type Harness, openIsolatedDatabase, startHarness } from '../support/harness.ts';

/** API conventions every endpoint shares: body-size limit, content type, CORS off by default, request ids. */

let h: Harness;
let small: App;
let withCors: App;
before(async () => {
  h = await startHarness();
  small = (await buildApp({ database: h.database, clock: systemClock, bodyLimitBytes: 2048 })).app;
  withCors = (await buildApp({ database: h.database, clock: systemClock, corsOrigins: ['https://app.example'] })).app;
});
after(async () => {
  await small.close();
  await withCors.close();
  await h.close();
});

describe('HTTP conventions', () => {
  it('refuses a body over the size limit with the 400 envelope and writes nothing', async () => {
    const tenant = await h.newTenant();
    const response = await small.inject({
      method: 'POST',
      url: '/v1/customers',
      headers: { ...tenant.headers, 'content-type': 'application/json' },
      payload: JSON.stringify({ external_id: 'big', name: 'x'.repeat(4096) }),
    });
    assertEnvelope(response, 400, 'validation_error');
    assert.match(response.json().message, /too large/);
    const fits = await small.inject({
      method: 'POST',
      url: '/v1/customers',
      headers: tenant.headers,
      payload: { external_id: 'fits', name: 'small' },
    });
    assert.equal(fits.statusCode, 201);
    assert.equal((await h.request(tenant, 'GET', '/v1/customers')).json().pagination.total, 1);
  });

  it('refuses a body that is not JSON with the 400 envelope', async () => {
    const tenant = await h.newTenant();
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/customers',
      headers: { ...tenant.headers, 'content-type': 'text/plain' },
      payload: 'external_id=x&name=y',
    });
    assertEnvelope(response, 400, 'validation_error');
    const empty = await h.app.inject({
      method: 'POST',
      url: '/v1/customers',
      headers: { ...tenant.headers, 'content-type': 'application/json' },
      payload: '',
    });
    assertEnvelope(empty, 400, 'validation_error');
  });

  it('sends no CORS headers unless origins are configured, and then only for those', async () => {
    const tenant = await h.newTenant();
    const origin = { origin: 'https://app.example' };
    const plain = await h.request(tenant, 'GET', '/v1/customers', undefined, origin);
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
    const preflight = await h.app.inject({
      method: 'OPTIONS',
      url: '/v1/customers',
      headers: { ...origin, 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);

    const allowed = await withCors.inject({
      method: 'GET',
      url: '/v1/customers',
      headers: { ...tenant.headers, ...origin },
    });
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example');
    const other = await withCors.inject({
      method: 'GET',
      url: '/v1/customers',
      headers: { ...tenant.headers, origin: 'https://evil.example' },
    });
    assert.notEqual(other.headers['access-control-allow-origin'], 'https://evil.example');
  });

  it('echoes a well-formed X-Request-ID on every response, errors included, and replaces a malformed one', async () => {
    const echoed = await h.request(null, 'GET', '/v1/customers', undefined, { 'x-request-id': 'trace-42' });
    assert.equal(echoed.statusCode, 401);
    assert.equal(echoed.headers['x-request-id'], 'trace-42');
    const notFound = await h.request(null, 'GET', '/v1/nope', undefined, { 'x-request-id': 'trace-43' });
    assert.equal(notFound.headers['x-request-id'], 'trace-43');
    const malformed = await h.request(null, 'GET', '/health', undefined, { 'x-request-id': 'bad id\twith spaces' });
    assert.match(String(malformed.headers['x-request-id']), /^[0-9A-Z]{26}$/);
  });

  it("compiles every route's request and response schemas (on first use; all of them here)", async () => {
    const { app, schemas } = await buildApp({ database: h.database, clock: systemClock });
    try {
      await app.ready();
      // Nothing was compiled at startup; compiling all of them now finds any schema that does not compile.
      const compiled = schemas.compileAll();
      assert.ok(compiled > 200, `${compiled} schemas`);
      assert.equal(schemas.compileAll(), 0, 'each is compiled once');
      const tenant = await h.newTenant();
      const bad = await app.inject({ method: 'POST', url: '/v1/customers', headers: tenant.headers, payload: {} });
      assertEnvelope(bad, 400, 'validation_error');
    } finally {
      await app.close();
    }
  });

  it('answers /health with 503 and the envelope when the database is gone', async () => {
    const database = await openIsolatedDatabase();
    const { app } = await buildApp({ database, clock: systemClock });
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
      await database.close();
      assertEnvelope(await app.inject({ method: 'GET', url: '/health' }), 503, 'service_unavailable');
    } finally {
      await app.close();
    }
  });
});
