import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp, createServices } from '../../src/app.ts';
import { DEFAULT_RETRY_POLICY } from '../../src/modules/webhooks/retry-schedule.ts';
import { isWebhookEventName, WEBHOOK_EVENTS } from '../../src/modules/webhooks/webhook-events.ts';
import * as webhooksRepo from '../../src/modules/webhooks/webhooks.repo.ts';
import { TestClock } from '../../src/platform/clock.ts';
import { openDatabase, withTransaction } from '../../src/platform/db/database.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';
import { assertMatchesSchema, referenceWebhooks } from '../support/reference-schemas.ts';
import { type Receiver, startReceiver } from '../support/webhook-receiver.ts';
import './wallet-events.cases.ts';

const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

const clock = new TestClock(new Date());
let h: Harness;
let receiver: Receiver;
before(async () => {
  // The delivery worker (runOnce) claims due messages of every tenant, with this file's clock moved days ahead: on a
  // shared PostgreSQL database it would attempt, and auto-disable, other test files' endpoints.
  h = await startHarness({ clock, isolated: true, webhooks: { delivery: { timeoutMs: 2000 } } });
  receiver = await startReceiver();
});
after(async () => {
  await receiver.close();
  await h.close();
});

interface Endpoint {
  id: string;
  secret: string;
  url: string;
}

