import type { Clock } from '../../platform/clock.ts';
import type { Db, Executor } from '../../platform/db/database.ts';
import { notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { dec, parseDecimal, toWire } from '../../platform/money.ts';
import { isTimezone } from '../../platform/validation.ts';
import { meterUsageSpec, type MetersService, type MeterView } from '../catalog/meters.service.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import * as repo from './events.repo.ts';
import type { AggregationType, WindowSize } from './events.schemas.ts';

export interface IngestEventInput {
  event_name: string;
  external_customer_id?: string | undefined;
  customer_id?: string | undefined;
  event_id?: string | undefined;
  timestamp?: string | undefined;
  source?: string | undefined;
  properties?: Record<string, string | number | boolean | null> | undefined;
}

export interface EventView {
  id: string;
  event_name: string;
  external_customer_id: string;
  customer_id: string;
  timestamp: string;
  source: string;
  properties: Record<string, unknown>;
  environment_id: string;
}

export interface UsageInput {
  event_name: string;
  aggregation_type: AggregationType;
  property_name?: string | undefined;
  external_customer_id?: string | undefined;
  customer_id?: string | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  window_size?: WindowSize | undefined;
  bucket_size?: WindowSize | undefined;
  billing_anchor?: string | undefined;
  timezone?: string | undefined;
  filters?: Record<string, string[]> | undefined;
  multiplier?: string | number | undefined;
  group_by?: string[] | undefined;
  group_by_property?: string | undefined;
}

export interface UsageByMeterInput {
  meter_id: string;
  external_customer_id?: string | undefined;
  customer_id?: string | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  window_size?: WindowSize | undefined;
  bucket_size?: WindowSize | undefined;
  billing_anchor?: string | undefined;
  timezone?: string | undefined;
  filters?: Record<string, string[]> | undefined;
}

export interface UsageView {
  event_name: string;
  type: AggregationType;
  /** exact decimal of the total; the wire carries it as a JSON number, as the reference does */
  value: string;
  results: Array<{ window_size: string; value: string }>;
}

/** One customer's usage of a meter over [start, end) (billing's read; see meterUsageIn). */
export interface MeterUsageRequest {
  meter: MeterView;
  externalCustomerId: string;
  start: Date;
  end: Date;
  filters?: Record<string, string[]> | undefined;
  windowSize?: WindowSize | undefined;
}

export interface MeterUsage {
  value: string;
  windows: Array<{ start: Date | null; value: string }>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const WHITESPACE = /\s/;
const MAX_WINDOWS = 10_000;

function eventView(row: Awaited<ReturnType<typeof repo.findEventById>> & object): EventView {
  return {
    id: row.id,
    event_name: row.event_name,
    external_customer_id: row.external_customer_id,
    customer_id: row.customer_id ?? '',
    timestamp: row.timestamp.toISOString(),
    source: row.source,
    properties: row.properties ?? {},
    environment_id: row.environment_id,
  };
}

function parseTime(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw validation(`${field} must be an RFC 3339 timestamp`);
  return new Date(ms);
}

/** Monthly windows anchored on `anchor`'s day and time of month (UTC), covering [start, end). */
export function anchoredMonths(anchor: Date, start: Date, end: Date): Array<{ start: Date; end: Date }> {
  const addMonths = (months: number) => {
    const y = anchor.getUTCFullYear();
    const m = anchor.getUTCMonth() + months;
    const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
    return new Date(
      Date.UTC(
        y,
        m,
        Math.min(anchor.getUTCDate(), lastDay),
        anchor.getUTCHours(),
        anchor.getUTCMinutes(),
        anchor.getUTCSeconds(),
        anchor.getUTCMilliseconds(),
      ),
    );
  };
  // find the period containing `start`
  let k = (start.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (start.getUTCMonth() - anchor.getUTCMonth()) - 1;
  while (addMonths(k + 1) <= start) k++;
  while (addMonths(k) > start) k--;
  const windows: Array<{ start: Date; end: Date }> = [];
  for (let i = k; addMonths(i) < end && windows.length < MAX_WINDOWS; i++) {
    windows.push({ start: addMonths(i), end: addMonths(i + 1) });
  }
  return windows;
}

/**
 * Usage events: synchronous, exact deduplication on (environment, event_id) at ingest; raw queries and
 * aggregation computed in SQL with exact numerics.
 */
export function createEventsService(deps: {
  db: Db;
  clock: Clock;
  customers: CustomersService;
  meters: Pick<MetersService, 'getMeter'>;
}) {
  const { db, clock, customers, meters } = deps;

  /**
   * One event's row, after the checks the request schema cannot express. Runs for every event of a bulk request
   * (up to 1,000), so it stays a plain loop: the schema already checked the types and formats.
   */
  function prepare(input: IngestEventInput, index: number | undefined, now: string): repo.EventInsert {
    const eventId = input.event_id;
    let timestamp = now;
    const invalid = !input.event_name.trim()
      ? 'event_name is required'
      : !input.external_customer_id && !input.customer_id
        ? 'external_customer_id or customer_id is required'
        : eventId !== undefined && (eventId === '' || WHITESPACE.test(eventId))
          ? 'event_id must not be empty or contain whitespace'
          : undefined;
    let problem = invalid;
    if (problem === undefined && input.timestamp !== undefined) {
      const ms = Date.parse(input.timestamp);
      if (Number.isNaN(ms)) problem = 'timestamp must be RFC 3339';
      else timestamp = new Date(ms).toISOString();
    }
    const properties = input.properties;
    if (problem === undefined && properties !== undefined) {
      for (const key in properties) {
        const value = properties[key];
        if (value !== null && typeof value === 'object') {
          problem = `properties.${key} must be a string, number or boolean`;
          break;
        }
      }
    }
    if (problem !== undefined) {
      throw index === undefined ? validation(problem) : validation(`events[${index}]: ${problem}`, { index });
    }
    return {
      id: eventId ?? newId('event'),
      event_name: input.event_name,
      external_customer_id: input.external_customer_id ?? '',
      customer_id: input.customer_id ?? null,
      timestamp,
      source: input.source ?? '',
      properties: properties === undefined ? '{}' : JSON.stringify(properties),
    };
  }

  /**
   * Fills external_customer_id of rows that only name a customer_id (404 for an unknown customer). The reverse, a
   * customer_id for an external id, is filled by the insert statement itself.
   */
  async function resolveExternalIds(scope: Scope, rows: repo.EventInsert[]): Promise<void> {
    const customerIds = [
      ...new Set(rows.filter((r) => !r.external_customer_id && r.customer_id).map((r) => r.customer_id!)),
    ];
    if (customerIds.length === 0) return;
    const found = await customers.searchCustomers(scope, { customer_ids: customerIds, limit: 1000 });
    const byId = new Map(found.items.map((c) => [c.id, c.external_id]));
    for (const row of rows) {
      if (!row.external_customer_id) {
        const external = byId.get(row.customer_id!);
        if (!external) throw notFound('customer', { customer_id: row.customer_id });
        row.external_customer_id = external;
      }
    }
  }

  async function ingest(scope: Scope, inputs: IngestEventInput[], bulk: boolean) {
    const now = clock.now();
    const nowText = now.toISOString();
    const rows: repo.EventInsert[] = new Array(inputs.length);
    for (let i = 0; i < inputs.length; i++) rows[i] = prepare(inputs[i]!, bulk ? i : undefined, nowText);
    await resolveExternalIds(scope, rows);
    // A duplicate inside the batch is dropped here (the first one is kept); the primary key drops stored ones.
    let unique = rows;
    if (rows.length > 1) {
      const seen = new Set<string>();
      unique = rows.filter((row) => {
        if (seen.has(row.id)) return false;
        seen.add(row.id);
        return true;
      });
    }
    const inserted = await repo.insertEvents(db, scope, unique, now);
    return { rows, inserted };
  }

  function timeRange(input: { start_time?: string | undefined; end_time?: string | undefined }) {
    const end = parseTime(input.end_time, 'end_time') ?? clock.now();
    const start = parseTime(input.start_time, 'start_time') ?? new Date(end.getTime() - 7 * DAY_MS);
    if (end.getTime() < start.getTime()) throw validation('end_time must not be before start_time');
    return { start, end };
  }

  async function externalIdOf(scope: Scope, input: { external_customer_id?: string; customer_id?: string }) {
    if (input.external_customer_id) return input.external_customer_id;
    if (input.customer_id) return (await customers.getCustomer(scope, input.customer_id)).external_id;
    return undefined;
  }

  return {
    /** One event; a duplicate event_id answers like the original and is never stored twice. */
    async ingestEvent(scope: Scope, input: IngestEventInput): Promise<{ event_id: string; duplicate: boolean }> {
      const { rows, inserted } = await ingest(scope, [input], false);
      return { event_id: rows[0]!.id, duplicate: inserted === 0 };
    },

    /** 1..1000 events, all-or-nothing validation; duplicates (stored or inside the batch) are dropped. */
    async ingestEvents(scope: Scope, inputs: IngestEventInput[]): Promise<{ accepted: number; inserted: number }> {
      const { inserted } = await ingest(scope, inputs, true);
      return { accepted: inputs.length, inserted };
    },

    async getEvent(scope: Scope, id: string): Promise<EventView> {
      const row = await repo.findEventById(db, scope, id);
      if (!row) throw notFound('event', { id });
      return eventView(row);
    },

    /** Raw events, newest first by default; pages by offset or by the iter keys (`<unix-nanos>::<event_id>`). */
    async queryEvents(
      scope: Scope,
      input: {
        external_customer_id?: string;
        event_name?: string;
        event_id?: string;
        source?: string;
        start_time?: string;
        end_time?: string;
        property_filters?: Record<string, string[]>;
        sort?: 'timestamp' | 'event_name';
        order?: 'asc' | 'desc';
        page_size?: number;
        offset?: number;
        iter_last_key?: string;
      },
    ) {
      const { start, end } = timeRange(input);
      const pageSize = input.page_size && input.page_size >= 1 && input.page_size <= 50 ? input.page_size : 50;
      let after: { timestamp: Date; id: string } | undefined;
      if (input.iter_last_key) {
        const [nanos, ...rest] = input.iter_last_key.split('::');
        const id = rest.join('::');
        if (!nanos || !/^\d+$/.test(nanos) || !id) throw validation('iter_last_key must be <unix-nanos>::<event_id>');
        after = { timestamp: new Date(Number(BigInt(nanos) / 1_000_000n)), id };
      }
      const sort = input.sort ?? 'timestamp';
      const { rows, total } = await repo.listEvents(db, scope, {
        externalCustomerId: input.external_customer_id,
        eventName: input.event_name,
        eventId: input.event_id,
        source: input.source,
        start,
        end,
        propertyFilters: input.property_filters,
        sort,
        order: input.order ?? 'desc',
        limit: pageSize,
        offset: input.offset ?? 0,
        after,
      });
      const hasMore = rows.length > pageSize;
      const page = rows.slice(0, pageSize);
      const keyOf = (row: (typeof page)[number]) => `${BigInt(row.timestamp.getTime()) * 1_000_000n}::${row.id}`;
      return {
        events: page.map(eventView),
        has_more: hasMore,
        ...(page.length ? { iter_first_key: keyOf(page[0]!), iter_last_key: keyOf(page[page.length - 1]!) } : {}),
        total_count: total,
        offset: input.offset ?? 0,
      };
    },

    /**
     * Usage of one meter (POST /v1/events/usage/meter): the meter's event name, aggregation and filters, with the
     * request's filters applied on top (a key in both keeps only the values in both).
     */
    async getUsageByMeter(scope: Scope, input: UsageByMeterInput): Promise<UsageView> {
      const meter = await meters.getMeter(scope, input.meter_id);
      const spec = meterUsageSpec(meter);
      const filters: Record<string, string[]> = { ...(spec.filters ?? {}) };
      for (const [key, values] of Object.entries(input.filters ?? {})) {
        filters[key] = filters[key] ? filters[key].filter((v) => values.includes(v)) : values;
      }
      const { meter_id: _meterId, filters: _filters, ...rest } = input;
      return this.getUsage(scope, {
        ...spec,
        ...rest,
        bucket_size: input.bucket_size ?? spec.bucket_size,
        filters,
      });
    },

    /**
     * A customer's total usage of each meter over its [start, end), with the meter's definition (event name,
     * aggregation, filters, multiplier, buckets, group-by), exact as decimal strings, in one statement. For callers
     * that already hold the meters (the customer usage summary): no meter or customer lookup.
     */
    async meterUsageTotals(
      scope: Scope,
      externalCustomerId: string,
      requests: Array<{ meter: MeterView; start: Date; end: Date }>,
    ): Promise<string[]> {
      const queries = requests.map(({ meter, start, end }): repo.AggregateQuery => {
        const spec = meterUsageSpec(meter);
        return {
          eventName: spec.event_name,
          aggregation: spec.aggregation_type,
          propertyName: spec.property_name ?? '',
          externalCustomerId,
          start,
          end,
          bucketSize: spec.bucket_size,
          timezone: 'UTC',
          filters: spec.filters,
          multiplier: spec.multiplier,
          groupBy: (spec.group_by ?? []).map((g) => ({
            kind: 'property' as const,
            name: g.slice('properties.'.length),
          })),
        };
      });
      const results = await repo.aggregateEventsMany(db, scope, queries);
      return results.map(([total]) => toWire(dec(total?.value ?? '0')));
    },

    /**
     * Usage of a meter for one customer over [start, end), read through `executor` so billing can call it inside its
     * transaction (PGlite has one connection). `filters` narrow the meter's own filters (a price's filter_values).
     * `windowSize` adds per-window values (bucketed meters: one window per bucket, priced per bucket).
     */
    async meterUsageIn(executor: Executor, scope: Scope, input: MeterUsageRequest): Promise<MeterUsage> {
      return (await this.meterUsageManyIn(executor, scope, [input]))[0]!;
    },

    /**
     * `meterUsageIn` for several requests in one statement (billing reads every usage line of a subscription at
     * once); the answers are in the order of `inputs` and identical to one `meterUsageIn` each.
     */
    async meterUsageManyIn(executor: Executor, scope: Scope, inputs: MeterUsageRequest[]): Promise<MeterUsage[]> {
      const queries = inputs.map((input): repo.AggregateQuery => {
        const spec = meterUsageSpec(input.meter);
        const filters: Record<string, string[]> = { ...(spec.filters ?? {}) };
        for (const [key, values] of Object.entries(input.filters ?? {})) {
          filters[key] = filters[key] ? filters[key].filter((v) => values.includes(v)) : values;
        }
        const base = {
          eventName: spec.event_name,
          aggregation: spec.aggregation_type,
          propertyName: spec.property_name ?? '',
          externalCustomerId: input.externalCustomerId,
          start: input.start,
          end: input.end,
          timezone: 'UTC',
          filters,
          multiplier: spec.multiplier === undefined ? undefined : dec(spec.multiplier).toFixed(),
          groupBy: (spec.group_by ?? []).map((name) => ({
            kind: 'property' as const,
            name: name.slice('properties.'.length),
          })),
        };
        return input.windowSize ? { ...base, windowSize: input.windowSize } : { ...base, bucketSize: spec.bucket_size };
      });
      const results = await repo.aggregateEventsMany(executor, scope, queries);
      return results.map((rows, i) => {
        if (inputs[i]!.windowSize) {
          let total = dec(0);
          for (const row of rows) total = total.add(dec(row.value ?? '0'));
          return {
            value: total.toFixed(),
            windows: rows.map((row) => ({ start: row.window_start, value: dec(row.value ?? '0').toFixed() })),
          };
        }
        return { value: dec(rows[0]?.value ?? '0').toFixed(), windows: [] };
      });
    },

    /** Aggregated usage of one event name (POST /v1/events/usage). */
    async getUsage(scope: Scope, input: UsageInput): Promise<UsageView> {
      const { start, end } = timeRange(input);
      const timezone = input.timezone || 'UTC';
      if (!isTimezone(timezone)) throw validation(`timezone must be an IANA time zone name, got '${timezone}'`);
      const needsProperty = input.aggregation_type !== 'COUNT';
      if (needsProperty && !input.property_name) {
        throw validation(`property_name is required for ${input.aggregation_type}`);
      }
      let multiplier: string | undefined;
      if (input.aggregation_type === 'SUM_WITH_MULTIPLIER') {
        const parsed = input.multiplier === undefined ? null : parseDecimal(input.multiplier);
        if (!parsed || parsed.lte(0)) throw validation('multiplier must be a positive decimal for SUM_WITH_MULTIPLIER');
        multiplier = parsed.toFixed();
      }
      if (input.bucket_size && input.aggregation_type !== 'MAX' && input.aggregation_type !== 'SUM') {
        throw validation('bucket_size is supported only with MAX and SUM aggregation');
      }
      const groupNames = input.group_by?.length
        ? input.group_by
        : input.group_by_property
          ? [`properties.${input.group_by_property}`]
          : [];
      const groupBy = groupNames.map((name) => {
        if (name === 'source') return { kind: 'source' as const };
        if (name.startsWith('properties.') && name.length > 'properties.'.length) {
          return { kind: 'property' as const, name: name.slice('properties.'.length) };
        }
        throw validation(`group_by accepts "source" or "properties.<name>", got '${name}'`);
      });
      const windows =
        input.window_size === 'MONTH' && input.billing_anchor
          ? anchoredMonths(parseTime(input.billing_anchor, 'billing_anchor')!, start, end)
          : undefined;
      const externalCustomerId = await externalIdOf(scope, input);
      const base = {
        eventName: input.event_name,
        aggregation: input.aggregation_type,
        propertyName: input.property_name ?? '',
        externalCustomerId,
        start,
        end,
        bucketSize: input.bucket_size,
        timezone,
        filters: input.filters,
        multiplier,
        groupBy,
      };
      const [total] = await repo.aggregateEvents(db, scope, base);
      const windowed =
        input.window_size !== undefined
          ? await repo.aggregateEvents(db, scope, { ...base, windowSize: input.window_size, windows })
          : [];
      return {
        event_name: input.event_name,
        type: input.aggregation_type,
        value: toWire(dec(total?.value ?? '0')),
        results: windowed.map((row) => ({
          window_size: row.window_start ? row.window_start.toISOString() : '',
          value: toWire(dec(row.value ?? '0')),
        })),
      };
    },
  };
}

export type EventsService = ReturnType<typeof createEventsService>;
