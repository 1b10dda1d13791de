import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backgroundTasks } from '../../src/app.ts';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

/**
 * `Idempotency-Key` applies to every POST (src/platform/http/idempotency.ts): the first response is stored for 24 h
 * and replayed; another body or path with the same key is a 409; concurrent requests with one key execute once.
 * A 4xx first response is stored and replayed like a success (only 5xx releases the key).
 */

const clock = new TestClock('2026-05-01T00:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

function post(tenant: TestTenant, url: string, body: unknown, key: string) {
  return h.request(tenant, 'POST', url, body, { 'idempotency-key': key });
}

async function customerRows(tenant: TestTenant): Promise<number> {
  const row = await h.database.db
    .selectFrom('customers')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('tenant_id', '=', tenant.tenantId)
    .where('environment_id', '=', tenant.environmentId)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

describe('Idempotency-Key', () => {
  it('replays the stored status and body with Idempotent-Replayed: true, and executes once', async () => {
    const tenant = await h.newTenant();
    const body = { external_id: 'idem-1', name: 'Once' };
    const first = await post(tenant, '/v1/customers', body, 'key-1');
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    // the same request with other key order and whitespace is the same request
    const second = await h.app.inject({
      method: 'POST',
      url: '/v1/customers',
      headers: { ...tenant.headers, 'idempotency-key': 'key-1', 'content-type': 'application/json' },
      payload: '{ "name": "Once",   "external_id": "idem-1" }',
    });
    assert.equal(second.statusCode, 201);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.match(String(second.headers['content-type']), /^application\/json/);
    assert.equal(second.body, first.body);
    assert.equal(await customerRows(tenant), 1);
  });

  it('answers 409 for the same key with a different body, and changes nothing', async () => {
    const tenant = await h.newTenant();
    await post(tenant, '/v1/customers', { external_id: 'idem-2', name: 'A' }, 'key-2');
    const conflict = await post(tenant, '/v1/customers', { external_id: 'idem-2b', name: 'B' }, 'key-2');
    assertEnvelope(conflict, 409);
    assert.equal(conflict.headers['idempotent-replayed'], undefined);
    assert.equal(await customerRows(tenant), 1);
  });

  it('answers 409 for the same key on a different path', async () => {
    const tenant = await h.newTenant();
    const body = { external_id: 'idem-3', name: 'Path' };
    assert.equal((await post(tenant, '/v1/customers', body, 'key-3')).statusCode, 201);
    assertEnvelope(await post(tenant, '/v1/customers/search', body, 'key-3'), 409);
    // the query string is not part of the path: the same path with a query is the same request
    const withQuery = await post(tenant, '/v1/customers?x=1', body, 'key-3');
    assert.equal(withQuery.statusCode, 201);
    assert.equal(withQuery.headers['idempotent-replayed'], 'true');
  });

  it('executes two concurrent requests with one key once', async () => {
    const tenant = await h.newTenant();
    const body = { external_id: 'idem-4', name: 'Twice' };
    const [a, b] = await Promise.all([
      post(tenant, '/v1/customers', body, 'key-4'),
      post(tenant, '/v1/customers', body, 'key-4'),
    ]);
    assert.equal(a.statusCode, 201, a.body);
    assert.equal(b.statusCode, 201, b.body);
    assert.equal(a.body, b.body);
    assert.deepEqual([a.headers['idempotent-replayed'], b.headers['idempotent-replayed']].sort(), ['true', undefined]);
    assert.equal(await customerRows(tenant), 1);
  });

  it('executes ten concurrent requests with one key once, all getting the same answer', async () => {
    const tenant = await h.newTenant();
    const body = { external_id: 'idem-5', name: 'Ten' };
    const responses = await Promise.all(Array.from({ length: 10 }, () => post(tenant, '/v1/customers', body, 'key-5')));
    for (const response of responses) assert.equal(response.statusCode, 201, response.body);
    assert.equal(new Set(responses.map((r) => r.body)).size, 1);
    assert.equal(responses.filter((r) => r.headers['idempotent-replayed'] === 'true').length, 9);
    assert.equal(await customerRows(tenant), 1);
  });

  it('lets only one of two concurrent different bodies with one key execute; the other is a 409', async () => {
    const tenant = await h.newTenant();
    const responses = await Promise.all([
      post(tenant, '/v1/customers', { external_id: 'race-a', name: 'A' }, 'key-6'),
      post(tenant, '/v1/customers', { external_id: 'race-b', name: 'B' }, 'key-6'),
    ]);
    assert.deepEqual(responses.map((r) => r.statusCode).sort(), [201, 409]);
    assert.equal(await customerRows(tenant), 1);
  });

  it('stores a 4xx first response and replays it; a corrected body needs a new key', async () => {
    const tenant = await h.newTenant();
    const invalid = { external_id: 'idem-7', name: 'Bad', email: 'not-an-email' };
    const first = await post(tenant, '/v1/customers', invalid, 'key-7');
    assertEnvelope(first, 400, 'validation_error');
    const replay = await post(tenant, '/v1/customers', invalid, 'key-7');
    assertEnvelope(replay, 400, 'validation_error');
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body, first.body);
    const corrected = { ...invalid, email: 'ok@example.com' };
    assertEnvelope(await post(tenant, '/v1/customers', corrected, 'key-7'), 409);
    assert.equal((await post(tenant, '/v1/customers', corrected, 'key-7b')).statusCode, 201);
    assert.equal(await customerRows(tenant), 1);
  });

  it('replays a business conflict (409 on a duplicate external_id) as it was first answered', async () => {
    const tenant = await h.newTenant();
    await post(tenant, '/v1/customers', { external_id: 'idem-8', name: 'A' }, 'key-8a');
    const body = { external_id: 'idem-8', name: 'B' };
    const first = await post(tenant, '/v1/customers', body, 'key-8b');
    assertEnvelope(first, 409, 'already_exists');
    const replay = await post(tenant, '/v1/customers', body, 'key-8b');
    assert.equal(replay.statusCode, 409);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
  });

  it('keeps keys per environment: the same key in another environment executes there', async () => {
    const a = await h.newTenant();
    const b = await h.newTenant();
    const body = { external_id: 'idem-9', name: 'Scoped' };
    const inA = await post(a, '/v1/customers', body, 'shared-key');
    const inB = await post(b, '/v1/customers', body, 'shared-key');
    assert.equal(inA.statusCode, 201);
    assert.equal(inB.statusCode, 201);
    assert.equal(inB.headers['idempotent-replayed'], undefined);
    assert.notEqual(inA.json().id, inB.json().id);
    assert.equal(inB.json().environment_id, b.environmentId);
    assert.equal(await customerRows(a), 1);
    assert.equal(await customerRows(b), 1);
  });

  it('keeps a response for 24 hours, then the key may be used afresh', async () => {
    const tenant = await h.newTenant();
    const body = { external_id: 'idem-10', name: 'Day' };
    const first = await post(tenant, '/v1/customers', body, 'key-10');
    clock.advance(23 * 60 * 60 * 1000);
    const replay = await post(tenant, '/v1/customers', body, 'key-10');
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body, first.body);
    clock.advance(60 * 60 * 1000 + 1000);
    // expired: the request executes again (and meets the live customer's external_id)
    const again = await post(tenant, '/v1/customers', body, 'key-10');
    assert.equal(again.headers['idempotent-replayed'], undefined);
    assertEnvelope(again, 409, 'already_exists');
  });

  it('does not apply to a request without the header, and rejects an over-long key', async () => {
    const tenant = await h.newTenant();
    const body = { external_id: 'idem-11', name: 'Plain' };
    assert.equal((await h.request(tenant, 'POST', '/v1/customers', body)).statusCode, 201);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/customers', body), 409, 'already_exists');
    assertEnvelope(await post(tenant, '/v1/customers', { ...body, external_id: 'x2' }, 'k'.repeat(256)), 400);
    assert.equal(await customerRows(tenant), 1);
  });

  it('takes over the claim of a request whose process died (in progress for more than 5 minutes)', async () => {
    const tenant = await h.newTenant();
    const body = { external_id: 'idem-13', name: 'Orphan' };
    const lockedAt = new Date(clock.now().getTime() - 6 * 60 * 1000);
    await h.database.db
      .insertInto('idempotency_keys')
      .values({
        tenant_id: tenant.tenantId,
        environment_id: tenant.environmentId,
        key: 'key-13',
        method: 'POST',
        path: '/v1/customers',
        request_hash: '0'.repeat(64),
        state: 'in_progress',
        locked_at: lockedAt,
        created_at: lockedAt,
        expires_at: new Date(lockedAt.getTime() + 24 * 60 * 60 * 1000),
      })
      .execute();
    const response = await post(tenant, '/v1/customers', body, 'key-13');
    assert.equal(response.statusCode, 201, response.body);
    assert.equal(response.headers['idempotent-replayed'], undefined);
    const replay = await post(tenant, '/v1/customers', body, 'key-13');
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(await customerRows(tenant), 1);
  });

  it('does not store anything for an unauthenticated request', async () => {
    const tenant = await h.newTenant();
    const body = { external_id: 'idem-12', name: 'Anon' };
    assertEnvelope(
      await h.request(null, 'POST', '/v1/customers', body, { 'idempotency-key': 'key-12', 'x-api-key': 'sk_nope' }),
      401,
    );
    const real = await post(tenant, '/v1/customers', body, 'key-12');
    assert.equal(real.statusCode, 201);
    assert.equal(real.headers['idempotent-replayed'], undefined);
  });

  it('purges stored responses past their retention in the background, and only those', async () => {
    const tenant = await h.newTenant();
    await post(tenant, '/v1/customers', { external_id: 'idem-14a', name: 'Old' }, 'key-14a');
    clock.advance(12 * 60 * 60 * 1000);
    await post(tenant, '/v1/customers', { external_id: 'idem-14b', name: 'New' }, 'key-14b');
    clock.advance(13 * 60 * 60 * 1000);
    const purge = backgroundTasks(h.services).find((task) => task.name === 'idempotency-keys.purge');
    assert.ok(purge);
    assert.equal(await purge.run(), false);
    const keys = await h.database.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('tenant_id', '=', tenant.tenantId)
      .where('environment_id', '=', tenant.environmentId)
      .execute();
    assert.deepEqual(
      keys.map((k) => k.key),
      ['key-14b'],
    );
  });
});
