import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { buildApp } from '../../src/app.ts';
import { createTenancyService } from '../../src/modules/tenancy/tenancy.service.ts';
import { TestClock } from '../../src/platform/clock.ts';
import type { DatabaseHandle } from '../../src/platform/db/database.ts';
import {
  assertEnvelope,
  type Harness,
  openIsolatedDatabase,
  startHarness,
  type TestTenant,
} from '../support/harness.ts';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const clock = new TestClock('2026-06-01T00:00:00Z');

let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

async function createCustomer(tenant: TestTenant, externalId: string) {
  const response = await h.request(tenant, 'POST', '/v1/customers', { external_id: externalId, name: externalId });
  assert.equal(response.statusCode, 201, response.body);
  return response.json() as { id: string };
}

function asTenant(tenant: TestTenant, apiKey: string, environmentId: string): TestTenant {
  return { ...tenant, apiKey, environmentId, headers: { 'x-api-key': apiKey } };
}

describe('bootstrap (first start)', () => {
  let database: DatabaseHandle;
  before(async () => {
    database = await openIsolatedDatabase();
  });
  after(async () => {
    await database.close();
  });

  async function counts() {
    const row = await sql<{ tenants: string; environments: string; keys: string }>`
      select (select count(*) from tenants where is_default) as tenants,
             (select count(*) from environments) as environments,
             (select count(*) from api_keys) as keys`.execute(database.db);
    return Object.fromEntries(Object.entries(row.rows[0]!).map(([k, v]) => [k, Number(v)]));
  }

  async function reset() {
    await sql`delete from api_keys`.execute(database.db);
    await sql`delete from environments`.execute(database.db);
    await sql`delete from tenants`.execute(database.db);
  }

  it('creates the default tenant, environment and key once, and the printed key works', async () => {
    await reset();
    const { app, services } = await buildApp({ database, clock });
    try {
      const first = await services.tenancy.bootstrap({});
      assert.match(first.createdKey ?? '', /^sk_[0-9A-HJKMNP-TV-Z]{26}$/);
      assert.deepEqual(await counts(), { tenants: 1, environments: 1, keys: 1 });
      const second = await services.tenancy.bootstrap({});
      assert.equal(second.createdKey, undefined, 'the key is printed on the first start only');
      assert.equal(second.environmentId, first.environmentId);
      assert.deepEqual(await counts(), { tenants: 1, environments: 1, keys: 1 });
      const response = await app.inject({
        method: 'GET',
        url: '/v1/customers',
        headers: { 'x-api-key': first.createdKey! },
      });
      assert.equal(response.statusCode, 200, response.body);
    } finally {
      await app.close();
    }
  });

  it('ensures API_KEY as a key of the default environment, on an empty and on an existing database', async () => {
    await reset();
    const { app, services } = await buildApp({ database, clock });
    try {
      const fresh = await services.tenancy.bootstrap({ apiKey: 'tally-test-fixed-key' });
      assert.equal(fresh.createdKey, undefined, 'nothing to print when API_KEY is given');
      const again = await services.tenancy.bootstrap({ apiKey: 'tally-test-fixed-key' });
      assert.equal(again.environmentId, fresh.environmentId);
      const hashes = await database.db
        .selectFrom('api_keys')
        .select(['environment_id', 'status'])
        .where('key_hash', '=', createHash('sha256').update('tally-test-fixed-key').digest('hex'))
        .execute();
      assert.deepEqual(hashes, [{ environment_id: fresh.environmentId, status: 'published' }]);
      // a second fixed key on a database that already exists
      await services.tenancy.bootstrap({ apiKey: 'tally-test-second-key' });
      for (const key of ['tally-test-fixed-key', 'tally-test-second-key']) {
        const response = await app.inject({ method: 'GET', url: '/v1/customers', headers: { 'x-api-key': key } });
        assert.equal(response.statusCode, 200, response.body);
      }
      assert.equal((await counts()).tenants, 1);
    } finally {
      await app.close();
    }
  });

  it('refuses to revive an API_KEY that was deleted through the API', async () => {
    await reset();
    const { app, services } = await buildApp({ database, clock });
    try {
      await services.tenancy.bootstrap({ apiKey: 'tally-test-revoked-key' });
      const headers = { 'x-api-key': 'tally-test-revoked-key' };
      const list = (await app.inject({ method: 'GET', url: '/v1/secrets/api/keys', headers })).json();
      const own = list.items.find((k: { name: string }) => k.name === 'API_KEY');
      const deleted = await app.inject({ method: 'DELETE', url: `/v1/secrets/api/keys/${own.id}`, headers });
      assert.equal(deleted.statusCode, 204);
      await assert.rejects(services.tenancy.bootstrap({ apiKey: 'tally-test-revoked-key' }), /deleted/);
    } finally {
      await app.close();
    }
  });

  it('survives two processes bootstrapping the same empty database at once', async () => {
    await reset();
    const a = await buildApp({ database, clock });
    const b = await buildApp({ database, clock });
    try {
      const results = await Promise.all([
        a.services.tenancy.bootstrap({ apiKey: 'tally-test-race-key' }),
        b.services.tenancy.bootstrap({ apiKey: 'tally-test-race-key' }),
      ]);
      assert.equal(results[0].environmentId, results[1].environmentId);
      assert.equal((await counts()).tenants, 1);
      const response = await a.app.inject({
        method: 'GET',
        url: '/v1/customers',
        headers: { 'x-api-key': 'tally-test-race-key' },
      });
      assert.equal(response.statusCode, 200);
    } finally {
      await a.app.close();
      await b.app.close();
    }
  });
});

