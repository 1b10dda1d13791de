import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import type { Scope } from '../../platform/http/context.ts';
import type { AggregationType, WindowSize } from './events.schemas.ts';

export interface EventInsert {
  id: string;
  event_name: string;
  external_customer_id: string;
  customer_id: string | null;
  timestamp: string;
  source: string;
  properties: string;
}

const NUMERIC_TEXT = '^\\s*[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$';
const HOUR_ORIGIN = sql`timestamptz '2000-01-01 00:00:00+00'`;

/**
 * The hourly rollup rows of a set of events (`source`: a relation with tenant_id, environment_id,
 * external_customer_id, event_name, "timestamp" and properties): one count row (property '') per customer, name and
 * hour, and one row per numeric property with its exact sum and max (negative values as 0, like the raw path).
 */
function rollupRowsOf(source: RawBuilder<unknown>) {
  return sql`
    select tenant_id, environment_id, external_customer_id, event_name, '' as property,
           date_bin('1 hour'::interval, "timestamp", ${HOUR_ORIGIN}) as hour,
           count(*) as events, 0::numeric as total, null::numeric as maximum
    from ${source} s
    group by 1, 2, 3, 4, 5, 6
    union all
    select s.tenant_id, s.environment_id, s.external_customer_id, s.event_name, p.key,
           date_bin('1 hour'::interval, s."timestamp", ${HOUR_ORIGIN}),
           count(*), sum(greatest(cast(p.value as numeric), 0)), max(greatest(cast(p.value as numeric), 0))
    from ${source} s cross join lateral jsonb_each_text(s.properties) p
    where p.value ~ ${NUMERIC_TEXT}
    group by 1, 2, 3, 4, 5, 6`;
}

/**
 * One multi-row insert through `unnest` (a fixed 10 parameters whatever the batch size, so the statement is prepared
 * once per connection); duplicates of stored events and duplicates inside the batch are dropped by the primary key.
 * The same statement fills `customer_id` of the rows without one from the live customer with that
 * `external_customer_id`, if there is one, and adds the inserted rows (and only those) to the hourly rollups.
 * Returns how many rows were inserted.
 */
export async function insertEvents(db: Executor, scope: Scope, rows: EventInsert[], ingestedAt: Date) {
  const result = await sql<{ inserted: string }>`
    with inserted as (
      insert into events (tenant_id, environment_id, id, event_name, external_customer_id, customer_id, "timestamp",
                          source, properties, ingested_at)
      select ${scope.tenantId}, ${scope.environmentId}, u.id, u.event_name, u.external_customer_id,
             coalesce(u.customer_id, c.id), u.ts, u.source, u.properties, ${ingestedAt}
      from unnest(${rows.map((r) => r.id)}::text[], ${rows.map((r) => r.event_name)}::text[],
                  ${rows.map((r) => r.external_customer_id)}::text[], ${rows.map((r) => r.customer_id)}::text[],
                  ${rows.map((r) => r.timestamp)}::timestamptz[], ${rows.map((r) => r.source)}::text[],
                  ${rows.map((r) => r.properties)}::jsonb[])
           as u(id, event_name, external_customer_id, customer_id, ts, source, properties)
      left join customers c
        on u.customer_id is null and c.tenant_id = ${scope.tenantId} and c.environment_id = ${scope.environmentId}
           and c.external_id = u.external_customer_id and c.status = 'published'
      on conflict do nothing
      returning tenant_id, environment_id, external_customer_id, event_name, "timestamp", properties
    ),
    rolled as (
      insert into event_rollups (tenant_id, environment_id, external_customer_id, event_name, property, hour,
                                 events, total, maximum)
      select * from (${rollupRowsOf(sql`inserted`)}) r
      order by 1, 2, 3, 4, 5, 6
      on conflict (tenant_id, environment_id, external_customer_id, event_name, property, hour) do update
        set events = event_rollups.events + excluded.events,
            total = event_rollups.total + excluded.total,
            maximum = greatest(event_rollups.maximum, excluded.maximum)
    )
    select count(*) as inserted from inserted`.execute(db);
  return Number(result.rows[0]!.inserted);
}

/**
 * Recomputes every rollup from raw events (all environments). Ingestion waits on the table lock meanwhile, so the
 * result is exact. Run in a transaction.
 */
