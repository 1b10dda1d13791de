import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { sql } from 'kysely';
import {
  aggregateEvents,
  aggregateEventsMany,
  type AggregateQuery,
  rebuildRollups,
} from '../../src/modules/events/events.repo.ts';
import type { AggregationType, WindowSize } from '../../src/modules/events/events.schemas.ts';
import { withTransaction } from '../../src/platform/db/database.ts';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

const T0 = Date.parse('2026-03-01T00:00:00Z');
const MINUTE = 60_000;
const scopeOf = (t: TestTenant) => ({ tenantId: t.tenantId, environmentId: t.environmentId });

/** Both paths of the same query: rollups when eligible, and raw events forced. */
async function bothWays(tenant: TestTenant, q: AggregateQuery) {
  const viaRollups = await aggregateEvents(h.database.db, scopeOf(tenant), q);
  const viaRaw = await aggregateEvents(h.database.db, scopeOf(tenant), { ...q, useRollups: false });
  const norm = (rows: Array<{ window_start: Date | null; value: string | null }>) =>
    rows.map((r) => [r.window_start?.toISOString() ?? null, r.value === null ? null : new Decimal(r.value).toString()]);
  return { viaRollups: norm(viaRollups), viaRaw: norm(viaRaw) };
}

const propertyValue = fc.oneof(
  fc.integer({ min: -5, max: 1000 }),
  fc.integer({ min: 0, max: 100_000 }).map((n) => (n / 100).toFixed(2)),
  fc.constantFrom('abc', '', ' 7 ', '1e2', 'true'),
);
const event = fc.record({
  id: fc.integer({ min: 0, max: 60 }).map((n) => `e-${n}`),
  customer: fc.constantFrom('a', 'b'),
  minute: fc.integer({ min: 0, max: 3 * 24 * 60 }),
  tokens: fc.option(propertyValue, { nil: undefined }),
});