describe('API keys: POST/GET/DELETE /v1/secrets/api/keys', () => {
  it('creates a key (201) shown once, which authenticates in the same environment', async () => {
    const tenant = await h.newTenant();
    const response = await h.request(tenant, 'POST', '/v1/secrets/api/keys', { name: 'ci', type: 'private_key' });
    assert.equal(response.statusCode, 201, response.body);
    const { api_key: apiKey, secret } = response.json();
    assert.match(apiKey, /^sk_/);
    assert.match(apiKey.slice(3), ULID);
    assert.match(secret.id, /^secret_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(secret.environment_id, tenant.environmentId);
    assert.equal(secret.status, 'published');
    assert.ok(!secret.display_id.includes(apiKey.slice(5, -2)), 'display_id must not reveal the key');
    const other = asTenant(tenant, apiKey, tenant.environmentId);
    const created = await createCustomer(tenant, 'made-with-first-key');
    const seen = await h.request(other, 'GET', `/v1/customers/${created.id}`);
    assert.equal(seen.statusCode, 200);

    const list = await h.request(tenant, 'GET', '/v1/secrets/api/keys');
    assert.equal(list.statusCode, 200);
    const body = list.json();
    assert.equal(body.pagination.total, 2);
    assert.ok(body.items.some((k: { id: string }) => k.id === secret.id));
    assert.ok(!list.body.includes(apiKey), 'a list never shows a raw key');
    const paged = (await h.request(tenant, 'GET', '/v1/secrets/api/keys?limit=1&offset=1')).json();
    assert.deepEqual(paged.pagination, { total: 2, limit: 1, offset: 1 });
  });

  it('stores keys hashed (SHA-256), never the raw key', async () => {
    const tenant = await h.newTenant();
    const response = await h.request(tenant, 'POST', '/v1/secrets/api/keys', { name: 'hash', type: 'private_key' });
    const { api_key: apiKey, secret } = response.json();
    const row = await h.database.db.selectFrom('api_keys').selectAll().where('id', '=', secret.id).executeTakeFirst();
    assert.ok(row);
    assert.equal(row.key_hash, createHash('sha256').update(apiKey).digest('hex'));
    for (const [column, value] of Object.entries(row)) {
      assert.ok(!String(value).includes(apiKey), `column ${column} holds the raw key`);
    }
    const bootstrapKeyRow = await h.database.db
      .selectFrom('api_keys')
      .select('key_hash')
      .where('key_hash', '=', createHash('sha256').update(tenant.apiKey).digest('hex'))
      .executeTakeFirst();
    assert.ok(bootstrapKeyRow, "the tenant's first key is stored by its hash too");
  });

  it('deletes a key (204): it stops authenticating at once and lists as deleted', async () => {
    const tenant = await h.newTenant();
    const { api_key: apiKey, secret } = (
      await h.request(tenant, 'POST', '/v1/secrets/api/keys', { name: 'temp', type: 'private_key' })
    ).json();
    const temp = asTenant(tenant, apiKey, tenant.environmentId);
    assert.equal((await h.request(temp, 'GET', '/v1/customers')).statusCode, 200);
    const deleted = await h.request(tenant, 'DELETE', `/v1/secrets/api/keys/${secret.id}`);
    assert.equal(deleted.statusCode, 204);
    assert.equal(deleted.body, '');
    assertEnvelope(await h.request(temp, 'GET', '/v1/customers'), 401, 'unauthorized');
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/secrets/api/keys/${secret.id}`), 404, 'not_found');
    const live = (await h.request(tenant, 'GET', '/v1/secrets/api/keys')).json();
    assert.ok(!live.items.some((k: { id: string }) => k.id === secret.id));
    const gone = (await h.request(tenant, 'GET', '/v1/secrets/api/keys?status=deleted')).json();
    assert.deepEqual(
      gone.items.map((k: { id: string; status: string }) => [k.id, k.status]),
      [[secret.id, 'deleted']],
    );
  });

  it('lets a key expire at its expires_at', async () => {
    const tenant = await h.newTenant();
    const expiresAt = new Date(clock.now().getTime() + 60 * 60 * 1000).toISOString();
    const response = await h.request(tenant, 'POST', '/v1/secrets/api/keys', {
      name: 'short',
      type: 'private_key',
      expires_at: expiresAt,
    });
    assert.equal(response.statusCode, 201, response.body);
    const short = asTenant(tenant, response.json().api_key, tenant.environmentId);
    assert.equal((await h.request(short, 'GET', '/v1/customers')).statusCode, 200);
    clock.advance(2 * 60 * 60 * 1000);
    assertEnvelope(await h.request(short, 'GET', '/v1/customers'), 401, 'unauthorized');
    assert.equal((await h.request(tenant, 'GET', '/v1/customers')).statusCode, 200);
  });

  it('rejects a bad type, a missing name and a past expiry with 400, creating nothing', async () => {
    const tenant = await h.newTenant();
    const past = new Date(clock.now().getTime() - 1000).toISOString();
    for (const body of [
      { name: 'x', type: 'root_key' },
      { type: 'private_key' },
      { name: 'x', type: 'private_key', expires_at: past },
      { name: 'x', type: 'private_key', expires_at: 'tomorrow' },
    ]) {
      assertEnvelope(await h.request(tenant, 'POST', '/v1/secrets/api/keys', body), 400, 'validation_error');
    }
    assert.equal((await h.request(tenant, 'GET', '/v1/secrets/api/keys')).json().pagination.total, 1);
  });

  it("cannot delete or list another tenant's keys", async () => {
    const owner = await h.newTenant();
    const stranger = await h.newTenant();
    const { secret } = (
      await h.request(owner, 'POST', '/v1/secrets/api/keys', { name: 'mine', type: 'private_key' })
    ).json();
    assertEnvelope(await h.request(stranger, 'DELETE', `/v1/secrets/api/keys/${secret.id}`), 404, 'not_found');
    const list = (await h.request(stranger, 'GET', '/v1/secrets/api/keys')).json();
    assert.ok(!list.items.some((k: { id: string }) => k.id === secret.id));
    assert.equal((await h.request(owner, 'GET', '/v1/secrets/api/keys')).json().pagination.total, 2);
  });
});

describe('environments', () => {
  it('creates (201), lists, reads and renames environments of the tenant', async () => {
    const tenant = await h.newTenant();
    const created = await h.request(tenant, 'POST', '/v1/environments', { name: 'Production', type: 'production' });
    assert.equal(created.statusCode, 201, created.body);
    const environment = created.json();
    assert.match(environment.id, /^env_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(environment.tenant_id, tenant.tenantId);
    assert.equal(environment.type, 'production');
    const list = (await h.request(tenant, 'GET', '/v1/environments')).json();
    assert.deepEqual(
      list.items.map((e: { id: string }) => e.id),
      [tenant.environmentId, environment.id],
    );
    assert.deepEqual(list.pagination, { total: 2, limit: 50, offset: 0 });
    const read = await h.request(tenant, 'GET', `/v1/environments/${environment.id}`);
    assert.equal(read.statusCode, 200);
    assert.equal(read.json().name, 'Production');
    const renamed = await h.request(tenant, 'PUT', `/v1/environments/${environment.id}`, { name: 'Live' });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().name, 'Live');
    assert.equal(renamed.json().type, 'production');
  });

  it('rejects an unknown type or a missing name (400) and answers 404 for an unknown id', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/environments', { name: 'x', type: 'staging' }),
      400,
      'validation_error',
    );
    assertEnvelope(await h.request(tenant, 'POST', '/v1/environments', { type: 'production' }), 400);
    assertEnvelope(await h.request(tenant, 'GET', '/v1/environments/env_nope'), 404, 'not_found');
    assertEnvelope(await h.request(tenant, 'PUT', '/v1/environments/env_nope', { name: 'x' }), 404, 'not_found');
    assert.equal((await h.request(tenant, 'GET', '/v1/environments')).json().pagination.total, 1);
  });

  it("does not show or change another tenant's environments (404)", async () => {
    const owner = await h.newTenant();
    const stranger = await h.newTenant();
    assertEnvelope(await h.request(stranger, 'GET', `/v1/environments/${owner.environmentId}`), 404);
    assertEnvelope(await h.request(stranger, 'PUT', `/v1/environments/${owner.environmentId}`, { name: 'x' }), 404);
    const list = (await h.request(stranger, 'GET', '/v1/environments')).json();
    assert.deepEqual(
      list.items.map((e: { id: string }) => e.id),
      [stranger.environmentId],
    );
    // nor mint a key for it
    assertEnvelope(
      await h.request(
        stranger,
        'POST',
        '/v1/secrets/api/keys',
        { name: 'x', type: 'private_key' },
        { 'x-environment-id': owner.environmentId },
      ),
      404,
    );
  });

  it("gives a second environment its own key, which can neither read nor change the first's data", async () => {
    const tenant = await h.newTenant();
    const second = (await h.request(tenant, 'POST', '/v1/environments', { name: 'Prod', type: 'production' })).json();
    const minted = await h.request(
      tenant,
      'POST',
      '/v1/secrets/api/keys',
      { name: 'prod', type: 'private_key' },
      { 'x-environment-id': second.id },
    );
    assert.equal(minted.statusCode, 201, minted.body);
    assert.equal(minted.json().secret.environment_id, second.id);
    const prod = asTenant(tenant, minted.json().api_key, second.id);

    const devCustomer = await createCustomer(tenant, 'dev-only');
    assertEnvelope(await h.request(prod, 'GET', `/v1/customers/${devCustomer.id}`), 404, 'not_found');
    assertEnvelope(await h.request(prod, 'GET', '/v1/customers/external/dev-only'), 404, 'not_found');
    assertEnvelope(await h.request(prod, 'PUT', `/v1/customers?id=${devCustomer.id}`, { name: 'x' }), 404);
    assertEnvelope(await h.request(prod, 'DELETE', `/v1/customers/${devCustomer.id}`), 404);
    assert.equal((await h.request(prod, 'POST', '/v1/customers/search', {})).json().pagination.total, 0);
    assert.equal((await h.request(prod, 'GET', '/v1/customers')).json().pagination.total, 0);

    // the same external_id may live in both environments, each seeing only its own
    const prodCustomer = await createCustomer(prod, 'dev-only');
    assert.equal((prodCustomer as { environment_id?: string }).environment_id, second.id);
    assertEnvelope(await h.request(tenant, 'GET', `/v1/customers/${prodCustomer.id}`), 404);
    assert.equal((await h.request(tenant, 'GET', '/v1/customers/external/dev-only')).json().id, devCustomer.id);
    assert.equal((await h.request(tenant, 'GET', `/v1/customers/${devCustomer.id}`)).json().name, 'dev-only');

    // keys are per environment too
    const prodKeys = (await h.request(prod, 'GET', '/v1/secrets/api/keys')).json();
    assert.deepEqual(
      prodKeys.items.map((k: { environment_id: string }) => k.environment_id),
      [second.id],
    );
    const devKeyId = (await h.request(tenant, 'GET', '/v1/secrets/api/keys')).json().items[0].id;
    assertEnvelope(await h.request(prod, 'DELETE', `/v1/secrets/api/keys/${devKeyId}`), 404);
  });
});

describe('authentication', () => {
  it('answers 401 with the envelope for a missing, unknown, malformed or deleted key', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(await h.request(null, 'GET', '/v1/customers'), 401, 'unauthorized');
    assertEnvelope(await h.request(null, 'GET', '/v1/customers', undefined, { 'x-api-key': 'sk_bogus' }), 401);
    assertEnvelope(await h.request(null, 'GET', '/v1/customers', undefined, { 'x-api-key': '   ' }), 401);
    assertEnvelope(
      await h.request(null, 'GET', '/v1/customers', undefined, { authorization: `Bearer ${tenant.apiKey}` }),
      401,
    );
    for (const [method, url] of [
      ['GET', '/v1/secrets/api/keys'],
      ['GET', '/v1/environments'],
      ['POST', '/v1/events'],
      ['DELETE', '/v1/customers/cust_x'],
    ] as const) {
      assertEnvelope(await h.request(null, method, url, method === 'POST' ? {} : undefined), 401, 'unauthorized');
    }
  });

  it('reads a key once for requests that miss the key cache together, and not again while it is cached', async () => {
    const tenant = await h.newTenant();
    // A tenancy service of its own (an empty key cache) whose database counts the reads it sends.
    let reads = 0;
    const db = h.database.db.withPlugin({
      transformQuery: (args) => {
        if (args.node.kind === 'SelectQueryNode') reads++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const tenancy = createTenancyService({ db, clock });
    const burst = await Promise.all(Array.from({ length: 32 }, () => tenancy.authenticate(tenant.apiKey)));
    assert.ok(burst.every((context) => context?.environmentId === tenant.environmentId));
    assert.equal(reads, 1, 'one read for 32 requests that missed together');
    assert.equal((await tenancy.authenticate(tenant.apiKey))?.environmentId, tenant.environmentId);
    assert.equal(reads, 1, 'the next request is served from the cache');
    // Unknown keys are read each time (and never cached), one read per burst as well.
    await Promise.all(Array.from({ length: 8 }, () => tenancy.authenticate('sk_unknown_key')));
    assert.equal(reads, 2);
  });

  it(
    'does not cache a key from a read that was running when the key was deleted',
    {
      // Holding a read open holds its connection: on the embedded engine's one connection the delete would wait on it.
      skip: !process.env.DATABASE_URL && 'needs a second connection (PostgreSQL)',
    },
    async () => {
      const tenant = await h.newTenant();
      const { api_key: apiKey, secret } = (
        await h.request(tenant, 'POST', '/v1/secrets/api/keys', { name: 'racing', type: 'private_key' })
      ).json();
      // The key's read is held until the delete has finished, as a slow read on another connection would be.
      // The delete starts only once the read has its rows: starting it earlier races the read to the database.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let readDone!: () => void;
      const read = new Promise<void>((resolve) => (readDone = resolve));
      const held = new Set<unknown>();
      const db = h.database.db.withPlugin({
        transformQuery: (args) => {
          if (args.node.kind === 'SelectQueryNode') held.add(args.queryId);
          return args.node;
        },
        transformResult: async (args) => {
          if (held.delete(args.queryId)) {
            readDone();
            await gate;
          }
          return args.result;
        },
      });
      const tenancy = createTenancyService({ db, clock });
      const during = tenancy.authenticate(apiKey);
      await read;
      await tenancy.deleteApiKey({ tenantId: tenant.tenantId, environmentId: tenant.environmentId }, secret.id);
      release();
      // The request that was waiting gets the answer read before the delete; later requests read again.
      assert.equal((await during)?.environmentId, tenant.environmentId);
      assert.equal(await tenancy.authenticate(apiKey), null);
    },
  );

  it('serves /health, /v1/openapi.json and /docs without a key', async () => {
    assert.equal((await h.request(null, 'GET', '/health')).statusCode, 200);
    assert.equal((await h.request(null, 'GET', '/v1/openapi.json')).statusCode, 200);
    const docs = await h.request(null, 'GET', '/docs');
    assert.ok(docs.statusCode === 200 || docs.statusCode === 302, `GET /docs answered ${docs.statusCode}`);
  });

  it('answers an unknown route with a 404 envelope, even without a key', async () => {
    assertEnvelope(await h.request(null, 'GET', '/v1/nothing-here'), 404);
  });
});