async function createEndpoint(tenant: TestTenant, body: Record<string, unknown> = {}): Promise<Endpoint> {
  const response = await h.request(tenant, 'POST', '/v1/webhook-endpoints', { url: receiver.url, ...body });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

async function createCustomer(tenant: TestTenant, body: Record<string, unknown> = {}) {
  const response = await h.request(tenant, 'POST', '/v1/customers', {
    external_id: `ext-${Math.random().toString(36).slice(2)}`,
    name: 'Acme',
    ...body,
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

async function messagesOf(tenant: TestTenant, endpointId: string, query = '') {
  const response = await h.request(tenant, 'GET', `/v1/webhook-endpoints/${endpointId}/messages${query}`);
  assert.equal(response.statusCode, 200, response.body);
  return response.json();
}

async function messageOf(tenant: TestTenant, id: string) {
  const response = await h.request(tenant, 'GET', `/v1/webhook-messages/${id}`);
  assert.equal(response.statusCode, 200, response.body);
  return response.json();
}

const requestEndpoint = new Map<string, string>();
function endpointOf(request: { id: string }): string | undefined {
  return requestEndpoint.get(request.id);
}

/** The receiver's requests for one endpoint. */
function receivedBy(endpoint: Endpoint) {
  return receiver.received.filter((r) => endpointOf(r) === endpoint.id);
}

/** Delivers everything due and remembers which endpoint each received webhook-id belongs to. */
async function deliver() {
  await h.services.webhooks.delivery.runOnce();
  const unknown = [...new Set(receiver.received.map((r) => r.id).filter((id) => !requestEndpoint.has(id)))];
  if (unknown.length === 0) return;
  const rows = await h.database.db
    .selectFrom('webhook_messages')
    .select(['id', 'endpoint_id'])
    .where('id', 'in', unknown)
    .execute();
  for (const row of rows) requestEndpoint.set(row.id, row.endpoint_id);
}

function resetReceiver() {
  receiver.status = 200;
  receiver.delayMs = 0;
}

describe('delivery to a real receiver', () => {
  it('sends customer.created|updated|deleted signed per Standard Webhooks, with the documented payloads', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    const customer = await createCustomer(tenant, { name: 'Before', metadata: { tier: 'gold' } });
    const updated = await h.request(tenant, 'PUT', `/v1/customers?id=${customer.id}`, { name: 'After' });
    assert.equal(updated.statusCode, 200, updated.body);
    assert.equal((await h.request(tenant, 'DELETE', `/v1/customers/${customer.id}`)).statusCode, 204);

    await deliver();
    const got = receivedBy(endpoint);
    assert.equal(got.length, 3);
    const payloads = got.map((request) => {
      assert.equal(request.headers['content-type'], 'application/json');
      assert.match(String(request.headers['user-agent']), /^Tally-Webhooks\//);
      assert.match(String(request.headers['webhook-id']), /^msg_/);
      assert.match(String(request.headers['webhook-signature']), /^v1,/);
      return receiver.verify(endpoint.secret, request) as { event_type: string; customer: Record<string, unknown> };
    });
    assert.deepEqual(payloads.map((p) => p.event_type).sort(), [
      'customer.created',
      'customer.deleted',
      'customer.updated',
    ]);
    const byType = Object.fromEntries(payloads.map((p) => [p.event_type, p]));
    // Rendered when each change committed, not when delivered.
    assert.equal(byType['customer.created']!.customer.name, 'Before');
    assert.equal(byType['customer.updated']!.customer.name, 'After');
    assert.deepEqual(byType['customer.created']!.customer.metadata, { tier: 'gold' });
    for (const payload of payloads) {
      assert.equal(payload.customer.id, customer.id);
      const schema = referenceWebhooks.events[payload.event_type]!;
      assertMatchesSchema(payload, schema);
      // Every documented customer field is present.
      const documented = Object.keys(
        (referenceWebhooks.schemas['webhookDto.Customer'] as { properties: object }).properties,
      ).sort();
      assert.deepEqual(Object.keys(payload.customer).sort(), documented);
    }

    const list = await messagesOf(tenant, endpoint.id);
    assert.equal(list.pagination.total, 3);
    for (const message of list.items) {
      assert.equal(message.status, 'succeeded');
      assert.equal(message.attempt_count, 1);
      assert.equal(message.next_attempt_at, null);
      assert.ok(message.delivered_at);
    }
  });

  it('rejects a tampered body with the endpoint secret, and another endpoint’s secret', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    const other = await createEndpoint(tenant, { event_types: ['invoice.update'] });
    await createCustomer(tenant);
    await deliver();
    const [request] = receivedBy(endpoint);
    assert.ok(request);
    assert.throws(() => receiver.verify(endpoint.secret, { ...request, body: request.body.replace('Acme', 'Evil') }));
    assert.throws(() => receiver.verify(other.secret, request));
  });

  it('names, for every emitted event type, the schema the reference documents for it', () => {
    for (const [type, definition] of Object.entries(WEBHOOK_EVENTS)) {
      assert.equal(definition.schema, referenceWebhooks.events[type], type);
    }
    for (const type of Object.keys(referenceWebhooks.events)) assert.ok(isWebhookEventName(type), type);
  });

  it('has a schema check that rejects an undocumented key, a wrong type and an unknown event name', () => {
    const good = { event_type: 'customer.created', customer: { id: 'cust_1', name: 'A' } };
    assertMatchesSchema(good, 'webhookDto.CustomerWebhookPayload');
    assert.throws(() =>
      assertMatchesSchema(
        { ...good, customer: { ...good.customer, nickname: 'x' } },
        'webhookDto.CustomerWebhookPayload',
      ),
    );
    assert.throws(() => assertMatchesSchema({ ...good, customer: { id: 1 } }, 'webhookDto.CustomerWebhookPayload'));
    assert.throws(() =>
      assertMatchesSchema({ ...good, event_type: 'customer.exploded' }, 'webhookDto.CustomerWebhookPayload'),
    );
  });
});

describe('transactional outbox', () => {
  it('sends nothing for a change that rolled back', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    const customer = await createCustomer(tenant, { external_id: 'taken' });
    // A conflicting create fails inside its transaction.
    const conflict = await h.request(tenant, 'POST', '/v1/customers', { external_id: 'taken', name: 'x' });
    assertEnvelope(conflict, 409, 'already_exists');
    // A delete refused by another module's guard rolls back.
    h.services.customers.addDeletionGuard(async (_tx, _scope, id) => (id === customer.id ? 'has a wallet' : null));
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/customers/${customer.id}`), 400, 'invalid_operation');
    // An event enqueued in a transaction that then fails.
    await assert.rejects(
      withTransaction(h.database.db, async (tx) => {
        await h.services.webhooks.outbox.enqueue(tx, tenant, 'customer.updated', customer);
        throw new Error('boom');
      }),
      /boom/,
    );
    await deliver();
    const list = await messagesOf(tenant, endpoint.id);
    assert.deepEqual(
      list.items.map((m: { event_type: string }) => m.event_type),
      ['customer.created'],
    );
    assert.equal(receivedBy(endpoint).length, 1);
  });

  it('does not enqueue for a disabled endpoint, and only the subscribed types for a filtered one', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const disabled = await createEndpoint(tenant, { enabled: false });
    const onlyUpdates = await createEndpoint(tenant, { event_types: ['customer.updated'] });
    const everything = await createEndpoint(tenant);
    const customer = await createCustomer(tenant);
    await h.request(tenant, 'PUT', `/v1/customers?id=${customer.id}`, { name: 'Renamed' });
    await deliver();
    assert.equal(receivedBy(disabled).length, 0);
    assert.equal((await messagesOf(tenant, disabled.id)).pagination.total, 0);
    assert.deepEqual(
      receivedBy(onlyUpdates).map((r) => JSON.parse(r.body).event_type),
      ['customer.updated'],
    );
    assert.deepEqual(
      receivedBy(everything)
        .map((r) => JSON.parse(r.body).event_type)
        .sort(),
      ['customer.created', 'customer.updated'],
    );
  });

  it('gives one event the same event_id at every endpoint, and each endpoint its own message', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const a = await createEndpoint(tenant);
    const b = await createEndpoint(tenant);
    await createCustomer(tenant);
    const [ma] = (await messagesOf(tenant, a.id)).items;
    const [mb] = (await messagesOf(tenant, b.id)).items;
    assert.equal(ma.event_id, mb.event_id);
    assert.notEqual(ma.id, mb.id);
    assert.deepEqual(ma.payload, mb.payload);
  });
});

describe('retries', () => {
  it('retries through an outage with the same webhook-id, first retry within 10 s, and records every attempt', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    await createCustomer(tenant);
    receiver.status = 503;
    await deliver();
    const [message] = (await messagesOf(tenant, endpoint.id)).items;
    assert.equal(message.status, 'pending');
    assert.equal(message.attempt_count, 1);
    const firstRetry = Date.parse(message.next_attempt_at) - clock.now().getTime();
    assert.ok(firstRetry > 0 && firstRetry <= 10 * SECOND, `first retry in ${firstRetry} ms`);
    const failing = (await h.request(tenant, 'GET', `/v1/webhook-endpoints/${endpoint.id}`)).json();
    assert.ok(failing.failing_since);

    // Not due yet: nothing is sent.
    await deliver();
    assert.equal(receivedBy(endpoint).length, 1);

    clock.advance(10 * SECOND);
    await deliver();
    assert.equal(receivedBy(endpoint).length, 2);

    receiver.status = 200;
    clock.advance(30 * SECOND);
    await deliver();
    const got = receivedBy(endpoint);
    assert.equal(got.length, 3);
    assert.equal(new Set(got.map((r) => r.headers['webhook-id'])).size, 1);
    for (const request of got) receiver.verify(endpoint.secret, request);

    const detail = await messageOf(tenant, message.id);
    assert.equal(detail.status, 'succeeded');
    assert.equal(detail.attempt_count, 3);
    assert.deepEqual(
      detail.attempts.map((a: { status_code: number }) => a.status_code),
      [503, 503, 200],
    );
    assert.equal(detail.attempts[0].succeeded, false);
    assert.equal(detail.attempts[0].response_excerpt, 'receiver says 503');
    assert.ok(detail.attempts[0].next_attempt_at);
    assert.equal(detail.attempts[2].next_attempt_at, null);
    assert.equal(detail.attempts[2].response_excerpt, 'ok');
    for (const attempt of detail.attempts) {
      assert.equal(typeof attempt.latency_ms, 'number');
      assert.equal(attempt.trigger, 'scheduled');
    }
    const recovered = (await h.request(tenant, 'GET', `/v1/webhook-endpoints/${endpoint.id}`)).json();
    assert.equal(recovered.failing_since, null);
  });

  it('records a refused connection as an attempt without a status code', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant, { url: 'http://127.0.0.1:1/closed' });
    await createCustomer(tenant);
    await h.services.webhooks.delivery.runOnce();
    const [message] = (await messagesOf(tenant, endpoint.id)).items;
    const detail = await messageOf(tenant, message.id);
    assert.equal(detail.attempts.length, 1);
    assert.equal(detail.attempts[0].status_code, null);
    assert.match(detail.attempts[0].error, /ECONNREFUSED|fetch failed/);
    await h.request(tenant, 'DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
  });

  it('counts a response slower than the timeout as a failure', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    await createCustomer(tenant);
    receiver.delayMs = 2500; // the harness's delivery timeout is 2 s
    await deliver();
    resetReceiver();
    const [message] = (await messagesOf(tenant, endpoint.id)).items;
    const detail = await messageOf(tenant, message.id);
    assert.equal(detail.status, 'pending');
    assert.equal(detail.attempts[0].error, 'timeout');
    assert.equal(detail.attempts[0].status_code, null);
  });

  it('keeps retrying for at least 72 hours, then marks the message failed', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    await createCustomer(tenant);
    receiver.status = 500;
    const start = clock.now().getTime();
    let message;
    for (let round = 0; round < 200; round++) {
      await deliver();
      [message] = (await messagesOf(tenant, endpoint.id)).items;
      if (message.status !== 'pending') break;
      clock.set(message.next_attempt_at);
    }
    resetReceiver();
    assert.equal(message.status, 'failed');
    assert.equal(message.next_attempt_at, null);
    const detail = await messageOf(tenant, message.id);
    const last = Date.parse(detail.attempts.at(-1).attempted_at);
    assert.ok(last - start >= DEFAULT_RETRY_POLICY.horizonMs, 'the last attempt is after the horizon');
    assert.ok(detail.attempts.length >= 10 && detail.attempts.length <= 40, `${detail.attempts.length} attempts`);
    // Delays grow: the last gap is hours, the first seconds.
    const times = detail.attempts.map((a: { attempted_at: string }) => Date.parse(a.attempted_at));
    assert.ok(times[1] - times[0] <= 10 * SECOND);
    assert.ok(times.at(-1) - times.at(-2) >= HOUR);
    clock.advance(7 * DAY);
    await deliver();
    assert.equal((await messageOf(tenant, message.id)).attempts.length, detail.attempts.length);
  });

  it('disables an endpoint that failed continuously for 5 days, visibly, and resumes when re-enabled', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    receiver.status = 500;
    // Traffic every 12 hours, every attempt failing.
    for (let half = 0; half <= 10; half++) {
      await createCustomer(tenant);
      for (let step = 0; step < 12; step++) {
        await deliver();
        clock.advance(HOUR);
      }
    }
    await deliver();
    const disabled = (await h.request(tenant, 'GET', `/v1/webhook-endpoints/${endpoint.id}`)).json();
    assert.equal(disabled.enabled, false);
    assert.match(disabled.disabled_reason, /failed for 5 days/);
    assert.ok(disabled.disabled_at);
    assert.ok(Date.parse(disabled.disabled_at) - Date.parse(disabled.failing_since) >= 5 * DAY);

    // Disabled: new events are not enqueued for it and pending ones are not attempted.
    const before = receivedBy(endpoint).length;
    await createCustomer(tenant);
    clock.advance(DAY);
    await deliver();
    assert.equal(receivedBy(endpoint).length, before);

    resetReceiver();
    const pendingBefore = (await messagesOf(tenant, endpoint.id, '?status=pending')).pagination.total;
    assert.ok(pendingBefore > 0);
    const enabled = await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint.id}`, { enabled: true });
    assert.equal(enabled.json().failing_since, null);
    await deliver();
    assert.equal((await messagesOf(tenant, endpoint.id, '?status=pending')).pagination.total, 0);
    assert.equal(receivedBy(endpoint).length, before + pendingBefore);
  });

  it('does not disable an endpoint whose failures are interrupted by a success', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    for (let day = 0; day < 7; day++) {
      receiver.status = day === 3 ? 200 : 500;
      await createCustomer(tenant);
      for (let step = 0; step < 24; step++) {
        await deliver();
        clock.advance(HOUR);
      }
    }
    resetReceiver();
    const current = (await h.request(tenant, 'GET', `/v1/webhook-endpoints/${endpoint.id}`)).json();
    assert.equal(current.enabled, true);
  });
});

