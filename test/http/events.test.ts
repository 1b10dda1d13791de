import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

const T0 = '2026-03-01T00:00:00.000Z';

async function ingest(tenant: TestTenant, events: Array<Record<string, unknown>>) {
  const response = await h.request(tenant, 'POST', '/v1/events/bulk', { events });
  assert.equal(response.statusCode, 202, response.body);
}

async function usage(tenant: TestTenant, body: Record<string, unknown>) {
  const response = await h.request(tenant, 'POST', '/v1/events/usage', {
    start_time: '2026-03-01T00:00:00Z',
    end_time: '2026-04-01T00:00:00Z',
    ...body,
  });
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as { value: number; results: Array<{ window_size: string; value: number }>; type: string };
}

function at(minutes: number): string {
  return new Date(Date.parse(T0) + minutes * 60_000).toISOString();
}

describe('POST /v1/events', () => {
  it('accepts an event with 202 and returns its id, generating one when absent', async () => {
    const tenant = await h.newTenant();
    const withId = await h.request(tenant, 'POST', '/v1/events', {
      event_id: 'evt-1',
      event_name: 'api_call',
      external_customer_id: 'c1',
      properties: { tokens: '10' },
    });
    assert.equal(withId.statusCode, 202, withId.body);
    assert.deepEqual(withId.json(), { message: 'Event accepted for processing', event_id: 'evt-1' });
    const generated = await h.request(tenant, 'POST', '/v1/events', {
      event_name: 'api_call',
      external_customer_id: 'c1',
    });
    assert.equal(generated.statusCode, 202);
    assert.match(generated.json().event_id, /^event_[0-9A-Z]{26}$/);
  });

  it('answers a duplicate like the original and never counts it twice', async () => {
    const tenant = await h.newTenant();
    const event = { event_id: 'dup-1', event_name: 'api_call', external_customer_id: 'c1', timestamp: at(1) };
    for (let i = 0; i < 3; i++) {
      const response = await h.request(tenant, 'POST', '/v1/events', event);
      assert.equal(response.statusCode, 202);
      assert.equal(response.json().event_id, 'dup-1');
    }
    assert.equal((await usage(tenant, { event_name: 'api_call', aggregation_type: 'COUNT' })).value, 1);
  });

  it('still drops a duplicate sent after a restart', async () => {
    const tenant = await h.newTenant();
    const event = { event_id: 'before-restart', event_name: 'api_call', external_customer_id: 'c1', timestamp: at(1) };
    assert.equal((await h.request(tenant, 'POST', '/v1/events', event)).statusCode, 202);
    // a new server process on the same database
    const { app } = await buildApp({ database: h.database, clock: systemClock });
    try {
      const again = await app.inject({ method: 'POST', url: '/v1/events', headers: tenant.headers, payload: event });
      assert.equal(again.statusCode, 202);
      const count = await app.inject({
        method: 'POST',
        url: '/v1/events/usage',
        headers: tenant.headers,
        payload: { event_name: 'api_call', aggregation_type: 'COUNT', start_time: T0, end_time: at(60) },
      });
      assert.equal(count.json().value, 1);
    } finally {
      await app.close();
    }
  });

  it('stores one event when the same id is sent by 20 clients at once', async () => {
    const tenant = await h.newTenant();
    const event = { event_id: 'race', event_name: 'api_call', external_customer_id: 'c1', timestamp: at(1) };
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => h.request(tenant, 'POST', '/v1/events', event)),
    );
    assert.ok(responses.every((r) => r.statusCode === 202));
    assert.equal((await usage(tenant, { event_name: 'api_call', aggregation_type: 'COUNT' })).value, 1);
  });

  it('rejects malformed events with 400 and stores nothing', async () => {
    const tenant = await h.newTenant();
    const bad: Array<Record<string, unknown>> = [
      { external_customer_id: 'c1' },
      { event_name: 'x' },
      { event_name: 'x', external_customer_id: 'c1', timestamp: 'yesterday' },
      { event_name: 'x', external_customer_id: 'c1', properties: { nested: { a: 1 } } },
      { event_name: 'x', external_customer_id: 'c1', event_id: 'has space' },
      { event_name: 42, external_customer_id: 'c1' },
    ];
    for (const body of bad)
      assertEnvelope(await h.request(tenant, 'POST', '/v1/events', body), 400, 'validation_error');
    const raw = await h.request(tenant, 'POST', '/v1/events/query', { start_time: '2000-01-01T00:00:00Z' });
    assert.equal(raw.json().total_count, 0);
  });
});