export async function rebuildRollups(tx: Executor) {
  await sql`lock table events in share mode`.execute(tx);
  await sql`delete from event_rollups`.execute(tx);
  const result = await sql`
    insert into event_rollups (tenant_id, environment_id, external_customer_id, event_name, property, hour,
                               events, total, maximum)
    ${rollupRowsOf(sql`events`)}`.execute(tx);
  return Number(result.numAffectedRows ?? 0);
}

export function findEventById(db: Executor, scope: Scope, id: string) {
  return db
    .selectFrom('events')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export interface EventQuery {
  externalCustomerId?: string | undefined;
  eventName?: string | undefined;
  eventId?: string | undefined;
  source?: string | undefined;
  start: Date;
  end: Date;
  propertyFilters?: Record<string, string[]> | undefined;
  sort: 'timestamp' | 'event_name';
  order: 'asc' | 'desc';
  limit: number;
  offset: number;
  /** keyset cursor: only events strictly after (in the sort order) this (timestamp, id) */
  after?: { timestamp: Date; id: string } | undefined;
}

function propertyFilterSql(filters: Record<string, string[]> | undefined): RawBuilder<boolean>[] {
  return Object.entries(filters ?? {}).map(([key, values]) =>
    values.length === 0 ? sql<boolean>`false` : sql<boolean>`(properties ->> ${key}) in (${sql.join(values)})`,
  );
}

export async function listEvents(db: Executor, scope: Scope, q: EventQuery) {
  let query = db
    .selectFrom('events')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('timestamp', '>=', q.start)
    .where('timestamp', '<', q.end);
  if (q.externalCustomerId !== undefined) query = query.where('external_customer_id', '=', q.externalCustomerId);
  if (q.eventName !== undefined) query = query.where('event_name', '=', q.eventName);
  if (q.eventId !== undefined) query = query.where('id', '=', q.eventId);
  if (q.source !== undefined) query = query.where('source', '=', q.source);
  for (const condition of propertyFilterSql(q.propertyFilters)) query = query.where(condition);
  const total = await query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow();
  let page = query.selectAll();
  if (q.after && q.sort === 'timestamp') {
    const { timestamp, id } = q.after;
    page =
      q.order === 'desc'
        ? page.where(sql<boolean>`("timestamp", id) < (${timestamp}, ${id})`)
        : page.where(sql<boolean>`("timestamp", id) > (${timestamp}, ${id})`);
  }
  if (q.sort === 'event_name') page = page.orderBy('event_name', q.order);
  page = page.orderBy('timestamp', q.order).orderBy('id', q.order);
  const rows = await page
    .limit(q.limit + 1)
    .offset(q.after ? 0 : q.offset)
    .execute();
  return { rows, total: Number(total.total) };
}

export interface AggregateQuery {
  eventName: string;
  aggregation: AggregationType;
  propertyName: string;
  externalCustomerId?: string | undefined;
  start: Date;
  end: Date;
  windowSize?: WindowSize | undefined;
  /** explicit windows (anchored months), used instead of windowSize */
  windows?: Array<{ start: Date; end: Date }> | undefined;
  bucketSize?: WindowSize | undefined;
  timezone: string;
  filters?: Record<string, string[]> | undefined;
  multiplier?: string | undefined;
  /** group-by expressions: 'source' or a property name */
  groupBy: Array<{ kind: 'source' } | { kind: 'property'; name: string }>;
  /** false forces the raw-event path (tests compare both) */
  useRollups?: boolean | undefined;
  /** only events with one of these sources */
  sources?: string[] | undefined;
  /**
   * Dimensions the result is split by (analytics group_by): one result row per window and split key, the
   * aggregation (with its own groupBy and buckets) running inside each split. Keys are the dimension values joined
   * with U+001F, in this order.
   */
  split?: Array<{ kind: 'source' } | { kind: 'property'; name: string }> | undefined;
}

const HOUR_MS = 60 * 60 * 1000;
const ROLLUP_AGGREGATIONS = new Set<AggregationType>(['COUNT', 'SUM', 'AVG', 'MAX', 'SUM_WITH_MULTIPLIER']);
const HOUR_ALIGNED_WINDOWS = new Set<WindowSize>(['HOUR', '3HOUR', '6HOUR', '12HOUR']);
const UTC_NAMES = new Set(['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT', 'Z']);

/**
 * The whole hours [from, to) of a query that the hourly rollups can answer, or null when the query needs raw
 * events: an aggregation that does not decompose by hour, filters, group-by, buckets, no customer, windows that do
 * not fall on UTC hours, or a range without a whole hour.
 */
function rollupHours(q: AggregateQuery): { from: Date; to: Date } | null {
  if (q.useRollups === false || !ROLLUP_AGGREGATIONS.has(q.aggregation)) return null;
  if (q.externalCustomerId === undefined || q.groupBy.length > 0 || q.bucketSize) return null;
  if (q.split?.length || q.sources) return null;
  if (q.filters && Object.keys(q.filters).length > 0) return null;
  if (q.windows && q.windows.some((w) => w.start.getTime() % HOUR_MS !== 0 || w.end.getTime() % HOUR_MS !== 0)) {
    return null;
  }
  if (q.windowSize && !HOUR_ALIGNED_WINDOWS.has(q.windowSize) && !UTC_NAMES.has(q.timezone)) return null;
  const from = Math.ceil(q.start.getTime() / HOUR_MS) * HOUR_MS;
  const to = Math.floor(q.end.getTime() / HOUR_MS) * HOUR_MS;
  return from < to ? { from: new Date(from), to: new Date(to) } : null;
}

const FIXED_MINUTES: Partial<Record<WindowSize, number>> = {
  MINUTE: 1,
  '15MIN': 15,
  '30MIN': 30,
  HOUR: 60,
  '3HOUR': 180,
  '6HOUR': 360,
  '12HOUR': 720,
};
const CALENDAR_UNIT: Partial<Record<WindowSize, string>> = { DAY: 'day', WEEK: 'week', MONTH: 'month' };

/** Start and end of the window an event falls in, as SQL over the row's "timestamp". */
function windowBounds(size: WindowSize, timezone: string): { start: RawBuilder<Date>; end: RawBuilder<Date> } {
  const minutes = FIXED_MINUTES[size];
  if (minutes !== undefined) {
    const step = sql.lit(`${minutes} minutes`);
    const start = sql<Date>`date_bin(${step}::interval, "timestamp", ${HOUR_ORIGIN})`;
    return { start, end: sql<Date>`(${start} + ${step}::interval)` };
  }
  const unit = CALENDAR_UNIT[size]!;
  const start = sql<Date>`date_trunc(${sql.lit(unit)}, "timestamp", ${timezone})`;
  const end = sql<Date>`(((${start}) at time zone ${timezone}) + ${sql.lit(`1 ${unit}`)}::interval) at time zone ${timezone}`;
  return { start, end };
}

/**
 * Aggregates raw events exactly (numeric, never float) per window, bucket and group:
 * the aggregation runs per (window, bucket, group) and the per-bucket/per-group results are summed per window.
 * Property values that are missing or not numeric count as 0; negative values count as 0 (as on the reference's
 * billing path). Returns one row per window that has events (or a single row with window null when unwindowed).
 */
export async function aggregateEvents(db: Executor, scope: Scope, q: AggregateQuery): Promise<AggregateRow[]> {
  return (await aggregateSql(scope, q).execute(db)).rows;
}

/**
 * Several aggregations in one statement (one round trip: the customer usage summary reads one per metered feature,
 * billing one per usage line of a subscription). Returns each query's rows, in the order of `queries`, exactly as
 * `aggregateEvents` would: the unwindowed queries the rollups can answer are computed together by one scan of the
 * rollups and of the raw edge hours (`combinedRollupTotals`), the others each by their own query in a UNION ALL.
 */
export async function aggregateEventsMany(
  db: Executor,
  scope: Scope,
  queries: AggregateQuery[],
): Promise<AggregateRow[][]> {
  if (queries.length === 0) return [];
  const combined: Array<{ index: number; q: AggregateQuery; hours: { from: Date; to: Date } }> = [];
  const parts: RawBuilder<unknown>[] = [];
  queries.forEach((q, index) => {
    const hours = q.windowSize || q.windows ? null : rollupHours(q);
    if (hours) combined.push({ index, q, hours });
    else parts.push(sql`select ${sql.lit(index)}::int as query_index, x.* from (${aggregateSql(scope, q)}) x`);
  });
  if (combined.length) parts.unshift(combinedRollupTotals(scope, combined));
  const result = await sql<AggregateRow & { query_index: number }>`${sql.join(parts, sql` union all `)}`.execute(db);
  const out: AggregateRow[][] = queries.map(() => []);
  for (const { query_index: index, ...row } of result.rows) out[Number(index)]!.push(row);
  return out;
}

/**
 * The totals of several unwindowed rollup-eligible queries (each with its own customer, event name, property,
 * range and aggregation) in one statement, with the same answer as `aggregateFromRollups` gives each alone: per
 * query, the rollup rows of its whole hours and the raw events of its partial edge hours, summed (COUNT, SUM,
 * SUM_WITH_MULTIPLIER), divided (AVG) or maxed (MAX); no row when the query counts no event. The queries travel as
 * arrays, so the statement text (and its prepared plan) is the same whatever their number.
 */
function combinedRollupTotals(
  scope: Scope,
  items: Array<{ index: number; q: AggregateQuery; hours: { from: Date; to: Date } }>,
): RawBuilder<unknown> {
  const column = <T>(pick: (item: (typeof items)[number]) => T) => items.map(pick);
  const raw = sql`(e.properties ->> l.prop)`;
  const value = sql`(case when ${raw} ~ ${NUMERIC_TEXT} then greatest(cast(${raw} as numeric), 0) else 0 end)`;
  // The raw events of one edge [lo, hi) of the query (an empty edge reads nothing).
  const edge = (lo: string, hi: string) => sql`
    select ${value} as v
    from events e
    where e.tenant_id = ${scope.tenantId} and e.environment_id = ${scope.environmentId}
      and e.external_customer_id = l.customer and e.event_name = l.name
      and e."timestamp" >= ${sql.ref(`l.${lo}`)} and e."timestamp" < ${sql.ref(`l.${hi}`)}`;
  // Each query's parts are LATERAL aggregates, so each reads its own customer's index range (a join would let the
  // planner scan a whole table when one customer holds most of it).
  return sql`
    select l.i as query_index, null::timestamptz as window_start, '' as split_key,
           case l.agg
             when 'COUNT' then t.n
             when 'SUM' then t.s
             when 'AVG' then t.s / t.n
             when 'SUM_WITH_MULTIPLIER' then t.s * cast(l.mult as numeric)
             when 'MAX' then coalesce(t.m, 0)
           end as value,
           t.n as events
    from unnest(${column((i) => i.index)}::int[], ${column((i) => i.q.aggregation)}::text[],
                ${column((i) => i.q.eventName)}::text[], ${column((i) => i.q.propertyName)}::text[],
                ${column((i) => i.q.externalCustomerId!)}::text[], ${column((i) => i.q.multiplier ?? '1')}::text[],
                ${column((i) => i.q.start.toISOString())}::timestamptz[],
                ${column((i) => i.hours.from.toISOString())}::timestamptz[],
                ${column((i) => i.hours.to.toISOString())}::timestamptz[],
                ${column((i) => i.q.end.toISOString())}::timestamptz[])
         as l(i, agg, name, prop, customer, mult, qs, hf, ht, qe)
    cross join lateral (
      select coalesce(sum(r.events) filter (where r.property = ''), 0) as n,
             sum(r.total) filter (where r.property <> '') as s,
             max(r.maximum) filter (where r.property <> '') as m
      from event_rollups r
      where r.tenant_id = ${scope.tenantId} and r.environment_id = ${scope.environmentId}
        and r.external_customer_id = l.customer and r.event_name = l.name and r.property in ('', l.prop)
        and r.hour >= l.hf and r.hour < l.ht
    ) r
    cross join lateral (
      select count(*) as n, sum(v) as s, max(v) as m
      from (${edge('qs', 'hf')} union all ${edge('ht', 'qe')}) edges
    ) x
    cross join lateral (
      select r.n + x.n as n, coalesce(r.s, 0) + coalesce(x.s, 0) as s, greatest(r.m, x.m) as m
    ) t
    where t.n > 0`;
}

function aggregateSql(scope: Scope, q: AggregateQuery): RawBuilder<AggregateRow> {
  const hours = rollupHours(q);
  if (hours) return aggregateFromRollups(scope, q, hours);
  const value = numericValue(q.propertyName);
  const windows = windowing(q, 'e');
  const windowJoin = windows.join;
  const windowStart = windows.start ?? sql`cast(${q.start} as timestamptz)`;
  const windowEnd = windows.end ?? sql`cast(${q.end} as timestamptz)`;
  // Weighting and reported windows are clipped to the requested range.
  const clippedStart = sql`greatest(${windowStart}, cast(${q.start} as timestamptz))`;
  const clippedEnd = sql`least(${windowEnd}, cast(${q.end} as timestamptz))`;
  const bucket = q.bucketSize ? windowBounds(q.bucketSize, q.timezone).start : sql`null`;
  const dimension = (g: { kind: 'source' } | { kind: 'property'; name: string }) =>
    g.kind === 'source' ? sql`source` : sql`coalesce(properties ->> ${g.name}, '')`;
  const groupParts = q.groupBy.map(dimension);
  const group = groupParts.length ? sql`concat_ws(chr(31), ${sql.join(groupParts)})` : sql`null`;
  const splitParts = (q.split ?? []).map(dimension);
  const split = splitParts.length ? sql`concat_ws(chr(31), ${sql.join(splitParts)})` : sql`''`;

  const multiplier = q.multiplier ?? '1';
  const aggregate: Record<AggregationType, RawBuilder<unknown>> = {
    COUNT: sql`count(*)::numeric`,
    SUM: sql`sum(v)`,
    AVG: sql`avg(v)`,
    COUNT_UNIQUE: sql`count(distinct u)::numeric`,
    LATEST: sql`(array_agg(v order by ts desc, id desc))[1]`,
    SUM_WITH_MULTIPLIER: sql`sum(v) * cast(${multiplier} as numeric)`,
    MAX: sql`max(v)`,
    WEIGHTED_SUM: sql`sum(v * case when extract(epoch from (we - ws)) > 0
                               then extract(epoch from (we - ts)) / extract(epoch from (we - ws)) else 0 end)`,
  };

  const filters = propertyFilterSql(q.filters);
  const customer =
    q.externalCustomerId !== undefined ? sql`and e.external_customer_id = ${q.externalCustomerId}` : sql``;
  const filterSql = filters.length ? sql`and ${sql.join(filters, sql` and `)}` : sql``;
  const sourceSql = q.sources ? sql`and e.source in (${sql.join(nonEmpty(q.sources))})` : sql``;

  return sql<AggregateRow>`
    with e as (
      select e."timestamp" as ts, e.id, ${value} as v, (properties ->> ${q.propertyName}) as u,
             ${clippedStart} as ws, ${clippedEnd} as we, ${bucket} as b, ${group} as g, ${split} as sg
      from events e ${windowJoin}
      where e.tenant_id = ${scope.tenantId} and e.environment_id = ${scope.environmentId}
        and e.event_name = ${q.eventName}
        and e."timestamp" >= ${q.start} and e."timestamp" < ${q.end}
        ${customer} ${filterSql} ${sourceSql}
    ),
    per_group as (
      select ws, b, g, sg, ${aggregate[q.aggregation]} as value, count(*) as events
      from e group by ws, we, b, g, sg
    )
    select ${q.windowSize || q.windows ? sql`ws` : sql`null::timestamptz`} as window_start, sg as split_key,
           sum(value) as value, sum(events) as events
    from per_group
    group by 1, 2
    order by 1, 2`;
}

export interface AggregateRow {
  window_start: Date | null;
  /** '' unless the query is split */
  split_key: string;
  value: string | null;
  /** how many events the row aggregates */
  events: string;
}

const nonEmpty = (values: string[]) => (values.length ? values : ['']);

/**
 * Distinct sources of the events a query aggregates (same customer, name, range, filters and sources), per split
 * key (analytics reports them when it does not split by source).
 */
export async function distinctSources(db: Executor, scope: Scope, q: AggregateQuery) {
  const filters = propertyFilterSql(q.filters);
  const filterSql = filters.length ? sql`and ${sql.join(filters, sql` and `)}` : sql``;
  const customer = q.externalCustomerId !== undefined ? sql`and external_customer_id = ${q.externalCustomerId}` : sql``;
  const sourceSql = q.sources ? sql`and source in (${sql.join(nonEmpty(q.sources))})` : sql``;
  const splitParts = (q.split ?? []).map((g) =>
    g.kind === 'source' ? sql`source` : sql`coalesce(properties ->> ${g.name}, '')`,
  );
  const split = splitParts.length ? sql`concat_ws(chr(31), ${sql.join(splitParts)})` : sql`''`;
  const result = await sql<{ split_key: string; source: string }>`
    select distinct ${split} as split_key, source
    from events
    where tenant_id = ${scope.tenantId} and environment_id = ${scope.environmentId} and event_name = ${q.eventName}
      and "timestamp" >= ${q.start} and "timestamp" < ${q.end}
      ${customer} ${filterSql} ${sourceSql}
    order by 1, 2`.execute(db);
  return result.rows;
}

/**
 * The window of a row of relation `alias` whose time is in its "timestamp" column: explicit windows (a join), a
 * window size, or none (start and end null: the caller uses the requested range).
 */
function windowing(q: AggregateQuery, alias: string) {
  if (q.windows) {
    const time = sql.ref(`${alias}.timestamp`);
    return {
      join: sql`join unnest(${q.windows.map((w) => w.start.toISOString())}::timestamptz[],
                            ${q.windows.map((w) => w.end.toISOString())}::timestamptz[]) as w(ws, we)
                on ${time} >= w.ws and ${time} < w.we`,
      start: sql`w.ws` as RawBuilder<unknown>,
      end: sql`w.we` as RawBuilder<unknown>,
    };
  }
  if (q.windowSize) return { join: sql``, ...windowBounds(q.windowSize, q.timezone) };
  return { join: sql``, start: null, end: null };
}

/** A property's value as the aggregations count it: numeric (numbers or numeric strings), negative and other → 0. */
function numericValue(propertyName: string) {
  const raw = sql`(properties ->> ${propertyName})`;
  return sql`(case when ${raw} ~ ${NUMERIC_TEXT} then greatest(cast(${raw} as numeric), 0) else 0 end)`;
}

/**
 * The same answer as the raw path for decomposable aggregations: whole hours come from `event_rollups`, the partial
 * hours at either end of the range from raw events, each raw event counting as a one-event rollup row.
 */
function aggregateFromRollups(
  scope: Scope,
  q: AggregateQuery,
  hours: { from: Date; to: Date },
): RawBuilder<AggregateRow> {
  const value = numericValue(q.propertyName);
  const customer = q.externalCustomerId!;
  const { join, start } = windowing(q, 'p');
  const multiplier = q.multiplier ?? '1';
  const aggregate: Partial<Record<AggregationType, RawBuilder<unknown>>> = {
    COUNT: sql`sum(n)`,
    SUM: sql`sum(s)`,
    AVG: sql`sum(s) / sum(n)`,
    SUM_WITH_MULTIPLIER: sql`sum(s) * cast(${multiplier} as numeric)`,
    MAX: sql`coalesce(max(m), 0)`,
  };
  return sql<AggregateRow>`
    with p as (
      select hour as "timestamp",
             case when property = '' then events else 0 end as n,
             case when property = '' then 0 else total end as s,
             case when property = '' then null else maximum end as m
      from event_rollups
      where tenant_id = ${scope.tenantId} and environment_id = ${scope.environmentId}
        and external_customer_id = ${customer} and event_name = ${q.eventName}
        and property in ('', ${q.propertyName}) and hour >= ${hours.from} and hour < ${hours.to}
      union all
      select "timestamp", 1, ${value}, ${value}
      from events
      where tenant_id = ${scope.tenantId} and environment_id = ${scope.environmentId}
        and external_customer_id = ${customer} and event_name = ${q.eventName}
        and (("timestamp" >= ${q.start} and "timestamp" < ${hours.from})
             or ("timestamp" >= ${hours.to} and "timestamp" < ${q.end}))
    )
    select ${start ? sql`greatest(${start}, cast(${q.start} as timestamptz))` : sql`null::timestamptz`} as window_start,
           '' as split_key, ${aggregate[q.aggregation]!} as value, sum(n) as events
    from p ${join}
    group by 1
    having sum(n) > 0
    order by 1`;
}