describe('resend', () => {
  it('re-delivers a succeeded message with the same webhook-id and records a resend attempt', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    await createCustomer(tenant);
    await deliver();
    const [message] = (await messagesOf(tenant, endpoint.id)).items;
    const response = await h.request(tenant, 'POST', `/v1/webhook-messages/${message.id}/resend`);
    assert.equal(response.statusCode, 202, response.body);
    assert.equal(response.json().status, 'pending');
    clock.advance(SECOND);
    await deliver();
    const got = receivedBy(endpoint);
    assert.equal(got.length, 2);
    assert.equal(got[0]!.headers['webhook-id'], got[1]!.headers['webhook-id']);
    assert.equal(got[0]!.body, got[1]!.body);
    const detail = await messageOf(tenant, message.id);
    assert.equal(detail.status, 'succeeded');
    assert.deepEqual(
      detail.attempts.map((a: { trigger: string }) => a.trigger),
      ['scheduled', 'resend'],
    );
  });

  it('re-delivers a failed message with a fresh retry horizon', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    await createCustomer(tenant);
    receiver.status = 500;
    let message;
    for (let round = 0; round < 200; round++) {
      await deliver();
      [message] = (await messagesOf(tenant, endpoint.id)).items;
      if (message.status !== 'pending') break;
      clock.set(message.next_attempt_at);
    }
    assert.equal(message.status, 'failed');
    resetReceiver();
    assert.equal((await h.request(tenant, 'POST', `/v1/webhook-messages/${message.id}/resend`)).statusCode, 202);
    await deliver();
    const detail = await messageOf(tenant, message.id);
    assert.equal(detail.status, 'succeeded');
    assert.equal(detail.attempts.at(-1).trigger, 'resend');
    assert.equal(detail.attempts.at(-1).status_code, 200);
  });

  it('refuses to resend to a disabled endpoint (400) and answers 404 across environments', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const other = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    await createCustomer(tenant);
    const [message] = (await messagesOf(tenant, endpoint.id)).items;
    assertEnvelope(await h.request(other, 'POST', `/v1/webhook-messages/${message.id}/resend`), 404);
    assertEnvelope(await h.request(other, 'GET', `/v1/webhook-messages/${message.id}`), 404);
    await h.request(tenant, 'PUT', `/v1/webhook-endpoints/${endpoint.id}`, { enabled: false });
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/webhook-messages/${message.id}/resend`),
      400,
      'invalid_operation',
    );
  });
});

describe('message log', () => {
  it('pages and filters by event type and status', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    const a = await createCustomer(tenant);
    await createCustomer(tenant);
    await h.request(tenant, 'PUT', `/v1/customers?id=${a.id}`, { name: 'A2' });
    await deliver();
    await createCustomer(tenant); // still pending
    const created = await messagesOf(tenant, endpoint.id, '?event_type=customer.created');
    assert.equal(created.pagination.total, 3);
    const pending = await messagesOf(tenant, endpoint.id, '?status=pending');
    assert.equal(pending.pagination.total, 1);
    const succeededUpdates = await messagesOf(tenant, endpoint.id, '?status=succeeded&event_type=customer.updated');
    assert.equal(succeededUpdates.pagination.total, 1);
    const page = await messagesOf(tenant, endpoint.id, '?limit=2&offset=2');
    assert.equal(page.items.length, 2);
    assert.deepEqual(page.pagination, { total: 4, limit: 2, offset: 2 });
    await deliver();
  });
});

describe('secret rotation', () => {
  it('signs with the new and, for a grace period, the old secret', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    const rotated = (await h.request(tenant, 'POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`)).json();
    await createCustomer(tenant);
    await deliver();
    const [request] = receivedBy(endpoint);
    assert.ok(request);
    receiver.verify(rotated.secret, request);
    receiver.verify(endpoint.secret, request);
    clock.advance(25 * HOUR);
    await createCustomer(tenant);
    await deliver();
    const later = receivedBy(endpoint)[1]!;
    receiver.verify(rotated.secret, later);
    assert.throws(() => receiver.verify(endpoint.secret, later));
  });
});