describe('POST /v1/events/bulk', () => {
  it('drops duplicates inside one request and against stored events', async () => {
    const tenant = await h.newTenant();
    const e = (id: string) => ({ event_id: id, event_name: 'api_call', external_customer_id: 'c1', timestamp: at(5) });
    await ingest(tenant, [e('a'), e('b'), e('a'), e('c'), e('b')]);
    await ingest(tenant, [e('c'), e('d')]);
    assert.equal((await usage(tenant, { event_name: 'api_call', aggregation_type: 'COUNT' })).value, 4);
  });

  it('keeps the first of events repeated inside one request', async () => {
    const tenant = await h.newTenant();
    const e = (n: string) => ({
      event_id: 'dup',
      event_name: 'api_call',
      external_customer_id: 'c1',
      timestamp: at(5),
      properties: { n },
    });
    await ingest(tenant, [e('1'), e('5'), e('7')]);
    const stored = (await h.request(tenant, 'GET', '/v1/events/lookup?id=dup')).json();
    assert.deepEqual(stored.event.properties, { n: '1' });
    const sum = await usage(tenant, { event_name: 'api_call', aggregation_type: 'SUM', property_name: 'n' });
    assert.equal(sum.value, 1);
  });

  it('is all-or-nothing: one malformed event rejects the batch and names its index', async () => {
    const tenant = await h.newTenant();
    const good = { event_name: 'api_call', external_customer_id: 'c1', timestamp: at(1) };
    const response = await h.request(tenant, 'POST', '/v1/events/bulk', {
      events: [good, good, good, { ...good, timestamp: 'nope' }],
    });
    const body = assertEnvelope(response, 400, 'validation_error');
    assert.match(JSON.stringify(body), /events\.3|events\[3\]/);
    const service = await h.request(tenant, 'POST', '/v1/events/bulk', {
      events: [good, { event_name: 'api_call' }],
    });
    assert.match(assertEnvelope(service, 400, 'validation_error').message, /events\[1\]/);
    assert.equal((await usage(tenant, { event_name: 'api_call', aggregation_type: 'COUNT' })).value, 0);
  });

  it('takes 1 to 1000 events', async () => {
    const tenant = await h.newTenant();
    assertEnvelope(await h.request(tenant, 'POST', '/v1/events/bulk', { events: [] }), 400, 'validation_error');
    const many = Array.from({ length: 1001 }, () => ({ event_name: 'x', external_customer_id: 'c' }));
    assertEnvelope(await h.request(tenant, 'POST', '/v1/events/bulk', { events: many }), 400, 'validation_error');
    const thousand = many.slice(0, 1000);
    assert.equal((await h.request(tenant, 'POST', '/v1/events/bulk', { events: thousand })).statusCode, 202);
  });

  it('keeps events of a customer that does not exist yet and counts them once it does', async () => {
    const tenant = await h.newTenant();
    await ingest(tenant, [
      { event_id: 'early', event_name: 'api_call', external_customer_id: 'later', timestamp: at(1) },
    ]);
    const before = (await h.request(tenant, 'GET', '/v1/events/lookup?id=early')).json();
    assert.equal(before.event.customer_id, '');
    const created = await h.request(tenant, 'POST', '/v1/customers', { external_id: 'later', name: 'Later' });
    assert.equal(created.statusCode, 201);
    const counted = await usage(tenant, {
      event_name: 'api_call',
      aggregation_type: 'COUNT',
      customer_id: created.json().id,
    });
    assert.equal(counted.value, 1);
    await ingest(tenant, [
      { event_id: 'late', event_name: 'api_call', external_customer_id: 'later', timestamp: at(2) },
    ]);
    const afterLookup = (await h.request(tenant, 'GET', '/v1/events/lookup?id=late')).json();
    assert.equal(afterLookup.event.customer_id, created.json().id);
  });
});