describe('hourly usage rollups', () => {
  it('answer exactly what raw events answer, for random events with duplicates, ranges and windows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(event, { minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom<AggregationType>('COUNT', 'SUM', 'AVG', 'MAX', 'SUM_WITH_MULTIPLIER'),
        fc.integer({ min: 0, max: 2 * 24 * 60 }),
        fc.integer({ min: 1, max: 2 * 24 * 60 }),
        fc.constantFrom<WindowSize | undefined>(undefined, 'HOUR', '3HOUR', 'DAY', 'MONTH'),
        async (batches, aggregation, startMinute, lengthMinutes, windowSize) => {
          const tenant = await h.newTenant();
          for (const batch of batches) {
            await h.services.events.ingestEvents(
              scopeOf(tenant),
              batch.map((e) => ({
                event_id: e.id,
                event_name: 'api_call',
                external_customer_id: e.customer,
                timestamp: new Date(T0 + e.minute * MINUTE).toISOString(),
                properties: (e.tokens === undefined ? { other: 1 } : { tokens: e.tokens }) as Record<
                  string,
                  string | number
                >,
              })),
            );
          }
          const q: AggregateQuery = {
            eventName: 'api_call',
            aggregation,
            propertyName: aggregation === 'COUNT' ? '' : 'tokens',
            externalCustomerId: 'a',
            start: new Date(T0 + startMinute * MINUTE),
            end: new Date(T0 + (startMinute + lengthMinutes) * MINUTE),
            windowSize,
            timezone: 'UTC',
            multiplier: aggregation === 'SUM_WITH_MULTIPLIER' ? '2.5' : undefined,
            groupBy: [],
          };
          const { viaRollups, viaRaw } = await bothWays(tenant, q);
          assert.deepEqual(viaRollups, viaRaw);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('answer several queries in one statement exactly as each query alone', async () => {
    const query = fc.record({
      aggregation: fc.constantFrom<AggregationType>('COUNT', 'SUM', 'AVG', 'MAX', 'SUM_WITH_MULTIPLIER', 'LATEST'),
      eventName: fc.constantFrom('api_call', 'storage'),
      property: fc.constantFrom('tokens', 'gb', 'missing', ''),
      customer: fc.constantFrom('a', 'b', 'nobody'),
      // whole hours and partial ones, empty and reversed-free ranges
      startMinute: fc.oneof(
        fc.integer({ min: 0, max: 2 * 24 * 60 }),
        fc.integer({ min: 0, max: 48 }).map((h) => h * 60),
      ),
      lengthMinutes: fc.oneof(
        fc.integer({ min: 0, max: 2 * 24 * 60 }),
        fc.integer({ min: 0, max: 48 }).map((h) => h * 60),
      ),
      windowSize: fc.constantFrom<WindowSize | undefined>(undefined, undefined, 'HOUR', 'DAY'),
      multiplier: fc.constantFrom('2.5', '0.001', '3'),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { minLength: 0, maxLength: 60 }),
        fc.array(query, { minLength: 1, maxLength: 8 }),
        async (events, specs) => {
          const tenant = await h.newTenant();
          if (events.length) {
            await h.services.events.ingestEvents(
              scopeOf(tenant),
              events.map((e, i) => ({
                event_id: e.id,
                event_name: i % 3 ? 'api_call' : 'storage',
                external_customer_id: e.customer,
                timestamp: new Date(T0 + e.minute * MINUTE).toISOString(),
                properties: (e.tokens === undefined
                  ? { gb: (i % 7) / 4 }
                  : { tokens: e.tokens, gb: String(i % 5) }) as Record<string, string | number>,
              })),
            );
          }
          const queries = specs.map((spec): AggregateQuery => ({
            eventName: spec.eventName,
            aggregation: spec.aggregation,
            propertyName: spec.aggregation === 'COUNT' ? '' : spec.property,
            externalCustomerId: spec.customer,
            start: new Date(T0 + spec.startMinute * MINUTE),
            end: new Date(T0 + (spec.startMinute + spec.lengthMinutes) * MINUTE),
            windowSize: spec.windowSize,
            timezone: 'UTC',
            multiplier: spec.aggregation === 'SUM_WITH_MULTIPLIER' ? spec.multiplier : undefined,
            groupBy: [],
            filters: {},
          }));
          const norm = (rows: Array<{ window_start: Date | null; value: string | null; events: string }>) =>
            rows.map((r) => [
              r.window_start?.toISOString() ?? null,
              r.value === null ? null : new Decimal(r.value).toString(),
              new Decimal(r.events).toString(),
            ]);
          const together = await aggregateEventsMany(h.database.db, scopeOf(tenant), queries);
          for (const [i, q] of queries.entries()) {
            const alone = await aggregateEvents(h.database.db, scopeOf(tenant), q);
            const raw = await aggregateEvents(h.database.db, scopeOf(tenant), { ...q, useRollups: false });
            assert.deepEqual(norm(together[i]!), norm(alone), `query ${i}: ${JSON.stringify(specs[i])}`);
            assert.deepEqual(
              norm(together[i]!).map(([w, v]) => [w, v]),
              norm(raw).map(([w, v]) => [w, v]),
              `query ${i} (raw events)`,
            );
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('are rebuilt from raw events exactly as ingestion maintained them', async () => {
    const tenant = await h.newTenant();
    const events = Array.from({ length: 300 }, (_, i) => ({
      event_id: `r-${i % 250}`,
      event_name: i % 3 ? 'api_call' : 'storage',
      external_customer_id: `c-${i % 4}`,
      timestamp: new Date(T0 + i * 7 * MINUTE).toISOString(),
      properties: { tokens: String(i % 17), gb: i % 5 ? (i / 4).toFixed(2) : 'n/a' },
    }));
    await h.services.events.ingestEvents(scopeOf(tenant), events.slice(0, 200));
    await h.services.events.ingestEvents(scopeOf(tenant), events.slice(150));
    const snapshot = async () =>
      (
        await sql<Record<string, unknown>>`
          select external_customer_id, event_name, property, hour, events::text as events, total::text as total,
                 maximum::text as maximum
          from event_rollups where tenant_id = ${tenant.tenantId}
          order by 1, 2, 3, 4`.execute(h.database.db)
      ).rows.map((r) => JSON.stringify(r));
    const maintained = await snapshot();
    assert.ok(maintained.length > 0);
    await sql`delete from event_rollups where tenant_id = ${tenant.tenantId}`.execute(h.database.db);
    await withTransaction(h.database.db, (tx) => rebuildRollups(tx));
    assert.deepEqual(await snapshot(), maintained);
    const counted = await sql<{ n: string }>`
      select coalesce(sum(events), 0)::text as n from event_rollups
      where tenant_id = ${tenant.tenantId} and property = ''`.execute(h.database.db);
    assert.equal(counted.rows[0]!.n, '250');
  });

  it('serve POST /v1/events/usage with edge partial hours from raw events', async () => {
    const tenant = await h.newTenant();
    const minutes = [5, 59, 60, 61, 119, 120, 180, 185];
    await h.services.events.ingestEvents(
      scopeOf(tenant),
      minutes.map((m, i) => ({
        event_id: `p-${i}`,
        event_name: 'api_call',
        external_customer_id: 'c1',
        timestamp: new Date(T0 + m * MINUTE).toISOString(),
        properties: { tokens: String(i + 1) },
      })),
    );
    const response = await h.request(tenant, 'POST', '/v1/events/usage', {
      event_name: 'api_call',
      aggregation_type: 'SUM',
      property_name: 'tokens',
      external_customer_id: 'c1',
      start_time: new Date(T0 + 30 * MINUTE).toISOString(),
      end_time: new Date(T0 + 182 * MINUTE).toISOString(),
    });
    assert.equal(response.statusCode, 200, response.body);
    // minutes 59, 60, 61, 119, 120, 180 → values 2..7
    assert.equal(Number(response.json().value), 2 + 3 + 4 + 5 + 6 + 7);
  });
});