describe('durability', () => {
  it('continues after a restart: a new app over the same database delivers the pending retry', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    await createCustomer(tenant);
    receiver.status = 503;
    await deliver();
    resetReceiver();
    // A second process would build everything again from the database; nothing is carried over in memory.
    const restarted = await buildApp({ database: h.database, clock });
    clock.advance(10 * SECOND);
    await restarted.services.webhooks.delivery.runOnce();
    await deliver(); // maps ids for receivedBy; nothing left to send
    const got = receivedBy(endpoint);
    assert.equal(got.length, 2);
    assert.equal(got[0]!.headers['webhook-id'], got[1]!.headers['webhook-id']);
    const [message] = (await messagesOf(tenant, endpoint.id)).items;
    assert.equal(message.status, 'succeeded');
    assert.equal(message.attempt_count, 2);
    await restarted.app.close();
  });

  it('re-sends a message whose worker died mid-send once its lease runs out', async () => {
    resetReceiver();
    const tenant = await h.newTenant();
    const endpoint = await createEndpoint(tenant);
    await createCustomer(tenant);
    // A worker claims the message and never reports back.
    const claimed = await withTransaction(h.database.db, (tx) =>
      webhooksRepo.claimDueMessages(tx, {
        now: clock.now(),
        leaseUntil: new Date(clock.now().getTime() + 60 * SECOND),
        leaseId: 'job_dead',
        perEndpoint: 8,
        endpointLimit: 100,
        excludeEndpointIds: [],
        endpointId: endpoint.id,
      }),
    );
    assert.equal(claimed.length, 1);
    await deliver();
    assert.equal(receivedBy(endpoint).length, 0, 'leased: nobody else takes it');
    clock.advance(61 * SECOND);
    await deliver();
    assert.equal(receivedBy(endpoint).length, 1);
    const [message] = (await messagesOf(tenant, endpoint.id)).items;
    assert.equal(message.status, 'succeeded');
  });

  it('drops the result of a send whose endpoint was deleted meanwhile, without an error', async () => {
    const slow = await startReceiver();
    try {
      slow.delayMs = 300;
      const tenant = await h.newTenant();
      const endpoint = await createEndpoint(tenant, { url: slow.url });
      await createCustomer(tenant);
      const delivering = h.services.webhooks.delivery.runOnce();
      await slow.waitFor(1);
      assert.equal((await h.request(tenant, 'DELETE', `/v1/webhook-endpoints/${endpoint.id}`)).statusCode, 204);
      await delivering;
      const attempts = await h.database.db
        .selectFrom('webhook_attempts')
        .select('id')
        .where('endpoint_id', '=', endpoint.id)
        .execute();
      assert.equal(attempts.length, 0);
    } finally {
      await slow.close();
    }
  });

  it('does not let a slow endpoint delay another one', async () => {
    const slow = await startReceiver();
    try {
      const tenant = await h.newTenant();
      slow.delayMs = 1500;
      await createEndpoint(tenant, { url: slow.url });
      const fast = await createEndpoint(tenant);
      const before = receiver.received.length;
      for (let i = 0; i < 20; i++) await createCustomer(tenant);
      const task = h.services.webhooks.delivery.task;
      const started = performance.now();
      while (receiver.received.length < before + 20 && performance.now() - started < 10_000) {
        await task.run();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(receiver.received.length - before, 20);
      // Measured against the slow endpoint, not a fixed time (a loaded machine is slow for both): every fast message
      // arrived before the slow endpoint could have answered its first request.
      const lastFast = receiver.received.at(-1)?.receivedAt ?? Number.POSITIVE_INFINITY;
      const firstSlow = slow.received[0]?.receivedAt ?? Number.NEGATIVE_INFINITY;
      assert.ok(
        lastFast < firstSlow + slow.delayMs,
        `fast endpoint done ${(lastFast - firstSlow).toFixed(0)} ms after the slow one was hit (it answers in ${slow.delayMs})`,
      );
      assert.ok(slow.received.length <= 8, 'the slow endpoint has at most its concurrency in flight');
      await deliver();
      assert.equal((await messagesOf(tenant, fast.id, '?status=succeeded')).pagination.total, 20);
    } finally {
      await slow.close();
    }
  });
});