describe('POST /v1/events/usage', () => {
  async function seed(tenant: TestTenant) {
    await ingest(tenant, [
      {
        event_id: '1',
        event_name: 'tokens',
        external_customer_id: 'c1',
        timestamp: at(0),
        properties: { n: '0.1', model: 'a', user: 'u1' },
      },
      {
        event_id: '2',
        event_name: 'tokens',
        external_customer_id: 'c1',
        timestamp: at(30),
        properties: { n: 0.2, model: 'b', user: 'u2' },
      },
      {
        event_id: '3',
        event_name: 'tokens',
        external_customer_id: 'c1',
        timestamp: at(90),
        properties: { n: '7', model: 'a', user: 'u1' },
      },
      {
        event_id: '4',
        event_name: 'tokens',
        external_customer_id: 'c1',
        timestamp: at(24 * 60),
        properties: { n: 'abc', model: 'a', user: 'u3' },
      },
      {
        event_id: '5',
        event_name: 'tokens',
        external_customer_id: 'c1',
        timestamp: at(24 * 60 + 1),
        properties: { n: '3', model: 'b', user: 'u1' },
      },
      {
        event_id: '6',
        event_name: 'tokens',
        external_customer_id: 'c2',
        timestamp: at(10),
        properties: { n: '100', model: 'a' },
      },
      { event_id: '7', event_name: 'other', external_customer_id: 'c1', timestamp: at(10), properties: { n: '1000' } },
    ]);
  }
  const c1 = { event_name: 'tokens', external_customer_id: 'c1', property_name: 'n' };

  it('computes every aggregation exactly against hand-computed answers', async () => {
    const tenant = await h.newTenant();
    await seed(tenant);
    const value = async (aggregation_type: string, extra: Record<string, unknown> = {}) =>
      (await usage(tenant, { ...c1, aggregation_type, ...extra })).value;
    assert.equal(await value('COUNT'), 5);
    assert.equal(await value('SUM'), 10.3); // 0.1 + 0.2 + 7 + 0 (non-numeric) + 3, exact decimal
    assert.equal(await value('AVG'), 2.06);
    assert.equal(await value('MAX'), 7);
    assert.equal(await value('LATEST'), 3);
    assert.equal(await value('COUNT_UNIQUE', { property_name: 'user' }), 3);
    assert.equal(await value('SUM_WITH_MULTIPLIER', { multiplier: '2.5' }), 25.75);
    // time-weighted over one day [T0, T0+1d): each value weighted by the share of the period left after it
    const weighted = await usage(tenant, {
      ...c1,
      aggregation_type: 'WEIGHTED_SUM',
      start_time: T0,
      end_time: at(24 * 60),
    });
    const expected = 0.1 * 1 + 0.2 * ((24 * 60 - 30) / (24 * 60)) + 7 * ((24 * 60 - 90) / (24 * 60));
    assert.ok(Math.abs(weighted.value - expected) < 1e-9, `${weighted.value} vs ${expected}`);
    // all customers
    assert.equal(
      (await usage(tenant, { event_name: 'tokens', aggregation_type: 'SUM', property_name: 'n' })).value,
      110.3,
    );
  });

  it('splits by window with UTC boundaries and counts back-dated events in their own window', async () => {
    const tenant = await h.newTenant();
    await seed(tenant);
    const daily = await usage(tenant, { ...c1, aggregation_type: 'SUM', window_size: 'DAY' });
    assert.deepEqual(daily.results, [
      { window_size: '2026-03-01T00:00:00.000Z', value: 7.3 },
      { window_size: '2026-03-02T00:00:00.000Z', value: 3 },
    ]);
    const hourly = await usage(tenant, { ...c1, aggregation_type: 'COUNT', window_size: 'HOUR' });
    assert.deepEqual(
      hourly.results.map((r) => [r.window_size, r.value]),
      [
        ['2026-03-01T00:00:00.000Z', 2],
        ['2026-03-01T01:00:00.000Z', 1],
        ['2026-03-02T00:00:00.000Z', 2],
      ],
    );
    // a late, back-dated event lands in its own (earlier) window
    await ingest(tenant, [
      { event_id: 'late', event_name: 'tokens', external_customer_id: 'c1', timestamp: at(45), properties: { n: '1' } },
    ]);
    const again = await usage(tenant, { ...c1, aggregation_type: 'SUM', window_size: 'DAY' });
    assert.equal(again.results[0]!.value, 8.3);
  });

  it('uses the time zone for calendar windows and a billing anchor for months', async () => {
    const tenant = await h.newTenant();
    await ingest(tenant, [
      { event_id: 'x1', event_name: 'e', external_customer_id: 'c', timestamp: '2026-03-01T03:00:00Z' },
      { event_id: 'x2', event_name: 'e', external_customer_id: 'c', timestamp: '2026-03-01T06:00:00Z' },
      { event_id: 'x3', event_name: 'e', external_customer_id: 'c', timestamp: '2026-03-20T00:00:00Z' },
    ]);
    const ny = await usage(tenant, {
      event_name: 'e',
      aggregation_type: 'COUNT',
      window_size: 'DAY',
      timezone: 'America/New_York',
      start_time: '2026-02-28T00:00:00Z',
    });
    assert.deepEqual(
      ny.results.map((r) => [r.window_size, r.value]),
      [
        ['2026-02-28T05:00:00.000Z', 1], // 03:00Z is still Feb 28 in New York
        ['2026-03-01T05:00:00.000Z', 1],
        ['2026-03-19T04:00:00.000Z', 1], // after the DST change
      ],
    );
    const anchored = await usage(tenant, {
      event_name: 'e',
      aggregation_type: 'COUNT',
      window_size: 'MONTH',
      billing_anchor: '2026-01-15T00:00:00Z',
      start_time: '2026-02-01T00:00:00Z',
    });
    assert.deepEqual(
      anchored.results.map((r) => [r.window_size, r.value]),
      [
        ['2026-02-15T00:00:00.000Z', 2], // Feb 15 – Mar 15
        ['2026-03-15T00:00:00.000Z', 1], // Mar 15 – Apr 15
      ],
    );
  });

  it('filters on properties and groups before aggregating', async () => {
    const tenant = await h.newTenant();
    await seed(tenant);
    assert.equal((await usage(tenant, { ...c1, aggregation_type: 'SUM', filters: { model: ['a'] } })).value, 7.1);
    assert.equal((await usage(tenant, { ...c1, aggregation_type: 'SUM', filters: { model: ['a', 'b'] } })).value, 10.3);
    // MAX per model summed: max(a)=7, max(b)=3
    assert.equal((await usage(tenant, { ...c1, aggregation_type: 'MAX', group_by: ['properties.model'] })).value, 10);
    // bucketed MAX: per-day maxima summed: day1 max 7, day2 max 3
    assert.equal((await usage(tenant, { ...c1, aggregation_type: 'MAX', bucket_size: 'DAY' })).value, 10);
    // bucketed by hour: 0.2 (hour 0) + 7 (hour 1) + 3 (day 2 hour 0)
    assert.equal((await usage(tenant, { ...c1, aggregation_type: 'MAX', bucket_size: 'HOUR' })).value, 10.2);
  });

  it('rejects bad usage requests with 400', async () => {
    const tenant = await h.newTenant();
    const bad: Array<Record<string, unknown>> = [
      { event_name: 'e', aggregation_type: 'MEDIAN' },
      { event_name: 'e', aggregation_type: 'SUM' },
      {
        event_name: 'e',
        aggregation_type: 'COUNT',
        start_time: '2026-03-02T00:00:00Z',
        end_time: '2026-03-01T00:00:00Z',
      },
      { event_name: 'e', aggregation_type: 'COUNT', bucket_size: 'DAY' },
      { event_name: 'e', aggregation_type: 'SUM_WITH_MULTIPLIER', property_name: 'n' },
      { event_name: 'e', aggregation_type: 'COUNT', window_size: 'FORTNIGHT' },
      { event_name: 'e', aggregation_type: 'COUNT', timezone: 'Nowhere/Land' },
      { event_name: 'e', aggregation_type: 'COUNT', group_by: ['customer'] },
    ];
    for (const body of bad)
      assertEnvelope(await h.request(tenant, 'POST', '/v1/events/usage', body), 400, 'validation_error');
  });
});

describe('raw events', () => {
  it('lists raw events with filters, offsets and iteration keys', async () => {
    const tenant = await h.newTenant();
    await ingest(
      tenant,
      Array.from({ length: 7 }, (_, i) => ({
        event_id: `r${i}`,
        event_name: 'api_call',
        external_customer_id: i % 2 ? 'odd' : 'even',
        timestamp: at(i),
        source: 'sdk',
        properties: { region: i < 3 ? 'eu' : 'us' },
      })),
    );
    const query = (body: Record<string, unknown>) =>
      h.request(tenant, 'POST', '/v1/events/query', { start_time: T0, end_time: at(60), ...body }).then((r) => {
        assert.equal(r.statusCode, 200, r.body);
        return r.json();
      });
    const first = await query({ page_size: 3 });
    assert.equal(first.total_count, 7);
    assert.equal(first.has_more, true);
    assert.deepEqual(
      first.events.map((e: { id: string }) => e.id),
      ['r6', 'r5', 'r4'],
    );
    const next = await query({ page_size: 3, iter_last_key: first.iter_last_key });
    assert.deepEqual(
      next.events.map((e: { id: string }) => e.id),
      ['r3', 'r2', 'r1'],
    );
    const byOffset = await query({ page_size: 3, offset: 6 });
    assert.deepEqual(
      byOffset.events.map((e: { id: string }) => e.id),
      ['r0'],
    );
    assert.equal(byOffset.has_more, false);
    const filtered = await query({ external_customer_id: 'odd', property_filters: { region: ['us'] }, order: 'asc' });
    assert.deepEqual(
      filtered.events.map((e: { id: string }) => e.id),
      ['r3', 'r5'],
    );
    assert.equal(filtered.events[0].source, 'sdk');
    assert.deepEqual(filtered.events[0].properties, { region: 'us' });
  });

  it('looks an event up by id, 404 when unknown', async () => {
    const tenant = await h.newTenant();
    await ingest(tenant, [
      { event_id: 'look', event_name: 'api_call', external_customer_id: 'c', timestamp: at(3), properties: { a: 1 } },
    ]);
    const found = await h.request(tenant, 'GET', '/v1/events/lookup?id=look');
    assert.equal(found.statusCode, 200);
    assert.equal(found.json().event.timestamp, at(3));
    assert.deepEqual(found.json().event.properties, { a: 1 });
    assertEnvelope(await h.request(tenant, 'GET', '/v1/events/lookup?id=nope'), 404, 'not_found');
  });
});