describe('two delivery workers on one PostgreSQL', () => {
  it('delivers each message once per attempt', async (t) => {
    const databaseUrl = h.database.url;
    if (!databaseUrl) {
      t.skip('needs PostgreSQL (DATABASE_URL); PGlite has one connection');
      return;
    }
    resetReceiver();
    receiver.delayMs = 2;
    const second = await openDatabase({ databaseUrl, dataDir: '', poolMax: 10 });
    try {
      const otherServices = createServices(second, clock);
      const tenant = await h.newTenant();
      const endpoint = await createEndpoint(tenant);
      const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
      for (let i = 0; i < 200; i++) {
        await h.services.customers.createCustomer(scope, { external_id: `two-${i}`, name: `C${i}` });
      }
      await Promise.all([h.services.webhooks.delivery.runOnce(), otherServices.webhooks.delivery.runOnce()]);
      await deliver();
      const got = receivedBy(endpoint);
      assert.equal(got.length, 200);
      assert.equal(new Set(got.map((r) => r.headers['webhook-id'])).size, 200);
      const attempts = await h.database.db
        .selectFrom('webhook_attempts')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('endpoint_id', '=', endpoint.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(attempts.n), 200);
    } finally {
      resetReceiver();
      await second.close();
    }
  });
});

describe('configured endpoint (WEBHOOK_URL)', () => {
  it('is registered once, generates a secret only when none is configured, and follows the configuration', async () => {
    const tenant = await h.newTenant();
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    const first = await h.services.webhooks.ensureConfiguredEndpoint(scope, { url: receiver.url });
    assert.match(first.generatedSecret ?? '', /^whsec_/);
    assert.equal(first.endpoint.source, 'config');
    const again = await h.services.webhooks.ensureConfiguredEndpoint(scope, { url: receiver.url });
    assert.equal(again.endpoint.id, first.endpoint.id);
    assert.equal(again.generatedSecret, undefined);
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const moved = await h.services.webhooks.ensureConfiguredEndpoint(scope, { url: `${receiver.url}?v=2`, secret });
    assert.equal(moved.endpoint.id, first.endpoint.id);
    assert.equal(moved.endpoint.url, `${receiver.url}?v=2`);
    assert.equal((await h.request(tenant, 'GET', '/v1/webhook-endpoints')).json().pagination.total, 1);
    await assert.rejects(
      h.services.webhooks.ensureConfiguredEndpoint(scope, { url: receiver.url, secret: 'plain' }),
      /WEBHOOK_SECRET/,
    );
    resetReceiver();
    await createCustomer(tenant);
    await deliver();
    const [request] = receiver.received.filter((r) => endpointOf(r) === first.endpoint.id);
    assert.ok(request);
    receiver.verify(secret, request);
  });
});