describe('events auth and isolation', () => {
  it('needs a key', async () => {
    assertEnvelope(await h.request(null, 'POST', '/v1/events', { event_name: 'x', external_customer_id: 'c' }), 401);
    assertEnvelope(
      await h.request(null, 'POST', '/v1/events/usage', { event_name: 'x', aggregation_type: 'COUNT' }),
      401,
    );
  });

  it('keeps environments apart: the same event id is stored in each, and neither sees the other', async () => {
    const a = await h.newTenant();
    const b = await h.newTenant();
    const event = { event_id: 'same', event_name: 'api_call', external_customer_id: 'c', timestamp: at(1) };
    await ingest(a, [event]);
    await ingest(b, [event]);
    await ingest(b, [{ ...event, event_id: 'only-b' }]);
    assert.equal((await usage(a, { event_name: 'api_call', aggregation_type: 'COUNT' })).value, 1);
    assert.equal((await usage(b, { event_name: 'api_call', aggregation_type: 'COUNT' })).value, 2);
    assertEnvelope(await h.request(a, 'GET', '/v1/events/lookup?id=only-b'), 404);
  });
});

describe('POST /v1/events/usage/meter', () => {
  it("aggregates with the meter's event name, aggregation and filters, and the request's filters on top", async () => {
    const tenant = await h.newTenant();
    const created = await h.request(tenant, 'POST', '/v1/meters', {
      name: 'GPT tokens',
      event_name: 'llm',
      aggregation: { type: 'SUM_WITH_MULTIPLIER', field: 'tokens', multiplier: '0.5' },
      filters: [{ key: 'model', values: ['gpt', 'gpt-mini'] }],
    });
    assert.equal(created.statusCode, 201, created.body);
    const meter = created.json();
    await ingest(tenant, [
      {
        event_id: 'm1',
        event_name: 'llm',
        external_customer_id: 'c1',
        timestamp: at(1),
        properties: { tokens: 10, model: 'gpt' },
      },
      {
        event_id: 'm2',
        event_name: 'llm',
        external_customer_id: 'c1',
        timestamp: at(2),
        properties: { tokens: '30', model: 'gpt-mini' },
      },
      {
        event_id: 'm3',
        event_name: 'llm',
        external_customer_id: 'c1',
        timestamp: at(3),
        properties: { tokens: 99, model: 'claude' },
      },
      {
        event_id: 'm4',
        event_name: 'other',
        external_customer_id: 'c1',
        timestamp: at(4),
        properties: { tokens: 99, model: 'gpt' },
      },
      {
        event_id: 'm5',
        event_name: 'llm',
        external_customer_id: 'c2',
        timestamp: at(5),
        properties: { tokens: 99, model: 'gpt' },
      },
    ]);
    const body = {
      meter_id: meter.id,
      external_customer_id: 'c1',
      start_time: '2026-03-01T00:00:00Z',
      end_time: '2026-04-01T00:00:00Z',
    };
    const all = await h.request(tenant, 'POST', '/v1/events/usage/meter', body);
    assert.equal(all.statusCode, 200, all.body);
    const { results: _results, ...total } = all.json() as Record<string, unknown>;
    assert.deepEqual(total, { event_name: 'llm', type: 'SUM_WITH_MULTIPLIER', value: 20 });
    const narrowed = await h.request(tenant, 'POST', '/v1/events/usage/meter', {
      ...body,
      filters: { model: ['gpt-mini', 'claude'] },
      window_size: 'DAY',
    });
    assert.equal(narrowed.statusCode, 200, narrowed.body);
    assert.equal(narrowed.json().value, 15);
    assert.deepEqual(narrowed.json().results, [{ window_size: '2026-03-01T00:00:00.000Z', value: 15 }]);

    assertEnvelope(await h.request(tenant, 'POST', '/v1/events/usage/meter', { ...body, meter_id: 'meter_nope' }), 404);
    assertEnvelope(await h.request(tenant, 'POST', '/v1/events/usage/meter', { external_customer_id: 'c1' }), 400);
    const other = await h.newTenant();
    assertEnvelope(await h.request(other, 'POST', '/v1/events/usage/meter', body), 404);
  });
});
